/*
 * chunk_engine.c - opening a target (with recovery), closing it, and block I/O helpers.
 *
 * Recovery on open. The LMDB records are the truth; everything else is derived:
 *   1. every record is decoded and checked (CHAINFS_MALFORMED otherwise);
 *   2. the blocks its committed and pending versions name are marked used in fresh,
 *      all-free bitmaps; a block outside its file, or named by two chunks, fails the
 *      open with CHAINFS_INTERNAL instead of serving corrupt data;
 *   3. every block not marked is free. That drops the blocks of updates that were
 *      written but never committed to LMDB (crash between data write and metadata
 *      commit) and of old versions whose release had not happened yet (crash right
 *      after a commit): no block leaks across a crash, and no cleanup log is needed.
 * Pending versions survive: the replication layer decides to commit or abort them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_COMPONENT "storage"
#include "chainfs/error.h"
#include "common/aligned_buffer.h"
#include "common/log.h"
#include "storage/chunk_engine_internal.h"

#define DEFAULT_GROW_BYTES (256ULL << 20)

struct chunk_entry *chunk_engine_find_persisted(struct chunk_engine *engine,
                                                const struct chunk_id *id)
{
    struct chunk_entry *entry = chunk_index_find(&engine->index, id);
    return entry != NULL && entry->persisted ? entry : NULL;
}

int chunk_engine_read_block(struct chunk_engine *engine, struct block_location block,
                            uint64_t offset, void *buffer, uint64_t length)
{
    return block_io_read(engine->io, block_pool_fd(engine->pool, block.block_class), buffer,
                         aligned_buffer_round_up(length), block_pool_offset(block) + offset);
}

int chunk_engine_write_block(struct chunk_engine *engine, struct block_location block,
                             uint64_t offset, const void *buffer, uint64_t aligned_length)
{
    int fd = block_pool_fd(engine->pool, block.block_class);
    int result = block_io_write(engine->io, fd, buffer, aligned_length,
                                block_pool_offset(block) + offset);
    if (result == CHAINFS_OK && engine->options.sync)
        result = block_io_sync(engine->io, fd);
    return result;
}

static int check_options(struct chunk_engine_options *options)
{
    if (options->chunk_size_limit == 0)
        options->chunk_size_limit = BLOCK_SIZE_MAX;
    if (options->capacity_bytes == 0)
        options->capacity_bytes = UINT64_MAX / 2;
    if (options->grow_bytes == 0)
        options->grow_bytes = DEFAULT_GROW_BYTES;
    return options->chunk_size_limit <= BLOCK_SIZE_MAX ? CHAINFS_OK : CHAINFS_INVALID_ARGUMENT;
}

/* A version's block reference during recovery (marking the block used). */
static int recover_block(struct chunk_engine *engine, const struct chunk_version *version,
                         struct block_reference **reference)
{
    *reference = NULL;
    if (version->block.block_class == BLOCK_CLASS_NONE)
        return CHAINFS_OK;
    int result = block_pool_mark_used(engine->pool, version->block);
    if (result != CHAINFS_OK) {
        log_error("metadata names block %llu of class %d twice or outside its file",
                  (unsigned long long)version->block.index, version->block.block_class);
        return result;
    }
    *reference = block_reference_new(version->block);
    if (*reference == NULL)
        return CHAINFS_NO_MEMORY;
    (*reference)->versions = 1;
    return CHAINFS_OK;
}

static bool same_block(struct block_location a, struct block_location b)
{
    return a.block_class == b.block_class && a.index == b.index;
}

static int recover_chunk(const struct chunk_metadata *metadata, void *context)
{
    struct chunk_engine *engine = context;
    struct chunk_entry *entry = chunk_index_insert(&engine->index, &metadata->id);
    if (entry == NULL)
        return CHAINFS_NO_MEMORY;
    entry->metadata = *metadata;
    entry->persisted = true;
    int result = recover_block(engine, &metadata->committed, &entry->committed_block);
    if (result != CHAINFS_OK || !chunk_metadata_has_pending(metadata))
        return result;
    if (entry->committed_block != NULL &&
        same_block(metadata->pending.block, metadata->committed.block)) {
        entry->pending_block = entry->committed_block; /* an append in place */
        entry->pending_block->versions++;
        return CHAINFS_OK;
    }
    return recover_block(engine, &metadata->pending, &entry->pending_block);
}

