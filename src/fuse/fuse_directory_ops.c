/*
 * fuse_directory_ops.c - opendir, readdir, readdirplus, releasedir.
 *
 * The open directory (fi->fh) holds the entries listed so far, fetched from meta in
 * name-ordered pages as the reader advances; an entry's FUSE offset is its position
 * (0 ".", 1 "..", 2 + k the k-th entry), so a reader that seeks back (telldir/seekdir,
 * a rewind) sees the same listing. readdirplus sends each entry's attributes along,
 * saving `ls -l` and `find` one lookup per entry.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuse/fuse_operations.h"

#define DAEMON(request) ((struct fuse_daemon *)fuse_req_userdata(request))
#define LISTING_PAGE 128

struct open_directory {
    pthread_mutex_t lock;
    fuse_ino_t inode;
    struct chainfs_directory_entry *entries;
    struct chainfs_attributes *attributes; /* of each entry, listed with it */
    size_t count;
    size_t capacity;
    bool complete;
};

void fuse_op_opendir(fuse_req_t request, fuse_ino_t inode, struct fuse_file_info *file_info)
{
    struct fuse_daemon *daemon = DAEMON(request);
    if (!fuse_virtual_inode(inode)) {
        struct chainfs_attributes attributes;
        int status = chainfs_stat(daemon->client, inode, &attributes);
        if (status == 0 && attributes.type != CHAINFS_TYPE_DIRECTORY)
            status = CHAINFS_NOT_DIRECTORY;
        if (status != 0) {
            fuse_reply_status(request, status);
            return;
        }
    }
    struct open_directory *directory = calloc(1, sizeof(*directory));
    if (!directory) {
        fuse_reply_err(request, ENOMEM);
        return;
    }
    pthread_mutex_init(&directory->lock, NULL);
    directory->inode = inode;
    file_info->fh = (uint64_t)(uintptr_t)directory;
    file_info->cache_readdir = 0;
    if (fuse_reply_open(request, file_info) == -ENOENT) {
        pthread_mutex_destroy(&directory->lock);
        free(directory);
    }
}

/* Lists further pages until entry `index` is loaded or the directory ends. */
static int load_until(struct fuse_daemon *daemon, const struct chainfs_credentials *credentials,
                      struct open_directory *directory, size_t index)
{
    while (!directory->complete && directory->count <= index) {
        if (directory->capacity - directory->count < LISTING_PAGE) {
            size_t grown = directory->capacity * 2 + LISTING_PAGE;
            void *bigger = realloc(directory->entries, grown * sizeof(*directory->entries));
            if (!bigger)
                return CHAINFS_NO_MEMORY;
            directory->entries = bigger;
            bigger = realloc(directory->attributes, grown * sizeof(*directory->attributes));
            if (!bigger)
                return CHAINFS_NO_MEMORY;
            directory->attributes = bigger;
            directory->capacity = grown;
        }
        const char *after = directory->count ? directory->entries[directory->count - 1].name : "";
        size_t count = 0;
        bool more = false;
        int status = chainfs_readdir(daemon->client, credentials, directory->inode, after,
                                     directory->entries + directory->count,
                                     directory->attributes + directory->count, LISTING_PAGE,
                                     &count, &more);
        if (status != 0)
            return status;
        directory->count += count;
        directory->complete = !more || count == 0;
    }
    return 0;
}

static mode_t type_mode(uint8_t type)
{
    return type == CHAINFS_TYPE_DIRECTORY ? S_IFDIR
           : type == CHAINFS_TYPE_SYMLINK ? S_IFLNK
                                          : S_IFREG;
}

/* Adds one entry (attributes NULL for "." and "..") whose next offset is `next`;
 * returns false when the reply buffer is full. */
