/*
 * namespace_idempotency.c - at-most-once application of mutating requests: the
 * request record (client id, request id) → reply, written in the operation's own
 * transaction (see namespace.h).
 *
 * The record scope is per thread because the namespace operations keep their
 * signatures (tests and tools call them without any request id); a service thread
 * sets the scope around exactly one operation.
 */
#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"
#include "kv/kv.h"
#include "meta/namespace_internal.h"

static __thread struct meta_request_record *active_record;

void meta_request_record_begin(struct meta_request_record *record)
{
    record->replayed = false;
    record->reply = NULL;
    record->reply_length = 0;
    active_record = record;
}

void meta_request_record_end(void) { active_record = NULL; }

/* IDEM <client id> 0 <u64 BE request id> */
static size_t record_key(uint8_t out[RECORD_KEY_MAX], const char *client_id, uint64_t request_id)
{
    size_t length = strlen(client_id);
    memcpy(out, "IDEM", 4);
    memcpy(out + 4, client_id, length);
    out[4 + length] = 0;
    for (int i = 0; i < 8; i++)
        out[5 + length + i] = (uint8_t)(request_id >> (56 - 8 * i));
    return 13 + length;
}

struct guarded {
    kv_transaction_function function;
    void *argument;
    struct meta_request_record *record;
    bool record_result;
};

/* Hands a recorded reply back (the transaction then commits without writes). */
static int replay(struct meta_request_record *record, const uint8_t *value, size_t length)
{
    if (length < 8)
        return CHAINFS_MALFORMED;
    record->reply = malloc(length - 8 + 1);
    if (!record->reply)
        return CHAINFS_NO_MEMORY;
    memcpy(record->reply, value + 8, length - 8);
    record->reply_length = length - 8;
    record->replayed = true;
    return 0;
}

static int store_reply(struct kv_transaction *transaction, struct meta_request_record *record,
                       const uint8_t *key, size_t key_length)
{
    struct wire_writer writer;
    wire_writer_init(&writer);
    wire_put_i64(&writer, namespace_now_ns());
    if (record->encode_reply)
        record->encode_reply(record->context, &writer);
    int status = wire_writer_ok(&writer) ? kv_set(transaction, key, key_length, writer.data,
                                                  writer.length)
                                         : CHAINFS_NO_MEMORY;
    wire_writer_free(&writer);
    return status;
}

static int guarded_transaction(struct kv_transaction *transaction, void *argument)
{
    struct guarded *guarded = argument;
    struct meta_request_record *record = guarded->record;
    free(record->reply); /* from an attempt that did not commit */
    record->reply = NULL;
    record->replayed = false;
    uint8_t key[RECORD_KEY_MAX];
    size_t key_length = record_key(key, record->client_id, record->request_id);
    const void *value;
    size_t length;
    int status = kv_get(transaction, key, key_length, &value, &length);
    if (status == 0)
        return replay(record, value, length);
    if (status != CHAINFS_NOT_FOUND)
        return status;
    status = guarded->function(transaction, guarded->argument);
    if (status == 0 && guarded->record_result)
        status = store_reply(transaction, record, key, key_length);
    return status;
}

static int run_guarded(struct meta_namespace *space, kv_transaction_function function,
                       void *argument, bool record_result)
{
    struct meta_request_record *record = active_record;
    if (!record || !record->client_id || !record->client_id[0] ||
        strlen(record->client_id) > RECORD_CLIENT_ID_MAX)
        return kv_run_transaction(space->store, function, argument, NULL);
    struct guarded guarded = {function, argument, record, record_result};
    return kv_run_transaction(space->store, guarded_transaction, &guarded, NULL);
}

int namespace_run(struct meta_namespace *space, kv_transaction_function function, void *argument)
{
    return run_guarded(space, function, argument, true);
}

int namespace_run_unrecorded(struct meta_namespace *space, kv_transaction_function function,
                             void *argument)
{
    return run_guarded(space, function, argument, false);
}

bool namespace_replayed(void) { return active_record && active_record->replayed; }

struct prune_request {
    int64_t oldest_ns;
    size_t limit;
    struct meta_record_cursor *cursor;
    size_t *removed;
};

static int prune_transaction(struct kv_transaction *transaction, void *argument)
{
    struct prune_request *request = argument;
    struct meta_record_cursor *cursor = request->cursor;
    uint8_t begin[sizeof(cursor->key) + 1];
    size_t begin_length = 4;
    memcpy(begin, "IDEM", 4);
    if (cursor->length > 4) {
        memcpy(begin, cursor->key, cursor->length);
        begin[cursor->length] = 0; /* strictly after the cursor */
        begin_length = cursor->length + 1;
    }
    struct kv_range_options options = {.limit = request->limit, .snapshot = true};
    struct kv_range_result rows;
    *request->removed = 0;
    int status = kv_get_range(transaction, begin, begin_length, "IDEN", 4, &options, &rows);
    for (size_t i = 0; status == 0 && i < rows.count; i++) {
        const struct kv_row *row = &rows.rows[i];
        int64_t recorded = row->value_length >= 8 ? (int64_t)wire_load_u64(row->value) : 0;
        if (recorded < request->oldest_ns) {
            status = kv_clear(transaction, row->key, row->key_length);
            ++*request->removed;
        }
    }
    if (status != 0)
        return status;
    if (rows.more && rows.count && rows.rows[rows.count - 1].key_length <= sizeof(cursor->key)) {
        cursor->length = rows.rows[rows.count - 1].key_length;
        memcpy(cursor->key, rows.rows[rows.count - 1].key, cursor->length);
    } else {
        cursor->length = 0; /* wrap around */
    }
    return 0;
}

int meta_prune_request_records(struct meta_namespace *space, int64_t max_age_ns, size_t limit,
                               struct meta_record_cursor *cursor, size_t *removed)
{
    if (limit == 0)
        return CHAINFS_INVALID_ARGUMENT;
    struct prune_request request = {namespace_now_ns() - max_age_ns, limit, cursor, removed};
    return kv_run_transaction(space->store, prune_transaction, &request, NULL);
}
