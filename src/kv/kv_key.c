/*
 * kv_key.c - key ordering, range arithmetic and atomic-add counters.
 */
#include <stdlib.h>
#include <string.h>

#include "kv/kv_key.h"

int kv_key_compare(const uint8_t *a, size_t a_length, const uint8_t *b, size_t b_length)
{
    size_t common = a_length < b_length ? a_length : b_length;
    int order = common ? memcmp(a, b, common) : 0;
    if (order != 0)
        return order;
    return a_length < b_length ? -1 : a_length > b_length ? 1 : 0;
}

bool kv_range_contains(const struct kv_key_range *range, const uint8_t *key,
                       size_t key_length)
{
    return kv_key_compare(range->begin, range->begin_length, key, key_length) <= 0 &&
           kv_key_compare(key, key_length, range->end, range->end_length) < 0;
}

bool kv_ranges_intersect(const struct kv_key_range *a, const struct kv_key_range *b)
{
    return kv_key_compare(a->begin, a->begin_length, b->end, b->end_length) < 0 &&
           kv_key_compare(b->begin, b->begin_length, a->end, a->end_length) < 0 &&
           kv_key_compare(a->begin, a->begin_length, a->end, a->end_length) < 0 &&
           kv_key_compare(b->begin, b->begin_length, b->end, b->end_length) < 0;
}

static int compare_range_begins(const void *left, const void *right)
{
    const struct kv_key_range *a = left, *b = right;
    return kv_key_compare(a->begin, a->begin_length, b->begin, b->begin_length);
}

size_t kv_ranges_normalize(struct kv_key_range *ranges, size_t count)
{
    size_t kept = 0;
    for (size_t i = 0; i < count; i++)
        if (kv_key_compare(ranges[i].begin, ranges[i].begin_length, ranges[i].end,
                           ranges[i].end_length) < 0)
            ranges[kept++] = ranges[i];
    if (kept == 0)
        return 0;
    qsort(ranges, kept, sizeof(*ranges), compare_range_begins);
    size_t merged = 0;
    for (size_t i = 1; i < kept; i++) {
        struct kv_key_range *last = &ranges[merged];
        if (kv_key_compare(ranges[i].begin, ranges[i].begin_length, last->end,
                           last->end_length) <= 0) {
            if (kv_key_compare(ranges[i].end, ranges[i].end_length, last->end,
                               last->end_length) > 0) {
                last->end = ranges[i].end;
                last->end_length = ranges[i].end_length;
            }
        } else {
            ranges[++merged] = ranges[i];
        }
    }
    return merged + 1;
}

/* Index of the first range whose end is above key (the only one that can hold key or
 * anything after it), or count. */
static size_t first_range_ending_after(const struct kv_key_range *ranges, size_t count,
                                       const uint8_t *key, size_t key_length)
{
    size_t low = 0, high = count;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (kv_key_compare(ranges[middle].end, ranges[middle].end_length, key, key_length) <= 0)
            low = middle + 1;
        else
            high = middle;
    }
    return low;
}

bool kv_sorted_ranges_contain(const struct kv_key_range *ranges, size_t count,
                              const uint8_t *key, size_t key_length)
{
    size_t index = first_range_ending_after(ranges, count, key, key_length);
    return index < count && kv_range_contains(&ranges[index], key, key_length);
}

bool kv_sorted_ranges_intersect(const struct kv_key_range *ranges, size_t count,
                                const struct kv_key_range *range)
{
    size_t index = first_range_ending_after(ranges, count, range->begin, range->begin_length);
    return index < count && kv_ranges_intersect(&ranges[index], range);
}

void kv_counter_encode(uint64_t value, uint8_t bytes[8])
{
    for (int i = 0; i < 8; i++)
        bytes[i] = (uint8_t)(value >> (8 * i));
}

uint64_t kv_counter_decode(const uint8_t *bytes, size_t length)
{
    uint64_t value = 0;
    for (size_t i = 0; i < length && i < 8; i++)
        value |= (uint64_t)bytes[i] << (8 * i);
    return value;
}

void kv_counter_add(const uint8_t *existing, size_t existing_length, const uint8_t delta[8],
                    uint8_t result[8])
{
    uint64_t base = existing ? kv_counter_decode(existing, existing_length) : 0;
    kv_counter_encode(base + kv_counter_decode(delta, 8), result);
}
