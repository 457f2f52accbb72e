/*
 * test_chunk_engine.c - unit tests of the chunk engine (src/storage/chunk_engine.h):
 * version rules of prepare/commit/abort, reads during updates, copy-on-write block
 * release, appends in place, truncate, removal, last chunk, NO_SPACE, bad input that
 * changes nothing, reopening, the synchronous I/O fallback, and concurrent writers
 * and readers. Each test uses its own scratch target directory. One white-box test
 * pins a block through the engine's internals to make a read in flight deterministic.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chainfs/error.h"
#include "common/aligned_buffer.h"
#include "common/crc32c.h"
#include "storage/chunk_engine.h"
#include "storage/chunk_engine_internal.h"
#include "storage_test_util.h"

#define KiB 1024ULL
#define CHUNK_LIMIT (1024 * KiB)

struct fixture {
    char dir[256];
    struct chunk_engine_options options;
    struct chunk_engine *engine;
};

static int setup(void **state)
{
    struct fixture *fixture = calloc(1, sizeof(*fixture));
    if (fixture == NULL || make_scratch_dir(fixture->dir, sizeof(fixture->dir), "engine") != 0)
        return -1;
    fixture->options = (struct chunk_engine_options){.chunk_size_limit = CHUNK_LIMIT,
                                                     .grow_bytes = 1024 * KiB};
    if (chunk_engine_open(fixture->dir, &fixture->options, &fixture->engine) != CHAINFS_OK)
        return -1;
    *state = fixture;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fixture = *state;
    chunk_engine_close(fixture->engine);
    remove_tree(fixture->dir);
    free(fixture);
    return 0;
}

static void reopen(struct fixture *fixture)
{
    chunk_engine_close(fixture->engine);
    fixture->engine = NULL;
    assert_int_equal(chunk_engine_open(fixture->dir, &fixture->options, &fixture->engine),
                     CHAINFS_OK);
}

/* Prepares and commits a write; returns the committed version. */
static uint64_t write_chunk(struct chunk_engine *engine, const struct chunk_id *id,
                            uint64_t offset, const void *data, uint64_t length)
{
    struct chunk_update update;
    assert_int_equal(chunk_engine_prepare_update(engine, id, offset, data, length, 7, &update),
                     CHAINFS_OK);
    assert_int_equal(chunk_engine_commit(engine, id, update.version), CHAINFS_OK);
    return update.version;
}

/* Reads the whole committed chunk and compares it with expected. */
static void expect_content(struct chunk_engine *engine, const struct chunk_id *id,
                           const void *expected, uint64_t length, unsigned flags)
{
    char *buffer = malloc(CHUNK_LIMIT);
    struct chunk_read_result result;
    assert_int_equal(chunk_engine_read(engine, id, 0, CHUNK_LIMIT, buffer, flags, &result),
                     CHAINFS_OK);
    assert_int_equal(result.bytes_read, length);
    assert_int_equal(result.chunk_length, length);
    assert_int_equal(result.crc, crc32c(0, expected, length));
    assert_memory_equal(buffer, expected, length);
    free(buffer);
}

static void expect_same_version(const struct chunk_version *a, const struct chunk_version *b)
{
    assert_int_equal(a->version, b->version);
    assert_int_equal(a->chain_version, b->chain_version);
    assert_int_equal(a->length, b->length);
    assert_int_equal(a->crc, b->crc);
    assert_int_equal(a->block.block_class, b->block.block_class);
    assert_int_equal(a->block.index, b->block.index);
}

/* Two dumps list the same chunks with the same versions (fields, not padding). */
static void expect_same_records(const struct chunk_metadata *a, size_t a_count,
                                const struct chunk_metadata *b, size_t b_count)
{
    assert_int_equal(a_count, b_count);
    for (size_t i = 0; i < a_count; i++) {
        assert_memory_equal(a[i].id.bytes, b[i].id.bytes, CHUNK_ID_SIZE);
        expect_same_version(&a[i].committed, &b[i].committed);
        expect_same_version(&a[i].pending, &b[i].pending);
    }
}

static void test_chunk_id_order(void **state)
{
    (void)state;
    struct chunk_id a = chunk_id_make(1, 1), b = chunk_id_make(1, 256),
                    c = chunk_id_make(2, 0);
    assert_true(chunk_id_compare(&a, &b) < 0);
    assert_true(chunk_id_compare(&b, &c) < 0);
    assert_int_equal(chunk_id_inode(&b), 1);
    assert_int_equal(chunk_id_index(&b), 256);
    assert_int_equal(b.bytes[14], 1); /* big-endian */
}

static void test_metadata_record(void **state)
{
    (void)state;
    struct chunk_metadata metadata = {
        .id = chunk_id_make(3, 4),
        .committed = {7, 2, 5000, 0xdeadbeef, {0, 12}},
        .pending = {8, 3, 70000, 0x12345678, {1, 3}},
    };
    uint8_t record[CHUNK_METADATA_RECORD_SIZE];
    chunk_metadata_encode(&metadata, record);
    struct chunk_metadata decoded;
    assert_true(chunk_metadata_decode(record, sizeof(record), &decoded));
    decoded.id = metadata.id;
    expect_same_records(&metadata, 1, &decoded, 1);
    assert_false(chunk_metadata_decode(record, sizeof(record) - 1, &decoded));
    metadata.pending.version = 9; /* pending must be committed + 1 */
    chunk_metadata_encode(&metadata, record);
    assert_false(chunk_metadata_decode(record, sizeof(record), &decoded));
    metadata.pending.version = 8;
    metadata.pending.length = 200000; /* longer than its 128 KiB block */
    chunk_metadata_encode(&metadata, record);
    assert_false(chunk_metadata_decode(record, sizeof(record), &decoded));
    record[0] = 2; /* unknown format */
    assert_false(chunk_metadata_decode(record, sizeof(record), &decoded));
}

