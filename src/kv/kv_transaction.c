/*
 * kv_transaction.c - the backend-independent half of a transaction: argument checks,
 * size limits, the local write set, read-your-writes (also across ranges), and the
 * read conflict ranges handed to the backend at commit.
 */
#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"
#include "kv/kv.h"
#include "kv/kv_arena.h"
#include "kv/kv_backend.h"
#include "kv/kv_key.h"
#include "kv/kv_write_set.h"

struct kv_transaction {
    struct kv_store *store;
    void *backend_transaction;
    struct kv_write_set writes;
    struct kv_key_range *read_ranges; /* in the arena */
    size_t read_range_count;
    size_t read_range_capacity;
    size_t size;  /* bytes counted against KV_TRANSACTION_MAX */
    int failure;  /* sticky status of a failed backend operation */
    bool lazy;    /* kv_set_lazy_commit */
    struct kv_arena arena;
};

int kv_begin(struct kv_store *store, struct kv_transaction **transaction)
{
    if (!store || !transaction)
        return CHAINFS_INVALID_ARGUMENT;
    struct kv_transaction *created = malloc(sizeof(*created));
    if (!created)
        return CHAINFS_NO_MEMORY;
    memset(created, 0, offsetof(struct kv_transaction, arena));
    created->store = store;
    kv_arena_init(&created->arena);
    kv_write_set_init(&created->writes, &created->arena);
    int status = store->ops->begin(store->backend, &created->backend_transaction);
    if (status != 0) {
        free(created);
        return status;
    }
    *transaction = created;
    return 0;
}

static void end_transaction(struct kv_transaction *transaction)
{
    transaction->store->ops->end(transaction->backend_transaction);
    kv_arena_release(&transaction->arena);
    free(transaction);
}

void kv_abort(struct kv_transaction *transaction)
{
    if (transaction)
        end_transaction(transaction);
}

/* ---- argument checks and size accounting ---- */

static int check_bytes(const void *bytes, size_t length, size_t max_length)
{
    if (!bytes && length > 0)
        return CHAINFS_INVALID_ARGUMENT;
    return length > max_length ? CHAINFS_TOO_LARGE : 0;
}

static int check_usable(const struct kv_transaction *transaction)
{
    return transaction ? transaction->failure : CHAINFS_INVALID_ARGUMENT;
}

static int check_key(const struct kv_transaction *transaction, const void *key, size_t length)
{
    int status = check_usable(transaction);
    return status != 0 ? status : check_bytes(key, length, KV_KEY_MAX);
}

/* Range bounds may be one byte longer than a key, so "key + \0" is a valid end. */
static int check_range(const struct kv_transaction *transaction, const void *begin,
                       size_t begin_length, const void *end, size_t end_length)
{
    int status = check_usable(transaction);
    if (status == 0)
        status = check_bytes(begin, begin_length, KV_KEY_MAX + 1);
    if (status == 0)
        status = check_bytes(end, end_length, KV_KEY_MAX + 1);
    return status;
}

static int check_size(const struct kv_transaction *transaction, size_t bytes)
{
    return bytes > KV_TRANSACTION_MAX - transaction->size ? CHAINFS_TOO_LARGE : 0;
}

/* A backend failure other than "not found" poisons the transaction. */
static int fail(struct kv_transaction *transaction, int status)
{
    if (status != 0 && status != CHAINFS_NOT_FOUND)
        transaction->failure = status;
    return status;
}

/* ---- read conflict ranges ---- */

static int add_read_range(struct kv_transaction *transaction, const uint8_t *begin,
                          size_t begin_length, const uint8_t *end, size_t end_length)
{
    int status = check_size(transaction, begin_length + end_length);
    if (status != 0)
        return status;
    if (transaction->read_range_count == transaction->read_range_capacity) {
        size_t capacity = transaction->read_range_capacity ? transaction->read_range_capacity * 2 : 4;
        struct kv_key_range *grown =
            kv_arena_allocate(&transaction->arena, capacity * sizeof(*grown));
        if (!grown)
            return CHAINFS_NO_MEMORY;
        if (transaction->read_range_count)
            memcpy(grown, transaction->read_ranges,
                   transaction->read_range_count * sizeof(*grown));
        transaction->read_ranges = grown;
        transaction->read_range_capacity = capacity;
    }
    uint8_t *begin_copy = kv_arena_copy(&transaction->arena, begin, begin_length);
    uint8_t *end_copy = kv_arena_copy(&transaction->arena, end, end_length);
    if (!begin_copy || !end_copy)
        return CHAINFS_NO_MEMORY;
    transaction->read_ranges[transaction->read_range_count++] =
        (struct kv_key_range){begin_copy, begin_length, end_copy, end_length};
    transaction->size += begin_length + end_length;
    return 0;
}

