/*
 * mgmtd_heartbeat.c - heartbeats of nodes, client sessions, and the failure sweep that marks
 * silent ones dead (their targets go offline).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEARTBEAT_TARGETS_MAX 1024

#define LOG_COMPONENT "mgmtd"
#include "chainfs/error.h"
#include "common/clock.h"
#include "common/log.h"
#include "kv/kv.h"
#include "mgmtd/cluster_records.h"
#include "mgmtd/mgmtd_internal.h"
#include "mgmtd/mgmtd_keys.h"
#include "mgmtd/mgmtd_protocol.h"
#include "mgmtd/routing_info.h"
#include "mgmtd/target_state.h"

/* --- HEARTBEAT ---------------------------------------------------------------------- */

struct heartbeat_target {
    uint64_t target_id;
    uint32_t disk_index;
    uint8_t local_state;
    uint64_t used_bytes;
    uint64_t capacity_bytes;
};

struct heartbeat {
    struct transaction_context context;
    struct node_record node;
    uint32_t target_count;
    struct heartbeat_target *targets;
    uint64_t incarnation; /* of the sending process; 0: not sent (older clients) */
    uint64_t routing_version;
    uint64_t config_version;
};

static bool decode_heartbeat(const struct rpc_request *request, struct heartbeat *heartbeat)
{
    struct wire_reader reader;
    wire_reader_init(&reader, request->message, request->message_length);
    heartbeat->node.node_id = wire_get_u32(&reader);
    heartbeat->node.type = wire_get_u8(&reader);
    wire_get_string(&reader, heartbeat->node.address, sizeof(heartbeat->node.address));
    heartbeat->target_count = wire_get_u32(&reader);
    if (!wire_reader_ok(&reader) || heartbeat->node.node_id == 0 ||
        !node_type_name(heartbeat->node.type) || heartbeat->target_count > HEARTBEAT_TARGETS_MAX)
        return false;
    heartbeat->targets = calloc(heartbeat->target_count + 1, sizeof(*heartbeat->targets));
    for (uint32_t i = 0; heartbeat->targets && i < heartbeat->target_count; i++) {
        struct heartbeat_target *target = &heartbeat->targets[i];
        target->target_id = wire_get_u64(&reader);
        target->disk_index = wire_get_u32(&reader);
        target->local_state = wire_get_u8(&reader);
        target->used_bytes = wire_get_u64(&reader);
        target->capacity_bytes = wire_get_u64(&reader);
        if (target->target_id == 0 || !target_local_state_is_valid(target->local_state))
            return false;
    }
    if (wire_reader_remaining(&reader) >= 8)
        heartbeat->incarnation = wire_get_u64(&reader);
    return heartbeat->targets && wire_reader_done(&reader);
}

/* Refuses a heartbeat of an older process of the node: after a partition heals, the
 * kernel may still deliver what a process that has since exited sent, and applying
 * it would report the restarted node's targets with stale states. A newer process's
 * first heartbeat records its incarnation. */
static int check_incarnation(struct kv_transaction *transaction, struct heartbeat *heartbeat)
{
    if (heartbeat->incarnation == 0)
        return 0;
    uint8_t key[MGMTD_KEY_MAX];
    size_t key_length = mgmtd_key_node_incarnation(key, heartbeat->node.node_id);
    const void *value;
    size_t length;
    int status = kv_get(transaction, key, key_length, &value, &length);
    uint64_t stored = 0;
    if (status == 0 && length == 8)
        stored = wire_load_u64(value);
    else if (status != CHAINFS_NOT_FOUND && status != 0)
        return status;
    if (heartbeat->incarnation < stored)
        return mgmtd_refuse(&heartbeat->context, CHAINFS_NOT_PERMITTED,
                            "heartbeat of an older process of node %u (incarnation %llu < %llu)",
                            heartbeat->node.node_id, (unsigned long long)heartbeat->incarnation,
                            (unsigned long long)stored);
    if (heartbeat->incarnation == stored)
        return 0;
    uint8_t encoded[8];
    wire_store_u64(encoded, heartbeat->incarnation);
    return kv_set(transaction, key, key_length, encoded, sizeof(encoded));
}

