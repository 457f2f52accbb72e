/*
 * kv_skiplist.h - an ordered map from byte-string keys to a byte-string payload, used
 * for a transaction's write set and its cleared ranges.
 *
 * A skip list (O(log n) search, insert, remove) whose bottom level is doubly linked so
 * range merging can walk it in both directions. Nodes come from the transaction's
 * arena and are never freed individually.
 */
#ifndef CHAINFS_KV_KV_SKIPLIST_H
#define CHAINFS_KV_KV_SKIPLIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv/kv_arena.h"

#define KV_SKIPLIST_MAX_LEVEL 20

struct kv_skiplist_node {
    const uint8_t *key;
    size_t key_length;
    const uint8_t *payload; /* meaning up to the user of the list */
    size_t payload_length;
    int type;               /* meaning up to the user of the list */
    struct kv_skiplist_node *previous; /* bottom level; NULL for the first node */
    int level;
    struct kv_skiplist_node *next[]; /* level entries */
};

struct kv_skiplist {
    struct kv_arena *arena;
    struct kv_skiplist_node *head[KV_SKIPLIST_MAX_LEVEL];
    struct kv_skiplist_node *last;
    int level;
    size_t count;
    uint64_t random_state;
};

void kv_skiplist_init(struct kv_skiplist *list, struct kv_arena *arena);

/* First node with key >= the given key, or NULL. */
struct kv_skiplist_node *kv_skiplist_lower_bound(const struct kv_skiplist *list,
                                                 const uint8_t *key, size_t key_length);

/* Last node with key < the given key, or NULL. */
struct kv_skiplist_node *kv_skiplist_last_below(const struct kv_skiplist *list,
                                                const uint8_t *key, size_t key_length);

/* The node with exactly this key, or NULL. */
struct kv_skiplist_node *kv_skiplist_find(const struct kv_skiplist *list, const uint8_t *key,
                                          size_t key_length);

/* The node for key, created (with a copy of the key and an empty payload) when absent.
 * NULL when out of memory. */
struct kv_skiplist_node *kv_skiplist_upsert(struct kv_skiplist *list, const uint8_t *key,
                                            size_t key_length);

/* Unlinks node (which must be in the list). */
void kv_skiplist_remove(struct kv_skiplist *list, struct kv_skiplist_node *node);

static inline struct kv_skiplist_node *kv_skiplist_first(const struct kv_skiplist *list)
{
    return list->head[0];
}

#endif /* CHAINFS_KV_KV_SKIPLIST_H */
