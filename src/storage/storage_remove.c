/*
 * storage_remove.c - replicated removal of a file's chunks: REMOVE_CHUNKS from a
 * client at the head, REMOVE_LISTED forwarded between targets (README, "Removals").
 *
 * A removal must reach every replica in the same order, relative to the writes and
 * recovery transfers of each chunk it removes, as it does at the head. Writes and
 * transfers of a chunk hold its lock from before they change it until the successor
 * answered; a removal does the same, for every chunk it removes:
 *   1. the head lists the range's chunks (those that exist or are being created);
 *      a successor takes the list its predecessor sent;
 *   2. it takes their chunk locks in ascending order (chunk_lock_sequence: queued,
 *      never blocking a thread), so it waits for writes in flight (they commit or
 *      abort first) and writes that come later wait for it;
 *   3. holding them it removes those chunks it has, and forwards exactly that list
 *      as REMOVE_LISTED to the successor, asynchronously;
 *   4. on the successor's success (on an I/O thread) it unlocks and goes on with the
 *      next batch of the list, or answers. A lost connection, timeout, stale routing
 *      or busy successor is retried with the successor routing shows now until the
 *      deadline, as writes are. A removal cannot be aborted like a write, so one whose
 *      deadline passed while it waited for locks removes nothing (TIMEOUT), and one
 *      that removed keeps forwarding for at least FORWARD_AFTER_REMOVAL_NS.
 * A chunk created in the range after the head's listing is not in the list, so no
 * replica removes it. Lists travel in batches of at most STORAGE_REMOVE_LISTED_MAX.
 */
#define LOG_COMPONENT "storage"
#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"
#include "common/clock.h"
#include "common/log.h"
#include "mgmtd/target_state.h"
#include "storage/storage_internal.h"

#define DEFAULT_DEADLINE_NS (10 * CLOCK_NS_PER_S)
#define FORWARD_AFTER_REMOVAL_NS (10 * CLOCK_NS_PER_S)

struct removal_op {
    struct storage_node *node;
    struct storage_target *target;
    struct rpc_request *request;
    uint32_t chain_id;
    uint64_t inode;
    uint64_t *indexes; /* chunk indexes to remove, strictly ascending */
    size_t count;
    size_t batch_first, batch_count; /* the batch in hand: indexes[first, first + count) */
    struct chunk_id ids[STORAGE_REMOVE_LISTED_MAX];
    struct chunk_lock_sequence locks;
    uint64_t removed; /* at this target */
    uint64_t deadline;

    struct wire_writer message;
    struct chain_forwarder forwarder; /* owns the call to the successor */
    char error_text[200];
};

static struct removal_op *op_new(struct rpc_request *request)
{
    struct removal_op *op = calloc(1, sizeof *op);
    if (op == NULL) {
        rpc_request_reply(request, CHAINFS_NO_MEMORY);
        return NULL;
    }
    op->node = request->service_context;
    op->request = request;
    wire_writer_init(&op->message);
    op->deadline = request->deadline != DEADLINE_NEVER ? request->deadline
                                                       : deadline_after_ns(DEFAULT_DEADLINE_NS);
    return op;
}

static void op_free(struct removal_op *op)
{
    storage_forward_release(&op->forwarder);
    wire_writer_free(&op->message);
    free(op->indexes);
    free(op);
}

/* Ends the op: unlocks what it holds and answers. */
static void finish(struct removal_op *op, int status)
{
    chunk_lock_sequence_release(&op->locks);
    if (status == 0) {
        wire_put_u64(&op->request->reply, op->removed);
        rpc_request_reply(op->request, 0);
    } else if (op->error_text[0]) {
        rpc_request_fail(op->request, status, "%s", op->error_text);
    } else {
        rpc_request_reply(op->request, status);
    }
    op_free(op);
}

/* Ends the op with status and text (NULL: no text); also the forwarder's give_up. */
static void fail(void *argument, int status, const char *text)
{
    struct removal_op *op = argument;
    if (text != NULL)
        snprintf(op->error_text, sizeof op->error_text, "%.*s", (int)sizeof op->error_text - 1,
                 text);
    finish(op, status);
}

static void batch_locked(void *argument);

/* Step 2 for the next batch, or the answer when none is left. */
static void start_batch(void *argument)
{
    struct removal_op *op = argument;
    if (op->batch_first >= op->count) {
        finish(op, 0);
        return;
    }
    size_t left = op->count - op->batch_first;
    op->batch_count = left < STORAGE_REMOVE_LISTED_MAX ? left : STORAGE_REMOVE_LISTED_MAX;
    for (size_t i = 0; i < op->batch_count; i++)
        op->ids[i] = chunk_id_make(op->inode, op->indexes[op->batch_first + i]);
    chunk_lock_sequence_start(&op->locks, op->target->locks, op->ids, op->batch_count,
                              batch_locked, op);
}

/* The batch is done everywhere after us: unlock, go on (from the pool, so that a
 * long list at the tail does not recurse). */
static void batch_done(void *argument)
{
    struct removal_op *op = argument;
    chunk_lock_sequence_release(&op->locks);
    op->batch_first += op->batch_count;
    op->batch_count = 0;
    if (op->batch_first >= op->count || worker_pool_submit(op->node->io_pool, start_batch, op) != 0)
        start_batch(op);
}