static uint64_t distance(uint64_t a, uint64_t b)
{
    return a > b ? a - b : b - a;
}

/* Whether reported space differs enough from the stored figures to be worth a write:
 * capacity or usage moved by more than 1/256 of the capacity (at least 1 MiB). The
 * capacity of a target without a budget follows its disk's free space, so it moves too. */
static bool space_changed_enough(const struct target_record *stored,
                                 const struct heartbeat_target *reported)
{
    uint64_t step = reported->capacity_bytes / 256;
    if (step < (1u << 20))
        step = 1u << 20;
    return distance(stored->capacity_bytes, reported->capacity_bytes) >= step ||
           distance(stored->used_bytes, reported->used_bytes) >= step;
}

/* Creates or refreshes one reported target; sets *changed when routing info changed. */
static int apply_heartbeat_target(struct kv_transaction *transaction, struct heartbeat *heartbeat,
                                  const struct heartbeat_target *reported, bool *changed)
{
    struct target_record target;
    int status = mgmtd_read_target(transaction, reported->target_id, &target);
    bool created = status == CHAINFS_NOT_FOUND;
    if (created) {
        target = (struct target_record){.target_id = reported->target_id,
                                        .node_id = heartbeat->node.node_id,
                                        .public_state = TARGET_PUBLIC_OFFLINE};
        status = 0;
        *changed = true;
    }
    if (status != 0)
        return status;
    if (target.node_id != heartbeat->node.node_id)
        return mgmtd_refuse(&heartbeat->context, CHAINFS_INVALID_ARGUMENT,
                            "target %llu belongs to node %u, not node %u",
                            (unsigned long long)target.target_id, target.node_id,
                            heartbeat->node.node_id);
    struct heartbeat_target effective = *reported;
    if (target.offline_by_admin)
        effective.local_state = TARGET_LOCAL_OFFLINE; /* held offline by hand */
    reported = &effective;
    bool state_changed = target.local_state != reported->local_state ||
                         target.disk_index != reported->disk_index;
    *changed |= state_changed;
    /* Space figures change at nearly every beat; rewriting the record each time would
     * make every beat conflict with the sweeps that read all targets. */
    if (!created && !state_changed && !space_changed_enough(&target, reported))
        return 0;
    target.local_state = reported->local_state;
    target.disk_index = reported->disk_index;
    target.used_bytes = reported->used_bytes;
    target.capacity_bytes = reported->capacity_bytes;
    return mgmtd_write_target(transaction, &target);
}

static int heartbeat_transaction(struct kv_transaction *transaction, void *argument)
{
    struct heartbeat *heartbeat = argument;
    int status = mgmtd_fence(transaction, &heartbeat->context);
    if (status != 0)
        return status;
    struct node_record stored;
    status = mgmtd_read_node(transaction, heartbeat->node.node_id, &stored);
    if (status == 0 && !stored.enabled)
        return mgmtd_refuse(&heartbeat->context, CHAINFS_NOT_PERMITTED,
                      "node %u is disabled by an admin", heartbeat->node.node_id);
    if (status == 0 || status == CHAINFS_NOT_FOUND) {
        int incarnation_status = check_incarnation(transaction, heartbeat);
        if (incarnation_status != 0)
            return incarnation_status;
    }
    bool changed = false;
    if (status == CHAINFS_NOT_FOUND || (status == 0 && (!stored.alive ||
        stored.type != heartbeat->node.type || strcmp(stored.address, heartbeat->node.address) != 0))) {
        heartbeat->node.enabled = status == CHAINFS_NOT_FOUND ? true : stored.enabled;
        heartbeat->node.alive = true;
        status = mgmtd_write_node(transaction, &heartbeat->node);
        changed = true;
    }
    for (uint32_t i = 0; status == 0 && i < heartbeat->target_count; i++)
        status = apply_heartbeat_target(transaction, heartbeat, &heartbeat->targets[i], &changed);
    if (status == 0 && changed)
        status = routing_version_bump(transaction);
    if (status == 0) /* a snapshot read: reporting the version must not conflict with bumps */
        status = routing_version_read_snapshot(transaction, &heartbeat->routing_version);
    if (status == 0)
        status = mgmtd_latest_config(transaction, heartbeat->node.type, &heartbeat->config_version, NULL,
                               NULL);
    return status;
}

