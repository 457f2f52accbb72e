/*
 * credentials.h - who is asking, and the Unix permission rules the namespace enforces
 * (mode bits against uid, gid and supplementary groups; sticky directories; the
 * immutable flag; root bypasses all but execute on files nobody may execute).
 */
#ifndef CHAINFS_META_CREDENTIALS_H
#define CHAINFS_META_CREDENTIALS_H

#include <stdbool.h>
#include <stdint.h>

#include "meta/inode.h"

#define META_GROUPS_MAX 32

struct meta_credentials {
    uint32_t uid;
    uint32_t gid;
    uint32_t group_count;
    uint32_t groups[META_GROUPS_MAX];
};

enum meta_access {
    META_ACCESS_READ = 4,
    META_ACCESS_WRITE = 2,
    META_ACCESS_EXECUTE = 1,
};

/* True when the caller is in group gid (primary or supplementary). */
bool credentials_in_group(const struct meta_credentials *credentials, uint32_t gid);

/* 0 or CHAINFS_PERMISSION_DENIED for the access bits in mask. */
int credentials_check_access(const struct meta_credentials *credentials, const struct inode *inode,
                             unsigned mask);

/* The sticky-bit rule for removing or renaming entry out of directory: 0 or
 * CHAINFS_NOT_PERMITTED. */
int credentials_check_sticky(const struct meta_credentials *credentials,
                             const struct inode *directory, const struct inode *entry);

#endif /* CHAINFS_META_CREDENTIALS_H */
