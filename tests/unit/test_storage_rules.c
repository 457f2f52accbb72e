/*
 * test_storage_rules.c - the decision tables of the storage service, row by row:
 * version rules of a forwarded update, exactly-once sequence rules, the recovery
 * plan's per-chunk rules and its merge of two dumps; the chunk lock's FIFO
 * hand-over and its ordered sequences of locks (no deadlock, no double holder).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "chainfs/error.h"
#include "storage/chunk_lock.h"
#include "storage/recovery_plan.h"
#include "storage/update_rules.h"

struct version_row {
    uint64_t committed, pending, update;
    enum update_decision expected;
};

static void test_version_rules(void **state)
{
    (void)state;
    static const struct version_row rows[] = {
        /* a new chunk: the first update is version 1 */
        {0, 0, 1, UPDATE_APPLY},
        {0, 1, 1, UPDATE_REPLACE_PENDING}, /* re-forward of a first write */
        {0, 0, 2, UPDATE_OUT_OF_ORDER},
        {0, 0, 0, UPDATE_ALREADY_COMMITTED}, /* version 0 is never newer */
        /* committed 5 */
        {5, 0, 6, UPDATE_APPLY},
        {5, 6, 6, UPDATE_REPLACE_PENDING},
        {5, 0, 5, UPDATE_ALREADY_COMMITTED}, /* stale: equal */
        {5, 0, 3, UPDATE_ALREADY_COMMITTED}, /* stale: older */
        {5, 6, 4, UPDATE_ALREADY_COMMITTED}, /* stale, even with a pending one */
        {5, 0, 7, UPDATE_OUT_OF_ORDER},
        {5, 6, 8, UPDATE_OUT_OF_ORDER},
        {UINT64_MAX - 1, 0, UINT64_MAX, UPDATE_APPLY},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const struct version_row *row = &rows[i];
        if (update_rules_decide(row->committed, row->pending, row->update) != row->expected)
            fail_msg("row %zu: committed %llu pending %llu update %llu", i,
                     (unsigned long long)row->committed, (unsigned long long)row->pending,
                     (unsigned long long)row->update);
    }
}

struct sequence_row {
    bool seen;
    struct client_channel_state state;
    uint64_t sequence;
    enum sequence_decision expected;
};

static void test_sequence_rules(void **state)
{
    (void)state;
    static const struct sequence_row rows[] = {
        {false, {0, false, false}, 1, SEQUENCE_NEW},      /* first write of a channel */
        {false, {0, false, false}, 0, SEQUENCE_NEW},      /* any sequence is new then */
        {true, {7, false, true}, 8, SEQUENCE_NEW},        /* the next one */
        {true, {7, true, false}, 9, SEQUENCE_NEW},        /* newer while one runs */
        {true, {7, false, true}, 7, SEQUENCE_REPLAY},     /* retry of a success */
        {true, {7, true, false}, 7, SEQUENCE_IN_PROGRESS}, /* retry while it runs */
        {true, {7, false, false}, 7, SEQUENCE_NEW},       /* retry of a failure runs again */
        {true, {7, false, true}, 6, SEQUENCE_STALE},
        {true, {7, true, false}, 1, SEQUENCE_STALE},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const struct sequence_row *row = &rows[i];
        if (update_rules_sequence(row->seen ? &row->state : NULL, row->sequence) != row->expected)
            fail_msg("row %zu", i);
    }
}

static struct storage_chunk_record record(uint64_t index, uint64_t committed, uint64_t committed_chain,
                                          uint64_t pending, uint64_t pending_chain)
{
    struct storage_chunk_record r;
    memset(&r, 0, sizeof r);
    r.chunk_id = chunk_id_make(1, index);
    r.committed = (struct storage_chunk_version){committed, committed_chain, 10, 0x11};
    r.pending = (struct storage_chunk_version){pending, pending ? pending_chain : 0, 10, 0x22};
    return r;
}

struct plan_row {
    const char *rule;
    bool has_local, has_remote;
    uint64_t local_committed, local_chain, local_pending;
    uint64_t remote_committed, remote_chain, remote_pending, remote_pending_chain;
    enum recovery_action expected;
};

