/*
 * lease.c - the mgmtd lease protocol (see lease.h for why it is safe).
 */
#include <stdio.h>
#include <string.h>

#define LOG_COMPONENT "lease"
#include "chainfs/error.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/wire.h"
#include "kv/kv.h"
#include "mgmtd/lease.h"
#include "mgmtd/mgmtd_keys.h"

void lease_init(struct lease *lease, uint32_t self_node_id, const char *self_address,
                uint64_t length_ns)
{
    memset(lease, 0, sizeof(*lease));
    lease->self_node_id = self_node_id;
    snprintf(lease->self_address, sizeof(lease->self_address), "%s", self_address);
    lease->length_ns = length_ns;
}

/* A primary stops a fifth of the lease before any follower may take over. */
static uint64_t safety_margin(const struct lease *lease) { return lease->length_ns / 5; }

static int read_holder(struct kv_transaction *transaction, struct lease_holder *holder)
{
    const void *value;
    size_t length;
    memset(holder, 0, sizeof(*holder));
    int status = kv_get(transaction, MGMTD_KEY_LEASE_HOLDER, MGMTD_KEY_LEASE_HOLDER_LENGTH,
                        &value, &length);
    if (status == CHAINFS_NOT_FOUND)
        return 0;
    if (status != 0)
        return status;
    struct wire_reader reader;
    wire_reader_init(&reader, value, length);
    holder->epoch = wire_get_u64(&reader);
    holder->node_id = wire_get_u32(&reader);
    wire_get_string(&reader, holder->address, sizeof(holder->address));
    return wire_reader_done(&reader) ? 0 : CHAINFS_MALFORMED;
}

static int read_renewal(struct kv_transaction *transaction, uint64_t *renewal)
{
    const void *value;
    size_t length;
    *renewal = 0;
    int status = kv_get(transaction, MGMTD_KEY_LEASE_RENEWAL, MGMTD_KEY_LEASE_RENEWAL_LENGTH,
                        &value, &length);
    if (status == CHAINFS_NOT_FOUND)
        return 0;
    if (status != 0)
        return status;
    if (length != 8)
        return CHAINFS_MALFORMED;
    *renewal = wire_load_u64(value);
    return 0;
}

static int write_holder(struct kv_transaction *transaction, const struct lease_holder *holder)
{
    struct wire_writer writer;
    wire_writer_init(&writer);
    wire_put_u64(&writer, holder->epoch);
    wire_put_u32(&writer, holder->node_id);
    wire_put_string(&writer, holder->address);
    int status = wire_writer_ok(&writer)
                     ? kv_set(transaction, MGMTD_KEY_LEASE_HOLDER, MGMTD_KEY_LEASE_HOLDER_LENGTH,
                              writer.data, writer.length)
                     : CHAINFS_NO_MEMORY;
    wire_writer_free(&writer);
    return status;
}

static int write_renewal(struct kv_transaction *transaction, uint64_t renewal)
{
    uint8_t value[8];
    wire_store_u64(value, renewal);
    return kv_set(transaction, MGMTD_KEY_LEASE_RENEWAL, MGMTD_KEY_LEASE_RENEWAL_LENGTH, value, 8);
}

/* Commits, or aborts when an earlier step of the transaction failed. */
static int commit_or_abort(struct kv_transaction *transaction, int status)
{
    if (status == 0)
        return kv_commit(transaction);
    kv_abort(transaction);
    return status;
}

/* After a successful renewal or takeover: this process holds the lease as of started. */
static void note_held(struct lease *lease, const struct lease_holder *holder, uint64_t renewal,
                      uint64_t started)
{
    lease->holder = *holder;
    lease->observed_renewal = renewal;
    lease->observed_since = started;
    lease->valid_until = started + lease->length_ns - safety_margin(lease);
}

/* Reads both records in one transaction (no writes: commits trivially). */
static int observe(struct kv_store *store, struct lease_holder *holder, uint64_t *renewal)
{
    struct kv_transaction *transaction;
    int status = kv_begin(store, &transaction);
    if (status != 0)
        return status;
    status = read_holder(transaction, holder);
    if (status == 0)
        status = read_renewal(transaction, renewal);
    return commit_or_abort(transaction, status);
}

/* The primary's renewal: still the holder with our epoch? then bump the counter. */
static int renew(struct kv_store *store, struct lease *lease, uint64_t started)
{
    struct kv_transaction *transaction;
    int status = kv_begin(store, &transaction);
    if (status != 0)
        return status;
    struct lease_holder holder;
    uint64_t renewal = 0;
    status = read_holder(transaction, &holder);
    if (status == 0 && (holder.node_id != lease->self_node_id || holder.epoch != lease->epoch))
        status = CHAINFS_NOT_PRIMARY;
    if (status == 0)
        status = read_renewal(transaction, &renewal);
    if (status == 0)
        status = write_renewal(transaction, renewal + 1);
    status = commit_or_abort(transaction, status);
    if (status == 0)
        note_held(lease, &holder, renewal + 1, started);
    return status;
}

