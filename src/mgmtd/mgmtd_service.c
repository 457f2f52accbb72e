/*
 * mgmtd_service.c - the cluster manager daemon: its settings, its method table, and
 * the background loop that renews the lease and, on the primary, runs the failure
 * and chain sweeps. See mgmtd_service.h and mgmtd_internal.h for the pieces.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_COMPONENT "mgmtd"
#include "chainfs/error.h"
#include "common/clock.h"
#include "common/log.h"
#include "kv/kv.h"
#include "mgmtd/lease.h"
#include "mgmtd/mgmtd_internal.h"
#include "mgmtd/mgmtd_protocol.h"
#include "mgmtd/mgmtd_service.h"

static void primary_work(struct mgmtd *mgmtd)
{
    int status = mgmtd_sweep_failures(mgmtd);
    if (status == 0)
        status = mgmtd_sweep_chains(mgmtd);
    if (status != 0 && status != CHAINFS_NOT_PRIMARY)
        log_warn("background work failed: %s", chainfs_error_message(status));
}

static void *background_loop(void *argument)
{
    struct mgmtd *mgmtd = argument;
    uint64_t interval = (uint64_t)mgmtd->config->tick_interval * CLOCK_NS_PER_MS;
    pthread_mutex_lock(&mgmtd->lock);
    while (!mgmtd->stopping) {
        /* Only this thread changes the lease: tick a copy without holding the lock
         * (handlers copy it under the lock), then publish it. */
        struct lease lease = mgmtd->lease;
        bool was_primary = lease_is_primary(&lease);
        pthread_mutex_unlock(&mgmtd->lock);
        int status = lease_tick(mgmtd->store, &lease);
        bool primary = lease_is_primary(&lease);
        pthread_mutex_lock(&mgmtd->lock);
        mgmtd->lease = lease;
        if (primary && !was_primary) {
            mgmtd->primary_since = clock_now_ns(); /* every node gets a full interval */
            liveness_table_clear(&mgmtd->liveness);
        }
        pthread_mutex_unlock(&mgmtd->lock);
        if (status != 0)
            log_warn("lease: %s", chainfs_error_message(status));
        if (primary)
            primary_work(mgmtd);
        pthread_mutex_lock(&mgmtd->lock);
        struct timespec until = deadline_to_timespec(deadline_after_ns(interval));
        if (!mgmtd->stopping)
            pthread_cond_timedwait(&mgmtd->wake, &mgmtd->lock, &until);
    }
    pthread_mutex_unlock(&mgmtd->lock);
    return NULL;
}

/* --- the daemon --------------------------------------------------------------------- */

static const struct rpc_method mgmtd_methods[] = {
    {MGMTD_METHOD_GET_PRIMARY, "get_primary", mgmtd_handle_get_primary, RPC_DISPATCH_WORKER},
    {MGMTD_METHOD_HEARTBEAT, "heartbeat", mgmtd_handle_heartbeat, RPC_DISPATCH_WORKER},
    {MGMTD_METHOD_GET_ROUTING_INFO, "get_routing_info", mgmtd_handle_get_routing_info, RPC_DISPATCH_WORKER},
    {MGMTD_METHOD_SET_CHAINS, "set_chains", mgmtd_handle_set_chains, RPC_DISPATCH_WORKER},
    {MGMTD_METHOD_SET_CHAIN_TABLE, "set_chain_table", mgmtd_handle_set_chain_table, RPC_DISPATCH_WORKER},
    {MGMTD_METHOD_INIT_CLUSTER, "init_cluster", mgmtd_handle_init_cluster, RPC_DISPATCH_WORKER},
    {MGMTD_METHOD_SET_TARGET_OFFLINE, "set_target_offline", mgmtd_handle_set_target_offline,
     RPC_DISPATCH_WORKER},
    {MGMTD_METHOD_SET_NODE_ENABLED, "set_node_enabled", mgmtd_handle_set_node_enabled, RPC_DISPATCH_WORKER},
    {MGMTD_METHOD_UNREGISTER_NODE, "unregister_node", mgmtd_handle_unregister_node, RPC_DISPATCH_WORKER},
    {MGMTD_METHOD_SET_CONFIG, "set_config", mgmtd_handle_set_config, RPC_DISPATCH_WORKER},
    {MGMTD_METHOD_GET_CONFIG, "get_config", mgmtd_handle_get_config, RPC_DISPATCH_WORKER},
    {MGMTD_METHOD_EXTEND_CLIENT_SESSION, "extend_client_session", mgmtd_handle_extend_client_session,
     RPC_DISPATCH_WORKER},
    {MGMTD_METHOD_LIST_CLIENT_SESSIONS, "list_client_sessions", mgmtd_handle_list_client_sessions,
     RPC_DISPATCH_WORKER},
};

struct mgmtd_state {
    struct mgmtd mgmtd;
    struct rpc_service service;
};

static void mgmtd_stop(void *state);

