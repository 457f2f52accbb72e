/*
 * storage_read_plan.h - grouping reads into BATCH_READ requests, one target at a time
 * (DESIGN §7 "many small reads to one target travel in one batch request").
 *
 * Pure: given, for each read, the target it was routed to and its length, it decides
 * which reads travel together. The rules:
 *   - a batch holds reads of one target only;
 *   - at most max_items reads and max_bytes bytes per batch (a single read longer than
 *     max_bytes still travels, alone);
 *   - a read of at least direct_bytes travels alone, so that its reply payload can be
 *     received straight into the caller's buffer (the RPC layer receives a payload into
 *     one contiguous buffer; a batch of several reads lands in a staging buffer and is
 *     copied out, which is cheap only for small reads);
 *   - a direct read does not close the open batch of its target: small reads around
 *     it still travel together;
 *   - reads keep their relative order inside a batch and batches follow the order of
 *     their first read, so the plan is deterministic.
 */
#ifndef CHAINFS_CLIENT_STORAGE_READ_PLAN_H
#define CHAINFS_CLIENT_STORAGE_READ_PLAN_H

#include <stddef.h>
#include <stdint.h>

struct storage_read_plan_limits {
    size_t max_items;      /* >= 1 */
    uint64_t max_bytes;    /* >= 1 */
    uint64_t direct_bytes; /* 0: every read travels alone */
};

/* One read to plan. */
struct storage_read_plan_item {
    uint64_t target_id;
    uint64_t length;
};

/* One request: items order[first .. first + count) of the plan, all for target_id. */
struct storage_read_batch {
    uint64_t target_id;
    size_t first;
    size_t count;
    uint64_t bytes;
};

struct storage_read_plan {
    size_t *order; /* item positions, grouped batch by batch (count entries) */
    struct storage_read_batch *batches;
    size_t batch_count;
};

/* Plans count items. Returns 0, CHAINFS_INVALID_ARGUMENT (zero limits) or
 * CHAINFS_NO_MEMORY. An empty input gives an empty plan. */
int storage_read_plan_build(const struct storage_read_plan_item *items, size_t count,
                            const struct storage_read_plan_limits *limits,
                            struct storage_read_plan *plan);

void storage_read_plan_free(struct storage_read_plan *plan);

#endif /* CHAINFS_CLIENT_STORAGE_READ_PLAN_H */
