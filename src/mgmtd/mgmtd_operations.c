/*
 * mgmtd_operations.c - requests of operators: who is primary, cluster initialisation, targets
 * held offline, nodes disabled, and versioned configs per node type.
 */
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_COMPONENT "mgmtd"
#include "chainfs/error.h"
#include "common/clock.h"
#include "common/log.h"
#include "kv/kv.h"
#include "mgmtd/cluster_records.h"
#include "mgmtd/lease.h"
#include "mgmtd/mgmtd_internal.h"
#include "mgmtd/mgmtd_protocol.h"
#include "mgmtd/mgmtd_keys.h"
#include "mgmtd/routing_info.h"
#include "mgmtd/target_state.h"

/* --- GET_PRIMARY -------------------------------------------------------------------- */

void mgmtd_handle_get_primary(struct rpc_request *request)
{
    struct mgmtd *mgmtd = request->service_context;
    struct lease_holder holder;
    int status = lease_read_holder(mgmtd->store, &holder);
    if (status != 0) {
        rpc_request_fail(request, status, "cannot read the lease: %s", chainfs_error_message(status));
        return;
    }
    wire_put_u32(&request->reply, holder.node_id);
    wire_put_string(&request->reply, holder.address);
    wire_put_u64(&request->reply, holder.epoch);
    rpc_request_reply(request, 0);
}

/* --- INIT_CLUSTER ------------------------------------------------------------------- */

struct cluster_init {
    struct transaction_context context;
    uint32_t chunk_size;
    uint32_t stripe_size;
    uint32_t default_table_id;
    bool force;
};

static int cluster_init_transaction(struct kv_transaction *transaction, void *argument)
{
    struct cluster_init *init = argument;
    int status = mgmtd_fence(transaction, &init->context);
    const void *value;
    size_t length;
    if (status == 0)
        status = kv_get(transaction, MGMTD_KEY_CLUSTER, MGMTD_KEY_CLUSTER_LENGTH, &value, &length);
    if (status == 0 && !init->force)
        return mgmtd_refuse(&init->context, CHAINFS_EXISTS,
                      "the cluster is already initialised; add --force to overwrite its settings");
    if (status != 0 && status != CHAINFS_NOT_FOUND)
        return status;
    uint8_t record[12];
    wire_store_u32(record, init->chunk_size);
    wire_store_u32(record + 4, init->stripe_size);
    wire_store_u32(record + 8, init->default_table_id);
    status = kv_set(transaction, MGMTD_KEY_CLUSTER, MGMTD_KEY_CLUSTER_LENGTH, record, sizeof(record));
    return status == 0 ? routing_version_bump(transaction) : status;
}

void mgmtd_handle_init_cluster(struct rpc_request *request)
{
    struct cluster_init init;
    mgmtd_context_init(&init.context, request->service_context);
    struct wire_reader reader;
    wire_reader_init(&reader, request->message, request->message_length);
    init.chunk_size = wire_get_u32(&reader);
    init.stripe_size = wire_get_u32(&reader);
    init.default_table_id = wire_get_u32(&reader);
    init.force = wire_get_bool(&reader);
    if (!wire_reader_done(&reader)) {
        rpc_request_fail(request, CHAINFS_MALFORMED, "malformed init-cluster request");
        return;
    }
    bool power_of_two = init.chunk_size && (init.chunk_size & (init.chunk_size - 1)) == 0;
    if (!power_of_two || init.chunk_size < (64u << 10) || init.chunk_size > (64u << 20) ||
        init.stripe_size == 0 || init.default_table_id == 0) {
        rpc_request_fail(request, CHAINFS_INVALID_ARGUMENT,
                         "chunk size must be a power of two from 64 KiB to 64 MiB, stripe size "
                         "and table id at least 1");
        return;
    }
    int status = mgmtd_run(init.context.mgmtd, cluster_init_transaction, &init);
    mgmtd_reply(request, status, &init.context);
}

/* --- SET_TARGET_OFFLINE and SET_NODE_ENABLED ---------------------------------------- */

struct target_switch {
    struct transaction_context context;
    uint64_t target_id;
    bool offline;
};

static int target_switch_transaction(struct kv_transaction *transaction, void *argument)
{
    struct target_switch *change = argument;
    int status = mgmtd_fence(transaction, &change->context);
    struct target_record target;
    if (status == 0)
        status = mgmtd_read_target(transaction, change->target_id, &target);
    if (status == CHAINFS_NOT_FOUND)
        return mgmtd_refuse(&change->context, status, "target %llu does not exist",
                      (unsigned long long)change->target_id);
    if (status != 0)
        return status;
    target.offline_by_admin = change->offline;
    if (change->offline)
        target.local_state = TARGET_LOCAL_OFFLINE; /* released: the next heartbeat says */
    status = mgmtd_write_target(transaction, &target);
    return status == 0 ? routing_version_bump(transaction) : status;
}

