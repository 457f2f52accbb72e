/*
 * block_pool.h - the data files of a target and which of their blocks are in use.
 *
 * Chunk data lives in one large file per block size class: class c holds blocks of
 * 64 KiB << c bytes (c = 0 .. BLOCK_CLASS_COUNT-1, 64 KiB .. 64 MiB); block i of a
 * class is at byte i * block size of its file. A chunk of length L uses the smallest
 * class whose blocks hold L bytes.
 *
 * Which blocks are in use is an in-memory bitmap per class and is never written to
 * disk: the chunk metadata (LMDB) is the only record of which block holds what, and
 * opening a target rebuilds the bitmaps from it (block_pool_mark_used). A block that
 * was written but never referenced by committed metadata (a crash between the data
 * write and the metadata commit) is therefore free again after the restart: nothing
 * can leak across a crash.
 *
 * Files grow with fallocate by at least `grow_bytes` at a time, so allocation is a
 * bitmap scan almost always. Capacity is a byte budget over allocated blocks (the
 * sum of their block sizes): allocation beyond it returns CHAINFS_NO_SPACE.
 *
 * Not thread-safe: the chunk engine calls it under its lock.
 */
#ifndef CHAINFS_STORAGE_BLOCK_POOL_H
#define CHAINFS_STORAGE_BLOCK_POOL_H

#include <stdbool.h>
#include <stdint.h>

#define BLOCK_CLASS_COUNT 11
#define BLOCK_SIZE_MIN (64ULL << 10)
#define BLOCK_SIZE_MAX (BLOCK_SIZE_MIN << (BLOCK_CLASS_COUNT - 1))
#define BLOCK_CLASS_NONE (-1) /* an empty chunk has no block */

/* Where a chunk's bytes are: class and index in that class's file. */
struct block_location {
    int block_class; /* BLOCK_CLASS_NONE for none */
    uint64_t index;
};

struct block_pool;

/* Per-class figures for stats. */
struct block_class_usage {
    uint64_t file_blocks; /* blocks the file has room for */
    uint64_t used_blocks;
};

/* Opens (creating when missing) the class files below dir. Files are opened with
 * O_DIRECT unless the file system refuses it (logged, then buffered I/O).
 * capacity_bytes: the budget of allocated block bytes. */
int block_pool_open(const char *dir, uint64_t capacity_bytes, uint64_t grow_bytes,
                    struct block_pool **pool_out);

void block_pool_close(struct block_pool *pool);

/* The class for a chunk of length bytes (BLOCK_CLASS_NONE for 0). */
int block_class_for_length(uint64_t length);

/* Bytes in one block of a class. */
uint64_t block_class_size(int block_class);

/* A free block of the class, growing the file when none is free. 0,
 * CHAINFS_NO_SPACE (capacity or disk full) or CHAINFS_IO. */
int block_pool_allocate(struct block_pool *pool, int block_class,
                        struct block_location *location);

/* Returns a block to the free set. */
void block_pool_free(struct block_pool *pool, struct block_location location);

/* Recovery: marks a block referenced by metadata as used. CHAINFS_INTERNAL when it
 * lies outside its file or is already used (two chunks claiming one block). */
int block_pool_mark_used(struct block_pool *pool, struct block_location location);

/* True when the block is marked used. */
bool block_pool_is_used(const struct block_pool *pool, struct block_location location);

/* The file descriptor of a class's data file and the byte offset of a block. */
int block_pool_fd(const struct block_pool *pool, int block_class);
uint64_t block_pool_offset(struct block_location location);

uint64_t block_pool_used_bytes(const struct block_pool *pool);
/* The budget, or less when the file system cannot hold that much: the bytes of the
 * class files plus the file system's free space (targets sharing a disk each count
 * all of its free space). */
uint64_t block_pool_capacity_bytes(const struct block_pool *pool);
uint64_t block_pool_used_blocks(const struct block_pool *pool);
void block_pool_class_usage(const struct block_pool *pool, int block_class,
                            struct block_class_usage *usage);

#endif /* CHAINFS_STORAGE_BLOCK_POOL_H */
