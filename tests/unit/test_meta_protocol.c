/*
 * test_meta_protocol.c - codecs of the metadata service: every method's request
 * round-trips; every truncation, a trailing byte, and each kind of inconsistent
 * field is refused as MALFORMED; replies of every kind round-trip and refuse more
 * items than the caller has room for.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chainfs/error.h"
#include "meta/meta_protocol.h"

static void fill_request(struct meta_request *request, uint16_t method)
{
    memset(request, 0, sizeof(*request));
    request->method = method;
    request->credentials = (struct meta_credentials){1000, 100, 2, {7, 8}};
    strcpy(request->client_id, "client-1");
    request->request_id = 99;
    request->inode_id = 0x1122334455667788ull;
    request->parent_id = 17;
    strcpy(request->name, "name");
    request->new_parent_id = 18;
    strcpy(request->new_name, "other");
    strcpy(request->path, "/a/b");
    request->mode = 0644;
    request->flags = 3;
    request->session_id = 5;
    request->length = 1 << 30;
    request->truncate_version = 4;
    request->setattr = (struct meta_setattr){META_SET_MODE | META_SET_SIZE, 0600, 1, 2, -3, 4, 5};
    request->layout = (struct file_layout){1, 2, 1 << 20, 4, 5, 6};
    request->limit = 100;
    request->id_count = 3;
    request->ids[0] = 1;
    request->ids[1] = 2;
    request->ids[2] = 3;
}

static uint8_t *encode(const struct meta_request *request, size_t *length)
{
    struct wire_writer writer;
    wire_writer_init(&writer);
    meta_request_encode(&writer, request);
    assert_true(wire_writer_ok(&writer));
    return wire_writer_take(&writer, length);
}

static void every_method_round_trips(void **state)
{
    struct meta_request *request = malloc(sizeof(*request)), *decoded = malloc(sizeof(*decoded));
    for (uint16_t method = 1; method < META_METHOD_COUNT_; method++) {
        assert_non_null(meta_method_name(method));
        fill_request(request, method);
        size_t length;
        uint8_t *body = encode(request, &length);
        assert_int_equal(meta_request_decode(method, body, length, decoded), 0);
        assert_int_equal(decoded->method, method);
        assert_int_equal(decoded->credentials.uid, 1000);
        assert_int_equal(decoded->credentials.group_count, 2);
        assert_int_equal(decoded->credentials.groups[1], 8);
        if (meta_method_mutates(method)) {
            assert_string_equal(decoded->client_id, "client-1");
            assert_int_equal(decoded->request_id, 99);
        } else {
            assert_int_equal(decoded->request_id, 0);
        }
        /* re-encoding what was decoded gives the same bytes */
        size_t again_length;
        uint8_t *again = encode(decoded, &again_length);
        assert_int_equal(again_length, length);
        assert_memory_equal(again, body, length);
        free(again);
        /* every truncation and a trailing byte are refused */
        for (size_t cut = 0; cut < length; cut++)
            assert_int_equal(meta_request_decode(method, body, cut, decoded), CHAINFS_MALFORMED);
        uint8_t *longer = calloc(1, length + 1);
        memcpy(longer, body, length);
        assert_int_equal(meta_request_decode(method, longer, length + 1, decoded), CHAINFS_MALFORMED);
        free(longer);
        free(body);
    }
    free(request);
    free(decoded);
}

static void fields_reach_the_decoder(void **state)
{
    struct meta_request *request = malloc(sizeof(*request)), *decoded = malloc(sizeof(*decoded));
    fill_request(request, META_METHOD_RENAME);
    size_t length;
    uint8_t *body = encode(request, &length);
    assert_int_equal(meta_request_decode(META_METHOD_RENAME, body, length, decoded), 0);
    assert_int_equal(decoded->parent_id, 17);
    assert_string_equal(decoded->name, "name");
    assert_int_equal(decoded->new_parent_id, 18);
    assert_string_equal(decoded->new_name, "other");
    assert_int_equal(decoded->flags, 3);
    assert_int_equal(decoded->inode_id, 0); /* not a rename field */
    free(body);
    fill_request(request, META_METHOD_SETATTR);
    body = encode(request, &length);
    assert_int_equal(meta_request_decode(META_METHOD_SETATTR, body, length, decoded), 0);
    assert_int_equal(decoded->setattr.atime_ns, -3);
    assert_int_equal(decoded->setattr.mode, 0600);
    free(body);
    fill_request(request, META_METHOD_BATCH_STAT);
    body = encode(request, &length);
    assert_int_equal(meta_request_decode(META_METHOD_BATCH_STAT, body, length, decoded), 0);
    assert_int_equal(decoded->id_count, 3);
    assert_int_equal(decoded->ids[2], 3);
    free(body);
    free(request);
    free(decoded);
}

