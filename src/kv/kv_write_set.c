/*
 * kv_write_set.c - buffered writes of a transaction (see kv_write_set.h).
 */
#include "chainfs/error.h"
#include "kv/kv_key.h"
#include "kv/kv_write_set.h"

void kv_write_set_init(struct kv_write_set *writes, struct kv_arena *arena)
{
    kv_skiplist_init(&writes->mutations, arena);
    kv_skiplist_init(&writes->cleared, arena);
}

bool kv_write_set_is_empty(const struct kv_write_set *writes)
{
    return writes->mutations.count == 0 && writes->cleared.count == 0;
}

static int put_mutation(struct kv_write_set *writes, enum kv_mutation_type type,
                        const uint8_t *key, size_t key_length, const uint8_t *value,
                        size_t value_length)
{
    uint8_t *value_copy = kv_arena_copy(writes->mutations.arena, value, value_length);
    if (!value_copy)
        return CHAINFS_NO_MEMORY;
    struct kv_skiplist_node *node = kv_skiplist_upsert(&writes->mutations, key, key_length);
    if (!node)
        return CHAINFS_NO_MEMORY;
    node->type = (int)type;
    node->payload = value_copy;
    node->payload_length = value_length;
    return 0;
}

int kv_write_set_set(struct kv_write_set *writes, const uint8_t *key, size_t key_length,
                     const uint8_t *value, size_t value_length)
{
    return put_mutation(writes, KV_MUTATION_SET, key, key_length, value, value_length);
}

int kv_write_set_clear(struct kv_write_set *writes, const uint8_t *key, size_t key_length)
{
    return put_mutation(writes, KV_MUTATION_CLEAR, key, key_length, NULL, 0);
}

int kv_write_set_add(struct kv_write_set *writes, const uint8_t *key, size_t key_length,
                     const uint8_t delta[8])
{
    uint8_t sum[8];
    const uint8_t *value;
    size_t value_length;
    switch (kv_write_set_lookup(writes, key, key_length, &value, &value_length)) {
    case KV_LOCAL_VALUE:
        kv_counter_add(value, value_length, delta, sum);
        return put_mutation(writes, KV_MUTATION_SET, key, key_length, sum, 8);
    case KV_LOCAL_ABSENT:
        kv_counter_add(NULL, 0, delta, sum);
        return put_mutation(writes, KV_MUTATION_SET, key, key_length, sum, 8);
    case KV_LOCAL_ADD:
        kv_counter_add(value, value_length, delta, sum);
        return put_mutation(writes, KV_MUTATION_ADD, key, key_length, sum, 8);
    case KV_LOCAL_UNKNOWN:
        break;
    }
    return put_mutation(writes, KV_MUTATION_ADD, key, key_length, delta, 8);
}

/* Drops the mutations inside range: the clear overrides them. */
static void drop_mutations_in(struct kv_write_set *writes, const struct kv_key_range *range)
{
    struct kv_skiplist_node *node =
        kv_skiplist_lower_bound(&writes->mutations, range->begin, range->begin_length);
    while (node && kv_key_compare(node->key, node->key_length, range->end, range->end_length) < 0) {
        struct kv_skiplist_node *next = node->next[0];
        kv_skiplist_remove(&writes->mutations, node);
        node = next;
    }
}

int kv_write_set_clear_range(struct kv_write_set *writes, const struct kv_key_range *range)
{
    if (kv_key_compare(range->begin, range->begin_length, range->end, range->end_length) >= 0)
        return 0;
    const uint8_t *begin = range->begin, *end = range->end;
    size_t begin_length = range->begin_length, end_length = range->end_length;

    /* Absorb an earlier cleared range that reaches begin... */
    struct kv_skiplist_node *node = kv_skiplist_last_below(&writes->cleared, begin, begin_length);
    if (node && kv_key_compare(node->payload, node->payload_length, begin, begin_length) >= 0) {
        begin = node->key;
        begin_length = node->key_length;
    } else {
        node = kv_skiplist_lower_bound(&writes->cleared, begin, begin_length);
    }
    /* ...and every later one starting at or before end. */
    uint8_t *end_copy = kv_arena_copy(writes->cleared.arena, end, end_length);
    if (!end_copy)
        return CHAINFS_NO_MEMORY;
    end = end_copy;
    while (node && kv_key_compare(node->key, node->key_length, end, end_length) <= 0) {
        struct kv_skiplist_node *next = node->next[0];
        if (kv_key_compare(node->payload, node->payload_length, end, end_length) > 0) {
            end = node->payload;
            end_length = node->payload_length;
        }
        if (kv_key_compare(node->key, node->key_length, begin, begin_length) != 0)
            kv_skiplist_remove(&writes->cleared, node);
        node = next;
    }
    struct kv_skiplist_node *merged = kv_skiplist_upsert(&writes->cleared, begin, begin_length);
    if (!merged)
        return CHAINFS_NO_MEMORY;
    merged->payload = end;
    merged->payload_length = end_length;
    drop_mutations_in(writes, range);
    return 0;
}

bool kv_write_set_is_cleared(const struct kv_write_set *writes, const uint8_t *key,
                             size_t key_length)
{
    if (writes->cleared.count == 0)
        return false;
    /* The range starting at or before key is the last one starting below key + "\0". */
    struct kv_skiplist_node *node = kv_skiplist_find(&writes->cleared, key, key_length);
    if (!node)
        node = kv_skiplist_last_below(&writes->cleared, key, key_length);
    return node && kv_key_compare(key, key_length, node->payload, node->payload_length) < 0;
}

enum kv_local_state kv_write_set_lookup(const struct kv_write_set *writes, const uint8_t *key,
                                        size_t key_length, const uint8_t **value,
                                        size_t *value_length)
{
    struct kv_skiplist_node *node = kv_skiplist_find(&writes->mutations, key, key_length);
    if (!node)
        return kv_write_set_is_cleared(writes, key, key_length) ? KV_LOCAL_ABSENT
                                                                 : KV_LOCAL_UNKNOWN;
    *value = node->payload;
    *value_length = node->payload_length;
    switch ((enum kv_mutation_type)node->type) {
    case KV_MUTATION_SET:
        return KV_LOCAL_VALUE;
    case KV_MUTATION_CLEAR:
        return KV_LOCAL_ABSENT;
    case KV_MUTATION_ADD:
        return KV_LOCAL_ADD;
    }
    return KV_LOCAL_UNKNOWN;
}

int kv_write_set_export(const struct kv_write_set *writes, struct kv_arena *arena,
                        struct kv_commit_request *request)
{
    struct kv_key_range *ranges =
        kv_arena_allocate(arena, writes->cleared.count * sizeof(*ranges));
    struct kv_mutation *mutations =
        kv_arena_allocate(arena, writes->mutations.count * sizeof(*mutations));
    if (!ranges || !mutations)
        return CHAINFS_NO_MEMORY;
    size_t count = 0;
    for (struct kv_skiplist_node *node = kv_skiplist_first(&writes->cleared); node;
         node = node->next[0])
        ranges[count++] = (struct kv_key_range){node->key, node->key_length, node->payload,
                                                node->payload_length};
    request->cleared_ranges = ranges;
    request->cleared_range_count = count;
    count = 0;
    for (struct kv_skiplist_node *node = kv_skiplist_first(&writes->mutations); node;
         node = node->next[0])
        mutations[count++] = (struct kv_mutation){(enum kv_mutation_type)node->type, node->key,
                                                  node->key_length, node->payload,
                                                  node->payload_length};
    request->mutations = mutations;
    request->mutation_count = count;
    return 0;
}