static void test_recovery_rules(void **state)
{
    (void)state;
    static const struct plan_row rows[] = {
        {"only local", true, false, 3, 2, 0, 0, 0, 0, 0, RECOVERY_TRANSFER},
        {"only local, with a pending version", true, false, 3, 2, 4, 0, 0, 0, 0, RECOVERY_TRANSFER},
        {"only remote", false, true, 0, 0, 0, 3, 2, 0, 0, RECOVERY_REMOVE},
        {"only remote, only pending there", false, true, 0, 0, 0, 0, 0, 1, 2, RECOVERY_REMOVE},
        {"local only pending, remote has it", true, true, 0, 0, 1, 3, 2, 0, 0, RECOVERY_REMOVE},
        {"local only pending, remote absent", true, false, 0, 0, 1, 0, 0, 0, 0, RECOVERY_LEAVE},
        {"local chain version newer", true, true, 3, 5, 0, 3, 4, 0, 0, RECOVERY_TRANSFER},
        {"local chain version newer, lower version", true, true, 2, 5, 0, 9, 4, 0, 0,
         RECOVERY_TRANSFER},
        {"equal chain versions, committed differs", true, true, 4, 5, 0, 3, 5, 0, 0,
         RECOVERY_TRANSFER},
        {"equal chain versions, same committed", true, true, 4, 5, 0, 4, 5, 0, 0, RECOVERY_LEAVE},
        {"remote chain version newer", true, true, 4, 5, 0, 4, 6, 0, 0, RECOVERY_LEAVE},
        /* a pending version left on the syncing target is always replaced */
        {"remote pending = local committed", true, true, 4, 5, 0, 3, 5, 4, 5, RECOVERY_TRANSFER},
        {"remote pending beyond local committed", true, true, 4, 5, 0, 4, 5, 5, 5,
         RECOVERY_TRANSFER},
        {"remote has only a pending version", true, true, 1, 5, 0, 0, 0, 1, 5, RECOVERY_TRANSFER},
        {"remote pending, newer chain version", true, true, 4, 5, 0, 4, 6, 5, 6, RECOVERY_TRANSFER},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const struct plan_row *row = &rows[i];
        struct storage_chunk_record local =
            record(0, row->local_committed, row->local_chain, row->local_pending, row->local_chain);
        struct storage_chunk_record remote = record(0, row->remote_committed, row->remote_chain,
                                                    row->remote_pending, row->remote_pending_chain);
        enum recovery_action got = recovery_plan_decide(row->has_local ? &local : NULL,
                                                        row->has_remote ? &remote : NULL);
        if (got != row->expected)
            fail_msg("rule '%s': got %d, expected %d", row->rule, got, row->expected);
    }
    assert_int_equal(recovery_plan_decide(NULL, NULL), RECOVERY_LEAVE);
}

static void test_recovery_plan_merge(void **state)
{
    (void)state;
    /* local: 1 (only local), 2 (same), 4 (newer chain), 6 (only local)
     * remote: 2 (same), 3 (only remote), 4 (older chain), 5 (only remote) */
    struct storage_chunk_record local[] = {record(1, 1, 1, 0, 0), record(2, 2, 1, 0, 0),
                                           record(4, 3, 2, 0, 0), record(6, 1, 2, 0, 0)};
    struct storage_chunk_record remote[] = {record(2, 2, 1, 0, 0), record(3, 1, 1, 0, 0),
                                            record(4, 3, 1, 0, 0), record(5, 1, 1, 0, 0)};
    struct recovery_step *steps = NULL;
    size_t count = 0;
    assert_int_equal(recovery_plan_build(local, 4, remote, 4, &steps, &count), 0);
    const uint64_t indexes[] = {1, 3, 4, 5, 6};
    const enum recovery_action actions[] = {RECOVERY_TRANSFER, RECOVERY_REMOVE, RECOVERY_TRANSFER,
                                            RECOVERY_REMOVE, RECOVERY_TRANSFER};
    assert_int_equal(count, 5);
    for (size_t i = 0; i < count; i++) {
        assert_int_equal(chunk_id_index(&steps[i].chunk_id), indexes[i]);
        assert_int_equal(steps[i].action, actions[i]);
    }
    free(steps);
    /* Nothing to do; empty dumps; unsorted input. */
    assert_int_equal(recovery_plan_build(local, 2, local, 2, &steps, &count), 0);
    assert_int_equal(count, 0);
    assert_null(steps);
    assert_int_equal(recovery_plan_build(NULL, 0, NULL, 0, &steps, &count), 0);
    assert_int_equal(count, 0);
    struct storage_chunk_record unsorted[] = {record(2, 1, 1, 0, 0), record(1, 1, 1, 0, 0)};
    assert_int_equal(recovery_plan_build(unsorted, 2, NULL, 0, &steps, &count),
                     CHAINFS_INVALID_ARGUMENT);
    assert_int_equal(recovery_plan_build(local, 1, local, 1, &steps, &count), 0);
}

/* Chunk lock: a second and third acquirer are queued and run in order, each after
 * the previous release; other chunks are independent. */
