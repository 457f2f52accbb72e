/*
 * local_cluster.h - what `chainfs up` (local_cluster.c) and its set-up steps
 * (local_cluster_setup.c) share: the cluster's directories and options.
 */
#ifndef CHAINFS_CLI_LOCAL_CLUSTER_H
#define CHAINFS_CLI_LOCAL_CLUSTER_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "net/rpc_client.h"

#define LOCAL_STORAGE_MAX 16
#define LOCAL_STORAGE_FIRST_NODE 11 /* storage node ids 11, 12, ... */
#define LOCAL_META_FIRST_NODE 51    /* meta node ids 51, 52 */

struct local_cluster {
    char dir[PATH_MAX / 2];
    char run[PATH_MAX];
    char log[PATH_MAX];
    char mountpoint[PATH_MAX];
    char mgmtd_address[128];
    unsigned storage_count;     /* storage services */
    unsigned targets_per_node;  /* targets per storage service */
    unsigned replicas;          /* chain length */
    const char *postgres;       /* conninfo: KV in PostgreSQL instead of LMDB */
    bool fast;                  /* short heartbeat and failure intervals (tests) */
    bool page_cache;            /* mount with the kernel page cache */
};

/* Creates the storage targets of every storage service (idempotent). */
int local_cluster_create_targets(struct rpc_client *client, const struct local_cluster *cluster);

/* Waits until mgmtd knows every target, uploads chains and the chain table unless the
 * cluster has chains already, and waits until every chain serves. */
int local_cluster_setup_chains(struct rpc_client *client, const struct local_cluster *cluster);

/* Whether path is a mount point of a chainfs FUSE file system (/proc/self/mountinfo). */
bool local_cluster_mounted(const char *path);

#endif /* CHAINFS_CLI_LOCAL_CLUSTER_H */
