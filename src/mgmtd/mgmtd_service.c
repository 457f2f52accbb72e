/*
 * mgmtd_service.c - the cluster manager: RPC handlers and the primary's background
 * loop (lease, failure detection, chain updates). See mgmtd_service.h.
 *
 * Every state change runs in a KV transaction that starts with lease_fence(), so a
 * process that lost the lease cannot commit, whatever its timers say. Node liveness
 * (last heartbeat times) is kept in the primary's memory only; a new primary gives
 * every node a full failure interval from its takeover before judging it.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_COMPONENT "mgmtd"
#include "chainfs/error.h"
#include "common/clock.h"
#include "common/log.h"
#include "kv/kv.h"
#include "mgmtd/chain_update.h"
#include "mgmtd/cluster_records.h"
#include "mgmtd/lease.h"
#include "mgmtd/mgmtd_keys.h"
#include "mgmtd/mgmtd_protocol.h"
#include "mgmtd/mgmtd_service.h"
#include "mgmtd/routing_info.h"
#include "mgmtd/target_state.h"

#define HEARTBEAT_TARGETS_MAX 1024

struct node_liveness {
    uint32_t node_id;
    uint64_t last_heartbeat;
};

struct mgmtd {
    const struct mgmtd_config *config;
    struct kv_store *store;
    pthread_mutex_t lock; /* lease, primary_since, liveness */
    struct lease lease;
    uint64_t primary_since;
    struct node_liveness *liveness;
    size_t liveness_count;
    size_t liveness_capacity;
    pthread_t thread;
    bool thread_started;
    bool stopping;
    pthread_cond_t wake;
};

/* --- helpers ----------------------------------------------------------------------- */

/* A transaction body's arguments share this head so that it can explain a refusal. */
struct transaction_context {
    struct mgmtd *mgmtd;
    struct lease lease; /* copy taken when the request started */
    char error[200];
};