struct lock_trace {
    int order[4];
    int count;
    struct chunk_lock_table *table;
    struct chunk_id id;
};

static struct lock_trace *trace_for_waiter;

static void record_second(void *argument)
{
    (void)argument;
    trace_for_waiter->order[trace_for_waiter->count++] = 2;
}

static void record_third(void *argument)
{
    (void)argument;
    trace_for_waiter->order[trace_for_waiter->count++] = 3;
}

static void test_chunk_lock_queue(void **state)
{
    (void)state;
    struct worker_pool *pool;
    assert_int_equal(worker_pool_create("lock-test", 1, &pool), 0);
    struct chunk_lock_table *table;
    assert_int_equal(chunk_lock_table_create(pool, &table), 0);
    struct lock_trace trace = {.table = table, .id = chunk_id_make(5, 5)};
    trace_for_waiter = &trace;
    struct chunk_lock_waiter second = {.run = record_second}, third = {.run = record_third};
    struct chunk_lock_waiter unused = {.run = NULL};
    assert_true(chunk_lock_acquire(table, &trace.id, &unused));
    const struct chunk_id other = chunk_id_make(5, 6);
    assert_true(chunk_lock_acquire(table, &other, &unused)); /* independent chunk */
    assert_false(chunk_lock_acquire(table, &trace.id, &second));
    assert_false(chunk_lock_acquire(table, &trace.id, &third));
    assert_int_equal(chunk_lock_held_count(table), 2);
    chunk_lock_release(table, &other);
    chunk_lock_release(table, &trace.id); /* hands over to second */
    for (int i = 0; i < 200 && trace.count < 1; i++)
        usleep(5000);
    assert_int_equal(trace.count, 1);
    assert_int_equal(trace.order[0], 2);
    chunk_lock_release(table, &trace.id); /* second done: third runs */
    for (int i = 0; i < 200 && trace.count < 2; i++)
        usleep(5000);
    assert_int_equal(trace.count, 2);
    assert_int_equal(trace.order[1], 3);
    chunk_lock_release(table, &trace.id);
    assert_int_equal(chunk_lock_held_count(table), 0);
    chunk_lock_acquire_wait(table, &trace.id); /* free: returns at once */
    chunk_lock_release(table, &trace.id);
    worker_pool_destroy(pool);
    chunk_lock_table_destroy(table);
}

/* A sequence of locks: it waits at a busy one, goes on from the pool when that is
 * released, and releases all. */
struct sequence_done {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int runs;
};

static void sequence_all_held(void *argument)
{
    struct sequence_done *done = argument;
    pthread_mutex_lock(&done->lock);
    done->runs++;
    pthread_cond_broadcast(&done->changed);
    pthread_mutex_unlock(&done->lock);
}

/* Waits (at most ~5 s) until done->runs reaches runs; false on timeout. */
static bool wait_runs(struct sequence_done *done, int runs)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    pthread_mutex_lock(&done->lock);
    int status = 0;
    while (done->runs < runs && status == 0)
        status = pthread_cond_timedwait(&done->changed, &done->lock, &until);
    bool reached = done->runs >= runs;
    pthread_mutex_unlock(&done->lock);
    return reached;
}

static void test_chunk_lock_sequence(void **state)
{
    (void)state;
    struct worker_pool *pool;
    assert_int_equal(worker_pool_create("sequence-test", 2, &pool), 0);
    struct chunk_lock_table *table;
    assert_int_equal(chunk_lock_table_create(pool, &table), 0);
    struct sequence_done done = {.runs = 0};
    pthread_mutex_init(&done.lock, NULL);
    pthread_cond_init(&done.changed, NULL);
    const struct chunk_id ids[] = {chunk_id_make(8, 1), chunk_id_make(8, 2), chunk_id_make(8, 3)};

    /* Nothing busy: all held at once, on this thread. */
    struct chunk_lock_sequence sequence;
    chunk_lock_sequence_start(&sequence, table, ids, 3, sequence_all_held, &done);
    assert_int_equal(done.runs, 1);
    assert_int_equal(chunk_lock_held_count(table), 3);
    chunk_lock_sequence_release(&sequence);
    assert_int_equal(chunk_lock_held_count(table), 0);

    /* The middle one busy: the first is held, the rest waits for its release. */
    struct chunk_lock_waiter unused = {.run = NULL};
    assert_true(chunk_lock_acquire(table, &ids[1], &unused));
    chunk_lock_sequence_start(&sequence, table, ids, 3, sequence_all_held, &done);
    usleep(20000);
    assert_int_equal(done.runs, 1);
    assert_int_equal(chunk_lock_held_count(table), 2);
    chunk_lock_release(table, &ids[1]); /* hands over to the sequence */
    assert_true(wait_runs(&done, 2));
    assert_int_equal(chunk_lock_held_count(table), 3);
    /* A second sequence over an overlapping set queues behind the first. */
    struct chunk_lock_sequence second;
    chunk_lock_sequence_start(&second, table, ids + 1, 2, sequence_all_held, &done);
    usleep(20000);
    assert_int_equal(done.runs, 2);
    chunk_lock_sequence_release(&sequence);
    assert_true(wait_runs(&done, 3));
    assert_int_equal(chunk_lock_held_count(table), 2);
    chunk_lock_sequence_release(&second);
    assert_int_equal(chunk_lock_held_count(table), 0);

    /* An empty sequence holds nothing and goes on at once. */
    chunk_lock_sequence_start(&sequence, table, ids, 0, sequence_all_held, &done);
    assert_int_equal(done.runs, 4);
    chunk_lock_sequence_release(&sequence);
    worker_pool_destroy(pool);
    chunk_lock_table_destroy(table);
    pthread_cond_destroy(&done.changed);
    pthread_mutex_destroy(&done.lock);
}

