/*
 * chunk_index.c - the chained hash table of chunk_index.h.
 */
#include <stdlib.h>

#include "chainfs/error.h"
#include "storage/chunk_index.h"

#define INITIAL_BUCKETS 1024

int chunk_index_init(struct chunk_index *index)
{
    index->buckets = calloc(INITIAL_BUCKETS, sizeof(*index->buckets));
    index->bucket_count = INITIAL_BUCKETS;
    index->entry_count = 0;
    return index->buckets == NULL ? CHAINFS_NO_MEMORY : CHAINFS_OK;
}

void chunk_index_destroy(struct chunk_index *index)
{
    free(index->buckets);
    index->buckets = NULL;
}

static size_t bucket_of(const struct chunk_index *index, const struct chunk_id *id)
{
    return (size_t)chunk_id_hash(id) & (index->bucket_count - 1);
}

struct chunk_entry *chunk_index_find(const struct chunk_index *index, const struct chunk_id *id)
{
    struct chunk_entry *entry = index->buckets[bucket_of(index, id)];
    while (entry != NULL && chunk_id_compare(&entry->metadata.id, id) != 0)
        entry = entry->next_in_bucket;
    return entry;
}

/* Doubles the bucket array; on allocation failure the table just stays denser. */
static void grow(struct chunk_index *index)
{
    size_t new_count = index->bucket_count * 2;
    struct chunk_entry **buckets = calloc(new_count, sizeof(*buckets));
    if (buckets == NULL)
        return;
    for (size_t i = 0; i < index->bucket_count; i++) {
        struct chunk_entry *entry = index->buckets[i];
        while (entry != NULL) {
            struct chunk_entry *next = entry->next_in_bucket;
            size_t bucket = (size_t)chunk_id_hash(&entry->metadata.id) & (new_count - 1);
            entry->next_in_bucket = buckets[bucket];
            buckets[bucket] = entry;
            entry = next;
        }
    }
    free(index->buckets);
    index->buckets = buckets;
    index->bucket_count = new_count;
}

struct chunk_entry *chunk_index_insert(struct chunk_index *index, const struct chunk_id *id)
{
    if (index->entry_count >= index->bucket_count)
        grow(index);
    struct chunk_entry *entry = calloc(1, sizeof(*entry));
    if (entry == NULL)
        return NULL;
    entry->metadata.id = *id;
    entry->metadata.committed.block.block_class = BLOCK_CLASS_NONE;
    entry->metadata.pending.block.block_class = BLOCK_CLASS_NONE;
    size_t bucket = bucket_of(index, id);
    entry->next_in_bucket = index->buckets[bucket];
    index->buckets[bucket] = entry;
    index->entry_count++;
    return entry;
}

void chunk_index_remove(struct chunk_index *index, struct chunk_entry *entry)
{
    struct chunk_entry **link = &index->buckets[bucket_of(index, &entry->metadata.id)];
    while (*link != entry)
        link = &(*link)->next_in_bucket;
    *link = entry->next_in_bucket;
    index->entry_count--;
    free(entry);
}

int chunk_index_visit(const struct chunk_index *index,
                      int (*visit)(struct chunk_entry *entry, void *context), void *context)
{
    for (size_t i = 0; i < index->bucket_count; i++) {
        for (struct chunk_entry *entry = index->buckets[i]; entry != NULL;
             entry = entry->next_in_bucket) {
            int result = visit(entry, context);
            if (result != 0)
                return result;
        }
    }
    return 0;
}
