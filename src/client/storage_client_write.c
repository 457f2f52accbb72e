/*
 * storage_client_write.c - storage_client_write: one WRITE per io to its chain's head,
 * all in parallel, each on a write channel that it keeps for every retry.
 *
 * Rounds as in storage_client_read.c. A write holds its channel ticket (channel,
 * sequence) from its first attempt until its final outcome, so a retry after a lost
 * reply carries the same sequence and the head answers it with the first result
 * instead of applying it twice. A call never blocks for a channel while it holds one
 * (it would wait for itself); writes that find no free channel then wait for the
 * next round.
 */
#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"
#include "client/call_window.h"
#include "client/storage_client_internal.h"
#include "common/clock.h"

struct write_progress {
    bool done;
    bool has_ticket;
    struct storage_write_ticket ticket;
    int last_error;
};

struct write_call {
    struct storage_client *client;
    struct storage_io *ios;
    struct write_progress *progress;
    size_t count;
    uint64_t deadline;
    size_t tickets_held;
    struct retry_rounds rounds;
    struct call_window window;
};

/* One WRITE in flight. */
struct write_request {
    struct window_call window_call; /* first: the window hands it back */
    size_t io_index;
    uint8_t *message;
};

static void release_ticket(struct write_call *call, size_t index)
{
    struct write_progress *progress = &call->progress[index];
    if (!progress->has_ticket)
        return;
    storage_write_channel_release(call->client->channels, &progress->ticket);
    progress->has_ticket = false;
    call->tickets_held--;
}

static void finish_io(struct write_call *call, size_t index, int status)
{
    call->ios[index].status = status;
    call->progress[index].done = true;
    release_ticket(call, index);
}

static void fail_io(struct write_call *call, size_t index, int status)
{
    struct storage_retry_decision decision = storage_retry_decide(STORAGE_OPERATION_UPDATE, status);
    call->progress[index].last_error = status;
    if (!decision.retry) {
        finish_io(call, index, status);
        return;
    }
    retry_rounds_note(&call->rounds, &decision);
}

/* A finished WRITE. */
static void settle_request(struct write_call *call, struct write_request *request)
{
    const struct rpc_call *rpc_call = &request->window_call.call;
    size_t index = request->io_index;
    int status = rpc_call->status;
    struct storage_commit_reply reply;
    if (status == CHAINFS_OK) {
        struct wire_reader reader;
        wire_reader_init(&reader, rpc_call->reply_message, rpc_call->reply_message_length);
        if (!storage_commit_reply_decode(&reader, &reply))
            status = CHAINFS_MALFORMED;
    }
    if (status != CHAINFS_OK) {
        fail_io(call, index, status);
        return;
    }
    struct storage_io *io = &call->ios[index];
    io->bytes_done = io->length;
    io->version = reply.version;
    io->chunk_length = reply.length;
    io->crc = reply.crc;
    finish_io(call, index, CHAINFS_OK);
}

static void settle_next(struct write_call *call)
{
    struct window_call *finished = call_window_next(&call->window);
    if (!finished)
        return;
    struct write_request *request = (struct write_request *)finished;
    settle_request(call, request);
    rpc_call_release(&request->window_call.call);
    free(request->message);
    free(request);
}

/* Gets io index a channel ticket. Returns false when the write must wait for the
 * next round (no free channel while this call holds some) or has finished (no
 * channel by the deadline). */
static bool take_ticket(struct write_call *call, size_t index)
{
    struct write_progress *progress = &call->progress[index];
    if (progress->has_ticket)
        return true;
    for (;;) {
        if (storage_write_channel_try_acquire(call->client->channels, &progress->ticket) == CHAINFS_OK)
            break;
        if (call_window_in_flight(&call->window) > 0) {
            settle_next(call); /* may free one of ours */
            continue;
        }
        if (call->tickets_held > 0)
            return false;
        int status = storage_write_channel_acquire(call->client->channels, call->deadline,
                                                   &progress->ticket);
        if (status != CHAINFS_OK) {
            progress->last_error = status;
            return false;
        }
        break;
    }
    progress->has_ticket = true;
    call->tickets_held++;
    return true;
}

