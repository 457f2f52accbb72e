/*
 * test_file_range.c - cutting byte ranges of a file into chunk pieces (client
 * file_range.h), table by table: aligned and unaligned ranges, one chunk and many,
 * striping over chains (chunk i on chain i mod stripe), buffer offsets, invalid
 * stripes and overflow; and the truncate plan (which chunks go, which one is cut).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "client/file_range.h"

#define KIB 1024u
#define MIB (1024u * 1024u)

struct expected_piece {
    uint32_t chain_id;
    uint64_t chunk_index;
    uint32_t offset;
    uint32_t length;
    uint64_t buffer_offset;
};

struct split_row {
    const char *name;
    uint32_t chunk_size;
    uint32_t stripe;
    uint64_t offset;
    uint64_t length;
    size_t count;
    struct expected_piece pieces[6];
};

/* chains of the stripe used by every row: position i -> chain 100 + i */
static const uint32_t chains[8] = {100, 101, 102, 103, 104, 105, 106, 107};

static const struct split_row split_table[] = {
    {"empty range", 64 * KIB, 4, 0, 0, 0, {{0}}},
    {"one whole chunk", 64 * KIB, 4, 0, 64 * KIB, 1, {{100, 0, 0, 64 * KIB, 0}}},
    {"inside one chunk", 64 * KIB, 4, 100, 200, 1, {{100, 0, 100, 200, 0}}},
    {"one byte at a chunk's last byte", 64 * KIB, 4, 64 * KIB - 1, 1, 1,
     {{100, 0, 64 * KIB - 1, 1, 0}}},
    {"one byte at the next chunk's first", 64 * KIB, 4, 64 * KIB, 1, 1, {{101, 1, 0, 1, 0}}},
    {"two bytes across a boundary", 64 * KIB, 4, 64 * KIB - 1, 2, 2,
     {{100, 0, 64 * KIB - 1, 1, 0}, {101, 1, 0, 1, 1}}},
    {"aligned, three chunks", 64 * KIB, 4, 64 * KIB, 192 * KIB, 3,
     {{101, 1, 0, 64 * KIB, 0}, {102, 2, 0, 64 * KIB, 64 * KIB}, {103, 3, 0, 64 * KIB, 128 * KIB}}},
    {"unaligned both ends over stripe wrap", 64 * KIB, 4, 3 * 64 * KIB + 10, 2 * 64 * KIB, 3,
     {{103, 3, 10, 64 * KIB - 10, 0},
      {100, 4, 0, 64 * KIB, 64 * KIB - 10},
      {101, 5, 0, 10, 128 * KIB - 10}}},
    {"every chain of a stripe of 2, twice", 4 * KIB, 2, 0, 16 * KIB, 4,
     {{100, 0, 0, 4 * KIB, 0}, {101, 1, 0, 4 * KIB, 4 * KIB}, {100, 2, 0, 4 * KIB, 8 * KIB},
      {101, 3, 0, 4 * KIB, 12 * KIB}}},
    {"stripe of 1: every chunk on one chain", 4 * KIB, 1, 4 * KIB + 1, 8 * KIB, 3,
     {{100, 1, 1, 4 * KIB - 1, 0}, {100, 2, 0, 4 * KIB, 4 * KIB - 1}, {100, 3, 0, 1, 8 * KIB - 1}}},
    {"far offset: chunk index past 32 bits", 4 * KIB, 8, (1ull << 44) + 5, 10, 1,
     {{100 + (uint32_t)(((1ull << 44) / (4 * KIB)) % 8), (1ull << 44) / (4 * KIB), 5, 10, 0}}},
    {"1 MiB chunks, 1 MiB read at 1.5 MiB", MIB, 8, MIB + MIB / 2, MIB, 2,
     {{101, 1, MIB / 2, MIB / 2, 0}, {102, 2, 0, MIB / 2, MIB / 2}}},
    {"stripe of 6 chains, 6 chunks from the 5th", 4 * KIB, 6, 5 * 4 * KIB, 6 * 4 * KIB, 6,
     {{105, 5, 0, 4 * KIB, 0}, {100, 6, 0, 4 * KIB, 4 * KIB}, {101, 7, 0, 4 * KIB, 8 * KIB},
      {102, 8, 0, 4 * KIB, 12 * KIB}, {103, 9, 0, 4 * KIB, 16 * KIB},
      {104, 10, 0, 4 * KIB, 20 * KIB}}},
};