static void forward(struct removal_op *op);

/* Step 3, holding every lock of the batch. */
static void batch_locked(void *argument)
{
    struct removal_op *op = argument;
    if (deadline_expired(op->deadline)) {
        fail(op, CHAINFS_TIMEOUT, "the deadline passed while waiting for the chunk locks");
        return; /* nothing removed: the caller retries */
    }
    uint64_t removed = 0;
    int status = chunk_engine_remove_many(op->target->engine, op->ids, op->batch_count, &removed);
    if (status != 0) {
        fail(op, status, "removing the chunks failed");
        return;
    }
    op->removed += removed;
    /* A removal cannot be undone: once applied here it is pushed down the chain for
     * a while even when the caller's deadline is nearer. */
    uint64_t forward_deadline = deadline_after_ns(FORWARD_AFTER_REMOVAL_NS);
    if (op->deadline < forward_deadline)
        op->deadline = forward_deadline;
    forward(op);
}

/* Builds the REMOVE_LISTED of the batch for successor and starts it. */
static int start_forward(void *argument, const struct storage_successor *successor)
{
    struct removal_op *op = argument;
    struct storage_remove_listed_request next = {
        .target_id = successor->target_id, .chain_id = op->chain_id,
        .chain_version = successor->chain_version, .inode = op->inode,
        .indexes = op->indexes + op->batch_first, .count = op->batch_count};
    wire_writer_reset(&op->message);
    storage_remove_listed_request_encode(&op->message, &next);
    return storage_forward_send(&op->forwarder, successor, STORAGE_METHOD_REMOVE_LISTED,
                                &op->message, NULL, 0);
}

/* Step 4, on an I/O thread: the successor answers with its count of removed chunks. */
static int check_reply(void *argument, const struct rpc_call *call)
{
    return call->reply_message_length == 8 ? 0 : CHAINFS_MALFORMED;
}

/* Sends the batch to the successor, or, at the tail, is done with it. */
static void forward(struct removal_op *op)
{
    op->forwarder = (struct chain_forwarder){
        .node = op->node, .target = op->target, .chain_id = op->chain_id,
        .deadline = op->deadline, .what = "removal", .op = op, .start = start_forward,
        .check_reply = check_reply, .on_success = batch_done, .at_tail = batch_done,
        .give_up = fail};
    storage_forward_next(&op->forwarder);
}

/* Route check (and, for a client's removal, that the target is the serving head);
 * answers and returns false when the target may not remove. */
static bool route(struct removal_op *op, uint64_t target_id, uint64_t chain_version,
                  bool at_head)
{
    struct routing_snapshot *snapshot = NULL;
    int status = storage_check_route(op->node, target_id, op->chain_id, chain_version, true,
                                     &op->target, &snapshot);
    if (status == 0 && at_head) {
        const struct target_record *head = routing_chain_head(&snapshot->info, op->chain_id);
        if (head == NULL || head->target_id != target_id ||
            head->public_state != TARGET_PUBLIC_SERVING)
            status = CHAINFS_ROUTING_STALE;
    }
    routing_snapshot_release(snapshot);
    if (status == 0)
        return true;
    rpc_request_fail(op->request, status, "target %llu cannot remove chunks of chain %u version %llu",
                     (unsigned long long)target_id, op->chain_id,
                     (unsigned long long)chain_version);
    op_free(op);
    return false;
}

void storage_handle_remove_chunks(struct rpc_request *request)
{
    struct storage_remove_chunks_request m;
    struct wire_reader reader;
    wire_reader_init(&reader, request->message, request->message_length);
    if (!storage_remove_chunks_request_decode(&reader, &m) || request->payload_length != 0) {
        rpc_request_fail(request, CHAINFS_MALFORMED, "malformed remove chunks request");
        return;
    }
    if (m.first_index > m.end_index) {
        rpc_request_fail(request, CHAINFS_INVALID_ARGUMENT, "first index after end index");
        return;
    }
    struct removal_op *op = op_new(request);
    if (op == NULL)
        return;
    op->chain_id = m.chain_id;
    op->inode = m.inode;
    if (!route(op, m.target_id, m.chain_version, true))
        return;
    int status = chunk_engine_list_range(op->target->engine, m.inode, m.first_index, m.end_index,
                                         &op->indexes, &op->count);
    if (status != 0) {
        finish(op, status);
        return;
    }
    start_batch(op);
}

void storage_handle_remove_listed(struct rpc_request *request)
{
    struct storage_remove_listed_request m;
    struct wire_reader reader;
    wire_reader_init(&reader, request->message, request->message_length);
    if (!storage_remove_listed_request_decode(&reader, &m)) {
        rpc_request_fail(request, CHAINFS_MALFORMED, "malformed remove listed request");
        return;
    }
    if (request->payload_length != 0) {
        free(m.indexes);
        rpc_request_fail(request, CHAINFS_MALFORMED, "remove listed takes no payload");
        return;
    }
    struct removal_op *op = op_new(request);
    if (op == NULL) {
        free(m.indexes);
        return;
    }
    op->chain_id = m.chain_id;
    op->inode = m.inode;
    op->indexes = m.indexes;
    op->count = m.count;
    if (route(op, m.target_id, m.chain_version, false))
        start_batch(op);
}
