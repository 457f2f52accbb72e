/*
 * storage_client_read.c - storage_client_read: reads routed to serving replicas,
 * grouped per target into BATCH_READ requests, sent in parallel, retried in rounds.
 *
 * One round: route every unfinished read by the current routing snapshot, plan the
 * batches (storage_read_plan.h), keep up to max_in_flight of them in flight, and
 * settle each reply as it arrives. Reads that failed with a retryable status stay
 * unfinished; the next round starts after the refresh/backoff they asked for.
 */
#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"
#include "client/call_window.h"
#include "client/storage_client_internal.h"
#include "client/storage_read_plan.h"
#include "common/aligned_buffer.h"
#include "common/clock.h"

/* Where one io stands across rounds. */
struct read_progress {
    bool done;
    int last_error;
    uint64_t avoid_target_id; /* the target that failed it last */
};

/* One call: everything a round needs. */
struct read_call {
    struct storage_client *client;
    struct storage_io *ios;
    struct read_progress *progress;
    uint64_t deadline;
    struct retry_rounds rounds;
};

/* One BATCH_READ in flight. */
struct read_request {
    struct window_call window_call; /* first: the window hands it back */
    struct storage_route route;
    size_t *io_indexes; /* into the call's ios */
    size_t count;
    uint64_t bytes;  /* sum of requested lengths = reply payload length */
    uint8_t *message;
    void *staging;   /* NULL when the reply lands in the caller's buffers */
};

static void finish_io(struct read_call *call, size_t index, int status)
{
    call->ios[index].status = status;
    call->progress[index].done = true;
}

/* A failed read: retried in a later round or finished, as storage_retry.h says. */
static void fail_io(struct read_call *call, size_t index, int status, uint64_t target_id)
{
    struct storage_retry_decision decision = storage_retry_decide(STORAGE_OPERATION_READ, status);
    call->progress[index].last_error = status;
    if (!decision.retry) {
        finish_io(call, index, status);
        return;
    }
    call->progress[index].avoid_target_id = decision.avoid_target ? target_id : STORAGE_ROUTE_AVOID_NONE;
    retry_rounds_note(&call->rounds, &decision);
}

/* Whether the buffers of the request's ios follow each other in memory, so that the
 * reply payload (items back to back) can be received into them directly. */
static bool buffers_contiguous(const struct read_call *call, const struct read_request *request)
{
    for (size_t i = 1; i < request->count; i++) {
        const struct storage_io *previous = &call->ios[request->io_indexes[i - 1]];
        const struct storage_io *io = &call->ios[request->io_indexes[i]];
        if ((uint8_t *)previous->buffer + previous->length != (uint8_t *)io->buffer)
            return false;
    }
    return true;
}

static void free_request(struct read_request *request)
{
    rpc_call_release(&request->window_call.call);
    if (request->staging)
        aligned_buffer_free(request->staging, request->bytes);
    free(request->message);
    free(request->io_indexes);
    free(request);
}

/* Encodes the request's items; false when out of memory. */
static bool encode_request(const struct read_call *call, struct read_request *request)
{
    struct storage_read_item *items = calloc(request->count, sizeof(*items));
    if (!items)
        return false;
    for (size_t i = 0; i < request->count; i++) {
        const struct storage_io *io = &call->ios[request->io_indexes[i]];
        items[i] = (struct storage_read_item){
            .target_id = request->route.target_id,
            .chain_id = io->chain_id,
            .chunk_id = io->chunk_id,
            .offset = io->offset,
            .length = io->length,
            .flags = (io->flags & STORAGE_IO_RELAXED) ? STORAGE_READ_RELAXED : 0,
        };
    }
    struct wire_writer writer;
    wire_writer_init(&writer);
    storage_batch_read_request_encode(&writer, items, request->count);
    free(items);
    size_t length;
    request->message = storage_client_take_message(&writer, &length);
    request->window_call.call.message = request->message;
    request->window_call.call.message_length = length;
    return request->message != NULL;
}

/* Sets up the rpc call of a request: message, timeout, where the reply payload goes. */
static bool prepare_request(struct read_call *call, struct read_request *request)
{
    struct rpc_call *rpc_call = &request->window_call.call;
    rpc_call_init(rpc_call, STORAGE_SERVICE_ID, STORAGE_METHOD_BATCH_READ);
    if (!encode_request(call, request))
        return false;
    rpc_call->timeout_ns = storage_client_attempt_timeout(call->client, call->deadline);
    if (buffers_contiguous(call, request)) {
        rpc_call->reply_payload_buffer = call->ios[request->io_indexes[0]].buffer;
        atomic_fetch_add(&call->client->stats.direct_reads, 1);
    } else {
        request->staging = aligned_buffer_alloc(request->bytes);
        if (!request->staging)
            return false;
        rpc_call->reply_payload_buffer = request->staging;
    }
    rpc_call->reply_payload_capacity = request->bytes;
    return true;
}

