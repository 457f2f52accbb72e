/*
 * test_chain_update.c - the once-a-second chain update: failover and recovery
 * scenarios as tables of ticks (what heartbeats report, then the chain mgmtd
 * publishes), chain validation, and invariants checked over long random runs.
 *
 * Chains are written as text, head first: "3:serving 2:syncing 1:offline" is target
 * 3 serving at the head, target 2 syncing, target 1 offline at the tail. Reports are
 * "2=online 1=offline": the local states heartbeats deliver before a tick.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "chainfs/error.h"
#include "mgmtd/chain_update.h"

#define CHAIN_TEXT_MAX 512

/* ------------------------------------------------------------------ text helpers */

static void format_chain(const struct chain *chain, char out[CHAIN_TEXT_MAX])
{
    size_t used = 0;
    out[0] = '\0';
    for (uint32_t i = 0; i < chain->target_count; i++) {
        const struct chain_target *target = &chain->targets[i];
        used += (size_t)snprintf(out + used, CHAIN_TEXT_MAX - used, "%s%" PRIu64 ":%s",
                                 i ? " " : "", target->target_id,
                                 target_public_state_name(target->public_state));
    }
}

/* Splits "12:serving" or "12=online" into the id and the state name. */
static void split_word(const char *word, char separator, uint64_t *target_id, char name[32])
{
    char found = 0;
    if (sscanf(word, "%" SCNu64 "%c%31s", target_id, &found, name) != 3 || found != separator)
        fail_msg("cannot read '%s'", word);
}

static struct chain_target *find_target(struct chain *chain, uint64_t target_id)
{
    for (uint32_t i = 0; i < chain->target_count; i++)
        if (chain->targets[i].target_id == target_id)
            return &chain->targets[i];
    fail_msg("no target %" PRIu64 " in the chain", target_id);
    return NULL;
}

/* What a healthy storage service reports for a target mgmtd publishes in this state. */
static enum target_local_state steady_local_state(enum target_public_state public_state)
{
    switch (public_state) {
    case TARGET_PUBLIC_SERVING:
        return TARGET_LOCAL_UP_TO_DATE;
    case TARGET_PUBLIC_SYNCING:
    case TARGET_PUBLIC_WAITING:
        return TARGET_LOCAL_ONLINE;
    default:
        return TARGET_LOCAL_OFFLINE;
    }
}

/* A chain at version 1 from "1:serving 2:syncing", each target with the local state
 * that goes with its public state when nothing is happening. */
static struct chain chain_from_text(const char *text)
{
    struct chain chain = {.chain_id = 7, .version = 1};
    char copy[CHAIN_TEXT_MAX];
    snprintf(copy, sizeof(copy), "%s", text);
    char *saved = NULL;
    for (char *word = strtok_r(copy, " ", &saved); word; word = strtok_r(NULL, " ", &saved)) {
        struct chain_target *target = &chain.targets[chain.target_count++];
        char name[32];
        split_word(word, ':', &target->target_id, name);
        assert_int_equal(target_public_state_parse(name, &target->public_state), CHAINFS_OK);
        target->local_state = steady_local_state(target->public_state);
    }
    return chain;
}

/* Sets local states from "2=online 1=offline" (the empty string reports nothing new). */
static void report_local_states(struct chain *chain, const char *reports)
{
    char copy[CHAIN_TEXT_MAX];
    snprintf(copy, sizeof(copy), "%s", reports);
    char *saved = NULL;
    for (char *word = strtok_r(copy, " ", &saved); word; word = strtok_r(NULL, " ", &saved)) {
        uint64_t target_id;
        char name[32];
        split_word(word, '=', &target_id, name);
        struct chain_target *target = find_target(chain, target_id);
        assert_int_equal(target_local_state_parse(name, &target->local_state), CHAINFS_OK);
    }
}

/* --------------------------------------------------------------------- scenarios */

struct tick {
    const char *reports;  /* local states reported before the tick */
    bool changed;         /* what chain_update_apply returns */
    uint64_t version;     /* chain version after the tick */
    const char *expected; /* chain after the tick */
};

struct scenario {
    const char *name;
    const char *initial; /* at version 1 */
    const struct tick *ticks;
    size_t tick_count;
};

#define SCENARIO(name, initial, ticks) {name, initial, ticks, sizeof(ticks) / sizeof(ticks[0])}

/* Issue #4: a 3-target chain loses its middle target, then its head, then gets them
 * back one by one (waiting -> syncing -> serving). */
