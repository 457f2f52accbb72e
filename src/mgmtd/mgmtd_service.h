/*
 * mgmtd_service.h - the cluster manager daemon (`chainfs mgmtd`).
 *
 * Any number of mgmtd run against one KV store; the lease (lease.h) makes one of them
 * the primary. Only the primary changes cluster state, each change in a fenced
 * transaction. Every mgmtd answers GET_PRIMARY and GET_ROUTING_INFO from the store.
 *
 * The primary's background loop, every [mgmtd] tick_interval:
 *   - renews the lease (followers watch it and take over when it goes silent);
 *   - failure detection: a node without a heartbeat for heartbeat_fail_interval is
 *     marked dead and its targets' local state becomes offline;
 *   - chain update: applies the target state table to every chain (chain_update.h)
 *     and stores the chains that changed, bumping the routing version.
 */
#ifndef CHAINFS_MGMTD_MGMTD_SERVICE_H
#define CHAINFS_MGMTD_MGMTD_SERVICE_H

#include <stdint.h>

#include "daemon/daemon.h"
#include "kv/kv_config.h"

struct mgmtd_config {
    struct daemon_config daemon; /* first: the daemon scaffolding reads it */
    struct kv_config kv;
    int64_t node_id;
    int64_t lease_length;            /* ms */
    int64_t tick_interval;           /* ms */
    int64_t heartbeat_fail_interval; /* ms */
};

/* The `chainfs mgmtd` daemon description for daemon_main(). */
extern const struct daemon_service mgmtd_daemon_service;

#endif /* CHAINFS_MGMTD_MGMTD_SERVICE_H */
