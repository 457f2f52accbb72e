/*
 * embedded_storage.c - the storage half of the embedded backend: every chunk is one
 * file, chunks/<chain>/<inode hex>/<chunk index>, holding the chunk's bytes from its
 * start to its length (so a missing chunk and a short one read as holes, exactly as
 * the storage service reports them). A file's chunks on one chain are one directory,
 * which makes removing a range of them one directory scan.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chainfs/error.h"
#include "client/embedded_backend.h"
#include "meta/file_layout.h"

struct embedded_storage {
    char dir[PATH_MAX / 2];
    uint32_t chain_count;
    uint32_t *table; /* chain ids 1..chain_count */
};

static void inode_path(const struct embedded_storage *storage, uint32_t chain_id, uint64_t inode_id,
                       char *path, size_t capacity)
{
    snprintf(path, capacity, "%s/%" PRIu32 "/%016" PRIx64, storage->dir, chain_id, inode_id);
}

static void chunk_path(const struct embedded_storage *storage, const struct chunk_io *piece,
                       char *path, size_t capacity)
{
    snprintf(path, capacity, "%s/%" PRIu32 "/%016" PRIx64 "/%" PRIu64, storage->dir,
             piece->chain_id, piece->inode_id, piece->chunk_index);
}

static int errno_status(int error)
{
    switch (error) {
    case ENOSPC:
    case EDQUOT:
        return CHAINFS_NO_SPACE;
    case ENOMEM:
        return CHAINFS_NO_MEMORY;
    default:
        return CHAINFS_IO;
    }
}

/* The embedded chain table is chains 1..chain_count, mapped as a cluster maps its own
 * table (meta/file_layout.h). */
static int embedded_resolve_stripe(void *context, const struct file_layout *layout,
                                   uint32_t *chain_ids, uint32_t *width)
{
    const struct embedded_storage *storage = context;
    *width = file_layout_stripe_width(layout, storage->chain_count);
    return file_layout_stripe_chains(layout, storage->table, storage->chain_count, chain_ids);
}

static int read_piece(const struct embedded_storage *storage, struct chunk_io *piece)
{
    char path[PATH_MAX];
    chunk_path(storage, piece, path, sizeof(path));
    piece->done = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : errno_status(errno); /* a hole */
    int status = 0;
    while (piece->done < piece->length) {
        ssize_t count = pread(fd, piece->buffer + piece->done, piece->length - piece->done,
                              (off_t)piece->offset + piece->done);
        if (count < 0 && errno == EINTR)
            continue;
        if (count < 0)
            status = errno_status(errno);
        if (count <= 0)
            break;
        piece->done += (uint32_t)count;
    }
    close(fd);
    return status;
}

static int open_for_write(const struct embedded_storage *storage, const struct chunk_io *piece)
{
    char path[PATH_MAX];
    chunk_path(storage, piece, path, sizeof(path));
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0 || errno != ENOENT)
        return fd;
    char directory[PATH_MAX];
    inode_path(storage, piece->chain_id, piece->inode_id, directory, sizeof(directory));
    if (mkdir(directory, 0700) != 0 && errno != EEXIST)
        return -1;
    return open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
}

static int write_piece(const struct embedded_storage *storage, struct chunk_io *piece)
{
    piece->done = 0;
    int fd = open_for_write(storage, piece);
    if (fd < 0)
        return errno_status(errno);
    int status = 0;
    while (piece->done < piece->length) {
        ssize_t count = pwrite(fd, piece->buffer + piece->done, piece->length - piece->done,
                               (off_t)piece->offset + piece->done);
        if (count < 0 && errno == EINTR)
            continue;
        if (count <= 0) {
            status = errno_status(count < 0 ? errno : EIO);
            break;
        }
        piece->done += (uint32_t)count;
    }
    close(fd);
    return status;
}

static bool chain_known(const struct embedded_storage *storage, uint32_t chain_id)
{
    return chain_id >= 1 && chain_id <= storage->chain_count;
}

static int run_pieces(const struct embedded_storage *storage, struct chunk_io *pieces, size_t count,
                      int (*run)(const struct embedded_storage *, struct chunk_io *))
{
    int first_failure = 0;
    for (size_t i = 0; i < count; i++) {
        pieces[i].status = chain_known(storage, pieces[i].chain_id) &&
                                   pieces[i].offset + (uint64_t)pieces[i].length <=
                                       pieces[i].chunk_size
                               ? run(storage, &pieces[i])
                               : CHAINFS_INVALID_ARGUMENT;
        if (pieces[i].status != 0 && first_failure == 0)
            first_failure = pieces[i].status;
    }
    return first_failure;
}

static int embedded_read(void *context, struct chunk_io *pieces, size_t count)
{
    return run_pieces(context, pieces, count, read_piece);
}

static int embedded_write(void *context, struct chunk_io *pieces, size_t count)
{
    return run_pieces(context, pieces, count, write_piece);
}

