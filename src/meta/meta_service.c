/*
 * meta_service.c - the `chainfs meta` daemon: settings, start (KV store, namespace,
 * root directory, RPC service), cluster membership (heartbeats as a meta node) and
 * stop. See meta_service.h.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_COMPONENT "meta"
#include "chainfs/error.h"
#include "common/clock.h"
#include "common/log.h"
#include "kv/kv.h"
#include "meta/file_layout.h"
#include "meta/meta_server.h"
#include "mgmtd/cluster_records.h"

static const struct meta_storage_factory *storage_factory;

void meta_service_set_storage_factory(const struct meta_storage_factory *factory)
{
    storage_factory = factory;
}

static void register_methods(struct meta_server *server)
{
    size_t count = 0;
    for (uint16_t method = 1; method < META_METHOD_COUNT_; method++)
        server->methods[count++] = (struct rpc_method){method, meta_method_name(method),
                                                       meta_handle_request, RPC_DISPATCH_WORKER};
    server->service = (struct rpc_service){META_SERVICE_ID, "meta", server->methods, count, server};
}

/* The root directory, unless it exists; new files inherit its layout. */
static int format_namespace(struct meta_server *server)
{
    const struct meta_config *config = server->config;
    struct file_layout layout = {.table_id = (uint32_t)config->default_table_id,
                                 .chunk_size = (uint32_t)config->default_chunk_size,
                                 .stripe = (uint32_t)config->default_stripe};
    if (file_layout_check(&layout) != 0) {
        log_error("[meta] default_chunk_size must be a power of two from 64KiB to 64MiB, "
                  "default_stripe 1..%d and default_table_id at least 1", FILE_LAYOUT_STRIPE_MAX);
        return CHAINFS_CONFIG;
    }
    return meta_namespace_format(server->space, &layout);
}

static int meta_start(struct rpc_server *rpc_server, const void *config_pointer, void **result)
{
    const struct meta_config *config = config_pointer;
    if (config->heartbeat_fail_interval <= 2 * config->heartbeat_interval) {
        log_error("[meta] heartbeat_fail_interval must exceed 2 x heartbeat_interval");
        return CHAINFS_CONFIG;
    }
    struct meta_server *server = calloc(1, sizeof(*server));
    if (!server)
        return CHAINFS_NO_MEMORY;
    *result = server;
    server->config = config;
    pthread_mutex_init(&server->routing_lock, NULL);
    pthread_mutex_init(&server->lock, NULL);
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&server->wake, &attributes);
    pthread_condattr_destroy(&attributes);
    meta_server_plug_storage(server, NULL);
    int status = kv_open_from_config(&config->kv, &server->store);
    if (status != 0) {
        log_error("cannot open the KV store: %s", chainfs_error_message(status));
        return status;
    }
    status = meta_namespace_open(server->store, &server->space);
    if (status == 0) {
        meta_namespace_set_table_versions(server->space, meta_server_newest_table_version, server);
        status = format_namespace(server);
    }
    if (status != 0) {
        log_error("cannot open the namespace: %s", chainfs_error_message(status));
        return status;
    }
    register_methods(server);
    return rpc_server_register(rpc_server, &server->service);
}

static void on_routing_version(void *context, uint64_t version)
{
    struct meta_server *server = context;
    atomic_store(&server->wanted_routing_version, version);
    pthread_mutex_lock(&server->lock);
    pthread_cond_signal(&server->wake);
    pthread_mutex_unlock(&server->lock);
}

static void on_stop_serving(void *context)
{
    log_warn("no heartbeat reached mgmtd for half the failure interval: not serving until one does");
}

static int join_cluster(struct meta_server *server)
{
    const struct meta_config *config = server->config;
    struct rpc_client_options options;
    rpc_client_default_options(&options);
    options.name = "meta-mgmtd";
    int status = rpc_client_create(&options, &server->rpc);
    if (status == 0)
        status = mgmtd_client_init(&server->mgmtd, server->rpc, config->mgmtd, 2 * CLOCK_NS_PER_S);
    if (status != 0) {
        log_error("[meta] mgmtd: bad address list '%s'", config->mgmtd);
        return status;
    }
    server->has_mgmtd = true;
    struct heartbeat_options beat;
    heartbeat_client_default_options(&beat);
    beat.rpc = server->rpc;
    beat.mgmtd_addresses = config->mgmtd;
    beat.node_id = (uint32_t)config->node_id;
    beat.node_type = NODE_TYPE_META;
    beat.node_address = server->address;
    beat.interval_ns = (uint64_t)config->heartbeat_interval * CLOCK_NS_PER_MS;
    beat.fail_interval_ns = (uint64_t)config->heartbeat_fail_interval * CLOCK_NS_PER_MS;
    beat.resume_after_loss = true;
    beat.on_routing_version = on_routing_version;
    beat.on_stop_serving = on_stop_serving;
    beat.context = server;
    status = heartbeat_client_start(&beat, &server->heartbeat);
    /* Files created before the routing info is known could not pin their chain table
     * version: fetch it once now (a failure is retried by the background thread). */
    uint64_t version;
    if (status == 0 && meta_refresh_routing(server, &version) != 0)
        log_warn("no routing info from mgmtd yet; new files name no table version until it comes");
    if (status == 0 && storage_factory) {
        struct meta_storage_ops ops = {0};
        status = storage_factory->create(config->mgmtd, &ops);
        if (status != 0)
            log_error("cannot reach the storage service: %s", chainfs_error_message(status));
        else
            meta_server_plug_storage(server, &ops);
    }
    return status;
}

