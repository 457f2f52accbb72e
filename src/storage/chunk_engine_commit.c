/*
 * chunk_engine_commit.c - committing and aborting pending versions.
 *
 * A commit writes the chunk's record with pending moved to committed (one LMDB
 * transaction for the whole batch), and only then drops the old version's hold on
 * its block. A crash before the LMDB commit leaves the pending version pending; a
 * crash after it leaves the old block unreferenced, and recovery frees it. The old
 * block is never reused while a record on disk still names it as committed.
 */
#include <stdlib.h>

#include "chainfs/error.h"
#include "storage/chunk_engine_internal.h"

/* Checks that id has pending version `version` and no update in flight (locked). */
static int check_pending(struct chunk_engine *engine, const struct chunk_id *id,
                         uint64_t version, struct chunk_entry **entry_out)
{
    struct chunk_entry *entry = chunk_engine_find_persisted(engine, id);
    if (entry == NULL)
        return CHAINFS_NOT_FOUND;
    if (entry->busy)
        return CHAINFS_BUSY;
    if (!chunk_metadata_has_pending(&entry->metadata))
        return CHAINFS_NOT_FOUND;
    if (entry->metadata.pending.version != version)
        return CHAINFS_INVALID_ARGUMENT;
    *entry_out = entry;
    return CHAINFS_OK;
}

/* The record after committing entry's pending version. */
static struct chunk_metadata committed_form(const struct chunk_entry *entry)
{
    struct chunk_metadata metadata = entry->metadata;
    metadata.committed = metadata.pending;
    metadata.pending = (struct chunk_version){.block = {BLOCK_CLASS_NONE, 0}};
    return metadata;
}

/* Publishes a durable commit in the index (locked). */
static void apply_commit(struct chunk_engine *engine, struct chunk_entry *entry)
{
    struct block_reference *old = entry->committed_block;
    entry->metadata = committed_form(entry);
    entry->committed_block = entry->pending_block;
    entry->pending_block = NULL;
    block_reference_release_version(old, engine->pool, &engine->references);
    engine->counters.commits++;
}

/* Claims all entries of a batch (locked); on failure none stays claimed. */
static int claim_batch(struct chunk_engine *engine, const struct chunk_id *ids,
                       const uint64_t *versions, size_t count, struct chunk_entry **entries)
{
    for (size_t i = 0; i < count; i++) {
        int result = check_pending(engine, &ids[i], versions[i], &entries[i]);
        if (result != CHAINFS_OK) {
            while (i > 0)
                entries[--i]->busy = false;
            return result;
        }
        entries[i]->busy = true;
    }
    return CHAINFS_OK;
}

int chunk_engine_commit_many(struct chunk_engine *engine, const struct chunk_id *ids,
                             const uint64_t *versions, size_t count)
{
    if (count == 0)
        return CHAINFS_OK;
    struct chunk_entry **entries = calloc(count, sizeof(*entries));
    struct metadata_change *changes = calloc(count, sizeof(*changes));
    int status = entries != NULL && changes != NULL ? CHAINFS_OK : CHAINFS_NO_MEMORY;
    pthread_mutex_lock(&engine->lock);
    if (status == CHAINFS_OK)
        status = claim_batch(engine, ids, versions, count, entries);
    for (size_t i = 0; status == CHAINFS_OK && i < count; i++)
        changes[i].metadata = committed_form(entries[i]);
    pthread_mutex_unlock(&engine->lock);
    if (status == CHAINFS_OK) {
        int commit_status = metadata_store_apply(engine->store, changes, count);
        pthread_mutex_lock(&engine->lock);
        for (size_t i = 0; i < count; i++) {
            entries[i]->busy = false;
            if (commit_status == CHAINFS_OK)
                apply_commit(engine, entries[i]);
        }
        pthread_mutex_unlock(&engine->lock);
        status = commit_status;
    }
    free(entries);
    free(changes);
    return status;
}

int chunk_engine_commit(struct chunk_engine *engine, const struct chunk_id *id,
                        uint64_t version)
{
    return chunk_engine_commit_many(engine, id, &version, 1);
}

int chunk_engine_abort(struct chunk_engine *engine, const struct chunk_id *id,
                       uint64_t version)
{
    struct chunk_entry *entry;
    pthread_mutex_lock(&engine->lock);
    int status = check_pending(engine, id, version, &entry);
    struct metadata_change change = {0};
    if (status == CHAINFS_OK) {
        entry->busy = true;
        change.metadata = entry->metadata;
        change.metadata.pending = (struct chunk_version){.block = {BLOCK_CLASS_NONE, 0}};
        /* Aborting the update that created the chunk removes the chunk. */
        change.remove = entry->metadata.committed.version == 0;
    }
    pthread_mutex_unlock(&engine->lock);
    if (status != CHAINFS_OK)
        return status;
    status = metadata_store_apply(engine->store, &change, 1);
    pthread_mutex_lock(&engine->lock);
    entry->busy = false;
    if (status == CHAINFS_OK) {
        block_reference_release_version(entry->pending_block, engine->pool, &engine->references);
        entry->pending_block = NULL;
        entry->metadata = change.metadata;
        engine->counters.aborts++;
        if (change.remove)
            chunk_index_remove(&engine->index, entry);
    }
    pthread_mutex_unlock(&engine->lock);
    return status;
}

int chunk_engine_truncate(struct chunk_engine *engine, const struct chunk_id *id,
                          uint64_t length, uint64_t chain_version)
{
    struct chunk_update update;
    int status = chunk_engine_prepare_truncate(engine, id, length, chain_version, &update);
    if (status != CHAINFS_OK)
        return status;
    status = chunk_engine_commit(engine, id, update.version);
    if (status != CHAINFS_OK)
        chunk_engine_abort(engine, id, update.version);
    return status;
}
