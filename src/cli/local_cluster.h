/*
 * local_cluster.h - what `chainfs up` (local_cluster.c) and its set-up steps
 * (local_cluster_setup.c) share: the cluster's directories and options.
 */
#ifndef CHAINFS_CLI_LOCAL_CLUSTER_H
#define CHAINFS_CLI_LOCAL_CLUSTER_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/rpc_client.h"

#define LOCAL_STORAGE_MAX 16
#define LOCAL_STORAGE_FIRST_NODE 11 /* storage node ids 11, 12, ... */
#define LOCAL_META_FIRST_NODE 51    /* meta node ids 51, 52 */
#define LOCAL_MGMTD_MAX 8           /* mgmtd node ids 1..8 (the clients take 8 addresses) */

struct local_cluster {
    char dir[PATH_MAX / 2];
    char run[PATH_MAX];
    char log[PATH_MAX];
    char mountpoint[PATH_MAX];
    char mgmtd_address[LOCAL_MGMTD_MAX * 24]; /* "127.0.0.1:PORT,..." every mgmtd, pinned */
    unsigned mgmtd_count;       /* mgmtd sharing the KV store (mgmtd-1 ... mgmtd-N) */
    uint16_t mgmtd_ports[LOCAL_MGMTD_MAX]; /* mgmtd-(i+1) listens on 127.0.0.1:mgmtd_ports[i] */
    unsigned storage_count;     /* storage services */
    unsigned targets_per_node;  /* targets per storage service */
    unsigned replicas;          /* chain length */
    const char *postgres;       /* conninfo: KV in PostgreSQL instead of LMDB */
    bool fast;                  /* short heartbeat and failure intervals (tests) */
    bool page_cache;            /* mount with the kernel page cache */
};

/* Fills mgmtd_count (from the record unless count_given), mgmtd_ports and
 * mgmtd_address: the ports recorded in <run>/mgmtd-addresses by an earlier `up`, and
 * new free ones for mgmtd beyond them (then recorded). A changed count is refused
 * while cluster_running (its services know only the old addresses). Returns 0, or 1
 * after printing why. */
int local_cluster_pin_mgmtd(struct local_cluster *cluster, bool count_given, bool cluster_running);

/* Whether 127.0.0.1:port can be bound now (as the RPC server binds, SO_REUSEADDR). */
bool local_cluster_port_free(uint16_t port);

/* The path of the pinned-address record, <run>/mgmtd-addresses. */
void local_cluster_mgmtd_file(const struct local_cluster *cluster, char *path, size_t capacity);

/* Creates the storage targets of every storage service (idempotent). */
int local_cluster_create_targets(struct rpc_client *client, const struct local_cluster *cluster);

/* Waits until mgmtd knows every target, uploads chains and the chain table unless the
 * cluster has chains already, and waits until every chain serves. */
int local_cluster_setup_chains(struct rpc_client *client, const struct local_cluster *cluster);

/* Whether path is a mount point of a chainfs FUSE file system (/proc/self/mountinfo). */
bool local_cluster_mounted(const char *path);

#endif /* CHAINFS_CLI_LOCAL_CLUSTER_H */