static void inconsistent_requests_are_refused(void **state)
{
    struct meta_request *request = malloc(sizeof(*request)), *decoded = malloc(sizeof(*decoded));
    size_t length;
    uint8_t *body;
    /* unknown methods */
    fill_request(request, META_METHOD_STAT);
    body = encode(request, &length);
    assert_int_equal(meta_request_decode(0, body, length, decoded), CHAINFS_MALFORMED);
    assert_int_equal(meta_request_decode(META_METHOD_COUNT_, body, length, decoded), CHAINFS_MALFORMED);
    free(body);
    /* a mutating request without request id or client id */
    fill_request(request, META_METHOD_UNLINK);
    request->request_id = 0;
    body = encode(request, &length);
    assert_int_equal(meta_request_decode(META_METHOD_UNLINK, body, length, decoded), CHAINFS_MALFORMED);
    free(body);
    fill_request(request, META_METHOD_UNLINK);
    request->client_id[0] = '\0';
    body = encode(request, &length);
    assert_int_equal(meta_request_decode(META_METHOD_UNLINK, body, length, decoded), CHAINFS_MALFORMED);
    free(body);
    /* too many groups: patch the count (third u32) */
    fill_request(request, META_METHOD_STAT);
    body = encode(request, &length);
    wire_store_u32(body + 8, META_GROUPS_MAX + 1);
    assert_int_equal(meta_request_decode(META_METHOD_STAT, body, length, decoded), CHAINFS_MALFORMED);
    free(body);
    /* too many ids: after credentials (4 x u32 + 2 groups) comes the id count */
    fill_request(request, META_METHOD_BATCH_STAT);
    body = encode(request, &length);
    wire_store_u32(body + 20, META_BATCH_MAX + 1);
    assert_int_equal(meta_request_decode(META_METHOD_BATCH_STAT, body, length, decoded), CHAINFS_MALFORMED);
    free(body);
    /* a name with a NUL byte inside (credentials, then u64 parent, then the name) */
    fill_request(request, META_METHOD_LOOKUP);
    body = encode(request, &length);
    size_t name_at = 20 + 8 + 4;
    assert_memory_equal(body + name_at, "name", 4);
    body[name_at + 1] = '\0';
    assert_int_equal(meta_request_decode(META_METHOD_LOOKUP, body, length, decoded), CHAINFS_MALFORMED);
    free(body);
    /* an overlong name */
    struct wire_writer writer;
    wire_writer_init(&writer);
    wire_put_u32(&writer, 0);
    wire_put_u32(&writer, 0);
    wire_put_u32(&writer, 0);
    wire_put_u64(&writer, 1);
    char long_name[META_NAME_MAX + 2];
    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    wire_put_string(&writer, long_name);
    assert_int_equal(meta_request_decode(META_METHOD_LOOKUP, writer.data, writer.length, decoded),
                     CHAINFS_MALFORMED);
    wire_writer_free(&writer);
    free(request);
    free(decoded);
}

static struct inode sample_inode(uint64_t id)
{
    struct inode inode = {.id = id, .type = INODE_FILE, .mode = 0640, .uid = 3, .nlink = 1,
                          .length = 12345, .layout = {1, 1, 1 << 20, 4, 2, 9}};
    strcpy(inode.name, "");
    return inode;
}