static bool add_entry(fuse_req_t request, struct fuse_daemon *daemon, char *buffer, size_t size,
                      size_t *used, const char *name, uint64_t inode_id, uint8_t type,
                      const struct chainfs_attributes *attributes, off_t next, bool plus)
{
    size_t length;
    if (!plus) {
        struct stat stat = {.st_ino = inode_id, .st_mode = type_mode(type)};
        length = fuse_add_direntry(request, buffer + *used, size - *used, name, &stat, next);
    } else {
        struct fuse_entry_param entry;
        memset(&entry, 0, sizeof(entry));
        if (attributes && attributes->inode_id != 0) {
            entry.ino = inode_id;
            entry.generation = 1;
            entry.entry_timeout = daemon->options.entry_timeout;
            entry.attr_timeout = daemon->options.attr_timeout;
            fuse_fill_stat(attributes, &entry.attr);
        } else {
            /* no node id: the kernel lists the name without caching an entry */
            entry.attr.st_ino = inode_id;
            entry.attr.st_mode = type_mode(type);
        }
        length = fuse_add_direntry_plus(request, buffer + *used, size - *used, name, &entry, next);
    }
    if (length > size - *used)
        return false;
    *used += length;
    return true;
}

static void read_directory(fuse_req_t request, fuse_ino_t inode, size_t size, off_t offset,
                           struct fuse_file_info *file_info, bool plus)
{
    struct fuse_daemon *daemon = DAEMON(request);
    if (fuse_virtual_inode(inode)) {
        fuse_virtual_readdir(request, inode, size, offset, plus);
        return;
    }
    struct open_directory *directory = (struct open_directory *)(uintptr_t)file_info->fh;
    struct chainfs_credentials credentials;
    fuse_request_credentials(request, &credentials);
    char *buffer = malloc(size ? size : 1);
    if (!buffer || offset < 0) {
        free(buffer);
        fuse_reply_err(request, buffer ? EINVAL : ENOMEM);
        return;
    }
    size_t used = 0;
    int status = 0;
    pthread_mutex_lock(&directory->lock);
    for (size_t position = (size_t)offset;; position++) {
        const char *name;
        uint64_t entry_inode;
        uint8_t type = CHAINFS_TYPE_DIRECTORY;
        const struct chainfs_attributes *attributes = NULL;
        if (position < 2) {
            name = position == 0 ? "." : "..";
            entry_inode = inode;
        } else {
            status = load_until(daemon, &credentials, directory, position - 2);
            if (status != 0 || position - 2 >= directory->count)
                break;
            const struct chainfs_directory_entry *entry = &directory->entries[position - 2];
            name = entry->name;
            entry_inode = entry->inode_id;
            type = entry->type;
            attributes = &directory->attributes[position - 2];
        }
        if (!add_entry(request, daemon, buffer, size, &used, name, entry_inode, type, attributes,
                       (off_t)position + 1, plus))
            break;
    }
    pthread_mutex_unlock(&directory->lock);
    if (status != 0 && used == 0)
        fuse_reply_status(request, status);
    else
        fuse_reply_buf(request, buffer, used);
    free(buffer);
}

void fuse_op_readdir(fuse_req_t request, fuse_ino_t inode, size_t size, off_t offset,
                     struct fuse_file_info *file_info)
{
    read_directory(request, inode, size, offset, file_info, false);
}

void fuse_op_readdirplus(fuse_req_t request, fuse_ino_t inode, size_t size, off_t offset,
                         struct fuse_file_info *file_info)
{
    read_directory(request, inode, size, offset, file_info, true);
}

void fuse_op_releasedir(fuse_req_t request, fuse_ino_t inode, struct fuse_file_info *file_info)
{
    struct open_directory *directory = (struct open_directory *)(uintptr_t)file_info->fh;
    pthread_mutex_destroy(&directory->lock);
    free(directory->entries);
    free(directory->attributes);
    free(directory);
    fuse_reply_err(request, 0);
}

void fuse_op_fsyncdir(fuse_req_t request, fuse_ino_t inode, int data_only,
                      struct fuse_file_info *file_info)
{
    fuse_reply_err(request, 0); /* every namespace change is committed when it returns */
}
