/*
 * chunk_engine_update.c - preparing a pending version (writes and truncates).
 *
 * Order of a prepare, and why a crash at any point is harmless:
 *   1. under the lock: mark the chunk busy, pin its committed block for reading,
 *      allocate a fresh block (in memory only);
 *   2. unlocked: build the new content (old content read back, cut or zero-extended,
 *      the written bytes laid over) and write it to the fresh block, then fdatasync
 *      when the engine syncs. A crash here leaves a block that no metadata names:
 *      recovery frees it, and the chunk is exactly as committed before;
 *   3. unlocked: commit the chunk's record with the new pending version to LMDB, one
 *      atomic transaction. After a crash the pending version exists whole (its data was
 *      on disk before its record) or not at all;
 *   4. under the lock: publish the pending version in the index, clear busy.
 * An append that starts at the committed length and fits the committed block skips
 * the fresh block: it writes past the committed length (rewriting the partial sector
 * before it with the same bytes), where no reader and no committed CRC looks; its CRC
 * continues the committed one, and only step 3 makes the bytes part of a version.
 *
 * An install (full-chunk replace for replica recovery) follows the same steps but its
 * record in step 3 makes the new content the committed version at once and drops any
 * pending version; the replaced blocks are released in step 4.
 */
#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"
#include "common/aligned_buffer.h"
#include "common/crc32c.h"
#include "storage/chunk_engine_internal.h"

#define SECTOR ((uint64_t)ALIGNED_BUFFER_ALIGNMENT)

/* What an update does, and its content once planned. */
struct update_plan {
    bool truncate;
    bool install;            /* replace the whole chunk and commit it at once */
    uint64_t install_version;
    uint64_t offset;     /* write: where data goes */
    const void *data;
    uint64_t length;     /* write: bytes of data; truncate: the new chunk length */
    uint64_t chain_version;
    struct chunk_version old;             /* the committed version it starts from */
    struct block_reference *old_block;    /* pinned for reading */
    struct block_reference *new_block;    /* == old_block for an append in place */
    struct chunk_version new;
};

static uint64_t new_length_of(const struct update_plan *plan)
{
    if (plan->truncate || plan->install)
        return plan->length;
    uint64_t end = plan->offset + plan->length;
    return end > plan->old.length ? end : plan->old.length;
}

static bool appends_in_place(const struct update_plan *plan)
{
    return !plan->truncate && !plan->install && plan->length > 0 && plan->old_block != NULL &&
           plan->offset == plan->old.length &&
           plan->offset + plan->length <= block_class_size(plan->old.block.block_class);
}

/* Step 1 (engine locked): claims the chunk and its new block. */
static int claim(struct chunk_engine *engine, const struct chunk_id *id,
                 struct update_plan *plan, struct chunk_entry **entry_out)
{
    struct chunk_entry *entry = chunk_index_find(&engine->index, id);
    if (entry != NULL && (entry->busy || (!plan->install &&
                                          chunk_metadata_has_pending(&entry->metadata))))
        return CHAINFS_BUSY;
    if (entry == NULL && plan->truncate)
        return CHAINFS_NOT_FOUND;
    if (entry == NULL && (entry = chunk_index_insert(&engine->index, id)) == NULL)
        return CHAINFS_NO_MEMORY;
    plan->old = entry->metadata.committed;
    plan->old_block = entry->committed_block;
    plan->new.length = new_length_of(plan);
    if (appends_in_place(plan)) {
        plan->new_block = plan->old_block;
    } else if (plan->new.length > 0) {
        struct block_location location;
        int result = block_pool_allocate(engine->pool, block_class_for_length(plan->new.length),
                                         &location);
        if (result == CHAINFS_OK && (plan->new_block = block_reference_new(location)) == NULL) {
            block_pool_free(engine->pool, location);
            result = CHAINFS_NO_MEMORY;
        }
        if (result != CHAINFS_OK) {
            if (!entry->persisted)
                chunk_index_remove(&engine->index, entry);
            return result;
        }
    }
    block_reference_acquire_reader(plan->old_block);
    entry->busy = true;
    *entry_out = entry;
    return CHAINFS_OK;
}

