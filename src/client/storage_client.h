/*
 * storage_client.h - reading and writing chunks on the storage service (DESIGN §7,
 * §8; issue 5 item 5). The file client library (striping files into chunks), the
 * FUSE daemon, the meta service (garbage collection, file lengths, statfs) and the
 * benchmarks call it; it knows chunks and chains, not files.
 *
 * Routing: every request is routed by the newest routing info of a routing_cache
 * (mgmtd/routing_cache.h). Writes and the replicated operations (truncate, remove a
 * range) go to the chain's head; reads go to any serving target, spread over the
 * replicas (storage_route.h).
 *
 * Batching: storage_client_read() groups its reads per target into BATCH_READ
 * requests (storage_read_plan.h) and sends every request at once (up to
 * max_in_flight); large reads travel alone and their data is received straight into
 * the caller's buffer, as are batches whose buffers lie back to back in memory.
 * storage_client_write() sends one WRITE per io, all in parallel, each on a write
 * channel (storage_write_channels.h) that makes its retries exactly-once.
 *
 * Retries (storage_retry.h): a routing or chain-version error refreshes the routing
 * info and retries; "not committed" and busy answers retry after a short, growing
 * backoff; a lost connection retries on another replica (reads) or on the head after
 * a refresh (writes). Everything ends by the caller's deadline: an io that has not
 * succeeded by then ends with the last error it saw (CHAINFS_TIMEOUT if none).
 *
 * Threads: a storage_client may be used by any number of threads at once.
 */
#ifndef CHAINFS_CLIENT_STORAGE_CLIENT_H
#define CHAINFS_CLIENT_STORAGE_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mgmtd/routing_cache.h"
#include "net/rpc_client.h"
#include "storage/chunk_id.h"
#include "storage/storage_protocol.h"

struct storage_client;

struct storage_client_options {
    /* Identity of this client for exactly-once writes; all zero: a random one. Two
     * live clients must never share one (sequence numbers restart at creation). */
    uint8_t client_id[STORAGE_CLIENT_ID_SIZE];
    uint32_t channel_count;       /* writes in flight at most (default 128) */
    uint64_t default_timeout_ns;  /* used when a call's deadline is 0 (default 60 s) */
    uint64_t attempt_timeout_ns;  /* one RPC attempt (default 10 s) */
    uint32_t max_in_flight;       /* requests one call keeps in flight (default 256) */
    uint32_t max_batch_items;     /* reads per BATCH_READ (default 128) */
    uint64_t max_batch_bytes;     /* bytes per BATCH_READ (default 4 MiB) */
    uint64_t direct_read_bytes;   /* reads this long travel alone (default 256 KiB) */
    uint64_t backoff_first_ns;    /* first retry wait (default 1 ms) */
    uint64_t backoff_max_ns;      /* longest retry wait (default 100 ms) */
};

void storage_client_default_options(struct storage_client_options *options);

/* rpc and routing must outlive the client. Returns 0, CHAINFS_INVALID_ARGUMENT or
 * CHAINFS_NO_MEMORY. */
int storage_client_create(const struct storage_client_options *options, struct rpc_client *rpc,
                          struct routing_cache *routing, struct storage_client **client);

/* No call may be in progress. NULL is accepted. */
void storage_client_destroy(struct storage_client *client);

/* Read flags. */
#define STORAGE_IO_RELAXED 1u /* a chunk with an update in flight returns that update */

/* One piece of I/O on one chunk. */
struct storage_io {
    /* Request. */
    uint32_t chain_id;
    struct chunk_id chunk_id;
    uint32_t chunk_size; /* the file's chunk size; offset + length must not exceed it */
    uint64_t offset;     /* in the chunk */
    uint32_t length;
    void *buffer;        /* read: receives the bytes; write: the bytes (not modified) */
    unsigned flags;      /* STORAGE_IO_* */

    /* Result. */
    int status;            /* CHAINFS_OK or why this io failed */
    uint32_t bytes_done;   /* read: bytes read (short at the chunk's end, 0 for a chunk
                            * that does not exist: a hole); write: length */
    uint64_t version;      /* the chunk version read or committed (0: no chunk) */
    uint64_t chunk_length; /* that version's length */
    uint32_t crc;          /* CRC32C of that version's whole content */
};

/* Reads count ios. For an io that succeeded, the bytes of its buffer past bytes_done
 * are zeroed: a hole and the part past a chunk's end read as zeros.
 * deadline: absolute (common/clock.h), 0 for the default timeout. Returns CHAINFS_OK
 * when every io succeeded, otherwise the status of the first io that failed. */
int storage_client_read(struct storage_client *client, struct storage_io *ios, size_t count,
                        uint64_t deadline);

/* Writes count ios, each to its chain's head, all in parallel. A write is
 * acknowledged once every serving replica holds it. Returns as storage_client_read.
 * Ios naming the same chunk are applied in some order, each whole. */
int storage_client_write(struct storage_client *client, struct storage_io *ios, size_t count,
                         uint64_t deadline);

/* Cuts or zero-extends a chunk to length (replicated). *result (may be NULL) gets
 * the committed version, length and CRC. */
int storage_client_truncate_chunk(struct storage_client *client, uint32_t chain_id,
                                  const struct chunk_id *chunk_id, uint64_t length,
                                  uint32_t chunk_size, uint64_t deadline,
                                  struct storage_commit_reply *result);

/* Removes chunks [first_index, end_index) of inode on one chain (replicated;
 * idempotent). *removed (may be NULL) counts the chunks the head removed. */
int storage_client_remove_chunks(struct storage_client *client, uint32_t chain_id, uint64_t inode,
                                 uint64_t first_index, uint64_t end_index, uint64_t deadline,
                                 uint64_t *removed);

/* The chunk of inode with the greatest index on chain_id, from a serving target
 * (reply->found false when the chain holds no chunk of inode). */
int storage_client_query_last_chunk(struct storage_client *client, uint32_t chain_id,
                                    uint64_t inode, uint64_t deadline,
                                    struct storage_last_chunk_reply *reply);

/* Space and state of every target of every storage node in the routing info: one
 * SPACE_INFO per node, in parallel. *targets is malloc'ed (free it). Nodes that do not
 * answer are skipped and counted in *unreachable_nodes (may be NULL); the call fails
 * only when no node answers, also after one refresh of routing (the status of the
 * last failure; CHAINFS_UNAVAILABLE when routing names no storage node yet). */
int storage_client_space_info(struct storage_client *client, uint64_t deadline,
                              struct storage_target_info **targets, size_t *count,
                              size_t *unreachable_nodes);

/* Every chunk's metadata on one target, in chunk id order (paged DUMP_CHUNKS calls to
 * the node holding it). *records is malloc'ed (free it). */
int storage_client_dump_target(struct storage_client *client, uint64_t target_id,
                               uint64_t deadline, struct storage_chunk_record **records,
                               size_t *count);

/* Counters since creation (for benchmarks and tests). */
struct storage_client_stats {
    uint64_t read_requests;   /* BATCH_READ calls sent */
    uint64_t read_items;      /* reads they carried */
    uint64_t direct_reads;    /* calls whose reply went straight into caller memory */
    uint64_t write_requests;  /* WRITE calls sent */
    uint64_t retries;         /* ios sent again */
    uint64_t routing_refreshes;
};

void storage_client_get_stats(struct storage_client *client, struct storage_client_stats *stats);

#endif /* CHAINFS_CLIENT_STORAGE_CLIENT_H */
