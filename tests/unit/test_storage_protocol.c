/*
 * test_storage_protocol.c - every storage message survives an encode/decode round
 * trip; truncated bodies, trailing bytes, out-of-range enums and counts are refused;
 * the routing lookups used for forwarding (successor, head) skip targets that do
 * not receive writes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mgmtd/routing_cache.h"
#include "mgmtd/target_state.h"
#include "storage/storage_protocol.h"

/* Decodes writer's bytes with decode and checks the result. */
#define DECODES(writer, decode, out)                                                        \
    ({                                                                                      \
        struct wire_reader reader_;                                                         \
        wire_reader_init(&reader_, (writer)->data, (writer)->length);                       \
        decode(&reader_, out);                                                              \
    })

/* Every strict prefix of a body must fail to decode, and so must the body with one
 * extra byte. */
#define REFUSES_PREFIXES_AND_TRAILER(writer, decode, type)                                  \
    do {                                                                                    \
        for (size_t cut = 0; cut < (writer)->length; cut++) {                               \
            struct wire_reader reader_;                                                     \
            type scratch_;                                                                  \
            wire_reader_init(&reader_, (writer)->data, cut);                                \
            assert_false(decode(&reader_, &scratch_));                                      \
        }                                                                                   \
        wire_put_u8((writer), 0);                                                           \
        type scratch_;                                                                      \
        assert_false(DECODES((writer), decode, &scratch_));                                 \
    } while (0)


/* Structs have padding, so a decoded message is compared with the original by
 * encoding it again: the same bytes mean the same fields. */
#define SAME_ENCODING(encode, a, b)                                                         \
    do {                                                                                    \
        struct wire_writer first_, second_;                                                 \
        wire_writer_init(&first_);                                                          \
        wire_writer_init(&second_);                                                         \
        encode(&first_, a);                                                                 \
        encode(&second_, b);                                                                \
        assert_int_equal(first_.length, second_.length);                                    \
        assert_memory_equal(first_.data, second_.data, first_.length);                      \
        wire_writer_free(&first_);                                                          \
        wire_writer_free(&second_);                                                         \
    } while (0)

#define BATCH_ENCODE3(w, x) storage_batch_read_request_encode(w, x, 3)
#define RESULTS_ENCODE2(w, x) storage_batch_read_reply_encode(w, x, 2)
#define TARGETS_ENCODE2(w, x) storage_space_info_reply_encode(w, x, 2)
#define RECORDS_ENCODE2(w, x) storage_dump_reply_encode(w, x, 2, true)

static struct storage_client_tag sample_tag(void)
{
    struct storage_client_tag tag = {.channel = 7, .sequence = 123456789};
    for (int i = 0; i < STORAGE_CLIENT_ID_SIZE; i++)
        tag.client_id[i] = (uint8_t)(i + 1);
    return tag;
}

static void test_write_request(void **state)
{
    (void)state;
    struct storage_write_request in = {
        .target_id = 101, .chain_id = 5, .chain_version = 9,
        .chunk_id = chunk_id_make(0x1122334455667788ull, 3), .offset = 4096,
        .length = 65536, .chunk_size = 1u << 20, .tag = sample_tag()};
    struct wire_writer writer;
    wire_writer_init(&writer);
    storage_write_request_encode(&writer, &in);
    struct storage_write_request out;
    assert_true(DECODES(&writer, storage_write_request_decode, &out));
    SAME_ENCODING(storage_write_request_encode, &in, &out);
    assert_int_equal(out.offset, 4096);
    assert_int_equal(out.tag.sequence, 123456789);
    assert_true(storage_client_tag_is_set(&out.tag));
    REFUSES_PREFIXES_AND_TRAILER(&writer, storage_write_request_decode, struct storage_write_request);
    wire_writer_free(&writer);

    struct storage_client_tag empty = {.channel = 1, .sequence = 1};
    assert_false(storage_client_tag_is_set(&empty));
}

