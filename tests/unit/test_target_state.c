/*
 * test_target_state.c - the state table of DESIGN §5, row by row, with every
 * predecessor that a row's "any", "not serving" and "exists" stands for; the table
 * covers each input exactly once; state names round-trip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "chainfs/error.h"
#include "mgmtd/target_state.h"

/* In the predecessor lists below: the target is the head, it has no predecessor.
 * Zero is no public state, so it cannot be confused with one. */
#define NO_PREDECESSOR 0

#define UP_TO_DATE TARGET_LOCAL_UP_TO_DATE
#define ONLINE TARGET_LOCAL_ONLINE
#define LOCAL_OFFLINE TARGET_LOCAL_OFFLINE
#define SERVING TARGET_PUBLIC_SERVING
#define SYNCING TARGET_PUBLIC_SYNCING
#define WAITING TARGET_PUBLIC_WAITING
#define LASTSRV TARGET_PUBLIC_LASTSRV
#define OFFLINE TARGET_PUBLIC_OFFLINE

/* What the table's predecessor column stands for, spelled out. */
#define ANY 6, {NO_PREDECESSOR, SERVING, SYNCING, WAITING, LASTSRV, OFFLINE}
#define IS_SERVING 1, {SERVING}
#define NOT_SERVING 5, {NO_PREDECESSOR, SYNCING, WAITING, LASTSRV, OFFLINE}
#define IS_HEAD 1, {NO_PREDECESSOR}
#define EXISTS 5, {SERVING, SYNCING, WAITING, LASTSRV, OFFLINE}

struct table_row {
    int row; /* line of the table in DESIGN §5, 1 to 18 */
    enum target_local_state local_state;
    enum target_public_state public_state;
    int predecessor_count;
    int predecessors[6]; /* NO_PREDECESSOR or a public state */
    enum target_public_state expected;
};

static const struct table_row design_table[] = {
    {1, UP_TO_DATE, SERVING, ANY, SERVING},
    {2, UP_TO_DATE, SYNCING, ANY, SERVING},
    {3, UP_TO_DATE, WAITING, ANY, WAITING},
    {4, UP_TO_DATE, LASTSRV, ANY, SERVING},
    {5, UP_TO_DATE, OFFLINE, ANY, WAITING},
    {6, ONLINE, SERVING, ANY, SERVING},
    {7, ONLINE, SYNCING, IS_SERVING, SYNCING},
    {8, ONLINE, SYNCING, NOT_SERVING, WAITING},
    {9, ONLINE, WAITING, IS_SERVING, SYNCING},
    {10, ONLINE, WAITING, NOT_SERVING, WAITING},
    {11, ONLINE, LASTSRV, ANY, SERVING},
    {12, ONLINE, OFFLINE, ANY, WAITING},
    {13, LOCAL_OFFLINE, SERVING, IS_HEAD, LASTSRV},
    {14, LOCAL_OFFLINE, SERVING, EXISTS, OFFLINE},
    {15, LOCAL_OFFLINE, SYNCING, ANY, OFFLINE},
    {16, LOCAL_OFFLINE, WAITING, ANY, OFFLINE},
    {17, LOCAL_OFFLINE, LASTSRV, ANY, LASTSRV},
    {18, LOCAL_OFFLINE, OFFLINE, ANY, OFFLINE},
};
#define TABLE_ROWS (sizeof(design_table) / sizeof(design_table[0]))

static enum target_public_state next_state(enum target_local_state local_state,
                                           enum target_public_state public_state,
                                           int predecessor)
{
    return target_public_state_next(local_state, public_state, predecessor != NO_PREDECESSOR,
                                    (enum target_public_state)predecessor);
}

static void every_row_of_the_design_table_holds(void **state)
{
    (void)state;
    for (size_t i = 0; i < TABLE_ROWS; i++) {
        const struct table_row *row = &design_table[i];
        for (int p = 0; p < row->predecessor_count; p++) {
            int predecessor = row->predecessors[p];
            enum target_public_state got = next_state(row->local_state, row->public_state,
                                                      predecessor);
            if (got != row->expected)
                fail_msg("row %d (%s, %s, predecessor %s): expected %s, got %s", row->row,
                         target_local_state_name(row->local_state),
                         target_public_state_name(row->public_state),
                         predecessor == NO_PREDECESSOR
                             ? "none"
                             : target_public_state_name((enum target_public_state)predecessor),
                         target_public_state_name(row->expected), target_public_state_name(got));
        }
    }
}

/* The table above is the whole function: every (local, public, predecessor) input
 * appears in exactly one row, so no input is left to chance. */
