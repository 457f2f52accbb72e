/*
 * cluster_backend.c - the client_backend of a real cluster: metadata operations
 * through the meta client (any meta server, failover, idempotent retries), chunk I/O
 * through the storage client (per-target batching, retries), both over the client's
 * rpc_client, routed by a routing_cache kept fresh from mgmtd.
 *
 * Calls that do not depend on who asks (stat by id, sessions, length reports) go with
 * root credentials: the kernel (or the caller) already checked the path to the inode,
 * and a write session is authorised by the open that created it.
 */
#include <stdlib.h>
#include <string.h>

#define LOG_COMPONENT "client"
#include "client/client_internal.h"
#include "client/meta_client.h"
#include "client/storage_client.h"
#include "common/clock.h"
#include "common/log.h"
#include "meta/file_layout.h"
#include "meta/meta_protocol.h"
#include "mgmtd/routing_cache.h"

#define ROUTING_REFRESH_NS (5 * CLOCK_NS_PER_S)

struct cluster_backend {
    struct routing_cache *routing;
    struct meta_client *meta;
    struct storage_client *storage;
    uint64_t timeout_ns;
    uint32_t chunk_size; /* root's default, for statfs */
};

static const struct meta_credentials root_credentials = {0};

/* Points the meta client at the live meta servers of the newest routing info. */
static int use_meta_servers(struct cluster_backend *cluster, bool refresh)
{
    if (refresh)
        routing_cache_refresh(cluster->routing);
    struct routing_snapshot *snapshot = routing_cache_acquire(cluster->routing);
    if (!snapshot)
        return CHAINFS_UNAVAILABLE;
    int status = meta_client_use_routing(cluster->meta, &snapshot->info);
    routing_snapshot_release(snapshot);
    return status == CHAINFS_NOT_FOUND ? CHAINFS_UNAVAILABLE : status;
}

/* Whether a meta call failed for want of a server (the list may be stale). */
static bool server_lost(int status)
{
    return status == CHAINFS_CONNECT_FAILED || status == CHAINFS_DISCONNECTED ||
           status == CHAINFS_TIMEOUT || status == CHAINFS_SHUTTING_DOWN;
}

/* Runs a meta call; once more on a fresh server list if every server failed. */
#define META_CALL(cluster, call)                                                           \
    ({                                                                                     \
        int status_ = (call);                                                              \
        if (server_lost(status_) && use_meta_servers((cluster), true) == 0)                \
            status_ = (call);                                                              \
        status_;                                                                           \
    })

static int cluster_stat(void *context, uint64_t inode_id, struct inode *inode)
{
    struct cluster_backend *cluster = context;
    return META_CALL(cluster, meta_client_stat(cluster->meta, &root_credentials, inode_id, inode));
}

static int cluster_lookup(void *context, const struct meta_credentials *credentials,
                          uint64_t parent_id, const char *name, struct inode *inode)
{
    struct cluster_backend *cluster = context;
    return META_CALL(cluster, meta_client_lookup(cluster->meta, credentials, parent_id, name, inode));
}

static int cluster_resolve(void *context, const struct meta_credentials *credentials,
                           const char *path, bool follow_last, struct inode *inode)
{
    struct cluster_backend *cluster = context;
    return META_CALL(cluster, meta_client_stat_path(cluster->meta, credentials, path, follow_last,
                                                    inode));
}

static int cluster_create(void *context, const struct meta_credentials *credentials,
                          uint64_t parent_id, const char *name, uint32_t mode, unsigned flags,
                          uint64_t session_id, struct inode *inode)
{
    struct cluster_backend *cluster = context;
    return META_CALL(cluster, meta_client_create_file(cluster->meta, credentials, parent_id, name,
                                                      mode, flags, session_id, inode));
}

static int cluster_mkdir(void *context, const struct meta_credentials *credentials,
                         uint64_t parent_id, const char *name, uint32_t mode, struct inode *inode)
{
    struct cluster_backend *cluster = context;
    return META_CALL(cluster, meta_client_mkdir(cluster->meta, credentials, parent_id, name, mode,
                                                inode));
}

static int cluster_symlink(void *context, const struct meta_credentials *credentials,
                           uint64_t parent_id, const char *name, const char *target,
                           struct inode *inode)
{
    struct cluster_backend *cluster = context;
    return META_CALL(cluster, meta_client_symlink(cluster->meta, credentials, parent_id, name,
                                                  target, inode));
}