static void test_write_commit_read(void **state)
{
    struct fixture *fixture = *state;
    struct chunk_id id = chunk_id_make(1, 0);
    char data[10000];
    fill_pattern(data, sizeof(data), 1);
    struct chunk_update update;
    assert_int_equal(chunk_engine_prepare_update(fixture->engine, &id, 0, data, sizeof(data),
                                                 3, &update),
                     CHAINFS_OK);
    assert_int_equal(update.version, 1);
    assert_int_equal(update.crc, crc32c(0, data, sizeof(data)));

    /* Before the commit the chunk reads as version 0, empty, with a pending version. */
    char buffer[64];
    struct chunk_read_result result;
    assert_int_equal(chunk_engine_read(fixture->engine, &id, 0, 16, buffer, 0, &result),
                     CHAINFS_OK);
    assert_int_equal(result.version, 0);
    assert_int_equal(result.bytes_read, 0);
    assert_int_equal(result.pending_version, 1);
    expect_content(fixture->engine, &id, data, sizeof(data), CHUNK_READ_PENDING);

    assert_int_equal(chunk_engine_commit(fixture->engine, &id, 1), CHAINFS_OK);
    expect_content(fixture->engine, &id, data, sizeof(data), 0);
    assert_int_equal(chunk_engine_read(fixture->engine, &id, 100, 50, buffer, 0, &result),
                     CHAINFS_OK);
    assert_int_equal(result.bytes_read, 50);
    assert_memory_equal(buffer, data + 100, 50);
    assert_int_equal(result.version, 1);
    assert_int_equal(result.chain_version, 3);
    assert_int_equal(result.pending_version, 0);
    assert_int_equal(chunk_engine_check(fixture->engine), CHAINFS_OK);
}

static void test_version_rules(void **state)
{
    struct fixture *fixture = *state;
    struct chunk_engine *engine = fixture->engine;
    struct chunk_id id = chunk_id_make(2, 5);
    struct chunk_id unknown = chunk_id_make(2, 6);
    char data[100] = "first";
    struct chunk_update update;

    assert_int_equal(chunk_engine_commit(engine, &unknown, 1), CHAINFS_NOT_FOUND);
    assert_int_equal(chunk_engine_abort(engine, &unknown, 1), CHAINFS_NOT_FOUND);
    write_chunk(engine, &id, 0, data, sizeof(data));
    assert_int_equal(chunk_engine_commit(engine, &id, 2), CHAINFS_NOT_FOUND); /* no pending */

    assert_int_equal(chunk_engine_prepare_update(engine, &id, 0, "x", 1, 7, &update), CHAINFS_OK);
    assert_int_equal(update.version, 2);
    /* A second update while one is pending is refused. */
    assert_int_equal(chunk_engine_prepare_update(engine, &id, 0, "y", 1, 7, &update),
                     CHAINFS_BUSY);
    assert_int_equal(chunk_engine_commit(engine, &id, 3), CHAINFS_INVALID_ARGUMENT);
    assert_int_equal(chunk_engine_commit(engine, &id, 1), CHAINFS_INVALID_ARGUMENT);
    assert_int_equal(chunk_engine_abort(engine, &id, 1), CHAINFS_INVALID_ARGUMENT);
    assert_int_equal(chunk_engine_abort(engine, &id, 2), CHAINFS_OK);
    assert_int_equal(chunk_engine_commit(engine, &id, 2), CHAINFS_NOT_FOUND);
    expect_content(engine, &id, data, sizeof(data), 0);

    /* The version after an abort is again committed + 1. */
    assert_int_equal(chunk_engine_prepare_update(engine, &id, 0, "z", 1, 8, &update), CHAINFS_OK);
    assert_int_equal(update.version, 2);
    assert_int_equal(chunk_engine_commit(engine, &id, 2), CHAINFS_OK);
    data[0] = 'z';
    expect_content(engine, &id, data, sizeof(data), 0);

    /* Aborting the update that created a chunk removes it. */
    assert_int_equal(chunk_engine_prepare_update(engine, &unknown, 0, "n", 1, 8, &update),
                     CHAINFS_OK);
    assert_int_equal(chunk_engine_abort(engine, &unknown, 1), CHAINFS_OK);
    struct chunk_metadata metadata;
    assert_int_equal(chunk_engine_stat(engine, &unknown, &metadata), CHAINFS_NOT_FOUND);
    assert_int_equal(chunk_engine_check(engine), CHAINFS_OK);
}

static void test_read_during_update_sees_committed(void **state)
{
    struct fixture *fixture = *state;
    struct chunk_id id = chunk_id_make(3, 0);
    char old_data[70000], new_data[70000];
    fill_pattern(old_data, sizeof(old_data), 2);
    memcpy(new_data, old_data, sizeof(new_data));
    fill_pattern(new_data + 1000, 5000, 3);
    write_chunk(fixture->engine, &id, 0, old_data, sizeof(old_data));

    struct chunk_update update;
    assert_int_equal(chunk_engine_prepare_update(fixture->engine, &id, 1000, new_data + 1000,
                                                 5000, 7, &update),
                     CHAINFS_OK);
    assert_false(update.in_place);
    expect_content(fixture->engine, &id, old_data, sizeof(old_data), 0);
    expect_content(fixture->engine, &id, new_data, sizeof(new_data), CHUNK_READ_PENDING);
    assert_int_equal(chunk_engine_commit(fixture->engine, &id, update.version), CHAINFS_OK);
    expect_content(fixture->engine, &id, new_data, sizeof(new_data), 0);
}

/* Rewrites that run to the end of the old content read back only what lies before
 * them (nothing for a whole rewrite); the rest of the old content stays. */
