/*
 * test_lease.c - mgmtd primary election on a real LMDB store: the first participant
 * takes the lease, a follower takes over only after the primary went silent for a
 * lease length, and a stale primary can never commit (fencing).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chainfs/error.h"
#include "common/clock.h"
#include "common/log.h"
#include "kv/kv.h"
#include "temporary_store.h"
#include "mgmtd/lease.h"

#define LEASE_LENGTH (300 * CLOCK_NS_PER_MS)

struct fixture {
    struct temporary_store temporary;
    struct kv_store *store;
};

static int setup(void **state)
{
    log_set_level(LOG_LEVEL_ERROR);
    struct fixture *fixture = calloc(1, sizeof(*fixture));
    assert_int_equal(temporary_store_open(&fixture->temporary, "lease", 16 << 20), 0);
    fixture->store = fixture->temporary.store;
    *state = fixture;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fixture = *state;
    assert_int_equal(temporary_store_close(&fixture->temporary), 0);
    free(fixture);
    return 0;
}

static void first_participant_becomes_primary_at_once(void **state)
{
    struct fixture *fixture = *state;
    struct lease first, second;
    lease_init(&first, 1, "127.0.0.1:1001", LEASE_LENGTH);
    lease_init(&second, 2, "127.0.0.1:1002", LEASE_LENGTH);
    assert_int_equal(lease_tick(fixture->store, &first), 0);
    assert_true(lease_is_primary(&first));
    assert_int_equal(first.epoch, 1);
    for (int i = 0; i < 5; i++) { /* the primary renews: the follower never takes over */
        assert_int_equal(lease_tick(fixture->store, &second), 0);
        assert_int_equal(lease_tick(fixture->store, &first), 0);
        clock_sleep_ns(LEASE_LENGTH / 4);
    }
    assert_true(lease_is_primary(&first));
    assert_false(lease_is_primary(&second));
    struct lease_holder holder;
    assert_int_equal(lease_read_holder(fixture->store, &holder), 0);
    assert_int_equal(holder.node_id, 1);
    assert_string_equal(holder.address, "127.0.0.1:1001");
}

static void follower_takes_over_after_a_silent_lease_length(void **state)
{
    struct fixture *fixture = *state;
    struct lease first, second;
    lease_init(&first, 1, "a", LEASE_LENGTH);
    lease_init(&second, 2, "b", LEASE_LENGTH);
    assert_int_equal(lease_tick(fixture->store, &first), 0);
    assert_int_equal(lease_tick(fixture->store, &second), 0); /* observes */
    uint64_t silent_since = clock_now_ns();
    while (!lease_is_primary(&second)) { /* the primary is dead: no more renewals */
        assert_true(clock_now_ns() - silent_since < 3 * LEASE_LENGTH);
        assert_int_equal(lease_tick(fixture->store, &second), 0);
        clock_sleep_ns(LEASE_LENGTH / 10);
    }
    assert_true(clock_now_ns() - silent_since >= LEASE_LENGTH);
    assert_int_equal(second.epoch, 2);
    /* The old primary had stopped acting before the takeover could happen. */
    assert_false(lease_is_primary(&first));
    /* When it wakes up it learns it lost. */
    assert_int_equal(lease_tick(fixture->store, &first), 0);
    assert_false(first.primary);
}

static int fenced_write(struct kv_store *store, const struct lease *lease)
{
    struct kv_transaction *transaction;
    assert_int_equal(kv_begin(store, &transaction), 0);
    int status = lease_fence(transaction, lease);
    if (status == 0)
        status = kv_set(transaction, "STATE", 5, "x", 1);
    if (status != 0) {
        kv_abort(transaction);
        return status;
    }
    return kv_commit(transaction);
}

