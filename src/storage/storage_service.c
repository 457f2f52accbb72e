/*
 * storage_service.c - the storage daemon: settings, start and stop, its targets on
 * disk, the routing checks every handler makes, heartbeats, and the maintenance
 * thread (start-up wait, local states from routing, recovery of successors).
 */
#define LOG_COMPONENT "storage"
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chainfs/error.h"
#include "common/clock.h"
#include "common/log.h"
#include "mgmtd/cluster_records.h"
#include "mgmtd/target_state.h"
#include "storage/storage_internal.h"

/* --- targets ------------------------------------------------------------------------ */

struct storage_target *storage_find_target(struct storage_node *node, uint64_t target_id)
{
    size_t count = atomic_load(&node->target_count);
    for (size_t i = 0; i < count; i++)
        if (node->targets[i]->target_id == target_id)
            return node->targets[i];
    return NULL;
}

static void target_close(struct storage_target *target)
{
    if (target == NULL)
        return;
    chunk_engine_close(target->engine);
    chunk_lock_table_destroy(target->locks);
    free(target);
}

static int target_open(struct storage_node *node, uint64_t target_id, uint32_t disk_index,
                       struct storage_target **out)
{
    struct storage_target *target = calloc(1, sizeof *target);
    if (target == NULL)
        return CHAINFS_NO_MEMORY;
    target->target_id = target_id;
    target->disk_index = disk_index;
    snprintf(target->path, sizeof target->path, "%s/target-%llu", node->disks[disk_index],
             (unsigned long long)target_id);
    atomic_init(&target->local_state, TARGET_LOCAL_UP_TO_DATE);
    struct chunk_engine_options options = {
        .chunk_size_limit = (uint64_t)node->config->chunk_size_limit,
        .capacity_bytes = (uint64_t)node->config->target_capacity,
        .grow_bytes = (uint64_t)node->config->grow_step,
        .sync = node->config->sync,
    };
    int status = chunk_lock_table_create(node->io_pool, &target->locks);
    if (status == 0)
        status = chunk_engine_open(target->path, &options, &target->engine);
    if (status != 0) {
        log_error("cannot open target %s: %s", target->path, chainfs_error_message(status));
        chunk_lock_table_destroy(target->locks);
        free(target);
        return status;
    }
    *out = target;
    return 0;
}

int storage_add_target(struct storage_node *node, uint64_t target_id, uint32_t disk_index,
                       bool *created)
{
    *created = false;
    if (disk_index >= node->disk_count || target_id == 0)
        return CHAINFS_INVALID_ARGUMENT;
    pthread_mutex_lock(&node->targets_lock);
    struct storage_target *existing = storage_find_target(node, target_id);
    int status = 0;
    if (existing != NULL) {
        status = existing->disk_index == disk_index ? 0 : CHAINFS_EXISTS;
    } else if (atomic_load(&node->target_count) >= STORAGE_TARGETS_MAX) {
        status = CHAINFS_NO_SPACE;
    } else {
        struct storage_target *target = NULL;
        status = target_open(node, target_id, disk_index, &target);
        if (status == 0) {
            size_t count = atomic_load(&node->target_count);
            node->targets[count] = target;
            atomic_store(&node->target_count, count + 1); /* publish after the store */
            *created = true;
            log_info("target %llu serving from %s", (unsigned long long)target_id, target->path);
        }
    }
    pthread_mutex_unlock(&node->targets_lock);
    return status;
}

/* Drops the pending versions a crash left: none was acknowledged to a client (the
 * head commits last), and every target of a restarted node is recovered from a
 * predecessor or, as lastsrv, holds the newest acknowledged data (README.md). */
static int abort_leftover_updates(struct storage_target *target)
{
    struct chunk_metadata *all = NULL;
    size_t count = 0;
    int status = chunk_engine_dump(target->engine, &all, &count);
    size_t aborted = 0;
    for (size_t i = 0; status == 0 && i < count; i++)
        if (chunk_metadata_has_pending(&all[i])) {
            status = chunk_engine_abort(target->engine, &all[i].id, all[i].pending.version);
            aborted++;
        }
    free(all);
    if (aborted)
        log_info("target %llu: dropped %zu unacknowledged pending versions",
                 (unsigned long long)target->target_id, aborted);
    return status;
}

