/*
 * storage_write.c - the CRAQ update pipeline (DESIGN §7): WRITE and TRUNCATE_CHUNK
 * from clients at the head, UPDATE forwarded between targets.
 *
 * One update_op follows a request through its steps, each on a thread that may
 * block on disk but never waits for the network:
 *   1. the handler (rpc worker) decodes, checks the route and the client sequence,
 *      and asks for the chunk lock (chunk_lock.h: queued, not waited for);
 *   2. holding the lock it prepares the pending version (committed + 1), or applies
 *      the version rules for a forwarded update (update_rules.h);
 *   3. it forwards the update to the successor, asynchronously; a syncing successor
 *      gets the whole chunk as a REPLACE (recovery, DESIGN §7);
 *   4. the successor's answer comes back on an I/O thread: commit, reply, unlock.
 *      If the successor failed or changed, the op refreshes routing and forwards the
 *      same pending version to whoever follows now, until its deadline.
 * The tail (no successor receiving writes) commits at step 3. A head that gave up
 * after forwarding keeps its pending version (the successors may have committed it);
 * the next client update of the chunk replaces it down the chain whole and commits it
 * before its own step 2 (find_leftover_pending, leftover_completed).
 */
#define LOG_COMPONENT "storage"
#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"
#include "common/clock.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "mgmtd/target_state.h"
#include "storage/storage_internal.h"

#define DEFAULT_DEADLINE_NS (10 * CLOCK_NS_PER_S)

struct update_op {
    struct storage_node *node;
    struct storage_target *target;
    struct rpc_request *request;
    bool from_client;                    /* WRITE / TRUNCATE_CHUNK at the head */
    struct storage_update_request update; /* what to apply (and forward) */
    const void *data;                    /* request payload: WRITE / REPLACE data */
    bool tracked;                        /* exactly-once bookkeeping started */
    bool holds_lock;
    bool has_pending; /* a pending version we prepared and must commit or abort */
    bool forwarded;   /* a call to a successor was started: it may have applied it */
    bool completing_leftover; /* replacing an earlier op's pending version down the chain */
    struct storage_commit_reply result;
    uint64_t deadline;
    struct chunk_lock_waiter waiter;

    struct wire_writer message;
    struct chain_forwarder forwarder; /* owns the call to the successor */
    void *replace_content; /* whole chunk sent to a syncing successor */
    char error_text[200];
};

static void op_free(struct update_op *op)
{
    storage_forward_release(&op->forwarder);
    wire_writer_free(&op->message);
    free(op->replace_content);
    free(op);
}

