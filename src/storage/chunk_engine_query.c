/*
 * chunk_engine_query.c - metadata queries: one chunk, a file's last chunk, a dump of
 * all chunks, statistics, and the consistency check used by tests and recovery tools.
 */
#include <stdlib.h>
#include <string.h>

#define LOG_COMPONENT "storage"
#include "chainfs/error.h"
#include "common/log.h"
#include "storage/chunk_engine_internal.h"

int chunk_engine_stat(struct chunk_engine *engine, const struct chunk_id *id,
                      struct chunk_metadata *metadata)
{
    pthread_mutex_lock(&engine->lock);
    struct chunk_entry *entry = chunk_engine_find_persisted(engine, id);
    if (entry != NULL)
        *metadata = entry->metadata;
    pthread_mutex_unlock(&engine->lock);
    return entry != NULL ? CHAINFS_OK : CHAINFS_NOT_FOUND;
}

int chunk_engine_last_chunk(struct chunk_engine *engine, uint64_t inode,
                            struct chunk_metadata *metadata)
{
    struct chunk_id begin = chunk_id_make(inode, 0);
    /* The range ends at the next inode's first chunk; for the last inode id the
     * greatest chunk index is left out. */
    struct chunk_id end = inode == UINT64_MAX ? chunk_id_make(UINT64_MAX, UINT64_MAX)
                                              : chunk_id_make(inode + 1, 0);
    struct chunk_id last;
    int status = metadata_store_last_in_range(engine->store, &begin, &end, &last);
    if (status != CHAINFS_OK)
        return status;
    return chunk_engine_stat(engine, &last, metadata);
}

struct dump {
    struct chunk_metadata *records;
    size_t count;
};

static int dump_entry(struct chunk_entry *entry, void *context)
{
    struct dump *dump = context;
    if (entry->persisted)
        dump->records[dump->count++] = entry->metadata;
    return 0;
}

static int compare_records(const void *a, const void *b)
{
    return chunk_id_compare(&((const struct chunk_metadata *)a)->id,
                            &((const struct chunk_metadata *)b)->id);
}

int chunk_engine_dump(struct chunk_engine *engine, struct chunk_metadata **records,
                      size_t *count)
{
    pthread_mutex_lock(&engine->lock);
    size_t capacity = engine->index.entry_count;
    struct dump dump = {malloc((capacity ? capacity : 1) * sizeof(struct chunk_metadata)), 0};
    if (dump.records != NULL)
        chunk_index_visit(&engine->index, dump_entry, &dump);
    pthread_mutex_unlock(&engine->lock);
    if (dump.records == NULL)
        return CHAINFS_NO_MEMORY;
    qsort(dump.records, dump.count, sizeof(*dump.records), compare_records);
    *records = dump.records;
    *count = dump.count;
    return CHAINFS_OK;
}

/* Referenced blocks, gathered while visiting the index. */
struct block_census {
    struct block_location *blocks;
    size_t count;
    uint64_t chunks, pending_chunks;
    bool broken;
};

static void note_block(struct block_census *census, struct block_reference *reference,
                       const struct chunk_version *version, struct block_pool *pool)
{
    if (reference == NULL) {
        if (version->version != 0 && version->block.block_class != BLOCK_CLASS_NONE)
            census->broken = true;
        return;
    }
    if (reference->location.block_class != version->block.block_class ||
        reference->location.index != version->block.index ||
        !block_pool_is_used(pool, reference->location))
        census->broken = true;
    census->blocks[census->count++] = reference->location;
}

struct census_context {
    struct chunk_engine *engine;
    struct block_census *census;
};

static int census_entry(struct chunk_entry *entry, void *context)
{
    struct census_context *census_context = context;
    struct block_census *census = census_context->census;
    if (!entry->persisted)
        return 0;
    census->chunks++;
    struct block_pool *pool = census_context->engine->pool;
    note_block(census, entry->committed_block, &entry->metadata.committed, pool);
    if (!chunk_metadata_has_pending(&entry->metadata))
        return 0;
    census->pending_chunks++;
    if (entry->pending_block == NULL || entry->pending_block != entry->committed_block)
        note_block(census, entry->pending_block, &entry->metadata.pending, pool);
    return 0;
}

