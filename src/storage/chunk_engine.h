/*
 * chunk_engine.h - the chunk store of one storage target (DESIGN §7, issue 5 items 1-2).
 *
 * A target is a directory: data in one large file per block size class (block_pool.h),
 * metadata in LMDB (metadata_store.h), an in-memory index of every chunk. This is the
 * layer the replication (CRAQ) layer drives; it knows nothing of chains except that
 * it records the chain version each update carried.
 *
 * Versions. A chunk has a committed version (what reads return) and at most one
 * pending version. chunk_engine_prepare_update writes the updated content to disk and
 * durably records it as pending = committed + 1; chunk_engine_commit turns it into the
 * committed version; chunk_engine_abort drops it. A chunk that does not exist starts
 * at committed version 0 (length 0), so its first update is version 1; aborting that
 * first update removes the chunk again.
 *
 * Copy-on-write: a prepared update lives in a fresh block until its commit switches
 * the metadata over; the old block is freed once the commit is durable and no read
 * still uses it. The only exception is an append that starts exactly at the committed
 * length and fits the committed block: it is written in place past the committed
 * length, which no reader looks at, and the commit makes it visible.
 *
 * Statuses: CHAINFS_INVALID_ARGUMENT for bad input (a range beyond the chunk size
 * limit, a version that is not the pending one),
 * CHAINFS_NOT_FOUND for an unknown chunk or a commit/abort without a pending version,
 * CHAINFS_BUSY when the chunk already has a pending version or another update of it
 * is in flight, CHAINFS_NO_SPACE when the capacity (or the disk) is full,
 * CHAINFS_CHECKSUM when data read back does not match its CRC, CHAINFS_IO. A call that
 * fails changes nothing.
 *
 * Threads: every function may be called from any thread. Reads never wait for
 * updates; updates of different chunks run concurrently (their data I/O in parallel,
 * their metadata commits one LMDB transaction at a time). Updates of one chunk must be
 * serialized by the caller (the CRAQ chunk lock); a concurrent one gets CHAINFS_BUSY.
 */
#ifndef CHAINFS_STORAGE_CHUNK_ENGINE_H
#define CHAINFS_STORAGE_CHUNK_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/block_pool.h"
#include "storage/chunk_id.h"
#include "storage/chunk_metadata.h"

struct chunk_engine;

struct chunk_engine_options {
    uint64_t chunk_size_limit; /* largest chunk, <= BLOCK_SIZE_MAX (0: 64 MiB) */
    uint64_t capacity_bytes;   /* budget of allocated block bytes (0: unlimited) */
    uint64_t grow_bytes;       /* data files grow by at least this (0: 256 MiB) */
    bool sync;                 /* fdatasync data and metadata before returning (power-
                                * loss safe); false: safe against process crashes only */
    bool synchronous_io;       /* skip io_uring (tests of the fallback path) */
};

/* Opens the target in dir (creating what is missing) and recovers it: rebuilds the
 * index and the block bitmaps from the metadata; blocks no metadata references are
 * free. 0, CHAINFS_INVALID_ARGUMENT (bad options), CHAINFS_BUSY (the target is open
 * already, in this or another process), CHAINFS_MALFORMED / CHAINFS_INTERNAL (corrupt
 * metadata), CHAINFS_IO. */
int chunk_engine_open(const char *dir, const struct chunk_engine_options *options,
                      struct chunk_engine **engine_out);

/* Closes the engine. No call may be in flight. Pending versions stay on disk. */
void chunk_engine_close(struct chunk_engine *engine);

/* Read flags. */
#define CHUNK_READ_PENDING 1u /* read the pending version when there is one (relaxed read) */

struct chunk_read_result {
    uint64_t bytes_read;     /* min(length, chunk length - offset) */
    uint64_t version;        /* the version read */
    uint64_t chain_version;  /* the chain version that version was written under */
    uint64_t chunk_length;   /* that version's length */
    uint32_t crc;            /* CRC32C of that version's whole content */
    uint64_t pending_version; /* 0 when the chunk has no pending version */
};

/* Reads up to length bytes from offset of the committed version (or the pending one
 * with CHUNK_READ_PENDING) into buffer (any alignment). An offset at or past the
 * chunk's length reads 0 bytes (a hole of the file: later chunks may hold data); a
 * read of the whole chunk is checked against its CRC. */
int chunk_engine_read(struct chunk_engine *engine, const struct chunk_id *id, uint64_t offset,
                      uint64_t length, void *buffer, unsigned flags,
                      struct chunk_read_result *result);

/* What a prepared update produced. */
struct chunk_update {
    uint64_t version; /* the pending version: committed + 1 */
    uint64_t length;  /* the new chunk length */
    uint32_t crc;     /* CRC32C of the new content */
    bool in_place;    /* an append written into the committed block */
};

/* Writes data[0..length) at offset of the chunk's committed content (creating the
 * chunk; a gap past the end reads as zeros) as the new pending version, recorded with
 * chain_version. offset + length must not exceed the chunk size limit. */