static void test_rewrites_keep_what_they_do_not_cover(void **state)
{
    struct fixture *fixture = *state;
    struct chunk_id id = chunk_id_make(3, 1);
    char expected[80000], data[80000];
    fill_pattern(expected, 70000, 4);
    write_chunk(fixture->engine, &id, 0, expected, 70000);
    fill_pattern(data, sizeof(data), 5);
    /* from an unaligned offset past the old end: the prefix comes from the old block */
    write_chunk(fixture->engine, &id, 3001, data, 72000);
    memcpy(expected + 3001, data, 72000);
    expect_content(fixture->engine, &id, expected, 75001, 0);
    /* up to exactly the old end */
    write_chunk(fixture->engine, &id, 75000, data + 7, 1);
    expected[75000] = data[7];
    expect_content(fixture->engine, &id, expected, 75001, 0);
    /* in the middle: both sides stay */
    write_chunk(fixture->engine, &id, 100, data + 9, 50);
    memcpy(expected + 100, data + 9, 50);
    expect_content(fixture->engine, &id, expected, 75001, 0);
    /* the whole chunk */
    fill_pattern(data, sizeof(data), 6);
    write_chunk(fixture->engine, &id, 0, data, 75001);
    expect_content(fixture->engine, &id, data, 75001, 0);
}

static void test_copy_on_write_frees_old_blocks(void **state)
{
    struct fixture *fixture = *state;
    struct chunk_id id = chunk_id_make(4, 0);
    char *data = malloc(CHUNK_LIMIT);
    fill_pattern(data, CHUNK_LIMIT, 4);
    write_chunk(fixture->engine, &id, 0, data, 60 * KiB);
    for (int round = 0; round < 10; round++) {
        fill_pattern(data + round * 100, 100, (uint64_t)round + 10);
        write_chunk(fixture->engine, &id, (uint64_t)round * 100, data + round * 100, 100);
    }
    struct chunk_engine_stats stats;
    chunk_engine_get_stats(fixture->engine, &stats);
    assert_int_equal(stats.used_blocks, 1);
    assert_int_equal(stats.classes[0].used_blocks, 1);
    /* Growing past 64 KiB moves the chunk to the 128 KiB class. */
    write_chunk(fixture->engine, &id, 60 * KiB, data + 60 * KiB, 40 * KiB);
    chunk_engine_get_stats(fixture->engine, &stats);
    assert_int_equal(stats.used_blocks, 1);
    assert_int_equal(stats.classes[0].used_blocks, 0);
    assert_int_equal(stats.classes[1].used_blocks, 1);
    assert_int_equal(stats.used_bytes, 128 * KiB);
    expect_content(fixture->engine, &id, data, 100 * KiB, 0);
    assert_int_equal(chunk_engine_check(fixture->engine), CHAINFS_OK);
    free(data);
}

static void test_append_in_place(void **state)
{
    struct fixture *fixture = *state;
    struct chunk_engine *engine = fixture->engine;
    struct chunk_id id = chunk_id_make(5, 0);
    char data[60000];
    fill_pattern(data, sizeof(data), 5);
    write_chunk(engine, &id, 0, data, 1000);

    struct chunk_update update;
    assert_int_equal(chunk_engine_prepare_update(engine, &id, 1000, data + 1000, 5000, 7, &update),
                     CHAINFS_OK);
    assert_true(update.in_place);
    assert_int_equal(update.crc, crc32c(0, data, 6000));
    expect_content(engine, &id, data, 1000, 0); /* not visible before the commit */
    assert_int_equal(chunk_engine_commit(engine, &id, update.version), CHAINFS_OK);
    expect_content(engine, &id, data, 6000, 0);

    /* An aborted append leaves the committed content intact. */
    assert_int_equal(chunk_engine_prepare_update(engine, &id, 6000, "garbage", 7, 7, &update),
                     CHAINFS_OK);
    assert_true(update.in_place);
    assert_int_equal(chunk_engine_abort(engine, &id, update.version), CHAINFS_OK);
    expect_content(engine, &id, data, 6000, 0);

    /* Not at the end, or past the block: copy-on-write. */
    assert_int_equal(chunk_engine_prepare_update(engine, &id, 5000, data + 5000, 2000, 7, &update),
                     CHAINFS_OK);
    assert_false(update.in_place);
    assert_int_equal(chunk_engine_commit(engine, &id, update.version), CHAINFS_OK);
    char *big = malloc(70 * KiB);
    memcpy(big, data, 7000);
    fill_pattern(big + 7000, 70 * KiB - 7000, 6);
    assert_int_equal(chunk_engine_prepare_update(engine, &id, 7000, big + 7000, 70 * KiB - 7000,
                                                 7, &update),
                     CHAINFS_OK);
    assert_false(update.in_place);
    assert_int_equal(chunk_engine_commit(engine, &id, update.version), CHAINFS_OK);
    expect_content(engine, &id, big, 70 * KiB, 0);
    struct chunk_engine_stats stats;
    chunk_engine_get_stats(engine, &stats);
    assert_int_equal(stats.in_place_appends, 2);
    assert_int_equal(stats.used_blocks, 1);
    assert_int_equal(chunk_engine_check(engine), CHAINFS_OK);
    free(big);
}

static void test_truncate(void **state)
{
    struct fixture *fixture = *state;
    struct chunk_engine *engine = fixture->engine;
    struct chunk_id id = chunk_id_make(6, 1);
    char data[20000];
    fill_pattern(data, sizeof(data), 7);
    write_chunk(engine, &id, 0, data, sizeof(data));
    assert_int_equal(chunk_engine_truncate(engine, &id, 5000, 9), CHAINFS_OK);
    expect_content(engine, &id, data, 5000, 0);
    assert_int_equal(chunk_engine_truncate(engine, &id, 9000, 9), CHAINFS_OK);
    memset(data + 5000, 0, 4000);
    expect_content(engine, &id, data, 9000, 0);
    assert_int_equal(chunk_engine_truncate(engine, &id, 0, 9), CHAINFS_OK);
    expect_content(engine, &id, data, 0, 0);
    struct chunk_metadata metadata;
    assert_int_equal(chunk_engine_stat(engine, &id, &metadata), CHAINFS_OK);
    assert_int_equal(metadata.committed.version, 4);
    assert_int_equal(metadata.committed.block.block_class, BLOCK_CLASS_NONE);
    struct chunk_id unknown = chunk_id_make(6, 2);
    assert_int_equal(chunk_engine_truncate(engine, &unknown, 10, 9), CHAINFS_NOT_FOUND);
    assert_int_equal(chunk_engine_truncate(engine, &id, CHUNK_LIMIT + 1, 9),
                     CHAINFS_INVALID_ARGUMENT);
    struct chunk_engine_stats stats;
    chunk_engine_get_stats(engine, &stats);
    assert_int_equal(stats.used_blocks, 0);
    assert_int_equal(chunk_engine_check(engine), CHAINFS_OK);
}