void mgmtd_handle_heartbeat(struct rpc_request *request)
{
    struct heartbeat heartbeat;
    memset(&heartbeat, 0, sizeof(heartbeat));
    mgmtd_context_init(&heartbeat.context, request->service_context);
    if (!decode_heartbeat(request, &heartbeat)) {
        free(heartbeat.targets);
        rpc_request_fail(request, CHAINFS_MALFORMED, "malformed heartbeat");
        return;
    }
    int status = mgmtd_run(heartbeat.context.mgmtd, heartbeat_transaction, &heartbeat);
    free(heartbeat.targets);
    if (status == 0) {
        char key[LIVENESS_KEY_MAX];
        mgmtd_node_liveness_key(key, heartbeat.node.node_id);
        mgmtd_note_alive(heartbeat.context.mgmtd, key);
        wire_put_u64(&request->reply, heartbeat.routing_version);
        wire_put_u64(&request->reply, heartbeat.config_version);
    }
    mgmtd_reply(request, status, &heartbeat.context);
}

/* --- client sessions ---------------------------------------------------------------- */

struct session_extension {
    struct transaction_context context;
    struct client_session_record session;
};

static int session_extension_transaction(struct kv_transaction *transaction, void *argument)
{
    struct session_extension *extension = argument;
    int status = mgmtd_fence(transaction, &extension->context);
    uint8_t key[MGMTD_KEY_MAX];
    size_t key_length = mgmtd_key_client_session(key, extension->session.client_id);
    struct wire_reader reader;
    if (status == 0)
        status = mgmtd_read_record(transaction, key, key_length, &reader);
    struct client_session_record stored;
    if (status == 0 && client_session_record_decode(&reader, &stored) && stored.alive &&
        strcmp(stored.description, extension->session.description) == 0)
        return 0; /* nothing to store: liveness is kept in memory */
    if (status != 0 && status != CHAINFS_NOT_FOUND)
        return status;
    extension->session.alive = true;
    struct wire_writer writer;
    wire_writer_init(&writer);
    client_session_record_encode(&writer, &extension->session);
    return mgmtd_write_encoded(transaction, key, key_length, &writer);
}

void mgmtd_handle_extend_client_session(struct rpc_request *request)
{
    struct session_extension extension;
    mgmtd_context_init(&extension.context, request->service_context);
    memset(&extension.session, 0, sizeof(extension.session));
    struct wire_reader reader;
    wire_reader_init(&reader, request->message, request->message_length);
    wire_get_string(&reader, extension.session.client_id, sizeof(extension.session.client_id));
    wire_get_string(&reader, extension.session.description, sizeof(extension.session.description));
    if (!wire_reader_done(&reader) || extension.session.client_id[0] == '\0') {
        rpc_request_fail(request, CHAINFS_MALFORMED,
                         "expected a client id (1 to %d bytes) and a description", CLIENT_ID_MAX - 1);
        return;
    }
    int status = mgmtd_run(extension.context.mgmtd, session_extension_transaction, &extension);
    if (status == 0) {
        char key[LIVENESS_KEY_MAX];
        mgmtd_client_liveness_key(key, extension.session.client_id);
        mgmtd_note_alive(extension.context.mgmtd, key);
    }
    mgmtd_reply(request, status, &extension.context);
}

void mgmtd_handle_list_client_sessions(struct rpc_request *request)
{
    struct mgmtd *mgmtd = request->service_context;
    struct kv_transaction *transaction = NULL;
    int status = kv_begin(mgmtd->store, &transaction);
    uint8_t begin[4], end[4];
    mgmtd_key_prefix_range("CLSE", begin, end);
    struct kv_range_result rows = {0};
    if (status == 0)
        status = kv_get_range(transaction, begin, 4, end, 4, NULL, &rows);
    if (status == 0) {
        wire_put_u32(&request->reply, (uint32_t)rows.count);
        for (size_t i = 0; i < rows.count; i++)
            wire_put_raw(&request->reply, rows.rows[i].value, rows.rows[i].value_length);
    }
    kv_abort(transaction);
    if (status != 0)
        rpc_request_fail(request, status, "cannot list client sessions: %s", chainfs_error_message(status));
    else
        rpc_request_reply(request, 0);
}