static int refuse(struct transaction_context *context, int status, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static int refuse(struct transaction_context *context, int status, const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(context->error, sizeof(context->error), format, arguments);
    va_end(arguments);
    return status;
}

static void context_init(struct transaction_context *context, struct mgmtd *mgmtd)
{
    memset(context, 0, sizeof(*context));
    context->mgmtd = mgmtd;
    pthread_mutex_lock(&mgmtd->lock);
    context->lease = mgmtd->lease;
    pthread_mutex_unlock(&mgmtd->lock);
}

static int fence(struct kv_transaction *transaction, struct transaction_context *context)
{
    int status = lease_fence(transaction, &context->lease);
    if (status == CHAINFS_NOT_PRIMARY)
        return refuse(context, status, "this mgmtd (node %u) is not the primary; ask GET_PRIMARY",
                      context->lease.self_node_id);
    return status;
}

static void reply_status(struct rpc_request *request, int status, const struct transaction_context *context)
{
    if (status == 0)
        rpc_request_reply(request, 0);
    else
        rpc_request_fail(request, status, "%s", context->error[0] ? context->error
                                                                  : chainfs_error_message(status));
}

static int read_record(struct kv_transaction *transaction, const uint8_t *key, size_t key_length,
                       struct wire_reader *reader)
{
    const void *value;
    size_t length;
    int status = kv_get(transaction, key, key_length, &value, &length);
    if (status == 0)
        wire_reader_init(reader, value, length);
    return status;
}

static int write_encoded(struct kv_transaction *transaction, const uint8_t *key, size_t key_length,
                         struct wire_writer *writer)
{
    int status = wire_writer_ok(writer) ? kv_set(transaction, key, key_length, writer->data,
                                                 writer->length)
                                        : CHAINFS_NO_MEMORY;
    wire_writer_free(writer);
    return status;
}

static int read_node(struct kv_transaction *transaction, uint32_t node_id, struct node_record *node)
{
    uint8_t key[MGMTD_KEY_MAX];
    struct wire_reader reader;
    int status = read_record(transaction, key, mgmtd_key_node(key, node_id), &reader);
    if (status == 0 && !(node_record_decode(&reader, node) && wire_reader_done(&reader)))
        status = CHAINFS_MALFORMED;
    return status;
}

static int write_node(struct kv_transaction *transaction, const struct node_record *node)
{
    uint8_t key[MGMTD_KEY_MAX];
    struct wire_writer writer;
    wire_writer_init(&writer);
    node_record_encode(&writer, node);
    return write_encoded(transaction, key, mgmtd_key_node(key, node->node_id), &writer);
}

static int read_target(struct kv_transaction *transaction, uint64_t target_id,
                       struct target_record *target)
{
    uint8_t key[MGMTD_KEY_MAX];
    struct wire_reader reader;
    int status = read_record(transaction, key, mgmtd_key_target(key, target_id), &reader);
    if (status == 0 && !(target_record_decode(&reader, target) && wire_reader_done(&reader)))
        status = CHAINFS_MALFORMED;
    return status;
}

static int write_target(struct kv_transaction *transaction, const struct target_record *target)
{
    uint8_t key[MGMTD_KEY_MAX];
    struct wire_writer writer;
    wire_writer_init(&writer);
    target_record_encode(&writer, target);
    return write_encoded(transaction, key, mgmtd_key_target(key, target->target_id), &writer);
}

static int read_chain(struct kv_transaction *transaction, uint32_t chain_id,
                      struct chain_record *chain)
{
    uint8_t key[MGMTD_KEY_MAX];
    struct wire_reader reader;
    int status = read_record(transaction, key, mgmtd_key_chain(key, chain_id), &reader);
    if (status == 0 && !(chain_record_decode(&reader, chain) && wire_reader_done(&reader)))
        status = CHAINFS_MALFORMED;
    return status;
}

static int write_chain(struct kv_transaction *transaction, const struct chain_record *chain)
{
    uint8_t key[MGMTD_KEY_MAX];
    struct wire_writer writer;
    wire_writer_init(&writer);
    chain_record_encode(&writer, chain);
    return write_encoded(transaction, key, mgmtd_key_chain(key, chain->chain_id), &writer);
}

static void note_heartbeat(struct mgmtd *mgmtd, uint32_t node_id)
{
    uint64_t now = clock_now_ns();
    pthread_mutex_lock(&mgmtd->lock);
    size_t i = 0;
    while (i < mgmtd->liveness_count && mgmtd->liveness[i].node_id != node_id)
        i++;
    if (i == mgmtd->liveness_count && mgmtd->liveness_count == mgmtd->liveness_capacity) {
        size_t capacity = mgmtd->liveness_capacity ? mgmtd->liveness_capacity * 2 : 64;
        struct node_liveness *grown = realloc(mgmtd->liveness, capacity * sizeof(*grown));
        if (!grown) {
            pthread_mutex_unlock(&mgmtd->lock);
            return; /* the node then looks silent and is re-marked alive at its next beat */
        }
        mgmtd->liveness = grown;
        mgmtd->liveness_capacity = capacity;
    }
    if (i == mgmtd->liveness_count)
        mgmtd->liveness[mgmtd->liveness_count++].node_id = node_id;
    mgmtd->liveness[i].last_heartbeat = now;
    pthread_mutex_unlock(&mgmtd->lock);
}

/* --- GET_PRIMARY -------------------------------------------------------------------- */

static void handle_get_primary(struct rpc_request *request)
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
    uint64_t routing_version;
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
    return heartbeat->targets && wire_reader_done(&reader);
}

/* Creates or refreshes one reported target; sets *changed when routing info changed. */
static int apply_heartbeat_target(struct kv_transaction *transaction, struct heartbeat *heartbeat,
                                  const struct heartbeat_target *reported, bool *changed)
{
    struct target_record target;
    int status = read_target(transaction, reported->target_id, &target);
    if (status == CHAINFS_NOT_FOUND) {
        target = (struct target_record){.target_id = reported->target_id,
                                        .node_id = heartbeat->node.node_id,
                                        .public_state = TARGET_PUBLIC_OFFLINE};
        status = 0;
        *changed = true;
    }
    if (status != 0)
        return status;
    if (target.node_id != heartbeat->node.node_id)
        return refuse(&heartbeat->context, CHAINFS_INVALID_ARGUMENT,
                      "target %llu belongs to node %u, not node %u",
                      (unsigned long long)target.target_id, target.node_id, heartbeat->node.node_id);
    if (target.local_state != reported->local_state || target.disk_index != reported->disk_index)
        *changed = true;
    if (target.local_state == reported->local_state && target.disk_index == reported->disk_index &&
        target.used_bytes == reported->used_bytes && target.capacity_bytes == reported->capacity_bytes &&
        !*changed)
        return 0;
    target.local_state = reported->local_state;
    target.disk_index = reported->disk_index;
    target.used_bytes = reported->used_bytes;
    target.capacity_bytes = reported->capacity_bytes;
    return write_target(transaction, &target);
}