static void the_table_covers_every_input_exactly_once(void **state)
{
    (void)state;
    for (int local = UP_TO_DATE; local <= LOCAL_OFFLINE; local++) {
        for (int public = SERVING; public <= OFFLINE; public++) {
            for (int predecessor = NO_PREDECESSOR; predecessor <= OFFLINE; predecessor++) {
                int rows_covering = 0;
                for (size_t i = 0; i < TABLE_ROWS; i++) {
                    const struct table_row *row = &design_table[i];
                    if ((int)row->local_state != local || (int)row->public_state != public)
                        continue;
                    for (int p = 0; p < row->predecessor_count; p++)
                        if (row->predecessors[p] == predecessor)
                            rows_covering++;
                }
                if (rows_covering != 1)
                    fail_msg("(%d, %d, predecessor %d) is in %d rows", local, public,
                             predecessor, rows_covering);
            }
        }
    }
}

static void invalid_input_leaves_the_public_state_unchanged(void **state)
{
    (void)state;
    assert_int_equal(target_public_state_next((enum target_local_state)0, SERVING, false, 0),
                     SERVING);
    assert_int_equal(target_public_state_next((enum target_local_state)9, WAITING, true, SERVING),
                     WAITING);
    assert_int_equal(target_public_state_next(ONLINE, (enum target_public_state)0, true, SERVING),
                     0);
}

struct named_local_state {
    enum target_local_state state;
    const char *name;
};

struct named_public_state {
    enum target_public_state state;
    const char *name;
    bool serves_reads;
    bool receives_writes;
};

static const struct named_local_state local_states[] = {
    {UP_TO_DATE, "up-to-date"},
    {ONLINE, "online"},
    {LOCAL_OFFLINE, "offline"},
};

static const struct named_public_state public_states[] = {
    {SERVING, "serving", true, true},
    {SYNCING, "syncing", false, true},
    {WAITING, "waiting", false, false},
    {LASTSRV, "lastsrv", false, false},
    {OFFLINE, "offline", false, false},
};

static void local_state_names_round_trip(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(local_states) / sizeof(local_states[0]); i++) {
        assert_true(target_local_state_is_valid(local_states[i].state));
        assert_string_equal(target_local_state_name(local_states[i].state), local_states[i].name);
        enum target_local_state parsed = 0;
        assert_int_equal(target_local_state_parse(local_states[i].name, &parsed), CHAINFS_OK);
        assert_int_equal(parsed, local_states[i].state);
    }
}

static void public_state_names_round_trip(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(public_states) / sizeof(public_states[0]); i++) {
        assert_true(target_public_state_is_valid(public_states[i].state));
        assert_string_equal(target_public_state_name(public_states[i].state),
                            public_states[i].name);
        enum target_public_state parsed = 0;
        assert_int_equal(target_public_state_parse(public_states[i].name, &parsed), CHAINFS_OK);
        assert_int_equal(parsed, public_states[i].state);
    }
}

static void unknown_names_and_values_are_rejected(void **state)
{
    (void)state;
    static const char *const bad_names[] = {"", "Serving", "SERVING", "up_to_date", "uptodate",
                                            "invalid", "serving ", "last-srv"};
    for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
        enum target_local_state local = ONLINE;
        enum target_public_state public = WAITING;
        assert_int_equal(target_local_state_parse(bad_names[i], &local), CHAINFS_INVALID_ARGUMENT);
        assert_int_equal(target_public_state_parse(bad_names[i], &public),
                         CHAINFS_INVALID_ARGUMENT);
        assert_int_equal(local, ONLINE); /* untouched on failure */
        assert_int_equal(public, WAITING);
    }
    static const int bad_values[] = {0, 6, -1, 100};
    for (size_t i = 0; i < sizeof(bad_values) / sizeof(bad_values[0]); i++) {
        enum target_public_state public = (enum target_public_state)bad_values[i];
        assert_false(target_public_state_is_valid(public));
        assert_string_equal(target_public_state_name(public), "invalid");
        assert_false(target_public_state_serves_reads(public));
        assert_false(target_public_state_receives_writes(public));
    }
    assert_false(target_local_state_is_valid((enum target_local_state)0));
    assert_false(target_local_state_is_valid((enum target_local_state)4));
    assert_string_equal(target_local_state_name((enum target_local_state)4), "invalid");
}

static void only_serving_reads_and_serving_or_syncing_receive_writes(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(public_states) / sizeof(public_states[0]); i++) {
        const struct named_public_state *named = &public_states[i];
        if (target_public_state_serves_reads(named->state) != named->serves_reads)
            fail_msg("%s: serves_reads should be %d", named->name, named->serves_reads);
        if (target_public_state_receives_writes(named->state) != named->receives_writes)
            fail_msg("%s: receives_writes should be %d", named->name, named->receives_writes);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_row_of_the_design_table_holds),
        cmocka_unit_test(the_table_covers_every_input_exactly_once),
        cmocka_unit_test(invalid_input_leaves_the_public_state_unchanged),
        cmocka_unit_test(local_state_names_round_trip),
        cmocka_unit_test(public_state_names_round_trip),
        cmocka_unit_test(unknown_names_and_values_are_rejected),
        cmocka_unit_test(only_serving_reads_and_serving_or_syncing_receive_writes),
    };
    return cmocka_run_group_tests_name("target_state", tests, NULL, NULL);
}