static void test_update_request(void **state)
{
    (void)state;
    struct storage_update_request in;
    memset(&in, 0, sizeof in);
    in.target_id = 202;
    in.chain_id = 6;
    in.chain_version = 10;
    in.chunk_id = chunk_id_make(42, 0);
    in.kind = STORAGE_UPDATE_REPLACE;
    in.offset = 0;
    in.length = 100;
    in.chunk_size = 4096;
    in.update_version = 77;
    in.chunk_chain_version = 8;
    in.expected_crc = 0xdeadbeef;
    in.expected_length = 100;
    in.tag = sample_tag();
    struct wire_writer writer;
    wire_writer_init(&writer);
    storage_update_request_encode(&writer, &in);
    struct storage_update_request out;
    memset(&out, 0, sizeof out);
    assert_true(DECODES(&writer, storage_update_request_decode, &out));
    SAME_ENCODING(storage_update_request_encode, &in, &out);
    assert_int_equal(out.update_version, 77);
    assert_int_equal(out.expected_crc, 0xdeadbeef);
    REFUSES_PREFIXES_AND_TRAILER(&writer, storage_update_request_decode,
                                 struct storage_update_request);
    wire_writer_free(&writer);

    /* Kinds outside 1..4 are malformed. */
    static const uint8_t bad_kinds[] = {0, 5, 255};
    for (size_t i = 0; i < sizeof bad_kinds; i++) {
        in.kind = bad_kinds[i];
        wire_writer_init(&writer);
        storage_update_request_encode(&writer, &in);
        assert_false(DECODES(&writer, storage_update_request_decode, &out));
        wire_writer_free(&writer);
    }
}

static void test_commit_and_small_messages(void **state)
{
    (void)state;
    struct wire_writer writer;

    struct storage_commit_reply commit = {.version = 3, .length = 5000, .crc = 0x12345678};
    struct storage_commit_reply commit_out;
    wire_writer_init(&writer);
    storage_commit_reply_encode(&writer, &commit);
    assert_true(DECODES(&writer, storage_commit_reply_decode, &commit_out));
    SAME_ENCODING(storage_commit_reply_encode, &commit, &commit_out);
    REFUSES_PREFIXES_AND_TRAILER(&writer, storage_commit_reply_decode, struct storage_commit_reply);
    wire_writer_free(&writer);

    struct storage_last_chunk_request last = {.target_id = 1, .chain_id = 2, .inode = 3};
    struct storage_last_chunk_request last_out;
    wire_writer_init(&writer);
    storage_last_chunk_request_encode(&writer, &last);
    assert_true(DECODES(&writer, storage_last_chunk_request_decode, &last_out));
    SAME_ENCODING(storage_last_chunk_request_encode, &last, &last_out);
    REFUSES_PREFIXES_AND_TRAILER(&writer, storage_last_chunk_request_decode,
                                 struct storage_last_chunk_request);
    wire_writer_free(&writer);

    struct storage_last_chunk_reply last_reply = {
        .found = true, .index = 17, .length = 999, .version = 4, .pending = true};
    struct storage_last_chunk_reply last_reply_out;
    wire_writer_init(&writer);
    storage_last_chunk_reply_encode(&writer, &last_reply);
    assert_true(DECODES(&writer, storage_last_chunk_reply_decode, &last_reply_out));
    SAME_ENCODING(storage_last_chunk_reply_encode, &last_reply, &last_reply_out);
    REFUSES_PREFIXES_AND_TRAILER(&writer, storage_last_chunk_reply_decode,
                                 struct storage_last_chunk_reply);
    /* A bool byte other than 0/1 is malformed. */
    writer.data[0] = 2;
    assert_false(DECODES(&writer, storage_last_chunk_reply_decode, &last_reply_out));
    wire_writer_free(&writer);

    struct storage_remove_chunks_request remove = {
        .target_id = 1, .chain_id = 2, .chain_version = 3, .inode = 4, .first_index = 5,
        .end_index = 6};
    struct storage_remove_chunks_request remove_out;
    wire_writer_init(&writer);
    storage_remove_chunks_request_encode(&writer, &remove);
    assert_true(DECODES(&writer, storage_remove_chunks_request_decode, &remove_out));
    SAME_ENCODING(storage_remove_chunks_request_encode, &remove, &remove_out);
    REFUSES_PREFIXES_AND_TRAILER(&writer, storage_remove_chunks_request_decode,
                                 struct storage_remove_chunks_request);
    wire_writer_free(&writer);

    struct storage_truncate_request truncate = {
        .target_id = 1, .chain_id = 2, .chain_version = 3, .chunk_id = chunk_id_make(4, 5),
        .length = 6, .chunk_size = 7};
    struct storage_truncate_request truncate_out;
    wire_writer_init(&writer);
    storage_truncate_request_encode(&writer, &truncate);
    assert_true(DECODES(&writer, storage_truncate_request_decode, &truncate_out));
    SAME_ENCODING(storage_truncate_request_encode, &truncate, &truncate_out);
    REFUSES_PREFIXES_AND_TRAILER(&writer, storage_truncate_request_decode,
                                 struct storage_truncate_request);
    wire_writer_free(&writer);

    struct storage_create_target_request create = {.target_id = 9, .disk_index = 1};
    struct storage_create_target_request create_out;
    wire_writer_init(&writer);
    storage_create_target_request_encode(&writer, &create);
    assert_true(DECODES(&writer, storage_create_target_request_decode, &create_out));
    SAME_ENCODING(storage_create_target_request_encode, &create, &create_out);
    REFUSES_PREFIXES_AND_TRAILER(&writer, storage_create_target_request_decode,
                                 struct storage_create_target_request);
    wire_writer_free(&writer);
    create.target_id = 0; /* target 0 does not exist */
    wire_writer_init(&writer);
    storage_create_target_request_encode(&writer, &create);
    assert_false(DECODES(&writer, storage_create_target_request_decode, &create_out));
    wire_writer_free(&writer);

    struct storage_sync_done_request done = {.target_id = 1, .chain_id = 2, .chain_version = 3};
    struct storage_sync_done_request done_out;
    wire_writer_init(&writer);
    storage_sync_done_request_encode(&writer, &done);
    assert_true(DECODES(&writer, storage_sync_done_request_decode, &done_out));
    SAME_ENCODING(storage_sync_done_request_encode, &done, &done_out);
    REFUSES_PREFIXES_AND_TRAILER(&writer, storage_sync_done_request_decode,
                                 struct storage_sync_done_request);
    wire_writer_free(&writer);
}

