/*
 * fuse_namespace_ops.c - FUSE operations on names and attributes: lookup, getattr,
 * setattr, mknod, mkdir, symlink, readlink, link, unlink, rmdir, rename, access,
 * statfs. Each is one client call with the caller's credentials.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fuse/fuse_operations.h"
#include "meta/credentials.h"

#define DAEMON(request) ((struct fuse_daemon *)fuse_req_userdata(request))

void fuse_op_lookup(fuse_req_t request, fuse_ino_t parent, const char *name)
{
    struct fuse_daemon *daemon = DAEMON(request);
    if (fuse_virtual_lookup(daemon, request, parent, name))
        return;
    struct chainfs_credentials credentials;
    struct chainfs_attributes attributes;
    fuse_request_credentials(request, &credentials);
    int status = chainfs_lookup(daemon->client, &credentials, parent, name, &attributes);
    if (status == CHAINFS_NOT_FOUND) {
        /* a negative entry: the kernel need not ask again within the timeout */
        struct fuse_entry_param entry = {.ino = 0, .entry_timeout = daemon->options.entry_timeout};
        fuse_reply_entry(request, &entry);
    } else if (status != 0) {
        fuse_reply_status(request, status);
    } else {
        fuse_reply_attributes_entry(request, &attributes);
    }
}

void fuse_op_forget(fuse_req_t request, fuse_ino_t inode, uint64_t lookups)
{
    fuse_reply_none(request); /* inodes are named by id: nothing is kept per lookup */
}

void fuse_op_forget_multi(fuse_req_t request, size_t count, struct fuse_forget_data *forgets)
{
    fuse_reply_none(request);
}

void fuse_op_getattr(fuse_req_t request, fuse_ino_t inode, struct fuse_file_info *file_info)
{
    struct fuse_daemon *daemon = DAEMON(request);
    if (fuse_virtual_inode(inode)) {
        fuse_virtual_getattr(daemon, request, inode);
        return;
    }
    struct chainfs_attributes attributes;
    int status = chainfs_stat(daemon->client, inode, &attributes);
    if (status != 0) {
        fuse_reply_status(request, status);
        return;
    }
    struct stat stat;
    fuse_fill_stat(&attributes, &stat);
    fuse_reply_attr(request, &stat, daemon->options.attr_timeout);
}

static unsigned attribute_fields(int to_set)
{
    unsigned fields = 0;
    if (to_set & FUSE_SET_ATTR_MODE)
        fields |= CHAINFS_SET_MODE;
    if (to_set & FUSE_SET_ATTR_UID)
        fields |= CHAINFS_SET_UID;
    if (to_set & FUSE_SET_ATTR_GID)
        fields |= CHAINFS_SET_GID;
    if (to_set & FUSE_SET_ATTR_SIZE)
        fields |= CHAINFS_SET_LENGTH;
    if (to_set & FUSE_SET_ATTR_ATIME)
        fields |= (to_set & FUSE_SET_ATTR_ATIME_NOW) ? CHAINFS_SET_ATIME_NOW : CHAINFS_SET_ATIME;
    if (to_set & FUSE_SET_ATTR_MTIME)
        fields |= (to_set & FUSE_SET_ATTR_MTIME_NOW) ? CHAINFS_SET_MTIME_NOW : CHAINFS_SET_MTIME;
    return fields;
}

void fuse_op_setattr(fuse_req_t request, fuse_ino_t inode, struct stat *stat, int to_set,
                     struct fuse_file_info *file_info)
{
    struct fuse_daemon *daemon = DAEMON(request);
    if (fuse_virtual_inode(inode)) {
        fuse_reply_err(request, EPERM);
        return;
    }
    struct chainfs_credentials credentials;
    fuse_request_credentials(request, &credentials);
    struct chainfs_attribute_changes changes = {
        .fields = attribute_fields(to_set),
        .mode = stat->st_mode & 07777,
        .uid = stat->st_uid,
        .gid = stat->st_gid,
        .atime_ns = (int64_t)stat->st_atim.tv_sec * 1000000000 + stat->st_atim.tv_nsec,
        .mtime_ns = (int64_t)stat->st_mtim.tv_sec * 1000000000 + stat->st_mtim.tv_nsec,
        .length = (uint64_t)stat->st_size,
    };
    struct chainfs_attributes attributes;
    int status = changes.fields == 0 ? chainfs_stat(daemon->client, inode, &attributes)
                                     : chainfs_setattr(daemon->client, &credentials, inode,
                                                       &changes, &attributes);
    if (status != 0) {
        fuse_reply_status(request, status);
        return;
    }
    struct stat reply;
    fuse_fill_stat(&attributes, &reply);
    fuse_reply_attr(request, &reply, daemon->options.attr_timeout);
}