static const struct tick middle_then_head_fail_and_return[] = {
    {"2=offline", true, 2, "1:serving 3:serving 2:offline"},
    {"", false, 2, "1:serving 3:serving 2:offline"},
    {"1=offline", true, 3, "3:serving 2:offline 1:offline"},
    {"2=online", true, 4, "3:serving 2:waiting 1:offline"},
    {"", true, 5, "3:serving 2:syncing 1:offline"},
    {"", false, 5, "3:serving 2:syncing 1:offline"},
    {"2=up-to-date", true, 6, "3:serving 2:serving 1:offline"},
    {"1=online", true, 7, "3:serving 2:serving 1:waiting"},
    {"", true, 8, "3:serving 2:serving 1:syncing"},
    {"1=up-to-date", true, 9, "3:serving 2:serving 1:serving"},
    {"", false, 9, "3:serving 2:serving 1:serving"},
};

/* Issue #4: every target fails at once; the head becomes lastsrv, the others
 * offline. The others come back first and wait for the lastsrv; once it is back it
 * serves and they recover one at a time. */
static const struct tick all_fail_at_once_and_return[] = {
    {"1=offline 2=offline 3=offline", true, 2, "1:lastsrv 2:offline 3:offline"},
    {"", false, 2, "1:lastsrv 2:offline 3:offline"},
    {"2=online 3=online", true, 3, "1:lastsrv 2:waiting 3:waiting"},
    {"", false, 3, "1:lastsrv 2:waiting 3:waiting"},
    {"1=up-to-date", true, 4, "1:serving 2:syncing 3:waiting"},
    {"2=up-to-date", true, 5, "1:serving 2:serving 3:syncing"},
    {"3=up-to-date", true, 6, "1:serving 2:serving 3:serving"},
    {"", false, 6, "1:serving 2:serving 3:serving"},
};

/* Targets fail one per tick: the last one left serving becomes lastsrv, wherever it
 * stood; a lastsrv that restarts (reporting online, nobody to recover from) serves
 * at once. A target that goes offline moves behind those already offline. */
static const struct tick all_fail_one_by_one_and_return[] = {
    {"1=offline", true, 2, "2:serving 3:serving 1:offline"},
    {"2=offline", true, 3, "3:serving 1:offline 2:offline"},
    {"3=offline", true, 4, "3:lastsrv 1:offline 2:offline"},
    {"1=online 2=online", true, 5, "3:lastsrv 1:waiting 2:waiting"},
    {"3=online", true, 6, "3:serving 1:syncing 2:waiting"},
    {"3=up-to-date 1=up-to-date", true, 7, "3:serving 1:serving 2:syncing"},
    {"2=up-to-date", true, 8, "3:serving 1:serving 2:serving"},
    {"", false, 8, "3:serving 1:serving 2:serving"},
};

/* The head fails while the tail is syncing: the tail's new predecessor serves, so
 * its recovery goes on. */
static const struct tick head_fails_during_sync[] = {
    {"1=offline", true, 2, "2:serving 3:syncing 1:offline"},
    {"3=up-to-date", true, 3, "2:serving 3:serving 1:offline"},
};

/* The syncing target fails again: it goes offline, the others keep serving. */
static const struct tick syncing_target_fails[] = {
    {"3=offline", true, 2, "1:serving 2:serving 3:offline"},
    {"", false, 2, "1:serving 2:serving 3:offline"},
};

/* The last serving target fails while a returning one waits behind it: it must
 * become lastsrv (it holds the data), not offline behind the waiting one. */
static const struct tick last_server_fails_while_one_waits[] = {
    {"1=offline", true, 2, "1:lastsrv 2:waiting"},
    {"", false, 2, "1:lastsrv 2:waiting"},
    {"1=online", true, 3, "1:serving 2:syncing"},
};

/* Two targets return together: only one syncs at a time. */
static const struct tick two_return_together[] = {
    {"2=online 3=online", true, 2, "1:serving 2:waiting 3:waiting"},
    {"", true, 3, "1:serving 2:syncing 3:waiting"},
    {"", false, 3, "1:serving 2:syncing 3:waiting"},
    {"2=up-to-date", true, 4, "1:serving 2:serving 3:syncing"},
    {"3=up-to-date", true, 5, "1:serving 2:serving 3:serving"},
};

