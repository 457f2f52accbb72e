/*
 * block_reference.h - who still needs a block: the versions naming it and the reads
 * in flight on it.
 *
 * A block is freed (returned to the block pool) only when no committed or pending
 * version names it (`versions`, 0..2: an in-place append names the committed block
 * from both) and no read is copying from it (`readers`). This is what lets a commit
 * replace a chunk's block while reads of the old version are still running: the
 * commit drops the version's hold, the last reader frees the block.
 *
 * Not thread-safe: the engine calls these under its lock.
 */
#ifndef CHAINFS_STORAGE_BLOCK_REFERENCE_H
#define CHAINFS_STORAGE_BLOCK_REFERENCE_H

#include <stdint.h>

#include "storage/block_pool.h"

struct block_reference {
    struct block_location location;
    uint32_t versions;
    uint32_t readers;
};

/* Counts of blocks kept alive only by readers (for the leak check). */
struct block_reference_counts {
    uint64_t held_by_readers;
};

/* A reference to a block with no holders yet; NULL when out of memory. */
struct block_reference *block_reference_new(struct block_location location);

/* Drops a version's hold; frees the block and the reference when it was the last
 * holder. reference may be NULL. */
void block_reference_release_version(struct block_reference *reference, struct block_pool *pool,
                                     struct block_reference_counts *counts);

/* A read starts/ends using the block; reference may be NULL. */
void block_reference_acquire_reader(struct block_reference *reference);
void block_reference_release_reader(struct block_reference *reference, struct block_pool *pool,
                                    struct block_reference_counts *counts);

#endif /* CHAINFS_STORAGE_BLOCK_REFERENCE_H */
