/*
 * kv_key.h - byte-string keys: ordering, ranges and the 64-bit counter arithmetic of
 * atomic add, shared by the generic layer and the backends.
 */
#ifndef CHAINFS_KV_KV_KEY_H
#define CHAINFS_KV_KV_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv/kv_backend.h"

/* memcmp order, a key before its extensions: <0, 0, >0. */
int kv_key_compare(const uint8_t *a, size_t a_length, const uint8_t *b, size_t b_length);

/* True when begin <= key < end. */
bool kv_range_contains(const struct kv_key_range *range, const uint8_t *key,
                       size_t key_length);

/* True when the two half-open ranges share at least one key. */
bool kv_ranges_intersect(const struct kv_key_range *a, const struct kv_key_range *b);

/* Sorts ranges by begin and merges overlapping or touching ones in place; returns the
 * new count. Empty ranges are dropped. */
size_t kv_ranges_normalize(struct kv_key_range *ranges, size_t count);

/* True when key lies in one of the sorted, disjoint ranges (binary search). */
bool kv_sorted_ranges_contain(const struct kv_key_range *ranges, size_t count,
                              const uint8_t *key, size_t key_length);

/* True when range intersects one of the sorted, disjoint ranges (binary search). */
bool kv_sorted_ranges_intersect(const struct kv_key_range *ranges, size_t count,
                                const struct kv_key_range *range);

/* The 8-byte little-endian sum of an existing value (NULL = absent = 0; shorter values
 * are zero-extended, longer ones truncated) and a delta, wrapping modulo 2^64. */
void kv_counter_add(const uint8_t *existing, size_t existing_length, const uint8_t delta[8],
                    uint8_t result[8]);

void kv_counter_encode(uint64_t value, uint8_t bytes[8]);
uint64_t kv_counter_decode(const uint8_t *bytes, size_t length);

#endif /* CHAINFS_KV_KV_KEY_H */
