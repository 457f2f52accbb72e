/*
 * storage_route.h - which target of a chain the storage client talks to, decided from
 * one routing info snapshot (DESIGN §7, §8). Pure functions: no I/O, no locks.
 *
 * Writes (and the replicated operations: remove range, truncate) go to the chain's
 * head, the first target in chain order whose public state is serving: mgmtd moves a
 * target that went offline to the end of its chain, and syncing/waiting targets sit
 * behind the serving ones, so the first serving one is the target that starts CRAQ.
 *
 * Reads go to any serving target. The choice spreads load: a read of chunk c by client
 * k goes to serving target (hash(c) + salt(k)) mod n, so one client's reads of a file
 * cover every replica, and many clients reading the same chunk do not all land on one.
 * A target that just failed a request (avoid_target_id) is skipped when another serving
 * target exists; with one serving target it is used anyway (the failure may be over).
 *
 * Readers prefer targets whose node is enabled and alive (mgmtd takes some seconds to
 * publish a dead node's targets offline, and in that time a request to it would only
 * wait for its connect timeout); the head is whatever routing says, because the head
 * itself checks that it is the head (it answers ROUTING_STALE otherwise).
 *
 * Only the public state decides who serves: a target that is not serving is never
 * chosen, whatever its node.
 */
#ifndef CHAINFS_CLIENT_STORAGE_ROUTE_H
#define CHAINFS_CLIENT_STORAGE_ROUTE_H

#include <stdint.h>

#include "mgmtd/cluster_records.h"
#include "mgmtd/routing_info.h"

/* No target to avoid. Target ids are never 0 in routing info. */
#define STORAGE_ROUTE_AVOID_NONE 0

/* Where one request goes. */
struct storage_route {
    uint32_t chain_id;
    uint64_t chain_version; /* carried by writes; the target rejects another version */
    uint64_t target_id;
    uint32_t node_id;
    char address[NODE_ADDRESS_MAX]; /* the node's "host:port" */
};

/* The head of chain_id. Returns 0, CHAINFS_NOT_FOUND when the chain is not in the
 * routing info, CHAINFS_UNAVAILABLE when no target of it is serving (the chain is
 * changing: refresh routing and retry). */
int storage_route_head(const struct routing_info *info, uint32_t chain_id,
                       struct storage_route *route);

/* A serving target of chain_id for reading the chunk whose hash is chunk_hash, spread
 * by salt, skipping avoid_target_id when another is serving. Statuses as
 * storage_route_head. */
int storage_route_reader(const struct routing_info *info, uint32_t chain_id, uint64_t chunk_hash,
                         uint64_t salt, uint64_t avoid_target_id, struct storage_route *route);

/* The last serving target of chain_id in chain order: the one closest to the CRAQ
 * tail, which commits an update first, so a chunk there is the shortest time "not
 * committed". Reads that were answered NOT_COMMITTED retry here. Statuses as
 * storage_route_head. */
int storage_route_tail(const struct routing_info *info, uint32_t chain_id,
                       struct storage_route *route);

/* The node that holds target_id (any public state; for dumps and space info).
 * CHAINFS_NOT_FOUND when the target or its node is unknown. */
int storage_route_target(const struct routing_info *info, uint64_t target_id,
                         struct storage_route *route);

#endif /* CHAINFS_CLIENT_STORAGE_ROUTE_H */
