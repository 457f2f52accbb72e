/*
 * fuse_internal.h - what the files of the FUSE daemon share: the daemon state every
 * request reaches through fuse_req_userdata(), request credentials, replies built from
 * client attributes, and the virtual directory 3fs-virt/.
 */
#ifndef CHAINFS_FUSE_FUSE_INTERNAL_H
#define CHAINFS_FUSE_FUSE_INTERNAL_H

#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "chainfs/client.h"
#include "fuse/fuse_daemon.h"

struct fuse_daemon {
    struct chainfs_client *client;
    struct fuse_mount_options options;
    char mountpoint[PATH_MAX]; /* absolute, no trailing slash */
    struct fuse_session *session;
};

/* The credentials of the process that made the request (uid, gid and, for non-root
 * callers, supplementary groups). */
void fuse_request_credentials(fuse_req_t request, struct chainfs_credentials *credentials);

/* stat of a client attributes record. */
void fuse_fill_stat(const struct chainfs_attributes *attributes, struct stat *stat);

/* Replies an entry (lookup, create, mkdir, ...) with the daemon's timeouts. */
void fuse_reply_attributes_entry(fuse_req_t request, const struct chainfs_attributes *attributes);

/* The entry when status is 0, else the status. */
void fuse_reply_entry_or_status(fuse_req_t request, int status,
                                const struct chainfs_attributes *attributes);

/* Replies a CHAINFS_* status as its errno. */
void fuse_reply_status(fuse_req_t request, int status);

/* Virtual inodes live above this bit; chainfs inode ids never set it. */
#define VIRTUAL_INODE_BIT (1ull << 63)
#define VIRTUAL_DIRECTORY_NAME "3fs-virt"
#define VIRTUAL_RMRF_NAME "rm-rf"
#define VIRTUAL_DIRECTORY_INODE (VIRTUAL_INODE_BIT | 1)
#define VIRTUAL_RMRF_INODE (VIRTUAL_INODE_BIT | 2)
/* answered for a symlink created in rm-rf/ (its tree is gone; the name never exists) */
#define VIRTUAL_REMOVED_INODE (VIRTUAL_INODE_BIT | 3)

static inline bool fuse_virtual_inode(fuse_ino_t inode) { return (inode & VIRTUAL_INODE_BIT) != 0; }

/* lookup in the root or a virtual directory: true when answered (virtual entry or
 * error), false when the name is a real one. */
bool fuse_virtual_lookup(struct fuse_daemon *daemon, fuse_req_t request, fuse_ino_t parent,
                         const char *name);
/* getattr of a virtual inode (always answered). */
void fuse_virtual_getattr(struct fuse_daemon *daemon, fuse_req_t request, fuse_ino_t inode);
/* symlink(target, rm-rf/name): removes the tree target names. Always answered. */
void fuse_virtual_symlink(struct fuse_daemon *daemon, fuse_req_t request, const char *target);
/* readdir of a virtual directory (always answered). */
void fuse_virtual_readdir(fuse_req_t request, fuse_ino_t inode, size_t size, off_t offset, bool plus);

#endif /* CHAINFS_FUSE_FUSE_INTERNAL_H */
