/*
 * test_liveness_table.c - the primary's record of when members were last heard:
 * lookups of recorded and unknown keys, overwrites, growth across many keys (the
 * table must keep every key through rehashing), clearing, and long keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "chainfs/error.h"
#include "mgmtd/liveness_table.h"

static void records_and_overwrites(void **state)
{
    (void)state;
    struct liveness_table table;
    liveness_table_init(&table);
    assert_int_equal(liveness_table_last(&table, "n1"), 0);
    assert_int_equal(liveness_table_note(&table, "n1", 100), 0);
    assert_int_equal(liveness_table_note(&table, "cclient-a", 200), 0);
    assert_int_equal(liveness_table_last(&table, "n1"), 100);
    assert_int_equal(liveness_table_last(&table, "cclient-a"), 200);
    assert_int_equal(liveness_table_last(&table, "n2"), 0);
    assert_int_equal(liveness_table_note(&table, "n1", 300), 0);
    assert_int_equal(liveness_table_last(&table, "n1"), 300);
    assert_int_equal(table.count, 2);
    assert_int_equal(liveness_table_note(&table, "", 1), CHAINFS_INVALID_ARGUMENT);
    assert_int_equal(liveness_table_last(&table, ""), 0);
    liveness_table_free(&table);
}

static void keeps_every_key_while_growing(void **state)
{
    (void)state;
    enum { KEYS = 20000 };
    struct liveness_table table;
    liveness_table_init(&table);
    char key[32];
    for (uint64_t i = 0; i < KEYS; i++) {
        snprintf(key, sizeof(key), i % 2 ? "n%llu" : "cclient-%llu", (unsigned long long)i);
        assert_int_equal(liveness_table_note(&table, key, i + 1), 0);
    }
    assert_int_equal(table.count, KEYS);
    assert_true(table.count * 10 <= table.capacity * 7);
    for (uint64_t i = 0; i < KEYS; i++) {
        snprintf(key, sizeof(key), i % 2 ? "n%llu" : "cclient-%llu", (unsigned long long)i);
        assert_int_equal(liveness_table_last(&table, key), i + 1);
    }
    assert_int_equal(liveness_table_last(&table, "n20001"), 0);
    liveness_table_clear(&table);
    assert_int_equal(table.count, 0);
    assert_int_equal(liveness_table_last(&table, "n1"), 0);
    assert_int_equal(liveness_table_note(&table, "n1", 5), 0);
    assert_int_equal(liveness_table_last(&table, "n1"), 5);
    liveness_table_free(&table);
}

static void long_keys_are_cut_consistently(void **state)
{
    (void)state;
    struct liveness_table table;
    liveness_table_init(&table);
    char long_key[200];
    memset(long_key, 'x', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = '\0';
    assert_int_equal(liveness_table_note(&table, long_key, 7), 0);
    assert_int_equal(liveness_table_last(&table, long_key), 7);
    long_key[LIVENESS_KEY_MAX - 1] = '\0'; /* the same key as stored */
    assert_int_equal(liveness_table_last(&table, long_key), 7);
    liveness_table_free(&table);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(records_and_overwrites),
        cmocka_unit_test(keeps_every_key_while_growing),
        cmocka_unit_test(long_keys_are_cut_consistently),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