static bool decode_batch(struct wire_reader *reader, uint64_t max, struct storage_read_item **items,
                         size_t *count)
{
    bool ok = storage_batch_read_request_decode(reader, max, items, count);
    if (!ok)
        assert_null(*items);
    return ok;
}

static void test_batch_read(void **state)
{
    (void)state;
    struct storage_read_item items[3];
    memset(items, 0, sizeof items);
    for (int i = 0; i < 3; i++) {
        items[i].target_id = 100 + (uint64_t)i;
        items[i].chain_id = 1 + (uint32_t)i;
        items[i].chunk_id = chunk_id_make(7, (uint64_t)i);
        items[i].offset = 512 * (uint64_t)i;
        items[i].length = 4096;
        items[i].flags = i == 1 ? STORAGE_READ_RELAXED : 0;
    }
    struct wire_writer writer;
    wire_writer_init(&writer);
    storage_batch_read_request_encode(&writer, items, 3);
    struct wire_reader reader;
    struct storage_read_item *out = NULL;
    size_t count = 0;
    wire_reader_init(&reader, writer.data, writer.length);
    assert_true(decode_batch(&reader, 3 * 4096, &out, &count));
    assert_int_equal(count, 3);
    SAME_ENCODING(BATCH_ENCODE3, items, out);
    assert_int_equal(out[1].flags, STORAGE_READ_RELAXED);
    assert_int_equal(out[2].offset, 1024);
    free(out);
    /* Total length over the limit. */
    wire_reader_init(&reader, writer.data, writer.length);
    assert_false(decode_batch(&reader, 3 * 4096 - 1, &out, &count));
    /* Truncated anywhere, or with a trailing byte. */
    for (size_t cut = 0; cut < writer.length; cut++) {
        wire_reader_init(&reader, writer.data, cut);
        assert_false(decode_batch(&reader, UINT64_MAX, &out, &count));
    }
    wire_put_u8(&writer, 0);
    wire_reader_init(&reader, writer.data, writer.length);
    assert_false(decode_batch(&reader, UINT64_MAX, &out, &count));
    wire_writer_free(&writer);

    /* Unknown flag bits. */
    items[2].flags = 0x80;
    wire_writer_init(&writer);
    storage_batch_read_request_encode(&writer, items, 3);
    wire_reader_init(&reader, writer.data, writer.length);
    assert_false(decode_batch(&reader, UINT64_MAX, &out, &count));
    wire_writer_free(&writer);

    /* An empty batch, and a count larger than the limit or than the bytes sent. */
    const uint32_t bad_counts[] = {0, STORAGE_BATCH_READ_ITEMS_MAX + 1, 1000000};
    for (size_t i = 0; i < 3; i++) {
        wire_writer_init(&writer);
        wire_put_u32(&writer, bad_counts[i]);
        wire_reader_init(&reader, writer.data, writer.length);
        assert_false(decode_batch(&reader, UINT64_MAX, &out, &count));
        wire_writer_free(&writer);
    }

    struct storage_read_result results[2] = {
        {.status = 0, .length = 4096, .version = 3, .chunk_length = 8192, .crc = 0xabc},
        {.status = 34, .length = 0, .version = 0, .chunk_length = 0, .crc = 0}};
    wire_writer_init(&writer);
    storage_batch_read_reply_encode(&writer, results, 2);
    struct storage_read_result *results_out = NULL;
    wire_reader_init(&reader, writer.data, writer.length);
    assert_true(storage_batch_read_reply_decode(&reader, &results_out, &count));
    assert_int_equal(count, 2);
    SAME_ENCODING(RESULTS_ENCODE2, results, results_out);
    assert_int_equal(results_out[1].status, 34);
    free(results_out);
    wire_reader_init(&reader, writer.data, writer.length - 1);
    assert_false(storage_batch_read_reply_decode(&reader, &results_out, &count));
    assert_null(results_out);
    wire_writer_free(&writer);
}

