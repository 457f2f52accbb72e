/*
 * fuse_daemon.c - mounting, the operations table, the multi-threaded request loop
 * and the clean unmount (see fuse_daemon.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_COMPONENT "fuse"
#include "common/log.h"
#include "fuse/fuse_operations.h"

#define MAX_IO_BYTES (1u << 20)
#define MAX_BACKGROUND 128u

void fuse_mount_default_options(struct fuse_mount_options *options)
{
    memset(options, 0, sizeof(*options));
    options->entry_timeout = 1.0;
    options->attr_timeout = 1.0;
    options->allow_other = true;
    options->max_threads = 16;
}

static void on_init(void *userdata, struct fuse_conn_info *connection)
{
    connection->max_write = MAX_IO_BYTES;
    connection->max_read = MAX_IO_BYTES;
    connection->max_readahead = MAX_IO_BYTES;
    /* Asynchronous requests (direct I/O of io_uring/libaio callers, readahead) wait in
     * the kernel beyond max_background in flight; its default of 12 left a depth-64
     * reader with 12 requests here, each served on its own wake-up, where a deeper
     * queue lets a request thread and the RPC loop take several per wake-up (random
     * 4 KiB reads: 30% less CPU per read on the 2-core test machine). */
    connection->max_background = MAX_BACKGROUND;
    connection->congestion_threshold = MAX_BACKGROUND * 3 / 4;
    /* O_TRUNC comes with open, so storage is cut before meta's length in one call */
    if (connection->capable & FUSE_CAP_ATOMIC_O_TRUNC)
        connection->want |= FUSE_CAP_ATOMIC_O_TRUNC;
    if (connection->capable & FUSE_CAP_PARALLEL_DIROPS)
        connection->want |= FUSE_CAP_PARALLEL_DIROPS;
    if (connection->capable & FUSE_CAP_READDIRPLUS)
        connection->want |= FUSE_CAP_READDIRPLUS;
    connection->want &= ~(unsigned)FUSE_CAP_READDIRPLUS_AUTO; /* always plus */
    connection->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE; /* no client data cache */
    /* no getlk/setlk/flock handlers: the kernel keeps POSIX and BSD locks itself,
     * valid among the processes of this mount (not across clients) */
}

static const struct fuse_lowlevel_ops operations = {
    .init = on_init,
    .lookup = fuse_op_lookup,
    .forget = fuse_op_forget,
    .forget_multi = fuse_op_forget_multi,
    .getattr = fuse_op_getattr,
    .setattr = fuse_op_setattr,
    .readlink = fuse_op_readlink,
    .mknod = fuse_op_mknod,
    .mkdir = fuse_op_mkdir,
    .unlink = fuse_op_unlink,
    .rmdir = fuse_op_rmdir,
    .symlink = fuse_op_symlink,
    .rename = fuse_op_rename,
    .link = fuse_op_link,
    .open = fuse_op_open,
    .read = fuse_op_read,
    .write = fuse_op_write,
    .flush = fuse_op_flush,
    .release = fuse_op_release,
    .fsync = fuse_op_fsync,
    .opendir = fuse_op_opendir,
    .readdir = fuse_op_readdir,
    .readdirplus = fuse_op_readdirplus,
    .releasedir = fuse_op_releasedir,
    .fsyncdir = fuse_op_fsyncdir,
    .statfs = fuse_op_statfs,
    .setxattr = fuse_op_setxattr,
    .getxattr = fuse_op_getxattr,
    .listxattr = fuse_op_listxattr,
    .removexattr = fuse_op_removexattr,
    .access = fuse_op_access,
    .create = fuse_op_create,
    .fallocate = fuse_op_fallocate,
};

/* The libfuse command line: mount options and the file system's name in mtab. */
static int build_arguments(const struct fuse_mount_options *options, struct fuse_args *arguments)
{
    /* default_permissions: the kernel checks mode bits too, so a name it has cached
     * (looked up by another user) still needs search permission on every directory
     * of the path; without it a cached dentry skips the server's lookup check. Meta
     * checks every request again with the caller's credentials. */
    char mount_options[256];
    snprintf(mount_options, sizeof(mount_options),
             "fsname=chainfs,subtype=chainfs,max_read=%u,default_permissions%s", MAX_IO_BYTES,
             options->allow_other ? ",allow_other" : "");
    if (fuse_opt_add_arg(arguments, "chainfs") != 0 || fuse_opt_add_arg(arguments, "-o") != 0 ||
        fuse_opt_add_arg(arguments, mount_options) != 0)
        return CHAINFS_NO_MEMORY;
    if (options->debug && fuse_opt_add_arg(arguments, "-d") != 0)
        return CHAINFS_NO_MEMORY;
    return 0;
}

static int serve(struct fuse_session *session, const struct fuse_mount_options *options)
{
    struct fuse_loop_config *loop = fuse_loop_cfg_create();
    if (!loop)
        return CHAINFS_NO_MEMORY;
    fuse_loop_cfg_set_max_threads(loop, options->max_threads ? options->max_threads : 16);
    fuse_loop_cfg_set_clone_fd(loop, 1); /* one /dev/fuse descriptor per thread */
    int result = fuse_session_loop_mt(session, loop);
    fuse_loop_cfg_destroy(loop);
    /* a signal ends the loop with 0; an error of /dev/fuse with a negative errno */
    return result < 0 ? CHAINFS_IO : 0;
}

int fuse_daemon_run(struct chainfs_client *client, const struct fuse_mount_options *options)
{
    struct fuse_daemon daemon = {.client = client, .options = *options};
    if (!options->mountpoint || !realpath(options->mountpoint, daemon.mountpoint)) {
        log_error("mount point %s: %s", options->mountpoint ? options->mountpoint : "(none)",
                  strerror(errno));
        return CHAINFS_INVALID_ARGUMENT;
    }
    struct fuse_args arguments = FUSE_ARGS_INIT(0, NULL);
    int status = build_arguments(options, &arguments);
    struct fuse_session *session = NULL;
    if (status == 0) {
        session = fuse_session_new(&arguments, &operations, sizeof(operations), &daemon);
        status = session ? 0 : CHAINFS_CONFIG;
        daemon.session = session;
    }
    bool handlers = false, mounted = false;
    if (status == 0) {
        handlers = fuse_set_signal_handlers(session) == 0;
        status = handlers ? 0 : CHAINFS_INTERNAL;
    }
    if (status == 0) {
        mounted = fuse_session_mount(session, daemon.mountpoint) == 0;
        if (!mounted) {
            log_error("cannot mount at %s (is /dev/fuse there, and are we root?)", daemon.mountpoint);
            status = CHAINFS_IO;
        }
    }
    if (status == 0) {
        log_info("mounted at %s (%s)", daemon.mountpoint,
                 options->page_cache ? "kernel page cache" : "direct I/O");
        if (options->on_mounted)
            options->on_mounted(options->context);
        status = serve(session, options);
        log_info("unmounting %s", daemon.mountpoint);
    }
    if (mounted)
        fuse_session_unmount(session);
    if (handlers)
        fuse_remove_signal_handlers(session);
    if (session)
        fuse_session_destroy(session);
    fuse_opt_free_args(&arguments);
    return status;
}