int chunk_engine_prepare_update(struct chunk_engine *engine, const struct chunk_id *id,
                                uint64_t offset, const void *data, uint64_t length,
                                uint64_t chain_version, struct chunk_update *update);

/* Prepares a pending version whose content is the committed content cut or
 * zero-extended to length. */
int chunk_engine_prepare_truncate(struct chunk_engine *engine, const struct chunk_id *id,
                                  uint64_t length, uint64_t chain_version,
                                  struct chunk_update *update);

/* Replaces the whole chunk with data[0..length) and commits it at once as `version`
 * (any version >= 1, recorded with chain_version), dropping a pending version: the
 * full-chunk replace a recovering replica receives (DESIGN §7, recovery). Creates the
 * chunk when missing. update->in_place is false. */
int chunk_engine_install(struct chunk_engine *engine, const struct chunk_id *id,
                         const void *data, uint64_t length, uint64_t version,
                         uint64_t chain_version, struct chunk_update *update);

/* Makes pending version `version` the committed one and frees the old block. */
int chunk_engine_commit(struct chunk_engine *engine, const struct chunk_id *id,
                        uint64_t version);

/* Commits several chunks' pending versions in one metadata transaction: all or none.
 * Fails (changing nothing) when any of them would fail alone; ids must be distinct. */
int chunk_engine_commit_many(struct chunk_engine *engine, const struct chunk_id *ids,
                             const uint64_t *versions, size_t count);

/* Drops pending version `version` and frees its block. */
int chunk_engine_abort(struct chunk_engine *engine, const struct chunk_id *id,
                       uint64_t version);

/* Prepare + commit of a truncate, for callers without replication. */
int chunk_engine_truncate(struct chunk_engine *engine, const struct chunk_id *id,
                          uint64_t length, uint64_t chain_version);

/* Removes a chunk with its committed and pending versions. */
int chunk_engine_remove(struct chunk_engine *engine, const struct chunk_id *id);

/* Removes chunks [first_index, end_index) of inode in one metadata transaction;
 * *removed (may be NULL) counts them. CHAINFS_BUSY (nothing removed) when an update of
 * one of them is in flight. */
int chunk_engine_remove_range(struct chunk_engine *engine, uint64_t inode,
                              uint64_t first_index, uint64_t end_index, uint64_t *removed);

/* Removes those of ids[0..count) that exist (committed and pending versions) in one
 * metadata transaction; ids that are absent, or only being created by a prepare in
 * flight, are skipped. *removed (may be NULL) counts the removed ones. CHAINFS_BUSY
 * (nothing removed) when an engine operation on one of them is in flight: the
 * caller is to hold the chunk locks of ids. */
int chunk_engine_remove_many(struct chunk_engine *engine, const struct chunk_id *ids, size_t count,
                             uint64_t *removed);

/* The indexes of inode's chunks in [first_index, end_index), ascending, that exist or
 * are being created (a prepare in flight): what a replicated removal locks.
 * *indexes is malloc'ed (NULL when *count is 0), the caller frees it. */
int chunk_engine_list_range(struct chunk_engine *engine, uint64_t inode, uint64_t first_index,
                            uint64_t end_index, uint64_t **indexes, size_t *count);

/* The metadata of the chunk of inode with the greatest index, or CHAINFS_NOT_FOUND. */
int chunk_engine_last_chunk(struct chunk_engine *engine, uint64_t inode,
                            struct chunk_metadata *metadata);

/* The metadata of one chunk, or CHAINFS_NOT_FOUND. */
int chunk_engine_stat(struct chunk_engine *engine, const struct chunk_id *id,
                      struct chunk_metadata *metadata);

/* All chunk metadata in id order (for recovery of a replica): *records is malloc'ed,
 * the caller frees it. */
int chunk_engine_dump(struct chunk_engine *engine, struct chunk_metadata **records,
                      size_t *count);

struct chunk_engine_stats {
    uint64_t chunks;
    uint64_t pending_chunks;
    uint64_t used_bytes;     /* bytes of allocated blocks */
    uint64_t capacity_bytes;
    uint64_t used_blocks;
    uint64_t referenced_blocks; /* distinct blocks named by committed or pending versions */
    uint64_t held_blocks;       /* replaced blocks still held by reads in flight */
    struct block_class_usage classes[BLOCK_CLASS_COUNT];
    uint64_t reads, prepares, commits, aborts, removes, in_place_appends, installs;
    uint64_t metadata_transactions, metadata_batches; /* group commit: batches per txn */
    bool uses_uring;
};

void chunk_engine_get_stats(struct chunk_engine *engine, struct chunk_engine_stats *stats);

/* Cross-checks index, bitmaps and metadata: every referenced block is marked used,
 * no block is referenced by two chunks, and used blocks = referenced + held blocks
 * (no leak). CHAINFS_INTERNAL (details logged) on a mismatch. */
int chunk_engine_check(struct chunk_engine *engine);

#endif /* CHAINFS_STORAGE_CHUNK_ENGINE_H */