static int cluster_link(void *context, const struct meta_credentials *credentials,
                        uint64_t inode_id, uint64_t new_parent_id, const char *new_name,
                        struct inode *inode)
{
    struct cluster_backend *cluster = context;
    return META_CALL(cluster, meta_client_link(cluster->meta, credentials, inode_id, new_parent_id,
                                               new_name, inode));
}

static int cluster_unlink(void *context, const struct meta_credentials *credentials,
                          uint64_t parent_id, const char *name)
{
    struct cluster_backend *cluster = context;
    return META_CALL(cluster, meta_client_unlink(cluster->meta, credentials, parent_id, name));
}

static int cluster_rmdir(void *context, const struct meta_credentials *credentials,
                         uint64_t parent_id, const char *name)
{
    struct cluster_backend *cluster = context;
    return META_CALL(cluster, meta_client_rmdir(cluster->meta, credentials, parent_id, name));
}

static int cluster_remove_recursive(void *context, const struct meta_credentials *credentials,
                                    uint64_t parent_id, const char *name)
{
    struct cluster_backend *cluster = context;
    return META_CALL(cluster, meta_client_remove_tree(cluster->meta, credentials, parent_id, name,
                                                      NULL));
}

static int cluster_rename(void *context, const struct meta_credentials *credentials,
                          uint64_t from_parent_id, const char *from_name, uint64_t to_parent_id,
                          const char *to_name, unsigned flags)
{
    struct cluster_backend *cluster = context;
    return META_CALL(cluster, meta_client_rename(cluster->meta, credentials, from_parent_id,
                                                 from_name, to_parent_id, to_name, flags));
}

static int cluster_readdir(void *context, const struct meta_credentials *credentials,
                           uint64_t directory_id, const char *after,
                           struct meta_directory_entry *entries, struct inode *attributes,
                           size_t capacity, size_t *count, bool *more)
{
    struct cluster_backend *cluster = context;
    if (capacity > META_BATCH_MAX)
        capacity = META_BATCH_MAX;
    int status = META_CALL(cluster, meta_client_readdir(cluster->meta, credentials, directory_id,
                                                        after, entries, attributes, capacity,
                                                        count, more));
    return status;
}

static int cluster_setattr(void *context, const struct meta_credentials *credentials,
                           uint64_t inode_id, const struct meta_setattr *changes,
                           struct inode *inode)
{
    struct cluster_backend *cluster = context;
    return META_CALL(cluster, meta_client_setattr(cluster->meta, credentials, inode_id, changes,
                                                  inode));
}

static int cluster_open(void *context, const struct meta_credentials *credentials,
                        uint64_t inode_id, unsigned mode, uint64_t session_id, struct inode *inode)
{
    struct cluster_backend *cluster = context;
    return META_CALL(cluster, meta_client_open(cluster->meta, credentials, inode_id, mode,
                                               session_id, inode));
}

static int cluster_report_length(void *context, uint64_t inode_id, uint64_t session_id,
                                 uint64_t length, uint64_t truncate_version)
{
    struct cluster_backend *cluster = context;
    struct inode inode;
    return META_CALL(cluster, meta_client_report_length(cluster->meta, &root_credentials, inode_id,
                                                        session_id, length, truncate_version,
                                                        &inode));
}

static int cluster_close(void *context, uint64_t inode_id, uint64_t session_id, uint64_t length,
                         uint64_t truncate_version)
{
    struct cluster_backend *cluster = context;
    struct inode inode;
    return META_CALL(cluster, meta_client_close(cluster->meta, &root_credentials, inode_id,
                                                session_id, META_CLOSE_LENGTH, length,
                                                truncate_version, &inode));
}

static int cluster_statfs(void *context, struct chainfs_statfs *statfs)
{
    struct cluster_backend *cluster = context;
    struct meta_statfs figures;
    int status = META_CALL(cluster, meta_client_statfs(cluster->meta, &root_credentials, &figures));
    if (status != 0)
        return status;
    statfs->capacity_bytes = figures.capacity_bytes;
    statfs->used_bytes = figures.used_bytes;
    statfs->free_bytes = figures.free_bytes;
    statfs->chunk_size = cluster->chunk_size;
    return 0;
}

static void cluster_destroy_meta(void *context) { (void)context; /* with the storage half */ }

static const struct client_meta_ops cluster_meta_ops = {
    .stat = cluster_stat,
    .lookup = cluster_lookup,
    .resolve = cluster_resolve,
    .create = cluster_create,
    .mkdir = cluster_mkdir,
    .symlink = cluster_symlink,
    .link = cluster_link,
    .unlink = cluster_unlink,
    .rmdir = cluster_rmdir,
    .remove_recursive = cluster_remove_recursive,
    .rename = cluster_rename,
    .readdir = cluster_readdir,
    .setattr = cluster_setattr,
    .open = cluster_open,
    .report_length = cluster_report_length,
    .close = cluster_close,
    .statfs = cluster_statfs,
    .destroy = cluster_destroy_meta,
};