/* Opens every <disk>/target-<id> directory found. */
static int open_existing_targets(struct storage_node *node)
{
    for (size_t disk = 0; disk < node->disk_count; disk++) {
        if (mkdir(node->disks[disk], 0755) != 0 && errno != EEXIST) {
            log_error("cannot create disk directory %s: %s", node->disks[disk], strerror(errno));
            return CHAINFS_IO;
        }
        DIR *directory = opendir(node->disks[disk]);
        if (directory == NULL) {
            log_error("cannot read %s: %s", node->disks[disk], strerror(errno));
            return CHAINFS_IO;
        }
        struct dirent *entry;
        int status = 0;
        while (status == 0 && (entry = readdir(directory)) != NULL) {
            unsigned long long id;
            char rest;
            if (sscanf(entry->d_name, "target-%llu%c", &id, &rest) != 1 || id == 0)
                continue;
            bool created;
            status = storage_add_target(node, id, (uint32_t)disk, &created);
            if (status == 0)
                status = abort_leftover_updates(storage_find_target(node, id));
        }
        closedir(directory);
        if (status != 0)
            return status;
    }
    return 0;
}

/* --- routing ------------------------------------------------------------------------ */

uint64_t storage_chain_version(const struct routing_snapshot *snapshot, uint32_t chain_id)
{
    const struct chain_record *chain = routing_info_chain(&snapshot->info, chain_id);
    return chain ? chain->version : 0;
}

/* 0 when the snapshot lets target serve the operation, else ROUTING_STALE. */
static int route_allows(const struct routing_snapshot *snapshot, uint64_t target_id,
                        uint32_t chain_id, uint64_t chain_version, bool for_write)
{
    const struct target_record *record = routing_info_target(&snapshot->info, target_id);
    if (record == NULL || record->chain_id != chain_id || chain_id == 0)
        return CHAINFS_ROUTING_STALE;
    if (chain_version != 0 && storage_chain_version(snapshot, chain_id) != chain_version)
        return CHAINFS_ROUTING_STALE;
    enum target_public_state state = (enum target_public_state)record->public_state;
    bool allowed = for_write ? target_public_state_receives_writes(state)
                             : target_public_state_serves_reads(state);
    return allowed ? 0 : CHAINFS_ROUTING_STALE;
}

int storage_check_route(struct storage_node *node, uint64_t target_id, uint32_t chain_id,
                        uint64_t chain_version, bool for_write, struct storage_target **target_out,
                        struct routing_snapshot **snapshot_out)
{
    *snapshot_out = NULL;
    *target_out = storage_find_target(node, target_id);
    if (*target_out == NULL)
        return CHAINFS_NOT_FOUND;
    /* A node that may not serve (heartbeats lost, or not yet allowed) serves nothing. */
    if (!node->heartbeat || !heartbeat_client_serving(node->heartbeat))
        return CHAINFS_ROUTING_STALE;
    struct routing_snapshot *snapshot = routing_cache_acquire(node->routing);
    int status = snapshot ? route_allows(snapshot, target_id, chain_id, chain_version, for_write)
                          : CHAINFS_ROUTING_STALE;
    if (status != 0 && chain_version != 0 &&
        (snapshot == NULL || storage_chain_version(snapshot, chain_id) < chain_version)) {
        /* The sender knows a newer chain than we do: refresh once. */
        routing_snapshot_release(snapshot);
        routing_cache_refresh(node->routing);
        snapshot = routing_cache_acquire(node->routing);
        status = snapshot ? route_allows(snapshot, target_id, chain_id, chain_version, for_write)
                          : CHAINFS_ROUTING_STALE;
    }
    if (status != 0) {
        routing_snapshot_release(snapshot);
        return status;
    }
    *snapshot_out = snapshot;
    return 0;
}

/* --- heartbeats ---------------------------------------------------------------------- */

static size_t fill_targets(void *context, struct heartbeat_target_report *reports, size_t capacity)
{
    struct storage_node *node = context;
    size_t count = atomic_load(&node->target_count);
    for (size_t i = 0; i < count && i < capacity; i++) {
        struct storage_target *target = node->targets[i];
        struct chunk_engine_stats stats;
        chunk_engine_get_stats(target->engine, &stats);
        reports[i] = (struct heartbeat_target_report){
            .target_id = target->target_id, .disk_index = target->disk_index,
            .local_state = atomic_load(&target->local_state), .used_bytes = stats.used_bytes,
            .capacity_bytes = stats.capacity_bytes};
    }
    return count;
}

