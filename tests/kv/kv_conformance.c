/*
 * kv_conformance.c - the KV conformance suite, compiled once and run against every
 * backend: `kv_conformance lmdb sync`, `kv_conformance lmdb nosync`,
 * `kv_conformance postgres` (conninfo from CHAINFS_TEST_PG_CONNINFO; the run fails
 * when it is unset, so CI cannot silently skip PostgreSQL).
 *
 * Every test starts from an empty store. Where the backends legitimately differ
 * (kv_traits), the test asserts each backend's documented behaviour exactly.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "chainfs/error.h"
#include "common/clock.h"
#include "kv/kv.h"

#define TEST_TABLE "kv_conformance"
#define CHILD_TIMEOUT_NS (300ULL * CLOCK_NS_PER_S)

static const char *backend_name;
static enum kv_durability durability;
static const char *pg_conninfo;

struct fixture {
    char directory[64];
    struct kv_options options;
    struct kv_store *store;
};

/* ---- helpers ---- */

static int open_store(const struct fixture *fixture, struct kv_store **store)
{
    return kv_open(&fixture->options, store);
}

static int remove_entry(const char *path, const struct stat *info, int flag, struct FTW *walk)
{
    (void)info, (void)flag, (void)walk;
    return remove(path);
}

/* A key of length bytes made of a pattern, for long-key tests. */
static uint8_t *make_key(size_t length, uint8_t fill, uint8_t last)
{
    uint8_t *key = malloc(length);
    assert_non_null(key);
    memset(key, fill, length);
    if (length)
        key[length - 1] = last;
    return key;
}

static void put(struct kv_store *store, const void *key, size_t key_length, const void *value,
                size_t value_length)
{
    struct kv_transaction *transaction;
    assert_int_equal(kv_begin(store, &transaction), 0);
    assert_int_equal(kv_set(transaction, key, key_length, value, value_length), 0);
    assert_int_equal(kv_commit(transaction), 0);
}

static void put_text(struct kv_store *store, const char *key, const char *value)
{
    put(store, key, strlen(key), value, strlen(value));
}

/* The committed value of key as a NUL-terminated string, or NULL when absent. */
static char *get_text(struct kv_store *store, const void *key, size_t key_length)
{
    struct kv_transaction *transaction;
    assert_int_equal(kv_begin(store, &transaction), 0);
    const void *value;
    size_t length;
    int status = kv_get(transaction, key, key_length, &value, &length);
    char *copy = NULL;
    if (status == 0) {
        copy = malloc(length + 1);
        assert_non_null(copy);
        memcpy(copy, value, length);
        copy[length] = 0;
    } else {
        assert_int_equal(status, CHAINFS_NOT_FOUND);
    }
    kv_abort(transaction);
    return copy;
}

static void assert_value(struct kv_store *store, const char *key, const char *expected)
{
    char *value = get_text(store, key, strlen(key));
    if (expected) {
        assert_non_null(value);
        assert_string_equal(value, expected);
    } else {
        assert_null(value);
    }
    free(value);
}

static uint64_t get_counter(struct kv_store *store, const char *key)
{
    struct kv_transaction *transaction;
    assert_int_equal(kv_begin(store, &transaction), 0);
    const void *value;
    size_t length;
    assert_int_equal(kv_get(transaction, key, strlen(key), &value, &length), 0);
    assert_int_equal(length, 8);
    uint64_t counter = 0;
    for (int i = 7; i >= 0; i--)
        counter = counter << 8 | ((const uint8_t *)value)[i];
    kv_abort(transaction);
    return counter;
}

static void assert_row(const struct kv_row *row, const void *key, size_t key_length,
                       const char *value)
{
    assert_int_equal(row->key_length, key_length);
    assert_memory_equal(row->key, key, key_length);
    assert_int_equal(row->value_length, strlen(value));
    assert_memory_equal(row->value, value, strlen(value));
}

static void assert_row_text(const struct kv_row *row, const char *key, const char *value)
{
    assert_row(row, key, strlen(key), value);
}

static int get_range_text(struct kv_transaction *transaction, const char *begin, const char *end,
                          bool reverse, size_t limit, struct kv_range_result *result)
{
    struct kv_range_options options = {.reverse = reverse, .limit = limit};
    return kv_get_range(transaction, begin, strlen(begin), end, strlen(end), &options, result);
}

/* Everything: "" up to 10,001 bytes of 0xff (beyond the longest key). */
static void clear_everything(struct kv_store *store)
{
    static uint8_t end[KV_KEY_MAX + 1];
    memset(end, 0xff, sizeof(end));
    struct kv_transaction *transaction;
    assert_int_equal(kv_begin(store, &transaction), 0);
    assert_int_equal(kv_clear_range(transaction, "", 0, end, sizeof(end)), 0);
    assert_int_equal(kv_commit(transaction), 0);
}

/* ---- fixture ---- */