static void replies_round_trip(void **state)
{
    struct meta_reply *reply = calloc(1, sizeof(*reply));
    struct wire_writer writer;
    /* inode */
    struct inode inode = sample_inode(77);
    wire_writer_init(&writer);
    meta_reply_encode_inode(&writer, &inode);
    assert_int_equal(meta_reply_decode(META_METHOD_STAT, writer.data, writer.length, reply), 0);
    assert_int_equal(reply->inode.id, 77);
    assert_int_equal(reply->inode.length, 12345);
    assert_int_equal(meta_reply_decode(META_METHOD_STAT, writer.data, writer.length - 1, reply),
                     CHAINFS_MALFORMED);
    wire_writer_free(&writer);
    /* batch: a missing inode in the middle */
    int statuses[3] = {0, CHAINFS_NOT_FOUND, 0}, got[3];
    struct inode inodes[3] = {sample_inode(1), sample_inode(2), sample_inode(3)}, got_inodes[3];
    wire_writer_init(&writer);
    meta_reply_encode_batch(&writer, 3, statuses, inodes);
    reply->batch_capacity = 3;
    reply->batch_statuses = got;
    reply->batch_inodes = got_inodes;
    assert_int_equal(meta_reply_decode(META_METHOD_BATCH_STAT, writer.data, writer.length, reply), 0);
    assert_int_equal(reply->count, 3);
    assert_int_equal(got[1], CHAINFS_NOT_FOUND);
    assert_int_equal(got_inodes[2].id, 3);
    reply->batch_capacity = 2;
    assert_int_equal(meta_reply_decode(META_METHOD_BATCH_STAT, writer.data, writer.length, reply),
                     CHAINFS_MALFORMED);
    wire_writer_free(&writer);
    /* directory page with attributes, then without room for attributes */
    struct meta_directory_entry entries[2] = {{"a", 5, INODE_FILE}, {"b", 6, INODE_DIRECTORY}};
    struct meta_directory_entry got_entries[2];
    wire_writer_init(&writer);
    meta_reply_encode_directory(&writer, true, 2, entries, inodes);
    reply->entry_capacity = 2;
    reply->entries = got_entries;
    reply->entry_inodes = got_inodes;
    assert_int_equal(meta_reply_decode(META_METHOD_READDIR, writer.data, writer.length, reply), 0);
    assert_true(reply->more);
    assert_int_equal(reply->count, 2);
    assert_string_equal(got_entries[1].name, "b");
    assert_int_equal(got_entries[1].type, INODE_DIRECTORY);
    assert_int_equal(got_inodes[1].id, 2);
    reply->entry_inodes = NULL; /* attributes are skipped */
    assert_int_equal(meta_reply_decode(META_METHOD_READDIR, writer.data, writer.length, reply), 0);
    reply->entry_capacity = 1;
    assert_int_equal(meta_reply_decode(META_METHOD_READDIR, writer.data, writer.length, reply),
                     CHAINFS_MALFORMED);
    wire_writer_free(&writer);
    /* path, statfs, count, none */
    wire_writer_init(&writer);
    meta_reply_encode_path(&writer, "/x/y");
    assert_int_equal(meta_reply_decode(META_METHOD_REALPATH, writer.data, writer.length, reply), 0);
    assert_string_equal(reply->path, "/x/y");
    wire_writer_free(&writer);
    struct meta_statfs figures = {100, 40, 60, 0};
    wire_writer_init(&writer);
    meta_reply_encode_statfs(&writer, &figures);
    assert_int_equal(meta_reply_decode(META_METHOD_STATFS, writer.data, writer.length, reply), 0);
    assert_int_equal(reply->statfs.free_bytes, 60);
    wire_writer_free(&writer);
    wire_writer_init(&writer);
    meta_reply_encode_count(&writer, 42);
    assert_int_equal(meta_reply_decode(META_METHOD_REMOVE_TREE, writer.data, writer.length, reply), 0);
    assert_int_equal(reply->removed, 42);
    assert_int_equal(meta_reply_decode(META_METHOD_UNLINK, writer.data, writer.length, reply),
                     CHAINFS_MALFORMED); /* unlink's reply is empty */
    assert_int_equal(meta_reply_decode(META_METHOD_UNLINK, writer.data, 0, reply), 0);
    wire_writer_free(&writer);
    free(reply);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_method_round_trips),
        cmocka_unit_test(fields_reach_the_decoder),
        cmocka_unit_test(inconsistent_requests_are_refused),
        cmocka_unit_test(replies_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