/* A single-target chain: its only target is always the head. */
static const struct tick single_target[] = {
    {"1=offline", true, 2, "1:lastsrv"},
    {"", false, 2, "1:lastsrv"},
    {"1=online", true, 3, "1:serving"},
    {"1=up-to-date", false, 3, "1:serving"},
};

/* Local state changes that do not change a public state leave the version alone. */
static const struct tick local_changes_only[] = {
    {"1=online", false, 1, "1:serving 2:serving"},
    {"1=up-to-date 2=online", false, 1, "1:serving 2:serving"},
};

/* A chain defined out of order (an uploaded one): the update sorts it. */
static const struct tick unsorted_chain_is_sorted[] = {
    {"", true, 2, "1:serving 2:syncing"},
};

/* The same chain when its only serving target fails: that target holds the data and
 * must become lastsrv, although a waiting target stands in front of it. */
static const struct tick unsorted_chain_loses_its_server[] = {
    {"1=offline", true, 2, "1:lastsrv 2:waiting"},
};

static const struct scenario scenarios[] = {
    SCENARIO("middle then head fail and return", "1:serving 2:serving 3:serving",
             middle_then_head_fail_and_return),
    SCENARIO("all fail at once and return", "1:serving 2:serving 3:serving",
             all_fail_at_once_and_return),
    SCENARIO("all fail one by one and return", "1:serving 2:serving 3:serving",
             all_fail_one_by_one_and_return),
    SCENARIO("head fails during sync", "1:serving 2:serving 3:syncing", head_fails_during_sync),
    SCENARIO("syncing target fails", "1:serving 2:serving 3:syncing", syncing_target_fails),
    SCENARIO("last server fails while one waits", "1:serving 2:waiting",
             last_server_fails_while_one_waits),
    SCENARIO("two return together", "1:serving 2:offline 3:offline", two_return_together),
    SCENARIO("single target", "1:serving", single_target),
    SCENARIO("local changes only", "1:serving 2:serving", local_changes_only),
    SCENARIO("unsorted chain is sorted", "2:waiting 1:serving", unsorted_chain_is_sorted),
    SCENARIO("unsorted chain loses its server", "2:waiting 1:serving",
             unsorted_chain_loses_its_server),
};

static void run_scenario(const struct scenario *scenario)
{
    struct chain chain = chain_from_text(scenario->initial);
    for (size_t i = 0; i < scenario->tick_count; i++) {
        const struct tick *tick = &scenario->ticks[i];
        report_local_states(&chain, tick->reports);
        struct chain next;
        bool changed = chain_update_apply(&chain, &next);
        char got[CHAIN_TEXT_MAX];
        format_chain(&next, got);
        if (changed != tick->changed || next.version != tick->version ||
            strcmp(got, tick->expected) != 0)
            fail_msg("%s, tick %zu (reports '%s'):\n  expected %s, version %" PRIu64
                     ", changed %d\n  got      %s, version %" PRIu64 ", changed %d",
                     scenario->name, i + 1, tick->reports, tick->expected, tick->version,
                     tick->changed, got, next.version, changed);
        assert_int_equal(next.chain_id, chain.chain_id);
        for (uint32_t t = 0; t < next.target_count; t++) /* local states travel along */
            assert_int_equal(next.targets[t].local_state,
                             find_target(&chain, next.targets[t].target_id)->local_state);
        chain = next;
    }
}

static void failover_and_recovery_scenarios(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
        run_scenario(&scenarios[i]);
}

static void next_may_be_the_current_chain(void **state)
{
    (void)state;
    struct chain chain = chain_from_text("1:serving 2:serving 3:serving");
    report_local_states(&chain, "1=offline");
    assert_true(chain_update_apply(&chain, &chain));
    char got[CHAIN_TEXT_MAX];
    format_chain(&chain, got);
    assert_string_equal(got, "2:serving 3:serving 1:offline");
    assert_true(chain.version == 2);
}

/* -------------------------------------------------------------------- validation */

struct validation_case {
    const char *name;
    uint32_t target_count;
    uint64_t duplicate_of_first_at; /* index that repeats targets[0]'s id; 0 = none */
    int bad_local_state_at;         /* index with local state 0; -1 = none */
    int bad_public_state_at;        /* index with public state 6; -1 = none */
    int expected;
};