static int embedded_remove_chunks(void *context, uint32_t chain_id, uint64_t inode_id,
                                  uint64_t first_index)
{
    const struct embedded_storage *storage = context;
    if (!chain_known(storage, chain_id))
        return CHAINFS_INVALID_ARGUMENT;
    char directory[PATH_MAX];
    inode_path(storage, chain_id, inode_id, directory, sizeof(directory));
    DIR *listing = opendir(directory);
    if (!listing)
        return errno == ENOENT ? 0 : errno_status(errno);
    int status = 0;
    struct dirent *entry;
    while ((entry = readdir(listing)) != NULL) {
        char *end;
        errno = 0;
        unsigned long long index = strtoull(entry->d_name, &end, 10);
        if (entry->d_name[0] == '.' || *end != '\0' || errno != 0 || index < first_index)
            continue;
        if (unlinkat(dirfd(listing), entry->d_name, 0) != 0 && errno != ENOENT)
            status = errno_status(errno);
    }
    closedir(listing);
    if (status == 0 && first_index == 0)
        rmdir(directory); /* may fail if a concurrent write re-created a chunk: fine */
    return status;
}

static int embedded_truncate_chunk(void *context, uint32_t chain_id, uint64_t inode_id,
                                   uint64_t chunk_index, uint32_t length, uint32_t chunk_size)
{
    const struct embedded_storage *storage = context;
    if (!chain_known(storage, chain_id) || length > chunk_size)
        return CHAINFS_INVALID_ARGUMENT;
    char path[PATH_MAX];
    struct chunk_io piece = {.chain_id = chain_id, .inode_id = inode_id, .chunk_index = chunk_index};
    chunk_path(storage, &piece, path, sizeof(path));
    struct stat info;
    if (stat(path, &info) != 0)
        return errno == ENOENT ? 0 : errno_status(errno);
    if ((uint64_t)info.st_size > length && truncate(path, length) != 0)
        return errno_status(errno);
    return 0;
}

static void embedded_storage_destroy(void *context)
{
    struct embedded_storage *storage = context;
    free(storage->table);
    free(storage);
}

static const struct client_storage_ops embedded_storage_ops = {
    .resolve_stripe = embedded_resolve_stripe,
    .read = embedded_read,
    .write = embedded_write,
    .remove_chunks = embedded_remove_chunks,
    .truncate_chunk = embedded_truncate_chunk,
    .destroy = embedded_storage_destroy,
};

int embedded_storage_open(const char *chunk_dir, uint32_t chain_count, struct client_backend *backend)
{
    if (chain_count == 0 || strlen(chunk_dir) >= PATH_MAX / 2)
        return CHAINFS_INVALID_ARGUMENT;
    struct embedded_storage *storage = calloc(1, sizeof(*storage));
    if (!storage)
        return CHAINFS_NO_MEMORY;
    snprintf(storage->dir, sizeof(storage->dir), "%s", chunk_dir);
    storage->chain_count = chain_count;
    storage->table = calloc(chain_count, sizeof(*storage->table));
    if (!storage->table || (mkdir(chunk_dir, 0700) != 0 && errno != EEXIST)) {
        int status = storage->table ? errno_status(errno) : CHAINFS_NO_MEMORY;
        embedded_storage_destroy(storage);
        return status;
    }
    for (uint32_t chain = 1; chain <= chain_count; chain++)
        storage->table[chain - 1] = chain;
    for (uint32_t chain = 1; chain <= chain_count; chain++) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%" PRIu32, chunk_dir, chain);
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            int status = errno_status(errno);
            embedded_storage_destroy(storage);
            return status;
        }
    }
    backend->storage = &embedded_storage_ops;
    backend->storage_context = storage;
    return 0;
}

int embedded_backend_open(const char *dir, uint32_t chunk_size, uint32_t stripe,
                          uint32_t chain_count, struct client_backend *backend)
{
    if (!file_range_valid_chunk_size(chunk_size) || stripe == 0 || chain_count == 0 ||
        strlen(dir) >= PATH_MAX / 2 - 16)
        return CHAINFS_INVALID_ARGUMENT;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return errno_status(errno);
    char kv_dir[PATH_MAX], chunk_dir[PATH_MAX];
    snprintf(kv_dir, sizeof(kv_dir), "%s/kv", dir);
    snprintf(chunk_dir, sizeof(chunk_dir), "%s/chunks", dir);
    struct file_layout layout = {.table_id = 1, .table_version = 1, .chunk_size = chunk_size,
                                 .stripe = stripe};
    int status = embedded_storage_open(chunk_dir, chain_count, backend);
    if (status != 0)
        return status;
    status = embedded_meta_open(kv_dir, chunk_dir, &layout, backend);
    if (status != 0)
        backend->storage->destroy(backend->storage_context);
    return status;
}