/* The single-key range [key, key + "\0"). */
static int add_read_key(struct kv_transaction *transaction, const uint8_t *key,
                        size_t key_length)
{
    uint8_t *end = kv_arena_allocate(&transaction->arena, key_length + 1);
    if (!end)
        return CHAINFS_NO_MEMORY;
    if (key_length)
        memcpy(end, key, key_length);
    end[key_length] = 0;
    int status = add_read_range(transaction, key, key_length, end, key_length + 1);
    if (status == 0)
        transaction->size -= key_length + 1; /* count the key once */
    return status;
}

/* ---- point reads ---- */

static int get_from_backend(struct kv_transaction *transaction, bool snapshot,
                            const uint8_t *key, size_t key_length, const uint8_t **value,
                            size_t *value_length)
{
    const uint8_t *found;
    size_t found_length;
    int status = transaction->store->ops->get(transaction->backend_transaction, snapshot, key,
                                              key_length, &found, &found_length);
    if (status != 0)
        return fail(transaction, status);
    uint8_t *copy = kv_arena_copy(&transaction->arena, found, found_length);
    if (!copy)
        return CHAINFS_NO_MEMORY;
    *value = copy;
    *value_length = found_length;
    return 0;
}

/* A pending atomic add on top of what the backend holds. */
static int resolve_add(struct kv_transaction *transaction, bool snapshot, const uint8_t *key,
                       size_t key_length, const uint8_t *delta, const void **value,
                       size_t *value_length)
{
    const uint8_t *base = NULL;
    size_t base_length = 0;
    int status = get_from_backend(transaction, snapshot, key, key_length, &base, &base_length);
    if (status != 0 && status != CHAINFS_NOT_FOUND)
        return status;
    uint8_t *sum = kv_arena_allocate(&transaction->arena, 8);
    if (!sum)
        return CHAINFS_NO_MEMORY;
    kv_counter_add(status == 0 ? base : NULL, base_length, delta, sum);
    *value = sum;
    *value_length = 8;
    return 0;
}

static int get_key(struct kv_transaction *transaction, bool snapshot, const void *key,
                   size_t key_length, const void **value, size_t *value_length)
{
    int status = check_key(transaction, key, key_length);
    if (status != 0)
        return status;
    if (!value || !value_length)
        return CHAINFS_INVALID_ARGUMENT;
    const uint8_t *local;
    size_t local_length;
    enum kv_local_state state =
        kv_write_set_lookup(&transaction->writes, key, key_length, &local, &local_length);
    if (state == KV_LOCAL_VALUE) {
        *value = local;
        *value_length = local_length;
        return 0;
    }
    if (state == KV_LOCAL_ABSENT)
        return CHAINFS_NOT_FOUND;
    if (!snapshot && (status = add_read_key(transaction, key, key_length)) != 0)
        return status;
    if (state == KV_LOCAL_ADD)
        return resolve_add(transaction, snapshot, key, key_length, local, value, value_length);
    const uint8_t *found;
    status = get_from_backend(transaction, snapshot, key, key_length, &found, value_length);
    if (status == 0)
        *value = found;
    return status;
}

int kv_get(struct kv_transaction *transaction, const void *key, size_t key_length,
           const void **value, size_t *value_length)
{
    return get_key(transaction, false, key, key_length, value, value_length);
}

int kv_get_snapshot(struct kv_transaction *transaction, const void *key, size_t key_length,
                    const void **value, size_t *value_length)
{
    return get_key(transaction, true, key, key_length, value, value_length);
}

/* ---- range reads: backend rows merged with the write set ---- */

struct range_merge {
    struct kv_transaction *transaction;
    const struct kv_key_range *range;
    bool reverse;
    size_t target; /* stop after this many rows */
    struct kv_skiplist_node *local; /* next local mutation, in scan order */
    struct kv_row *rows;
    size_t count;
    size_t capacity;
    int status;
};

static bool local_in_range(const struct range_merge *merge)
{
    const struct kv_skiplist_node *node = merge->local;
    if (!node)
        return false;
    if (merge->reverse)
        return kv_key_compare(node->key, node->key_length, merge->range->begin,
                              merge->range->begin_length) >= 0;
    return kv_key_compare(node->key, node->key_length, merge->range->end,
                          merge->range->end_length) < 0;
}

static void advance_local(struct range_merge *merge)
{
    merge->local = merge->reverse ? merge->local->previous : merge->local->next[0];
}

