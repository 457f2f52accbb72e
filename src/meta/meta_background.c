/*
 * meta_background.c - what a meta server does besides answering requests: keep the
 * routing info and the list of dead clients fresh, collect its share of the GC queue,
 * prune expired idempotency records and the write sessions of dead clients.
 *
 * The GC queue is shared: each queued inode belongs to one live meta server by
 * rendezvous hashing of (inode, node id) over the live meta nodes of the routing
 * info, so servers do not race for the same files; if two do anyway (their routing
 * views differ for a moment), the transactions in meta_gc_collect keep it correct.
 */
#include <stdlib.h>
#include <string.h>

#define LOG_COMPONENT "meta"
#include "chainfs/error.h"
#include "common/clock.h"
#include "common/log.h"
#include "meta/file_layout.h"
#include "meta/meta_server.h"
#include "mgmtd/mgmtd_protocol.h"

#define GC_BATCH 256
#define PRUNE_BATCH 1024

bool meta_server_serving(struct meta_server *server)
{
    return !server->has_mgmtd || heartbeat_client_serving(server->heartbeat);
}

/* --- routing info and dead clients ------------------------------------------------- */

static int fetch_dead_clients(struct meta_server *server, char (**dead)[64], size_t *count)
{
    struct rpc_call call;
    rpc_call_init(&call, MGMTD_SERVICE_ID, MGMTD_METHOD_LIST_CLIENT_SESSIONS);
    int status = mgmtd_client_call_primary(&server->mgmtd, &call);
    *dead = NULL;
    *count = 0;
    if (status == 0) {
        struct wire_reader reader;
        wire_reader_init(&reader, call.reply_message, call.reply_message_length);
        uint32_t total = wire_get_u32(&reader);
        if (total > META_DEAD_CLIENTS_MAX * 16)
            total = 0;
        *dead = calloc(total + 1, sizeof(**dead));
        for (uint32_t i = 0; *dead && i < total; i++) {
            struct client_session_record record;
            if (!client_session_record_decode(&reader, &record)) {
                status = CHAINFS_MALFORMED;
                break;
            }
            if (!record.alive && *count < META_DEAD_CLIENTS_MAX)
                strcpy((*dead)[(*count)++], record.client_id);
        }
        if (!*dead)
            status = CHAINFS_NO_MEMORY;
    }
    rpc_call_release(&call);
    return status;
}

int meta_refresh_routing(struct meta_server *server, uint64_t *version)
{
    *version = 0;
    if (!server->has_mgmtd)
        return 0;
    struct routing_info info;
    int status = mgmtd_client_routing_info(&server->mgmtd, &info);
    if (status != 0)
        return status;
    char(*dead)[64] = NULL;
    size_t dead_count = 0;
    if (fetch_dead_clients(server, &dead, &dead_count) != 0)
        dead_count = 0; /* keep what we knew; sessions are only pruned when sure */
    pthread_mutex_lock(&server->routing_lock);
    routing_info_free(&server->routing);
    server->routing = info;
    server->routing_loaded = true;
    *version = info.version;
    if (dead) {
        free(server->dead_clients);
        server->dead_clients = dead;
        server->dead_client_count = dead_count;
    }
    pthread_mutex_unlock(&server->routing_lock);
    return 0;
}

static bool client_is_dead(void *context, const char *client_id)
{
    struct meta_server *server = context;
    bool dead = false;
    pthread_mutex_lock(&server->routing_lock);
    for (size_t i = 0; i < server->dead_client_count && !dead; i++)
        dead = strcmp(server->dead_clients[i], client_id) == 0;
    pthread_mutex_unlock(&server->routing_lock);
    return dead;
}

/* --- storage: chains from routing info, the rest from the adapter ------------------- */

/* The chain ids of table (table_id, version; 0 = its newest) into a fresh array. */
static int table_chains(struct meta_server *server, uint32_t table_id, uint32_t version,
                        uint32_t **chains, size_t *count)
{
    const struct chain_table_record *best = NULL;
    for (size_t i = 0; i < server->routing.table_count; i++) {
        const struct chain_table_record *table = &server->routing.tables[i];
        if (table->table_id != table_id || (version && table->version != version))
            continue;
        if (!best || table->version > best->version)
            best = table;
    }
    *chains = NULL;
    *count = 0;
    if (!best)
        return 0; /* no such table: no chunk can have been written through it */
    *chains = malloc((best->chain_count + 1) * sizeof(**chains));
    if (!*chains)
        return CHAINFS_NO_MEMORY;
    memcpy(*chains, best->chain_ids, best->chain_count * sizeof(**chains));
    *count = best->chain_count;
    return 0;
}