/* Copies one item's bytes out of the staging buffer. */
static void copy_out(struct read_call *call, const struct read_request *request, size_t item,
                     uint64_t payload_offset)
{
    if (!request->staging)
        return;
    struct storage_io *io = &call->ios[request->io_indexes[item]];
    memcpy(io->buffer, (const uint8_t *)request->staging + payload_offset, io->length);
}

/* One item's result. A chunk that does not exist is a hole: 0 bytes, success. */
static void settle_item(struct read_call *call, const struct read_request *request, size_t item,
                        const struct storage_read_result *result)
{
    size_t index = request->io_indexes[item];
    struct storage_io *io = &call->ios[index];
    if (result->status == CHAINFS_NOT_FOUND) {
        memset(io->buffer, 0, io->length);
        io->bytes_done = 0;
        io->version = 0;
        io->chunk_length = 0;
        io->crc = 0;
        finish_io(call, index, CHAINFS_OK);
        return;
    }
    if (result->status != CHAINFS_OK) {
        fail_io(call, index, (int)result->status, request->route.target_id);
        return;
    }
    if (result->length > io->length) {
        fail_io(call, index, CHAINFS_MALFORMED, request->route.target_id);
        return;
    }
    /* The protocol says the server zeroes what it did not read; do not depend on it. */
    if (result->length < io->length)
        memset((uint8_t *)io->buffer + result->length, 0, io->length - result->length);
    io->bytes_done = result->length;
    io->version = result->version;
    io->chunk_length = result->chunk_length;
    io->crc = result->crc;
    finish_io(call, index, CHAINFS_OK);
}

/* A finished BATCH_READ: every item gets its result. */
static void settle_request(struct read_call *call, struct read_request *request)
{
    const struct rpc_call *rpc_call = &request->window_call.call;
    int status = rpc_call->status;
    struct storage_read_result *results = NULL;
    size_t result_count = 0;
    if (status == CHAINFS_OK) {
        struct wire_reader reader;
        wire_reader_init(&reader, rpc_call->reply_message, rpc_call->reply_message_length);
        if (!storage_batch_read_reply_decode(&reader, &results, &result_count) ||
            result_count != request->count || rpc_call->reply_payload_length != request->bytes)
            status = CHAINFS_MALFORMED;
    }
    uint64_t payload_offset = 0;
    for (size_t item = 0; item < request->count; item++) {
        size_t index = request->io_indexes[item];
        if (status != CHAINFS_OK) {
            fail_io(call, index, status, request->route.target_id);
            continue;
        }
        if (results[item].status == CHAINFS_OK)
            copy_out(call, request, item, payload_offset);
        settle_item(call, request, item, &results[item]);
        payload_offset += call->ios[index].length;
    }
    free(results);
}

/* Unfinished reads with their routes for this round; reads that cannot be routed
 * are failed (retried or finished) here. Returns how many were routed. */
static size_t route_round(struct read_call *call, size_t count, const struct routing_info *info,
                          size_t *routed, struct storage_route *routes,
                          struct storage_read_plan_item *items)
{
    size_t routed_count = 0;
    for (size_t index = 0; index < count; index++) {
        if (call->progress[index].done)
            continue;
        const struct storage_io *io = &call->ios[index];
        struct storage_route *route = &routes[routed_count];
        int status;
        if (call->progress[index].last_error == CHAINFS_NOT_COMMITTED)
            status = storage_route_tail(info, io->chain_id, route);
        else
            status = storage_route_reader(info, io->chain_id, chunk_id_hash(&io->chunk_id),
                                          call->client->read_salt,
                                          call->progress[index].avoid_target_id, route);
        if (status == CHAINFS_NOT_FOUND && !call->rounds.refreshed)
            status = CHAINFS_ROUTING_STALE; /* a chain this client has not heard of yet */
        if (status != CHAINFS_OK) {
            fail_io(call, index, status, STORAGE_ROUTE_AVOID_NONE);
            continue;
        }
        routed[routed_count] = index;
        items[routed_count] = (struct storage_read_plan_item){route->target_id, io->length};
        routed_count++;
    }
    return routed_count;
}

/* Builds the request of one planned batch; NULL when out of memory. */
static struct read_request *make_request(struct read_call *call, const struct storage_read_plan *plan,
                                         const struct storage_read_batch *batch, const size_t *routed,
                                         const struct storage_route *routes)
{
    struct read_request *request = calloc(1, sizeof(*request));
    if (!request)
        return NULL;
    request->io_indexes = calloc(batch->count, sizeof(*request->io_indexes));
    if (!request->io_indexes) {
        free(request);
        return NULL;
    }
    request->route = routes[plan->order[batch->first]];
    request->count = batch->count;
    request->bytes = batch->bytes;
    for (size_t i = 0; i < batch->count; i++)
        request->io_indexes[i] = routed[plan->order[batch->first + i]];
    if (!prepare_request(call, request)) {
        free_request(request);
        return NULL;
    }
    return request;
}

