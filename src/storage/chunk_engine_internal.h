/*
 * chunk_engine_internal.h - the engine's state, shared by the chunk_engine*.c files.
 *
 * Locking: `lock` guards the index, every entry, the block pool, the block references
 * and the counters, and is held only for in-memory work. Data I/O and metadata
 * commits run without it: an update marks its entry busy under the lock, does its
 * I/O and LMDB commit unlocked, and publishes the result under the lock again, so
 * readers and updates of other chunks never wait for a disk.
 */
#ifndef CHAINFS_STORAGE_CHUNK_ENGINE_INTERNAL_H
#define CHAINFS_STORAGE_CHUNK_ENGINE_INTERNAL_H

#include <pthread.h>

#include "storage/block_io.h"
#include "storage/block_pool.h"
#include "storage/block_reference.h"
#include "storage/chunk_engine.h"
#include "storage/chunk_index.h"
#include "storage/metadata_store.h"

struct chunk_engine_counters {
    uint64_t reads, prepares, commits, aborts, removes, in_place_appends, installs;
};

struct chunk_engine {
    struct chunk_engine_options options;
    int lock_fd; /* holds the flock on <dir>/LOCK */
    pthread_mutex_t lock;
    struct chunk_index index;
    struct block_pool *pool;
    struct block_io *io;
    struct metadata_store *store;
    struct block_reference_counts references;
    struct chunk_engine_counters counters;
};

/* The entry of id that has reached LMDB, or NULL (engine locked). */
struct chunk_entry *chunk_engine_find_persisted(struct chunk_engine *engine,
                                                const struct chunk_id *id);

/* Reads length bytes (any length) from offset within a block into an aligned buffer
 * of aligned_buffer_round_up(length) bytes, offset being a multiple of 4096. */
int chunk_engine_read_block(struct chunk_engine *engine, struct block_location block,
                            uint64_t offset, void *buffer, uint64_t length);

/* Writes a whole aligned buffer at offset (a multiple of 4096) within a block, then
 * syncs the data file when the engine syncs. */
int chunk_engine_write_block(struct chunk_engine *engine, struct block_location block,
                             uint64_t offset, const void *buffer, uint64_t aligned_length);

#endif /* CHAINFS_STORAGE_CHUNK_ENGINE_INTERNAL_H */