uint32_t meta_server_newest_table_version(void *context, uint32_t table_id)
{
    struct meta_server *server = context;
    uint32_t newest = 0;
    pthread_mutex_lock(&server->routing_lock);
    for (size_t i = 0; i < server->routing.table_count; i++)
        if (server->routing.tables[i].table_id == table_id && server->routing.tables[i].version > newest)
            newest = server->routing.tables[i].version;
    pthread_mutex_unlock(&server->routing_lock);
    return newest;
}

static int routing_file_chains(void *context, const struct file_layout *layout, uint32_t *chain_ids,
                               size_t capacity, size_t *count)
{
    struct meta_server *server = context;
    uint32_t *table = NULL;
    size_t table_count = 0;
    *count = 0;
    pthread_mutex_lock(&server->routing_lock);
    int status = server->routing_loaded || !server->has_mgmtd ? 0 : CHAINFS_UNAVAILABLE;
    if (status == 0)
        status = table_chains(server, layout->table_id, layout->table_version, &table, &table_count);
    pthread_mutex_unlock(&server->routing_lock);
    uint32_t width = file_layout_stripe_width(layout, table_count);
    if (status == 0 && width > capacity)
        status = CHAINFS_TOO_LARGE;
    if (status == 0 && width > 0)
        status = file_layout_stripe_chains(layout, table, table_count, chain_ids);
    if (status == 0)
        *count = width;
    free(table);
    return status;
}

static int adapter_last_chunk(void *context, uint32_t chain_id, uint64_t inode_id, bool *found,
                              uint64_t *chunk_index, uint32_t *chunk_length)
{
    struct meta_server *server = context;
    return server->storage_backend.last_chunk(server->storage_backend.context, chain_id, inode_id,
                                              found, chunk_index, chunk_length);
}

static int adapter_remove_chunks(void *context, uint32_t chain_id, uint64_t inode_id,
                                 uint64_t first_chunk)
{
    struct meta_server *server = context;
    return server->storage_backend.remove_chunks(server->storage_backend.context, chain_id,
                                                 inode_id, first_chunk);
}

void meta_server_plug_storage(struct meta_server *server, const struct meta_storage_ops *backend)
{
    server->storage_backend = backend ? *backend : (struct meta_storage_ops){0};
    server->storage = (struct meta_storage_ops){.context = server,
                                                .file_chains = routing_file_chains};
    if (server->storage_backend.last_chunk)
        server->storage.last_chunk = adapter_last_chunk;
    if (server->storage_backend.remove_chunks)
        server->storage.remove_chunks = adapter_remove_chunks;
}

int meta_server_space(struct meta_server *server, uint64_t *capacity, uint64_t *used)
{
    if (server->storage_backend.space_info)
        return server->storage_backend.space_info(server->storage_backend.context, capacity, used);
    *capacity = *used = 0;
    pthread_mutex_lock(&server->routing_lock);
    for (size_t i = 0; i < server->routing.target_count; i++) {
        *capacity += server->routing.targets[i].capacity_bytes;
        *used += server->routing.targets[i].used_bytes;
    }
    pthread_mutex_unlock(&server->routing_lock);
    return 0;
}

/* --- GC share ------------------------------------------------------------------------ */

static uint64_t mix(uint64_t value)
{
    value ^= value >> 33;
    value *= 0xff51afd7ed558ccdull;
    value ^= value >> 33;
    value *= 0xc4ceb9fe1a85ec53ull;
    return value ^ (value >> 33);
}

/* Rendezvous hashing: the live meta node with the highest weight owns the inode.
 * With no live meta node known (standalone, or routing not loaded) it is ours. */
static bool owns(struct meta_server *server, uint64_t inode_id)
{
    uint32_t best_node = 0;
    uint64_t best_weight = 0;
    pthread_mutex_lock(&server->routing_lock);
    for (size_t i = 0; i < server->routing.node_count; i++) {
        const struct node_record *node = &server->routing.nodes[i];
        if (node->type != NODE_TYPE_META || !node->alive || !node->enabled)
            continue;
        uint64_t weight = mix(inode_id ^ mix(node->node_id));
        if (!best_node || weight > best_weight) {
            best_node = node->node_id;
            best_weight = weight;
        }
    }
    pthread_mutex_unlock(&server->routing_lock);
    return best_node == 0 || best_node == (uint32_t)server->config->node_id;
}