static void test_split_table(void **state)
{
    static uint8_t buffer[64];
    for (size_t row = 0; row < sizeof(split_table) / sizeof(split_table[0]); row++) {
        const struct split_row *expected = &split_table[row];
        struct file_stripe stripe = {77, expected->chunk_size, expected->stripe, chains};
        struct chunk_io pieces[8];
        print_message("row: %s\n", expected->name);
        assert_int_equal(file_range_piece_count(expected->chunk_size, expected->offset,
                                                expected->length),
                         expected->count);
        size_t count = file_range_split(&stripe, expected->offset, expected->length, buffer, pieces,
                                        8);
        assert_int_equal(count, expected->count);
        uint64_t covered = 0;
        for (size_t i = 0; i < count; i++) {
            assert_int_equal(pieces[i].chain_id, expected->pieces[i].chain_id);
            assert_int_equal(pieces[i].chunk_index, expected->pieces[i].chunk_index);
            assert_int_equal(pieces[i].offset, expected->pieces[i].offset);
            assert_int_equal(pieces[i].length, expected->pieces[i].length);
            assert_int_equal(pieces[i].buffer_offset, expected->pieces[i].buffer_offset);
            assert_ptr_equal(pieces[i].buffer, buffer + expected->pieces[i].buffer_offset);
            assert_int_equal(pieces[i].inode_id, 77);
            assert_int_equal(pieces[i].chunk_size, expected->chunk_size);
            covered += pieces[i].length;
        }
        assert_int_equal(covered, expected->length); /* pieces tile the range exactly */
    }
}

struct refused_row {
    const char *name;
    uint32_t chunk_size;
    uint32_t stripe;
    uint64_t offset;
    uint64_t length;
    size_t capacity;
};

static const struct refused_row refused_table[] = {
    {"chunk size not a power of two", 3 * 4096, 4, 0, 100, 8},
    {"chunk size below 4 KiB", 2048, 4, 0, 100, 8},
    {"chunk size 0", 0, 4, 0, 100, 8},
    {"stripe 0", 4096, 0, 0, 100, 8},
    {"range wraps past 2^64", 4096, 4, UINT64_MAX - 10, 100, 8},
    {"more pieces than capacity", 4096, 4, 0, 3 * 4096, 2},
};

static void test_split_refuses_bad_input(void **state)
{
    for (size_t row = 0; row < sizeof(refused_table) / sizeof(refused_table[0]); row++) {
        const struct refused_row *input = &refused_table[row];
        struct file_stripe stripe = {1, input->chunk_size, input->stripe, chains};
        struct chunk_io pieces[8];
        print_message("row: %s\n", input->name);
        assert_int_equal(file_range_split(&stripe, input->offset, input->length, NULL, pieces,
                                          input->capacity),
                         0);
    }
    struct file_stripe no_chains = {1, 4096, 4, NULL};
    struct chunk_io piece;
    assert_int_equal(file_range_split(&no_chains, 0, 1, NULL, &piece, 1), 0);
}

struct truncate_row {
    uint32_t chunk_size;
    uint64_t length;
    uint64_t first_removed;
    bool partial;
    uint64_t partial_index;
    uint32_t partial_length;
};

static const struct truncate_row truncate_table[] = {
    {64 * KIB, 0, 0, false, 0, 0},                   /* empty: every chunk goes */
    {64 * KIB, 1, 1, true, 0, 1},                    /* one byte of chunk 0 stays */
    {64 * KIB, 64 * KIB, 1, false, 1, 0},            /* exactly one chunk: chunk 1 on go */
    {64 * KIB, 64 * KIB + 1, 2, true, 1, 1},         /* into chunk 1 */
    {64 * KIB, 5 * 64 * KIB - 1, 5, true, 4, 64 * KIB - 1},
    {MIB, 3 * MIB + MIB / 2, 4, true, 3, MIB / 2},   /* mid-chunk */
};

static void test_truncate_plan_table(void **state)
{
    for (size_t row = 0; row < sizeof(truncate_table) / sizeof(truncate_table[0]); row++) {
        const struct truncate_row *expected = &truncate_table[row];
        struct truncate_plan plan;
        file_range_truncate_plan(expected->chunk_size, expected->length, &plan);
        assert_int_equal(plan.first_removed, expected->first_removed);
        assert_int_equal(plan.partial, expected->partial);
        if (expected->partial) {
            assert_int_equal(plan.partial_index, expected->partial_index);
            assert_int_equal(plan.partial_length, expected->partial_length);
        }
    }
}

static void test_valid_chunk_sizes(void **state)
{
    assert_true(file_range_valid_chunk_size(4096));
    assert_true(file_range_valid_chunk_size(64 * MIB));
    assert_true(file_range_valid_chunk_size(1u << 30));
    assert_false(file_range_valid_chunk_size(1u << 31));
    assert_false(file_range_valid_chunk_size(4095));
    assert_false(file_range_valid_chunk_size(MIB + 4096));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split_table),
        cmocka_unit_test(test_split_refuses_bad_input),
        cmocka_unit_test(test_truncate_plan_table),
        cmocka_unit_test(test_valid_chunk_sizes),
    };
    return cmocka_run_group_tests_name("file_range", tests, NULL, NULL);
}