/* Scan order: <0 when key a comes before key b. */
static int scan_order(const struct range_merge *merge, const uint8_t *a, size_t a_length,
                      const uint8_t *b, size_t b_length)
{
    int order = kv_key_compare(a, a_length, b, b_length);
    return merge->reverse ? -order : order;
}

/* Appends a row whose bytes already live in the arena. */
static void push_row(struct range_merge *merge, const uint8_t *key, size_t key_length,
                     const uint8_t *value, size_t value_length)
{
    if (merge->count == merge->capacity) {
        size_t capacity = merge->capacity ? merge->capacity * 2 : 16;
        struct kv_row *grown =
            kv_arena_allocate(&merge->transaction->arena, capacity * sizeof(*grown));
        if (!grown) {
            merge->status = CHAINFS_NO_MEMORY;
            return;
        }
        if (merge->count)
            memcpy(grown, merge->rows, merge->count * sizeof(*grown));
        merge->rows = grown;
        merge->capacity = capacity;
    }
    merge->rows[merge->count++] = (struct kv_row){key, key_length, value, value_length};
}

/* Emits a local mutation; base is the backend's value at the key (NULL: absent). */
static void push_local(struct range_merge *merge, const struct kv_skiplist_node *node,
                       const uint8_t *base, size_t base_length)
{
    switch ((enum kv_mutation_type)node->type) {
    case KV_MUTATION_SET:
        push_row(merge, node->key, node->key_length, node->payload, node->payload_length);
        return;
    case KV_MUTATION_CLEAR:
        return;
    case KV_MUTATION_ADD: {
        uint8_t *sum = kv_arena_allocate(&merge->transaction->arena, 8);
        if (!sum) {
            merge->status = CHAINFS_NO_MEMORY;
            return;
        }
        kv_counter_add(base, base_length, node->payload, sum);
        push_row(merge, node->key, node->key_length, sum, 8);
        return;
    }
    }
}

static bool merge_wants_more(const struct range_merge *merge)
{
    return merge->status == 0 && merge->count < merge->target;
}

static bool merge_backend_row(void *context, const uint8_t *key, size_t key_length,
                              const uint8_t *value, size_t value_length)
{
    struct range_merge *merge = context;
    while (local_in_range(merge) && merge_wants_more(merge) &&
           scan_order(merge, merge->local->key, merge->local->key_length, key, key_length) < 0) {
        push_local(merge, merge->local, NULL, 0);
        advance_local(merge);
    }
    if (!merge_wants_more(merge))
        return false;
    struct kv_arena *arena = &merge->transaction->arena;
    if (local_in_range(merge) &&
        kv_key_compare(merge->local->key, merge->local->key_length, key, key_length) == 0) {
        uint8_t *base = kv_arena_copy(arena, value, value_length);
        if (!base)
            merge->status = CHAINFS_NO_MEMORY;
        else
            push_local(merge, merge->local, base, value_length);
        advance_local(merge);
    } else if (!kv_write_set_is_cleared(&merge->transaction->writes, key, key_length)) {
        uint8_t *key_copy = kv_arena_copy(arena, key, key_length);
        uint8_t *value_copy = kv_arena_copy(arena, value, value_length);
        if (!key_copy || !value_copy)
            merge->status = CHAINFS_NO_MEMORY;
        else
            push_row(merge, key_copy, key_length, value_copy, value_length);
    }
    return merge_wants_more(merge);
}

static void start_merge(struct range_merge *merge, struct kv_transaction *transaction,
                        const struct kv_key_range *range, const struct kv_range_options *options)
{
    memset(merge, 0, sizeof(*merge));
    merge->transaction = transaction;
    merge->range = range;
    merge->reverse = options->reverse;
    merge->target = options->limit ? options->limit + 1 : SIZE_MAX;
    struct kv_skiplist *mutations = &transaction->writes.mutations;
    merge->local = options->reverse
                       ? kv_skiplist_last_below(mutations, range->end, range->end_length)
                       : kv_skiplist_lower_bound(mutations, range->begin, range->begin_length);
}

/* The part of the range a limited read actually covered. */
static int add_range_conflict(struct kv_transaction *transaction,
                              const struct kv_key_range *range, bool reverse,
                              const struct kv_range_result *result)
{
    if (!result->more)
        return add_read_range(transaction, range->begin, range->begin_length, range->end,
                              range->end_length);
    const struct kv_row *last = &result->rows[result->count - 1];
    if (reverse)
        return add_read_range(transaction, last->key, last->key_length, range->end,
                              range->end_length);
    uint8_t *after = kv_arena_allocate(&transaction->arena, last->key_length + 1);
    if (!after)
        return CHAINFS_NO_MEMORY;
    memcpy(after, last->key, last->key_length);
    after[last->key_length] = 0;
    return add_read_range(transaction, range->begin, range->begin_length, after,
                          last->key_length + 1);
}

