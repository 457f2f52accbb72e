/*
 * mgmtd_transaction.c - how every state-changing mgmtd request runs: a transaction context that
 * carries a copy of the lease for fencing and the reason of a refusal, and the KV
 * record helpers shared by the handlers.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_COMPONENT "mgmtd"
#include "chainfs/error.h"
#include "common/clock.h"
#include "common/log.h"
#include "kv/kv.h"
#include "mgmtd/cluster_records.h"
#include "mgmtd/mgmtd_internal.h"
#include "mgmtd/mgmtd_keys.h"
#include "mgmtd/routing_info.h"
#include "mgmtd/target_state.h"

int mgmtd_run(struct mgmtd *mgmtd, int (*body)(struct kv_transaction *transaction, void *argument),
              void *argument)
{
    static const struct kv_retry_options retry = {
        .max_attempts = 200, .initial_backoff_ns = CLOCK_NS_PER_MS, .max_backoff_ns = 50 * CLOCK_NS_PER_MS};
    return kv_run_transaction(mgmtd->store, body, argument, &retry);
}

int mgmtd_refuse(struct transaction_context *context, int status, const char *format, ...)
{
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(context->error, sizeof(context->error), format, arguments);
    va_end(arguments);
    return status;
}

void mgmtd_context_init(struct transaction_context *context, struct mgmtd *mgmtd)
{
    memset(context, 0, sizeof(*context));
    context->mgmtd = mgmtd;
    pthread_mutex_lock(&mgmtd->lock);
    context->lease = mgmtd->lease;
    pthread_mutex_unlock(&mgmtd->lock);
}

int mgmtd_fence(struct kv_transaction *transaction, struct transaction_context *context)
{
    int status = lease_fence(transaction, &context->lease);
    if (status == CHAINFS_NOT_PRIMARY)
        return mgmtd_refuse(context, status, "this mgmtd (node %u) is not the primary; ask GET_PRIMARY",
                      context->lease.self_node_id);
    return status;
}

void mgmtd_reply(struct rpc_request *request, int status, const struct transaction_context *context)
{
    if (status == 0)
        rpc_request_reply(request, 0);
    else
        rpc_request_fail(request, status, "%s", context->error[0] ? context->error
                                                                  : chainfs_error_message(status));
}

int mgmtd_read_record(struct kv_transaction *transaction, const uint8_t *key, size_t key_length,
                       struct wire_reader *reader)
{
    const void *value;
    size_t length;
    int status = kv_get(transaction, key, key_length, &value, &length);
    if (status == 0)
        wire_reader_init(reader, value, length);
    return status;
}

int mgmtd_write_encoded(struct kv_transaction *transaction, const uint8_t *key, size_t key_length,
                         struct wire_writer *writer)
{
    int status = wire_writer_ok(writer) ? kv_set(transaction, key, key_length, writer->data,
                                                 writer->length)
                                        : CHAINFS_NO_MEMORY;
    wire_writer_free(writer);
    return status;
}


int mgmtd_read_node(struct kv_transaction *transaction, uint32_t node_id, struct node_record *node)
{
    uint8_t key[MGMTD_KEY_MAX];
    struct wire_reader reader;
    int status = mgmtd_read_record(transaction, key, mgmtd_key_node(key, node_id), &reader);
    if (status == 0 && !(node_record_decode(&reader, node) && wire_reader_done(&reader)))
        status = CHAINFS_MALFORMED;
    return status;
}

int mgmtd_write_node(struct kv_transaction *transaction, const struct node_record *node)
{
    uint8_t key[MGMTD_KEY_MAX];
    struct wire_writer writer;
    wire_writer_init(&writer);
    node_record_encode(&writer, node);
    return mgmtd_write_encoded(transaction, key, mgmtd_key_node(key, node->node_id), &writer);
}

int mgmtd_read_target(struct kv_transaction *transaction, uint64_t target_id,
                       struct target_record *target)
{
    uint8_t key[MGMTD_KEY_MAX];
    struct wire_reader reader;
    int status = mgmtd_read_record(transaction, key, mgmtd_key_target(key, target_id), &reader);
    if (status == 0 && !(target_record_decode(&reader, target) && wire_reader_done(&reader)))
        status = CHAINFS_MALFORMED;
    return status;
}

int mgmtd_write_target(struct kv_transaction *transaction, const struct target_record *target)
{
    uint8_t key[MGMTD_KEY_MAX];
    struct wire_writer writer;
    wire_writer_init(&writer);
    target_record_encode(&writer, target);
    return mgmtd_write_encoded(transaction, key, mgmtd_key_target(key, target->target_id), &writer);
}

int mgmtd_read_chain(struct kv_transaction *transaction, uint32_t chain_id,
                      struct chain_record *chain)
{
    uint8_t key[MGMTD_KEY_MAX];
    struct wire_reader reader;
    int status = mgmtd_read_record(transaction, key, mgmtd_key_chain(key, chain_id), &reader);
    if (status == 0 && !(chain_record_decode(&reader, chain) && wire_reader_done(&reader)))
        status = CHAINFS_MALFORMED;
    return status;
}

int mgmtd_write_chain(struct kv_transaction *transaction, const struct chain_record *chain)
{
    uint8_t key[MGMTD_KEY_MAX];
    struct wire_writer writer;
    wire_writer_init(&writer);
    chain_record_encode(&writer, chain);
    return mgmtd_write_encoded(transaction, key, mgmtd_key_chain(key, chain->chain_id), &writer);
}


/* Newest config of a node type: its version (0 if none) and, if text is given, a
 * pointer to its text (owned by the transaction). */
int mgmtd_latest_config(struct kv_transaction *transaction, uint8_t node_type, uint64_t *version,
                         const char **text, size_t *text_length)
{
    uint8_t begin[MGMTD_KEY_MAX], end[MGMTD_KEY_MAX];
    size_t length = mgmtd_key_config(begin, node_type, 0);
    mgmtd_key_config(end, node_type, UINT64_MAX);
    struct kv_range_options options = {.reverse = true, .limit = 1, .snapshot = true};
    struct kv_range_result rows;
    int status = kv_get_range(transaction, begin, length, end, length, &options, &rows);
    *version = 0;
    if (status != 0 || rows.count == 0)
        return status;
    *version = 0;
    for (size_t i = 5; i < 13; i++)
        *version = (*version << 8) | rows.rows[0].key[i];
    if (text) {
        *text = (const char *)rows.rows[0].value;
        *text_length = rows.rows[0].value_length;
    }
    return 0;
}

/* Writes the targets of a node as locally offline. */
int mgmtd_take_node_targets_offline(struct kv_transaction *transaction,
                                     const struct routing_info *info, uint32_t node_id)
{
    int status = 0;
    for (size_t k = 0; status == 0 && k < info->target_count; k++) {
        struct target_record target = info->targets[k];
        if (target.node_id != node_id || target.local_state == TARGET_LOCAL_OFFLINE)
            continue;
        target.local_state = TARGET_LOCAL_OFFLINE;
        status = mgmtd_write_target(transaction, &target);
    }
    return status;
}