static const struct validation_case validation_cases[] = {
    {"one target", 1, 0, -1, -1, CHAINFS_OK},
    {"three targets", 3, 0, -1, -1, CHAINFS_OK},
    {"sixteen targets", CHAIN_MAX_TARGETS, 0, -1, -1, CHAINFS_OK},
    {"no target", 0, 0, -1, -1, CHAINFS_INVALID_ARGUMENT},
    {"seventeen targets", CHAIN_MAX_TARGETS + 1, 0, -1, -1, CHAINFS_INVALID_ARGUMENT},
    {"huge count", 1000000, 0, -1, -1, CHAINFS_INVALID_ARGUMENT},
    {"head twice", 2, 1, -1, -1, CHAINFS_INVALID_ARGUMENT},
    {"head again at the tail", CHAIN_MAX_TARGETS, CHAIN_MAX_TARGETS - 1, -1, -1,
     CHAINFS_INVALID_ARGUMENT},
    {"zero local state", 3, 0, 2, -1, CHAINFS_INVALID_ARGUMENT},
    {"unknown public state", 3, 0, -1, 0, CHAINFS_INVALID_ARGUMENT},
};

static struct chain chain_for_case(const struct validation_case *test_case)
{
    struct chain chain = {.chain_id = 1, .version = 5, .target_count = test_case->target_count};
    for (uint32_t i = 0; i < CHAIN_MAX_TARGETS; i++)
        chain.targets[i] = (struct chain_target){.target_id = 100 + i,
                                                 .local_state = TARGET_LOCAL_UP_TO_DATE,
                                                 .public_state = TARGET_PUBLIC_SERVING};
    if (test_case->duplicate_of_first_at)
        chain.targets[test_case->duplicate_of_first_at].target_id = chain.targets[0].target_id;
    if (test_case->bad_local_state_at >= 0)
        chain.targets[test_case->bad_local_state_at].local_state = (enum target_local_state)0;
    if (test_case->bad_public_state_at >= 0)
        chain.targets[test_case->bad_public_state_at].public_state = (enum target_public_state)6;
    return chain;
}

static void chain_definitions_are_validated(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(validation_cases) / sizeof(validation_cases[0]); i++) {
        const struct validation_case *test_case = &validation_cases[i];
        struct chain chain = chain_for_case(test_case);
        int status = chain_validate(&chain);
        if (status != test_case->expected)
            fail_msg("%s: expected %d, got %d", test_case->name, test_case->expected, status);
        if (status != CHAINFS_OK) { /* an invalid chain is never changed */
            struct chain next;
            assert_false(chain_update_apply(&chain, &next));
            assert_int_equal(next.version, chain.version);
            assert_int_equal(next.target_count, chain.target_count);
            assert_memory_equal(next.targets, chain.targets, sizeof(chain.targets));
        }
    }
}

/* ------------------------------------------------------------ random invariants */

static uint64_t random_next(uint64_t *seed)
{
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    return *seed;
}

static int order_rank(enum target_public_state state)
{
    switch (state) {
    case TARGET_PUBLIC_SERVING:
        return 0;
    case TARGET_PUBLIC_LASTSRV:
        return 1;
    case TARGET_PUBLIC_SYNCING:
        return 2;
    case TARGET_PUBLIC_WAITING:
        return 3;
    default:
        return 4;
    }
}

static int count_in_state(const struct chain *chain, enum target_public_state state)
{
    int count = 0;
    for (uint32_t i = 0; i < chain->target_count; i++)
        count += chain->targets[i].public_state == state;
    return count;
}

static bool holds_the_data(const struct chain *chain)
{
    return count_in_state(chain, TARGET_PUBLIC_SERVING) +
               count_in_state(chain, TARGET_PUBLIC_LASTSRV) >
           0;
}

static void check_order(const struct chain *before, const struct chain *after)
{
    bool newly_offline_seen = false;
    for (uint32_t i = 0; i < after->target_count; i++) {
        const struct chain_target *target = &after->targets[i];
        if (i > 0)
            assert_true(order_rank(after->targets[i - 1].public_state) <=
                        order_rank(target->public_state));
        if (target->public_state == TARGET_PUBLIC_SYNCING) /* recovered by a full replica */
            assert_true(i > 0 && after->targets[i - 1].public_state == TARGET_PUBLIC_SERVING);
        bool was_offline = false;
        for (uint32_t j = 0; j < before->target_count; j++)
            if (before->targets[j].target_id == target->target_id)
                was_offline = before->targets[j].public_state == TARGET_PUBLIC_OFFLINE;
        bool newly_offline = target->public_state == TARGET_PUBLIC_OFFLINE && !was_offline;
        if (newly_offline_seen) /* whoever went offline now stands at the very end */
            assert_true(newly_offline);
        newly_offline_seen |= newly_offline;
    }
}