int kv_get_range(struct kv_transaction *transaction, const void *begin, size_t begin_length,
                 const void *end, size_t end_length, const struct kv_range_options *options,
                 struct kv_range_result *result)
{
    static const struct kv_range_options defaults = {0};
    int status = check_range(transaction, begin, begin_length, end, end_length);
    if (status != 0)
        return status;
    if (!result)
        return CHAINFS_INVALID_ARGUMENT;
    if (!options)
        options = &defaults;
    memset(result, 0, sizeof(*result));
    struct kv_key_range range = {begin, begin_length, end, end_length};
    if (kv_key_compare(range.begin, begin_length, range.end, end_length) >= 0)
        return 0;
    if (!options->snapshot && (status = check_size(transaction, begin_length + end_length)))
        return status;

    struct range_merge merge;
    start_merge(&merge, transaction, &range, options);
    status = transaction->store->ops->read_range(transaction->backend_transaction,
                                                 options->snapshot, &range, options->reverse,
                                                 merge_backend_row, &merge);
    if (status != 0)
        return fail(transaction, status);
    while (local_in_range(&merge) && merge_wants_more(&merge)) {
        push_local(&merge, merge.local, NULL, 0);
        advance_local(&merge);
    }
    if (merge.status != 0)
        return merge.status;
    result->rows = merge.rows;
    result->count = merge.count;
    if (options->limit && merge.count > options->limit) {
        result->count = options->limit;
        result->more = true;
    }
    if (!options->snapshot)
        return add_range_conflict(transaction, &range, options->reverse, result);
    return 0;
}

/* ---- writes ---- */

int kv_set(struct kv_transaction *transaction, const void *key, size_t key_length,
           const void *value, size_t value_length)
{
    int status = check_key(transaction, key, key_length);
    if (status == 0)
        status = check_bytes(value, value_length, KV_VALUE_MAX);
    if (status == 0)
        status = check_size(transaction, key_length + value_length);
    if (status == 0)
        status = kv_write_set_set(&transaction->writes, key, key_length, value, value_length);
    if (status == 0)
        transaction->size += key_length + value_length;
    return status;
}

int kv_clear(struct kv_transaction *transaction, const void *key, size_t key_length)
{
    int status = check_key(transaction, key, key_length);
    if (status == 0)
        status = check_size(transaction, key_length);
    if (status == 0)
        status = kv_write_set_clear(&transaction->writes, key, key_length);
    if (status == 0)
        transaction->size += key_length;
    return status;
}

int kv_clear_range(struct kv_transaction *transaction, const void *begin, size_t begin_length,
                   const void *end, size_t end_length)
{
    int status = check_range(transaction, begin, begin_length, end, end_length);
    if (status == 0)
        status = check_size(transaction, begin_length + end_length);
    struct kv_key_range range = {begin, begin_length, end, end_length};
    if (status == 0)
        status = kv_write_set_clear_range(&transaction->writes, &range);
    if (status == 0)
        transaction->size += begin_length + end_length;
    return status;
}

int kv_atomic_add(struct kv_transaction *transaction, const void *key, size_t key_length,
                  int64_t delta)
{
    int status = check_key(transaction, key, key_length);
    if (status == 0)
        status = check_size(transaction, key_length + 8);
    uint8_t delta_bytes[8];
    kv_counter_encode((uint64_t)delta, delta_bytes);
    if (status == 0)
        status = kv_write_set_add(&transaction->writes, key, key_length, delta_bytes);
    if (status == 0)
        transaction->size += key_length + 8;
    return status;
}

/* ---- commit ---- */

static int commit_writes(struct kv_transaction *transaction)
{
    struct kv_commit_request request = {0};
    int status = kv_write_set_export(&transaction->writes, &transaction->arena, &request);
    if (status != 0)
        return status;
    request.lazy = transaction->lazy;
    request.read_ranges = transaction->read_ranges;
    request.read_range_count =
        kv_ranges_normalize(transaction->read_ranges, transaction->read_range_count);
    return transaction->store->ops->commit(transaction->backend_transaction, &request);
}

void kv_set_lazy_commit(struct kv_transaction *transaction)
{
    if (transaction)
        transaction->lazy = true;
}

int kv_commit(struct kv_transaction *transaction)
{
    if (!transaction)
        return CHAINFS_INVALID_ARGUMENT;
    int status = transaction->failure;
    if (status == 0 && !kv_write_set_is_empty(&transaction->writes))
        status = commit_writes(transaction);
    end_transaction(transaction);
    return status;
}