void mgmtd_handle_set_target_offline(struct rpc_request *request)
{
    struct target_switch change;
    mgmtd_context_init(&change.context, request->service_context);
    struct wire_reader reader;
    wire_reader_init(&reader, request->message, request->message_length);
    change.target_id = wire_get_u64(&reader);
    change.offline = wire_get_bool(&reader);
    if (!wire_reader_done(&reader)) {
        rpc_request_fail(request, CHAINFS_MALFORMED, "expected u64 target id, bool offline");
        return;
    }
    int status = mgmtd_run(change.context.mgmtd, target_switch_transaction, &change);
    if (status == 0)
        log_info("target %llu %s by an admin", (unsigned long long)change.target_id,
                 change.offline ? "held offline" : "released");
    mgmtd_reply(request, status, &change.context);
}

struct node_switch {
    struct transaction_context context;
    uint32_t node_id;
    bool enabled;
};

static int node_switch_transaction(struct kv_transaction *transaction, void *argument)
{
    struct node_switch *change = argument;
    int status = mgmtd_fence(transaction, &change->context);
    struct node_record node;
    if (status == 0)
        status = mgmtd_read_node(transaction, change->node_id, &node);
    if (status == CHAINFS_NOT_FOUND)
        return mgmtd_refuse(&change->context, status, "node %u does not exist", change->node_id);
    if (status != 0)
        return status;
    node.enabled = change->enabled;
    if (!change->enabled)
        node.alive = false; /* it counts as failed; enabling lets its next beat revive it */
    status = mgmtd_write_node(transaction, &node);
    if (status == 0 && !change->enabled) {
        struct routing_info info;
        status = routing_info_load(transaction, &info);
        if (status == 0)
            status = mgmtd_take_node_targets_offline(transaction, &info, node.node_id);
        routing_info_free(&info);
    }
    return status == 0 ? routing_version_bump(transaction) : status;
}

void mgmtd_handle_set_node_enabled(struct rpc_request *request)
{
    struct node_switch change;
    mgmtd_context_init(&change.context, request->service_context);
    struct wire_reader reader;
    wire_reader_init(&reader, request->message, request->message_length);
    change.node_id = wire_get_u32(&reader);
    change.enabled = wire_get_bool(&reader);
    if (!wire_reader_done(&reader)) {
        rpc_request_fail(request, CHAINFS_MALFORMED, "expected u32 node id, bool enabled");
        return;
    }
    int status = mgmtd_run(change.context.mgmtd, node_switch_transaction, &change);
    if (status == 0)
        log_info("node %u %s by an admin", change.node_id, change.enabled ? "enabled" : "disabled");
    mgmtd_reply(request, status, &change.context);
}

/* --- UNREGISTER_NODE -------------------------------------------------------------- */

struct node_removal {
    struct transaction_context context;
    uint32_t node_id;
    uint32_t targets_removed;
};

static int node_removal_transaction(struct kv_transaction *transaction, void *argument)
{
    struct node_removal *removal = argument;
    removal->targets_removed = 0;
    int status = mgmtd_fence(transaction, &removal->context);
    struct routing_info info = {0};
    if (status == 0)
        status = routing_info_load(transaction, &info);
    const struct node_record *node = status == 0 ? routing_info_node(&info, removal->node_id) : NULL;
    if (status == 0 && !node)
        status = mgmtd_refuse(&removal->context, CHAINFS_NOT_FOUND, "node %u does not exist",
                              removal->node_id);
    if (status == 0 && node->alive)
        status = mgmtd_refuse(&removal->context, CHAINFS_BUSY,
                              "node %u is up; stop it (or disable-node) first", removal->node_id);
    for (size_t i = 0; status == 0 && i < info.target_count; i++)
        if (info.targets[i].node_id == removal->node_id && info.targets[i].chain_id != 0)
            status = mgmtd_refuse(&removal->context, CHAINFS_BUSY,
                                  "target %llu of node %u is in chain %u; replace it there first",
                                  (unsigned long long)info.targets[i].target_id, removal->node_id,
                                  info.targets[i].chain_id);
    uint8_t key[MGMTD_KEY_MAX];
    for (size_t i = 0; status == 0 && i < info.target_count; i++) {
        if (info.targets[i].node_id != removal->node_id)
            continue;
        status = kv_clear(transaction, key, mgmtd_key_target(key, info.targets[i].target_id));
        removal->targets_removed++;
    }
    if (status == 0)
        status = kv_clear(transaction, key, mgmtd_key_node(key, removal->node_id));
    if (status == 0)
        status = kv_clear(transaction, key, mgmtd_key_node_incarnation(key, removal->node_id));
    routing_info_free(&info);
    return status == 0 ? routing_version_bump(transaction) : status;
}