/* Builds the WRITE of io index for route; NULL when out of memory. */
static struct write_request *make_request(struct write_call *call, size_t index,
                                          const struct storage_route *route)
{
    const struct storage_io *io = &call->ios[index];
    struct storage_write_request message = {
        .target_id = route->target_id,
        .chain_id = io->chain_id,
        .chain_version = route->chain_version,
        .chunk_id = io->chunk_id,
        .offset = io->offset,
        .length = io->length,
        .chunk_size = io->chunk_size,
    };
    storage_client_tag(call->client, &call->progress[index].ticket, &message.tag);
    struct write_request *request = calloc(1, sizeof(*request));
    if (!request)
        return NULL;
    struct wire_writer writer;
    wire_writer_init(&writer);
    storage_write_request_encode(&writer, &message);
    size_t length;
    request->message = storage_client_take_message(&writer, &length);
    if (!request->message) {
        free(request);
        return NULL;
    }
    request->io_index = index;
    struct rpc_call *rpc_call = &request->window_call.call;
    rpc_call_init(rpc_call, STORAGE_SERVICE_ID, STORAGE_METHOD_WRITE);
    rpc_call->message = request->message;
    rpc_call->message_length = length;
    rpc_call->payload = io->buffer;
    rpc_call->payload_length = io->length;
    rpc_call->timeout_ns = storage_client_attempt_timeout(call->client, call->deadline);
    return request;
}

/* Routes and starts the write of io index (it holds a ticket). */
static void start_write(struct write_call *call, size_t index, const struct routing_info *info)
{
    struct storage_route route;
    int status = storage_route_head(info, call->ios[index].chain_id, &route);
    if (status == CHAINFS_NOT_FOUND && !call->rounds.refreshed)
        status = CHAINFS_ROUTING_STALE; /* a chain this client has not heard of yet */
    if (status != CHAINFS_OK) {
        fail_io(call, index, status);
        return;
    }
    struct write_request *request = make_request(call, index, &route);
    if (!request) {
        finish_io(call, index, CHAINFS_NO_MEMORY);
        return;
    }
    atomic_fetch_add(&call->client->stats.write_requests, 1);
    call_window_start(&call->window, call->client->rpc, route.address, &request->window_call);
}

/* One round over every unfinished write. Returns how many were sent. */
static size_t write_round(struct write_call *call)
{
    int status;
    struct routing_snapshot *snapshot = storage_client_snapshot(call->client, &status);
    if (!snapshot) {
        for (size_t index = 0; index < call->count; index++)
            if (!call->progress[index].done)
                fail_io(call, index, CHAINFS_UNAVAILABLE);
        return 0;
    }
    size_t sent = 0;
    for (size_t index = 0; index < call->count; index++) {
        if (call->progress[index].done)
            continue;
        while (call_window_in_flight(&call->window) >= call->client->options.max_in_flight)
            settle_next(call);
        if (!take_ticket(call, index))
            continue;
        start_write(call, index, &snapshot->info);
        sent++;
    }
    routing_snapshot_release(snapshot);
    while (call_window_in_flight(&call->window) > 0)
        settle_next(call);
    return sent;
}

static bool all_done(const struct write_call *call)
{
    for (size_t i = 0; i < call->count; i++)
        if (!call->progress[i].done)
            return false;
    return true;
}

int storage_client_write(struct storage_client *client, struct storage_io *ios, size_t count,
                         uint64_t deadline)
{
    if (count > 0 && !ios)
        return CHAINFS_INVALID_ARGUMENT;
    struct write_call call = {.client = client, .ios = ios, .count = count,
                              .deadline = storage_client_deadline(client, deadline)};
    call.progress = calloc(count ? count : 1, sizeof(*call.progress));
    if (!call.progress)
        return CHAINFS_NO_MEMORY;
    call_window_init(&call.window);
    for (size_t i = 0; i < count; i++) {
        ios[i].status = storage_io_prepare(&ios[i], true);
        call.progress[i].done = ios[i].status != CHAINFS_OK;
    }
    while (!all_done(&call)) {
        size_t sent = write_round(&call);
        if (call.rounds.round > 0)
            atomic_fetch_add(&client->stats.retries, sent);
        if (all_done(&call) || !retry_rounds_next(client, &call.rounds, call.deadline))
            break;
    }
    int result = CHAINFS_OK;
    for (size_t i = 0; i < count; i++) {
        if (!call.progress[i].done)
            finish_io(&call, i, storage_client_expired_status(call.progress[i].last_error));
        if (result == CHAINFS_OK && ios[i].status != CHAINFS_OK)
            result = ios[i].status;
    }
    call_window_destroy(&call.window);
    free(call.progress);
    return result;
}
