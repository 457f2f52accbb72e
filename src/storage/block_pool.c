/*
 * block_pool.c - class files, their growth with fallocate, and the per-class bitmaps.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define LOG_COMPONENT "storage"
#include "chainfs/error.h"
#include "common/log.h"
#include "storage/block_pool.h"

struct block_class_file {
    int fd;
    uint64_t file_blocks;
    uint64_t used_blocks;
    uint64_t *bitmap; /* one bit per block of the file */
    uint64_t search_from; /* word to start the next free-bit scan at */
};

struct block_pool {
    struct block_class_file classes[BLOCK_CLASS_COUNT];
    uint64_t capacity_bytes;
    uint64_t used_bytes;
    uint64_t grow_bytes;
    int directory_fd; /* for the free space of the file system under the pool */
};

int block_class_for_length(uint64_t length)
{
    if (length == 0)
        return BLOCK_CLASS_NONE;
    for (int block_class = 0; block_class < BLOCK_CLASS_COUNT; block_class++)
        if (length <= block_class_size(block_class))
            return block_class;
    return BLOCK_CLASS_NONE;
}

uint64_t block_class_size(int block_class)
{
    return BLOCK_SIZE_MIN << block_class;
}

uint64_t block_pool_offset(struct block_location location)
{
    return location.index * block_class_size(location.block_class);
}

static int open_class_file(const char *dir, int block_class, int *fd_out)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/blocks-%lluK", dir,
             (unsigned long long)(block_class_size(block_class) >> 10));
    int fd = open(path, O_RDWR | O_CREAT | O_DIRECT | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EINVAL) {
        log_warn("%s: the file system refuses O_DIRECT; using buffered I/O", path);
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    }
    if (fd < 0) {
        log_error("cannot open %s: %s", path, strerror(errno));
        return CHAINFS_IO;
    }
    *fd_out = fd;
    return CHAINFS_OK;
}

static uint64_t bitmap_words(uint64_t blocks)
{
    return (blocks + 63) / 64;
}

/* Makes the bitmap cover file_blocks (new bits clear). */
static int resize_bitmap(struct block_class_file *file, uint64_t file_blocks)
{
    uint64_t old_words = bitmap_words(file->file_blocks);
    uint64_t new_words = bitmap_words(file_blocks);
    if (new_words > old_words) {
        uint64_t *bitmap = realloc(file->bitmap, new_words * sizeof(uint64_t));
        if (bitmap == NULL)
            return CHAINFS_NO_MEMORY;
        memset(bitmap + old_words, 0, (new_words - old_words) * sizeof(uint64_t));
        file->bitmap = bitmap;
    }
    file->file_blocks = file_blocks;
    return CHAINFS_OK;
}

static int load_class(struct block_pool *pool, const char *dir, int block_class)
{
    struct block_class_file *file = &pool->classes[block_class];
    int result = open_class_file(dir, block_class, &file->fd);
    if (result != CHAINFS_OK)
        return result;
    struct stat status;
    if (fstat(file->fd, &status) != 0)
        return CHAINFS_IO;
    return resize_bitmap(file, (uint64_t)status.st_size / block_class_size(block_class));
}

int block_pool_open(const char *dir, uint64_t capacity_bytes, uint64_t grow_bytes,
                    struct block_pool **pool_out)
{
    struct block_pool *pool = calloc(1, sizeof(*pool));
    if (pool == NULL)
        return CHAINFS_NO_MEMORY;
    pool->capacity_bytes = capacity_bytes;
    pool->grow_bytes = grow_bytes;
    for (int block_class = 0; block_class < BLOCK_CLASS_COUNT; block_class++)
        pool->classes[block_class].fd = -1;
    pool->directory_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pool->directory_fd < 0) {
        int error = errno;
        free(pool);
        return error == ENOENT ? CHAINFS_NOT_FOUND : CHAINFS_IO;
    }
    for (int block_class = 0; block_class < BLOCK_CLASS_COUNT; block_class++) {
        int result = load_class(pool, dir, block_class);
        if (result != CHAINFS_OK) {
            block_pool_close(pool);
            return result;
        }
    }
    *pool_out = pool;
    return CHAINFS_OK;
}

void block_pool_close(struct block_pool *pool)
{
    if (pool == NULL)
        return;
    for (int block_class = 0; block_class < BLOCK_CLASS_COUNT; block_class++) {
        if (pool->classes[block_class].fd >= 0)
            close(pool->classes[block_class].fd);
        free(pool->classes[block_class].bitmap);
    }
    if (pool->directory_fd >= 0)
        close(pool->directory_fd);
    free(pool);
}