static int setup(void **state)
{
    struct fixture *fixture = calloc(1, sizeof(*fixture));
    if (!fixture)
        return -1;
    fixture->options.backend = backend_name;
    if (strcmp(backend_name, "lmdb") == 0) {
        snprintf(fixture->directory, sizeof(fixture->directory), "/tmp/kv-conformance-XXXXXX");
        if (!mkdtemp(fixture->directory))
            return -1;
        fixture->options.lmdb_path = fixture->directory;
        fixture->options.lmdb_map_size = 1 << 20; /* small: tests exercise map growth */
        fixture->options.durability = durability;
    } else {
        fixture->options.postgres_conninfo = pg_conninfo;
        fixture->options.postgres_table = TEST_TABLE;
    }
    if (open_store(fixture, &fixture->store) != 0) {
        free(fixture);
        return -1;
    }
    clear_everything(fixture->store);
    *state = fixture;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fixture = *state;
    kv_close(fixture->store);
    if (fixture->directory[0])
        nftw(fixture->directory, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(fixture);
    return 0;
}

static struct kv_store *store_of(void **state) { return ((struct fixture *)*state)->store; }

static struct kv_traits traits_of(void **state) { return kv_store_traits(store_of(state)); }

/* ---- ordering ---- */

struct binary_key {
    const char *bytes;
    size_t length;
};

/* In the expected order: memcmp, shorter first, zero bytes significant. */
static const struct binary_key ordered_keys[] = {
    {"", 0},       {"\0", 1},    {"\0\0", 2},   {"\0\x01", 2}, {"\x01", 1},
    {"a", 1},      {"a\0", 2},   {"a\0b", 3},   {"a\x01", 2},  {"ab", 2},
    {"b", 1},      {"\x7f", 1},  {"\x80", 1},   {"\xff", 1},   {"\xff\0", 2},
    {"\xff\xff", 2},
};
#define ORDERED_KEY_COUNT (sizeof(ordered_keys) / sizeof(ordered_keys[0]))

static void keys_order_bytewise_with_zero_bytes(void **state)
{
    struct kv_store *store = store_of(state);
    /* Insert in a scrambled order. */
    for (size_t i = 0; i < ORDERED_KEY_COUNT; i++) {
        size_t index = (i * 7) % ORDERED_KEY_COUNT;
        char value[16];
        snprintf(value, sizeof(value), "v%zu", index);
        put(store, ordered_keys[index].bytes, ordered_keys[index].length, value, strlen(value));
    }
    struct kv_transaction *transaction;
    assert_int_equal(kv_begin(store, &transaction), 0);
    for (int reverse = 0; reverse <= 1; reverse++) {
        struct kv_range_result result;
        struct kv_range_options options = {.reverse = reverse};
        assert_int_equal(kv_get_range(transaction, "", 0, "\xff\xff\xff", 3, &options, &result), 0);
        assert_int_equal(result.count, ORDERED_KEY_COUNT);
        assert_false(result.more);
        for (size_t i = 0; i < ORDERED_KEY_COUNT; i++) {
            size_t index = reverse ? ORDERED_KEY_COUNT - 1 - i : i;
            char value[16];
            snprintf(value, sizeof(value), "v%zu", index);
            assert_row(&result.rows[i], ordered_keys[index].bytes, ordered_keys[index].length, value);
        }
    }
    /* Point reads distinguish keys that differ only in trailing zero bytes. */
    const void *value;
    size_t length;
    assert_int_equal(kv_get(transaction, "\0\0", 2, &value, &length), 0);
    assert_int_equal(length, 2);
    assert_memory_equal(value, "v2", 2);
    assert_int_equal(kv_get(transaction, "\0\0\0", 3, &value, &length), CHAINFS_NOT_FOUND);
    kv_abort(transaction);
}

/* Keys around LMDB's 511-byte B-tree limit and up to KV_KEY_MAX keep their order. */
static void long_keys_keep_order(void **state)
{
    struct kv_store *store = store_of(state);
    const size_t lengths[] = {498, 499, 500, 501, 600, 2000, KV_KEY_MAX};
    enum { COUNT = sizeof(lengths) / sizeof(lengths[0]) };
    uint8_t *keys[2 * COUNT];
    size_t key_lengths[2 * COUNT];
    for (size_t i = 0; i < COUNT; i++) {
        /* Same 'k' prefix; the last byte 'a' or 'b' separates two keys per length. */
        keys[2 * i] = make_key(lengths[i], 'k', 'a');
        keys[2 * i + 1] = make_key(lengths[i], 'k', 'b');
        key_lengths[2 * i] = key_lengths[2 * i + 1] = lengths[i];
        put(store, keys[2 * i + 1], lengths[i], "b", 1);
        put(store, keys[2 * i], lengths[i], "a", 1);
    }
    put_text(store, "k", "short");
    put_text(store, "l", "after");
    /* Expected order: "k", then by the position of the first differing byte: a key
     * k..ka of length n sorts before every longer k... key, and k...kb after all of them. */
    struct kv_transaction *transaction;
    assert_int_equal(kv_begin(store, &transaction), 0);
    for (int reverse = 0; reverse <= 1; reverse++) {
        struct kv_range_result result;
        struct kv_range_options options = {.reverse = reverse};
        assert_int_equal(kv_get_range(transaction, "k", 1, "m", 1, &options, &result), 0);
        assert_int_equal(result.count, 2 * COUNT + 2);
        for (size_t i = 1; i < result.count; i++) {
            const struct kv_row *a = &result.rows[i - 1], *b = &result.rows[i];
            size_t common = a->key_length < b->key_length ? a->key_length : b->key_length;
            int order = memcmp(a->key, b->key, common);
            if (order == 0)
                order = a->key_length < b->key_length ? -1 : 1;
            assert_true(reverse ? order > 0 : order < 0);
        }
    }
    for (size_t i = 0; i < 2 * COUNT; i++) {
        const void *value;
        size_t length;
        assert_int_equal(kv_get(transaction, keys[i], key_lengths[i], &value, &length), 0);
        assert_int_equal(length, 1);
        assert_int_equal(*(const char *)value, i % 2 ? 'b' : 'a');
    }
    /* A range bounded by two long keys: [600-byte ..a, 2000-byte ..b). */
    struct kv_range_result result;
    assert_int_equal(kv_get_range(transaction, keys[8], 600, keys[11], 2000, NULL, &result), 0);
    size_t expected = 0;
    for (size_t i = 0; i < 2 * COUNT; i++) {
        int low = memcmp(keys[i], keys[8], key_lengths[i] < 600 ? key_lengths[i] : 600);
        int high = memcmp(keys[i], keys[11], key_lengths[i] < 2000 ? key_lengths[i] : 2000);
        bool at_least_low = low > 0 || (low == 0 && key_lengths[i] >= 600);
        bool below_high = high < 0 || (high == 0 && key_lengths[i] < 2000);
        expected += at_least_low && below_high;
    }
    assert_int_equal(result.count, expected);
    kv_abort(transaction);

    /* Clearing a long key and a range through long keys. */
    assert_int_equal(kv_begin(store, &transaction), 0);
    assert_int_equal(kv_clear(transaction, keys[13], KV_KEY_MAX), 0);
    assert_int_equal(kv_clear_range(transaction, keys[8], 600, keys[11], 2000), 0);
    assert_int_equal(kv_commit(transaction), 0);
    char *gone = get_text(store, keys[13], KV_KEY_MAX);
    assert_null(gone);
    assert_int_equal(kv_begin(store, &transaction), 0);
    assert_int_equal(kv_get_range(transaction, "k", 1, "m", 1, NULL, &result), 0);
    assert_int_equal(result.count, 2 * COUNT + 2 - 1 - expected);
    kv_abort(transaction);
    for (size_t i = 0; i < 2 * COUNT; i++)
        free(keys[i]);
}

/* ---- ranges ---- */

static void fill_numbered(struct kv_store *store, int count)
{
    struct kv_transaction *transaction;
    assert_int_equal(kv_begin(store, &transaction), 0);
    for (int i = 0; i < count; i++) {
        char key[16], value[16];
        snprintf(key, sizeof(key), "r%02d", i);
        snprintf(value, sizeof(value), "%d", i);
        assert_int_equal(kv_set(transaction, key, strlen(key), value, strlen(value)), 0);
    }
    assert_int_equal(kv_commit(transaction), 0);
}

static void assert_numbered(const struct kv_row *row, int number)
{
    char key[16], value[16];
    snprintf(key, sizeof(key), "r%02d", number);
    snprintf(value, sizeof(value), "%d", number);
    assert_row_text(row, key, value);
}

static void range_bounds_and_limits(void **state)
{
    struct kv_store *store = store_of(state);
    fill_numbered(store, 20);
    put_text(store, "q", "before");
    put_text(store, "s", "after");
    struct kv_transaction *transaction;
    assert_int_equal(kv_begin(store, &transaction), 0);
    struct kv_range_result result;

    /* begin inclusive, end exclusive, both directions */
    assert_int_equal(get_range_text(transaction, "r05", "r15", false, 0, &result), 0);
    assert_int_equal(result.count, 10);
    for (int i = 0; i < 10; i++)
        assert_numbered(&result.rows[i], 5 + i);
    assert_int_equal(get_range_text(transaction, "r05", "r15", true, 0, &result), 0);
    assert_int_equal(result.count, 10);
    for (int i = 0; i < 10; i++)
        assert_numbered(&result.rows[i], 14 - i);

    /* limits */
    assert_int_equal(get_range_text(transaction, "r05", "r15", false, 3, &result), 0);
    assert_int_equal(result.count, 3);
    assert_true(result.more);
    assert_numbered(&result.rows[2], 7);
    assert_int_equal(get_range_text(transaction, "r05", "r15", true, 3, &result), 0);
    assert_int_equal(result.count, 3);
    assert_true(result.more);
    assert_numbered(&result.rows[0], 14);
    assert_numbered(&result.rows[2], 12);
    assert_int_equal(get_range_text(transaction, "r05", "r15", false, 10, &result), 0);
    assert_int_equal(result.count, 10);
    assert_false(result.more);

    /* empty and inverted ranges, a range between keys, a range past the end */
    assert_int_equal(get_range_text(transaction, "r05", "r05", false, 0, &result), 0);
    assert_int_equal(result.count, 0);
    assert_int_equal(get_range_text(transaction, "r15", "r05", false, 0, &result), 0);
    assert_int_equal(result.count, 0);
    assert_int_equal(get_range_text(transaction, "r05a", "r06", false, 0, &result), 0);
    assert_int_equal(result.count, 0);
    assert_int_equal(get_range_text(transaction, "t", "z", true, 5, &result), 0);
    assert_int_equal(result.count, 0);
    assert_false(result.more);
    kv_abort(transaction);
}

static void range_paging_both_directions(void **state)
{
    struct kv_store *store = store_of(state);
    fill_numbered(store, 20);
    struct kv_transaction *transaction;
    assert_int_equal(kv_begin(store, &transaction), 0);
    for (int reverse = 0; reverse <= 1; reverse++) {
        uint8_t begin[8] = "r", end[8] = "s";
        size_t begin_length = 1, end_length = 1;
        int seen = 0, pages = 0;
        struct kv_range_result result;
        do {
            struct kv_range_options options = {.reverse = reverse, .limit = 6};
            assert_int_equal(kv_get_range(transaction, begin, begin_length, end, end_length,
                                          &options, &result), 0);
            for (size_t i = 0; i < result.count; i++, seen++)
                assert_numbered(&result.rows[i], reverse ? 19 - seen : seen);
            const struct kv_row *last = &result.rows[result.count - 1];
            if (reverse) {
                memcpy(end, last->key, last->key_length);
                end_length = last->key_length;
            } else {
                memcpy(begin, last->key, last->key_length);
                begin[last->key_length] = 0;
                begin_length = last->key_length + 1;
            }
            pages++;
        } while (result.more && pages < 10);
        assert_int_equal(seen, 20);
        assert_int_equal(pages, 4); /* 6 + 6 + 6 + 2 */
    }
    kv_abort(transaction);
}

/* ---- read-your-writes ---- */

static void reads_see_own_writes(void **state)
{
    struct kv_store *store = store_of(state);
    put_text(store, "a", "old-a");
    put_text(store, "b", "old-b");
    struct kv_transaction *transaction;
    assert_int_equal(kv_begin(store, &transaction), 0);
    const void *value;
    size_t length;
    assert_int_equal(kv_set(transaction, "a", 1, "new-a", 5), 0);
    assert_int_equal(kv_get(transaction, "a", 1, &value, &length), 0);
    assert_int_equal(length, 5);
    assert_memory_equal(value, "new-a", 5);
    assert_int_equal(kv_clear(transaction, "b", 1), 0);
    assert_int_equal(kv_get(transaction, "b", 1, &value, &length), CHAINFS_NOT_FOUND);
    assert_int_equal(kv_get_snapshot(transaction, "b", 1, &value, &length), CHAINFS_NOT_FOUND);
    assert_int_equal(kv_set(transaction, "c", 1, "", 0), 0);
    assert_int_equal(kv_get(transaction, "c", 1, &value, &length), 0);
    assert_int_equal(length, 0);
    /* A value read before an overwrite stays valid until the transaction ends. */
    const void *first;
    assert_int_equal(kv_get(transaction, "a", 1, &first, &length), 0);
    assert_int_equal(kv_set(transaction, "a", 1, "newer", 5), 0);
    assert_memory_equal(first, "new-a", 5);
    /* Others do not see uncommitted writes. */
    assert_value(store, "a", "old-a");
    assert_int_equal(kv_commit(transaction), 0);
    assert_value(store, "a", "newer");
    assert_value(store, "b", NULL);
    assert_value(store, "c", "");
}

static void ranges_merge_own_writes(void **state)
{
    struct kv_store *store = store_of(state);
    fill_numbered(store, 10); /* r00..r09 */
    struct kv_transaction *transaction;
    assert_int_equal(kv_begin(store, &transaction), 0);
    assert_int_equal(kv_set(transaction, "r03", 3, "three", 5), 0);    /* overwrite */
    assert_int_equal(kv_clear(transaction, "r04", 3), 0);              /* hide */
    assert_int_equal(kv_set(transaction, "r04a", 4, "new", 3), 0);     /* insert */
    assert_int_equal(kv_clear_range(transaction, "r06", 3, "r09", 3), 0); /* hide 6..8 */
    assert_int_equal(kv_set(transaction, "r07", 3, "back", 4), 0);     /* after the clear */
    assert_int_equal(kv_atomic_add(transaction, "r00", 3, 1), 0);      /* "0" + 1 */
    assert_int_equal(kv_set(transaction, "r", 1, "first", 5), 0);      /* before all */
    assert_int_equal(kv_set(transaction, "r99", 3, "last", 4), 0);     /* after all */
    static const char *const expected[][2] = {
        {"r", "first"}, {"r00", "1\0\0\0\0\0\0\0"}, {"r01", "1"}, {"r02", "2"}, {"r03", "three"},
        {"r04a", "new"}, {"r05", "5"}, {"r07", "back"}, {"r09", "9"}, {"r99", "last"},
    };
    enum { EXPECTED = sizeof(expected) / sizeof(expected[0]) };
    for (int reverse = 0; reverse <= 1; reverse++) {
        struct kv_range_result result;
        assert_int_equal(get_range_text(transaction, "r", "s", reverse, 0, &result), 0);
        assert_int_equal(result.count, EXPECTED);
        for (int i = 0; i < EXPECTED; i++) {
            int index = reverse ? EXPECTED - 1 - i : i;
            size_t value_length = strcmp(expected[index][0], "r00") == 0 ? 8 : strlen(expected[index][1]);
            assert_int_equal(result.rows[i].key_length, strlen(expected[index][0]));
            assert_memory_equal(result.rows[i].key, expected[index][0], result.rows[i].key_length);
            assert_int_equal(result.rows[i].value_length, value_length);
            if (index != 1)
                assert_memory_equal(result.rows[i].value, expected[index][1], value_length);
        }
        /* limits apply to the merged rows */
        assert_int_equal(get_range_text(transaction, "r", "s", reverse, 4, &result), 0);
        assert_int_equal(result.count, 4);
        assert_true(result.more);
        const char *fourth = reverse ? expected[EXPECTED - 4][0] : expected[3][0];
        assert_int_equal(result.rows[3].key_length, strlen(fourth));
        assert_memory_equal(result.rows[3].key, fourth, strlen(fourth));
    }
    assert_int_equal(kv_commit(transaction), 0);
    assert_value(store, "r04", NULL);
    assert_value(store, "r06", NULL);
    assert_value(store, "r07", "back");
    assert_value(store, "r08", NULL);
    assert_value(store, "r09", "9");
}

static void clear_range_removes_exactly_the_range(void **state)
{
    struct kv_store *store = store_of(state);
    fill_numbered(store, 10);
    struct kv_transaction *transaction;
    assert_int_equal(kv_begin(store, &transaction), 0);
    assert_int_equal(kv_clear_range(transaction, "r02", 3, "r05", 3), 0);
    assert_int_equal(kv_clear_range(transaction, "r04", 3, "r07", 3), 0); /* overlapping */
    assert_int_equal(kv_clear_range(transaction, "r09", 3, "r08", 3), 0); /* inverted: no-op */
    assert_int_equal(kv_commit(transaction), 0);
    assert_value(store, "r01", "1");
    for (int i = 2; i < 7; i++) {
        char key[8];
        snprintf(key, sizeof(key), "r%02d", i);
        assert_value(store, key, NULL);
    }
    assert_value(store, "r07", "7");
    assert_value(store, "r09", "9");
}

/* ---- atomic add ---- */

static void atomic_add_is_a_little_endian_counter(void **state)
{
    struct kv_store *store = store_of(state);
    put(store, "short", 5, "\x05", 1);                              /* zero-extended */
    put(store, "long", 4, "\x01\0\0\0\0\0\0\0\x99\x99", 10);        /* truncated */
    put(store, "max", 3, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);    /* wraps */
    struct kv_transaction *transaction;
    assert_int_equal(kv_begin(store, &transaction), 0);
    assert_int_equal(kv_atomic_add(transaction, "missing", 7, 42), 0);
    assert_int_equal(kv_atomic_add(transaction, "missing", 7, -2), 0);
    assert_int_equal(kv_atomic_add(transaction, "short", 5, 0x100), 0);
    assert_int_equal(kv_atomic_add(transaction, "long", 4, 1), 0);
    assert_int_equal(kv_atomic_add(transaction, "max", 3, 2), 0);
    const void *value;
    size_t length;
    assert_int_equal(kv_get(transaction, "short", 5, &value, &length), 0); /* RYW */
    assert_int_equal(length, 8);
    assert_memory_equal(value, "\x05\x01\0\0\0\0\0\0", 8);
    assert_int_equal(kv_commit(transaction), 0);
    assert_int_equal(get_counter(store, "missing"), 40);
    assert_int_equal(get_counter(store, "short"), 0x105);
    assert_int_equal(get_counter(store, "long"), 2);
    assert_int_equal(get_counter(store, "max"), 1);
}

/* An adder whose transaction started (read version taken) before a writer of the
 * counter committed. */
static int add_across_a_concurrent_set(struct kv_store *store, bool read_first)
{
    struct kv_transaction *adder, *writer;
    assert_int_equal(kv_begin(store, &adder), 0);
    if (read_first) {
        const void *value;
        size_t length;
        assert_int_equal(kv_get_snapshot(adder, "other", 5, &value, &length), CHAINFS_NOT_FOUND);
    }
    assert_int_equal(kv_atomic_add(adder, "c", 1, 5), 0);
    assert_int_equal(kv_begin(store, &writer), 0);
    assert_int_equal(kv_set(writer, "c", 1, "\x64\0\0\0\0\0\0\0", 8), 0); /* 100 */
    assert_int_equal(kv_commit(writer), 0);
    return kv_commit(adder);
}

static void atomic_add_adds_no_read_conflict(void **state)
{
    struct kv_store *store = store_of(state);
    /* A blind adder never conflicts: the add applies on top of the newer value. */
    assert_int_equal(add_across_a_concurrent_set(store, false), 0);
    assert_int_equal(get_counter(store, "c"), 105);
    /* With an older read version: FoundationDB's rule still has nothing to check;
     * PostgreSQL refuses to update a row changed since its snapshot. */
    if (traits_of(state).write_write_conflicts) {
        assert_int_equal(add_across_a_concurrent_set(store, true), CHAINFS_CONFLICT);
        assert_int_equal(get_counter(store, "c"), 100);
    } else {
        assert_int_equal(add_across_a_concurrent_set(store, true), 0);
        assert_int_equal(get_counter(store, "c"), 105);
    }
}

/* ---- conflicts ---- */

/* Two transactions each read x and y (snapshot or not), then the first sets x = 0 and
 * the second y = 0. The first commits; returns the second's commit status. */
static int write_skew(struct kv_store *store, bool snapshot)
{
    struct kv_transaction *sides[2];
    for (int i = 0; i < 2; i++) {
        assert_int_equal(kv_begin(store, &sides[i]), 0);
        for (int key = 0; key < 2; key++) {
            const void *value;
            size_t length;
            const char *name = key == 0 ? "x" : "y";
            int status = snapshot ? kv_get_snapshot(sides[i], name, 1, &value, &length)
                                  : kv_get(sides[i], name, 1, &value, &length);
            assert_int_equal(status, 0);
        }
    }
    assert_int_equal(kv_set(sides[0], "x", 1, "0", 1), 0);
    assert_int_equal(kv_set(sides[1], "y", 1, "0", 1), 0);
    assert_int_equal(kv_commit(sides[0]), 0);
    return kv_commit(sides[1]);
}

static void snapshot_reads_add_no_conflict(void **state)
{
    struct kv_store *store = store_of(state);
    put_text(store, "x", "1");
    put_text(store, "y", "1");
    fill_numbered(store, 3);
    struct kv_transaction *reader, *writer;
    assert_int_equal(kv_begin(store, &reader), 0);
    const void *value;
    size_t length;
    struct kv_range_result result;
    struct kv_range_options snapshot = {.snapshot = true};
    assert_int_equal(kv_get_snapshot(reader, "x", 1, &value, &length), 0);
    assert_int_equal(kv_get_range(reader, "r", 1, "s", 1, &snapshot, &result), 0);
    assert_int_equal(result.count, 3);
    assert_int_equal(kv_begin(store, &writer), 0);
    assert_int_equal(kv_set(writer, "x", 1, "2", 1), 0);
    assert_int_equal(kv_set(writer, "r01a", 4, "new", 3), 0);
    assert_int_equal(kv_commit(writer), 0);
    /* The snapshot still shows the old state... */
    assert_int_equal(kv_get_snapshot(reader, "x", 1, &value, &length), 0);
    assert_memory_equal(value, "1", 1);
    assert_int_equal(kv_set(reader, "z", 1, "done", 4), 0);
    /* ...and the reader commits although what it read changed. */
    assert_int_equal(kv_commit(reader), 0);
    assert_value(store, "z", "done");

    /* Write skew is allowed when both sides only read at snapshot isolation. */
    assert_int_equal(write_skew(store, true), 0);
    assert_value(store, "x", "0");
    assert_value(store, "y", "0");
}

static void changed_read_conflicts(void **state)
{
    struct kv_store *store = store_of(state);
    put_text(store, "a", "1");
    struct kv_transaction *reader, *writer;
    assert_int_equal(kv_begin(store, &reader), 0);
    const void *value;
    size_t length;
    assert_int_equal(kv_get(reader, "a", 1, &value, &length), 0);
    assert_int_equal(kv_get(reader, "absent", 6, &value, &length), CHAINFS_NOT_FOUND);
    assert_int_equal(kv_begin(store, &writer), 0);
    assert_int_equal(kv_set(writer, "a", 1, "2", 1), 0);
    assert_int_equal(kv_commit(writer), 0);
    assert_int_equal(kv_set(reader, "b", 1, "from-reader", 11), 0);
    if (traits_of(state).read_conflicts_by_commit_order) {
        assert_int_equal(kv_commit(reader), CHAINFS_CONFLICT);
        assert_value(store, "b", NULL); /* nothing of a conflicting commit applies */
    } else {
        /* SSI orders the reader before the writer: still serializable. */
        assert_int_equal(kv_commit(reader), 0);
        assert_value(store, "b", "from-reader");
    }

    /* A read of an absent key conflicts with its later insertion. */
    assert_int_equal(kv_begin(store, &reader), 0);
    assert_int_equal(kv_get(reader, "absent", 6, &value, &length), CHAINFS_NOT_FOUND);
    assert_int_equal(kv_set(reader, "absent-seen", 11, "no", 2), 0);
    assert_int_equal(kv_begin(store, &writer), 0);
    assert_int_equal(kv_get(writer, "absent-seen", 11, &value, &length), CHAINFS_NOT_FOUND);
    assert_int_equal(kv_set(writer, "absent", 6, "now", 3), 0);
    assert_int_equal(kv_commit(writer), 0);
    /* A cycle (each read what the other wrote): every backend must refuse. */
    assert_int_equal(kv_commit(reader), CHAINFS_CONFLICT);
}

static void write_skew_prevented(void **state)
{
    struct kv_store *store = store_of(state);
    put_text(store, "x", "1");
    put_text(store, "y", "1");
    assert_int_equal(write_skew(store, false), CHAINFS_CONFLICT);
    assert_value(store, "x", "0");
    assert_value(store, "y", "1");
}

static void phantom_insert_conflicts(void **state)
{
    struct kv_store *store = store_of(state);
    fill_numbered(store, 3); /* a "directory" r00..r02 */
    struct kv_transaction *lister, *inserter;
    struct kv_range_result result;
    const void *value;
    size_t length;

    /* A lists the range and writes elsewhere; B inserts into the range and commits. */
    assert_int_equal(kv_begin(store, &lister), 0);
    assert_int_equal(get_range_text(lister, "r", "s", false, 0, &result), 0);
    assert_int_equal(result.count, 3);
    assert_int_equal(kv_set(lister, "count", 5, "3", 1), 0);
    assert_int_equal(kv_begin(store, &inserter), 0);
    assert_int_equal(kv_set(inserter, "r01a", 4, "new", 3), 0);
    assert_int_equal(kv_commit(inserter), 0);
    if (traits_of(state).read_conflicts_by_commit_order)
        assert_int_equal(kv_commit(lister), CHAINFS_CONFLICT);
    else
        assert_int_equal(kv_commit(lister), 0); /* serial order: lister, then inserter */
    put_text(store, "count", "3");

    /* The inserter also read what the lister writes: a cycle, which every backend
     * must refuse (the classic phantom write skew). */
    assert_int_equal(kv_begin(store, &lister), 0);
    assert_int_equal(get_range_text(lister, "r", "s", false, 0, &result), 0);
    assert_int_equal(result.count, 4);
    assert_int_equal(kv_set(lister, "count", 5, "4", 1), 0);
    assert_int_equal(kv_begin(store, &inserter), 0);
    assert_int_equal(kv_get(inserter, "count", 5, &value, &length), 0);
    assert_int_equal(kv_set(inserter, "r01b", 4, "new", 3), 0);
    assert_int_equal(kv_commit(inserter), 0);
    assert_int_equal(kv_commit(lister), CHAINFS_CONFLICT);
    assert_value(store, "count", "3");

    /* A limited read conflicts only up to its last row (FoundationDB's rule). */
    if (traits_of(state).read_conflicts_by_commit_order) {
        assert_int_equal(kv_begin(store, &lister), 0);
        assert_int_equal(get_range_text(lister, "r", "s", false, 2, &result), 0);
        assert_true(result.more); /* r00, r01 */
        assert_int_equal(kv_set(lister, "count", 5, "2", 1), 0);
        assert_int_equal(kv_begin(store, &inserter), 0);
        assert_int_equal(kv_set(inserter, "r02a", 4, "beyond", 6), 0);
        assert_int_equal(kv_commit(inserter), 0);
        assert_int_equal(kv_commit(lister), 0);
    }
}

/* ---- limits and bad input ---- */

static void size_limits_are_enforced(void **state)
{
    struct kv_store *store = store_of(state);
    uint8_t *big = calloc(1, KV_VALUE_MAX + 1);
    assert_non_null(big);
    struct kv_transaction *transaction;
    assert_int_equal(kv_begin(store, &transaction), 0);
    const void *value;
    size_t length;
    assert_int_equal(kv_set(transaction, big, KV_KEY_MAX + 1, "v", 1), CHAINFS_TOO_LARGE);
    assert_int_equal(kv_get(transaction, big, KV_KEY_MAX + 1, &value, &length), CHAINFS_TOO_LARGE);
    assert_int_equal(kv_clear(transaction, big, KV_KEY_MAX + 1), CHAINFS_TOO_LARGE);
    assert_int_equal(kv_set(transaction, "k", 1, big, KV_VALUE_MAX + 1), CHAINFS_TOO_LARGE);
    assert_int_equal(kv_set(transaction, NULL, 3, "v", 1), CHAINFS_INVALID_ARGUMENT);
    assert_int_equal(kv_set(transaction, "k", 1, NULL, 1), CHAINFS_INVALID_ARGUMENT);
    assert_int_equal(kv_get(transaction, "k", 1, NULL, &length), CHAINFS_INVALID_ARGUMENT);
    /* the largest key and value are accepted */
    big[0] = 'K';
    assert_int_equal(kv_set(transaction, big, KV_KEY_MAX, big, KV_VALUE_MAX), 0);
    /* 99 more values of 100,000 bytes reach 10,000,000 + keys: the 100th fails */
    int accepted = 1;
    for (int i = 0; i < 120; i++) {
        char key[8];
        snprintf(key, sizeof(key), "b%03d", i);
        int status = kv_set(transaction, key, strlen(key), big, KV_VALUE_MAX);
        if (status != 0) {
            assert_int_equal(status, CHAINFS_TOO_LARGE);
            break;
        }
        accepted++;
    }
    assert_int_equal(accepted, 99);
    /* the failed operations changed nothing; the transaction still commits */
    assert_int_equal(kv_get(transaction, "k", 1, &value, &length), CHAINFS_NOT_FOUND);
    assert_int_equal(kv_commit(transaction), 0);
    char *stored = get_text(store, "b097", 4);
    assert_non_null(stored);
    free(stored);
    assert_null(get_text(store, "b098", 4));
    assert_null(get_text(store, "k", 1));
    free(big);
}

static void bad_options_are_refused(void **state)
{
    (void)state;
    struct kv_store *store = NULL;
    struct kv_options options = {.backend = "rocksdb"};
    assert_int_equal(kv_open(&options, &store), CHAINFS_CONFIG);
    options = (struct kv_options){.backend = "lmdb"};
    assert_int_equal(kv_open(&options, &store), CHAINFS_CONFIG);
    options = (struct kv_options){.backend = "postgres", .postgres_conninfo = "host=/nonexistent",
                                  .postgres_table = "bad;name"};
    assert_int_equal(kv_open(&options, &store), CHAINFS_CONFIG);
    options.postgres_table = NULL;
    assert_int_equal(kv_open(&options, &store), CHAINFS_UNAVAILABLE);
    assert_null(store);
    enum kv_durability parsed;
    assert_true(kv_durability_parse("nosync", &parsed));
    assert_int_equal(parsed, KV_DURABILITY_NOSYNC);
    assert_false(kv_durability_parse("fsync", &parsed));
}

/* ---- retry helper ---- */

struct counted_body {
    int calls;
    int status;
};

static int counted_body(struct kv_transaction *transaction, void *argument)
{
    struct counted_body *body = argument;
    body->calls++;
    assert_int_equal(kv_set(transaction, "retried", 7, "x", 1), 0);
    return body->status;
}

static void run_transaction_retries_then_gives_up(void **state)
{
    struct kv_store *store = store_of(state);
    struct kv_retry_options options = {.max_attempts = 5, .initial_backoff_ns = 1000,
                                       .max_backoff_ns = 100000};
    struct counted_body body = {0, CHAINFS_CONFLICT};
    assert_int_equal(kv_run_transaction(store, counted_body, &body, &options),
                     CHAINFS_RETRY_EXHAUSTED);
    assert_int_equal(body.calls, 5);
    body = (struct counted_body){0, CHAINFS_PERMISSION_DENIED};
    assert_int_equal(kv_run_transaction(store, counted_body, &body, &options),
                     CHAINFS_PERMISSION_DENIED);
    assert_int_equal(body.calls, 1);
    assert_null(get_text(store, "retried", 7)); /* failed bodies were aborted */
    body = (struct counted_body){0, 0};
    assert_int_equal(kv_run_transaction(store, counted_body, &body, NULL), 0);
    assert_int_equal(body.calls, 1);
    assert_value(store, "retried", "x");
}

/* ---- concurrency: threads and processes ---- */

static int increment_counter(struct kv_transaction *transaction, void *argument)
{
    (void)argument;
    const void *value;
    size_t length;
    uint64_t counter = 0;
    int status = kv_get(transaction, "counter", 7, &value, &length);
    if (status == 0 && length == 8)
        memcpy(&counter, value, 8); /* little-endian host */
    else if (status != CHAINFS_NOT_FOUND)
        return status == 0 ? CHAINFS_INTERNAL : status;
    counter++;
    return kv_set(transaction, "counter", 7, &counter, 8);
}

static const struct kv_retry_options patient = {.max_attempts = 100000,
                                                .initial_backoff_ns = 100000,
                                                .max_backoff_ns = 20 * CLOCK_NS_PER_MS};

static int increment_many(struct kv_store *store, int count)
{
    for (int i = 0; i < count; i++) {
        int status = kv_run_transaction(store, increment_counter, NULL, &patient);
        if (status != 0)
            return status;
    }
    return 0;
}

/* Waits for a child with a deadline; returns its wait status or -1. */
static int wait_child(pid_t pid)
{
    uint64_t deadline = deadline_after_ns(CHILD_TIMEOUT_NS);
    while (!deadline_expired(deadline)) {
        int status;
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid)
            return status;
        if (done < 0)
            return -1;
        clock_sleep_ns(5 * CLOCK_NS_PER_MS);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static void four_processes_increment_exactly(void **state)
{
    struct fixture *fixture = *state;
    enum { PROCESSES = 4, INCREMENTS = 1000 };
    pid_t children[PROCESSES];
    for (int i = 0; i < PROCESSES; i++) {
        children[i] = fork();
        assert_true(children[i] >= 0);
        if (children[i] == 0) {
            struct kv_store *store;
            int status = open_store(fixture, &store);
            if (status == 0)
                status = increment_many(store, INCREMENTS);
            if (status == 0)
                kv_close(store);
            _exit(status == 0 ? 0 : 1);
        }
    }
    for (int i = 0; i < PROCESSES; i++) {
        int status = wait_child(children[i]);
        assert_true(status != -1 && WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_int_equal(get_counter(fixture->store, "counter"), PROCESSES * INCREMENTS);
}

struct thread_work {
    struct kv_store *store;
    int status;
};

static void *increment_thread(void *argument)
{
    struct thread_work *work = argument;
    work->status = increment_many(work->store, 250);
    for (int i = 0; i < 250 && work->status == 0; i++) {
        struct kv_transaction *transaction;
        work->status = kv_begin(work->store, &transaction);
        if (work->status == 0 && (work->status = kv_atomic_add(transaction, "adds", 4, 1)) == 0)
            work->status = kv_commit(transaction);
        if (work->status == CHAINFS_CONFLICT) { /* write-write conflict (PostgreSQL) */
            work->status = 0;
            i--;
        }
    }
    return NULL;
}

static void threads_share_one_store(void **state)
{
    struct kv_store *store = store_of(state);
    enum { THREADS = 4 };
    pthread_t threads[THREADS];
    struct thread_work work[THREADS];
    for (int i = 0; i < THREADS; i++) {
        work[i] = (struct thread_work){store, -1};
        assert_int_equal(pthread_create(&threads[i], NULL, increment_thread, &work[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(work[i].status, 0);
    }
    assert_int_equal(get_counter(store, "counter"), THREADS * 250);
    assert_int_equal(get_counter(store, "adds"), THREADS * 250);
}

/* ---- durability ---- */

/* A child commits key = value (when commit is true) and kills itself with SIGKILL the
 * moment kv_commit returns. */
static void commit_then_die(const struct fixture *fixture, const char *key, bool commit)
{
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        struct kv_store *store;
        struct kv_transaction *transaction;
        if (open_store(fixture, &store) != 0 || kv_begin(store, &transaction) != 0 ||
            kv_set(transaction, key, strlen(key), "durable", 7) != 0)
            _exit(1);
        if (commit && kv_commit(transaction) != 0)
            _exit(1);
        raise(SIGKILL);
        _exit(1);
    }
    int status = wait_child(child);
    assert_true(status != -1 && WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
}

static void commit_survives_kill_9(void **state)
{
    struct fixture *fixture = *state;
    for (int i = 0; i < 5; i++) {
        char key[16];
        snprintf(key, sizeof(key), "durable%d", i);
        commit_then_die(fixture, key, true);
        snprintf(key, sizeof(key), "lost%d", i);
        commit_then_die(fixture, key, false);
    }
    /* A fresh handle (LMDB: after the parent's own one is closed) sees the commits. */
    kv_close(fixture->store);
    fixture->store = NULL;
    assert_int_equal(open_store(fixture, &fixture->store), 0);
    for (int i = 0; i < 5; i++) {
        char key[16];
        snprintf(key, sizeof(key), "durable%d", i);
        assert_value(fixture->store, key, "durable");
        snprintf(key, sizeof(key), "lost%d", i);
        assert_value(fixture->store, key, NULL);
    }
}

/* ---- PostgreSQL: a lost connection is retryable and the next one reconnects ---- */

static void lost_connection_is_retryable(void **state)
{
    struct kv_store *store = store_of(state);
    put_text(store, "a", "1"); /* leaves a pooled session */
    PGconn *admin = PQconnectdb(pg_conninfo);
    assert_int_equal(PQstatus(admin), CONNECTION_OK);
    PGresult *result = PQexec(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                     "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'");
    assert_int_equal(PQresultStatus(result), PGRES_TUPLES_OK);
    PQclear(result);
    PQfinish(admin);
    clock_sleep_ns(100 * CLOCK_NS_PER_MS);
    struct kv_transaction *transaction;
    assert_int_equal(kv_begin(store, &transaction), 0);
    const void *value;
    size_t length;
    assert_int_equal(kv_get(transaction, "a", 1, &value, &length), CHAINFS_UNAVAILABLE);
    assert_int_equal(kv_set(transaction, "b", 1, "2", 1), CHAINFS_UNAVAILABLE); /* sticky */
    assert_int_equal(kv_commit(transaction), CHAINFS_UNAVAILABLE);
    assert_value(store, "a", "1"); /* a new session */
}

/* ---- main ---- */

static int parse_arguments(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "postgres") == 0) {
        backend_name = "postgres";
        pg_conninfo = getenv("CHAINFS_TEST_PG_CONNINFO");
        if (!pg_conninfo || !pg_conninfo[0]) {
            fprintf(stderr, "kv_conformance: CHAINFS_TEST_PG_CONNINFO is not set; start a "
                            "server with scripts/pg-test-cluster.sh start DIR\n");
            return -1;
        }
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "lmdb") == 0 && kv_durability_parse(argv[2], &durability)) {
        backend_name = "lmdb";
        return 0;
    }
    fprintf(stderr, "usage: kv_conformance lmdb sync|nosync | kv_conformance postgres\n");
    return -1;
}

#define KV_TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(int argc, char **argv)
{
    if (parse_arguments(argc, argv) != 0) {
        printf("1..1\nnot ok 1 - kv conformance setup\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        KV_TEST(keys_order_bytewise_with_zero_bytes),
        KV_TEST(long_keys_keep_order),
        KV_TEST(range_bounds_and_limits),
        KV_TEST(range_paging_both_directions),
        KV_TEST(reads_see_own_writes),
        KV_TEST(ranges_merge_own_writes),
        KV_TEST(clear_range_removes_exactly_the_range),
        KV_TEST(atomic_add_is_a_little_endian_counter),
        KV_TEST(atomic_add_adds_no_read_conflict),
        KV_TEST(snapshot_reads_add_no_conflict),
        KV_TEST(changed_read_conflicts),
        KV_TEST(write_skew_prevented),
        KV_TEST(phantom_insert_conflicts),
        KV_TEST(size_limits_are_enforced),
        KV_TEST(bad_options_are_refused),
        KV_TEST(run_transaction_retries_then_gives_up),
        KV_TEST(threads_share_one_store),
        KV_TEST(four_processes_increment_exactly),
        KV_TEST(commit_survives_kill_9),
        KV_TEST(lost_connection_is_retryable), /* PostgreSQL only: keep it last */
    };
    size_t count = sizeof(tests) / sizeof(tests[0]);
    if (strcmp(backend_name, "postgres") != 0)
        count--;
    char group[64];
    snprintf(group, sizeof(group), "kv_conformance_%s%s%s", backend_name,
             pg_conninfo ? "" : "_", pg_conninfo ? "" : (durability == KV_DURABILITY_SYNC ? "sync" : "nosync"));
    return _cmocka_run_group_tests(group, tests, count, NULL, NULL);
}
