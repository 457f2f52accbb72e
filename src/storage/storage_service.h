/*
 * storage_service.h - the storage daemon (`chainfs storage`, DESIGN §7): serves the
 * chunk engines of its targets over the storage protocol (storage_protocol.h),
 * replicates writes along chains with CRAQ, heartbeats its targets' local states to
 * mgmtd, and recovers a returning successor (sync).
 *
 * Config [storage]:
 *   node_id              this node's id (unique in the cluster)
 *   mgmtd                mgmtd addresses, "host:port[,host:port...]"
 *   disks                comma list of directories; target T on disk i lives in
 *                        <disks[i]>/target-<T>, found at start
 *   target_capacity      bytes each target may allocate (0: unlimited)
 *   chunk_size_limit     largest chunk a target stores
 *   sync                 fdatasync data and metadata before acknowledging
 *   heartbeat_interval, heartbeat_fail_interval (must match mgmtd's),
 *   routing_interval     periodic routing refresh and maintenance
 *   io_threads           continuations of writes (commits after acks, queued locks)
 *
 * See README.md in this folder for the replication protocol and its invariants.
 */
#ifndef CHAINFS_STORAGE_STORAGE_SERVICE_H
#define CHAINFS_STORAGE_STORAGE_SERVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/daemon.h"

struct storage_config {
    struct daemon_config daemon; /* first: the daemon scaffolding reads it */
    int64_t node_id;
    char *mgmtd;
    char *disks;
    int64_t target_capacity;
    int64_t grow_step;
    int64_t chunk_size_limit;
    bool sync;
    int64_t heartbeat_interval;      /* ms */
    int64_t heartbeat_fail_interval; /* ms */
    int64_t routing_interval;        /* ms */
    int64_t io_threads;
};

/* The `chainfs storage` daemon description for daemon_main(). */
extern const struct daemon_service storage_daemon_service;

#endif /* CHAINFS_STORAGE_STORAGE_SERVICE_H */
