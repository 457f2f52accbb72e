/*
 * test_storage_client_parts.c - the pure parts of the storage client: target choice
 * (head, spread readers, avoided and suspect targets), read batching per target with
 * its limits, the retry decision table row by row, the backoff schedule, and the
 * write channel pool (sequences, exactly one holder, waiting with a deadline).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "chainfs/error.h"
#include "client/storage_read_plan.h"
#include "client/storage_retry.h"
#include "client/storage_route.h"
#include "client/storage_write_channels.h"
#include "common/clock.h"
#include "mgmtd/target_state.h"

/* --- routing fixture: chain 7 = targets 101, 102, 103 on nodes 1, 2, 3 ------------- */

struct fixture {
    struct node_record nodes[3];
    struct target_record targets[3];
    struct chain_record chains[1];
    struct routing_info info;
};

static void fixture_init(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    for (int i = 0; i < 3; i++) {
        f->nodes[i] = (struct node_record){.node_id = (uint32_t)(i + 1), .type = NODE_TYPE_STORAGE,
                                           .enabled = true, .alive = true};
        snprintf(f->nodes[i].address, sizeof(f->nodes[i].address), "127.0.0.1:%d", 9001 + i);
        f->targets[i] = (struct target_record){.target_id = (uint64_t)(101 + i),
                                               .node_id = (uint32_t)(i + 1),
                                               .local_state = TARGET_LOCAL_UP_TO_DATE,
                                               .public_state = TARGET_PUBLIC_SERVING,
                                               .chain_id = 7};
    }
    f->chains[0] = (struct chain_record){.chain_id = 7, .version = 5, .target_count = 3,
                                         .target_ids = {101, 102, 103}};
    f->info = (struct routing_info){.version = 9, .nodes = f->nodes, .node_count = 3,
                                    .targets = f->targets, .target_count = 3,
                                    .chains = f->chains, .chain_count = 1};
}

static void head_is_the_first_serving_target(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    struct storage_route route;
    assert_int_equal(storage_route_head(&f.info, 7, &route), CHAINFS_OK);
    assert_int_equal(route.target_id, 101);
    assert_int_equal(route.chain_version, 5);
    assert_string_equal(route.address, "127.0.0.1:9001");
    /* Chain after the head went offline: mgmtd moved it to the end. */
    f.chains[0].target_ids[0] = 102;
    f.chains[0].target_ids[1] = 103;
    f.chains[0].target_ids[2] = 101;
    f.targets[0].public_state = TARGET_PUBLIC_OFFLINE;
    assert_int_equal(storage_route_head(&f.info, 7, &route), CHAINFS_OK);
    assert_int_equal(route.target_id, 102);
    /* A syncing or waiting target never heads; none serving: unavailable. */
    f.targets[1].public_state = TARGET_PUBLIC_SYNCING;
    f.targets[2].public_state = TARGET_PUBLIC_WAITING;
    assert_int_equal(storage_route_head(&f.info, 7, &route), CHAINFS_UNAVAILABLE);
    assert_int_equal(storage_route_head(&f.info, 8, &route), CHAINFS_NOT_FOUND);
}

static void readers_spread_over_serving_targets(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    int hits[3] = {0};
    struct storage_route route;
    for (uint64_t hash = 0; hash < 300; hash++) {
        assert_int_equal(storage_route_reader(&f.info, 7, hash, 0, STORAGE_ROUTE_AVOID_NONE, &route),
                         CHAINFS_OK);
        hits[route.target_id - 101]++;
    }
    assert_int_equal(hits[0], 100);
    assert_int_equal(hits[1], 100);
    assert_int_equal(hits[2], 100);
    /* A different salt sends the same chunk elsewhere. */
    struct storage_route other;
    storage_route_reader(&f.info, 7, 42, 0, STORAGE_ROUTE_AVOID_NONE, &route);
    storage_route_reader(&f.info, 7, 42, 1, STORAGE_ROUTE_AVOID_NONE, &other);
    assert_int_not_equal(route.target_id, other.target_id);
    /* Only serving targets read. */
    f.targets[0].public_state = TARGET_PUBLIC_SYNCING;
    f.targets[2].public_state = TARGET_PUBLIC_OFFLINE;
    for (uint64_t hash = 0; hash < 10; hash++) {
        storage_route_reader(&f.info, 7, hash, 0, STORAGE_ROUTE_AVOID_NONE, &route);
        assert_int_equal(route.target_id, 102);
    }
}