static int compare_locations(const void *a, const void *b)
{
    const struct block_location *x = a, *y = b;
    if (x->block_class != y->block_class)
        return x->block_class < y->block_class ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Counts blocks and chunks (engine locked); census->blocks sized 2 per entry. */
static int take_census(struct chunk_engine *engine, struct block_census *census)
{
    census->blocks = malloc((2 * engine->index.entry_count + 1) * sizeof(*census->blocks));
    if (census->blocks == NULL)
        return CHAINFS_NO_MEMORY;
    struct census_context context = {engine, census};
    chunk_index_visit(&engine->index, census_entry, &context);
    qsort(census->blocks, census->count, sizeof(*census->blocks), compare_locations);
    for (size_t i = 1; i < census->count; i++)
        if (compare_locations(&census->blocks[i - 1], &census->blocks[i]) == 0)
            census->broken = true;
    return CHAINFS_OK;
}

void chunk_engine_get_stats(struct chunk_engine *engine, struct chunk_engine_stats *stats)
{
    memset(stats, 0, sizeof(*stats));
    struct block_census census = {0};
    pthread_mutex_lock(&engine->lock);
    if (take_census(engine, &census) == CHAINFS_OK) {
        stats->chunks = census.chunks;
        stats->pending_chunks = census.pending_chunks;
        stats->referenced_blocks = census.count;
    }
    stats->used_bytes = block_pool_used_bytes(engine->pool);
    stats->capacity_bytes = block_pool_capacity_bytes(engine->pool);
    stats->used_blocks = block_pool_used_blocks(engine->pool);
    stats->held_blocks = engine->references.held_by_readers;
    for (int block_class = 0; block_class < BLOCK_CLASS_COUNT; block_class++)
        block_pool_class_usage(engine->pool, block_class, &stats->classes[block_class]);
    const struct chunk_engine_counters *counters = &engine->counters;
    stats->reads = counters->reads;
    stats->prepares = counters->prepares;
    stats->commits = counters->commits;
    stats->aborts = counters->aborts;
    stats->removes = counters->removes;
    stats->in_place_appends = counters->in_place_appends;
    stats->installs = counters->installs;
    stats->uses_uring = block_io_uses_uring(engine->io);
    pthread_mutex_unlock(&engine->lock);
    metadata_store_commit_counts(engine->store, &stats->metadata_transactions,
                                 &stats->metadata_batches);
    free(census.blocks);
}

static bool versions_equal(const struct chunk_version *a, const struct chunk_version *b)
{
    return a->version == b->version && a->chain_version == b->chain_version &&
           a->length == b->length && a->crc == b->crc &&
           a->block.block_class == b->block.block_class && a->block.index == b->block.index;
}

struct record_check {
    struct chunk_engine *engine;
    uint64_t records;
};

/* Every LMDB record equals the index entry of its chunk. */
static int compare_with_index(const struct chunk_metadata *metadata, void *context)
{
    struct record_check *check = context;
    struct chunk_engine *engine = check->engine;
    check->records++;
    pthread_mutex_lock(&engine->lock);
    struct chunk_entry *entry = chunk_engine_find_persisted(engine, &metadata->id);
    bool same = entry != NULL && !entry->busy &&
                versions_equal(&entry->metadata.committed, &metadata->committed) &&
                versions_equal(&entry->metadata.pending, &metadata->pending);
    pthread_mutex_unlock(&engine->lock);
    if (!same)
        log_error("chunk %llu:%llu: metadata on disk and in memory differ",
                  (unsigned long long)chunk_id_inode(&metadata->id),
                  (unsigned long long)chunk_id_index(&metadata->id));
    return same ? CHAINFS_OK : CHAINFS_INTERNAL;
}

int chunk_engine_check(struct chunk_engine *engine)
{
    struct block_census census = {0};
    pthread_mutex_lock(&engine->lock);
    int status = take_census(engine, &census);
    uint64_t used = block_pool_used_blocks(engine->pool);
    uint64_t held = engine->references.held_by_readers;
    pthread_mutex_unlock(&engine->lock);
    free(census.blocks);
    if (status != CHAINFS_OK)
        return status;
    if (census.broken || used != census.count + held) {
        log_error("block check failed: %llu used, %zu referenced, %llu held by reads%s",
                  (unsigned long long)used, census.count, (unsigned long long)held,
                  census.broken ? ", a block shared or unmarked" : "");
        return CHAINFS_INTERNAL;
    }
    struct record_check check = {engine, 0};
    status = metadata_store_for_each(engine->store, compare_with_index, &check);
    if (status == CHAINFS_OK && check.records != census.chunks) {
        log_error("%llu metadata records on disk, %llu chunks in memory",
                  (unsigned long long)check.records, (unsigned long long)census.chunks);
        return CHAINFS_INTERNAL;
    }
    return status;
}