/* A follower's takeover: both records must still be what we watched go silent. */
static int take_over(struct kv_store *store, struct lease *lease, uint64_t started)
{
    struct kv_transaction *transaction;
    int status = kv_begin(store, &transaction);
    if (status != 0)
        return status;
    struct lease_holder holder;
    uint64_t renewal = 0;
    status = read_holder(transaction, &holder);
    if (status == 0)
        status = read_renewal(transaction, &renewal);
    if (status == 0 && (holder.epoch != lease->holder.epoch || renewal != lease->observed_renewal))
        status = CHAINFS_CONFLICT; /* somebody renewed or took over meanwhile */
    struct lease_holder next = {.epoch = holder.epoch + 1, .node_id = lease->self_node_id};
    snprintf(next.address, sizeof(next.address), "%s", lease->self_address);
    if (status == 0)
        status = write_holder(transaction, &next);
    if (status == 0)
        status = write_renewal(transaction, renewal + 1);
    status = commit_or_abort(transaction, status);
    if (status == 0) {
        lease->primary = true;
        lease->epoch = next.epoch;
        note_held(lease, &next, renewal + 1, started);
        log_info("node %u is now the primary mgmtd (epoch %llu, previous holder node %u)",
                 lease->self_node_id, (unsigned long long)next.epoch, holder.node_id);
    }
    return status;
}

static int follow(struct kv_store *store, struct lease *lease, uint64_t now)
{
    struct lease_holder holder;
    uint64_t renewal;
    int status = observe(store, &holder, &renewal);
    if (status != 0)
        return status;
    bool changed = !lease->observed || holder.epoch != lease->holder.epoch ||
                   holder.node_id != lease->holder.node_id || renewal != lease->observed_renewal;
    if (changed) {
        lease->holder = holder;
        lease->observed_renewal = renewal;
        lease->observed_since = now;
        lease->observed = true;
    }
    /* A holder that is alive (it renewed, or we have not watched a whole lease length
     * yet) keeps the lease; nobody holding it (node 0) means take it now. */
    if (holder.node_id != 0 && (changed || now - lease->observed_since < lease->length_ns))
        return 0;
    status = take_over(store, lease, now);
    return status == CHAINFS_CONFLICT ? 0 : status; /* lost the race: keep following */
}

int lease_tick(struct kv_store *store, struct lease *lease)
{
    uint64_t now = clock_now_ns();
    if (!lease->primary)
        return follow(store, lease, now);
    int status = renew(store, lease, now);
    if (status == CHAINFS_NOT_PRIMARY || now >= lease->valid_until) {
        log_warn("node %u is no longer the primary mgmtd (epoch %llu): %s", lease->self_node_id,
                 (unsigned long long)lease->epoch,
                 status ? chainfs_error_message(status) : "lease expired");
        lease->primary = false;
        lease->observed = false;
    }
    return status == CHAINFS_NOT_PRIMARY ? 0 : status;
}

bool lease_is_primary(const struct lease *lease)
{
    return lease->primary && clock_now_ns() < lease->valid_until;
}

int lease_fence(struct kv_transaction *transaction, const struct lease *lease)
{
    struct lease_holder holder;
    int status = read_holder(transaction, &holder);
    if (status != 0)
        return status;
    if (!lease_is_primary(lease) || holder.node_id != lease->self_node_id ||
        holder.epoch != lease->epoch)
        return CHAINFS_NOT_PRIMARY;
    return 0;
}

int lease_release(struct kv_store *store, struct lease *lease)
{
    if (!lease->primary)
        return 0;
    struct kv_transaction *transaction;
    int status = kv_begin(store, &transaction);
    if (status != 0)
        return status;
    struct lease_holder holder;
    status = read_holder(transaction, &holder);
    if (status == 0 && (holder.node_id != lease->self_node_id || holder.epoch != lease->epoch))
        status = CHAINFS_NOT_PRIMARY; /* somebody took over already: nothing to give up */
    struct lease_holder released = {.epoch = holder.epoch, .node_id = 0};
    if (status == 0)
        status = write_holder(transaction, &released);
    if (status != 0) {
        kv_abort(transaction);
        lease->primary = false;
        return status == CHAINFS_NOT_PRIMARY ? 0 : status;
    }
    status = kv_commit(transaction);
    lease->primary = false;
    if (status == 0)
        log_info("node %u released the primary lease (epoch %llu)", lease->self_node_id,
                 (unsigned long long)lease->epoch);
    return status;
}

int lease_read_holder(struct kv_store *store, struct lease_holder *holder)
{
    uint64_t renewal;
    return observe(store, holder, &renewal);
}
