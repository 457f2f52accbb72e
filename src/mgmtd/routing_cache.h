/*
 * routing_cache.h - the newest routing info (routing_info.h) a process has, shared
 * by all its threads: the storage service (successors, its targets' public states),
 * the storage client, meta and FUSE.
 *
 * Readers take a refcounted snapshot and release it when done; a snapshot never
 * changes, so a reader needs no lock and never blocks a refresh (the cache swaps in
 * a new snapshot and the old one is freed by its last reader).
 *
 * Refreshes fetch GET_ROUTING_INFO through the cache's own mgmtd_client. They are
 * coalesced: a caller of routing_cache_refresh waits for one fetch that started
 * after its call, and every caller waiting at that time shares it. A background
 * thread refreshes every refresh_interval_ns (when not 0).
 */
#ifndef CHAINFS_MGMTD_ROUTING_CACHE_H
#define CHAINFS_MGMTD_ROUTING_CACHE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mgmtd/routing_info.h"
#include "net/rpc_client.h"

struct routing_cache;

/* An immutable routing info with a reference count. */
struct routing_snapshot {
    struct routing_info info;
    atomic_long references;
};

struct routing_cache_options {
    struct rpc_client *rpc;       /* must outlive the cache */
    const char *mgmtd_addresses;  /* "host:port[,host:port...]", copied */
    uint64_t refresh_interval_ns; /* background refresh period; 0: only on demand */
    uint64_t call_timeout_ns;     /* per GET_ROUTING_INFO call; 0: 5 s */
};

/* Creates the cache (empty: no snapshot until the first refresh succeeds) and
 * starts its refresh thread if an interval is set. It does not fetch: call
 * routing_cache_refresh for a first snapshot. 0, INVALID_ARGUMENT, NO_MEMORY. */
int routing_cache_create(const struct routing_cache_options *options, struct routing_cache **cache);

/* Stops the refresh thread and frees the cache. Snapshots still held stay valid
 * until released. NULL is accepted. */
void routing_cache_destroy(struct routing_cache *cache);

/* Stops the refresh thread and makes later refreshes fail with
 * CHAINFS_SHUTTING_DOWN without calling mgmtd, so that the RPC client can be
 * destroyed while snapshots are still being read. Waits for a refresh in flight. */
void routing_cache_stop(struct routing_cache *cache);

/* Fetches the routing info now (coalesced with concurrent callers) and installs it
 * if it is newer than the current one. Returns the fetch status (0 when the routing
 * info was fetched, even if it was not newer). */
int routing_cache_refresh(struct routing_cache *cache);

/* Refreshes unless the current snapshot's version is at least `version` (e.g. a
 * heartbeat reply announced it). */
int routing_cache_refresh_to(struct routing_cache *cache, uint64_t version);

/* The current snapshot with a reference taken, or NULL before the first successful
 * refresh. Release it with routing_snapshot_release. */
struct routing_snapshot *routing_cache_acquire(struct routing_cache *cache);

/* Drops a reference; the last one frees the snapshot. NULL is accepted. */
void routing_snapshot_release(struct routing_snapshot *snapshot);

/* The version of the current snapshot (0: none yet). */
uint64_t routing_cache_version(struct routing_cache *cache);

/* Installs info (taken over: the caller must not free it) as the current snapshot
 * if it is newer; frees it otherwise. For callers that fetch routing info
 * themselves and for tests. */
void routing_cache_install(struct routing_cache *cache, struct routing_info *info);

/* Lookups in one routing info. */

/* Fills targets[] (capacity CHAIN_TARGETS_MAX) with the records of chain's targets
 * in chain order (head first) and returns how many; 0 when the chain is unknown.
 * A target id the routing info has no record of is skipped. */
size_t routing_chain_targets(const struct routing_info *info, uint32_t chain_id,
                             const struct target_record **targets);

/* The address of the node holding target_id, or NULL when the target or its node is
 * unknown. */
const char *routing_target_address(const struct routing_info *info, uint64_t target_id);

/* The target that follows target_id in its chain and receives writes (public state
 * serving or syncing), skipping targets that do not; NULL when target_id is the
 * last such target (the tail) or not in the chain. */
const struct target_record *routing_chain_successor(const struct routing_info *info,
                                                    uint32_t chain_id, uint64_t target_id);

/* The first target of the chain that receives writes (where clients write), or NULL. */
const struct target_record *routing_chain_head(const struct routing_info *info, uint32_t chain_id);

#endif /* CHAINFS_MGMTD_ROUTING_CACHE_H */
