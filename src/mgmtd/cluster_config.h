/*
 * cluster_config.h - applying the cluster-wide config of a node type to a running
 * daemon (DESIGN §5, config distribution).
 *
 * An admin stores versioned INI text per node type in mgmtd (`chainfs admin
 * set-config`). Heartbeat replies carry the newest version; when it is newer than
 * what the node applied, the node fetches the text and rebuilds its config with it
 * (daemon_apply_cluster_config): settings that can change live take effect at once,
 * the others at the next start. Wire it up by pointing the heartbeat options'
 * on_config_version at cluster_config_on_version with a cluster_config as context.
 */
#ifndef CHAINFS_MGMTD_CLUSTER_CONFIG_H
#define CHAINFS_MGMTD_CLUSTER_CONFIG_H

#include <pthread.h>
#include <stdint.h>

#include "mgmtd/mgmtd_client.h"

struct cluster_config {
    pthread_mutex_t lock;
    struct mgmtd_client mgmtd; /* its own: mgmtd clients are not shared between threads */
    uint8_t node_type;
    uint64_t applied_version;  /* 0: none yet */
};

/* addresses: the mgmtd list ("host:port[,...]"). Returns 0 or INVALID_ARGUMENT. */
int cluster_config_init(struct cluster_config *config, struct rpc_client *rpc,
                        const char *addresses, uint8_t node_type);

void cluster_config_destroy(struct cluster_config *config);

/* Fetches and applies `version` unless it (or a newer one) is applied already.
 * Returns 0, the fetch status, or CHAINFS_CONFIG for text the daemon refused (then
 * the version counts as applied: it is logged and not fetched again). */
int cluster_config_update(struct cluster_config *config, uint64_t version);

/* A heartbeat_options.on_config_version callback; context is a struct cluster_config. */
void cluster_config_on_version(void *context, uint64_t version);

#endif /* CHAINFS_MGMTD_CLUSTER_CONFIG_H */