static int free_entry_references(struct chunk_entry *entry, void *context)
{
    struct chunk_engine *engine = context;
    block_reference_release_version(entry->pending_block, engine->pool, &engine->references);
    block_reference_release_version(entry->committed_block, engine->pool, &engine->references);
    entry->pending_block = entry->committed_block = NULL;
    return 0;
}

static void free_index(struct chunk_engine *engine)
{
    if (engine->index.buckets == NULL)
        return;
    chunk_index_visit(&engine->index, free_entry_references, engine);
    for (size_t i = 0; i < engine->index.bucket_count; i++)
        while (engine->index.buckets[i] != NULL)
            chunk_index_remove(&engine->index, engine->index.buckets[i]);
    chunk_index_destroy(&engine->index);
}

/* Takes the target's lock file: one engine per target directory, across processes
 * (LMDB and the bitmaps assume a single owner). The kernel drops it when the owner
 * dies, so a crashed process never blocks its restart. */
static int lock_target(struct chunk_engine *engine, const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/LOCK", dir);
    engine->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (engine->lock_fd < 0) {
        log_error("cannot open %s: %s", path, strerror(errno));
        return CHAINFS_IO;
    }
    if (flock(engine->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        log_error("target %s is already open", dir);
        return errno == EWOULDBLOCK ? CHAINFS_BUSY : CHAINFS_IO;
    }
    return CHAINFS_OK;
}

static int open_parts(struct chunk_engine *engine, const char *dir)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        log_error("cannot create %s: %s", dir, strerror(errno));
        return CHAINFS_IO;
    }
    int result = lock_target(engine, dir);
    if (result == CHAINFS_OK)
        result = chunk_index_init(&engine->index);
    if (result == CHAINFS_OK)
        result = block_pool_open(dir, engine->options.capacity_bytes,
                                 engine->options.grow_bytes, &engine->pool);
    if (result == CHAINFS_OK)
        result = metadata_store_open(dir, engine->options.sync, &engine->store);
    if (result == CHAINFS_OK)
        result = block_io_open(0, engine->options.synchronous_io, &engine->io);
    if (result == CHAINFS_OK)
        result = metadata_store_for_each(engine->store, recover_chunk, engine);
    return result;
}

int chunk_engine_open(const char *dir, const struct chunk_engine_options *options,
                      struct chunk_engine **engine_out)
{
    struct chunk_engine *engine = calloc(1, sizeof(*engine));
    if (engine == NULL)
        return CHAINFS_NO_MEMORY;
    engine->options = *options;
    engine->lock_fd = -1;
    pthread_mutex_init(&engine->lock, NULL);
    int result = check_options(&engine->options);
    if (result == CHAINFS_OK)
        result = open_parts(engine, dir);
    if (result != CHAINFS_OK) {
        chunk_engine_close(engine);
        return result;
    }
    log_debug("target %s: %zu chunks, %llu blocks in use", dir, engine->index.entry_count,
              (unsigned long long)block_pool_used_blocks(engine->pool));
    *engine_out = engine;
    return CHAINFS_OK;
}

void chunk_engine_close(struct chunk_engine *engine)
{
    if (engine == NULL)
        return;
    if (engine->pool != NULL)
        free_index(engine);
    else
        chunk_index_destroy(&engine->index);
    block_io_close(engine->io);
    metadata_store_close(engine->store);
    block_pool_close(engine->pool);
    if (engine->lock_fd >= 0)
        close(engine->lock_fd);
    pthread_mutex_destroy(&engine->lock);
    free(engine);
}