static void test_space_info_and_dump(void **state)
{
    (void)state;
    struct storage_target_info targets[2];
    memset(targets, 0, sizeof targets);
    targets[0] = (struct storage_target_info){
        .target_id = 1, .disk_index = 0, .chain_id = 3, .local_state = 1, .public_state = 1,
        .used_bytes = 1 << 20, .capacity_bytes = 1 << 30, .chunks = 5, .pending_chunks = 1,
        .sync_active = true, .sync_chunks_transferred = 4, .sync_chunks_removed = 2,
        .sync_bytes_transferred = 9999, .sync_rounds_completed = 1};
    targets[1].target_id = 2;
    struct wire_writer writer;
    wire_writer_init(&writer);
    storage_space_info_reply_encode(&writer, targets, 2);
    struct wire_reader reader;
    struct storage_target_info *targets_out = NULL;
    size_t count = 0;
    wire_reader_init(&reader, writer.data, writer.length);
    assert_true(storage_space_info_reply_decode(&reader, &targets_out, &count));
    assert_int_equal(count, 2);
    SAME_ENCODING(TARGETS_ENCODE2, targets, targets_out);
    assert_int_equal(targets_out[0].sync_bytes_transferred, 9999);
    free(targets_out);
    wire_reader_init(&reader, writer.data, writer.length - 1);
    assert_false(storage_space_info_reply_decode(&reader, &targets_out, &count));
    wire_writer_free(&writer);

    struct storage_dump_request dump = {
        .target_id = 5, .has_after = true, .after = chunk_id_make(1, 2), .max_records = 100};
    struct storage_dump_request dump_out;
    wire_writer_init(&writer);
    storage_dump_request_encode(&writer, &dump);
    assert_true(DECODES(&writer, storage_dump_request_decode, &dump_out));
    SAME_ENCODING(storage_dump_request_encode, &dump, &dump_out);
    REFUSES_PREFIXES_AND_TRAILER(&writer, storage_dump_request_decode, struct storage_dump_request);
    wire_writer_free(&writer);
    const uint32_t bad_max[] = {0, STORAGE_DUMP_RECORDS_MAX + 1};
    for (size_t i = 0; i < 2; i++) {
        dump.max_records = bad_max[i];
        wire_writer_init(&writer);
        storage_dump_request_encode(&writer, &dump);
        assert_false(DECODES(&writer, storage_dump_request_decode, &dump_out));
        wire_writer_free(&writer);
    }

    struct storage_chunk_record records[2];
    memset(records, 0, sizeof records);
    records[0].chunk_id = chunk_id_make(1, 0);
    records[0].committed = (struct storage_chunk_version){2, 3, 4, 5};
    records[1].chunk_id = chunk_id_make(1, 1);
    records[1].pending = (struct storage_chunk_version){6, 7, 8, 9};
    wire_writer_init(&writer);
    storage_dump_reply_encode(&writer, records, 2, true);
    struct storage_chunk_record *records_out = NULL;
    bool more = false;
    wire_reader_init(&reader, writer.data, writer.length);
    assert_true(storage_dump_reply_decode(&reader, &records_out, &count, &more));
    assert_int_equal(count, 2);
    assert_true(more);
    SAME_ENCODING(RECORDS_ENCODE2, records, records_out);
    assert_int_equal(records_out[1].pending.crc, 9);
    free(records_out);
    for (size_t cut = 0; cut < writer.length; cut++) {
        wire_reader_init(&reader, writer.data, cut);
        assert_false(storage_dump_reply_decode(&reader, &records_out, &count, &more));
        assert_null(records_out);
    }
    wire_writer_free(&writer);
}