static void test_remove_and_last_chunk(void **state)
{
    struct fixture *fixture = *state;
    struct chunk_engine *engine = fixture->engine;
    for (uint64_t index = 0; index < 5; index++) {
        struct chunk_id id = chunk_id_make(10, index);
        write_chunk(engine, &id, 0, "abc", 3);
    }
    struct chunk_id other = chunk_id_make(11, 0);
    write_chunk(engine, &other, 0, "x", 1);
    struct chunk_id before = chunk_id_make(9, 1000);
    write_chunk(engine, &before, 0, "y", 1);

    struct chunk_metadata metadata;
    assert_int_equal(chunk_engine_last_chunk(engine, 10, &metadata), CHAINFS_OK);
    assert_int_equal(chunk_id_index(&metadata.id), 4);
    assert_int_equal(chunk_engine_last_chunk(engine, 12, &metadata), CHAINFS_NOT_FOUND);
    uint64_t removed;
    assert_int_equal(chunk_engine_remove_range(engine, 10, 2, 4, &removed), CHAINFS_OK);
    assert_int_equal(removed, 2);
    struct chunk_id gone = chunk_id_make(10, 3);
    assert_int_equal(chunk_engine_stat(engine, &gone, &metadata), CHAINFS_NOT_FOUND);
    struct chunk_id last = chunk_id_make(10, 4);
    assert_int_equal(chunk_engine_remove(engine, &last), CHAINFS_OK);
    assert_int_equal(chunk_engine_remove(engine, &last), CHAINFS_NOT_FOUND);
    assert_int_equal(chunk_engine_last_chunk(engine, 10, &metadata), CHAINFS_OK);
    assert_int_equal(chunk_id_index(&metadata.id), 1);

    /* Removing a chunk with a pending version drops both versions. */
    struct chunk_update update;
    struct chunk_id first = chunk_id_make(10, 0);
    assert_int_equal(chunk_engine_prepare_update(engine, &first, 0, "zz", 2, 7, &update),
                     CHAINFS_OK);
    assert_int_equal(chunk_engine_remove_range(engine, 10, 0, UINT64_MAX, &removed), CHAINFS_OK);
    assert_int_equal(removed, 2);
    assert_int_equal(chunk_engine_last_chunk(engine, 10, &metadata), CHAINFS_NOT_FOUND);

    struct chunk_metadata *records;
    size_t count;
    assert_int_equal(chunk_engine_dump(engine, &records, &count), CHAINFS_OK);
    assert_int_equal(count, 2);
    assert_int_equal(chunk_id_inode(&records[0].id), 9); /* id order */
    assert_int_equal(chunk_id_inode(&records[1].id), 11);
    free(records);
    struct chunk_engine_stats stats;
    chunk_engine_get_stats(engine, &stats);
    assert_int_equal(stats.used_blocks, 2);
    assert_int_equal(chunk_engine_check(engine), CHAINFS_OK);
}

/* What a replicated removal uses: the listing of a range (ascending, pending-only
 * chunks included) and the removal of exactly the listed chunks. */
static void test_list_range_and_remove_many(void **state)
{
    struct fixture *fixture = *state;
    struct chunk_engine *engine = fixture->engine;
    const uint64_t written[] = {7, 2, 30, 5, 1000};
    for (size_t i = 0; i < 5; i++) {
        struct chunk_id id = chunk_id_make(20, written[i]);
        write_chunk(engine, &id, 0, "abc", 3);
    }
    struct chunk_id neighbour = chunk_id_make(21, 3);
    write_chunk(engine, &neighbour, 0, "n", 1);
    struct chunk_update update;
    struct chunk_id pending_only = chunk_id_make(20, 3);
    assert_int_equal(chunk_engine_prepare_update(engine, &pending_only, 0, "p", 1, 1, &update),
                     CHAINFS_OK);

    uint64_t *indexes;
    size_t count;
    assert_int_equal(chunk_engine_list_range(engine, 20, 2, 31, &indexes, &count), CHAINFS_OK);
    const uint64_t expected[] = {2, 3, 5, 7, 30};
    assert_int_equal(count, 5);
    for (size_t i = 0; i < count; i++)
        assert_int_equal(indexes[i], expected[i]);
    free(indexes);
    assert_int_equal(chunk_engine_list_range(engine, 22, 0, UINT64_MAX, &indexes, &count),
                     CHAINFS_OK);
    assert_int_equal(count, 0);
    assert_null(indexes);

    /* Absent ids are skipped; the pending-only chunk goes with its pending version;
     * the chunk left out of the list (30) and the other inode stay. */
    struct chunk_id ids[] = {chunk_id_make(20, 2), chunk_id_make(20, 3), chunk_id_make(20, 4),
                             chunk_id_make(20, 5), chunk_id_make(20, 7)};
    uint64_t removed = 99;
    assert_int_equal(chunk_engine_remove_many(engine, ids, 5, &removed), CHAINFS_OK);
    assert_int_equal(removed, 4);
    assert_int_equal(chunk_engine_remove_many(engine, ids, 5, &removed), CHAINFS_OK);
    assert_int_equal(removed, 0); /* idempotent */
    assert_int_equal(chunk_engine_remove_many(engine, ids, 0, &removed), CHAINFS_OK);
    assert_int_equal(chunk_engine_list_range(engine, 20, 0, UINT64_MAX, &indexes, &count),
                     CHAINFS_OK);
    assert_int_equal(count, 2);
    assert_int_equal(indexes[0], 30);
    assert_int_equal(indexes[1], 1000);
    free(indexes);
    struct chunk_metadata metadata;
    assert_int_equal(chunk_engine_stat(engine, &neighbour, &metadata), CHAINFS_OK);
    struct chunk_engine_stats stats;
    chunk_engine_get_stats(engine, &stats);
    assert_int_equal(stats.chunks, 3);
    assert_int_equal(stats.pending_chunks, 0);
    assert_int_equal(chunk_engine_check(engine), CHAINFS_OK);
}

