/*
 * chunk_index.h - the in-memory index of a target's chunks: chunk id -> entry.
 *
 * A chained hash table that doubles when it holds as many entries as buckets. Each
 * entry carries the chunk's metadata (the same as its LMDB record once persisted),
 * the block references its versions hold (block_reference.h) and the busy flag of an
 * update in flight. Not thread-safe: the engine calls it under its lock.
 */
#ifndef CHAINFS_STORAGE_CHUNK_INDEX_H
#define CHAINFS_STORAGE_CHUNK_INDEX_H

#include <stdbool.h>
#include <stddef.h>

#include "storage/block_reference.h"
#include "storage/chunk_metadata.h"

struct chunk_entry {
    struct chunk_metadata metadata;
    struct block_reference *committed_block; /* NULL when the version has no block */
    struct block_reference *pending_block;   /* may equal committed_block (append) */
    bool busy;      /* an update, commit, abort or removal of it is in flight */
    bool persisted; /* its record is in LMDB (false: created by a prepare in flight) */
    struct chunk_entry *next_in_bucket;
};

struct chunk_index {
    struct chunk_entry **buckets;
    size_t bucket_count; /* a power of two */
    size_t entry_count;
};

/* 0 or CHAINFS_NO_MEMORY. */
int chunk_index_init(struct chunk_index *index);

/* Frees the buckets; the entries must have been removed (or are freed by the caller). */
void chunk_index_destroy(struct chunk_index *index);

/* The entry of id, or NULL. */
struct chunk_entry *chunk_index_find(const struct chunk_index *index, const struct chunk_id *id);

/* Adds a zeroed entry for id (which must not be present); NULL when out of memory. */
struct chunk_entry *chunk_index_insert(struct chunk_index *index, const struct chunk_id *id);

/* Unlinks and frees an entry (its block references are the caller's business). */
void chunk_index_remove(struct chunk_index *index, struct chunk_entry *entry);

/* Calls visit for every entry (in no particular order); visit must not insert or
 * remove entries. Stops at the first nonzero return and returns it. */
int chunk_index_visit(const struct chunk_index *index,
                      int (*visit)(struct chunk_entry *entry, void *context), void *context);

#endif /* CHAINFS_STORAGE_CHUNK_INDEX_H */
