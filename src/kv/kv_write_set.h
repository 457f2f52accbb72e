/*
 * kv_write_set.h - a transaction's buffered writes: point mutations (set, clear,
 * atomic add) by key, plus the ranges it cleared. Reads consult it first
 * (read-your-writes) and commit hands it to the backend in key order.
 *
 * Invariant: a mutation inside a cleared range was made after the clear (clearing a
 * range drops the mutations it covers), so applying cleared ranges first and then the
 * mutations reproduces the transaction's order.
 */
#ifndef CHAINFS_KV_KV_WRITE_SET_H
#define CHAINFS_KV_KV_WRITE_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv/kv_arena.h"
#include "kv/kv_backend.h"
#include "kv/kv_skiplist.h"

struct kv_write_set {
    struct kv_skiplist mutations; /* node type: enum kv_mutation_type; payload: value */
    struct kv_skiplist cleared;   /* node key: range begin; payload: range end */
};

/* What the write set knows about one key. */
enum kv_local_state {
    KV_LOCAL_UNKNOWN, /* not written: ask the backend */
    KV_LOCAL_VALUE,   /* set (or add on a cleared key): value known */
    KV_LOCAL_ABSENT,  /* cleared */
    KV_LOCAL_ADD,     /* atomic add pending on an unknown base: value is the delta */
};

void kv_write_set_init(struct kv_write_set *writes, struct kv_arena *arena);

bool kv_write_set_is_empty(const struct kv_write_set *writes);

/* Each returns 0 or CHAINFS_NO_MEMORY (and then changed nothing visible). */
int kv_write_set_set(struct kv_write_set *writes, const uint8_t *key, size_t key_length,
                     const uint8_t *value, size_t value_length);
int kv_write_set_clear(struct kv_write_set *writes, const uint8_t *key, size_t key_length);
int kv_write_set_add(struct kv_write_set *writes, const uint8_t *key, size_t key_length,
                     const uint8_t delta[8]);
int kv_write_set_clear_range(struct kv_write_set *writes, const struct kv_key_range *range);

/* The local state of key; for VALUE and ADD *value points at the bytes. */
enum kv_local_state kv_write_set_lookup(const struct kv_write_set *writes, const uint8_t *key,
                                        size_t key_length, const uint8_t **value,
                                        size_t *value_length);

/* True when key lies in a range this transaction cleared. */
bool kv_write_set_is_cleared(const struct kv_write_set *writes, const uint8_t *key,
                             size_t key_length);

/* Arrays (allocated in the arena) of the cleared ranges and mutations, in key order.
 * Returns 0 or CHAINFS_NO_MEMORY. */
int kv_write_set_export(const struct kv_write_set *writes, struct kv_arena *arena,
                        struct kv_commit_request *request);

#endif /* CHAINFS_KV_KV_WRITE_SET_H */
