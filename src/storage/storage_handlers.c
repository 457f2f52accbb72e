/*
 * storage_handlers.c - the storage methods besides the write pipeline: batched
 * reads, last chunk of a file, space info and recovery progress, chunk metadata
 * dumps, target creation, sync-done (removals: storage_remove.c).
 */
#define LOG_COMPONENT "storage"
#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"
#include "common/aligned_buffer.h"
#include "common/clock.h"
#include "common/log.h"
#include "mgmtd/target_state.h"
#include "storage/storage_internal.h"

int storage_call(struct storage_node *node, const char *address, uint16_t method,
                 const struct wire_writer *message, const void *payload, size_t payload_length,
                 uint64_t timeout_ns, struct rpc_call *call)
{
    rpc_call_init(call, STORAGE_SERVICE_ID, method);
    call->message = message->data;
    call->message_length = message->length;
    call->payload = payload;
    call->payload_length = payload_length;
    call->timeout_ns = timeout_ns;
    return rpc_call_sync(node->rpc, address, call);
}

/* Decodes the message with decode or answers MALFORMED; true when decoded. */
#define DECODE_OR_FAIL(request, decode, out)                                                  \
    ({                                                                                        \
        struct wire_reader reader_;                                                           \
        wire_reader_init(&reader_, (request)->message, (request)->message_length);            \
        bool ok_ = decode(&reader_, out) && (request)->payload_length == 0;                   \
        if (!ok_)                                                                             \
            rpc_request_fail((request), CHAINFS_MALFORMED, "malformed %s", #decode);          \
        ok_;                                                                                  \
    })

/* The local target a request names, when routing lets it serve the operation;
 * otherwise answers the request and returns NULL. */
static struct storage_target *route_or_fail(struct rpc_request *request, uint64_t target_id,
                                            uint32_t chain_id, uint64_t chain_version,
                                            bool for_write)
{
    struct storage_target *target;
    struct routing_snapshot *snapshot;
    int status = storage_check_route(request->service_context, target_id, chain_id, chain_version,
                                     for_write, &target, &snapshot);
    routing_snapshot_release(snapshot);
    if (status == 0)
        return target;
    rpc_request_fail(request, status, "target %llu does not %s chain %u version %llu",
                     (unsigned long long)target_id, for_write ? "take writes of" : "serve",
                     chain_id, (unsigned long long)chain_version);
    return NULL;
}

/* --- BATCH_READ ---------------------------------------------------------------------- */

static void read_item(struct storage_node *node, const struct storage_read_item *item,
                      uint8_t *destination, struct storage_read_result *result)
{
    struct storage_target *target;
    struct routing_snapshot *snapshot;
    int status = storage_check_route(node, item->target_id, item->chain_id, 0, false, &target,
                                     &snapshot);
    routing_snapshot_release(snapshot);
    struct chunk_read_result read;
    memset(&read, 0, sizeof read);
    if (status == 0) {
        unsigned flags = item->flags & STORAGE_READ_RELAXED ? CHUNK_READ_PENDING : 0;
        status = chunk_engine_read(target->engine, &item->chunk_id, item->offset, item->length,
                                   destination, flags, &read);
        if (status == 0 && read.pending_version != 0 && flags == 0)
            status = CHAINFS_NOT_COMMITTED;
    }
    if (status != 0) {
        memset(destination, 0, item->length);
        *result = (struct storage_read_result){.status = (uint32_t)status};
        return;
    }
    *result = (struct storage_read_result){0, (uint32_t)read.bytes_read, read.version,
                                           read.chunk_length, read.crc};
}

/* The reply payload of a batch read. O_DIRECT-aligned and recycled (aligned_buffer.h):
 * items of whole 4 KiB blocks then read from disk straight into it, without the
 * bounce buffer and copy a plain malloc'ed buffer needed, and a 1 MiB reply does not
 * fault in fresh pages each time. */
struct read_buffer {
    size_t size;
    uint8_t *bytes;
};

static struct read_buffer *read_buffer_alloc(uint64_t size)
{
    struct read_buffer *buffer = malloc(sizeof *buffer);
    if (buffer == NULL)
        return NULL;
    buffer->size = size ? (size_t)size : 1;
    buffer->bytes = aligned_buffer_alloc(buffer->size);
    if (buffer->bytes == NULL) {
        free(buffer);
        return NULL;
    }
    return buffer;
}

static void read_buffer_release(void *argument)
{
    struct read_buffer *buffer = argument;
    if (buffer == NULL)
        return;
    aligned_buffer_free(buffer->bytes, buffer->size);
    free(buffer);
}

void storage_handle_batch_read(struct rpc_request *request)
{
    struct storage_node *node = request->service_context;
    struct storage_read_item *items = NULL;
    size_t count = 0;
    struct wire_reader reader;
    wire_reader_init(&reader, request->message, request->message_length);
    if (!storage_batch_read_request_decode(&reader, (uint64_t)node->config->daemon.max_payload,
                                           &items, &count) ||
        request->payload_length != 0) {
        free(items);
        rpc_request_fail(request, CHAINFS_MALFORMED,
                         "malformed batch read (1 to %u items, at most %lld bytes in all)",
                         STORAGE_BATCH_READ_ITEMS_MAX, (long long)node->config->daemon.max_payload);
        return;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < count; i++)
        total += items[i].length;
    struct read_buffer *data = read_buffer_alloc(total);
    struct storage_read_result *results = calloc(count, sizeof *results);
    if (data == NULL || results == NULL) {
        free(items);
        read_buffer_release(data);
        free(results);
        rpc_request_reply(request, CHAINFS_NO_MEMORY);
        return;
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < count; i++) {
        read_item(node, &items[i], data->bytes + offset, &results[i]);
        offset += items[i].length;
    }
    storage_batch_read_reply_encode(&request->reply, results, count);
    free(items);
    free(results);
    rpc_request_set_reply_payload(request, data->bytes, total, read_buffer_release, data);
    rpc_request_reply(request, 0);
}

/* --- QUERY_LAST_CHUNK ---------------------------------------------------------------- */

void storage_handle_last_chunk(struct rpc_request *request)
{
    struct storage_last_chunk_request m;
    if (!DECODE_OR_FAIL(request, storage_last_chunk_request_decode, &m))
        return;
    struct storage_target *target = route_or_fail(request, m.target_id, m.chain_id, 0, false);
    if (target == NULL)
        return;
    struct chunk_metadata metadata;
    struct storage_last_chunk_reply reply = {.found = false};
    int status = chunk_engine_last_chunk(target->engine, m.inode, &metadata);
    if (status == 0)
        reply = (struct storage_last_chunk_reply){
            true, chunk_id_index(&metadata.id), metadata.committed.length,
            metadata.committed.version, chunk_metadata_has_pending(&metadata)};
    else if (status != CHAINFS_NOT_FOUND) {
        rpc_request_reply(request, status);
        return;
    }
    storage_last_chunk_reply_encode(&request->reply, &reply);
    rpc_request_reply(request, 0);
}

/* --- SPACE_INFO ---------------------------------------------------------------------- */

void storage_handle_space_info(struct rpc_request *request)
{
    struct storage_node *node = request->service_context;
    if (request->message_length != 0 || request->payload_length != 0) {
        rpc_request_fail(request, CHAINFS_MALFORMED, "space info takes no arguments");
        return;
    }
    size_t count = atomic_load(&node->target_count);
    struct storage_target_info *infos = calloc(count ? count : 1, sizeof *infos);
    if (infos == NULL) {
        rpc_request_reply(request, CHAINFS_NO_MEMORY);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        struct storage_target *t = node->targets[i];
        struct chunk_engine_stats stats;
        chunk_engine_get_stats(t->engine, &stats);
        infos[i] = (struct storage_target_info){
            .target_id = t->target_id, .disk_index = t->disk_index,
            .chain_id = atomic_load(&t->chain_id), .local_state = atomic_load(&t->local_state),
            .public_state = atomic_load(&t->public_state), .used_bytes = stats.used_bytes,
            .capacity_bytes = stats.capacity_bytes, .chunks = stats.chunks,
            .pending_chunks = stats.pending_chunks, .sync_active = atomic_load(&t->sync_active),
            .sync_chunks_transferred = atomic_load(&t->sync_chunks_transferred),
            .sync_chunks_removed = atomic_load(&t->sync_chunks_removed),
            .sync_bytes_transferred = atomic_load(&t->sync_bytes_transferred),
            .sync_rounds_completed = atomic_load(&t->sync_rounds_completed)};
    }
    storage_space_info_reply_encode(&request->reply, infos, count);
    free(infos);
    rpc_request_reply(request, 0);
}

/* --- DUMP_CHUNKS --------------------------------------------------------------------- */

static struct storage_chunk_version version_of(const struct chunk_version *version)
{
    return (struct storage_chunk_version){version->version, version->chain_version,
                                          version->length, version->crc};
}

void storage_chunk_record_from(const struct chunk_metadata *metadata,
                               struct storage_chunk_record *record)
{
    record->chunk_id = metadata->id;
    record->committed = version_of(&metadata->committed);
    record->pending = version_of(&metadata->pending);
}

void storage_handle_dump_chunks(struct rpc_request *request)
{
    struct storage_dump_request m;
    if (!DECODE_OR_FAIL(request, storage_dump_request_decode, &m))
        return;
    struct storage_node *node = request->service_context;
    struct storage_target *target = storage_find_target(node, m.target_id);
    if (target == NULL) {
        rpc_request_fail(request, CHAINFS_NOT_FOUND, "no target %llu here",
                         (unsigned long long)m.target_id);
        return;
    }
    struct chunk_metadata *all = NULL;
    size_t count = 0;
    int status = chunk_engine_dump(target->engine, &all, &count);
    if (status != 0) {
        rpc_request_reply(request, status);
        return;
    }
    size_t first = 0;
    while (m.has_after && first < count && chunk_id_compare(&all[first].id, &m.after) <= 0)
        first++;
    size_t page = count - first < m.max_records ? count - first : m.max_records;
    struct storage_chunk_record *records = calloc(page ? page : 1, sizeof *records);
    if (records == NULL) {
        free(all);
        rpc_request_reply(request, CHAINFS_NO_MEMORY);
        return;
    }
    for (size_t i = 0; i < page; i++)
        storage_chunk_record_from(&all[first + i], &records[i]);
    storage_dump_reply_encode(&request->reply, records, page, first + page < count);
    free(records);
    free(all);
    rpc_request_reply(request, 0);
}

/* --- CREATE_TARGET, SYNC_DONE -------------------------------------------------------- */

void storage_handle_create_target(struct rpc_request *request)
{
    struct storage_create_target_request m;
    if (!DECODE_OR_FAIL(request, storage_create_target_request_decode, &m))
        return;
    struct storage_node *node = request->service_context;
    if (m.disk_index >= node->disk_count) {
        rpc_request_fail(request, CHAINFS_INVALID_ARGUMENT, "disk index %u: this node has %zu disks",
                         m.disk_index, node->disk_count);
        return;
    }
    bool created = false;
    int status = storage_add_target(node, m.target_id, m.disk_index, &created);
    if (status == CHAINFS_EXISTS) {
        rpc_request_fail(request, status, "target %llu exists on another disk",
                         (unsigned long long)m.target_id);
        return;
    }
    if (status != 0) {
        rpc_request_reply(request, status);
        return;
    }
    if (created)
        storage_beat_now(node);
    wire_put_bool(&request->reply, created);
    rpc_request_reply(request, 0);
}

void storage_handle_sync_done(struct rpc_request *request)
{
    struct storage_sync_done_request m;
    if (!DECODE_OR_FAIL(request, storage_sync_done_request_decode, &m))
        return;
    struct storage_node *node = request->service_context;
    struct storage_target *target;
    struct routing_snapshot *snapshot;
    int status = storage_check_route(node, m.target_id, m.chain_id, m.chain_version, true, &target,
                                     &snapshot);
    if (status == 0) {
        const struct target_record *record = routing_info_target(&snapshot->info, m.target_id);
        if (record->public_state != TARGET_PUBLIC_SYNCING)
            status = CHAINFS_ROUTING_STALE;
    }
    routing_snapshot_release(snapshot);
    if (status != 0) {
        rpc_request_fail(request, status, "target %llu is not syncing in chain %u version %llu",
                         (unsigned long long)m.target_id, m.chain_id,
                         (unsigned long long)m.chain_version);
        return;
    }
    log_info("target %llu recovered by its predecessor: up to date",
             (unsigned long long)m.target_id);
    atomic_store(&target->local_state, TARGET_LOCAL_UP_TO_DATE);
    storage_beat_now(node);
    rpc_request_reply(request, 0);
}
