/*
 * chunk_engine_remove.c - removing chunks (one, a list, or a range of a file's
 * chunks) and listing the chunks of a range (what a replicated removal locks).
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

int chunk_engine_remove_many(struct chunk_engine *engine, const struct chunk_id *ids, size_t count,
                             uint64_t *removed)
{
    struct removal removal = {0};
    int status = CHAINFS_OK;
    pthread_mutex_lock(&engine->lock);
    for (size_t i = 0; i < count && status == CHAINFS_OK; i++) {
        struct chunk_entry *entry = chunk_index_find(&engine->index, &ids[i]);
        if (entry != NULL && entry->busy)
            status = CHAINFS_BUSY;
        else if (entry != NULL && entry->persisted)
            status = add_entry(&removal, entry);
    }
    if (status == CHAINFS_OK && removal.count > 0)
        status = remove_claimed(engine, &removal);
    pthread_mutex_unlock(&engine->lock);
    if (removed != NULL)
        *removed = status == CHAINFS_OK ? removal.count : 0;
    free(removal.entries);
    free(removal.changes);
    return status;
}

/* The indexes of a range's chunks, as chunk_engine_list_range collects them. */
struct range_listing {
    uint64_t inode, first_index, end_index;
    uint64_t *indexes;
    size_t count, capacity;
};

static int list_in_range(struct chunk_entry *entry, void *context)
{
    struct range_listing *listing = context;
    uint64_t index = chunk_id_index(&entry->metadata.id);
    if (chunk_id_inode(&entry->metadata.id) != listing->inode || index < listing->first_index ||
        index >= listing->end_index)
        return CHAINFS_OK;
    if (listing->count == listing->capacity) {
        size_t capacity = listing->capacity ? listing->capacity * 2 : 16;
        uint64_t *indexes = realloc(listing->indexes, capacity * sizeof *indexes);
        if (indexes == NULL)
            return CHAINFS_NO_MEMORY;
        listing->indexes = indexes;
        listing->capacity = capacity;
    }
    listing->indexes[listing->count++] = index;
    return CHAINFS_OK;
}

static int compare_indexes(const void *left, const void *right)
{
    uint64_t a = *(const uint64_t *)left, b = *(const uint64_t *)right;
    return a < b ? -1 : a > b;
}

int chunk_engine_list_range(struct chunk_engine *engine, uint64_t inode, uint64_t first_index,
                            uint64_t end_index, uint64_t **indexes, size_t *count)
{
    struct range_listing listing = {.inode = inode, .first_index = first_index,
                                    .end_index = end_index};
    pthread_mutex_lock(&engine->lock);
    int status = chunk_index_visit(&engine->index, list_in_range, &listing);
    pthread_mutex_unlock(&engine->lock);
    if (status != CHAINFS_OK) {
        free(listing.indexes);
        *indexes = NULL;
        *count = 0;
        return status;
    }
    if (listing.count > 1)
        qsort(listing.indexes, listing.count, sizeof *listing.indexes, compare_indexes);
    *indexes = listing.indexes;
    *count = listing.count;
    return CHAINFS_OK;
}
