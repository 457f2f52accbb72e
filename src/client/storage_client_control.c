/*
 * storage_client_control.c - the storage client's single requests: truncate a chunk,
 * remove a range of chunks, query the last chunk of a file, space info of every
 * target, dump of one target.
 *
 * Truncate, remove and last-chunk are routed like writes and reads and retried in the
 * same rounds (storage_retry.h); remove and truncate are idempotent, so a retry after
 * a lost reply is harmless. Space info and dumps address nodes and targets, not
 * chains; they retry only lost connections.
 */
#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"
#include "client/call_window.h"
#include "client/storage_client_internal.h"
#include "common/clock.h"
#include "mgmtd/cluster_records.h"

/* One request to a chain, retried in rounds until it succeeds or its deadline. */
struct chain_request {
    enum storage_operation_kind kind; /* UPDATE: to the head; READ: to a serving target */
    uint16_t method;
    uint32_t chain_id;
    uint64_t spread_key; /* READ: which replica (storage_route_reader) */
    /* Encodes the message for route into writer. */
    void (*encode)(struct wire_writer *writer, const struct storage_route *route, const void *context);
    /* Decodes a successful reply; false when malformed. */
    bool (*decode)(struct wire_reader *reader, void *context);
    void *context;
};

static int route_request(const struct routing_info *info, const struct chain_request *request,
                         uint64_t salt, uint64_t avoid_target_id, struct storage_route *route)
{
    if (request->kind == STORAGE_OPERATION_UPDATE)
        return storage_route_head(info, request->chain_id, route);
    return storage_route_reader(info, request->chain_id, request->spread_key, salt, avoid_target_id,
                                route);
}

/* One attempt: route, encode, call, decode. *target_id gets the target it went to. */
static int attempt(struct storage_client *client, const struct chain_request *request,
                   const struct retry_rounds *rounds, uint64_t deadline, uint64_t avoid_target_id,
                   uint64_t *target_id)
{
    int status;
    struct routing_snapshot *snapshot = storage_client_snapshot(client, &status);
    if (!snapshot)
        return status;
    struct storage_route route;
    status = route_request(&snapshot->info, request, client->read_salt, avoid_target_id, &route);
    routing_snapshot_release(snapshot);
    if (status == CHAINFS_NOT_FOUND && !rounds->refreshed)
        return CHAINFS_ROUTING_STALE;
    if (status != CHAINFS_OK)
        return status;
    *target_id = route.target_id;
    struct wire_writer writer;
    wire_writer_init(&writer);
    request->encode(&writer, &route, request->context);
    size_t length;
    uint8_t *message = storage_client_take_message(&writer, &length);
    if (!message)
        return CHAINFS_NO_MEMORY;
    struct rpc_call call;
    rpc_call_init(&call, STORAGE_SERVICE_ID, request->method);
    call.message = message;
    call.message_length = length;
    call.timeout_ns = storage_client_attempt_timeout(client, deadline);
    status = rpc_call_sync(client->rpc, route.address, &call);
    if (status == CHAINFS_OK) {
        struct wire_reader reader;
        wire_reader_init(&reader, call.reply_message, call.reply_message_length);
        if (!request->decode(&reader, request->context))
            status = CHAINFS_MALFORMED;
    }
    rpc_call_release(&call);
    free(message);
    return status;
}

static int run_chain_request(struct storage_client *client, const struct chain_request *request,
                             uint64_t deadline)
{
    deadline = storage_client_deadline(client, deadline);
    struct retry_rounds rounds = {0};
    uint64_t avoid_target_id = STORAGE_ROUTE_AVOID_NONE;
    for (;;) {
        uint64_t target_id = STORAGE_ROUTE_AVOID_NONE;
        int status = attempt(client, request, &rounds, deadline, avoid_target_id, &target_id);
        struct storage_retry_decision decision = storage_retry_decide(request->kind, status);
        if (status == CHAINFS_OK || !decision.retry)
            return status;
        avoid_target_id = decision.avoid_target ? target_id : STORAGE_ROUTE_AVOID_NONE;
        retry_rounds_note(&rounds, &decision);
        if (!retry_rounds_next(client, &rounds, deadline))
            return status;
        atomic_fetch_add(&client->stats.retries, 1);
    }
}

/* --- truncate ---------------------------------------------------------------------- */

struct truncate_context {
    uint32_t chain_id;
    const struct chunk_id *chunk_id;
    uint64_t length;
    uint32_t chunk_size;
    struct storage_commit_reply reply;
};

