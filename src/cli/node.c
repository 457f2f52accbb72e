/*
 * node.c - `chainfs node`: a daemon with only the system service.
 *
 * It is the daemon scaffolding on its own (config, logging, run directory, RPC
 * server, graceful stop); the cluster manager, metadata and storage services are
 * built on the same daemon_main(). Given mgmtd addresses it also joins a cluster
 * the way every service does: it heartbeats as a node of the configured type and
 * applies that type's cluster config when a heartbeat announces a new version. Tests
 * use it as the smallest member of a cluster.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define LOG_COMPONENT "node"
#include "chainfs/error.h"
#include "cli/commands.h"
#include "common/clock.h"
#include "common/log.h"
#include "daemon/daemon.h"
#include "mgmtd/cluster_config.h"
#include "mgmtd/cluster_records.h"
#include "mgmtd/heartbeat_client.h"

struct node_config {
    struct daemon_config daemon;
    char *mgmtd_addresses;
    int64_t node_id;
    char *node_type;
    int64_t heartbeat_interval;
    int64_t heartbeat_fail_interval;
};

#define NODE_SETTING(key, type, default_value, field, min, max, description)                 \
    {"node", key, type, default_value, description, offsetof(struct node_config, field), min, max}

static const struct config_setting node_settings[] = {
    NODE_SETTING("mgmtd", CONFIG_TYPE_STRING, "", mgmtd_addresses, 0, 0,
                 "mgmtd addresses (host:port,...) to heartbeat to; empty: stand alone"),
    NODE_SETTING("node_id", CONFIG_TYPE_INT, "100", node_id, 1, UINT32_MAX,
                 "node id in the cluster"),
    NODE_SETTING("type", CONFIG_TYPE_STRING, "client", node_type, 0, 0,
                 "node type it heartbeats as: meta, storage or client"),
    NODE_SETTING("heartbeat_interval", CONFIG_TYPE_DURATION, "10s", heartbeat_interval, 10,
                 600000, "time between heartbeats"),
    NODE_SETTING("heartbeat_fail_interval", CONFIG_TYPE_DURATION, "60s", heartbeat_fail_interval,
                 100, 3600000, "mgmtd's failure interval (the node stops serving after half)"),
};

static const struct config_schema node_schema = {
    "node", node_settings, sizeof(node_settings) / sizeof(node_settings[0])};

static const struct config_part node_config_parts[] = {{&node_schema, 0}};

struct node_state {
    const struct node_config *config;
    uint8_t node_type;
    struct rpc_client *rpc;
    struct cluster_config cluster_config;
    struct heartbeat_client *heartbeat;
};

static int parse_type(const char *name, uint8_t *type)
{
    for (uint8_t candidate = NODE_TYPE_META; candidate <= NODE_TYPE_CLIENT; candidate++)
        if (strcmp(name, node_type_name(candidate)) == 0) {
            *type = candidate;
            return 0;
        }
    log_error("[node] type: expected meta, storage or client, got '%s'", name);
    return CHAINFS_CONFIG;
}

static int node_start(struct rpc_server *server, const void *config, void **state_out)
{
    (void)server;
    struct node_state *state = calloc(1, sizeof(*state));
    if (!state)
        return CHAINFS_NO_MEMORY;
    state->config = config;
    int status = parse_type(state->config->node_type, &state->node_type);
    if (status != 0) {
        free(state);
        return status;
    }
    *state_out = state;
    return 0;
}

/* Joins the cluster once the server listens: heartbeats carry the bound address. */
static int node_started(void *opaque, const char *address)
{
    struct node_state *state = opaque;
    const struct node_config *config = state->config;
    if (!config->mgmtd_addresses[0])
        return 0;
    struct rpc_client_options rpc_options;
    rpc_client_default_options(&rpc_options);
    rpc_options.name = "node";
    int status = rpc_client_create(&rpc_options, &state->rpc);
    if (status == 0)
        status = cluster_config_init(&state->cluster_config, state->rpc, config->mgmtd_addresses,
                                     state->node_type);
    if (status != 0)
        return status;
    struct heartbeat_options options;
    heartbeat_client_default_options(&options);
    options.rpc = state->rpc;
    options.mgmtd_addresses = config->mgmtd_addresses;
    options.node_id = (uint32_t)config->node_id;
    options.node_type = state->node_type;
    options.node_address = address;
    options.interval_ns = (uint64_t)config->heartbeat_interval * CLOCK_NS_PER_MS;
    options.fail_interval_ns = (uint64_t)config->heartbeat_fail_interval * CLOCK_NS_PER_MS;
    options.resume_after_loss = true;
    options.on_config_version = cluster_config_on_version;
    options.context = &state->cluster_config;
    return heartbeat_client_start(&options, &state->heartbeat);
}

static void node_stop(void *opaque)
{
    struct node_state *state = opaque;
    if (!state)
        return;
    heartbeat_client_stop(state->heartbeat);
    if (state->rpc) {
        rpc_client_destroy(state->rpc);
        cluster_config_destroy(&state->cluster_config);
    }
    free(state);
}

static const struct daemon_service node_service = {
    .component = "node",
    .summary = "A bare chainfs daemon serving the system service (health, echo, sink, source); "
               "with [node] mgmtd set it heartbeats and applies cluster configs.",
    .config_parts = node_config_parts,
    .config_part_count = 1,
    .config_size = sizeof(struct node_config),
    .start = node_start,
    .started = node_started,
    .stop = node_stop,
};

int command_node(int argc, char **argv) { return daemon_main(argc, argv, &node_service); }