/* Table (id, version) in the snapshot, or NULL. Version 0 (a layout made before
 * the table existed) stands for the newest version, as meta reads it. */
static const struct chain_table_record *find_table(const struct routing_info *info, uint32_t table_id,
                                                   uint32_t version)
{
    const struct chain_table_record *best = NULL;
    for (size_t i = 0; i < info->table_count; i++) {
        const struct chain_table_record *table = &info->tables[i];
        if (table->table_id != table_id || (version && table->version != version))
            continue;
        if (!best || table->version > best->version)
            best = table;
    }
    return best;
}

static int stripe_from_snapshot(struct cluster_backend *cluster, const struct file_layout *layout,
                                uint32_t *chain_ids, uint32_t *width)
{
    struct routing_snapshot *snapshot = routing_cache_acquire(cluster->routing);
    if (!snapshot)
        return CHAINFS_UNAVAILABLE;
    const struct chain_table_record *table =
        find_table(&snapshot->info, layout->table_id, layout->table_version);
    int status = CHAINFS_NOT_FOUND;
    if (table) {
        *width = file_layout_stripe_width(layout, table->chain_count);
        status = file_layout_stripe_chains(layout, table->chain_ids, table->chain_count, chain_ids);
    }
    routing_snapshot_release(snapshot);
    return status;
}

static int cluster_resolve_stripe(void *context, const struct file_layout *layout,
                                  uint32_t *chain_ids, uint32_t *width)
{
    struct cluster_backend *cluster = context;
    int status = stripe_from_snapshot(cluster, layout, chain_ids, width);
    if (status == CHAINFS_NOT_FOUND || status == CHAINFS_UNAVAILABLE) {
        /* a table uploaded since our last refresh */
        routing_cache_refresh(cluster->routing);
        status = stripe_from_snapshot(cluster, layout, chain_ids, width);
    }
    if (status == CHAINFS_NOT_FOUND)
        log_error("chain table %u version %u of a file is not in the routing info",
                  layout->table_id, layout->table_version);
    return status;
}

/* storage_io of each piece (the storage client's view of the same request). */
static struct storage_io *storage_ios(const struct chunk_io *pieces, size_t count)
{
    struct storage_io *ios = calloc(count, sizeof(*ios));
    for (size_t i = 0; ios && i < count; i++)
        ios[i] = (struct storage_io){
            .chain_id = pieces[i].chain_id,
            .chunk_id = chunk_id_make(pieces[i].inode_id, pieces[i].chunk_index),
            .chunk_size = pieces[i].chunk_size,
            .offset = pieces[i].offset,
            .length = pieces[i].length,
            .buffer = pieces[i].buffer,
        };
    return ios;
}

static int run_storage(struct cluster_backend *cluster, struct chunk_io *pieces, size_t count,
                       bool write)
{
    struct storage_io *ios = storage_ios(pieces, count);
    if (!ios)
        return CHAINFS_NO_MEMORY;
    uint64_t deadline = deadline_after_ns(cluster->timeout_ns);
    int status = write ? storage_client_write(cluster->storage, ios, count, deadline)
                       : storage_client_read(cluster->storage, ios, count, deadline);
    for (size_t i = 0; i < count; i++) {
        pieces[i].status = ios[i].status;
        pieces[i].done = ios[i].status == 0 ? ios[i].bytes_done : 0;
    }
    free(ios);
    return status;
}

/* The storage service refuses a read that starts past a chunk's end (INVALID_ARGUMENT)
 * where a file read wants "nothing there": such a piece is read again from the chunk's
 * start, and whatever lies past the piece's offset is its content (none: a hole). */
static int reread_from_chunk_start(struct cluster_backend *cluster, struct chunk_io *piece)
{
    uint32_t span = piece->offset + piece->length;
    uint8_t *whole = malloc(span);
    if (!whole)
        return CHAINFS_NO_MEMORY;
    struct chunk_io from_start = *piece;
    from_start.offset = 0;
    from_start.length = span;
    from_start.buffer = whole;
    int status = run_storage(cluster, &from_start, 1, false);
    if (status == 0) {
        uint32_t past = from_start.done > piece->offset ? from_start.done - piece->offset : 0;
        memcpy(piece->buffer, whole + piece->offset, past);
        piece->done = past;
        piece->status = 0;
    }
    free(whole);
    return status;
}