struct failure_sweep {
    struct transaction_context context;
    uint64_t now;
    uint64_t fail_after_ns;
    uint32_t failed;
};

/* Whether key has not been heard from for the failure interval. A beat may land after
 * the sweep read the clock (then last heard is later than now): that is not silence. */
static bool silent_too_long(const struct failure_sweep *sweep, const char *key)
{
    uint64_t last = mgmtd_last_heard(sweep->context.mgmtd, key);
    return last < sweep->now && sweep->now - last >= sweep->fail_after_ns;
}

/* Marks client sessions that stopped extending as dead (metadata servers then prune
 * their write sessions). */
static int sweep_client_sessions(struct kv_transaction *transaction, struct failure_sweep *sweep)
{
    uint8_t begin[4], end[4];
    mgmtd_key_prefix_range("CLSE", begin, end);
    struct kv_range_result rows;
    int status = kv_get_range(transaction, begin, 4, end, 4, NULL, &rows);
    for (size_t i = 0; status == 0 && i < rows.count; i++) {
        struct wire_reader reader;
        struct client_session_record session;
        wire_reader_init(&reader, rows.rows[i].value, rows.rows[i].value_length);
        char key[LIVENESS_KEY_MAX];
        if (!client_session_record_decode(&reader, &session) || !session.alive)
            continue;
        mgmtd_client_liveness_key(key, session.client_id);
        if (!silent_too_long(sweep, key))
            continue;
        log_warn("client %s (%s) stopped extending its session: marking it dead",
                 session.client_id, session.description);
        session.alive = false;
        struct wire_writer writer;
        wire_writer_init(&writer);
        client_session_record_encode(&writer, &session);
        status = mgmtd_write_encoded(transaction, rows.rows[i].key, rows.rows[i].key_length, &writer);
        sweep->failed++;
    }
    return status;
}

/* Marks silent nodes dead and their targets' local state offline. */
static int failure_sweep_transaction(struct kv_transaction *transaction, void *argument)
{
    struct failure_sweep *sweep = argument;
    sweep->failed = 0;
    int status = mgmtd_fence(transaction, &sweep->context);
    struct routing_info info = {0};
    if (status == 0)
        status = routing_info_load(transaction, &info);
    for (size_t i = 0; status == 0 && i < info.node_count; i++) {
        struct node_record node = info.nodes[i];
        char key[LIVENESS_KEY_MAX];
        mgmtd_node_liveness_key(key, node.node_id);
        if (!node.alive || node.type == NODE_TYPE_MGMTD || !silent_too_long(sweep, key))
            continue;
        log_warn("node %u (%s at %s) missed heartbeats for %lld ms: marking it failed",
                 node.node_id, node_type_name(node.type), node.address,
                 (long long)(sweep->fail_after_ns / CLOCK_NS_PER_MS));
        node.alive = false;
        status = mgmtd_write_node(transaction, &node);
        if (status == 0)
            status = mgmtd_take_node_targets_offline(transaction, &info, node.node_id);
        sweep->failed++;
    }
    if (status == 0)
        status = sweep_client_sessions(transaction, sweep);
    routing_info_free(&info);
    if (status == 0 && sweep->failed)
        status = routing_version_bump(transaction);
    return status;
}

int mgmtd_sweep_failures(struct mgmtd *mgmtd)
{
    struct failure_sweep sweep;
    mgmtd_context_init(&sweep.context, mgmtd);
    sweep.now = clock_now_ns();
    sweep.fail_after_ns = (uint64_t)mgmtd->config->heartbeat_fail_interval * CLOCK_NS_PER_MS;
    return mgmtd_run(mgmtd, failure_sweep_transaction, &sweep);
}