static void test_no_space(void **state)
{
    struct fixture *fixture = *state;
    chunk_engine_close(fixture->engine);
    fixture->options.capacity_bytes = 3 * 64 * KiB;
    assert_int_equal(chunk_engine_open(fixture->dir, &fixture->options, &fixture->engine),
                     CHAINFS_OK);
    struct chunk_engine *engine = fixture->engine;
    char data[4096];
    fill_pattern(data, sizeof(data), 8);
    for (uint64_t index = 0; index < 3; index++) {
        struct chunk_id id = chunk_id_make(20, index);
        write_chunk(engine, &id, 0, data, 1000);
    }
    struct chunk_update update;
    struct chunk_id fourth = chunk_id_make(20, 3), first = chunk_id_make(20, 0);
    assert_int_equal(chunk_engine_prepare_update(engine, &fourth, 0, data, 10, 7, &update),
                     CHAINFS_NO_SPACE);
    /* An overwrite needs a fresh block: refused, old content intact. */
    assert_int_equal(chunk_engine_prepare_update(engine, &first, 0, data + 1, 10, 7, &update),
                     CHAINFS_NO_SPACE);
    expect_content(engine, &first, data, 1000, 0);
    struct chunk_metadata metadata;
    assert_int_equal(chunk_engine_stat(engine, &fourth, &metadata), CHAINFS_NOT_FOUND);
    /* An append in place needs no block and still works. */
    assert_int_equal(chunk_engine_prepare_update(engine, &first, 1000, data + 1000, 3000, 7,
                                                 &update),
                     CHAINFS_OK);
    assert_int_equal(chunk_engine_commit(engine, &first, update.version), CHAINFS_OK);
    expect_content(engine, &first, data, 4000, 0);
    /* Freeing space makes room again. */
    assert_int_equal(chunk_engine_remove(engine, &first), CHAINFS_OK);
    write_chunk(engine, &fourth, 0, data, 10);
    struct chunk_engine_stats stats;
    chunk_engine_get_stats(engine, &stats);
    assert_int_equal(stats.used_bytes, 3 * 64 * KiB);
    assert_int_equal(stats.capacity_bytes, 3 * 64 * KiB);
    assert_int_equal(chunk_engine_check(engine), CHAINFS_OK);
}

static void test_bad_input_changes_nothing(void **state)
{
    struct fixture *fixture = *state;
    struct chunk_engine *engine = fixture->engine;
    struct chunk_id id = chunk_id_make(30, 0), unknown = chunk_id_make(30, 1);
    char data[100];
    fill_pattern(data, sizeof(data), 9);
    write_chunk(engine, &id, 0, data, sizeof(data));
    struct chunk_metadata *before, *after;
    size_t before_count, after_count;
    assert_int_equal(chunk_engine_dump(engine, &before, &before_count), CHAINFS_OK);

    struct chunk_update update;
    struct chunk_read_result result;
    char buffer[200];
    assert_int_equal(chunk_engine_prepare_update(engine, &id, CHUNK_LIMIT - 10, data, 11, 7,
                                                 &update),
                     CHAINFS_INVALID_ARGUMENT);
    assert_int_equal(chunk_engine_prepare_update(engine, &id, UINT64_MAX, data, 2, 7, &update),
                     CHAINFS_INVALID_ARGUMENT);
    assert_int_equal(chunk_engine_prepare_update(engine, &unknown, 0, NULL, 5, 7, &update),
                     CHAINFS_INVALID_ARGUMENT);
    /* Past the chunk's length is a hole of the file, not an error: 0 bytes. */
    assert_int_equal(chunk_engine_read(engine, &id, 101, 1, buffer, 0, &result), CHAINFS_OK);
    assert_int_equal(result.bytes_read, 0);
    assert_int_equal(result.chunk_length, 100);
    assert_int_equal(chunk_engine_read(engine, &id, 0, CHUNK_LIMIT + 1, buffer, 0, &result),
                     CHAINFS_INVALID_ARGUMENT);
    assert_int_equal(chunk_engine_read(engine, &unknown, 0, 1, buffer, 0, &result),
                     CHAINFS_NOT_FOUND);
    assert_int_equal(chunk_engine_read(engine, &id, 100, 10, buffer, 0, &result), CHAINFS_OK);
    assert_int_equal(result.bytes_read, 0);
    assert_int_equal(chunk_engine_remove(engine, &unknown), CHAINFS_NOT_FOUND);
    uint64_t versions[2] = {2, 2};
    struct chunk_id ids[2] = {id, unknown};
    assert_int_equal(chunk_engine_commit_many(engine, ids, versions, 2), CHAINFS_NOT_FOUND);

    assert_int_equal(chunk_engine_dump(engine, &after, &after_count), CHAINFS_OK);
    expect_same_records(before, before_count, after, after_count);
    free(before);
    free(after);
    expect_content(engine, &id, data, sizeof(data), 0);
    assert_int_equal(chunk_engine_check(engine), CHAINFS_OK);
}

