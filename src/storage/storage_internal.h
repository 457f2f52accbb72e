/*
 * storage_internal.h - what the pieces of the storage daemon share: the node, its
 * targets, and the entry points of the handler files.
 *
 *   storage_service.c   config, start/stop, targets on disk, heartbeats, the
 *                       maintenance thread (routing, target states, sync)
 *   storage_write.c     the CRAQ update pipeline: WRITE, TRUNCATE_CHUNK, UPDATE
 *   storage_remove.c    REMOVE_CHUNKS (head), REMOVE_LISTED (forwarded removals)
 *   storage_forward.c   forwarding down a chain (writes and removals): successor,
 *                       the call and its completion, retries
 *   storage_handlers.c  BATCH_READ, QUERY_LAST_CHUNK, SPACE_INFO, DUMP_CHUNKS,
 *                       CREATE_TARGET, SYNC_DONE
 *   storage_sync.c      recovery of a syncing successor
 *   write_dedup.c       exactly-once table of client writes
 */
#ifndef CHAINFS_STORAGE_STORAGE_INTERNAL_H
#define CHAINFS_STORAGE_STORAGE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mgmtd/cluster_config.h"
#include "mgmtd/heartbeat_client.h"
#include "mgmtd/routing_cache.h"
#include "net/rpc_client.h"
#include "net/rpc_server.h"
#include "net/worker_pool.h"
#include "storage/chunk_engine.h"
#include "storage/chunk_lock.h"
#include "storage/storage_protocol.h"
#include "storage/storage_service.h"
#include "storage/update_rules.h"

#define STORAGE_TARGETS_MAX 1024
#define STORAGE_DISKS_MAX 64
#define STORAGE_PATH_MAX 4096

struct storage_target {
    uint64_t target_id;
    uint32_t disk_index;
    char path[STORAGE_PATH_MAX];
    struct chunk_engine *engine;
    struct chunk_lock_table *locks;
    _Atomic uint8_t local_state;  /* enum target_local_state reported in heartbeats */
    _Atomic uint8_t public_state; /* as the newest routing shows (0: in no chain) */
    _Atomic uint32_t chain_id;    /* as the newest routing shows (0: none) */
    /* Recovery of this target's successor. */
    atomic_bool sync_active;
    _Atomic uint64_t synced_chain_version; /* chain version the last sync finished in */
    _Atomic uint64_t sync_chunks_transferred, sync_chunks_removed, sync_bytes_transferred,
        sync_rounds_completed;
};

struct write_dedup;

struct storage_node {
    const struct storage_config *config;
    char *disks[STORAGE_DISKS_MAX];
    size_t disk_count;
    char address[ADDRESS_TEXT_MAX];
    struct rpc_client *rpc;
    struct routing_cache *routing;
    struct heartbeat_client *heartbeat;
    struct cluster_config cluster_config; /* applies the storage config mgmtd announces */
    bool cluster_config_ready;
    struct worker_pool *io_pool;
    struct write_dedup *dedup;
    struct rpc_service service;

    /* Targets are only added (CREATE_TARGET): readers load target_count and look at
     * targets[0..count) without a lock; adders serialize on targets_lock. */
    pthread_mutex_t targets_lock;
    struct storage_target *targets[STORAGE_TARGETS_MAX];
    _Atomic size_t target_count;

    /* Maintenance thread. */
    pthread_t maintenance;
    bool maintenance_started;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* CLOCK_MONOTONIC */
    bool stopping;
    bool heartbeats_allowed; /* a restarted node waits until mgmtd took its targets offline */
    atomic_bool shutting_down;
};

/* The target with that id, or NULL. */
struct storage_target *storage_find_target(struct storage_node *node, uint64_t target_id);

/* Checks that target_id is a local target in chain_id whose public state allows the
 * operation (reads: serving; writes: serving or syncing), refreshing routing once
 * when the chain version differs (chain_version 0: not checked). Returns the target
 * through *target_out and a snapshot of routing (release it) through *snapshot, or
 * CHAINFS_NOT_FOUND (no such target here), CHAINFS_ROUTING_STALE. */
int storage_check_route(struct storage_node *node, uint64_t target_id, uint32_t chain_id,
                        uint64_t chain_version, bool for_write, struct storage_target **target_out,
                        struct routing_snapshot **snapshot);

/* The snapshot's chain version of chain_id (0: unknown). */
uint64_t storage_chain_version(const struct routing_snapshot *snapshot, uint32_t chain_id);

/* Makes the node heartbeat now (local state changed). */
void storage_beat_now(struct storage_node *node);

/* Wakes the maintenance thread (routing changed). */
void storage_wake_maintenance(struct storage_node *node);

/* Opens (creating when missing) <disk>/target-<id> and adds it. */
int storage_add_target(struct storage_node *node, uint64_t target_id, uint32_t disk_index,
                       bool *created);

/* Handlers (rpc_handler). */
void storage_handle_write(struct rpc_request *request);
void storage_handle_update(struct rpc_request *request);
void storage_handle_truncate(struct rpc_request *request);
void storage_handle_batch_read(struct rpc_request *request);
void storage_handle_last_chunk(struct rpc_request *request);
void storage_handle_remove_chunks(struct rpc_request *request);
void storage_handle_remove_listed(struct rpc_request *request);
void storage_handle_space_info(struct rpc_request *request);
void storage_handle_dump_chunks(struct rpc_request *request);
void storage_handle_create_target(struct rpc_request *request);
void storage_handle_sync_done(struct rpc_request *request);