/* Takes one finished request back from the window and settles it. */
static void settle_next(struct read_call *call, struct call_window *window)
{
    struct window_call *finished = call_window_next(window);
    if (!finished)
        return;
    struct read_request *request = (struct read_request *)finished;
    settle_request(call, request);
    free_request(request);
}

/* Sends the planned batches, at most max_in_flight at once, and settles them all. */
static void run_batches(struct read_call *call, const struct storage_read_plan *plan,
                        const size_t *routed, const struct storage_route *routes)
{
    struct call_window window;
    call_window_init(&window);
    for (size_t b = 0; b < plan->batch_count; b++) {
        const struct storage_read_batch *batch = &plan->batches[b];
        while (call_window_in_flight(&window) >= call->client->options.max_in_flight)
            settle_next(call, &window);
        struct read_request *request = make_request(call, plan, batch, routed, routes);
        if (!request) {
            for (size_t i = 0; i < batch->count; i++)
                finish_io(call, routed[plan->order[batch->first + i]], CHAINFS_NO_MEMORY);
            continue;
        }
        atomic_fetch_add(&call->client->stats.read_requests, 1);
        atomic_fetch_add(&call->client->stats.read_items, batch->count);
        call_window_start(&window, call->client->rpc, request->route.address, &request->window_call);
    }
    while (call_window_in_flight(&window) > 0)
        settle_next(call, &window);
    call_window_destroy(&window);
}

/* One round over every unfinished read. Returns how many were sent. */
static size_t read_round(struct read_call *call, size_t count)
{
    int status;
    struct routing_snapshot *snapshot = storage_client_snapshot(call->client, &status);
    if (!snapshot) {
        for (size_t index = 0; index < count; index++)
            if (!call->progress[index].done)
                fail_io(call, index, CHAINFS_UNAVAILABLE, STORAGE_ROUTE_AVOID_NONE);
        return 0;
    }
    size_t *routed = calloc(count, sizeof(*routed));
    struct storage_route *routes = calloc(count, sizeof(*routes));
    struct storage_read_plan_item *items = calloc(count, sizeof(*items));
    size_t routed_count = 0;
    struct storage_read_plan plan = {0};
    const struct storage_read_plan_limits limits = {
        .max_items = call->client->options.max_batch_items,
        .max_bytes = call->client->options.max_batch_bytes,
        .direct_bytes = call->client->options.direct_read_bytes,
    };
    if (routed && routes && items) {
        routed_count = route_round(call, count, &snapshot->info, routed, routes, items);
        status = storage_read_plan_build(items, routed_count, &limits, &plan);
    } else {
        status = CHAINFS_NO_MEMORY;
    }
    routing_snapshot_release(snapshot);
    if (status == CHAINFS_OK)
        run_batches(call, &plan, routed, routes);
    else
        for (size_t index = 0; index < count; index++)
            if (!call->progress[index].done)
                finish_io(call, index, status);
    storage_read_plan_free(&plan);
    free(items);
    free(routes);
    free(routed);
    return routed_count;
}

static bool all_done(const struct read_progress *progress, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (!progress[i].done)
            return false;
    return true;
}

static int first_failure(const struct storage_io *ios, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (ios[i].status != CHAINFS_OK)
            return ios[i].status;
    return CHAINFS_OK;
}

int storage_client_read(struct storage_client *client, struct storage_io *ios, size_t count,
                        uint64_t deadline)
{
    if (count > 0 && !ios)
        return CHAINFS_INVALID_ARGUMENT;
    struct read_call call = {.client = client, .ios = ios, .deadline = storage_client_deadline(client, deadline)};
    call.progress = calloc(count ? count : 1, sizeof(*call.progress));
    if (!call.progress)
        return CHAINFS_NO_MEMORY;
    for (size_t i = 0; i < count; i++) {
        ios[i].status = storage_io_prepare(&ios[i], false);
        call.progress[i].done = ios[i].status != CHAINFS_OK || ios[i].length == 0;
    }
    while (!all_done(call.progress, count)) {
        size_t sent = read_round(&call, count);
        if (call.rounds.round > 0)
            atomic_fetch_add(&client->stats.retries, sent);
        if (all_done(call.progress, count) || !retry_rounds_next(client, &call.rounds, call.deadline))
            break;
    }
    for (size_t i = 0; i < count; i++)
        if (!call.progress[i].done)
            finish_io(&call, i, storage_client_expired_status(call.progress[i].last_error));
    free(call.progress);
    return first_failure(ios, count);
}