void mgmtd_handle_unregister_node(struct rpc_request *request)
{
    struct node_removal removal;
    mgmtd_context_init(&removal.context, request->service_context);
    struct wire_reader reader;
    wire_reader_init(&reader, request->message, request->message_length);
    removal.node_id = wire_get_u32(&reader);
    if (!wire_reader_done(&reader)) {
        rpc_request_fail(request, CHAINFS_MALFORMED, "expected u32 node id");
        return;
    }
    int status = mgmtd_run(removal.context.mgmtd, node_removal_transaction, &removal);
    if (status == 0)
        log_info("node %u unregistered with %u targets", removal.node_id, removal.targets_removed);
    mgmtd_reply(request, status, &removal.context);
}

/* --- SET_CONFIG and GET_CONFIG ------------------------------------------------------ */


struct config_upload {
    struct transaction_context context;
    uint8_t node_type;
    const void *text;
    size_t text_length;
    uint64_t version;
};

static int config_upload_transaction(struct kv_transaction *transaction, void *argument)
{
    struct config_upload *upload = argument;
    int status = mgmtd_fence(transaction, &upload->context);
    uint64_t latest = 0;
    if (status == 0)
        status = mgmtd_latest_config(transaction, upload->node_type, &latest, NULL, NULL);
    if (status != 0)
        return status;
    uint8_t key[MGMTD_KEY_MAX];
    upload->version = latest + 1;
    size_t length = mgmtd_key_config(key, upload->node_type, upload->version);
    /* The new key must not exist: a concurrent upload of the same version conflicts. */
    const void *existing;
    size_t existing_length;
    status = kv_get(transaction, key, length, &existing, &existing_length);
    if (status == 0)
        return CHAINFS_CONFLICT;
    if (status != CHAINFS_NOT_FOUND)
        return status;
    return kv_set(transaction, key, length, upload->text, upload->text_length);
}

static int ignore_entry(void *user, const char *section, const char *name, const char *value)
{
    return 1;
}

void mgmtd_handle_set_config(struct rpc_request *request)
{
    struct config_upload upload;
    mgmtd_context_init(&upload.context, request->service_context);
    struct wire_reader reader;
    wire_reader_init(&reader, request->message, request->message_length);
    upload.node_type = wire_get_u8(&reader);
    bool ok = wire_get_bytes(&reader, MGMTD_CONFIG_TEXT_MAX, &upload.text, &upload.text_length) &&
              wire_reader_done(&reader) && node_type_name(upload.node_type) &&
              memchr(upload.text, '\0', upload.text_length) == NULL;
    if (!ok) {
        rpc_request_fail(request, CHAINFS_MALFORMED,
                         "expected u8 node type and an INI text of at most %d bytes", MGMTD_CONFIG_TEXT_MAX);
        return;
    }
    /* inih wants a NUL-terminated string; the text is a view into the request body. */
    char *copy = malloc(upload.text_length + 1);
    if (copy) {
        memcpy(copy, upload.text, upload.text_length);
        copy[upload.text_length] = '\0';
    }
    int line = copy ? ini_parse_string(copy, ignore_entry, NULL) : -2;
    free(copy);
    if (line != 0) {
        rpc_request_fail(request, CHAINFS_INVALID_ARGUMENT, "config text line %d: syntax error "
                         "(expected [section] or key = value)", line);
        return;
    }
    int status = mgmtd_run(upload.context.mgmtd, config_upload_transaction, &upload);
    if (status == 0)
        wire_put_u64(&request->reply, upload.version);
    mgmtd_reply(request, status, &upload.context);
}

void mgmtd_handle_get_config(struct rpc_request *request)
{
    struct mgmtd *mgmtd = request->service_context;
    struct wire_reader reader;
    wire_reader_init(&reader, request->message, request->message_length);
    uint8_t node_type = wire_get_u8(&reader);
    uint64_t version = wire_get_u64(&reader);
    if (!wire_reader_done(&reader) || !node_type_name(node_type)) {
        rpc_request_fail(request, CHAINFS_MALFORMED, "expected u8 node type, u64 version");
        return;
    }
    struct kv_transaction *transaction = NULL;
    int status = kv_begin(mgmtd->store, &transaction);
    const char *text = NULL;
    size_t length = 0;
    if (status == 0 && version == 0) {
        status = mgmtd_latest_config(transaction, node_type, &version, &text, &length);
        if (status == 0 && version == 0)
            status = CHAINFS_NOT_FOUND;
    } else if (status == 0) {
        uint8_t key[MGMTD_KEY_MAX];
        const void *value;
        status = kv_get(transaction, key, mgmtd_key_config(key, node_type, version), &value, &length);
        text = value;
    }
    if (status == 0) {
        wire_put_u64(&request->reply, version);
        wire_put_bytes(&request->reply, text, length);
    }
    kv_abort(transaction);
    if (status == CHAINFS_NOT_FOUND)
        rpc_request_fail(request, status, "no config stored for %s%s", node_type_name(node_type),
                         version ? " at that version" : "");
    else if (status != 0)
        rpc_request_fail(request, status, "cannot read config: %s", chainfs_error_message(status));
    else
        rpc_request_reply(request, 0);
}