static void test_commit_many(void **state)
{
    struct fixture *fixture = *state;
    struct chunk_id ids[3] = {chunk_id_make(40, 0), chunk_id_make(40, 1), chunk_id_make(41, 0)};
    uint64_t versions[3];
    for (int i = 0; i < 3; i++) {
        struct chunk_update update;
        assert_int_equal(chunk_engine_prepare_update(fixture->engine, &ids[i], 0, "data", 4, 7,
                                                     &update),
                         CHAINFS_OK);
        versions[i] = update.version;
    }
    versions[2] = 5;
    assert_int_equal(chunk_engine_commit_many(fixture->engine, ids, versions, 3),
                     CHAINFS_INVALID_ARGUMENT);
    versions[2] = 1;
    assert_int_equal(chunk_engine_commit_many(fixture->engine, ids, versions, 3), CHAINFS_OK);
    for (int i = 0; i < 3; i++)
        expect_content(fixture->engine, &ids[i], "data", 4, 0);
}

static void test_reopen_restores_everything(void **state)
{
    struct fixture *fixture = *state;
    char *data = malloc(300 * KiB);
    fill_pattern(data, 300 * KiB, 11);
    struct chunk_id plain = chunk_id_make(50, 0), appended = chunk_id_make(50, 1),
                    rewritten = chunk_id_make(50, 2), fresh = chunk_id_make(50, 3);
    write_chunk(fixture->engine, &plain, 0, data, 300 * KiB);
    write_chunk(fixture->engine, &appended, 0, data, 1000);
    write_chunk(fixture->engine, &rewritten, 0, data, 2000);
    struct chunk_update update;
    assert_int_equal(chunk_engine_prepare_update(fixture->engine, &appended, 1000, data + 1000,
                                                 1000, 7, &update),
                     CHAINFS_OK);
    assert_int_equal(chunk_engine_prepare_update(fixture->engine, &rewritten, 0, data + 5, 10, 7,
                                                 &update),
                     CHAINFS_OK);
    assert_int_equal(chunk_engine_prepare_update(fixture->engine, &fresh, 0, data, 10, 7,
                                                 &update),
                     CHAINFS_OK);
    struct chunk_metadata *before, *after;
    size_t before_count, after_count;
    assert_int_equal(chunk_engine_dump(fixture->engine, &before, &before_count), CHAINFS_OK);
    struct chunk_engine_stats stats_before, stats_after;
    chunk_engine_get_stats(fixture->engine, &stats_before);

    reopen(fixture);
    assert_int_equal(chunk_engine_dump(fixture->engine, &after, &after_count), CHAINFS_OK);
    expect_same_records(before, before_count, after, after_count);
    chunk_engine_get_stats(fixture->engine, &stats_after);
    assert_int_equal(stats_before.used_blocks, stats_after.used_blocks);
    assert_int_equal(stats_after.pending_chunks, 3);
    assert_int_equal(chunk_engine_check(fixture->engine), CHAINFS_OK);
    expect_content(fixture->engine, &plain, data, 300 * KiB, 0);
    expect_content(fixture->engine, &appended, data, 2000, CHUNK_READ_PENDING);

    assert_int_equal(chunk_engine_commit(fixture->engine, &appended, 2), CHAINFS_OK);
    assert_int_equal(chunk_engine_abort(fixture->engine, &rewritten, 2), CHAINFS_OK);
    assert_int_equal(chunk_engine_commit(fixture->engine, &fresh, 1), CHAINFS_OK);
    expect_content(fixture->engine, &appended, data, 2000, 0);
    expect_content(fixture->engine, &rewritten, data, 2000, 0);
    expect_content(fixture->engine, &fresh, data, 10, 0);
    assert_int_equal(chunk_engine_check(fixture->engine), CHAINFS_OK);
    free(before);
    free(after);
    free(data);
}

static void test_synchronous_fallback_with_sync(void **state)
{
    struct fixture *fixture = *state;
    chunk_engine_close(fixture->engine);
    fixture->options.synchronous_io = true;
    fixture->options.sync = true;
    assert_int_equal(chunk_engine_open(fixture->dir, &fixture->options, &fixture->engine),
                     CHAINFS_OK);
    struct chunk_engine_stats stats;
    chunk_engine_get_stats(fixture->engine, &stats);
    assert_false(stats.uses_uring);
    char data[5000];
    fill_pattern(data, sizeof(data), 12);
    struct chunk_id id = chunk_id_make(60, 0);
    write_chunk(fixture->engine, &id, 0, data, 3000);
    write_chunk(fixture->engine, &id, 3000, data + 3000, 2000);
    reopen(fixture);
    expect_content(fixture->engine, &id, data, sizeof(data), 0);
}

static void test_aligned_read_goes_direct(void **state)
{
    struct fixture *fixture = *state;
    struct chunk_id id = chunk_id_make(70, 0);
    char *data = malloc(256 * KiB);
    fill_pattern(data, 256 * KiB, 13);
    write_chunk(fixture->engine, &id, 0, data, 256 * KiB);
    void *aligned = aligned_buffer_alloc(256 * KiB);
    struct chunk_read_result result;
    assert_int_equal(chunk_engine_read(fixture->engine, &id, 4 * KiB, 8 * KiB, aligned, 0,
                                       &result),
                     CHAINFS_OK);
    assert_int_equal(result.bytes_read, 8 * KiB);
    assert_memory_equal(aligned, data + 4 * KiB, 8 * KiB);
    assert_int_equal(chunk_engine_read(fixture->engine, &id, 0, 256 * KiB, aligned, 0, &result),
                     CHAINFS_OK);
    assert_memory_equal(aligned, data, 256 * KiB);
    aligned_buffer_free(aligned, 256 * KiB);
    free(data);
}

/* A commit that replaces a block a read still uses leaves the block allocated until the
 * read lets go (the read is simulated by pinning the block as chunk_engine_read does). */