static void on_routing_version(void *context, uint64_t version)
{
    (void)version;
    storage_wake_maintenance(context);
}

static void on_config_version(void *context, uint64_t version)
{
    struct storage_node *node = context;
    (void)cluster_config_update(&node->cluster_config, version);
}

static void on_stop_serving(void *context)
{
    struct storage_node *node = context;
    log_error("lost contact with mgmtd for half the failure interval: stopping (a restart "
              "recovers the targets)");
    atomic_store(&node->shutting_down, true);
    /* Calls in flight (forwards, recovery, removals) end now instead of running into
     * their timeouts against peers this node may no longer reach: the stop that
     * follows would wait for them. */
    rpc_client_shutdown(node->rpc);
    kill(getpid(), SIGTERM); /* the daemon's graceful stop */
}

void storage_beat_now(struct storage_node *node)
{
    if (node->heartbeat)
        heartbeat_client_beat_now(node->heartbeat);
}

void storage_wake_maintenance(struct storage_node *node)
{
    pthread_mutex_lock(&node->lock);
    pthread_cond_signal(&node->wake);
    pthread_mutex_unlock(&node->lock);
}

static int start_heartbeats(struct storage_node *node)
{
    struct heartbeat_options options;
    heartbeat_client_default_options(&options);
    options.rpc = node->rpc;
    options.mgmtd_addresses = node->config->mgmtd;
    options.node_id = (uint32_t)node->config->node_id;
    options.node_type = NODE_TYPE_STORAGE;
    options.node_address = node->address;
    options.interval_ns = (uint64_t)node->config->heartbeat_interval * CLOCK_NS_PER_MS;
    options.fail_interval_ns = (uint64_t)node->config->heartbeat_fail_interval * CLOCK_NS_PER_MS;
    options.resume_after_loss = false;
    options.routing_version = routing_cache_version(node->routing);
    options.fill_targets = fill_targets;
    options.on_routing_version = on_routing_version;
    options.on_stop_serving = on_stop_serving;
    options.on_config_version = on_config_version;
    options.context = node;
    return heartbeat_client_start(&options, &node->heartbeat);
}

/* --- maintenance --------------------------------------------------------------------- */

/* Whether mgmtd has taken every target of ours that is in a chain out of service
 * (offline, or lastsrv when it was the last one serving): only then may a restarted
 * node heartbeat (DESIGN §5). Sets *in_chains when any target is in a chain. */
static bool targets_taken_offline(struct storage_node *node, const struct routing_info *info,
                                  bool *in_chains)
{
    *in_chains = false;
    bool all = true;
    size_t count = atomic_load(&node->target_count);
    for (size_t i = 0; i < count; i++) {
        const struct target_record *record = routing_info_target(info, node->targets[i]->target_id);
        if (record == NULL || record->chain_id == 0)
            continue;
        *in_chains = true;
        if (record->public_state != TARGET_PUBLIC_OFFLINE &&
            record->public_state != TARGET_PUBLIC_LASTSRV)
            all = false;
    }
    return all;
}

/* The start-up rule: returns true once heartbeats may start. */
static bool startup_ready(struct storage_node *node)
{
    struct routing_snapshot *snapshot = routing_cache_acquire(node->routing);
    if (snapshot == NULL)
        return false;
    bool in_chains;
    bool ready = targets_taken_offline(node, &snapshot->info, &in_chains);
    if (ready) {
        size_t count = atomic_load(&node->target_count);
        for (size_t i = 0; i < count; i++) {
            const struct target_record *record =
                routing_info_target(&snapshot->info, node->targets[i]->target_id);
            bool chained = record != NULL && record->chain_id != 0;
            atomic_store(&node->targets[i]->local_state,
                         chained ? TARGET_LOCAL_ONLINE : TARGET_LOCAL_UP_TO_DATE);
        }
        if (in_chains)
            log_info("mgmtd took this node's targets offline: heartbeating, they will recover");
    }
    routing_snapshot_release(snapshot);
    return ready;
}