/* Step 2 for an append in place: the partial sector before offset, then the data. */
static int write_append(struct chunk_engine *engine, struct update_plan *plan)
{
    uint64_t start = plan->offset & ~(SECTOR - 1);
    uint64_t head = plan->offset - start;
    uint64_t span = aligned_buffer_round_up(head + plan->length);
    char *buffer = aligned_buffer_alloc(span);
    if (buffer == NULL)
        return CHAINFS_NO_MEMORY;
    int result = head > 0 ? chunk_engine_read_block(engine, plan->old.block, start, buffer,
                                                    SECTOR)
                          : CHAINFS_OK;
    if (result == CHAINFS_OK) {
        memcpy(buffer + head, plan->data, plan->length);
        memset(buffer + head + plan->length, 0, span - head - plan->length);
        result = chunk_engine_write_block(engine, plan->old.block, start, buffer, span);
    }
    plan->new.crc = crc32c(plan->old.crc, plan->data, plan->length);
    aligned_buffer_free(buffer, span);
    return result;
}

/* How much of the kept old content [0, keep) must be read back: a write that runs
 * to the end of it only needs what lies before its offset (a whole-chunk rewrite
 * nothing). */
static uint64_t old_bytes_to_read(const struct update_plan *plan, uint64_t keep)
{
    bool covers_the_end = !plan->truncate && plan->length > 0 &&
                          plan->offset + plan->length >= keep;
    return covers_the_end && plan->offset < keep ? plan->offset : keep;
}

/* Step 2 copy-on-write: the whole new content into the fresh block. */
static int write_copy(struct chunk_engine *engine, struct update_plan *plan)
{
    uint64_t length = plan->new.length;
    uint64_t keep = plan->install ? 0 : plan->old.length < length ? plan->old.length : length;
    uint64_t span = aligned_buffer_round_up(length);
    char *buffer = aligned_buffer_alloc(span);
    if (buffer == NULL)
        return CHAINFS_NO_MEMORY;
    int result = keep > 0 ? chunk_engine_read_block(engine, plan->old.block, 0, buffer,
                                                    old_bytes_to_read(plan, keep))
                          : CHAINFS_OK;
    if (result == CHAINFS_OK) {
        memset(buffer + keep, 0, span - keep);
        if (plan->install && length > 0)
            memcpy(buffer, plan->data, length);
        else if (!plan->truncate && plan->length > 0)
            memcpy(buffer + plan->offset, plan->data, plan->length);
        plan->new.crc = crc32c(0, buffer, length);
        result = chunk_engine_write_block(engine, plan->new_block->location, 0, buffer, span);
    }
    aligned_buffer_free(buffer, span);
    return result;
}

static int write_content(struct chunk_engine *engine, struct update_plan *plan)
{
    if (plan->new.length == 0) {
        plan->new.crc = 0;
        return CHAINFS_OK;
    }
    if (plan->new_block == plan->old_block)
        return write_append(engine, plan);
    return write_copy(engine, plan);
}

