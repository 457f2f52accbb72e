/*
 * chunk_engine_read.c - reads of committed (or, relaxed, pending) chunk content.
 *
 * A read pins the version's block (a reader hold, block_reference.h) under the lock,
 * copies the version's description, and reads unlocked: a commit that replaces the
 * block meanwhile only drops the version's hold, and the block is freed when this
 * read lets go, so the read returns the old version whole, never a mix.
 */
#include <stdint.h>
#include <string.h>

#include "chainfs/error.h"
#include "common/aligned_buffer.h"
#include "common/crc32c.h"
#include "storage/chunk_engine_internal.h"

/* Picks the version to read and pins its block; engine locked. */
static int pin_version(struct chunk_engine *engine, const struct chunk_id *id, unsigned flags,
                       struct chunk_version *version, struct block_reference **block,
                       struct chunk_read_result *result)
{
    struct chunk_entry *entry = chunk_engine_find_persisted(engine, id);
    if (entry == NULL)
        return CHAINFS_NOT_FOUND;
    bool pending = (flags & CHUNK_READ_PENDING) && chunk_metadata_has_pending(&entry->metadata);
    *version = pending ? entry->metadata.pending : entry->metadata.committed;
    *block = pending ? entry->pending_block : entry->committed_block;
    result->pending_version = entry->metadata.pending.version;
    block_reference_acquire_reader(*block);
    return CHAINFS_OK;
}

static bool is_aligned(uint64_t value)
{
    return value % ALIGNED_BUFFER_ALIGNMENT == 0;
}

/* Checks a read of the whole version against its CRC. */
static int check_whole(const struct chunk_version *version, uint64_t offset, uint64_t length,
                       const void *buffer)
{
    if (offset == 0 && length == version->length && crc32c(0, buffer, length) != version->crc)
        return CHAINFS_CHECKSUM;
    return CHAINFS_OK;
}

/* Copies bytes [offset, offset + length) of a version into buffer: straight into it
 * when buffer, offset and length suit O_DIRECT, else through an aligned bounce buffer. */
static int copy_out(struct chunk_engine *engine, const struct chunk_version *version,
                    uint64_t offset, uint64_t length, void *buffer)
{
    if (is_aligned((uintptr_t)buffer) && is_aligned(offset) && is_aligned(length)) {
        int result = chunk_engine_read_block(engine, version->block, offset, buffer, length);
        return result == CHAINFS_OK ? check_whole(version, offset, length, buffer) : result;
    }
    uint64_t start = offset & ~(uint64_t)(ALIGNED_BUFFER_ALIGNMENT - 1);
    uint64_t span = aligned_buffer_round_up(offset + length) - start;
    void *bounce = aligned_buffer_alloc(span);
    if (bounce == NULL)
        return CHAINFS_NO_MEMORY;
    int result = chunk_engine_read_block(engine, version->block, start, bounce, span);
    if (result == CHAINFS_OK) {
        memcpy(buffer, (char *)bounce + (offset - start), length);
        result = check_whole(version, offset, length, buffer);
    }
    aligned_buffer_free(bounce, span);
    return result;
}

int chunk_engine_read(struct chunk_engine *engine, const struct chunk_id *id, uint64_t offset,
                      uint64_t length, void *buffer, unsigned flags,
                      struct chunk_read_result *result)
{
    if (offset > engine->options.chunk_size_limit ||
        length > engine->options.chunk_size_limit - offset || (buffer == NULL && length > 0))
        return CHAINFS_INVALID_ARGUMENT;
    memset(result, 0, sizeof(*result));
    struct chunk_version version;
    struct block_reference *block = NULL;
    pthread_mutex_lock(&engine->lock);
    int status = pin_version(engine, id, flags, &version, &block, result);
    if (status == CHAINFS_OK)
        engine->counters.reads++;
    pthread_mutex_unlock(&engine->lock);
    if (status != CHAINFS_OK)
        return status;

    /* Past the end is a hole of the file: nothing to read, like a read past EOF. */
    uint64_t available = offset < version.length ? version.length - offset : 0;
    uint64_t bytes = length < available ? length : available;
    if (bytes > 0)
        status = copy_out(engine, &version, offset, bytes, buffer);
    pthread_mutex_lock(&engine->lock);
    block_reference_release_reader(block, engine->pool, &engine->references);
    pthread_mutex_unlock(&engine->lock);
    if (status != CHAINFS_OK)
        return status;
    result->bytes_read = bytes;
    result->version = version.version;
    result->chain_version = version.chain_version;
    result->chunk_length = version.length;
    result->crc = version.crc;
    return CHAINFS_OK;
}