/* A routing info with one chain of four targets in the given public states. */
static void make_routing(struct routing_info *info, const uint8_t states[4])
{
    memset(info, 0, sizeof *info);
    info->version = 1;
    info->node_count = 2;
    info->nodes = calloc(2, sizeof *info->nodes);
    info->nodes[0] = (struct node_record){.node_id = 1, .type = 3, .enabled = true, .alive = true};
    strcpy(info->nodes[0].address, "127.0.0.1:1001");
    info->nodes[1] = (struct node_record){.node_id = 2, .type = 3, .enabled = true, .alive = true};
    info->target_count = 4;
    info->targets = calloc(4, sizeof *info->targets);
    for (int i = 0; i < 4; i++)
        info->targets[i] = (struct target_record){.target_id = 10 + (uint64_t)i,
                                                  .node_id = i == 0 ? 1 : 2,
                                                  .public_state = states[i], .chain_id = 1};
    info->chain_count = 1;
    info->chains = calloc(1, sizeof *info->chains);
    info->chains[0] = (struct chain_record){.chain_id = 1, .version = 4, .target_count = 4,
                                            .target_ids = {10, 11, 12, 13}};
}

/* Encodes a REMOVE_LISTED request with these indexes and decodes it. */
static bool remove_listed_decodes(const uint64_t *indexes, size_t count,
                                  struct storage_remove_listed_request *out)
{
    struct storage_remove_listed_request m = {.target_id = 1, .chain_id = 2, .chain_version = 3,
                                              .inode = 4, .indexes = (uint64_t *)indexes,
                                              .count = count};
    struct wire_writer writer;
    wire_writer_init(&writer);
    storage_remove_listed_request_encode(&writer, &m);
    bool ok = DECODES(&writer, storage_remove_listed_request_decode, out);
    wire_writer_free(&writer);
    return ok;
}

static void test_remove_listed_request(void **state)
{
    (void)state;
    const uint64_t indexes[] = {0, 5, 6, UINT64_MAX};
    struct storage_remove_listed_request m = {.target_id = 11, .chain_id = 12,
                                              .chain_version = 13, .inode = 14,
                                              .indexes = (uint64_t *)indexes, .count = 4};
    struct storage_remove_listed_request out;
    struct wire_writer writer;
    wire_writer_init(&writer);
    storage_remove_listed_request_encode(&writer, &m);
    assert_int_equal(writer.length, 8 + 4 + 8 + 8 + 4 + 4 * 8);
    assert_true(DECODES(&writer, storage_remove_listed_request_decode, &out));
    assert_int_equal(out.count, 4);
    assert_memory_equal(out.indexes, indexes, sizeof indexes);
    SAME_ENCODING(storage_remove_listed_request_encode, &m, &out);
    free(out.indexes);
    REFUSES_PREFIXES_AND_TRAILER(&writer, storage_remove_listed_request_decode,
                                 struct storage_remove_listed_request);
    wire_writer_free(&writer);

    /* An empty list is a valid (idempotent retry) request. */
    assert_true(remove_listed_decodes(NULL, 0, &out));
    assert_int_equal(out.count, 0);
    free(out.indexes);
    /* Not strictly ascending: refused (a receiver locks them in this order). */
    const uint64_t repeated[] = {1, 2, 2};
    assert_false(remove_listed_decodes(repeated, 3, &out));
    assert_null(out.indexes);
    const uint64_t descending[] = {9, 3};
    assert_false(remove_listed_decodes(descending, 2, &out));
    /* At most REMOVE_LISTED_MAX. */
    uint64_t *many = calloc(STORAGE_REMOVE_LISTED_MAX + 1, sizeof *many);
    assert_non_null(many);
    for (size_t i = 0; i <= STORAGE_REMOVE_LISTED_MAX; i++)
        many[i] = i;
    assert_true(remove_listed_decodes(many, STORAGE_REMOVE_LISTED_MAX, &out));
    assert_int_equal(out.count, STORAGE_REMOVE_LISTED_MAX);
    free(out.indexes);
    assert_false(remove_listed_decodes(many, STORAGE_REMOVE_LISTED_MAX + 1, &out));
    free(many);
    /* A count larger than the bytes that follow. */
    wire_writer_init(&writer);
    wire_put_u64(&writer, 1);
    wire_put_u32(&writer, 2);
    wire_put_u64(&writer, 3);
    wire_put_u64(&writer, 4);
    wire_put_u32(&writer, 3);
    wire_put_u64(&writer, 1);
    wire_put_u64(&writer, 2);
    assert_false(DECODES(&writer, storage_remove_listed_request_decode, &out));
    wire_writer_free(&writer);
}