/* One page of the queue from *cursor (the last id seen; 0: the start), then the
 * cursor moves on, wrapping at the end. */
static bool stopping(struct meta_server *server)
{
    pthread_mutex_lock(&server->lock);
    bool stop = server->stopping;
    pthread_mutex_unlock(&server->lock);
    return stop;
}

static void collect_garbage(struct meta_server *server, uint64_t *cursor)
{
    uint64_t ids[GC_BATCH];
    size_t count = 0;
    bool more = false;
    int status = meta_gc_queue_page(server->space, *cursor, ids, GC_BATCH, &count, &more);
    if (status == 0)
        *cursor = more && count ? ids[count - 1] : 0;
    /* A stop waits for at most the file in progress, not the whole page. */
    for (size_t i = 0; status == 0 && i < count && !stopping(server); i++) {
        if (!owns(server, ids[i]))
            continue;
        int result = meta_gc_collect(server->space, &server->storage, ids[i], client_is_dead, server);
        if (result == 0)
            atomic_fetch_add(&server->gc_collected, 1);
        else if (result != CHAINFS_BUSY && result != CHAINFS_NOT_FOUND &&
                 result != CHAINFS_UNSUPPORTED)
            log_warn("GC of inode %llu: %s", (unsigned long long)ids[i],
                     chainfs_error_message(result));
    }
}

static void prune(struct meta_server *server, struct meta_record_cursor *records,
                  struct meta_session_cursor *sessions)
{
    size_t removed = 0;
    int64_t ttl = server->config->request_record_ttl * (int64_t)CLOCK_NS_PER_MS;
    int status = meta_prune_request_records(server->space, ttl, PRUNE_BATCH, records, &removed);
    pthread_mutex_lock(&server->routing_lock);
    bool any_dead = server->dead_client_count > 0;
    pthread_mutex_unlock(&server->routing_lock);
    if (status == 0 && any_dead)
        status = meta_prune_sessions(server->space, client_is_dead, server, PRUNE_BATCH, sessions,
                                     &removed);
    if (status != 0)
        log_warn("pruning: %s", chainfs_error_message(status));
}

static void *background_loop(void *argument)
{
    struct meta_server *server = argument;
    struct meta_record_cursor records = {.length = 0};
    struct meta_session_cursor sessions = {0, 0};
    uint64_t interval = (uint64_t)server->config->gc_interval * CLOCK_NS_PER_MS;
    uint64_t refreshed = 0, passes = 0, gc_cursor = 0;
    pthread_mutex_lock(&server->lock);
    while (!server->stopping) {
        pthread_mutex_unlock(&server->lock);
        uint64_t wanted = atomic_load(&server->wanted_routing_version);
        uint64_t version;
        /* dead clients do not move the routing version: look again now and then */
        bool due = wanted > refreshed || refreshed == 0 || ++passes % 30 == 0;
        if (server->has_mgmtd && due &&
            meta_refresh_routing(server, &version) == 0)
            refreshed = version > wanted ? version : wanted;
        if (meta_server_serving(server)) {
            collect_garbage(server, &gc_cursor);
            prune(server, &records, &sessions);
        }
        pthread_mutex_lock(&server->lock);
        struct timespec until = deadline_to_timespec(deadline_after_ns(interval));
        if (!server->stopping)
            pthread_cond_timedwait(&server->wake, &server->lock, &until);
    }
    pthread_mutex_unlock(&server->lock);
    return NULL;
}

int meta_background_start(struct meta_server *server)
{
    if (pthread_create(&server->thread, NULL, background_loop, server) != 0)
        return CHAINFS_NO_MEMORY;
    server->thread_started = true;
    return 0;
}

void meta_background_stop(struct meta_server *server)
{
    if (!server->thread_started)
        return;
    pthread_mutex_lock(&server->lock);
    server->stopping = true;
    pthread_cond_signal(&server->wake);
    pthread_mutex_unlock(&server->lock);
    pthread_join(server->thread, NULL);
    server->thread_started = false;
}