static void test_replaced_block_waits_for_reader(void **state)
{
    struct fixture *fixture = *state;
    struct chunk_engine *engine = fixture->engine;
    struct chunk_id id = chunk_id_make(80, 0);
    write_chunk(engine, &id, 0, "old", 3);
    pthread_mutex_lock(&engine->lock);
    struct block_reference *pinned = chunk_index_find(&engine->index, &id)->committed_block;
    block_reference_acquire_reader(pinned);
    pthread_mutex_unlock(&engine->lock);

    write_chunk(engine, &id, 0, "new", 3);
    struct chunk_engine_stats stats;
    chunk_engine_get_stats(engine, &stats);
    assert_int_equal(stats.used_blocks, 2);
    assert_int_equal(stats.referenced_blocks, 1);
    assert_int_equal(stats.held_blocks, 1);
    assert_int_equal(chunk_engine_check(engine), CHAINFS_OK);
    /* A new chunk cannot get the pinned block. */
    struct chunk_id other = chunk_id_make(80, 1);
    write_chunk(engine, &other, 0, "x", 1);
    struct chunk_metadata metadata;
    assert_int_equal(chunk_engine_stat(engine, &other, &metadata), CHAINFS_OK);
    assert_false(metadata.committed.block.index == pinned->location.index);

    pthread_mutex_lock(&engine->lock);
    block_reference_release_reader(pinned, engine->pool, &engine->references);
    pthread_mutex_unlock(&engine->lock);
    chunk_engine_get_stats(engine, &stats);
    assert_int_equal(stats.used_blocks, 2);
    assert_int_equal(stats.held_blocks, 0);
    assert_int_equal(chunk_engine_check(engine), CHAINFS_OK);
    expect_content(engine, &id, "new", 3, 0);
}

static void test_install_replaces_and_commits(void **state)
{
    struct fixture *fixture = *state;
    struct chunk_engine *engine = fixture->engine;
    struct chunk_id id = chunk_id_make(90, 0);
    char data[100000];
    fill_pattern(data, sizeof(data), 14);
    struct chunk_update update;
    assert_int_equal(chunk_engine_install(engine, &id, data, sizeof(data), 0, 3, &update),
                     CHAINFS_INVALID_ARGUMENT);
    assert_int_equal(chunk_engine_install(engine, &id, data, sizeof(data), 5, 3, &update),
                     CHAINFS_OK);
    assert_int_equal(update.version, 5);
    assert_int_equal(update.crc, crc32c(0, data, sizeof(data)));
    expect_content(engine, &id, data, sizeof(data), 0);

    /* A shorter install replaces the content exactly and drops a pending version. */
    assert_int_equal(chunk_engine_prepare_update(engine, &id, 0, "pending", 7, 3, &update),
                     CHAINFS_OK);
    assert_int_equal(update.version, 6);
    assert_int_equal(chunk_engine_install(engine, &id, data + 7, 5000, 9, 4, &update),
                     CHAINFS_OK);
    struct chunk_metadata metadata;
    assert_int_equal(chunk_engine_stat(engine, &id, &metadata), CHAINFS_OK);
    assert_int_equal(metadata.committed.version, 9);
    assert_int_equal(metadata.committed.chain_version, 4);
    assert_int_equal(metadata.pending.version, 0);
    expect_content(engine, &id, data + 7, 5000, 0);
    struct chunk_engine_stats stats;
    chunk_engine_get_stats(engine, &stats);
    assert_int_equal(stats.used_blocks, 1);
    assert_int_equal(stats.installs, 2);
    reopen(fixture);
    expect_content(fixture->engine, &id, data + 7, 5000, 0);
    assert_int_equal(chunk_engine_check(fixture->engine), CHAINFS_OK);
}

static void test_largest_class(void **state)
{
    struct fixture *fixture = *state;
    chunk_engine_close(fixture->engine);
    fixture->options.chunk_size_limit = 0; /* the default: 64 MiB */
    assert_int_equal(chunk_engine_open(fixture->dir, &fixture->options, &fixture->engine),
                     CHAINFS_OK);
    uint64_t size = BLOCK_SIZE_MAX;
    char *data = malloc(size);
    fill_pattern(data, size, 15);
    struct chunk_id id = chunk_id_make(95, 0);
    write_chunk(fixture->engine, &id, 0, data, 3 * 1024 * KiB);
    write_chunk(fixture->engine, &id, 3 * 1024 * KiB, data + 3 * 1024 * KiB,
                size - 3 * 1024 * KiB);
    struct chunk_engine_stats stats;
    chunk_engine_get_stats(fixture->engine, &stats);
    assert_int_equal(stats.classes[BLOCK_CLASS_COUNT - 1].used_blocks, 1);
    assert_int_equal(stats.used_blocks, 1);
    char *buffer = malloc(size);
    struct chunk_read_result result;
    assert_int_equal(chunk_engine_read(fixture->engine, &id, 0, size, buffer, 0, &result),
                     CHAINFS_OK);
    assert_int_equal(result.bytes_read, size);
    assert_true(memcmp(buffer, data, size) == 0);
    struct chunk_update update;
    assert_int_equal(chunk_engine_prepare_update(fixture->engine, &id, size, "x", 1, 7, &update),
                     CHAINFS_INVALID_ARGUMENT);
    free(buffer);
    free(data);
}

/* Metadata naming a block its file does not have is refused at open, not served. */
static void test_recovery_refuses_a_block_outside_its_file(void **state)
{
    struct fixture *fixture = *state;
    struct chunk_id id = chunk_id_make(96, 0);
    write_chunk(fixture->engine, &id, 0, "data", 4);
    chunk_engine_close(fixture->engine);
    fixture->engine = NULL;
    char path[512];
    snprintf(path, sizeof(path), "%s/blocks-64K", fixture->dir);
    assert_int_equal(truncate(path, 0), 0);
    assert_int_equal(chunk_engine_open(fixture->dir, &fixture->options, &fixture->engine),
                     CHAINFS_INTERNAL);
    assert_null(fixture->engine);
    /* A longer file than the metadata needs is fine: the extra blocks are free. */
    assert_int_equal(truncate(path, 8 * 64 * KiB), 0);
    assert_int_equal(chunk_engine_open(fixture->dir, &fixture->options, &fixture->engine),
                     CHAINFS_OK);
    struct chunk_engine_stats stats;
    chunk_engine_get_stats(fixture->engine, &stats);
    assert_int_equal(stats.classes[0].file_blocks, 8);
    assert_int_equal(stats.classes[0].used_blocks, 1);
    assert_int_equal(chunk_engine_check(fixture->engine), CHAINFS_OK);
}