/* The wire form of a chunk's metadata (DUMP_CHUNKS, recovery). */
void storage_chunk_record_from(const struct chunk_metadata *metadata,
                               struct storage_chunk_record *record);

/* Runs one recovery pass for every local target whose successor is syncing. */
void storage_sync_pass(struct storage_node *node);

/* Forwarding down a chain (storage_forward.c). */

/* True when forwarding to a successor failed in a way that another try (after a
 * routing refresh, with the successor routing shows then) may cure: lost
 * connection, timeout, stale routing, busy, shutting down. */
bool storage_forward_retryable(int status);

struct storage_successor {
    uint64_t target_id;
    uint8_t public_state; /* enum target_public_state: syncing ones get whole chunks */
    uint64_t chain_version;
    char address[ADDRESS_TEXT_MAX];
};

enum successor_lookup {
    SUCCESSOR_FOUND,       /* *successor filled */
    SUCCESSOR_NONE,        /* the target is the chain's tail */
    SUCCESSOR_UNREACHABLE, /* routing has no address for it yet: retry */
    SUCCESSOR_LEFT_CHAIN,  /* no routing, or the target no longer takes writes there */
};

/* The successor of target in chain_id that receives writes, as routing shows now. */
enum successor_lookup storage_find_successor(struct storage_node *node,
                                             const struct storage_target *target,
                                             uint32_t chain_id,
                                             struct storage_successor *successor);

/* One change on its way down a chain, as storage_forward_next drives it. The op
 * sets the fields above `call` before each forwarding (a compound literal is fine:
 * no call is active then); the forwarder owns the call to the successor. */
struct chain_forwarder {
    struct storage_node *node;
    const struct storage_target *target; /* the sender */
    uint32_t chain_id;
    uint64_t deadline;  /* of the whole change: retries stop there */
    const char *what;   /* "update", "removal": for error texts */
    void *op;           /* the argument of the hooks */
    /* Sends the change to successor (storage_forward_send); 0 or a status. */
    int (*start)(void *op, const struct storage_successor *successor);
    /* Checks the successor's reply to a call that succeeded: 0 or a status. */
    int (*check_reply)(void *op, const struct rpc_call *call);
    /* The successor took the change (on an I/O thread, the call released). */
    void (*on_success)(void *op);
    /* No successor: the sender is the tail. */
    void (*at_tail)(void *op);
    /* Ends the change with status; text (may be NULL) says why. */
    void (*give_up)(void *op, int status, const char *text);

    struct rpc_call call; /* to the successor, while call_active */
    bool call_active;
};

/* Sends the change to the successor routing shows now (start), or calls at_tail,
 * or gives up (the sender left the chain, the node is stopping). A start that
 * fails goes to storage_forward_retry. */
void storage_forward_next(struct chain_forwarder *forwarder);

/* Starts the asynchronous call of method to successor, bounded by the forwarder's
 * deadline; message and payload must outlive it. On 0 the call is active and its
 * completion moves to an I/O thread (inline when the pool refuses it), releases the
 * call and, when it and check_reply succeeded, calls on_success; otherwise it goes
 * to storage_forward_retry with the call's error text (or "successor refused the
 * <what>"). On a status nothing was started (CHAINFS_NO_MEMORY when the message
 * could not be encoded). */
int storage_forward_send(struct chain_forwarder *forwarder,
                         const struct storage_successor *successor, uint16_t method,
                         const struct wire_writer *message, const void *payload,
                         size_t payload_length);

/* Releases the call if one is active (the op is freed before its completion). */
void storage_forward_release(struct chain_forwarder *forwarder);

/* After forwarding failed with status (text: why): when the failure is retryable
 * (storage_forward_retryable) and the deadline has not passed, waits a short pause,
 * refreshes routing and forwards again; otherwise gives up. */
void storage_forward_retry(struct chain_forwarder *forwarder, int status, const char *text);

/* Sends a synchronous call to a target's node, bounded by timeout_ns. */
int storage_call(struct storage_node *node, const char *address, uint16_t method,
                 const struct wire_writer *message, const void *payload, size_t payload_length,
                 uint64_t timeout_ns, struct rpc_call *call);

/* Exactly-once table (write_dedup.c). */
int write_dedup_create(struct write_dedup **dedup);
void write_dedup_destroy(struct write_dedup *dedup);
/* Decides for a client write; on SEQUENCE_NEW marks it in progress, on
 * SEQUENCE_REPLAY copies the stored reply to *reply. */
enum sequence_decision write_dedup_begin(struct write_dedup *dedup,
                                         const struct storage_client_tag *tag,
                                         struct storage_commit_reply *reply);
/* Records the outcome of a write begun with SEQUENCE_NEW (reply stored when status
 * is 0; a failure leaves the sequence retryable). */
void write_dedup_finish(struct write_dedup *dedup, const struct storage_client_tag *tag, int status,
                        const struct storage_commit_reply *reply);

#endif /* CHAINFS_STORAGE_STORAGE_INTERNAL_H */