static int heartbeat_transaction(struct kv_transaction *transaction, void *argument)
{
    struct heartbeat *heartbeat = argument;
    int status = fence(transaction, &heartbeat->context);
    if (status != 0)
        return status;
    struct node_record stored;
    status = read_node(transaction, heartbeat->node.node_id, &stored);
    bool changed = false;
    if (status == CHAINFS_NOT_FOUND || (status == 0 && (!stored.alive ||
        stored.type != heartbeat->node.type || strcmp(stored.address, heartbeat->node.address) != 0))) {
        heartbeat->node.enabled = status == CHAINFS_NOT_FOUND ? true : stored.enabled;
        heartbeat->node.alive = true;
        status = write_node(transaction, &heartbeat->node);
        changed = true;
    }
    for (uint32_t i = 0; status == 0 && i < heartbeat->target_count; i++)
        status = apply_heartbeat_target(transaction, heartbeat, &heartbeat->targets[i], &changed);
    if (status == 0 && changed)
        status = routing_version_bump(transaction);
    if (status == 0)
        status = routing_version_read(transaction, &heartbeat->routing_version);
    return status;
}

static void handle_heartbeat(struct rpc_request *request)
{
    struct heartbeat heartbeat;
    memset(&heartbeat, 0, sizeof(heartbeat));
    context_init(&heartbeat.context, request->service_context);
    if (!decode_heartbeat(request, &heartbeat)) {
        free(heartbeat.targets);
        rpc_request_fail(request, CHAINFS_MALFORMED, "malformed heartbeat");
        return;
    }
    int status = kv_run_transaction(heartbeat.context.mgmtd->store, heartbeat_transaction,
                                    &heartbeat, NULL);
    free(heartbeat.targets);
    if (status == 0) {
        note_heartbeat(heartbeat.context.mgmtd, heartbeat.node.node_id);
        wire_put_u64(&request->reply, heartbeat.routing_version);
    }
    reply_status(request, status, &heartbeat.context);
}

/* --- GET_ROUTING_INFO --------------------------------------------------------------- */

static void handle_get_routing_info(struct rpc_request *request)
{
    struct mgmtd *mgmtd = request->service_context;
    struct wire_reader reader;
    wire_reader_init(&reader, request->message, request->message_length);
    uint64_t known = wire_get_u64(&reader);
    if (!wire_reader_done(&reader)) {
        rpc_request_fail(request, CHAINFS_MALFORMED, "routing info request takes one u64 version");
        return;
    }
    struct kv_transaction *transaction = NULL;
    int status = kv_begin(mgmtd->store, &transaction);
    struct routing_info info = {0};
    if (status == 0)
        status = routing_info_load(transaction, &info);
    if (transaction)
        kv_abort(transaction);
    if (status != 0) {
        rpc_request_fail(request, status, "cannot read routing info: %s", chainfs_error_message(status));
        return;
    }
    bool include = known == 0 || info.version != known; /* 0: the caller has nothing */
    wire_put_u64(&request->reply, info.version);
    wire_put_bool(&request->reply, include);
    if (include)
        routing_info_encode(&request->reply, &info);
    routing_info_free(&info);
    rpc_request_reply(request, 0);
}

/* --- SET_CHAINS --------------------------------------------------------------------- */

struct chain_upload {
    struct transaction_context context;
    uint32_t chain_count;
    struct chain_record *chains;
    uint32_t created;
};

static bool decode_chain_upload(const struct rpc_request *request, struct chain_upload *upload)
{
    struct wire_reader reader;
    wire_reader_init(&reader, request->message, request->message_length);
    upload->chain_count = wire_get_u32(&reader);
    if (!wire_reader_ok(&reader) || upload->chain_count == 0 || upload->chain_count > 65536 ||
        upload->chain_count > wire_reader_remaining(&reader))
        return false;
    upload->chains = calloc(upload->chain_count, sizeof(*upload->chains));
    for (uint32_t i = 0; upload->chains && i < upload->chain_count; i++) {
        struct chain_record *chain = &upload->chains[i];
        chain->chain_id = wire_get_u32(&reader);
        chain->target_count = wire_get_u8(&reader);
        if (chain->target_count > CHAIN_TARGETS_MAX)
            return false;
        for (uint8_t k = 0; k < chain->target_count; k++)
            chain->target_ids[k] = wire_get_u64(&reader);
    }
    return upload->chains && wire_reader_done(&reader);
}

