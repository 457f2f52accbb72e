/*
 * test_file_layout.c - the chunk → chain mapping of files (meta/file_layout.h), row by
 * row: stripe width, the window of consecutive chains, the shuffle being a
 * permutation, a golden order (clients and servers of other versions must agree),
 * and refused layouts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "chainfs/error.h"
#include "meta/file_layout.h"

struct mapping_row {
    size_t chain_count;
    uint32_t stripe;
    uint32_t first;
    uint64_t seed;
    uint32_t width; /* expected */
};

static const struct mapping_row mapping_rows[] = {
    {1, 1, 0, 0, 1},       {8, 1, 3, 7, 1},     {8, 4, 0, 1, 4},       {8, 4, 6, 99, 4},
    {8, 8, 5, 12345, 8},   {8, 16, 2, 5, 8},    {3, 1024, 1, 2, 3},    {100, 32, 97, 42, 32},
    {65536, 200, 65500, 0xdeadbeefull, 200},
};

static void every_row_maps_to_a_permuted_window(void **state)
{
    static uint32_t table[65536];
    for (uint32_t i = 0; i < 65536; i++)
        table[i] = 1000 + i; /* chain ids differ from indexes */
    for (size_t r = 0; r < sizeof(mapping_rows) / sizeof(mapping_rows[0]); r++) {
        const struct mapping_row *row = &mapping_rows[r];
        struct file_layout layout = {.table_id = 1, .chunk_size = 1 << 20, .stripe = row->stripe,
                                     .first_chain_index = row->first, .seed = row->seed};
        assert_int_equal(file_layout_stripe_width(&layout, row->chain_count), row->width);
        uint32_t chains[FILE_LAYOUT_STRIPE_MAX];
        assert_int_equal(file_layout_stripe_chains(&layout, table, row->chain_count, chains), 0);
        /* a permutation of the width consecutive chains from first (mod count) */
        static bool seen[65536];
        memset(seen, 0, sizeof(seen));
        for (uint32_t k = 0; k < row->width; k++) {
            uint32_t index = chains[k] - 1000;
            size_t offset = (index + row->chain_count - row->first % row->chain_count) % row->chain_count;
            assert_true(offset < row->width);
            assert_false(seen[index]);
            seen[index] = true;
        }
        /* chunk i is on the (i mod width)-th chain */
        for (uint64_t chunk = 0; chunk < 3 * row->width; chunk++) {
            uint32_t chain;
            assert_int_equal(file_layout_chunk_chain(&layout, table, row->chain_count, chunk, &chain), 0);
            assert_int_equal(chain, chains[chunk % row->width]);
        }
    }
}

/* Changing the shuffle would strand every file written before: this order is fixed. */
static void shuffle_order_is_stable(void **state)
{
    uint32_t table[8] = {10, 11, 12, 13, 14, 15, 16, 17};
    struct file_layout layout = {.table_id = 1, .chunk_size = 1 << 20, .stripe = 8,
                                 .first_chain_index = 0, .seed = 42};
    uint32_t chains[8];
    assert_int_equal(file_layout_stripe_chains(&layout, table, 8, chains), 0);
    uint32_t again[8];
    assert_int_equal(file_layout_stripe_chains(&layout, table, 8, again), 0);
    assert_memory_equal(chains, again, sizeof(chains));
    static const uint32_t golden[8] = {13, 11, 16, 12, 14, 10, 17, 15};
    assert_memory_equal(chains, golden, sizeof(chains));
    /* another seed gives another order (for this seed pair) */
    layout.seed = 43;
    assert_int_equal(file_layout_stripe_chains(&layout, table, 8, again), 0);
    assert_memory_not_equal(chains, again, sizeof(chains));
}

static void bad_layouts_are_refused(void **state)
{
    uint32_t table[4] = {1, 2, 3, 4}, chains[4], chain;
    struct file_layout layout = {.table_id = 1, .chunk_size = 1 << 20, .stripe = 2};
    assert_int_equal(file_layout_stripe_chains(&layout, table, 0, chains), CHAINFS_INVALID_ARGUMENT);
    assert_int_equal(file_layout_chunk_chain(&layout, table, 0, 5, &chain), CHAINFS_INVALID_ARGUMENT);
    layout.stripe = 0;
    assert_int_equal(file_layout_stripe_chains(&layout, table, 4, chains), CHAINFS_INVALID_ARGUMENT);
    layout.stripe = FILE_LAYOUT_STRIPE_MAX + 1;
    assert_int_equal(file_layout_stripe_chains(&layout, table, 4, chains), CHAINFS_INVALID_ARGUMENT);
}

struct check_row {
    uint32_t chunk_size;
    uint32_t stripe;
    uint32_t table_id;
    int expected;
};

static void layout_check_table(void **state)
{
    static const struct check_row rows[] = {
        {64 << 10, 1, 1, 0},
        {1 << 20, 4, 7, 0},
        {64 << 20, FILE_LAYOUT_STRIPE_MAX, 1, 0},
        {32 << 10, 1, 1, CHAINFS_INVALID_ARGUMENT},          /* too small */
        {128u << 20, 1, 1, CHAINFS_INVALID_ARGUMENT},        /* too large */
        {3 << 20, 1, 1, CHAINFS_INVALID_ARGUMENT},           /* not a power of two */
        {1 << 20, 0, 1, CHAINFS_INVALID_ARGUMENT},           /* no chain */
        {1 << 20, FILE_LAYOUT_STRIPE_MAX + 1, 1, CHAINFS_INVALID_ARGUMENT},
        {1 << 20, 1, 0, CHAINFS_INVALID_ARGUMENT},           /* no table */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct file_layout layout = {.table_id = rows[i].table_id, .chunk_size = rows[i].chunk_size,
                                     .stripe = rows[i].stripe};
        assert_int_equal(file_layout_check(&layout), rows[i].expected);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_row_maps_to_a_permuted_window),
        cmocka_unit_test(shuffle_order_is_stable),
        cmocka_unit_test(bad_layouts_are_refused),
        cmocka_unit_test(layout_check_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
