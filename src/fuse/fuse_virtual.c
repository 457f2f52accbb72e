/*
 * fuse_virtual.c - the virtual directory 3fs-virt/ at the root of the mount (DESIGN
 * §8; the name is 3FS's, so its tools work unchanged).
 *
 *   3fs-virt/rm-rf/   `ln -s /mnt/chainfs/some/dir /mnt/chainfs/3fs-virt/rm-rf/` removes
 *                     the tree some/dir on the server in one request (with the
 *                     caller's permissions), instead of one unlink per file from here.
 *
 * The virtual inodes carry VIRTUAL_INODE_BIT, which real inode ids never set. They are
 * not listed in the root directory, so tools walking the mount (find, tar, rm -r) do
 * not descend into them.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fuse/fuse_internal.h"

static void virtual_attributes(fuse_ino_t inode, struct stat *stat)
{
    memset(stat, 0, sizeof(*stat));
    stat->st_ino = inode;
    stat->st_nlink = inode == VIRTUAL_REMOVED_INODE ? 1 : 2;
    /* anyone may create symlinks in rm-rf/: the removal itself checks permissions */
    stat->st_mode = inode == VIRTUAL_DIRECTORY_INODE ? S_IFDIR | 0555
                    : inode == VIRTUAL_RMRF_INODE    ? S_IFDIR | 0777
                                                     : S_IFLNK | 0777;
    stat->st_mtim.tv_sec = stat->st_ctim.tv_sec = stat->st_atim.tv_sec = time(NULL);
}

static void reply_virtual_entry(fuse_req_t request, fuse_ino_t inode, double timeout)
{
    struct fuse_entry_param entry;
    memset(&entry, 0, sizeof(entry));
    entry.ino = inode;
    entry.generation = 1;
    entry.entry_timeout = timeout;
    entry.attr_timeout = timeout;
    virtual_attributes(inode, &entry.attr);
    fuse_reply_entry(request, &entry);
}

bool fuse_virtual_lookup(struct fuse_daemon *daemon, fuse_req_t request, fuse_ino_t parent,
                         const char *name)
{
    if (parent == CHAINFS_ROOT_INODE && strcmp(name, VIRTUAL_DIRECTORY_NAME) == 0) {
        reply_virtual_entry(request, VIRTUAL_DIRECTORY_INODE, 3600);
        return true;
    }
    if (!fuse_virtual_inode(parent))
        return false;
    if (parent == VIRTUAL_DIRECTORY_INODE && strcmp(name, VIRTUAL_RMRF_NAME) == 0)
        reply_virtual_entry(request, VIRTUAL_RMRF_INODE, 3600);
    else
        fuse_reply_err(request, ENOENT);
    return true;
}

void fuse_virtual_getattr(struct fuse_daemon *daemon, fuse_req_t request, fuse_ino_t inode)
{
    if (inode != VIRTUAL_DIRECTORY_INODE && inode != VIRTUAL_RMRF_INODE) {
        fuse_reply_err(request, ENOENT); /* rm-rf/ symlinks never exist */
        return;
    }
    struct stat stat;
    virtual_attributes(inode, &stat);
    fuse_reply_attr(request, &stat, 3600);
}

/* The path inside the file system that target names: absolute targets must lie in
 * the mount ("/mnt/x/a/b" -> "/a/b"); NULL otherwise. */
static const char *path_in_mount(const struct fuse_daemon *daemon, const char *target)
{
    size_t length = strlen(daemon->mountpoint);
    if (target[0] != '/' || strncmp(target, daemon->mountpoint, length) != 0)
        return NULL;
    if (target[length] == '\0')
        return "/";
    return target[length] == '/' ? target + length : NULL;
}