/* Checks one chain definition against itself and the stored targets. */
static int check_new_chain(struct kv_transaction *transaction, struct chain_upload *upload,
                           const struct chain_record *chain)
{
    if (chain->chain_id == 0 || chain->target_count == 0)
        return refuse(&upload->context, CHAINFS_INVALID_ARGUMENT,
                      "chain %u: a chain needs a non-zero id and 1 to %d targets", chain->chain_id,
                      CHAIN_TARGETS_MAX);
    for (uint8_t i = 0; i < chain->target_count; i++)
        for (uint8_t k = 0; k < i; k++)
            if (chain->target_ids[k] == chain->target_ids[i])
                return refuse(&upload->context, CHAINFS_INVALID_ARGUMENT,
                              "chain %u lists target %llu twice", chain->chain_id,
                              (unsigned long long)chain->target_ids[i]);
    for (uint8_t i = 0; i < chain->target_count; i++) {
        struct target_record target;
        int status = read_target(transaction, chain->target_ids[i], &target);
        if (status == CHAINFS_NOT_FOUND)
            return refuse(&upload->context, CHAINFS_NOT_FOUND,
                          "chain %u: target %llu does not exist (storage nodes create targets)",
                          chain->chain_id, (unsigned long long)chain->target_ids[i]);
        if (status != 0)
            return status;
        if (target.chain_id != 0 && target.chain_id != chain->chain_id)
            return refuse(&upload->context, CHAINFS_EXISTS, "target %llu is already in chain %u",
                          (unsigned long long)target.target_id, target.chain_id);
    }
    return 0;
}

static bool same_targets(const struct chain_record *a, const struct chain_record *b)
{
    if (a->target_count != b->target_count)
        return false;
    for (uint8_t i = 0; i < a->target_count; i++) {
        bool found = false;
        for (uint8_t k = 0; k < b->target_count && !found; k++)
            found = a->target_ids[i] == b->target_ids[k];
        if (!found)
            return false;
    }
    return true;
}

/* Stores a new chain; its targets start serving (a new chain holds no data yet, so
 * every running replica is complete) or offline. */
static int create_chain(struct kv_transaction *transaction, struct chain_record *chain)
{
    chain->version = 1;
    int status = write_chain(transaction, chain);
    for (uint8_t i = 0; status == 0 && i < chain->target_count; i++) {
        struct target_record target;
        status = read_target(transaction, chain->target_ids[i], &target);
        if (status != 0)
            break;
        target.chain_id = chain->chain_id;
        target.public_state = target.local_state == TARGET_LOCAL_OFFLINE ? TARGET_PUBLIC_OFFLINE
                                                                          : TARGET_PUBLIC_SERVING;
        status = write_target(transaction, &target);
    }
    return status;
}

static int chain_upload_transaction(struct kv_transaction *transaction, void *argument)
{
    struct chain_upload *upload = argument;
    upload->created = 0;
    int status = fence(transaction, &upload->context);
    for (uint32_t i = 0; status == 0 && i < upload->chain_count; i++) {
        struct chain_record *chain = &upload->chains[i];
        for (uint32_t k = 0; k < i; k++)
            if (upload->chains[k].chain_id == chain->chain_id)
                return refuse(&upload->context, CHAINFS_INVALID_ARGUMENT,
                              "chain %u is defined twice", chain->chain_id);
        struct chain_record stored;
        status = read_chain(transaction, chain->chain_id, &stored);
        if (status == 0) { /* re-uploading the same definition changes nothing */
            if (!same_targets(&stored, chain))
                return refuse(&upload->context, CHAINFS_EXISTS,
                              "chain %u already exists with other targets", chain->chain_id);
            continue;
        }
        if (status != CHAINFS_NOT_FOUND)
            return status;
        status = check_new_chain(transaction, upload, chain);
        if (status == 0)
            status = create_chain(transaction, chain);
        upload->created += status == 0;
    }
    if (status == 0 && upload->created)
        status = routing_version_bump(transaction);
    return status;
}