static void encode_truncate(struct wire_writer *writer, const struct storage_route *route,
                            const void *context)
{
    const struct truncate_context *truncate = context;
    struct storage_truncate_request message = {
        .target_id = route->target_id,
        .chain_id = truncate->chain_id,
        .chain_version = route->chain_version,
        .chunk_id = *truncate->chunk_id,
        .length = truncate->length,
        .chunk_size = truncate->chunk_size,
    };
    storage_truncate_request_encode(writer, &message);
}

static bool decode_commit_reply(struct wire_reader *reader, void *context)
{
    struct truncate_context *truncate = context;
    return storage_commit_reply_decode(reader, &truncate->reply);
}

int storage_client_truncate_chunk(struct storage_client *client, uint32_t chain_id,
                                  const struct chunk_id *chunk_id, uint64_t length,
                                  uint32_t chunk_size, uint64_t deadline,
                                  struct storage_commit_reply *result)
{
    if (!chunk_id || chunk_size == 0 || length > chunk_size)
        return CHAINFS_INVALID_ARGUMENT;
    struct truncate_context context = {chain_id, chunk_id, length, chunk_size, {0}};
    struct chain_request request = {STORAGE_OPERATION_UPDATE, STORAGE_METHOD_TRUNCATE_CHUNK, chain_id,
                                    0, encode_truncate, decode_commit_reply, &context};
    int status = run_chain_request(client, &request, deadline);
    if (status == CHAINFS_OK && result)
        *result = context.reply;
    return status;
}

/* --- remove a range of chunks ---------------------------------------------------- */

struct remove_context {
    uint32_t chain_id;
    uint64_t inode, first_index, end_index;
    uint64_t removed;
};

static void encode_remove(struct wire_writer *writer, const struct storage_route *route,
                          const void *context)
{
    const struct remove_context *remove = context;
    struct storage_remove_chunks_request message = {
        .target_id = route->target_id,
        .chain_id = remove->chain_id,
        .chain_version = route->chain_version,
        .inode = remove->inode,
        .first_index = remove->first_index,
        .end_index = remove->end_index,
    };
    storage_remove_chunks_request_encode(writer, &message);
}

static bool decode_removed(struct wire_reader *reader, void *context)
{
    struct remove_context *remove = context;
    remove->removed = wire_get_u64(reader);
    return wire_reader_ok(reader) && wire_reader_done(reader);
}

int storage_client_remove_chunks(struct storage_client *client, uint32_t chain_id, uint64_t inode,
                                 uint64_t first_index, uint64_t end_index, uint64_t deadline,
                                 uint64_t *removed)
{
    if (first_index > end_index)
        return CHAINFS_INVALID_ARGUMENT;
    if (removed)
        *removed = 0;
    if (first_index == end_index)
        return CHAINFS_OK;
    struct remove_context context = {chain_id, inode, first_index, end_index, 0};
    struct chain_request request = {STORAGE_OPERATION_UPDATE, STORAGE_METHOD_REMOVE_CHUNKS, chain_id,
                                    0, encode_remove, decode_removed, &context};
    int status = run_chain_request(client, &request, deadline);
    if (status == CHAINFS_OK && removed)
        *removed = context.removed;
    return status;
}

/* --- last chunk of a file --------------------------------------------------------- */

struct last_chunk_context {
    uint32_t chain_id;
    uint64_t inode;
    struct storage_last_chunk_reply reply;
};

static void encode_last_chunk(struct wire_writer *writer, const struct storage_route *route,
                              const void *context)
{
    const struct last_chunk_context *last = context;
    struct storage_last_chunk_request message = {route->target_id, last->chain_id, last->inode};
    storage_last_chunk_request_encode(writer, &message);
}

static bool decode_last_chunk(struct wire_reader *reader, void *context)
{
    struct last_chunk_context *last = context;
    return storage_last_chunk_reply_decode(reader, &last->reply);
}

int storage_client_query_last_chunk(struct storage_client *client, uint32_t chain_id,
                                    uint64_t inode, uint64_t deadline,
                                    struct storage_last_chunk_reply *reply)
{
    if (!reply)
        return CHAINFS_INVALID_ARGUMENT;
    struct last_chunk_context context = {chain_id, inode, {0}};
    struct chain_request request = {STORAGE_OPERATION_READ, STORAGE_METHOD_QUERY_LAST_CHUNK, chain_id,
                                    inode, encode_last_chunk, decode_last_chunk, &context};
    int status = run_chain_request(client, &request, deadline);
    *reply = status == CHAINFS_OK ? context.reply : (struct storage_last_chunk_reply){0};
    return status;
}
