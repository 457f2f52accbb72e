/*
 * kv_skiplist.c - skip list over byte-string keys (see kv_skiplist.h).
 */
#include <string.h>

#include "kv/kv_key.h"
#include "kv/kv_skiplist.h"

void kv_skiplist_init(struct kv_skiplist *list, struct kv_arena *arena)
{
    memset(list, 0, sizeof(*list));
    list->arena = arena;
    list->level = 1;
    list->random_state = 0x9E3779B97F4A7C15ULL ^ (uintptr_t)list;
}

/* Levels with probability 1/4 each step up (xorshift64). */
static int random_level(struct kv_skiplist *list)
{
    uint64_t x = list->random_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    list->random_state = x;
    int level = 1;
    while (level < KV_SKIPLIST_MAX_LEVEL && (x & 3) == 0) {
        level++;
        x >>= 2;
    }
    return level;
}

/* Fills before[i] with the last node at level i whose key is < key (NULL = head). */
static void find_predecessors(const struct kv_skiplist *list, const uint8_t *key,
                              size_t key_length, struct kv_skiplist_node **before)
{
    struct kv_skiplist_node *current = NULL;
    for (int level = list->level - 1; level >= 0; level--) {
        struct kv_skiplist_node *next = current ? current->next[level] : list->head[level];
        while (next && kv_key_compare(next->key, next->key_length, key, key_length) < 0) {
            current = next;
            next = current->next[level];
        }
        before[level] = current;
    }
}

struct kv_skiplist_node *kv_skiplist_last_below(const struct kv_skiplist *list,
                                                const uint8_t *key, size_t key_length)
{
    struct kv_skiplist_node *before[KV_SKIPLIST_MAX_LEVEL];
    find_predecessors(list, key, key_length, before);
    return before[0];
}

struct kv_skiplist_node *kv_skiplist_lower_bound(const struct kv_skiplist *list,
                                                 const uint8_t *key, size_t key_length)
{
    struct kv_skiplist_node *below = kv_skiplist_last_below(list, key, key_length);
    return below ? below->next[0] : list->head[0];
}

struct kv_skiplist_node *kv_skiplist_find(const struct kv_skiplist *list, const uint8_t *key,
                                          size_t key_length)
{
    struct kv_skiplist_node *node = kv_skiplist_lower_bound(list, key, key_length);
    if (node && kv_key_compare(node->key, node->key_length, key, key_length) == 0)
        return node;
    return NULL;
}

static void link_node(struct kv_skiplist *list, struct kv_skiplist_node *node,
                      struct kv_skiplist_node **before)
{
    for (int level = 0; level < node->level; level++) {
        struct kv_skiplist_node **slot =
            before[level] ? &before[level]->next[level] : &list->head[level];
        node->next[level] = *slot;
        *slot = node;
    }
    node->previous = before[0];
    if (node->next[0])
        node->next[0]->previous = node;
    else
        list->last = node;
    list->count++;
}

struct kv_skiplist_node *kv_skiplist_upsert(struct kv_skiplist *list, const uint8_t *key,
                                            size_t key_length)
{
    struct kv_skiplist_node *before[KV_SKIPLIST_MAX_LEVEL];
    find_predecessors(list, key, key_length, before);
    struct kv_skiplist_node *candidate = before[0] ? before[0]->next[0] : list->head[0];
    if (candidate && kv_key_compare(candidate->key, candidate->key_length, key, key_length) == 0)
        return candidate;

    int level = random_level(list);
    struct kv_skiplist_node *node = kv_arena_allocate(
        list->arena, sizeof(*node) + (size_t)level * sizeof(node->next[0]));
    uint8_t *key_copy = node ? kv_arena_copy(list->arena, key, key_length) : NULL;
    if (!key_copy)
        return NULL;
    memset(node, 0, sizeof(*node));
    node->key = key_copy;
    node->key_length = key_length;
    node->level = level;
    for (int extra = list->level; extra < level; extra++)
        before[extra] = NULL;
    if (level > list->level)
        list->level = level;
    link_node(list, node, before);
    return node;
}

void kv_skiplist_remove(struct kv_skiplist *list, struct kv_skiplist_node *node)
{
    struct kv_skiplist_node *before[KV_SKIPLIST_MAX_LEVEL];
    find_predecessors(list, node->key, node->key_length, before);
    for (int level = 0; level < node->level; level++) {
        struct kv_skiplist_node **slot =
            before[level] ? &before[level]->next[level] : &list->head[level];
        if (*slot == node)
            *slot = node->next[level];
    }
    if (node->next[0])
        node->next[0]->previous = node->previous;
    else
        list->last = node->previous;
    list->count--;
}
