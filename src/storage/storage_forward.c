/*
 * storage_forward.c - what every change sent down a chain (CRAQ writes in
 * storage_write.c, removals in storage_remove.c) shares: finding the successor as
 * routing shows it now, the call to it (its completion moved from the RPC client's
 * loop thread to an I/O thread, the reply checked by the op's hook, then the op's
 * continuation), and after a failure deciding whether to try again (with whoever
 * follows then) or give up. The op files keep only what is theirs: the message,
 * what a good reply is, what to do when the successor took the change.
 */
#include <stdio.h>

#include "chainfs/error.h"
#include "common/clock.h"
#include "mgmtd/target_state.h"
#include "storage/storage_internal.h"

#define REFORWARD_PAUSE_NS (20 * CLOCK_NS_PER_MS)

bool storage_forward_retryable(int status)
{
    return status == CHAINFS_DISCONNECTED || status == CHAINFS_CONNECT_FAILED ||
           status == CHAINFS_TIMEOUT || status == CHAINFS_ROUTING_STALE ||
           status == CHAINFS_SHUTTING_DOWN || status == CHAINFS_BUSY ||
           status == CHAINFS_UNAVAILABLE || status == CHAINFS_NOT_FOUND ||
           status == CHAINFS_CANCELLED;
}

enum successor_lookup storage_find_successor(struct storage_node *node,
                                             const struct storage_target *target,
                                             uint32_t chain_id, struct storage_successor *out)
{
    struct routing_snapshot *snapshot = routing_cache_acquire(node->routing);
    if (snapshot == NULL)
        return SUCCESSOR_LEFT_CHAIN;
    const struct routing_info *info = &snapshot->info;
    const struct target_record *self = routing_info_target(info, target->target_id);
    enum successor_lookup result = SUCCESSOR_NONE;
    if (self == NULL || self->chain_id != chain_id ||
        !target_public_state_receives_writes((enum target_public_state)self->public_state)) {
        result = SUCCESSOR_LEFT_CHAIN;
    } else {
        const struct target_record *successor =
            routing_chain_successor(info, chain_id, self->target_id);
        const char *address =
            successor != NULL ? routing_target_address(info, successor->target_id) : NULL;
        if (successor != NULL && address == NULL) {
            result = SUCCESSOR_UNREACHABLE;
        } else if (successor != NULL) {
            *out = (struct storage_successor){successor->target_id, successor->public_state,
                                              storage_chain_version(snapshot, chain_id), ""};
            snprintf(out->address, sizeof out->address, "%s", address);
            result = SUCCESSOR_FOUND;
        }
    }
    routing_snapshot_release(snapshot);
    return result;
}

/* Step 4 of a forwarded change, on an I/O thread: the successor answered (or the
 * call failed). The call is released before the op goes on, which may free it. */
static void forward_finished(void *argument)
{
    struct chain_forwarder *forwarder = argument;
    int status = forwarder->call.status;
    if (status == 0)
        status = forwarder->check_reply(forwarder->op, &forwarder->call);
    char text[sizeof forwarder->call.error_text];
    snprintf(text, sizeof text, "%s", forwarder->call.error_text);
    rpc_call_release(&forwarder->call);
    forwarder->call_active = false;
    if (status == 0) {
        forwarder->on_success(forwarder->op);
        return;
    }
    if (text[0] == '\0')
        snprintf(text, sizeof text, "successor refused the %s", forwarder->what);
    storage_forward_retry(forwarder, status, text);
}

/* Completion on the RPC client's loop thread, which must not block: move to an I/O
 * thread. */
static void forward_completed(struct rpc_call *call)
{
    struct chain_forwarder *forwarder = call->user_data;
    if (worker_pool_submit(forwarder->node->io_pool, forward_finished, forwarder) != 0)
        forward_finished(forwarder);
}

static int start_call(struct chain_forwarder *forwarder, const char *address, uint16_t method,
                      const struct wire_writer *message, const void *payload,
                      size_t payload_length)
{
    if (!wire_writer_ok(message))
        return CHAINFS_NO_MEMORY;
    struct rpc_call *call = &forwarder->call;
    rpc_call_init(call, STORAGE_SERVICE_ID, method);
    call->message = message->data;
    call->message_length = message->length;
    call->payload = payload;
    call->payload_length = payload_length;
    uint64_t remaining = deadline_remaining_ns(forwarder->deadline);
    call->timeout_ns = remaining > 0 ? remaining : 1;
    call->on_complete = forward_completed;
    call->user_data = forwarder;
    return rpc_call_start(forwarder->node->rpc, address, call);
}

int storage_forward_send(struct chain_forwarder *forwarder,
                         const struct storage_successor *successor, uint16_t method,
                         const struct wire_writer *message, const void *payload,
                         size_t payload_length)
{
    /* Set first: the completion may run (and clear it) before the start returns. */
    forwarder->call_active = true;
    int status =
        start_call(forwarder, successor->address, method, message, payload, payload_length);
    if (status != 0)
        forwarder->call_active = false;
    return status;
}

void storage_forward_release(struct chain_forwarder *forwarder)
{
    if (forwarder->call_active)
        rpc_call_release(&forwarder->call);
    forwarder->call_active = false;
}

void storage_forward_next(struct chain_forwarder *forwarder)
{
    if (atomic_load(&forwarder->node->shutting_down)) {
        forwarder->give_up(forwarder->op, CHAINFS_SHUTTING_DOWN, NULL);
        return;
    }
    char text[100];
    struct storage_successor successor;
    int status = CHAINFS_ROUTING_STALE;
    switch (storage_find_successor(forwarder->node, forwarder->target, forwarder->chain_id,
                                   &successor)) {
    case SUCCESSOR_LEFT_CHAIN:
        snprintf(text, sizeof text, "this target left the chain during the %s", forwarder->what);
        forwarder->give_up(forwarder->op, CHAINFS_ROUTING_STALE, text);
        return;
    case SUCCESSOR_NONE:
        forwarder->at_tail(forwarder->op);
        return;
    case SUCCESSOR_FOUND:
        status = forwarder->start(forwarder->op, &successor);
        break;
    case SUCCESSOR_UNREACHABLE:
        break;
    }
    if (status != 0) {
        snprintf(text, sizeof text, "cannot forward the %s", forwarder->what);
        storage_forward_retry(forwarder, status, text);
    }
}

void storage_forward_retry(struct chain_forwarder *forwarder, int status, const char *text)
{
    if (!storage_forward_retryable(status)) {
        forwarder->give_up(forwarder->op, status, text);
        return;
    }
    if (atomic_load(&forwarder->node->shutting_down) || deadline_expired(forwarder->deadline)) {
        char late[100];
        snprintf(late, sizeof late, "successor did not accept the %s before the deadline",
                 forwarder->what);
        forwarder->give_up(forwarder->op,
                           status == CHAINFS_ROUTING_STALE ? status : CHAINFS_TIMEOUT, late);
        return;
    }
    clock_sleep_ns(REFORWARD_PAUSE_NS);
    routing_cache_refresh(forwarder->node->routing);
    storage_forward_next(forwarder);
}
