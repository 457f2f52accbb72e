/*
 * namespace.h - the POSIX namespace of chainfs on the KV store (DESIGN §6).
 *
 * Every operation is one KV transaction, retried on conflict, so any number of
 * metadata servers can serve one namespace at once. Errors are the status whose errno
 * a local file system would return (chainfs_error_to_errno).
 *
 * Directory times are not updated when entries are added or removed: every create in
 * a shared directory would otherwise write the directory's inode and conflict with
 * every other create there (3FS makes the same choice).
 */
#ifndef CHAINFS_META_NAMESPACE_H
#define CHAINFS_META_NAMESPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meta/credentials.h"
#include "meta/inode.h"

struct kv_store;
struct meta_namespace;

/* Opens the namespace over a KV store (which must outlive it). */
int meta_namespace_open(struct kv_store *store, struct meta_namespace **space);
void meta_namespace_close(struct meta_namespace *space);

/* Creates the root directory (mode 0755, owner root) with the default layout for new
 * files, unless it exists. Returns 0 either way. */
int meta_namespace_format(struct meta_namespace *space, const struct file_layout *default_layout);

/* Inode by id. */
int meta_stat(struct meta_namespace *space, uint64_t inode_id, struct inode *inode);

/* The child name of directory parent_id (needs execute permission on it). */
int meta_lookup(struct meta_namespace *space, const struct meta_credentials *credentials,
                uint64_t parent_id, const char *name, struct inode *inode);

/* Resolves an absolute path, following symlinks (at most 40; then SYMLINK_LOOP),
 * the last component only if follow_last. */
int meta_resolve(struct meta_namespace *space, const struct meta_credentials *credentials,
                 const char *path, bool follow_last, struct inode *inode);

enum meta_create_flag {
    META_CREATE_EXCLUSIVE = 1u << 0, /* O_EXCL: EXISTS if the name exists */
    META_CREATE_TRUNCATE = 1u << 1,  /* O_TRUNC: an existing file becomes empty */
};

/* Creates a regular file, or opens the existing one (O_CREAT semantics). */
int meta_create(struct meta_namespace *space, const struct meta_credentials *credentials,
                uint64_t parent_id, const char *name, uint32_t mode, unsigned flags,
                struct inode *inode);
int meta_mkdir(struct meta_namespace *space, const struct meta_credentials *credentials,
               uint64_t parent_id, const char *name, uint32_t mode, struct inode *inode);
int meta_symlink(struct meta_namespace *space, const struct meta_credentials *credentials,
                 uint64_t parent_id, const char *name, const char *target, struct inode *inode);
/* A hard link to inode_id (not a directory) as new_parent/new_name. */
int meta_link(struct meta_namespace *space, const struct meta_credentials *credentials,
              uint64_t inode_id, uint64_t new_parent_id, const char *new_name, struct inode *inode);

/* Removes a non-directory entry; the last link moves the file to the GC queue. */
int meta_unlink(struct meta_namespace *space, const struct meta_credentials *credentials,
                uint64_t parent_id, const char *name);
/* Removes an empty directory. */
int meta_rmdir(struct meta_namespace *space, const struct meta_credentials *credentials,
               uint64_t parent_id, const char *name);

enum meta_rename_flag {
    META_RENAME_NOREPLACE = 1u << 0, /* EXISTS if the destination exists */
    META_RENAME_EXCHANGE = 1u << 1,  /* swap two existing entries */
};

int meta_rename(struct meta_namespace *space, const struct meta_credentials *credentials,
                uint64_t from_parent_id, const char *from_name, uint64_t to_parent_id,
                const char *to_name, unsigned flags);

struct meta_directory_entry {
    char name[META_NAME_MAX + 1];
    uint64_t inode_id;
    uint8_t type;
};

/* Up to capacity entries of a directory in name order, starting after `after` ("" for
 * the first page). *more says whether further entries exist. */
int meta_readdir(struct meta_namespace *space, const struct meta_credentials *credentials,
                 uint64_t directory_id, const char *after, struct meta_directory_entry *entries,
                 size_t capacity, size_t *count, bool *more);

enum meta_setattr_field {
    META_SET_MODE = 1u << 0,
    META_SET_UID = 1u << 1,
    META_SET_GID = 1u << 2,
    META_SET_ATIME = 1u << 3,
    META_SET_MTIME = 1u << 4,
    META_SET_ATIME_NOW = 1u << 5,
    META_SET_MTIME_NOW = 1u << 6,
    META_SET_SIZE = 1u << 7,
};

struct meta_setattr {
    unsigned fields; /* META_SET_* */
    uint32_t mode;
    uint32_t uid;
    uint32_t gid;
    int64_t atime_ns;
    int64_t mtime_ns;
    uint64_t size;
};

/* chmod, chown, utimens and truncate with the rules of a local file system: mode and
 * explicit times by the owner (or root), uid by root, gid by the owner to one of their
 * groups, "now" times and size with write permission; a size change bumps the
 * truncate version (storage drops or zeroes the chunks past it). */
int meta_setattr(struct meta_namespace *space, const struct meta_credentials *credentials,
                 uint64_t inode_id, const struct meta_setattr *changes, struct inode *inode);

/* The absolute path of a directory, built from its parent pointers and own names
 * ("/" for the root). CHAINFS_NAME_TOO_LONG when it does not fit in capacity. */
int meta_directory_path(struct meta_namespace *space, uint64_t directory_id, char *path,
                        size_t capacity);

/* Ids of removed files waiting for their chunks to be deleted (GC queue). */
int meta_gc_queue(struct meta_namespace *space, uint64_t *ids, size_t capacity, size_t *count);

#endif /* CHAINFS_META_NAMESPACE_H */