static void readers_avoid_failed_and_suspect_targets(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    struct storage_route route;
    for (uint64_t hash = 0; hash < 30; hash++) {
        storage_route_reader(&f.info, 7, hash, 0, 102, &route);
        assert_int_not_equal(route.target_id, 102);
    }
    /* Node 1 looks dead, target 102 just failed: 103 first. */
    f.nodes[0].alive = false;
    for (uint64_t hash = 0; hash < 30; hash++) {
        storage_route_reader(&f.info, 7, hash, 0, 102, &route);
        assert_int_equal(route.target_id, 103);
    }
    /* Only the avoided one left serving on a live node: used anyway, before the suspect. */
    f.targets[2].public_state = TARGET_PUBLIC_OFFLINE;
    storage_route_reader(&f.info, 7, 5, 0, 102, &route);
    assert_int_equal(route.target_id, 102);
    /* Only a suspect left: still tried (mgmtd has not decided yet). */
    f.targets[1].public_state = TARGET_PUBLIC_OFFLINE;
    assert_int_equal(storage_route_reader(&f.info, 7, 5, 0, 102, &route), CHAINFS_OK);
    assert_int_equal(route.target_id, 101);
    f.targets[0].public_state = TARGET_PUBLIC_LASTSRV;
    assert_int_equal(storage_route_reader(&f.info, 7, 5, 0, 102, &route), CHAINFS_UNAVAILABLE);
    assert_int_equal(storage_route_reader(&f.info, 99, 5, 0, 0, &route), CHAINFS_NOT_FOUND);
}

static void tail_is_the_last_serving_target(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    struct storage_route route;
    assert_int_equal(storage_route_tail(&f.info, 7, &route), CHAINFS_OK);
    assert_int_equal(route.target_id, 103);
    f.targets[2].public_state = TARGET_PUBLIC_SYNCING; /* receives writes, serves no reads */
    assert_int_equal(storage_route_tail(&f.info, 7, &route), CHAINFS_OK);
    assert_int_equal(route.target_id, 102);
    f.targets[0].public_state = TARGET_PUBLIC_OFFLINE;
    f.targets[1].public_state = TARGET_PUBLIC_WAITING;
    assert_int_equal(storage_route_tail(&f.info, 7, &route), CHAINFS_UNAVAILABLE);
    assert_int_equal(storage_route_tail(&f.info, 9, &route), CHAINFS_NOT_FOUND);
}

static void target_route_finds_any_state(void **state)
{
    (void)state;
    struct fixture f;
    fixture_init(&f);
    f.targets[2].public_state = TARGET_PUBLIC_OFFLINE;
    struct storage_route route;
    assert_int_equal(storage_route_target(&f.info, 103, &route), CHAINFS_OK);
    assert_string_equal(route.address, "127.0.0.1:9003");
    assert_int_equal(storage_route_target(&f.info, 104, &route), CHAINFS_NOT_FOUND);
    f.targets[2].node_id = 77;
    assert_int_equal(storage_route_target(&f.info, 103, &route), CHAINFS_NOT_FOUND);
}

/* --- read plan ---------------------------------------------------------------------- */

static void expect_batch(const struct storage_read_plan *plan, size_t batch, uint64_t target,
                         size_t count, const size_t *items)
{
    assert_true(batch < plan->batch_count);
    const struct storage_read_batch *b = &plan->batches[batch];
    assert_int_equal(b->target_id, target);
    assert_int_equal(b->count, count);
    for (size_t i = 0; i < count; i++)
        assert_int_equal(plan->order[b->first + i], items[i]);
}

static void reads_group_per_target_in_order(void **state)
{
    (void)state;
    const struct storage_read_plan_item items[] = {
        {2, 4096}, {1, 4096}, {2, 4096}, {3, 4096}, {1, 4096}, {2, 4096},
    };
    struct storage_read_plan_limits limits = {.max_items = 16, .max_bytes = 1 << 20,
                                              .direct_bytes = 65536};
    struct storage_read_plan plan;
    assert_int_equal(storage_read_plan_build(items, 6, &limits, &plan), CHAINFS_OK);
    assert_int_equal(plan.batch_count, 3);
    expect_batch(&plan, 0, 2, 3, (size_t[]){0, 2, 5});
    expect_batch(&plan, 1, 1, 2, (size_t[]){1, 4});
    expect_batch(&plan, 2, 3, 1, (size_t[]){3});
    assert_int_equal(plan.batches[0].bytes, 3 * 4096);
    storage_read_plan_free(&plan);
}