/* Local states follow what mgmtd publishes: a serving target is up to date; one
 * taken offline (or lastsrv) while running has missed writes and must recover. */
static void follow_public_states(struct storage_node *node)
{
    struct routing_snapshot *snapshot = routing_cache_acquire(node->routing);
    if (snapshot == NULL)
        return;
    bool changed = false;
    size_t count = atomic_load(&node->target_count);
    for (size_t i = 0; i < count; i++) {
        struct storage_target *target = node->targets[i];
        const struct target_record *record = routing_info_target(&snapshot->info, target->target_id);
        uint8_t public_state = record ? record->public_state : 0;
        atomic_store(&target->public_state, record && record->chain_id ? public_state : 0);
        atomic_store(&target->chain_id, record ? record->chain_id : 0);
        if (record == NULL || record->chain_id == 0)
            continue;
        uint8_t local = atomic_load(&target->local_state);
        uint8_t wanted = local;
        if (public_state == TARGET_PUBLIC_SERVING)
            wanted = TARGET_LOCAL_UP_TO_DATE;
        else if (public_state == TARGET_PUBLIC_OFFLINE || public_state == TARGET_PUBLIC_LASTSRV)
            wanted = TARGET_LOCAL_ONLINE;
        if (wanted != local) {
            log_info("target %llu is %s: reporting %s", (unsigned long long)target->target_id,
                     target_public_state_name(public_state), target_local_state_name(wanted));
            atomic_store(&target->local_state, wanted);
            changed = true;
        }
    }
    routing_snapshot_release(snapshot);
    if (changed)
        storage_beat_now(node);
}

static void maintenance_wait(struct storage_node *node, uint64_t interval_ns)
{
    pthread_mutex_lock(&node->lock);
    if (!node->stopping) {
        struct timespec until = deadline_to_timespec(deadline_after_ns(interval_ns));
        pthread_cond_timedwait(&node->wake, &node->lock, &until);
    }
    pthread_mutex_unlock(&node->lock);
}

static bool stopping(struct storage_node *node)
{
    pthread_mutex_lock(&node->lock);
    bool value = node->stopping;
    pthread_mutex_unlock(&node->lock);
    return value;
}

static void *maintenance_loop(void *argument)
{
    struct storage_node *node = argument;
    uint64_t interval = (uint64_t)node->config->routing_interval * CLOCK_NS_PER_MS;
    bool waiting_logged = false;
    while (!stopping(node)) {
        int refreshed = routing_cache_refresh(node->routing);
        if (!node->heartbeat) {
            if (refreshed == 0 && startup_ready(node)) {
                int status = start_heartbeats(node);
                if (status != 0) {
                    log_error("cannot start heartbeats: %s", chainfs_error_message(status));
                    kill(getpid(), SIGTERM);
                    break;
                }
            } else if (!waiting_logged) {
                log_info("waiting until mgmtd takes this node's targets offline");
                waiting_logged = true;
            }
        } else if (heartbeat_client_serving(node->heartbeat)) {
            follow_public_states(node);
            storage_sync_pass(node);
        }
        maintenance_wait(node, interval);
    }
    return NULL;
}

/* --- the daemon ---------------------------------------------------------------------- */

static const struct rpc_method storage_methods[] = {
    {STORAGE_METHOD_WRITE, "write", storage_handle_write, RPC_DISPATCH_WORKER},
    {STORAGE_METHOD_UPDATE, "update", storage_handle_update, RPC_DISPATCH_WORKER},
    {STORAGE_METHOD_BATCH_READ, "batch_read", storage_handle_batch_read, RPC_DISPATCH_WORKER},
    {STORAGE_METHOD_QUERY_LAST_CHUNK, "query_last_chunk", storage_handle_last_chunk,
     RPC_DISPATCH_WORKER},
    {STORAGE_METHOD_REMOVE_CHUNKS, "remove_chunks", storage_handle_remove_chunks,
     RPC_DISPATCH_WORKER},
    {STORAGE_METHOD_TRUNCATE_CHUNK, "truncate_chunk", storage_handle_truncate, RPC_DISPATCH_WORKER},
    {STORAGE_METHOD_SPACE_INFO, "space_info", storage_handle_space_info, RPC_DISPATCH_WORKER},
    {STORAGE_METHOD_DUMP_CHUNKS, "dump_chunks", storage_handle_dump_chunks, RPC_DISPATCH_WORKER},
    {STORAGE_METHOD_CREATE_TARGET, "create_target", storage_handle_create_target,
     RPC_DISPATCH_WORKER},
    {STORAGE_METHOD_SYNC_DONE, "sync_done", storage_handle_sync_done, RPC_DISPATCH_WORKER},
    {STORAGE_METHOD_REMOVE_LISTED, "remove_listed", storage_handle_remove_listed,
     RPC_DISPATCH_WORKER},
};