/* Names cannot be made in virtual directories (but for rm-rf/ symlinks). */
static bool refuse_in_virtual(fuse_req_t request, fuse_ino_t parent)
{
    if (!fuse_virtual_inode(parent))
        return false;
    fuse_reply_err(request, EPERM);
    return true;
}

void fuse_op_mknod(fuse_req_t request, fuse_ino_t parent, const char *name, mode_t mode,
                   dev_t device)
{
    struct fuse_daemon *daemon = DAEMON(request);
    if (refuse_in_virtual(request, parent))
        return;
    if (!S_ISREG(mode)) {
        fuse_reply_err(request, EPERM); /* only regular files: no devices, fifos, sockets */
        return;
    }
    struct chainfs_credentials credentials;
    struct chainfs_attributes attributes;
    struct chainfs_file *file;
    fuse_request_credentials(request, &credentials);
    int status = chainfs_create(daemon->client, &credentials, parent, name, mode & 07777,
                                O_RDONLY | O_EXCL, &file, &attributes);
    if (status == 0)
        status = chainfs_close(file);
    fuse_reply_entry_or_status(request, status, &attributes);
}

void fuse_op_mkdir(fuse_req_t request, fuse_ino_t parent, const char *name, mode_t mode)
{
    struct fuse_daemon *daemon = DAEMON(request);
    if (refuse_in_virtual(request, parent))
        return;
    struct chainfs_credentials credentials;
    struct chainfs_attributes attributes;
    fuse_request_credentials(request, &credentials);
    int status = chainfs_mkdir(daemon->client, &credentials, parent, name, mode & 07777, &attributes);
    fuse_reply_entry_or_status(request, status, &attributes);
}

void fuse_op_symlink(fuse_req_t request, const char *target, fuse_ino_t parent, const char *name)
{
    struct fuse_daemon *daemon = DAEMON(request);
    if (parent == VIRTUAL_RMRF_INODE) {
        fuse_virtual_symlink(daemon, request, target);
        return;
    }
    if (refuse_in_virtual(request, parent))
        return;
    struct chainfs_credentials credentials;
    struct chainfs_attributes attributes;
    fuse_request_credentials(request, &credentials);
    int status = chainfs_symlink(daemon->client, &credentials, parent, name, target, &attributes);
    fuse_reply_entry_or_status(request, status, &attributes);
}

void fuse_op_readlink(fuse_req_t request, fuse_ino_t inode)
{
    struct fuse_daemon *daemon = DAEMON(request);
    if (fuse_virtual_inode(inode)) {
        fuse_reply_err(request, EINVAL);
        return;
    }
    char target[CHAINFS_SYMLINK_MAX + 1];
    int status = chainfs_readlink(daemon->client, inode, target, sizeof(target));
    if (status != 0)
        fuse_reply_status(request, status);
    else
        fuse_reply_readlink(request, target);
}

void fuse_op_link(fuse_req_t request, fuse_ino_t inode, fuse_ino_t new_parent, const char *new_name)
{
    struct fuse_daemon *daemon = DAEMON(request);
    if (fuse_virtual_inode(inode) || fuse_virtual_inode(new_parent)) {
        fuse_reply_err(request, EPERM);
        return;
    }
    struct chainfs_credentials credentials;
    struct chainfs_attributes attributes;
    fuse_request_credentials(request, &credentials);
    int status = chainfs_link(daemon->client, &credentials, inode, new_parent, new_name, &attributes);
    fuse_reply_entry_or_status(request, status, &attributes);
}

/* unlink and rmdir: one client call on parent/name with the caller's credentials. */
typedef int remove_entry_function(struct chainfs_client *client,
                                  const struct chainfs_credentials *credentials,
                                  uint64_t parent_id, const char *name);

static void remove_entry(fuse_req_t request, fuse_ino_t parent, const char *name,
                         remove_entry_function *remove)
{
    struct fuse_daemon *daemon = DAEMON(request);
    if (refuse_in_virtual(request, parent))
        return;
    struct chainfs_credentials credentials;
    fuse_request_credentials(request, &credentials);
    fuse_reply_err(request, chainfs_error_to_errno(remove(daemon->client, &credentials, parent,
                                                          name)));
}

void fuse_op_unlink(fuse_req_t request, fuse_ino_t parent, const char *name)
{
    remove_entry(request, parent, name, chainfs_unlink);
}