static int mgmtd_start(struct rpc_server *server, const void *config_pointer, void **result)
{
    const struct mgmtd_config *config = config_pointer;
    if (config->lease_length < 3 * config->tick_interval) {
        log_error("[mgmtd] lease_length must be at least 3 x tick_interval");
        return CHAINFS_CONFIG;
    }
    /* Members stop serving after half the failure interval without a heartbeat; a
     * takeover after a crash lands up to lease_length + 2 ticks later (README). */
    if (config->lease_length + 2 * config->tick_interval >= config->heartbeat_fail_interval / 2)
        log_warn("[mgmtd] lease_length + 2 x tick_interval (%lld ms) is not below half the "
                 "heartbeat_fail_interval (%lld ms): after a primary crashes, members stop "
                 "serving before another mgmtd can take over",
                 (long long)(config->lease_length + 2 * config->tick_interval),
                 (long long)config->heartbeat_fail_interval / 2);
    struct mgmtd_state *state = calloc(1, sizeof(*state));
    if (!state)
        return CHAINFS_NO_MEMORY;
    struct mgmtd *mgmtd = &state->mgmtd;
    mgmtd->config = config;
    pthread_mutex_init(&mgmtd->lock, NULL);
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&mgmtd->wake, &attributes);
    pthread_condattr_destroy(&attributes);
    *result = state;
    int status = kv_open_from_config(&config->kv, &mgmtd->store);
    if (status != 0) {
        log_error("cannot open the KV store: %s", chainfs_error_message(status));
        return status;
    }
    state->service = (struct rpc_service){MGMTD_SERVICE_ID, "mgmtd", mgmtd_methods,
                                          sizeof(mgmtd_methods) / sizeof(mgmtd_methods[0]), mgmtd};
    return rpc_server_register(server, &state->service);
}

/* Once the address is known the lease can name it; then the loop starts. */
static int mgmtd_started(void *state_pointer, const char *address)
{
    struct mgmtd_state *state = state_pointer;
    struct mgmtd *mgmtd = &state->mgmtd;
    lease_init(&mgmtd->lease, (uint32_t)mgmtd->config->node_id, address,
               (uint64_t)mgmtd->config->lease_length * CLOCK_NS_PER_MS);
    if (pthread_create(&mgmtd->thread, NULL, background_loop, mgmtd) != 0)
        return CHAINFS_NO_MEMORY;
    mgmtd->thread_started = true;
    return 0;
}

static void mgmtd_stop(void *state_pointer)
{
    struct mgmtd_state *state = state_pointer;
    if (!state)
        return;
    struct mgmtd *mgmtd = &state->mgmtd;
    if (mgmtd->thread_started) {
        pthread_mutex_lock(&mgmtd->lock);
        mgmtd->stopping = true;
        pthread_cond_signal(&mgmtd->wake);
        pthread_mutex_unlock(&mgmtd->lock);
        pthread_join(mgmtd->thread, NULL);
        /* A graceful stop hands the role over at once instead of after a lease length. */
        int status = lease_release(mgmtd->store, &mgmtd->lease);
        if (status != 0)
            log_warn("could not release the lease: %s", chainfs_error_message(status));
    }
    kv_close(mgmtd->store);
    liveness_table_free(&mgmtd->liveness);
    pthread_cond_destroy(&mgmtd->wake);
    pthread_mutex_destroy(&mgmtd->lock);
    free(state);
}

#define MGMTD_SETTING(key, type, default_value, field, min, max, description)                \
    {"mgmtd", key, type, default_value, description, offsetof(struct mgmtd_config, field), min, max}

static const struct config_setting mgmtd_settings[] = {
    MGMTD_SETTING("node_id", CONFIG_TYPE_INT, "1", node_id, 1, UINT32_MAX,
                  "this mgmtd's node id, unique in the cluster"),
    MGMTD_SETTING("lease_length", CONFIG_TYPE_DURATION, "10s", lease_length, 100, 3600000,
                  "a primary silent this long is replaced"),
    MGMTD_SETTING("tick_interval", CONFIG_TYPE_DURATION, "1s", tick_interval, 10, 60000,
                  "lease renewal, failure detection and chain update period"),
    MGMTD_SETTING("heartbeat_fail_interval", CONFIG_TYPE_DURATION, "60s", heartbeat_fail_interval,
                  100, 3600000, "a node without heartbeats this long is failed"),
};

static const struct config_schema mgmtd_schema = {
    "mgmtd", mgmtd_settings, sizeof(mgmtd_settings) / sizeof(mgmtd_settings[0])};

static const struct config_part mgmtd_config_parts[] = {
    {&kv_config_schema, offsetof(struct mgmtd_config, kv)},
    {&mgmtd_schema, 0},
};

const struct daemon_service mgmtd_daemon_service = {
    .component = "mgmtd",
    .summary = "The cluster manager: membership, leases, chains, target states, routing info.",
    .config_parts = mgmtd_config_parts,
    .config_part_count = 2,
    .config_size = sizeof(struct mgmtd_config),
    .start = mgmtd_start,
    .started = mgmtd_started,
    .stop = mgmtd_stop,
};