static int cluster_read(void *context, struct chunk_io *pieces, size_t count)
{
    struct cluster_backend *cluster = context;
    int status = run_storage(cluster, pieces, count, false);
    if (status != CHAINFS_INVALID_ARGUMENT)
        return status;
    status = 0;
    for (size_t i = 0; i < count; i++) {
        if (pieces[i].status == CHAINFS_INVALID_ARGUMENT && pieces[i].offset > 0)
            pieces[i].status = reread_from_chunk_start(cluster, &pieces[i]);
        if (pieces[i].status != 0 && status == 0)
            status = pieces[i].status;
    }
    return status;
}

static int cluster_write(void *context, struct chunk_io *pieces, size_t count)
{
    return run_storage(context, pieces, count, true);
}

static int cluster_remove_chunks(void *context, uint32_t chain_id, uint64_t inode_id,
                                 uint64_t first_index)
{
    struct cluster_backend *cluster = context;
    return storage_client_remove_chunks(cluster->storage, chain_id, inode_id, first_index,
                                        UINT64_MAX, deadline_after_ns(cluster->timeout_ns), NULL);
}

static int cluster_truncate_chunk(void *context, uint32_t chain_id, uint64_t inode_id,
                                  uint64_t chunk_index, uint32_t length, uint32_t chunk_size)
{
    struct cluster_backend *cluster = context;
    struct chunk_id id = chunk_id_make(inode_id, chunk_index);
    struct storage_last_chunk_reply last;
    /* cut only a chunk that is longer: truncating zero-extends a shorter one (and
     * would create a missing one), which a hole already reads as */
    int status = storage_client_query_last_chunk(cluster->storage, chain_id, inode_id,
                                                 deadline_after_ns(cluster->timeout_ns), &last);
    if (status != 0)
        return status;
    if (!last.found || last.index < chunk_index)
        return 0;
    return storage_client_truncate_chunk(cluster->storage, chain_id, &id, length, chunk_size,
                                         deadline_after_ns(cluster->timeout_ns), NULL);
}

static void cluster_destroy(void *context)
{
    struct cluster_backend *cluster = context;
    storage_client_destroy(cluster->storage);
    meta_client_destroy(cluster->meta);
    routing_cache_destroy(cluster->routing);
    free(cluster);
}

static const struct client_storage_ops cluster_storage_ops = {
    .resolve_stripe = cluster_resolve_stripe,
    .read = cluster_read,
    .write = cluster_write,
    .remove_chunks = cluster_remove_chunks,
    .truncate_chunk = cluster_truncate_chunk,
    .destroy = cluster_destroy,
};

static int create_parts(struct chainfs_client *client, struct cluster_backend *cluster)
{
    struct routing_cache_options routing = {.rpc = client->rpc,
                                            .mgmtd_addresses = client->options.mgmtd_addresses,
                                            .refresh_interval_ns = ROUTING_REFRESH_NS,
                                            .call_timeout_ns = client->options.call_timeout_ns};
    int status = routing_cache_create(&routing, &cluster->routing);
    if (status != 0)
        return status;
    status = routing_cache_refresh(cluster->routing);
    if (status != 0) {
        log_error("no routing info from mgmtd %s: %s", client->options.mgmtd_addresses,
                  chainfs_error_message(status));
        return status;
    }
    struct meta_client_options meta = {.rpc = client->rpc, .client_id = client->client_id,
                                       .timeout_ns = client->options.call_timeout_ns};
    status = meta_client_create(&meta, &cluster->meta);
    if (status == 0)
        status = use_meta_servers(cluster, false);
    if (status != 0) {
        log_error("no meta server: %s", chainfs_error_message(status));
        return status;
    }
    struct storage_client_options storage;
    storage_client_default_options(&storage);
    storage.default_timeout_ns = client->options.call_timeout_ns;
    return storage_client_create(&storage, client->rpc, cluster->routing, &cluster->storage);
}

int cluster_backend_open(struct chainfs_client *client)
{
    struct cluster_backend *cluster = calloc(1, sizeof(*cluster));
    if (!cluster)
        return CHAINFS_NO_MEMORY;
    cluster->timeout_ns = client->options.call_timeout_ns;
    int status = create_parts(client, cluster);
    struct inode root;
    if (status == 0)
        status = meta_client_stat(cluster->meta, &root_credentials, META_ROOT_ID, &root);
    if (status != 0) {
        cluster_destroy(cluster);
        return status;
    }
    cluster->chunk_size = root.layout.chunk_size;
    client->backend = (struct client_backend){&cluster_meta_ops, cluster, &cluster_storage_ops,
                                              cluster};
    return 0;
}