static void batches_respect_item_and_byte_limits(void **state)
{
    (void)state;
    struct storage_read_plan_item items[10];
    for (int i = 0; i < 10; i++)
        items[i] = (struct storage_read_plan_item){5, 4096};
    struct storage_read_plan_limits limits = {.max_items = 4, .max_bytes = 1 << 20,
                                              .direct_bytes = 65536};
    struct storage_read_plan plan;
    assert_int_equal(storage_read_plan_build(items, 10, &limits, &plan), CHAINFS_OK);
    assert_int_equal(plan.batch_count, 3);
    expect_batch(&plan, 0, 5, 4, (size_t[]){0, 1, 2, 3});
    expect_batch(&plan, 2, 5, 2, (size_t[]){8, 9});
    storage_read_plan_free(&plan);
    limits = (struct storage_read_plan_limits){.max_items = 100, .max_bytes = 3 * 4096,
                                               .direct_bytes = 65536};
    assert_int_equal(storage_read_plan_build(items, 10, &limits, &plan), CHAINFS_OK);
    assert_int_equal(plan.batch_count, 4); /* 3 + 3 + 3 + 1 */
    for (size_t b = 0; b < plan.batch_count; b++)
        assert_true(plan.batches[b].bytes <= 3 * 4096);
    storage_read_plan_free(&plan);
}

static void large_reads_travel_alone(void **state)
{
    (void)state;
    const struct storage_read_plan_item items[] = {
        {1, 4096}, {1, 1 << 20}, {1, 4096}, {1, 65536}, {1, 65535}, {1, 8 << 20},
    };
    struct storage_read_plan_limits limits = {.max_items = 16, .max_bytes = 4 << 20,
                                              .direct_bytes = 65536};
    struct storage_read_plan plan;
    assert_int_equal(storage_read_plan_build(items, 6, &limits, &plan), CHAINFS_OK);
    assert_int_equal(plan.batch_count, 4);
    expect_batch(&plan, 0, 1, 3, (size_t[]){0, 2, 4});
    expect_batch(&plan, 1, 1, 1, (size_t[]){1});
    expect_batch(&plan, 2, 1, 1, (size_t[]){3});
    expect_batch(&plan, 3, 1, 1, (size_t[]){5}); /* over max_bytes, still sent */
    storage_read_plan_free(&plan);
    /* direct_bytes 0: every read alone. */
    limits.direct_bytes = 0;
    assert_int_equal(storage_read_plan_build(items, 3, &limits, &plan), CHAINFS_OK);
    assert_int_equal(plan.batch_count, 3);
    storage_read_plan_free(&plan);
}

static void plan_rejects_zero_limits_and_accepts_nothing(void **state)
{
    (void)state;
    struct storage_read_plan_item item = {1, 1};
    struct storage_read_plan plan;
    struct storage_read_plan_limits limits = {.max_items = 0, .max_bytes = 1};
    assert_int_equal(storage_read_plan_build(&item, 1, &limits, &plan), CHAINFS_INVALID_ARGUMENT);
    limits = (struct storage_read_plan_limits){.max_items = 1, .max_bytes = 0};
    assert_int_equal(storage_read_plan_build(&item, 1, &limits, &plan), CHAINFS_INVALID_ARGUMENT);
    limits.max_bytes = 1;
    assert_int_equal(storage_read_plan_build(NULL, 0, &limits, &plan), CHAINFS_OK);
    assert_int_equal(plan.batch_count, 0);
    storage_read_plan_free(&plan);
}

/* Random plans keep every invariant: each read exactly once; one target per batch;
 * limits kept (a lone read may exceed max_bytes); direct reads alone; reads in their
 * original order inside a batch; batches in the order of their first read. */
