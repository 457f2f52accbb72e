/*
 * meta_server.h - the state of one metadata server process, shared by its request
 * handlers (meta_handlers.c), its background work (meta_background.c) and the daemon
 * glue (meta_service.c).
 */
#ifndef CHAINFS_META_META_SERVER_H
#define CHAINFS_META_META_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "meta/meta_protocol.h"
#include "meta/meta_service.h"
#include "meta/namespace.h"
#include "meta/storage_ops.h"
#include "mgmtd/heartbeat_client.h"
#include "mgmtd/mgmtd_client.h"
#include "mgmtd/routing_info.h"
#include "net/rpc_server.h"

#define META_DEAD_CLIENTS_MAX 1024

struct meta_server {
    const struct meta_config *config;
    struct kv_store *store;
    struct meta_namespace *space;
    struct rpc_service service;
    struct rpc_method methods[META_METHOD_COUNT_];

    /* the cluster: mgmtd (absent when [meta] mgmtd is empty: a standalone server) */
    struct rpc_client *rpc;
    struct mgmtd_client mgmtd;
    bool has_mgmtd;
    struct heartbeat_client *heartbeat;
    char address[ADDRESS_TEXT_MAX];

    /* the newest routing info, and the client ids mgmtd has declared dead */
    pthread_mutex_t routing_lock;
    struct routing_info routing;
    bool routing_loaded;
    atomic_uint_fast64_t wanted_routing_version;
    char (*dead_clients)[64];
    size_t dead_client_count;

    /* storage (the adapter plugged in by meta_server_set_storage; the chain lookup is
     * always ours) */
    struct meta_storage_ops storage;
    struct meta_storage_ops storage_backend;

    /* background thread: routing refresh, GC, pruning */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stopping;
    atomic_uint_fast64_t gc_collected;
};

/* RPC entry point of every method (dispatch on the method id). */
void meta_handle_request(struct rpc_request *request);

/* Background work (meta_background.c). */
int meta_background_start(struct meta_server *server);
void meta_background_stop(struct meta_server *server);
/* Refreshes the routing info (and the dead clients) from mgmtd now; *version gets
 * the version now held. */
int meta_refresh_routing(struct meta_server *server, uint64_t *version);
/* The newest version of a chain table in the routing info (0: unknown), for new
 * files (meta_namespace_set_table_versions). */
uint32_t meta_server_newest_table_version(void *context, uint32_t table_id);
/* Installs the storage adapter (NULL: none) behind server->storage. */
void meta_server_plug_storage(struct meta_server *server, const struct meta_storage_ops *backend);
/* Whether the server may answer (heartbeats current, or no mgmtd). */
bool meta_server_serving(struct meta_server *server);
/* Capacity and use: the storage adapter's space info, else the routing info's
 * target figures. */
int meta_server_space(struct meta_server *server, uint64_t *capacity, uint64_t *used);

#endif /* CHAINFS_META_META_SERVER_H */
