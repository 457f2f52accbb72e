/*
 * fuse_reply.c - request credentials and the replies every FUSE operation builds from
 * client attributes and statuses.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "fuse/fuse_internal.h"

void fuse_request_credentials(fuse_req_t request, struct chainfs_credentials *credentials)
{
    const struct fuse_ctx *context = fuse_req_ctx(request);
    memset(credentials, 0, sizeof(*credentials));
    credentials->uid = context->uid;
    credentials->gid = context->gid;
    if (context->uid == 0)
        return; /* root passes every check: spare reading /proc/<pid>/status */
    gid_t groups[CHAINFS_GROUPS_MAX];
    int count = fuse_req_getgroups(request, CHAINFS_GROUPS_MAX, groups);
    if (count > CHAINFS_GROUPS_MAX)
        count = CHAINFS_GROUPS_MAX; /* more groups than fit: the first ones */
    for (int i = 0; i < count; i++)
        credentials->groups[credentials->group_count++] = groups[i];
}

static mode_t type_bits(uint8_t type)
{
    switch (type) {
    case CHAINFS_TYPE_DIRECTORY:
        return S_IFDIR;
    case CHAINFS_TYPE_SYMLINK:
        return S_IFLNK;
    default:
        return S_IFREG;
    }
}

void fuse_fill_stat(const struct chainfs_attributes *attributes, struct stat *stat)
{
    memset(stat, 0, sizeof(*stat));
    stat->st_ino = attributes->inode_id;
    stat->st_mode = type_bits(attributes->type) | (attributes->mode & 07777);
    stat->st_nlink = attributes->nlink;
    stat->st_uid = attributes->uid;
    stat->st_gid = attributes->gid;
    stat->st_size = (off_t)attributes->length;
    stat->st_blksize = 1 << 20; /* I/O in large pieces suits chunked storage */
    stat->st_blocks = (blkcnt_t)((attributes->length + 511) / 512);
    stat->st_atim.tv_sec = attributes->atime_ns / 1000000000;
    stat->st_atim.tv_nsec = attributes->atime_ns % 1000000000;
    stat->st_mtim.tv_sec = attributes->mtime_ns / 1000000000;
    stat->st_mtim.tv_nsec = attributes->mtime_ns % 1000000000;
    stat->st_ctim.tv_sec = attributes->ctime_ns / 1000000000;
    stat->st_ctim.tv_nsec = attributes->ctime_ns % 1000000000;
}

void fuse_reply_attributes_entry(fuse_req_t request, const struct chainfs_attributes *attributes)
{
    struct fuse_daemon *daemon = fuse_req_userdata(request);
    struct fuse_entry_param entry;
    memset(&entry, 0, sizeof(entry));
    entry.ino = attributes->inode_id;
    entry.generation = 1;
    entry.entry_timeout = daemon->options.entry_timeout;
    entry.attr_timeout = daemon->options.attr_timeout;
    fuse_fill_stat(attributes, &entry.attr);
    fuse_reply_entry(request, &entry);
}

void fuse_reply_status(fuse_req_t request, int status)
{
    int error = chainfs_error_to_errno(status);
    fuse_reply_err(request, error ? error : EIO);
}

void fuse_reply_entry_or_status(fuse_req_t request, int status,
                                const struct chainfs_attributes *attributes)
{
    if (status != 0)
        fuse_reply_status(request, status);
    else
        fuse_reply_attributes_entry(request, attributes);
}
