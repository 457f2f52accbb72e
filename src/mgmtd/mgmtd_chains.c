/*
 * mgmtd_chains.c - chains and chain tables: uploads, the routing info, and the chain sweep
 * that applies the target state table to every chain.
 */
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
#include "mgmtd/mgmtd_internal.h"
#include "mgmtd/mgmtd_keys.h"
#include "mgmtd/routing_info.h"
#include "mgmtd/target_state.h"

/* --- GET_ROUTING_INFO --------------------------------------------------------------- */

void mgmtd_handle_get_routing_info(struct rpc_request *request)
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
        return mgmtd_refuse(&upload->context, CHAINFS_INVALID_ARGUMENT,
                      "chain %u: a chain needs a non-zero id and 1 to %d targets", chain->chain_id,
                      CHAIN_TARGETS_MAX);
    for (uint8_t i = 0; i < chain->target_count; i++)
        for (uint8_t k = 0; k < i; k++)
            if (chain->target_ids[k] == chain->target_ids[i])
                return mgmtd_refuse(&upload->context, CHAINFS_INVALID_ARGUMENT,
                              "chain %u lists target %llu twice", chain->chain_id,
                              (unsigned long long)chain->target_ids[i]);
    for (uint8_t i = 0; i < chain->target_count; i++) {
        struct target_record target;
        int status = mgmtd_read_target(transaction, chain->target_ids[i], &target);
        if (status == CHAINFS_NOT_FOUND)
            return mgmtd_refuse(&upload->context, CHAINFS_NOT_FOUND,
                          "chain %u: target %llu does not exist (storage nodes create targets)",
                          chain->chain_id, (unsigned long long)chain->target_ids[i]);
        if (status != 0)
            return status;
        if (target.chain_id != 0 && target.chain_id != chain->chain_id)
            return mgmtd_refuse(&upload->context, CHAINFS_EXISTS, "target %llu is already in chain %u",
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
    int status = mgmtd_write_chain(transaction, chain);
    for (uint8_t i = 0; status == 0 && i < chain->target_count; i++) {
        struct target_record target;
        status = mgmtd_read_target(transaction, chain->target_ids[i], &target);
        if (status != 0)
            break;
        target.chain_id = chain->chain_id;
        target.public_state = target.local_state == TARGET_LOCAL_OFFLINE ? TARGET_PUBLIC_OFFLINE
                                                                          : TARGET_PUBLIC_SERVING;
        status = mgmtd_write_target(transaction, &target);
    }
    return status;
}

static int chain_upload_transaction(struct kv_transaction *transaction, void *argument)
{
    struct chain_upload *upload = argument;
    upload->created = 0;
    int status = mgmtd_fence(transaction, &upload->context);
    for (uint32_t i = 0; status == 0 && i < upload->chain_count; i++) {
        struct chain_record *chain = &upload->chains[i];
        for (uint32_t k = 0; k < i; k++)
            if (upload->chains[k].chain_id == chain->chain_id)
                return mgmtd_refuse(&upload->context, CHAINFS_INVALID_ARGUMENT,
                              "chain %u is defined twice", chain->chain_id);
        struct chain_record stored;
        status = mgmtd_read_chain(transaction, chain->chain_id, &stored);
        if (status == 0) { /* re-uploading the same definition changes nothing */
            if (!same_targets(&stored, chain))
                return mgmtd_refuse(&upload->context, CHAINFS_EXISTS,
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

void mgmtd_handle_set_chains(struct rpc_request *request)
{
    struct chain_upload upload;
    mgmtd_context_init(&upload.context, request->service_context);
    upload.chains = NULL;
    if (!decode_chain_upload(request, &upload)) {
        free(upload.chains);
        rpc_request_fail(request, CHAINFS_MALFORMED, "malformed chain list");
        return;
    }
    int status = mgmtd_run(upload.context.mgmtd, chain_upload_transaction, &upload);
    free(upload.chains);
    if (status == 0)
        wire_put_u32(&request->reply, upload.created);
    mgmtd_reply(request, status, &upload.context);
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
    int status = mgmtd_fence(transaction, &upload->context);
    for (uint32_t i = 0; status == 0 && i < upload->table.chain_count; i++) {
        struct chain_record chain;
        status = mgmtd_read_chain(transaction, upload->table.chain_ids[i], &chain);
        if (status == CHAINFS_NOT_FOUND)
            return mgmtd_refuse(&upload->context, status, "chain table %u: chain %u does not exist",
                          upload->table.table_id, upload->table.chain_ids[i]);
        for (uint32_t k = 0; status == 0 && k < i; k++)
            if (upload->table.chain_ids[k] == upload->table.chain_ids[i])
                return mgmtd_refuse(&upload->context, CHAINFS_INVALID_ARGUMENT,
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
    status = mgmtd_write_encoded(transaction, key,
                           mgmtd_key_chain_table(key, upload->table.table_id, upload->table.version),
                           &writer);
    return status == 0 ? routing_version_bump(transaction) : status;
}

void mgmtd_handle_set_chain_table(struct rpc_request *request)
{
    struct table_upload upload;
    mgmtd_context_init(&upload.context, request->service_context);
    struct wire_reader reader;
    wire_reader_init(&reader, request->message, request->message_length);
    upload.table.table_id = wire_get_u32(&reader);
    upload.table.version = 0;
    uint32_t count = wire_get_u32(&reader);
    if (wire_reader_ok(&reader) && count > CHAIN_TABLE_CHAINS_MAX) {
        rpc_request_fail(request, CHAINFS_INVALID_ARGUMENT,
                         "a chain table holds at most %d chains, got %u", CHAIN_TABLE_CHAINS_MAX,
                         count);
        return;
    }
    if (!wire_reader_ok(&reader) || upload.table.table_id == 0 || count == 0 ||
        wire_reader_remaining(&reader) != (size_t)count * 4) {
        rpc_request_fail(request, CHAINFS_MALFORMED, "malformed chain table");
        return;
    }
    upload.table.chain_count = count;
    upload.table.chain_ids = calloc(count, sizeof(uint32_t));
    for (uint32_t i = 0; upload.table.chain_ids && i < count; i++)
        upload.table.chain_ids[i] = wire_get_u32(&reader);
    int status = upload.table.chain_ids
                     ? mgmtd_run(upload.context.mgmtd, table_upload_transaction, &upload)
                     : CHAINFS_NO_MEMORY;
    chain_table_record_free(&upload.table);
    if (status == 0)
        wire_put_u32(&request->reply, upload.table.version);
    mgmtd_reply(request, status, &upload.context);
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
    int status = mgmtd_write_chain(transaction, &record);
    for (uint32_t i = 0; status == 0 && i < next->target_count; i++) {
        struct target_record target = *routing_info_target(info, next->targets[i].target_id);
        if (target.public_state == next->targets[i].public_state)
            continue;
        log_info("chain %u v%llu: target %llu %s -> %s", next->chain_id,
                 (unsigned long long)next->version, (unsigned long long)target.target_id,
                 target_public_state_name(target.public_state),
                 target_public_state_name(next->targets[i].public_state));
        target.public_state = next->targets[i].public_state;
        status = mgmtd_write_target(transaction, &target);
    }
    return status;
}

static int chain_sweep_transaction(struct kv_transaction *transaction, void *argument)
{
    struct chain_sweep *sweep = argument;
    sweep->changed = 0;
    int status = mgmtd_fence(transaction, &sweep->context);
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

int mgmtd_sweep_chains(struct mgmtd *mgmtd)
{
    struct chain_sweep sweep;
    mgmtd_context_init(&sweep.context, mgmtd);
    return mgmtd_run(mgmtd, chain_sweep_transaction, &sweep);
}
