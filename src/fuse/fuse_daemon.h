/*
 * fuse_daemon.h - `chainfs mount`: a chainfs file system mounted through FUSE.
 *
 * The daemon serves the kernel's FUSE requests with the libfuse3 low-level API on
 * several threads, every one of them turned into a call of the client library
 * (chainfs/client.h) made with the credentials of the process that asked, so the
 * metadata service enforces permissions (the mount uses allow_other; the kernel also
 * checks mode bits with default_permissions, which covers paths through names it
 * cached for another user). Reads and writes bypass the kernel page cache (direct I/O)
 * unless the page cache option is set (DESIGN §1). SIGTERM, SIGINT and SIGHUP end the
 * loop and unmount cleanly.
 */
#ifndef CHAINFS_FUSE_FUSE_DAEMON_H
#define CHAINFS_FUSE_FUSE_DAEMON_H

#include <stdbool.h>

struct chainfs_client;

struct fuse_mount_options {
    const char *mountpoint;
    bool page_cache;       /* kernel page cache for file data (default: direct I/O) */
    double entry_timeout;  /* seconds the kernel may cache names; default 1 */
    double attr_timeout;   /* seconds the kernel may cache attributes; default 1 */
    bool allow_other;      /* let every user in (permissions are checked by meta) */
    unsigned max_threads;  /* request threads; default 16 */
    bool debug;            /* libfuse's request trace on stderr */
    /* Called once the file system is mounted (before serving), e.g. to write a pid
     * file. May be NULL. */
    void (*on_mounted)(void *context);
    void *context;
};

void fuse_mount_default_options(struct fuse_mount_options *options);

/* Mounts the client's file system at options->mountpoint and serves it until a
 * signal or an unmount (fusermount -u / umount) ends it; then unmounts. Returns 0 or
 * a CHAINFS_* status (mount failed). The client must outlive the call. */
int fuse_daemon_run(struct chainfs_client *client, const struct fuse_mount_options *options);

#endif /* CHAINFS_FUSE_FUSE_DAEMON_H */