/* Ends the op: undoes an uncommitted pending version, unlocks, answers. */
static void finish(struct update_op *op, int status)
{
    struct chunk_engine *engine = op->target ? op->target->engine : NULL;
    /* At the head, a version that went to a successor stays pending when the op fails:
     * the successors may have applied (the tail committed) it, and aborting it here
     * would leave the replicas apart. The next update of the chunk completes it. */
    bool keep_pending = op->from_client && op->forwarded;
    if (status != 0 && op->has_pending && !keep_pending) {
        int abort_status = chunk_engine_abort(engine, &op->update.chunk_id, op->result.version);
        if (abort_status != 0)
            log_warn("target %llu: abort of version %llu failed: %s",
                     (unsigned long long)op->target->target_id,
                     (unsigned long long)op->result.version, chainfs_error_name(abort_status));
    }
    if (op->holds_lock)
        chunk_lock_release(op->target->locks, &op->update.chunk_id);
    if (op->tracked)
        write_dedup_finish(op->node->dedup, &op->update.tag, status, &op->result);
    if (status == 0) {
        storage_commit_reply_encode(&op->request->reply, &op->result);
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
    struct update_op *op = argument;
    if (text != NULL)
        snprintf(op->error_text, sizeof op->error_text, "%.*s", (int)sizeof op->error_text - 1,
                 text);
    finish(op, status);
}

static void commit_and_finish(void *argument)
{
    struct update_op *op = argument;
    if (op->has_pending) {
        int status = chunk_engine_commit(op->target->engine, &op->update.chunk_id, op->result.version);
        if (status != 0) {
            fail(op, status, "commit failed");
            return;
        }
        op->has_pending = false;
    }
    finish(op, 0);
}

static void set_result(struct update_op *op, const struct chunk_update *update)
{
    op->result = (struct storage_commit_reply){update->version, update->length, update->crc};
}

/* Prepares the pending version of a WRITE or TRUNCATE on the committed content. */
static int prepare(struct update_op *op, uint64_t chain_version)
{
    struct chunk_update prepared;
    const struct storage_update_request *u = &op->update;
    int status = u->kind == STORAGE_UPDATE_WRITE
                     ? chunk_engine_prepare_update(op->target->engine, &u->chunk_id, u->offset,
                                                   op->data, u->length, chain_version, &prepared)
                     : chunk_engine_prepare_truncate(op->target->engine, &u->chunk_id, u->length,
                                                     chain_version, &prepared);
    if (status == 0) {
        op->has_pending = true;
        set_result(op, &prepared);
    }
    return status;
}

/* A forwarded WRITE/TRUNCATE at a successor: the version rules. Returns 0 to go on
 * forwarding, or a status; *done when the op was answered already-committed. */
static int apply_forwarded(struct update_op *op, bool *done)
{
    const struct storage_update_request *u = &op->update;
    struct chunk_metadata metadata;
    memset(&metadata, 0, sizeof metadata);
    int status = chunk_engine_stat(op->target->engine, &u->chunk_id, &metadata);
    if (status != 0 && status != CHAINFS_NOT_FOUND)
        return status;
    switch (update_rules_decide(metadata.committed.version, metadata.pending.version,
                                u->update_version)) {
    case UPDATE_ALREADY_COMMITTED:
        op->result = (struct storage_commit_reply){metadata.committed.version,
                                                   metadata.committed.length,
                                                   metadata.committed.crc};
        *done = true;
        return 0;
    case UPDATE_OUT_OF_ORDER:
        snprintf(op->error_text, sizeof op->error_text,
                 "update version %llu out of order (committed %llu)",
                 (unsigned long long)u->update_version,
                 (unsigned long long)metadata.committed.version);
        return CHAINFS_INVALID_ARGUMENT;
    case UPDATE_REPLACE_PENDING:
        status = chunk_engine_abort(op->target->engine, &u->chunk_id, metadata.pending.version);
        if (status != 0)
            return status;
        break;
    case UPDATE_APPLY:
        break;
    }
    status = prepare(op, u->chunk_chain_version);
    if (status != 0)
        return status;
    if (op->result.crc != u->expected_crc || op->result.length != u->expected_length) {
        snprintf(op->error_text, sizeof op->error_text,
                 "replica content differs: crc %08x length %llu, predecessor has %08x %llu",
                 op->result.crc, (unsigned long long)op->result.length, u->expected_crc,
                 (unsigned long long)u->expected_length);
        return CHAINFS_CHECKSUM;
    }
    return 0;
}

/* A full-chunk replace (recovery): installed committed at once. */
static int apply_replace(struct update_op *op)
{
    const struct storage_update_request *u = &op->update;
    if (crc32c(0, op->data, u->length) != u->expected_crc || u->length != u->expected_length) {
        snprintf(op->error_text, sizeof op->error_text, "replace content does not match its crc");
        return CHAINFS_CHECKSUM;
    }
    struct chunk_update installed;
    int status = chunk_engine_install(op->target->engine, &u->chunk_id, op->data, u->length,
                                      u->update_version, u->chunk_chain_version, &installed);
    if (status == 0)
        set_result(op, &installed);
    return status;
}

static void forward(struct update_op *op);

/* At the head, holding the lock, no update of the chunk is in flight: a pending
 * version is one an earlier op forwarded without learning the outcome (its call timed
 * out, the successor changed). It may be committed downstream, so it is not dropped:
 * it goes down the chain whole (REPLACE) and is committed here, then the op's own
 * update follows. Returns whether such a version was found (then *status says how
 * looking went). */
static bool find_leftover_pending(struct update_op *op, int *status)
{
    struct chunk_metadata metadata;
    *status = chunk_engine_stat(op->target->engine, &op->update.chunk_id, &metadata);
    if (*status == CHAINFS_NOT_FOUND) {
        *status = 0;
        return false;
    }
    if (*status != 0 || !chunk_metadata_has_pending(&metadata))
        return false;
    op->result = (struct storage_commit_reply){metadata.pending.version, metadata.pending.length,
                                               metadata.pending.crc};
    op->has_pending = true;
    op->completing_leftover = true;
    return true;
}

/* Step 2: runs holding the chunk lock. */
static void locked(void *argument)
{
    struct update_op *op = argument;
    op->holds_lock = true;
    const struct storage_update_request *u = &op->update;
    int status = 0;
    bool done = false;
    if (op->from_client && find_leftover_pending(op, &status)) {
        forward(op); /* leftover_completed goes on with the op's own update */
        return;
    } else if (op->from_client) {
        if (status == 0)
            status = prepare(op, u->chain_version);
    } else if (u->kind == STORAGE_UPDATE_REPLACE) {
        status = apply_replace(op);
    } else if (u->kind == STORAGE_UPDATE_REMOVE) {
        status = chunk_engine_remove(op->target->engine, &u->chunk_id);
        if (status == CHAINFS_NOT_FOUND)
            status = 0;
    } else {
        status = apply_forwarded(op, &done);
    }
    if (status != 0)
        finish(op, status);
    else if (done)
        finish(op, 0);
    else
        forward(op);
}

/* Reads the whole pending (or, without one, committed) content for a REPLACE. */
static int load_replace_content(struct update_op *op)
{
    if (op->result.length == 0)
        return 0;
    op->replace_content = malloc(op->result.length);
    if (op->replace_content == NULL)
        return CHAINFS_NO_MEMORY;
    struct chunk_read_result read;
    int status = chunk_engine_read(op->target->engine, &op->update.chunk_id, 0, op->result.length,
                                   op->replace_content, op->has_pending ? CHUNK_READ_PENDING : 0,
                                   &read);
    if (status == 0 && (read.version != op->result.version || read.crc != op->result.crc))
        status = CHAINFS_INTERNAL;
    return status;
}

/* Builds the UPDATE for successor and starts it. */
static int start_forward(void *argument, const struct storage_successor *successor)
{
    struct update_op *op = argument;
    struct storage_update_request next = op->update;
    next.target_id = successor->target_id;
    next.chain_version = successor->chain_version;
    next.update_version = op->result.version;
    next.expected_crc = op->result.crc;
    next.expected_length = op->result.length;
    if (op->from_client)
        next.chunk_chain_version = op->update.chain_version;
    const void *payload = next.kind == STORAGE_UPDATE_WRITE || next.kind == STORAGE_UPDATE_REPLACE
                              ? op->data : NULL;
    size_t payload_length = payload ? next.length : 0;
    bool whole = op->completing_leftover || successor->public_state == TARGET_PUBLIC_SYNCING;
    if (whole && next.kind != STORAGE_UPDATE_REMOVE && next.kind != STORAGE_UPDATE_REPLACE) {
        /* A recovering target gets whole chunks: it may lack the base to apply to; so
         * does every successor of a leftover pending version (DESIGN §7: the
         * predecessor keeps forwarding a pending write until it is accepted). */
        if (op->replace_content == NULL) {
            int status = load_replace_content(op);
            if (status != 0)
                return status;
        }
        next.kind = STORAGE_UPDATE_REPLACE;
        next.offset = 0;
        next.length = (uint32_t)op->result.length;
        payload = op->replace_content;
        payload_length = op->result.length;
    }
    wire_writer_reset(&op->message);
    storage_update_request_encode(&op->message, &next);
    op->forwarded = true;
    return storage_forward_send(&op->forwarder, successor, STORAGE_METHOD_UPDATE, &op->message,
                                payload, payload_length);
}

/* Step 4, on an I/O thread: the successor's commit reply must be well formed and,
 * for the version we sent, have our content. */
static int check_reply(void *argument, const struct rpc_call *call)
{
    struct update_op *op = argument;
    struct storage_commit_reply reply;
    struct wire_reader reader;
    wire_reader_init(&reader, call->reply_message, call->reply_message_length);
    if (!storage_commit_reply_decode(&reader, &reply))
        return CHAINFS_MALFORMED;
    if (reply.version == op->result.version && reply.crc != op->result.crc)
        return CHAINFS_CHECKSUM;
    return 0;
}

static void leftover_completed(void *argument);

/* Step 3: send to the successor (step 4: check_reply, then commit), or commit as
 * the tail. */
static void forward(struct update_op *op)
{
    void (*then)(void *) = op->completing_leftover ? leftover_completed : commit_and_finish;
    op->forwarder = (struct chain_forwarder){
        .node = op->node, .target = op->target, .chain_id = op->update.chain_id,
        .deadline = op->deadline, .what = "update", .op = op, .start = start_forward,
        .check_reply = check_reply, .on_success = then, .at_tail = then, .give_up = fail};
    storage_forward_next(&op->forwarder);
}

/* The chain took the leftover pending version: commit it here, then prepare and
 * forward the op's own update on top of it (still holding the chunk lock). */
static void leftover_completed(void *argument)
{
    struct update_op *op = argument;
    int status = chunk_engine_commit(op->target->engine, &op->update.chunk_id, op->result.version);
    if (status != 0) {
        fail(op, status, "commit of a leftover pending version failed");
        return;
    }
    op->has_pending = false;
    op->completing_leftover = false;
    op->forwarded = false;
    free(op->replace_content);
    op->replace_content = NULL;
    status = prepare(op, op->update.chain_version);
    if (status != 0)
        finish(op, status);
    else
        forward(op);
}

/* Step 1 for every method: route, sequence, lock. */
static void begin(struct update_op *op)
{
    struct storage_node *node = op->node;
    struct rpc_request *request = op->request;
    const struct storage_update_request *u = &op->update;
    struct routing_snapshot *snapshot = NULL;
    int status = storage_check_route(node, u->target_id, u->chain_id, u->chain_version, true,
                                     &op->target, &snapshot);
    if (status == 0 && op->from_client) {
        const struct target_record *head = routing_chain_head(&snapshot->info, u->chain_id);
        if (head == NULL || head->target_id != u->target_id ||
            head->public_state != TARGET_PUBLIC_SERVING)
            status = CHAINFS_ROUTING_STALE;
    }
    routing_snapshot_release(snapshot);
    if (status != 0) {
        op->target = NULL;
        rpc_request_fail(request, status, "target %llu cannot take writes of chain %u version %llu",
                         (unsigned long long)u->target_id, u->chain_id,
                         (unsigned long long)u->chain_version);
        op_free(op);
        return;
    }
    if (op->from_client && storage_client_tag_is_set(&u->tag)) {
        switch (write_dedup_begin(node->dedup, &u->tag, &op->result)) {
        case SEQUENCE_REPLAY:
            storage_commit_reply_encode(&request->reply, &op->result);
            rpc_request_reply(request, 0);
            op_free(op);
            return;
        case SEQUENCE_IN_PROGRESS:
            rpc_request_fail(request, CHAINFS_BUSY, "this write is still in progress");
            op_free(op);
            return;
        case SEQUENCE_STALE:
            rpc_request_fail(request, CHAINFS_INVALID_ARGUMENT,
                             "sequence %llu is older than the channel's newest",
                             (unsigned long long)u->tag.sequence);
            op_free(op);
            return;
        case SEQUENCE_NEW:
            op->tracked = true;
            break;
        }
    }
    op->waiter = (struct chunk_lock_waiter){.run = locked, .argument = op};
    if (chunk_lock_acquire(op->target->locks, &u->chunk_id, &op->waiter))
        locked(op);
}

static struct update_op *op_new(struct rpc_request *request, bool from_client)
{
    struct update_op *op = calloc(1, sizeof *op);
    if (op == NULL) {
        rpc_request_reply(request, CHAINFS_NO_MEMORY);
        return NULL;
    }
    op->node = request->service_context;
    op->request = request;
    op->from_client = from_client;
    wire_writer_init(&op->message);
    op->deadline = request->deadline != DEADLINE_NEVER ? request->deadline
                                                       : deadline_after_ns(DEFAULT_DEADLINE_NS);
    op->data = request->payload;
    return op;
}

/* offset + length within the chunk size, the chunk size within the engine's limit. */
static bool range_fits(struct storage_node *node, uint64_t offset, uint64_t length,
                       uint32_t chunk_size)
{
    return chunk_size != 0 && (uint64_t)chunk_size <= (uint64_t)node->config->chunk_size_limit &&
           offset <= chunk_size && length <= chunk_size - offset;
}

void storage_handle_write(struct rpc_request *request)
{
    struct storage_write_request m;
    struct wire_reader reader;
    wire_reader_init(&reader, request->message, request->message_length);
    if (!storage_write_request_decode(&reader, &m)) {
        rpc_request_fail(request, CHAINFS_MALFORMED, "malformed write request");
        return;
    }
    if (m.length == 0 || m.length != request->payload_length) {
        rpc_request_fail(request, CHAINFS_INVALID_ARGUMENT, "write length %u but payload %zu bytes",
                         m.length, request->payload_length);
        return;
    }
    struct storage_node *node = request->service_context;
    if (!range_fits(node, m.offset, m.length, m.chunk_size)) {
        rpc_request_fail(request, CHAINFS_INVALID_ARGUMENT,
                         "range %llu+%u exceeds chunk size %u (limit %lld)",
                         (unsigned long long)m.offset, m.length, m.chunk_size,
                         (long long)node->config->chunk_size_limit);
        return;
    }
    struct update_op *op = op_new(request, true);
    if (op == NULL)
        return;
    op->update = (struct storage_update_request){
        .target_id = m.target_id, .chain_id = m.chain_id, .chain_version = m.chain_version,
        .chunk_id = m.chunk_id, .kind = STORAGE_UPDATE_WRITE, .offset = m.offset,
        .length = m.length, .chunk_size = m.chunk_size, .chunk_chain_version = m.chain_version,
        .tag = m.tag};
    begin(op);
}

void storage_handle_truncate(struct rpc_request *request)
{
    struct storage_truncate_request m;
    struct wire_reader reader;
    wire_reader_init(&reader, request->message, request->message_length);
    if (!storage_truncate_request_decode(&reader, &m) || request->payload_length != 0) {
        rpc_request_fail(request, CHAINFS_MALFORMED, "malformed truncate request");
        return;
    }
    struct storage_node *node = request->service_context;
    if (!range_fits(node, 0, m.length, m.chunk_size)) {
        rpc_request_fail(request, CHAINFS_INVALID_ARGUMENT, "length %llu exceeds chunk size %u",
                         (unsigned long long)m.length, m.chunk_size);
        return;
    }
    struct update_op *op = op_new(request, true);
    if (op == NULL)
        return;
    op->update = (struct storage_update_request){
        .target_id = m.target_id, .chain_id = m.chain_id, .chain_version = m.chain_version,
        .chunk_id = m.chunk_id, .kind = STORAGE_UPDATE_TRUNCATE, .length = (uint32_t)m.length,
        .chunk_size = m.chunk_size, .chunk_chain_version = m.chain_version};
    begin(op);
}

void storage_handle_update(struct rpc_request *request)
{
    struct storage_update_request m;
    struct wire_reader reader;
    wire_reader_init(&reader, request->message, request->message_length);
    if (!storage_update_request_decode(&reader, &m)) {
        rpc_request_fail(request, CHAINFS_MALFORMED, "malformed update request");
        return;
    }
    bool carries_data = m.kind == STORAGE_UPDATE_WRITE || m.kind == STORAGE_UPDATE_REPLACE;
    size_t expected_payload = carries_data ? m.length : 0;
    struct storage_node *node = request->service_context;
    bool fits = m.kind == STORAGE_UPDATE_WRITE    ? range_fits(node, m.offset, m.length, m.chunk_size)
                : m.kind == STORAGE_UPDATE_REMOVE ? true
                                                  : range_fits(node, 0, m.length, m.chunk_size);
    if (request->payload_length != expected_payload || !fits || m.update_version == 0) {
        rpc_request_fail(request, CHAINFS_INVALID_ARGUMENT, "inconsistent update request");
        return;
    }
    struct update_op *op = op_new(request, false);
    if (op == NULL)
        return;
    op->update = m;
    begin(op);
}
