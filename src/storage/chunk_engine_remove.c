/*
 * chunk_engine_remove.c - removing chunks (one, or a range of a file's chunks).
 *
 * The records are deleted in one LMDB transaction first; the blocks are released
 * afterwards (reads in flight keep theirs until they finish). A crash in between
 * leaves blocks no record names, which recovery frees.
 */
#include <stdlib.h>

#include "chainfs/error.h"
#include "storage/chunk_engine_internal.h"

/* The entries a removal claimed (busy), and their deletions. */
struct removal {
    struct chunk_entry **entries;
    struct metadata_change *changes;
    size_t count, capacity;
    bool blocked; /* some chunk of the range has an update in flight */
    uint64_t inode, first_index, end_index;
};

static int add_entry(struct removal *removal, struct chunk_entry *entry)
{
    if (removal->count == removal->capacity) {
        size_t capacity = removal->capacity ? removal->capacity * 2 : 16;
        struct chunk_entry **entries = realloc(removal->entries, capacity * sizeof(*entries));
        if (entries == NULL)
            return CHAINFS_NO_MEMORY;
        removal->entries = entries;
        struct metadata_change *changes = realloc(removal->changes, capacity * sizeof(*changes));
        if (changes == NULL)
            return CHAINFS_NO_MEMORY;
        removal->changes = changes;
        removal->capacity = capacity;
    }
    removal->entries[removal->count] = entry;
    removal->changes[removal->count] = (struct metadata_change){.remove = true,
                                                                .metadata = entry->metadata};
    removal->count++;
    return CHAINFS_OK;
}

static int collect_in_range(struct chunk_entry *entry, void *context)
{
    struct removal *removal = context;
    uint64_t index = chunk_id_index(&entry->metadata.id);
    if (chunk_id_inode(&entry->metadata.id) != removal->inode ||
        index < removal->first_index || index >= removal->end_index)
        return 0;
    if (entry->busy)
        removal->blocked = true;
    return entry->persisted && !entry->busy ? add_entry(removal, entry) : 0;
}

/* Deletes the claimed records, then releases their blocks and entries. */
static int remove_claimed(struct chunk_engine *engine, struct removal *removal)
{
    for (size_t i = 0; i < removal->count; i++)
        removal->entries[i]->busy = true;
    pthread_mutex_unlock(&engine->lock);
    int status = metadata_store_apply(engine->store, removal->changes, removal->count);
    pthread_mutex_lock(&engine->lock);
    for (size_t i = 0; i < removal->count; i++) {
        struct chunk_entry *entry = removal->entries[i];
        entry->busy = false;
        if (status != CHAINFS_OK)
            continue;
        block_reference_release_version(entry->pending_block, engine->pool, &engine->references);
        block_reference_release_version(entry->committed_block, engine->pool,
                                        &engine->references);
        chunk_index_remove(&engine->index, entry);
        engine->counters.removes++;
    }
    return status;
}

int chunk_engine_remove(struct chunk_engine *engine, const struct chunk_id *id)
{
    struct removal removal = {0};
    pthread_mutex_lock(&engine->lock);
    struct chunk_entry *entry = chunk_engine_find_persisted(engine, id);
    int status = entry == NULL ? CHAINFS_NOT_FOUND : entry->busy ? CHAINFS_BUSY : CHAINFS_OK;
    if (status == CHAINFS_OK)
        status = add_entry(&removal, entry);
    if (status == CHAINFS_OK)
        status = remove_claimed(engine, &removal);
    pthread_mutex_unlock(&engine->lock);
    free(removal.entries);
    free(removal.changes);
    return status;
}

int chunk_engine_remove_range(struct chunk_engine *engine, uint64_t inode,
                              uint64_t first_index, uint64_t end_index, uint64_t *removed)
{
    struct removal removal = {.inode = inode, .first_index = first_index,
                              .end_index = end_index};
    pthread_mutex_lock(&engine->lock);
    int status = chunk_index_visit(&engine->index, collect_in_range, &removal);
    if (status == CHAINFS_OK && removal.blocked)
        status = CHAINFS_BUSY;
    if (status == CHAINFS_OK && removal.count > 0)
        status = remove_claimed(engine, &removal);
    pthread_mutex_unlock(&engine->lock);
    if (removed != NULL)
        *removed = status == CHAINFS_OK ? removal.count : 0;
    free(removal.entries);
    free(removal.changes);
    return status;
}