static int split_disks(struct storage_node *node, const char *list)
{
    char *copy = strdup(list);
    if (copy == NULL)
        return CHAINFS_NO_MEMORY;
    char *save = NULL;
    for (char *part = strtok_r(copy, ",", &save); part; part = strtok_r(NULL, ",", &save)) {
        if (node->disk_count == STORAGE_DISKS_MAX || strlen(part) + 32 >= STORAGE_PATH_MAX) {
            free(copy);
            return CHAINFS_CONFIG;
        }
        node->disks[node->disk_count++] = strdup(part);
    }
    free(copy);
    return node->disk_count ? 0 : CHAINFS_CONFIG;
}

static void storage_stop(void *state);

static int storage_start(struct rpc_server *server, const void *config_pointer, void **result)
{
    const struct storage_config *config = config_pointer;
    struct storage_node *node = calloc(1, sizeof *node);
    if (node == NULL)
        return CHAINFS_NO_MEMORY;
    *result = node;
    node->config = config;
    pthread_mutex_init(&node->targets_lock, NULL);
    pthread_mutex_init(&node->lock, NULL);
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&node->wake, &attributes);
    pthread_condattr_destroy(&attributes);
    int status = 0;
    if (config->mgmtd == NULL || config->mgmtd[0] == 0) {
        log_error("[storage] mgmtd is required");
        status = CHAINFS_CONFIG;
    } else if (config->heartbeat_fail_interval <= 2 * config->heartbeat_interval) {
        log_error("[storage] heartbeat_fail_interval must exceed 2 x heartbeat_interval");
        status = CHAINFS_CONFIG;
    } else if (split_disks(node, config->disks ? config->disks : "") != 0) {
        log_error("[storage] disks must list 1 to %d directories", STORAGE_DISKS_MAX);
        status = CHAINFS_CONFIG;
    }
    struct rpc_client_options client_options;
    rpc_client_default_options(&client_options);
    client_options.name = "storage-client";
    if (status == 0)
        status = rpc_client_create(&client_options, &node->rpc);
    if (status == 0)
        status = cluster_config_init(&node->cluster_config, node->rpc, config->mgmtd,
                                     NODE_TYPE_STORAGE);
    node->cluster_config_ready = status == 0;
    if (status == 0)
        status = worker_pool_create("storage-io", (size_t)config->io_threads, &node->io_pool);
    if (status == 0)
        status = write_dedup_create(&node->dedup);
    struct routing_cache_options routing_options = {
        .rpc = node->rpc, .mgmtd_addresses = config->mgmtd,
        .refresh_interval_ns = (uint64_t)config->routing_interval * CLOCK_NS_PER_MS};
    if (status == 0)
        status = routing_cache_create(&routing_options, &node->routing);
    if (status == 0)
        status = open_existing_targets(node);
    if (status != 0) {
        storage_stop(node); /* the daemon calls stop only after a successful start */
        *result = NULL;
        return status;
    }
    node->service = (struct rpc_service){STORAGE_SERVICE_ID, "storage", storage_methods,
                                         sizeof storage_methods / sizeof storage_methods[0], node};
    return rpc_server_register(server, &node->service);
}

static int storage_started(void *state, const char *address)
{
    struct storage_node *node = state;
    snprintf(node->address, sizeof node->address, "%s", address);
    if (pthread_create(&node->maintenance, NULL, maintenance_loop, node) != 0)
        return CHAINFS_NO_MEMORY;
    node->maintenance_started = true;
    return 0;
}

