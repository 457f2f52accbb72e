/*
 * fuse_reply.c - request credentials and the replies every FUSE operation builds from
 * client attributes and statuses.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <sys/stat.h>

#include "fuse/fuse_internal.h"

/* The supplementary groups of the thread that made a request, from the "Groups:" line
 * of /proc/<tid>/status (at most CHAINFS_GROUPS_MAX; none if the process is gone).
 * Not fuse_req_getgroups(): libfuse 3.14's runs strstr over a buffer it does not
 * terminate (AddressSanitizer catches the over-read). */
static void read_groups(pid_t thread, struct chainfs_credentials *credentials)
{
    char path[64], text[8192];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)thread);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    size_t length = 0;
    ssize_t count;
    while (length < sizeof(text) - 1 &&
           (count = read(fd, text + length, sizeof(text) - 1 - length)) > 0)
        length += (size_t)count;
    close(fd);
    text[length] = '\0';
    const char *line = strstr(text, "\nGroups:");
    if (!line)
        return;
    line += strlen("\nGroups:");
    while (credentials->group_count < CHAINFS_GROUPS_MAX) {
        char *end;
        unsigned long group = strtoul(line, &end, 10);
        if (end == line || group > UINT32_MAX)
            break; /* the end of the line (or of the listed groups) */
        credentials->groups[credentials->group_count++] = (uint32_t)group;
        line = end;
    }
}

void fuse_request_credentials(fuse_req_t request, struct chainfs_credentials *credentials)
{
    const struct fuse_ctx *context = fuse_req_ctx(request);
    memset(credentials, 0, sizeof(*credentials));
    credentials->uid = context->uid;
    credentials->gid = context->gid;
    if (context->uid == 0)
        return; /* root passes every check: spare reading /proc/<tid>/status */
    read_groups(context->pid, credentials);
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