void fuse_op_rmdir(fuse_req_t request, fuse_ino_t parent, const char *name)
{
    remove_entry(request, parent, name, chainfs_rmdir);
}

void fuse_op_rename(fuse_req_t request, fuse_ino_t parent, const char *name, fuse_ino_t new_parent,
                    const char *new_name, unsigned int flags)
{
    struct fuse_daemon *daemon = DAEMON(request);
    if (fuse_virtual_inode(parent) || fuse_virtual_inode(new_parent)) {
        fuse_reply_err(request, EPERM);
        return;
    }
    if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)) {
        fuse_reply_err(request, EINVAL); /* RENAME_WHITEOUT is for overlay file systems */
        return;
    }
    unsigned chainfs_flags = ((flags & RENAME_NOREPLACE) ? CHAINFS_RENAME_NOREPLACE : 0) |
                             ((flags & RENAME_EXCHANGE) ? CHAINFS_RENAME_EXCHANGE : 0);
    struct chainfs_credentials credentials;
    fuse_request_credentials(request, &credentials);
    fuse_reply_err(request, chainfs_error_to_errno(chainfs_rename(daemon->client, &credentials,
                                                                  parent, name, new_parent,
                                                                  new_name, chainfs_flags)));
}

/* access(2): the same rules meta applies, on fresh attributes. */
void fuse_op_access(fuse_req_t request, fuse_ino_t inode, int mask)
{
    struct fuse_daemon *daemon = DAEMON(request);
    if (fuse_virtual_inode(inode)) {
        fuse_reply_err(request, (mask & W_OK) ? EACCES : 0);
        return;
    }
    struct chainfs_credentials credentials;
    struct chainfs_attributes attributes;
    fuse_request_credentials(request, &credentials);
    int status = chainfs_stat(daemon->client, inode, &attributes);
    if (status == 0 && mask != F_OK) {
        struct meta_credentials meta = {.uid = credentials.uid, .gid = credentials.gid,
                                        .group_count = credentials.group_count};
        memcpy(meta.groups, credentials.groups, sizeof(meta.groups));
        struct inode record = {.type = attributes.type, .mode = attributes.mode,
                               .uid = attributes.uid, .gid = attributes.gid,
                               .flags = attributes.flags};
        unsigned wanted = ((mask & R_OK) ? META_ACCESS_READ : 0) |
                          ((mask & W_OK) ? META_ACCESS_WRITE : 0) |
                          ((mask & X_OK) ? META_ACCESS_EXECUTE : 0);
        status = credentials_check_access(&meta, &record, wanted);
        if (status == 0 && (mask & W_OK) && (attributes.flags & 1))
            status = CHAINFS_NOT_PERMITTED;
    }
    fuse_reply_err(request, chainfs_error_to_errno(status));
}

void fuse_op_statfs(fuse_req_t request, fuse_ino_t inode)
{
    struct fuse_daemon *daemon = DAEMON(request);
    struct chainfs_statfs space;
    int status = chainfs_statfs(daemon->client, &space);
    if (status != 0) {
        fuse_reply_status(request, status);
        return;
    }
    const unsigned long block = 4096;
    struct statvfs reply = {
        .f_bsize = space.chunk_size ? space.chunk_size : block,
        .f_frsize = block,
        .f_blocks = space.capacity_bytes / block,
        .f_bfree = (space.capacity_bytes - space.used_bytes) / block,
        .f_bavail = space.free_bytes / block,
        .f_files = UINT32_MAX,
        .f_ffree = UINT32_MAX,
        .f_favail = UINT32_MAX,
        .f_namemax = CHAINFS_NAME_MAX,
    };
    fuse_reply_statfs(request, &reply);
}

/* Extended attributes are not supported: ENOSYS makes the kernel stop asking (and
 * answer EOPNOTSUPP itself). */
void fuse_op_setxattr(fuse_req_t request, fuse_ino_t inode, const char *name, const char *value,
                      size_t size, int flags)
{
    fuse_reply_err(request, ENOSYS);
}

void fuse_op_getxattr(fuse_req_t request, fuse_ino_t inode, const char *name, size_t size)
{
    fuse_reply_err(request, ENOSYS);
}

void fuse_op_listxattr(fuse_req_t request, fuse_ino_t inode, size_t size)
{
    fuse_reply_err(request, ENOSYS);
}

void fuse_op_removexattr(fuse_req_t request, fuse_ino_t inode, const char *name)
{
    fuse_reply_err(request, ENOSYS);
}