/* Splits "/a/b/c/" into parent "/a/b" and name "c". Returns false for the root. */
static bool split_path(const char *path, char *parent, size_t capacity, char *name)
{
    size_t length = strlen(path);
    while (length > 1 && path[length - 1] == '/')
        length--;
    size_t start = length;
    while (start > 0 && path[start - 1] != '/')
        start--;
    size_t name_length = length - start;
    if (name_length == 0 || name_length > CHAINFS_NAME_MAX || start >= capacity)
        return false;
    memcpy(name, path + start, name_length);
    name[name_length] = '\0';
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    memcpy(parent, path, start);
    parent[start > 1 ? start - 1 : 1] = '\0'; /* "/" stays "/" */
    return true;
}

struct removed_name {
    struct fuse_session *session;
    fuse_ino_t parent;
    char name[CHAINFS_NAME_MAX + 1];
};

static void *invalidate_entry(void *argument)
{
    struct removed_name *removed = argument;
    fuse_lowlevel_notify_inval_entry(removed->session, removed->parent, removed->name,
                                     strlen(removed->name));
    free(removed);
    return NULL;
}

/* The kernel may still cache the removed tree's name (entry timeout): tell it to drop
 * it. From a thread of its own, after the reply: a notification sent from inside the
 * request could wait on the directory lock the request holds. */
static void forget_removed_name(struct fuse_daemon *daemon, uint64_t parent_id, const char *name)
{
    struct removed_name *removed = calloc(1, sizeof(*removed));
    pthread_t thread;
    if (!removed)
        return; /* the name expires with its entry timeout anyway */
    *removed = (struct removed_name){.session = daemon->session, .parent = parent_id};
    snprintf(removed->name, sizeof(removed->name), "%s", name);
    if (pthread_create(&thread, NULL, invalidate_entry, removed) != 0) {
        free(removed);
        return;
    }
    pthread_detach(thread);
}

void fuse_virtual_symlink(struct fuse_daemon *daemon, fuse_req_t request, const char *target)
{
    const char *path = path_in_mount(daemon, target);
    char parent_path[PATH_MAX], name[CHAINFS_NAME_MAX + 1];
    if (!path || !split_path(path, parent_path, sizeof(parent_path), name)) {
        fuse_reply_err(request, EINVAL); /* not a tree inside this mount, or its root */
        return;
    }
    struct chainfs_credentials credentials;
    struct chainfs_attributes parent;
    fuse_request_credentials(request, &credentials);
    int status = chainfs_resolve(daemon->client, &credentials, parent_path, true, &parent);
    if (status == 0)
        status = chainfs_remove_recursive(daemon->client, &credentials, parent.inode_id, name);
    if (status != 0) {
        fuse_reply_status(request, status);
        return;
    }
    reply_virtual_entry(request, VIRTUAL_REMOVED_INODE, 0);
    forget_removed_name(daemon, parent.inode_id, name);
}

void fuse_virtual_readdir(fuse_req_t request, fuse_ino_t inode, size_t size, off_t offset, bool plus)
{
    const char *names[3] = {".", "..", VIRTUAL_RMRF_NAME};
    fuse_ino_t inodes[3] = {inode, CHAINFS_ROOT_INODE, VIRTUAL_RMRF_INODE};
    size_t count = inode == VIRTUAL_DIRECTORY_INODE ? 3 : 2;
    char buffer[1024];
    size_t used = 0;
    if (size > sizeof(buffer))
        size = sizeof(buffer);
    for (size_t i = offset < 0 ? count : (size_t)offset; i < count; i++) {
        struct fuse_entry_param entry;
        memset(&entry, 0, sizeof(entry));
        virtual_attributes(inodes[i] == CHAINFS_ROOT_INODE ? VIRTUAL_DIRECTORY_INODE : inodes[i],
                           &entry.attr);
        entry.attr.st_ino = inodes[i];
        size_t length =
            plus ? fuse_add_direntry_plus(request, buffer + used, size - used, names[i], &entry,
                                          (off_t)i + 1)
                 : fuse_add_direntry(request, buffer + used, size - used, names[i], &entry.attr,
                                     (off_t)i + 1);
        if (length > size - used)
            break;
        used += length;
    }
    fuse_reply_buf(request, buffer, used);
}