static int meta_started(void *state, const char *address)
{
    struct meta_server *server = state;
    snprintf(server->address, sizeof(server->address), "%s", address);
    int status = server->config->mgmtd[0] ? join_cluster(server) : 0;
    if (status == 0)
        status = meta_background_start(server);
    if (status == 0)
        log_info("meta node %lld serving at %s%s", (long long)server->config->node_id, address,
                 server->has_mgmtd ? "" : " (standalone: no mgmtd)");
    return status;
}

static void meta_stop(void *state)
{
    struct meta_server *server = state;
    if (!server)
        return;
    meta_background_stop(server);
    if (storage_factory && server->storage_backend.context)
        storage_factory->destroy(&server->storage_backend);
    heartbeat_client_stop(server->heartbeat);
    if (server->rpc)
        rpc_client_destroy(server->rpc);
    meta_namespace_close(server->space);
    if (server->store)
        kv_close(server->store);
    routing_info_free(&server->routing);
    free(server->dead_clients);
    pthread_cond_destroy(&server->wake);
    pthread_mutex_destroy(&server->lock);
    pthread_mutex_destroy(&server->routing_lock);
    free(server);
}

#define META_SETTING(key, type, default_value, field, min, max, description)                 \
    {"meta", key, type, default_value, description, offsetof(struct meta_config, field), min, max}

static const struct config_setting meta_settings[] = {
    META_SETTING("node_id", CONFIG_TYPE_INT, "1", node_id, 1, UINT32_MAX,
                 "this meta server's node id, unique in the cluster"),
    META_SETTING("mgmtd", CONFIG_TYPE_STRING, "", mgmtd, 0, 0,
                 "mgmtd addresses host:port[,host:port...]; empty: standalone"),
    META_SETTING("heartbeat_interval", CONFIG_TYPE_DURATION, "10s", heartbeat_interval, 10, 600000,
                 "time between heartbeats to mgmtd"),
    META_SETTING("heartbeat_fail_interval", CONFIG_TYPE_DURATION, "60s", heartbeat_fail_interval,
                 100, 3600000, "mgmtd's heartbeat_fail_interval (stop serving after half of it)"),
    META_SETTING("default_chunk_size", CONFIG_TYPE_SIZE, "1MiB", default_chunk_size, 65536,
                 67108864, "chunk size of the root's default layout (set when meta creates the root)"),
    META_SETTING("default_stripe", CONFIG_TYPE_INT, "4", default_stripe, 1, 1024,
                 "chains per file in the root's default layout"),
    META_SETTING("default_table_id", CONFIG_TYPE_INT, "1", default_table_id, 1, UINT32_MAX,
                 "chain table of the root's default layout"),
    META_SETTING("gc_interval", CONFIG_TYPE_DURATION, "1s", gc_interval, 10, 600000,
                 "time between passes of GC, routing refresh and pruning"),
    META_SETTING("request_record_ttl", CONFIG_TYPE_DURATION, "10m", request_record_ttl, 1000,
                 86400000, "how long a request's reply is kept for retries"),
};

static const struct config_schema meta_schema = {
    "meta", meta_settings, sizeof(meta_settings) / sizeof(meta_settings[0])};

static const struct config_part meta_config_parts[] = {
    {&kv_config_schema, offsetof(struct meta_config, kv)},
    {&meta_schema, 0},
};

const struct daemon_service meta_daemon_service = {
    .component = "meta",
    .summary = "A metadata server: the POSIX namespace on the KV store.",
    .config_parts = meta_config_parts,
    .config_part_count = 2,
    .config_size = sizeof(struct meta_config),
    .start = meta_start,
    .started = meta_started,
    .stop = meta_stop,
};