static void handle_set_chains(struct rpc_request *request)
{
    struct chain_upload upload;
    context_init(&upload.context, request->service_context);
    upload.chains = NULL;
    if (!decode_chain_upload(request, &upload)) {
        free(upload.chains);
        rpc_request_fail(request, CHAINFS_MALFORMED, "malformed chain list");
        return;
    }
    int status = kv_run_transaction(upload.context.mgmtd->store, chain_upload_transaction, &upload,
                                    NULL);
    free(upload.chains);
    if (status == 0)
        wire_put_u32(&request->reply, upload.created);
    reply_status(request, status, &upload.context);
}

/* --- SET_CHAIN_TABLE ---------------------------------------------------------------- */

struct table_upload {
    struct transaction_context context;
    struct chain_table_record table;
};

static int latest_table_version(struct kv_transaction *transaction, uint32_t table_id,
                                uint32_t *version)
{
    uint8_t begin[MGMTD_KEY_MAX], end[MGMTD_KEY_MAX];
    size_t length = mgmtd_key_chain_table(begin, table_id, 0);
    mgmtd_key_chain_table(end, table_id, UINT32_MAX);
    struct kv_range_options options = {.reverse = true, .limit = 1};
    struct kv_range_result rows;
    int status = kv_get_range(transaction, begin, length, end, length, &options, &rows);
    *version = 0;
    if (status == 0 && rows.count == 1) {
        struct wire_reader reader;
        wire_reader_init(&reader, rows.rows[0].value, rows.rows[0].value_length);
        struct chain_table_record stored;
        if (!chain_table_record_decode(&reader, &stored))
            return CHAINFS_MALFORMED;
        *version = stored.version;
        chain_table_record_free(&stored);
    }
    return status;
}

static int table_upload_transaction(struct kv_transaction *transaction, void *argument)
{
    struct table_upload *upload = argument;
    int status = fence(transaction, &upload->context);
    for (uint32_t i = 0; status == 0 && i < upload->table.chain_count; i++) {
        struct chain_record chain;
        status = read_chain(transaction, upload->table.chain_ids[i], &chain);
        if (status == CHAINFS_NOT_FOUND)
            return refuse(&upload->context, status, "chain table %u: chain %u does not exist",
                          upload->table.table_id, upload->table.chain_ids[i]);
        for (uint32_t k = 0; status == 0 && k < i; k++)
            if (upload->table.chain_ids[k] == upload->table.chain_ids[i])
                return refuse(&upload->context, CHAINFS_INVALID_ARGUMENT,
                              "chain table %u lists chain %u twice", upload->table.table_id,
                              upload->table.chain_ids[i]);
    }
    uint32_t latest = 0;
    if (status == 0)
        status = latest_table_version(transaction, upload->table.table_id, &latest);
    if (status != 0)
        return status;
    upload->table.version = latest + 1;
    uint8_t key[MGMTD_KEY_MAX];
    struct wire_writer writer;
    wire_writer_init(&writer);
    chain_table_record_encode(&writer, &upload->table);
    status = write_encoded(transaction, key,
                           mgmtd_key_chain_table(key, upload->table.table_id, upload->table.version),
                           &writer);
    return status == 0 ? routing_version_bump(transaction) : status;
}

