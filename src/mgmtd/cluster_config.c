/*
 * cluster_config.c - fetch the cluster-wide config of this node's type from mgmtd
 * when a heartbeat announces a newer version, and hand it to the daemon.
 */
#include <stdlib.h>

#define LOG_COMPONENT "cluster-config"
#include "chainfs/error.h"
#include "common/clock.h"
#include "common/log.h"
#include "daemon/daemon.h"
#include "mgmtd/cluster_config.h"

int cluster_config_init(struct cluster_config *config, struct rpc_client *rpc,
                        const char *addresses, uint8_t node_type)
{
    pthread_mutex_init(&config->lock, NULL);
    config->node_type = node_type;
    config->applied_version = 0;
    return mgmtd_client_init(&config->mgmtd, rpc, addresses, 2 * CLOCK_NS_PER_S);
}

void cluster_config_destroy(struct cluster_config *config)
{
    pthread_mutex_destroy(&config->lock);
}

int cluster_config_update(struct cluster_config *config, uint64_t version)
{
    pthread_mutex_lock(&config->lock);
    int status = 0;
    if (version > config->applied_version) {
        uint64_t fetched = 0;
        char *text = NULL;
        status = mgmtd_client_get_config(&config->mgmtd, config->node_type, version, &fetched, &text);
        if (status == 0) {
            struct config_error error;
            status = daemon_apply_cluster_config(text, fetched, &error);
            if (status == 0 || status == CHAINFS_CONFIG)
                config->applied_version = fetched; /* refused text: do not fetch it again */
        } else {
            log_warn("cannot fetch cluster config version %llu: %s", (unsigned long long)version,
                     chainfs_error_message(status));
        }
        free(text);
    }
    pthread_mutex_unlock(&config->lock);
    return status;
}

void cluster_config_on_version(void *context, uint64_t version)
{
    (void)cluster_config_update(context, version);
}