static void stale_primary_cannot_commit(void **state)
{
    struct fixture *fixture = *state;
    struct lease first, second;
    lease_init(&first, 1, "a", LEASE_LENGTH);
    lease_init(&second, 2, "b", LEASE_LENGTH);
    assert_int_equal(lease_tick(fixture->store, &first), 0);
    assert_int_equal(fenced_write(fixture->store, &first), 0);

    /* A fenced transaction of the primary is in progress when a takeover commits. */
    struct kv_transaction *stale;
    assert_int_equal(kv_begin(fixture->store, &stale), 0);
    assert_int_equal(lease_fence(stale, &first), 0);

    assert_int_equal(lease_tick(fixture->store, &second), 0);
    while (!lease_is_primary(&second)) {
        clock_sleep_ns(LEASE_LENGTH / 10);
        assert_int_equal(lease_tick(fixture->store, &second), 0);
    }
    assert_int_equal(kv_set(stale, "STATE", 5, "stale", 5), 0);
    assert_int_equal(kv_commit(stale), CHAINFS_CONFLICT); /* read the old holder: conflicts */

    /* Even pretending its timer had not run out, the old primary is refused. */
    first.valid_until = clock_now_ns() + CLOCK_NS_PER_S;
    assert_int_equal(fenced_write(fixture->store, &first), CHAINFS_NOT_PRIMARY);
    assert_int_equal(fenced_write(fixture->store, &second), 0);
}

static void two_followers_race_and_one_wins(void **state)
{
    struct fixture *fixture = *state;
    struct lease dead, second, third;
    lease_init(&dead, 1, "a", LEASE_LENGTH);
    lease_init(&second, 2, "b", LEASE_LENGTH);
    lease_init(&third, 3, "c", LEASE_LENGTH);
    assert_int_equal(lease_tick(fixture->store, &dead), 0);
    assert_int_equal(lease_tick(fixture->store, &second), 0);
    assert_int_equal(lease_tick(fixture->store, &third), 0);
    clock_sleep_ns(LEASE_LENGTH + LEASE_LENGTH / 10);
    assert_int_equal(lease_tick(fixture->store, &second), 0);
    assert_int_equal(lease_tick(fixture->store, &third), 0);
    assert_true(lease_is_primary(&second) != lease_is_primary(&third));
    struct lease_holder holder;
    assert_int_equal(lease_read_holder(fixture->store, &holder), 0);
    assert_int_equal(holder.epoch, 2);
    assert_int_equal(holder.node_id, lease_is_primary(&second) ? 2 : 3);
}

static void released_lease_is_taken_at_once(void **state)
{
    struct fixture *fixture = *state;
    struct lease first, second;
    lease_init(&first, 1, "a", LEASE_LENGTH);
    lease_init(&second, 2, "b", LEASE_LENGTH);
    assert_int_equal(lease_tick(fixture->store, &first), 0);
    assert_int_equal(lease_tick(fixture->store, &second), 0); /* observes a live primary */
    assert_false(lease_is_primary(&second));
    assert_int_equal(lease_release(fixture->store, &first), 0);
    assert_false(lease_is_primary(&first));
    uint64_t released_at = clock_now_ns();
    assert_int_equal(lease_tick(fixture->store, &second), 0);
    assert_true(lease_is_primary(&second));
    assert_true(clock_now_ns() - released_at < LEASE_LENGTH / 2);
    assert_int_equal(second.epoch, 2);
    /* Releasing what one no longer holds changes nothing. */
    first.primary = true;
    assert_int_equal(lease_release(fixture->store, &first), 0);
    struct lease_holder holder;
    assert_int_equal(lease_read_holder(fixture->store, &holder), 0);
    assert_int_equal(holder.node_id, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(first_participant_becomes_primary_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(follower_takes_over_after_a_silent_lease_length, setup, teardown),
        cmocka_unit_test_setup_teardown(stale_primary_cannot_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(two_followers_race_and_one_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(released_lease_is_taken_at_once, setup, teardown),
    };
    return cmocka_run_group_tests_name("lease", tests, NULL, NULL);
}