/* Step 4 (engine locked): publishes the pending version, or undoes step 1. */
static void finish(struct chunk_engine *engine, struct chunk_entry *entry,
                   struct update_plan *plan, int status)
{
    block_reference_release_reader(plan->old_block, engine->pool, &engine->references);
    entry->busy = false;
    if (status != CHAINFS_OK) {
        if (plan->new_block != NULL && plan->new_block != plan->old_block) {
            block_pool_free(engine->pool, plan->new_block->location);
            free(plan->new_block);
        }
        if (!entry->persisted)
            chunk_index_remove(&engine->index, entry);
        return;
    }
    if (plan->new_block != NULL)
        plan->new_block->versions++;
    entry->persisted = true;
    if (plan->install) {
        block_reference_release_version(entry->pending_block, engine->pool, &engine->references);
        block_reference_release_version(entry->committed_block, engine->pool,
                                        &engine->references);
        entry->metadata.committed = plan->new;
        entry->metadata.pending = (struct chunk_version){.block = {BLOCK_CLASS_NONE, 0}};
        entry->committed_block = plan->new_block;
        entry->pending_block = NULL;
        engine->counters.installs++;
        return;
    }
    entry->metadata.pending = plan->new;
    entry->pending_block = plan->new_block;
    engine->counters.prepares++;
    if (plan->new_block != NULL && plan->new_block == plan->old_block)
        engine->counters.in_place_appends++;
}

static int prepare(struct chunk_engine *engine, const struct chunk_id *id,
                   struct update_plan *plan, struct chunk_update *update)
{
    struct chunk_entry *entry;
    pthread_mutex_lock(&engine->lock);
    int status = claim(engine, id, plan, &entry);
    struct chunk_metadata metadata = status == CHAINFS_OK ? entry->metadata
                                                          : (struct chunk_metadata){0};
    pthread_mutex_unlock(&engine->lock);
    if (status != CHAINFS_OK)
        return status;

    plan->new.version = plan->install ? plan->install_version : plan->old.version + 1;
    plan->new.chain_version = plan->chain_version;
    plan->new.block = plan->new_block != NULL ? plan->new_block->location
                                              : (struct block_location){BLOCK_CLASS_NONE, 0};
    status = write_content(engine, plan);
    if (status == CHAINFS_OK) {
        struct metadata_change change = {.remove = false, .metadata = metadata};
        change.metadata.pending = plan->new;
        if (plan->install) {
            change.metadata.committed = plan->new;
            change.metadata.pending = (struct chunk_version){.block = {BLOCK_CLASS_NONE, 0}};
        }
        status = metadata_store_apply(engine->store, &change, 1);
    }
    pthread_mutex_lock(&engine->lock);
    finish(engine, entry, plan, status);
    pthread_mutex_unlock(&engine->lock);
    if (status == CHAINFS_OK)
        *update = (struct chunk_update){plan->new.version, plan->new.length, plan->new.crc,
                                        plan->new_block != NULL &&
                                            plan->new_block == plan->old_block};
    return status;
}

int chunk_engine_prepare_update(struct chunk_engine *engine, const struct chunk_id *id,
                                uint64_t offset, const void *data, uint64_t length,
                                uint64_t chain_version, struct chunk_update *update)
{
    uint64_t limit = engine->options.chunk_size_limit;
    if (offset > limit || length > limit - offset || (data == NULL && length > 0))
        return CHAINFS_INVALID_ARGUMENT;
    struct update_plan plan = {.offset = offset, .data = data, .length = length,
                               .chain_version = chain_version};
    return prepare(engine, id, &plan, update);
}

int chunk_engine_prepare_truncate(struct chunk_engine *engine, const struct chunk_id *id,
                                  uint64_t length, uint64_t chain_version,
                                  struct chunk_update *update)
{
    if (length > engine->options.chunk_size_limit)
        return CHAINFS_INVALID_ARGUMENT;
    struct update_plan plan = {.truncate = true, .length = length,
                               .chain_version = chain_version};
    return prepare(engine, id, &plan, update);
}

int chunk_engine_install(struct chunk_engine *engine, const struct chunk_id *id,
                         const void *data, uint64_t length, uint64_t version,
                         uint64_t chain_version, struct chunk_update *update)
{
    if (length > engine->options.chunk_size_limit || (data == NULL && length > 0) ||
        version == 0)
        return CHAINFS_INVALID_ARGUMENT;
    struct update_plan plan = {.install = true, .install_version = version, .data = data,
                               .length = length, .chain_version = chain_version};
    return prepare(engine, id, &plan, update);
}