static void random_plans_keep_their_invariants(void **state)
{
    (void)state;
    uint64_t random = 12345;
    for (int round = 0; round < 200; round++) {
        struct storage_read_plan_item items[300];
        size_t count = (size_t)(round % 50) * 6 + 1;
        for (size_t i = 0; i < count; i++) {
            random ^= random << 13, random ^= random >> 7, random ^= random << 17;
            items[i].target_id = random % 5 + 1;
            items[i].length = (random >> 8) % 4 == 0 ? (random >> 16) % (1 << 20) : (random >> 16) % 8192;
        }
        struct storage_read_plan_limits limits = {.max_items = (size_t)(round % 7) + 1,
                                                  .max_bytes = 65536, .direct_bytes = 32768};
        struct storage_read_plan plan;
        assert_int_equal(storage_read_plan_build(items, count, &limits, &plan), CHAINFS_OK);
        bool seen[300] = {false};
        size_t previous_first_read = 0;
        for (size_t b = 0; b < plan.batch_count; b++) {
            const struct storage_read_batch *batch = &plan.batches[b];
            assert_true(batch->count >= 1 && batch->count <= limits.max_items);
            assert_true(b == 0 || plan.order[batch->first] > previous_first_read);
            previous_first_read = plan.order[batch->first];
            uint64_t bytes = 0;
            for (size_t i = 0; i < batch->count; i++) {
                size_t position = plan.order[batch->first + i];
                assert_false(seen[position]);
                seen[position] = true;
                assert_int_equal(items[position].target_id, batch->target_id);
                assert_true(i == 0 || position > plan.order[batch->first + i - 1]);
                if (items[position].length >= limits.direct_bytes)
                    assert_int_equal(batch->count, 1);
                bytes += items[position].length;
            }
            assert_int_equal(bytes, batch->bytes);
            assert_true(batch->count == 1 || bytes <= limits.max_bytes);
        }
        for (size_t i = 0; i < count; i++)
            assert_true(seen[i]);
        storage_read_plan_free(&plan);
    }
}

/* --- retry table -------------------------------------------------------------------- */

struct retry_row {
    int status;
    struct storage_retry_decision read, update;
};

#define NO {false, false, false, false}
#define REFRESH_BACK_OFF {true, true, false, true}
#define BACK_OFF {true, false, false, true}
#define ELSEWHERE {true, true, true, false}

static const struct retry_row retry_table[] = {
    {CHAINFS_OK, NO, NO},
    {CHAINFS_ROUTING_STALE, REFRESH_BACK_OFF, REFRESH_BACK_OFF},
    {CHAINFS_UNAVAILABLE, REFRESH_BACK_OFF, REFRESH_BACK_OFF},
    {CHAINFS_NOT_COMMITTED, BACK_OFF, BACK_OFF},
    {CHAINFS_BUSY, BACK_OFF, BACK_OFF},
    {CHAINFS_CONFLICT, BACK_OFF, BACK_OFF},
    {CHAINFS_DISCONNECTED, ELSEWHERE, ELSEWHERE},
    {CHAINFS_CONNECT_FAILED, ELSEWHERE, ELSEWHERE},
    {CHAINFS_SHUTTING_DOWN, ELSEWHERE, ELSEWHERE},
    {CHAINFS_TIMEOUT, ELSEWHERE, ELSEWHERE},
    {CHAINFS_CHECKSUM, ELSEWHERE, NO},
    {CHAINFS_IO, ELSEWHERE, NO},
    {CHAINFS_INVALID_ARGUMENT, NO, NO},
    {CHAINFS_MALFORMED, NO, NO},
    {CHAINFS_NOT_FOUND, NO, NO},
    {CHAINFS_NO_SPACE, NO, NO},
    {CHAINFS_TOO_LARGE, NO, NO},
    {CHAINFS_CANCELLED, NO, NO},
    {CHAINFS_INTERNAL, NO, NO},
    {CHAINFS_UNKNOWN_METHOD, NO, NO},
    {CHAINFS_PERMISSION_DENIED, NO, NO},
};

static void expect_decision(struct storage_retry_decision got, struct storage_retry_decision want,
                            int status, const char *kind)
{
    if (got.retry != want.retry || got.refresh_routing != want.refresh_routing ||
        got.avoid_target != want.avoid_target || got.back_off != want.back_off)
        fail_msg("%s %s: got retry=%d refresh=%d avoid=%d back_off=%d", kind,
                 chainfs_error_name(status), got.retry, got.refresh_routing, got.avoid_target,
                 got.back_off);
}