static void check_update(const struct chain *before, const struct chain *after, bool changed)
{
    assert_int_equal(chain_validate(after), CHAINFS_OK);
    assert_int_equal(after->target_count, before->target_count);
    assert_int_equal(after->chain_id, before->chain_id);
    char before_text[CHAIN_TEXT_MAX], after_text[CHAIN_TEXT_MAX];
    format_chain(before, before_text);
    format_chain(after, after_text);
    assert_int_equal(changed, strcmp(before_text, after_text) != 0);
    assert_true(after->version == before->version + (changed ? 1 : 0));
    check_order(before, after);
    assert_true(count_in_state(after, TARGET_PUBLIC_LASTSRV) <= 1);
    if (count_in_state(after, TARGET_PUBLIC_LASTSRV))
        assert_int_equal(count_in_state(after, TARGET_PUBLIC_SERVING) +
                             count_in_state(after, TARGET_PUBLIC_SYNCING), 0);
    if (holds_the_data(before)) /* the chain never forgets who has its data */
        assert_true(holds_the_data(after));
    for (uint32_t i = 0; i < after->target_count; i++) {
        const struct chain_target *target = &after->targets[i];
        if (target->public_state != TARGET_PUBLIC_SERVING)
            continue;
        for (uint32_t j = 0; j < before->target_count; j++) /* no shortcut to serving */
            if (before->targets[j].target_id == target->target_id)
                assert_true(before->targets[j].public_state != TARGET_PUBLIC_WAITING &&
                            before->targets[j].public_state != TARGET_PUBLIC_OFFLINE);
    }
}

/* Healthy storage services: everything restarts and each sync finishes one tick
 * after it starts. From any state the chain reached, it must end with every target
 * serving, and then stay put. */
static void recover_everything(struct chain *chain)
{
    for (int tick = 0; tick < 4 * CHAIN_MAX_TARGETS; tick++) {
        for (uint32_t i = 0; i < chain->target_count; i++) {
            struct chain_target *target = &chain->targets[i];
            target->local_state = target->public_state == TARGET_PUBLIC_SYNCING ||
                                          target->public_state == TARGET_PUBLIC_SERVING
                                      ? TARGET_LOCAL_UP_TO_DATE
                                      : TARGET_LOCAL_ONLINE;
        }
        struct chain before = *chain;
        bool changed = chain_update_apply(&before, chain);
        check_update(&before, chain, changed);
        if (!changed)
            break;
    }
    assert_int_equal(count_in_state(chain, TARGET_PUBLIC_SERVING), (int)chain->target_count);
    struct chain again;
    assert_false(chain_update_apply(chain, &again));
}

static void invariants_hold_under_random_local_states(void **state)
{
    (void)state;
    static const enum target_local_state local_states[] = {
        TARGET_LOCAL_UP_TO_DATE, TARGET_LOCAL_ONLINE, TARGET_LOCAL_OFFLINE};
    uint64_t seed = 0x9E3779B97F4A7C15ULL;
    for (int run = 0; run < 400; run++) {
        uint32_t target_count = 1 + (uint32_t)(random_next(&seed) % 5);
        struct chain chain = {.chain_id = (uint32_t)run, .version = 1000,
                              .target_count = target_count};
        for (uint32_t i = 0; i < target_count; i++)
            chain.targets[i] = (struct chain_target){.target_id = 10 + i,
                                                     .local_state = TARGET_LOCAL_UP_TO_DATE,
                                                     .public_state = TARGET_PUBLIC_SERVING};
        for (int tick = 0; tick < 200; tick++) {
            for (uint32_t i = 0; i < target_count; i++)
                if (random_next(&seed) % 4 == 0) /* a quarter of the targets report news */
                    chain.targets[i].local_state = local_states[random_next(&seed) % 3];
            struct chain before = chain;
            bool changed = chain_update_apply(&before, &chain);
            check_update(&before, &chain, changed);
        }
        recover_everything(&chain);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(failover_and_recovery_scenarios),
        cmocka_unit_test(next_may_be_the_current_chain),
        cmocka_unit_test(chain_definitions_are_validated),
        cmocka_unit_test(invariants_hold_under_random_local_states),
    };
    return cmocka_run_group_tests_name("chain_update", tests, NULL, NULL);
}
