/*
 * storage_read_plan.c - grouping reads per target into bounded batches.
 */
#include "client/storage_read_plan.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"

/* Sort key of an item: its target, ties broken by position (stable by construction). */
static int compare_by_target(const void *left, const void *right, void *context)
{
    const struct storage_read_plan_item *items = context;
    size_t a = *(const size_t *)left, b = *(const size_t *)right;
    uint64_t target_a = items[a].target_id, target_b = items[b].target_id;
    if (target_a != target_b)
        return target_a < target_b ? -1 : 1;
    return a < b ? -1 : (a > b ? 1 : 0);
}

/* Whether an item travels alone. */
static bool is_direct(const struct storage_read_plan_item *item,
                      const struct storage_read_plan_limits *limits)
{
    return limits->direct_bytes == 0 || item->length >= limits->direct_bytes;
}

/* Whether an item can join the open batch of its target. */
static bool fits_batch(const struct storage_read_batch *batch, const struct storage_read_plan_item *item,
                       const struct storage_read_plan_limits *limits)
{
    return batch->target_id == item->target_id && batch->count < limits->max_items &&
           batch->bytes + item->length <= limits->max_bytes;
}

/* Cuts the items, visited in target order, into batches: batch_of[position] is the
 * batch of item `position`; batches[].first is the position of each batch's first
 * item (its smallest position). A direct item gets a batch of its own and leaves the open batch open. */
static void cut_batches(const struct storage_read_plan_item *items, const size_t *by_target,
                        size_t count, const struct storage_read_plan_limits *limits,
                        struct storage_read_plan *plan, size_t *batch_of)
{
    size_t open = SIZE_MAX;
    for (size_t i = 0; i < count; i++) {
        size_t position = by_target[i];
        const struct storage_read_plan_item *item = &items[position];
        bool direct = is_direct(item, limits);
        if (!direct && open != SIZE_MAX && fits_batch(&plan->batches[open], item, limits)) {
            plan->batches[open].count++;
            plan->batches[open].bytes += item->length;
            batch_of[position] = open;
            continue;
        }
        size_t batch = plan->batch_count++;
        plan->batches[batch] = (struct storage_read_batch){
            .target_id = item->target_id, .first = position, .count = 1, .bytes = item->length};
        batch_of[position] = batch;
        if (!direct)
            open = batch;
    }
}

/* Orders the batches by their first read and lays out plan->order batch by batch,
 * each batch's reads in their original order. A batch's first read has its smallest
 * position (cut_batches visits positions in ascending order within a target), so one
 * walk over the positions meets every batch at its first read, in the wanted order.
 * cursor and sorted have room for count entries. */
static void lay_out_order(struct storage_read_plan *plan, size_t count, const size_t *batch_of,
                          size_t *cursor, struct storage_read_batch *sorted)
{
    size_t next = 0, placed = 0;
    for (size_t position = 0; position < count; position++) {
        size_t batch = batch_of[position];
        if (plan->batches[batch].first != position)
            continue;
        cursor[batch] = next;
        sorted[placed] = plan->batches[batch];
        sorted[placed].first = next;
        next += sorted[placed].count;
        placed++;
    }
    for (size_t position = 0; position < count; position++)
        plan->order[cursor[batch_of[position]]++] = position;
    memcpy(plan->batches, sorted, plan->batch_count * sizeof(*sorted));
}

int storage_read_plan_build(const struct storage_read_plan_item *items, size_t count,
                            const struct storage_read_plan_limits *limits,
                            struct storage_read_plan *plan)
{
    memset(plan, 0, sizeof(*plan));
    if (!limits || limits->max_items == 0 || limits->max_bytes == 0 || (count > 0 && !items))
        return CHAINFS_INVALID_ARGUMENT;
    if (count == 0)
        return CHAINFS_OK;
    size_t *by_target = malloc(count * sizeof(*by_target));
    size_t *batch_of = malloc(count * sizeof(*batch_of));
    size_t *cursor = malloc(count * sizeof(*cursor));
    struct storage_read_batch *sorted = malloc(count * sizeof(*sorted));
    plan->order = malloc(count * sizeof(*plan->order));
    plan->batches = malloc(count * sizeof(*plan->batches));
    int status = CHAINFS_NO_MEMORY;
    if (by_target && batch_of && cursor && sorted && plan->order && plan->batches) {
        for (size_t i = 0; i < count; i++)
            by_target[i] = i;
        qsort_r(by_target, count, sizeof(*by_target), compare_by_target, (void *)items);
        cut_batches(items, by_target, count, limits, plan, batch_of);
        lay_out_order(plan, count, batch_of, cursor, sorted);
        status = CHAINFS_OK;
    }
    free(by_target);
    free(batch_of);
    free(cursor);
    free(sorted);
    if (status != CHAINFS_OK)
        storage_read_plan_free(plan);
    return status;
}

void storage_read_plan_free(struct storage_read_plan *plan)
{
    free(plan->order);
    free(plan->batches);
    memset(plan, 0, sizeof(*plan));
}