static void test_second_open_is_refused(void **state)
{
    struct fixture *fixture = *state;
    struct chunk_engine *second = NULL;
    assert_int_equal(chunk_engine_open(fixture->dir, &fixture->options, &second), CHAINFS_BUSY);
    assert_null(second);
    struct chunk_engine_options too_large = fixture->options;
    too_large.chunk_size_limit = BLOCK_SIZE_MAX + 1;
    char other[256];
    assert_int_equal(make_scratch_dir(other, sizeof(other), "options"), 0);
    assert_int_equal(chunk_engine_open(other, &too_large, &second), CHAINFS_INVALID_ARGUMENT);
    remove_tree(other);
}

/* Concurrent writers (each owning its chunks) and readers that check every CRC. */
#define WRITERS 3
#define READERS 2
#define CHUNKS_PER_WRITER 4
#define WRITES_PER_WRITER 60

struct concurrency {
    struct chunk_engine *engine;
    int writer;
    _Atomic int *writers_left;
    _Atomic int read_failures;
};

static void *writer_thread(void *argument)
{
    struct concurrency *context = argument;
    char *data = malloc(200 * KiB);
    for (int i = 0; i < WRITES_PER_WRITER; i++) {
        struct chunk_id id = chunk_id_make(100 + (uint64_t)context->writer,
                                           (uint64_t)(i % CHUNKS_PER_WRITER));
        uint64_t length = (uint64_t)(i * 7919 % (200 * 1024)) + 1;
        fill_pattern(data, length, (uint64_t)i);
        struct chunk_update update;
        uint64_t offset = (uint64_t)(i % 3) * 4000;
        if (chunk_engine_prepare_update(context->engine, &id, offset, data, length, 1,
                                        &update) != CHAINFS_OK ||
            chunk_engine_commit(context->engine, &id, update.version) != CHAINFS_OK)
            context->read_failures++;
    }
    free(data);
    (*context->writers_left)--;
    return NULL;
}

static void *reader_thread(void *argument)
{
    struct concurrency *context = argument;
    char *buffer = malloc(CHUNK_LIMIT);
    for (unsigned i = 0; *context->writers_left > 0; i++) {
        struct chunk_id id = chunk_id_make(100 + i % WRITERS, (i / WRITERS) % CHUNKS_PER_WRITER);
        struct chunk_read_result result;
        int status = chunk_engine_read(context->engine, &id, 0, CHUNK_LIMIT, buffer, 0, &result);
        if (status == CHAINFS_OK && crc32c(0, buffer, result.bytes_read) != result.crc)
            status = CHAINFS_CHECKSUM;
        if (status != CHAINFS_OK && status != CHAINFS_NOT_FOUND)
            context->read_failures++;
    }
    free(buffer);
    return NULL;
}

static void run_concurrent_writers_and_readers(struct fixture *fixture)
{
    _Atomic int writers_left = WRITERS;
    struct concurrency contexts[WRITERS + READERS];
    pthread_t threads[WRITERS + READERS];
    for (int i = 0; i < WRITERS + READERS; i++) {
        contexts[i] = (struct concurrency){fixture->engine, i, &writers_left, 0};
        pthread_create(&threads[i], NULL, i < WRITERS ? writer_thread : reader_thread,
                       &contexts[i]);
    }
    int failures = 0;
    for (int i = 0; i < WRITERS + READERS; i++) {
        pthread_join(threads[i], NULL);
        failures += contexts[i].read_failures;
    }
    assert_int_equal(failures, 0);
    struct chunk_engine_stats stats;
    chunk_engine_get_stats(fixture->engine, &stats);
    assert_int_equal(stats.chunks, WRITERS * CHUNKS_PER_WRITER);
    assert_int_equal(stats.used_blocks, WRITERS * CHUNKS_PER_WRITER);
    assert_int_equal(stats.held_blocks, 0);
    assert_true(stats.uses_uring);
    assert_int_equal(chunk_engine_check(fixture->engine), CHAINFS_OK);
}

static void test_concurrent_writers_and_readers(void **state)
{
    run_concurrent_writers_and_readers(*state);
}

/* With sync, concurrent commits share LMDB transactions (group commit). */
static void test_concurrent_writers_with_sync(void **state)
{
    struct fixture *fixture = *state;
    chunk_engine_close(fixture->engine);
    fixture->options.sync = true;
    assert_int_equal(chunk_engine_open(fixture->dir, &fixture->options, &fixture->engine),
                     CHAINFS_OK);
    run_concurrent_writers_and_readers(fixture);
    struct chunk_engine_stats stats;
    chunk_engine_get_stats(fixture->engine, &stats);
    print_message("group commit: %llu batches in %llu LMDB transactions\n",
                  (unsigned long long)stats.metadata_batches,
                  (unsigned long long)stats.metadata_transactions);
    assert_true(stats.metadata_transactions <= stats.metadata_batches);
    reopen(fixture);
    assert_int_equal(chunk_engine_check(fixture->engine), CHAINFS_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunk_id_order),
        cmocka_unit_test(test_metadata_record),
        cmocka_unit_test_setup_teardown(test_write_commit_read, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewrites_keep_what_they_do_not_cover, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_during_update_sees_committed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_copy_on_write_frees_old_blocks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_in_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_and_last_chunk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_range_and_remove_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_space, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_many, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_restores_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_synchronous_fallback_with_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aligned_read_goes_direct, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replaced_block_waits_for_reader, setup, teardown),
        cmocka_unit_test_setup_teardown(test_install_replaces_and_commits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_largest_class, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_refuses_a_block_outside_its_file, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_second_open_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers_and_readers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_writers_with_sync, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