static void storage_stop(void *state)
{
    struct storage_node *node = state;
    if (node == NULL)
        return;
    atomic_store(&node->shutting_down, true);
    pthread_mutex_lock(&node->lock);
    node->stopping = true;
    pthread_cond_broadcast(&node->wake);
    pthread_mutex_unlock(&node->lock);
    /* past the server's drain: what is still calling out (recovery, heartbeats) ends */
    if (node->rpc)
        rpc_client_shutdown(node->rpc);
    if (node->maintenance_started)
        pthread_join(node->maintenance, NULL);
    heartbeat_client_stop(node->heartbeat);
    /* Writes still in flight after the server's drain finish on the I/O pool without
     * refreshing routing (shutting_down), so: no more refreshes, then the RPC client
     * (its calls complete and queue their continuations), then the pool runs them,
     * and only then do snapshots go. */
    if (node->routing)
        routing_cache_stop(node->routing);
    if (node->rpc)
        rpc_client_destroy(node->rpc);
    if (node->io_pool)
        worker_pool_destroy(node->io_pool);
    routing_cache_destroy(node->routing);
    size_t count = atomic_load(&node->target_count);
    for (size_t i = 0; i < count; i++)
        target_close(node->targets[i]);
    write_dedup_destroy(node->dedup);
    if (node->cluster_config_ready)
        cluster_config_destroy(&node->cluster_config);
    for (size_t i = 0; i < node->disk_count; i++)
        free(node->disks[i]);
    pthread_cond_destroy(&node->wake);
    pthread_mutex_destroy(&node->lock);
    pthread_mutex_destroy(&node->targets_lock);
    free(node);
}

#define STORAGE_SETTING(key, type, default_value, field, min, max, description)              \
    {"storage", key, type, default_value, description, offsetof(struct storage_config, field), \
     min, max}

static const struct config_setting storage_settings[] = {
    STORAGE_SETTING("node_id", CONFIG_TYPE_INT, "1", node_id, 1, UINT32_MAX,
                    "this storage node's id, unique in the cluster"),
    STORAGE_SETTING("mgmtd", CONFIG_TYPE_STRING, "", mgmtd, 0, 0,
                    "mgmtd addresses, host:port[,host:port...]"),
    STORAGE_SETTING("disks", CONFIG_TYPE_STRING, "", disks, 0, 0,
                    "comma list of directories holding target-<id> directories"),
    STORAGE_SETTING("target_capacity", CONFIG_TYPE_SIZE, "0", target_capacity, 0, INT64_MAX,
                    "bytes each target may allocate (0: unlimited)"),
    STORAGE_SETTING("grow_step", CONFIG_TYPE_SIZE, "256MiB", grow_step, 1 << 20, 64ll << 30,
                    "block files of a size class grow by at least this (fallocate)"),
    STORAGE_SETTING("chunk_size_limit", CONFIG_TYPE_SIZE, "64MiB", chunk_size_limit, 65536,
                    64ll << 20, "the largest chunk a target stores"),
    STORAGE_SETTING("sync", CONFIG_TYPE_BOOL, "true", sync, 0, 0,
                    "fdatasync before acknowledging (false: safe against process crashes only)"),
    STORAGE_SETTING("heartbeat_interval", CONFIG_TYPE_DURATION, "10s", heartbeat_interval, 10,
                    3600000, "time between heartbeats to mgmtd"),
    STORAGE_SETTING("heartbeat_fail_interval", CONFIG_TYPE_DURATION, "60s",
                    heartbeat_fail_interval, 100, 3600000,
                    "mgmtd's heartbeat_fail_interval: stop serving after half of it without beats"),
    STORAGE_SETTING("routing_interval", CONFIG_TYPE_DURATION, "1s", routing_interval, 10, 600000,
                    "routing refresh and maintenance period"),
    STORAGE_SETTING("io_threads", CONFIG_TYPE_INT, "8", io_threads, 1, 256,
                    "threads for write continuations (commits after acknowledgements)"),
};

static const struct config_schema storage_schema = {
    "storage", storage_settings, sizeof storage_settings / sizeof storage_settings[0]};

static const struct config_part storage_config_parts[] = {
    {&storage_schema, 0},
};

const struct daemon_service storage_daemon_service = {
    .component = "storage",
    .summary = "A storage node: chunk engines of its targets, CRAQ replication, recovery.",
    .config_parts = storage_config_parts,
    .config_part_count = 1,
    .config_size = sizeof(struct storage_config),
    .start = storage_start,
    .started = storage_started,
    .stop = storage_stop,
};