static void handle_set_chain_table(struct rpc_request *request)
{
    struct table_upload upload;
    context_init(&upload.context, request->service_context);
    struct wire_reader reader;
    wire_reader_init(&reader, request->message, request->message_length);
    upload.table.table_id = wire_get_u32(&reader);
    upload.table.version = 0;
    uint32_t count = wire_get_u32(&reader);
    if (!wire_reader_ok(&reader) || upload.table.table_id == 0 || count == 0 ||
        count > CHAIN_TABLE_CHAINS_MAX || wire_reader_remaining(&reader) != (size_t)count * 4) {
        rpc_request_fail(request, CHAINFS_MALFORMED, "malformed chain table");
        return;
    }
    upload.table.chain_count = count;
    upload.table.chain_ids = calloc(count, sizeof(uint32_t));
    for (uint32_t i = 0; upload.table.chain_ids && i < count; i++)
        upload.table.chain_ids[i] = wire_get_u32(&reader);
    int status = upload.table.chain_ids
                     ? kv_run_transaction(upload.context.mgmtd->store, table_upload_transaction,
                                          &upload, NULL)
                     : CHAINFS_NO_MEMORY;
    chain_table_record_free(&upload.table);
    if (status == 0)
        wire_put_u32(&request->reply, upload.table.version);
    reply_status(request, status, &upload.context);
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
    int status = fence(transaction, &init->context);
    const void *value;
    size_t length;
    if (status == 0)
        status = kv_get(transaction, MGMTD_KEY_CLUSTER, MGMTD_KEY_CLUSTER_LENGTH, &value, &length);
    if (status == 0 && !init->force)
        return refuse(&init->context, CHAINFS_EXISTS,
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

static void handle_init_cluster(struct rpc_request *request)
{
    struct cluster_init init;
    context_init(&init.context, request->service_context);
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
    int status = kv_run_transaction(init.context.mgmtd->store, cluster_init_transaction, &init, NULL);
    reply_status(request, status, &init.context);
}

/* --- the primary's background work ------------------------------------------------ */

struct failure_sweep {
    struct transaction_context context;
    uint64_t now;
    uint64_t fail_after_ns;
    uint32_t failed;
};

/* Last heartbeat of a node as this primary knows it (its takeover time if none). */
static uint64_t last_heartbeat(struct mgmtd *mgmtd, uint32_t node_id)
{
    uint64_t last = mgmtd->primary_since;
    pthread_mutex_lock(&mgmtd->lock);
    for (size_t i = 0; i < mgmtd->liveness_count; i++)
        if (mgmtd->liveness[i].node_id == node_id && mgmtd->liveness[i].last_heartbeat > last)
            last = mgmtd->liveness[i].last_heartbeat;
    pthread_mutex_unlock(&mgmtd->lock);
    return last;
}

/* Marks silent nodes dead and their targets' local state offline. */
static int failure_sweep_transaction(struct kv_transaction *transaction, void *argument)
{
    struct failure_sweep *sweep = argument;
    sweep->failed = 0;
    int status = fence(transaction, &sweep->context);
    struct routing_info info = {0};
    if (status == 0)
        status = routing_info_load(transaction, &info);
    for (size_t i = 0; status == 0 && i < info.node_count; i++) {
        struct node_record node = info.nodes[i];
        if (!node.alive || node.type == NODE_TYPE_MGMTD ||
            sweep->now - last_heartbeat(sweep->context.mgmtd, node.node_id) < sweep->fail_after_ns)
            continue;
        log_warn("node %u (%s at %s) missed heartbeats for %lld ms: marking it failed",
                 node.node_id, node_type_name(node.type), node.address,
                 (long long)(sweep->fail_after_ns / CLOCK_NS_PER_MS));
        node.alive = false;
        status = write_node(transaction, &node);
        for (size_t k = 0; status == 0 && k < info.target_count; k++) {
            struct target_record target = info.targets[k];
            if (target.node_id != node.node_id || target.local_state == TARGET_LOCAL_OFFLINE)
                continue;
            target.local_state = TARGET_LOCAL_OFFLINE;
            status = write_target(transaction, &target);
        }
        sweep->failed++;
    }
    routing_info_free(&info);
    if (status == 0 && sweep->failed)
        status = routing_version_bump(transaction);
    return status;
}

struct chain_sweep {
    struct transaction_context context;
    uint32_t changed;
};

/* Builds the state-machine view of a stored chain from its targets' records. */
static bool chain_view(const struct routing_info *info, const struct chain_record *record,
                       struct chain *chain)
{
    memset(chain, 0, sizeof(*chain));
    chain->chain_id = record->chain_id;
    chain->version = record->version;
    chain->target_count = record->target_count;
    for (uint8_t i = 0; i < record->target_count; i++) {
        const struct target_record *target = routing_info_target(info, record->target_ids[i]);
        if (!target)
            return false;
        chain->targets[i] = (struct chain_target){target->target_id, target->local_state,
                                                  target->public_state};
    }
    return true;
}

/* Stores a chain that the state machine changed: order, version, public states. */
static int store_chain_change(struct kv_transaction *transaction, const struct routing_info *info,
                              const struct chain *next)
{
    struct chain_record record = {.chain_id = next->chain_id, .version = next->version,
                                  .target_count = (uint8_t)next->target_count};
    for (uint32_t i = 0; i < next->target_count; i++)
        record.target_ids[i] = next->targets[i].target_id;
    int status = write_chain(transaction, &record);
    for (uint32_t i = 0; status == 0 && i < next->target_count; i++) {
        struct target_record target = *routing_info_target(info, next->targets[i].target_id);
        if (target.public_state == next->targets[i].public_state)
            continue;
        log_info("chain %u v%llu: target %llu %s -> %s", next->chain_id,
                 (unsigned long long)next->version, (unsigned long long)target.target_id,
                 target_public_state_name(target.public_state),
                 target_public_state_name(next->targets[i].public_state));
        target.public_state = next->targets[i].public_state;
        status = write_target(transaction, &target);
    }
    return status;
}

static int chain_sweep_transaction(struct kv_transaction *transaction, void *argument)
{
    struct chain_sweep *sweep = argument;
    sweep->changed = 0;
    int status = fence(transaction, &sweep->context);
    struct routing_info info = {0};
    if (status == 0)
        status = routing_info_load(transaction, &info);
    for (size_t i = 0; status == 0 && i < info.chain_count; i++) {
        struct chain current, next;
        if (!chain_view(&info, &info.chains[i], &current)) {
            log_error("chain %u refers to a missing target; left unchanged", info.chains[i].chain_id);
            continue;
        }
        if (!chain_update_apply(&current, &next))
            continue;
        status = store_chain_change(transaction, &info, &next);
        sweep->changed++;
    }
    routing_info_free(&info);
    if (status == 0 && sweep->changed)
        status = routing_version_bump(transaction);
    return status;
}

static void primary_work(struct mgmtd *mgmtd)
{
    struct failure_sweep failures;
    context_init(&failures.context, mgmtd);
    failures.now = clock_now_ns();
    failures.fail_after_ns = (uint64_t)mgmtd->config->heartbeat_fail_interval * CLOCK_NS_PER_MS;
    int status = kv_run_transaction(mgmtd->store, failure_sweep_transaction, &failures, NULL);
    struct chain_sweep chains;
    context_init(&chains.context, mgmtd);
    if (status == 0)
        status = kv_run_transaction(mgmtd->store, chain_sweep_transaction, &chains, NULL);
    if (status != 0 && status != CHAINFS_NOT_PRIMARY)
        log_warn("background work failed: %s", chainfs_error_message(status));
}

static void *background_loop(void *argument)
{
    struct mgmtd *mgmtd = argument;
    uint64_t interval = (uint64_t)mgmtd->config->tick_interval * CLOCK_NS_PER_MS;
    pthread_mutex_lock(&mgmtd->lock);
    while (!mgmtd->stopping) {
        /* Only this thread changes the lease: tick a copy without holding the lock
         * (handlers copy it under the lock), then publish it. */
        struct lease lease = mgmtd->lease;
        bool was_primary = lease_is_primary(&lease);
        pthread_mutex_unlock(&mgmtd->lock);
        int status = lease_tick(mgmtd->store, &lease);
        bool primary = lease_is_primary(&lease);
        pthread_mutex_lock(&mgmtd->lock);
        mgmtd->lease = lease;
        if (primary && !was_primary) {
            mgmtd->primary_since = clock_now_ns(); /* every node gets a full interval */
            mgmtd->liveness_count = 0;
        }
        pthread_mutex_unlock(&mgmtd->lock);
        if (status != 0)
            log_warn("lease: %s", chainfs_error_message(status));
        if (primary)
            primary_work(mgmtd);
        pthread_mutex_lock(&mgmtd->lock);
        struct timespec until = deadline_to_timespec(deadline_after_ns(interval));
        if (!mgmtd->stopping)
            pthread_cond_timedwait(&mgmtd->wake, &mgmtd->lock, &until);
    }
    pthread_mutex_unlock(&mgmtd->lock);
    return NULL;
}

/* --- the daemon --------------------------------------------------------------------- */

static const struct rpc_method mgmtd_methods[] = {
    {MGMTD_METHOD_GET_PRIMARY, "get_primary", handle_get_primary, RPC_DISPATCH_WORKER},
    {MGMTD_METHOD_HEARTBEAT, "heartbeat", handle_heartbeat, RPC_DISPATCH_WORKER},
    {MGMTD_METHOD_GET_ROUTING_INFO, "get_routing_info", handle_get_routing_info, RPC_DISPATCH_WORKER},
    {MGMTD_METHOD_SET_CHAINS, "set_chains", handle_set_chains, RPC_DISPATCH_WORKER},
    {MGMTD_METHOD_SET_CHAIN_TABLE, "set_chain_table", handle_set_chain_table, RPC_DISPATCH_WORKER},
    {MGMTD_METHOD_INIT_CLUSTER, "init_cluster", handle_init_cluster, RPC_DISPATCH_WORKER},
};

struct mgmtd_state {
    struct mgmtd mgmtd;
    struct rpc_service service;
};

static void mgmtd_stop(void *state);

static int mgmtd_start(struct rpc_server *server, const void *config_pointer, void **result)
{
    const struct mgmtd_config *config = config_pointer;
    if (config->lease_length < 3 * config->tick_interval) {
        log_error("[mgmtd] lease_length must be at least 3 x tick_interval");
        return CHAINFS_CONFIG;
    }
    struct mgmtd_state *state = calloc(1, sizeof(*state));
    if (!state)
        return CHAINFS_NO_MEMORY;
    struct mgmtd *mgmtd = &state->mgmtd;
    mgmtd->config = config;
    pthread_mutex_init(&mgmtd->lock, NULL);
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&mgmtd->wake, &attributes);
    pthread_condattr_destroy(&attributes);
    *result = state;
    int status = kv_open_from_config(&config->kv, &mgmtd->store);
    if (status != 0) {
        log_error("cannot open the KV store: %s", chainfs_error_message(status));
        return status;
    }
    state->service = (struct rpc_service){MGMTD_SERVICE_ID, "mgmtd", mgmtd_methods,
                                          sizeof(mgmtd_methods) / sizeof(mgmtd_methods[0]), mgmtd};
    return rpc_server_register(server, &state->service);
}

/* Once the address is known the lease can name it; then the loop starts. */
static int mgmtd_started(void *state_pointer, const char *address)
{
    struct mgmtd_state *state = state_pointer;
    struct mgmtd *mgmtd = &state->mgmtd;
    lease_init(&mgmtd->lease, (uint32_t)mgmtd->config->node_id, address,
               (uint64_t)mgmtd->config->lease_length * CLOCK_NS_PER_MS);
    if (pthread_create(&mgmtd->thread, NULL, background_loop, mgmtd) != 0)
        return CHAINFS_NO_MEMORY;
    mgmtd->thread_started = true;
    return 0;
}

static void mgmtd_stop(void *state_pointer)
{
    struct mgmtd_state *state = state_pointer;
    if (!state)
        return;
    struct mgmtd *mgmtd = &state->mgmtd;
    if (mgmtd->thread_started) {
        pthread_mutex_lock(&mgmtd->lock);
        mgmtd->stopping = true;
        pthread_cond_signal(&mgmtd->wake);
        pthread_mutex_unlock(&mgmtd->lock);
        pthread_join(mgmtd->thread, NULL);
    }
    kv_close(mgmtd->store);
    free(mgmtd->liveness);
    pthread_cond_destroy(&mgmtd->wake);
    pthread_mutex_destroy(&mgmtd->lock);
    free(state);
}

#define MGMTD_SETTING(key, type, default_value, field, min, max, description)                \
    {"mgmtd", key, type, default_value, description, offsetof(struct mgmtd_config, field), min, max}

static const struct config_setting mgmtd_settings[] = {
    MGMTD_SETTING("node_id", CONFIG_TYPE_INT, "1", node_id, 1, UINT32_MAX,
                  "this mgmtd's node id, unique in the cluster"),
    MGMTD_SETTING("lease_length", CONFIG_TYPE_DURATION, "10s", lease_length, 100, 3600000,
                  "a primary silent this long is replaced"),
    MGMTD_SETTING("tick_interval", CONFIG_TYPE_DURATION, "1s", tick_interval, 10, 60000,
                  "lease renewal, failure detection and chain update period"),
    MGMTD_SETTING("heartbeat_fail_interval", CONFIG_TYPE_DURATION, "60s", heartbeat_fail_interval,
                  100, 3600000, "a node without heartbeats this long is failed"),
};

static const struct config_schema mgmtd_schema = {
    "mgmtd", mgmtd_settings, sizeof(mgmtd_settings) / sizeof(mgmtd_settings[0])};

static const struct config_part mgmtd_config_parts[] = {
    {&kv_config_schema, offsetof(struct mgmtd_config, kv)},
    {&mgmtd_schema, 0},
};

const struct daemon_service mgmtd_daemon_service = {
    .component = "mgmtd",
    .summary = "The cluster manager: membership, leases, chains, target states, routing info.",
    .config_parts = mgmtd_config_parts,
    .config_part_count = 2,
    .config_size = sizeof(struct mgmtd_config),
    .start = mgmtd_start,
    .started = mgmtd_started,
    .stop = mgmtd_stop,
};