static void test_routing_lookups(void **state)
{
    (void)state;
    struct routing_info info;
    const uint8_t states[4] = {TARGET_PUBLIC_SERVING, TARGET_PUBLIC_OFFLINE, TARGET_PUBLIC_SERVING,
                               TARGET_PUBLIC_SYNCING};
    make_routing(&info, states);
    const struct target_record *targets[CHAIN_TARGETS_MAX];
    assert_int_equal(routing_chain_targets(&info, 1, targets), 4);
    assert_int_equal(routing_chain_targets(&info, 2, targets), 0);
    assert_int_equal(routing_chain_head(&info, 1)->target_id, 10);
    assert_int_equal(routing_chain_successor(&info, 1, 10)->target_id, 12); /* skips offline */
    assert_int_equal(routing_chain_successor(&info, 1, 12)->target_id, 13); /* syncing receives */
    assert_null(routing_chain_successor(&info, 1, 13));                     /* the tail */
    assert_null(routing_chain_successor(&info, 1, 99));                     /* not in chain */
    assert_string_equal(routing_target_address(&info, 10), "127.0.0.1:1001");
    assert_null(routing_target_address(&info, 11)); /* node without an address */
    assert_null(routing_target_address(&info, 99));
    routing_info_free(&info);

    const uint8_t waiting_head[4] = {TARGET_PUBLIC_WAITING, TARGET_PUBLIC_LASTSRV,
                                     TARGET_PUBLIC_SERVING, TARGET_PUBLIC_OFFLINE};
    make_routing(&info, waiting_head);
    assert_int_equal(routing_chain_head(&info, 1)->target_id, 12);
    assert_null(routing_chain_successor(&info, 1, 12));
    routing_info_free(&info);
}

/* Snapshots are refcounted and outlive a newer install; older versions are ignored;
 * a refresh against an unreachable mgmtd fails and keeps the snapshot. */
static void test_routing_cache_snapshots(void **state)
{
    (void)state;
    struct rpc_client_options rpc_options;
    rpc_client_default_options(&rpc_options);
    rpc_options.connect_timeout_ns = 200000000;
    struct rpc_client *rpc = NULL;
    assert_int_equal(rpc_client_create(&rpc_options, &rpc), 0);
    struct routing_cache_options options = {
        .rpc = rpc, .mgmtd_addresses = "127.0.0.1:1", .call_timeout_ns = 200000000};
    struct routing_cache *cache = NULL;
    assert_int_equal(routing_cache_create(&options, &cache), 0);
    assert_null(routing_cache_acquire(cache));
    assert_int_equal(routing_cache_version(cache), 0);

    const uint8_t states[4] = {1, 1, 1, 1};
    struct routing_info info;
    make_routing(&info, states);
    info.version = 2;
    routing_cache_install(cache, &info);
    struct routing_snapshot *old = routing_cache_acquire(cache);
    assert_non_null(old);
    assert_int_equal(old->info.version, 2);

    make_routing(&info, states);
    info.version = 1; /* older: dropped */
    routing_cache_install(cache, &info);
    assert_int_equal(routing_cache_version(cache), 2);

    make_routing(&info, states);
    info.version = 3;
    routing_cache_install(cache, &info);
    assert_int_equal(routing_cache_version(cache), 3);
    assert_int_equal(old->info.version, 2); /* still readable */
    assert_int_equal(routing_chain_head(&old->info, 1)->target_id, 10);
    routing_snapshot_release(old);

    assert_int_not_equal(routing_cache_refresh(cache), 0);
    assert_int_equal(routing_cache_refresh_to(cache, 3), 0); /* already there: no fetch */
    assert_int_equal(routing_cache_version(cache), 3);
    routing_cache_destroy(cache);
    rpc_client_destroy(rpc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_request),
        cmocka_unit_test(test_update_request),
        cmocka_unit_test(test_commit_and_small_messages),
        cmocka_unit_test(test_batch_read),
        cmocka_unit_test(test_space_info_and_dump),
        cmocka_unit_test(test_remove_listed_request),
        cmocka_unit_test(test_routing_lookups),
        cmocka_unit_test(test_routing_cache_snapshots),
    };
    return cmocka_run_group_tests_name("storage_protocol", tests, NULL, NULL);
}
