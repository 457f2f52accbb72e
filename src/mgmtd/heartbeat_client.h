/*
 * heartbeat_client.h - the heartbeat that meta, storage and FUSE nodes send to the
 * cluster manager, and the rule that keeps a cut-off node from serving.
 *
 * A thread sends HEARTBEAT to the primary mgmtd every interval (finding the primary
 * and following it when it changes). A heartbeat is a lease renewal: mgmtd declares
 * a node failed after heartbeat_fail_interval without one, and takes its targets
 * offline. So the node must stop serving well before that: once it has had no
 * successful heartbeat for HALF the failure interval, counted on the monotonic clock
 * from the moment the last successful heartbeat was sent (or from start), it is no
 * longer serving (DESIGN §5). A partitioned replica thus never serves stale data.
 *
 * After such a loss a node that may resume (meta, FUSE) keeps beating and serves
 * again after the next successful heartbeat. A node that may not (storage: mgmtd has
 * moved its targets offline, they must go through recovery) stops beating and must
 * restart.
 *
 * Callbacks run on the heartbeat thread, with no lock held. They should be quick:
 * while one runs, the stop-serving callback cannot fire (heartbeat_client_serving()
 * stays exact regardless). They must not call heartbeat_client_stop().
 */
#ifndef CHAINFS_MGMTD_HEARTBEAT_CLIENT_H
#define CHAINFS_MGMTD_HEARTBEAT_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/rpc_client.h"

/* The most targets one heartbeat reports (mgmtd refuses more). */
#define HEARTBEAT_CLIENT_TARGETS_MAX 1024

struct heartbeat_client;

/* One target as its storage service reports it. */
struct heartbeat_target_report {
    uint64_t target_id;
    uint32_t disk_index;
    uint8_t local_state; /* enum target_local_state */
    uint64_t used_bytes;
    uint64_t capacity_bytes;
};

struct heartbeat_options {
    struct rpc_client *rpc;      /* must outlive the heartbeat client */
    const char *mgmtd_addresses; /* "host:port[,host:port...]" (at most 8), copied */
    uint32_t node_id;            /* not 0 */
    uint8_t node_type;           /* enum node_type */
    const char *node_address;    /* where other nodes reach this one, copied */
    uint64_t interval_ns;        /* between heartbeats */
    uint64_t fail_interval_ns;   /* mgmtd's heartbeat_fail_interval; > 2 x interval */
    uint64_t call_timeout_ns;    /* per RPC; 0: min(interval, fail interval / 8, 2 s) */
    bool resume_after_loss;      /* serve again after a loss (meta, FUSE), or never */
    uint64_t routing_version;    /* the routing info version the node already has */

    /* Fills up to capacity targets to report and returns how many the node has; when
     * that is more than capacity it is called again with room for all (at most
     * HEARTBEAT_CLIENT_TARGETS_MAX). NULL: the node reports no targets (meta, FUSE). */
    size_t (*fill_targets)(void *context, struct heartbeat_target_report *targets,
                           size_t capacity);
    /* A reply carried a routing version newer than any seen before: refresh the
     * routing info. May be NULL. */
    void (*on_routing_version)(void *context, uint64_t version);
    /* A reply carried a config version for the node's type newer than any seen
     * before (the first reply of a node whose type has a config counts): fetch and
     * apply it (mgmtd/cluster_config.h). May be NULL. */
    void (*on_config_version)(void *context, uint64_t version);
    /* The node must stop serving (storage: exit). Once per loss, so exactly once
     * unless resume_after_loss. May be NULL. */
    void (*on_stop_serving)(void *context);
    void *context;
};

/* Production defaults (10 s heartbeats, 60 s failure interval, no resume); the
 * caller sets rpc, addresses, node identity and callbacks. */
void heartbeat_client_default_options(struct heartbeat_options *options);

/* Checks the options and starts the heartbeat thread, which beats at once. The node
 * counts as serving from now. Returns 0, INVALID_ARGUMENT or NO_MEMORY. */
int heartbeat_client_start(const struct heartbeat_options *options,
                           struct heartbeat_client **client);

/* Whether the node may serve: a successful heartbeat was sent less than half the
 * failure interval ago (or start was). Once it answered false it keeps answering
 * false unless the options allow resuming and a later heartbeat succeeded. Cheap
 * and callable from any thread. */
bool heartbeat_client_serving(struct heartbeat_client *client);

/* Sends a heartbeat now instead of at the next interval (after a local state
 * change). Does not wait for it. Callable from any thread. */
void heartbeat_client_beat_now(struct heartbeat_client *client);

/* The newest routing version a heartbeat reply carried (or the one in the options). */
uint64_t heartbeat_client_routing_version(struct heartbeat_client *client);

/* Stops the thread and frees the client. Returns promptly, also in the middle of an
 * interval; a heartbeat call in flight is waited for (at most its call timeout).
 * NULL is accepted. */
void heartbeat_client_stop(struct heartbeat_client *client);

#endif /* CHAINFS_MGMTD_HEARTBEAT_CLIENT_H */