/* Extends a class file by at least grow_bytes (at least one block). */
static int grow_class(struct block_pool *pool, int block_class)
{
    struct block_class_file *file = &pool->classes[block_class];
    uint64_t block_size = block_class_size(block_class);
    uint64_t add_blocks = pool->grow_bytes / block_size;
    if (add_blocks == 0)
        add_blocks = 1;
    off_t start = (off_t)(file->file_blocks * block_size);
    off_t length = (off_t)(add_blocks * block_size);
    int result = fallocate(file->fd, 0, start, length);
    if (result != 0 && errno == EOPNOTSUPP)
        result = ftruncate(file->fd, start + length);
    if (result != 0) {
        int error = errno;
        log_error("cannot grow the %lluK block file: %s",
                  (unsigned long long)(block_size >> 10), strerror(error));
        return error == ENOSPC ? CHAINFS_NO_SPACE : CHAINFS_IO;
    }
    return resize_bitmap(file, file->file_blocks + add_blocks);
}

/* First clear bit at or after word `from`, or file_blocks when none. */
static uint64_t find_free(const struct block_class_file *file, uint64_t from)
{
    uint64_t words = bitmap_words(file->file_blocks);
    for (uint64_t word = from; word < words; word++) {
        if (file->bitmap[word] == UINT64_MAX)
            continue;
        uint64_t index = word * 64 + (uint64_t)__builtin_ctzll(~file->bitmap[word]);
        return index < file->file_blocks ? index : file->file_blocks;
    }
    return file->file_blocks;
}

static void set_used(struct block_pool *pool, struct block_location location, bool used)
{
    struct block_class_file *file = &pool->classes[location.block_class];
    uint64_t bit = 1ULL << (location.index % 64);
    if (used)
        file->bitmap[location.index / 64] |= bit;
    else
        file->bitmap[location.index / 64] &= ~bit;
    int64_t sign = used ? 1 : -1;
    file->used_blocks += (uint64_t)sign;
    pool->used_bytes += (uint64_t)sign * block_class_size(location.block_class);
}

int block_pool_allocate(struct block_pool *pool, int block_class,
                        struct block_location *location)
{
    struct block_class_file *file = &pool->classes[block_class];
    if (pool->used_bytes + block_class_size(block_class) > pool->capacity_bytes)
        return CHAINFS_NO_SPACE;
    uint64_t index = find_free(file, file->search_from);
    if (index == file->file_blocks && file->search_from != 0)
        index = find_free(file, 0);
    if (index == file->file_blocks) {
        int result = grow_class(pool, block_class);
        if (result != CHAINFS_OK)
            return result;
    }
    location->block_class = block_class;
    location->index = index;
    file->search_from = index / 64;
    set_used(pool, *location, true);
    return CHAINFS_OK;
}

bool block_pool_is_used(const struct block_pool *pool, struct block_location location)
{
    const struct block_class_file *file = &pool->classes[location.block_class];
    if (location.index >= file->file_blocks)
        return false;
    return (file->bitmap[location.index / 64] >> (location.index % 64)) & 1;
}

void block_pool_free(struct block_pool *pool, struct block_location location)
{
    if (location.block_class == BLOCK_CLASS_NONE || !block_pool_is_used(pool, location))
        return;
    set_used(pool, location, false);
    struct block_class_file *file = &pool->classes[location.block_class];
    if (location.index / 64 < file->search_from)
        file->search_from = location.index / 64;
}

int block_pool_mark_used(struct block_pool *pool, struct block_location location)
{
    if (location.block_class < 0 || location.block_class >= BLOCK_CLASS_COUNT)
        return CHAINFS_INTERNAL;
    if (location.index >= pool->classes[location.block_class].file_blocks ||
        block_pool_is_used(pool, location))
        return CHAINFS_INTERNAL;
    set_used(pool, location, true);
    return CHAINFS_OK;
}

int block_pool_fd(const struct block_pool *pool, int block_class)
{
    return pool->classes[block_class].fd;
}

uint64_t block_pool_used_bytes(const struct block_pool *pool)
{
    return pool->used_bytes;
}

uint64_t block_pool_capacity_bytes(const struct block_pool *pool)
{
    /* what the class files hold now plus what the file system can still give them */
    uint64_t reachable = 0;
    for (int block_class = 0; block_class < BLOCK_CLASS_COUNT; block_class++)
        reachable += pool->classes[block_class].file_blocks * block_class_size(block_class);
    struct statvfs disk;
    if (fstatvfs(pool->directory_fd, &disk) == 0)
        reachable += (uint64_t)disk.f_bavail * disk.f_frsize;
    return reachable < pool->capacity_bytes ? reachable : pool->capacity_bytes;
}

uint64_t block_pool_used_blocks(const struct block_pool *pool)
{
    uint64_t blocks = 0;
    for (int block_class = 0; block_class < BLOCK_CLASS_COUNT; block_class++)
        blocks += pool->classes[block_class].used_blocks;
    return blocks;
}

void block_pool_class_usage(const struct block_pool *pool, int block_class,
                            struct block_class_usage *usage)
{
    usage->file_blocks = pool->classes[block_class].file_blocks;
    usage->used_blocks = pool->classes[block_class].used_blocks;
}