static void retry_decisions_follow_the_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(retry_table) / sizeof(retry_table[0]); i++) {
        const struct retry_row *row = &retry_table[i];
        expect_decision(storage_retry_decide(STORAGE_OPERATION_READ, row->status), row->read,
                        row->status, "read");
        expect_decision(storage_retry_decide(STORAGE_OPERATION_UPDATE, row->status), row->update,
                        row->status, "update");
    }
}

static void backoff_doubles_caps_and_jitters(void **state)
{
    (void)state;
    const uint64_t ms = CLOCK_NS_PER_MS;
    assert_int_equal(storage_retry_backoff_ns(0, ms, 100 * ms, 0), 0);
    assert_int_equal(storage_retry_backoff_ns(1, ms, 100 * ms, 0), ms);
    assert_int_equal(storage_retry_backoff_ns(2, ms, 100 * ms, 0), 2 * ms);
    assert_int_equal(storage_retry_backoff_ns(5, ms, 100 * ms, 0), 16 * ms);
    assert_int_equal(storage_retry_backoff_ns(8, ms, 100 * ms, 0), 100 * ms);
    assert_int_equal(storage_retry_backoff_ns(4000, ms, 100 * ms, 0), 100 * ms);
    for (uint64_t r = 0; r < 5000; r += 37) {
        uint64_t wait = storage_retry_backoff_ns(3, ms, 100 * ms, r);
        assert_true(wait <= 4 * ms && wait >= 3 * ms);
    }
}

/* --- write channels ----------------------------------------------------------------- */

static void channels_hand_out_sequences_once(void **state)
{
    (void)state;
    struct storage_write_channels *channels;
    assert_int_equal(storage_write_channels_create(0, &channels), CHAINFS_INVALID_ARGUMENT);
    assert_int_equal(storage_write_channels_create(2, &channels), CHAINFS_OK);
    struct storage_write_ticket a, b, c;
    assert_int_equal(storage_write_channel_try_acquire(channels, &a), CHAINFS_OK);
    assert_int_equal(storage_write_channel_try_acquire(channels, &b), CHAINFS_OK);
    assert_int_not_equal(a.channel, b.channel);
    assert_int_equal(a.sequence, 1);
    assert_int_equal(b.sequence, 1);
    assert_int_equal(storage_write_channel_try_acquire(channels, &c), CHAINFS_BUSY);
    assert_int_equal(storage_write_channels_free_count(channels), 0);
    /* Waiting with a deadline ends in TIMEOUT, not a hang. */
    uint64_t start = clock_now_ns();
    assert_int_equal(storage_write_channel_acquire(channels, deadline_after_ns(20 * CLOCK_NS_PER_MS), &c),
                     CHAINFS_TIMEOUT);
    assert_true(clock_now_ns() - start >= 19 * CLOCK_NS_PER_MS);
    storage_write_channel_release(channels, &a);
    assert_int_equal(storage_write_channel_acquire(channels, deadline_after_ns(CLOCK_NS_PER_S), &c),
                     CHAINFS_OK);
    assert_int_equal(c.channel, a.channel);
    assert_int_equal(c.sequence, 2); /* the next write on that channel */
    storage_write_channel_release(channels, &b);
    storage_write_channel_release(channels, &c);
    assert_int_equal(storage_write_channels_free_count(channels), 2);
    storage_write_channels_destroy(channels);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(head_is_the_first_serving_target),
        cmocka_unit_test(readers_spread_over_serving_targets),
        cmocka_unit_test(readers_avoid_failed_and_suspect_targets),
        cmocka_unit_test(tail_is_the_last_serving_target),
        cmocka_unit_test(target_route_finds_any_state),
        cmocka_unit_test(reads_group_per_target_in_order),
        cmocka_unit_test(batches_respect_item_and_byte_limits),
        cmocka_unit_test(large_reads_travel_alone),
        cmocka_unit_test(plan_rejects_zero_limits_and_accepts_nothing),
        cmocka_unit_test(random_plans_keep_their_invariants),
        cmocka_unit_test(retry_decisions_follow_the_table),
        cmocka_unit_test(backoff_doubles_caps_and_jitters),
        cmocka_unit_test(channels_hand_out_sequences_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
