/*
 * metadata_store.h - the LMDB environment holding a target's chunk metadata.
 *
 * One environment in <target dir>/metadata with one database, "chunks": key = the
 * 16-byte chunk id (so a file's chunks are one ordered range), value = the record of
 * chunk_metadata.h. A batch of changes (puts and deletes of several chunks) commits in
 * one LMDB transaction: all of it or nothing becomes durable.
 *
 * Durability: `sync` waits for LMDB's fdatasyncs, so a returned commit survives a
 * power loss; without it (MDB_NOSYNC) a commit is in the page cache
 * when it returns and survives the crash of the process, not of the machine. LMDB is
 * copy-on-write either way, so a crash never leaves a half-applied batch.
 *
 * Group commit: batches applied by concurrent threads queue up while one of them
 * writes; the next writer takes the whole queue and commits it in one LMDB
 * transaction (one pair of syncs for all), then wakes the others. Each batch stays
 * atomic; if the group's transaction fails, its batches are retried one by one.
 *
 * Thread-safe: LMDB access takes the store's mutex (LMDB allows one writer anyway,
 * and holding it lets the map grow safely when a commit finds it full).
 */
#ifndef CHAINFS_STORAGE_METADATA_STORE_H
#define CHAINFS_STORAGE_METADATA_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "storage/chunk_metadata.h"

struct metadata_store;

/* One change of a batch: store `metadata` under its id, or delete the id. */
struct metadata_change {
    bool remove;
    struct chunk_metadata metadata;
};

/* Opens (creating) the environment in dir/metadata. 0 or CHAINFS_IO. */
int metadata_store_open(const char *dir, bool sync, struct metadata_store **store_out);

void metadata_store_close(struct metadata_store *store);

/* Applies all changes in one transaction (possibly shared with other threads'
 * batches). 0, CHAINFS_NO_SPACE (disk full) or CHAINFS_IO; on failure nothing of this
 * batch changed. Batches applied concurrently must touch different chunks. */
int metadata_store_apply(struct metadata_store *store, const struct metadata_change *changes,
                         size_t count);

/* Group commits so far (transactions) and the batches they carried. */
void metadata_store_commit_counts(struct metadata_store *store, uint64_t *transactions,
                                  uint64_t *batches);

/* Calls visit for every record in key order; stops at the first nonzero return and
 * returns it. A record that does not decode returns CHAINFS_MALFORMED. */
int metadata_store_for_each(struct metadata_store *store,
                            int (*visit)(const struct chunk_metadata *metadata, void *context),
                            void *context);

/* The greatest id in [begin, end): 0 and *id, or CHAINFS_NOT_FOUND. */
int metadata_store_last_in_range(struct metadata_store *store, const struct chunk_id *begin,
                                 const struct chunk_id *end, struct chunk_id *id);

#endif /* CHAINFS_STORAGE_METADATA_STORE_H */