/* Threads that take random ascending sets of locks (sequences) and single locks
 * in any order never deadlock and never hold one chunk twice at a time. */
#define STRESS_CHUNKS 6
#define STRESS_ROUNDS 300

struct stress {
    struct chunk_lock_table *table;
    struct chunk_id ids[STRESS_CHUNKS];
    atomic_int owners[STRESS_CHUNKS];
    atomic_bool overlap;
    unsigned seed;
};

static void *stress_thread(void *argument)
{
    struct stress *stress = argument;
    unsigned seed = __atomic_add_fetch(&stress->seed, 7919, __ATOMIC_RELAXED);
    for (int round = 0; round < STRESS_ROUNDS; round++) {
        struct chunk_id chosen[STRESS_CHUNKS];
        size_t indexes[STRESS_CHUNKS], count = 0;
        for (size_t i = 0; i < STRESS_CHUNKS; i++)
            if (rand_r(&seed) % 2) {
                indexes[count] = i;
                chosen[count++] = stress->ids[i];
            }
        struct sequence_done done = {.runs = 0};
        pthread_mutex_init(&done.lock, NULL);
        pthread_cond_init(&done.changed, NULL);
        struct chunk_lock_sequence sequence;
        chunk_lock_sequence_start(&sequence, stress->table, chosen, count, sequence_all_held,
                                  &done);
        if (!wait_runs(&done, 1)) {
            atomic_store(&stress->overlap, true); /* a deadlock: reported as a failure */
            return NULL;
        }
        for (size_t i = 0; i < count; i++)
            if (atomic_fetch_add(&stress->owners[indexes[i]], 1) != 0)
                atomic_store(&stress->overlap, true);
        usleep(rand_r(&seed) % 200);
        for (size_t i = 0; i < count; i++)
            atomic_fetch_sub(&stress->owners[indexes[i]], 1);
        chunk_lock_sequence_release(&sequence);
        pthread_cond_destroy(&done.changed);
        pthread_mutex_destroy(&done.lock);
    }
    return NULL;
}

static void test_chunk_lock_sequences_do_not_deadlock(void **state)
{
    (void)state;
    struct worker_pool *pool;
    assert_int_equal(worker_pool_create("sequence-stress", 2, &pool), 0);
    struct stress stress = {.seed = 1};
    assert_int_equal(chunk_lock_table_create(pool, &stress.table), 0);
    for (size_t i = 0; i < STRESS_CHUNKS; i++)
        stress.ids[i] = chunk_id_make(3, i);
    pthread_t threads[4];
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, stress_thread, &stress), 0);
    for (size_t i = 0; i < 4; i++)
        pthread_join(threads[i], NULL);
    assert_false(atomic_load(&stress.overlap));
    assert_int_equal(chunk_lock_held_count(stress.table), 0);
    worker_pool_destroy(pool);
    chunk_lock_table_destroy(stress.table);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_rules),
        cmocka_unit_test(test_sequence_rules),
        cmocka_unit_test(test_recovery_rules),
        cmocka_unit_test(test_recovery_plan_merge),
        cmocka_unit_test(test_chunk_lock_queue),
        cmocka_unit_test(test_chunk_lock_sequence),
        cmocka_unit_test(test_chunk_lock_sequences_do_not_deadlock),
    };
    return cmocka_run_group_tests_name("storage_rules", tests, NULL, NULL);
}
