/*
 * test_meta_sessions.c - the namespace pieces the metadata service adds on top of the
 * basic operations, on a real LMDB store: write sessions and length rules (truncate
 * version), the exact length from storage, idempotency records (a retried request is
 * applied once), mkdir -p, bounded recursive remove, batched stat, readlink,
 * realpath, directory layouts, and GC through fake storage ops.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "chainfs/error.h"
#include "common/log.h"
#include "kv/kv.h"
#include "meta/file_layout.h"
#include "meta/namespace.h"
#include "temporary_store.h"

#define CHUNK_SIZE (1u << 20)

struct fake_chunk {
    uint32_t chain_id;
    uint64_t inode_id;
    uint64_t index;
    uint32_t length;
};

/* In-memory storage: a chain table of 8 chains and a list of chunks. */
struct fake_storage {
    uint32_t table[8];
    struct fake_chunk chunks[512];
    size_t chunk_count;
    int remove_calls;
};

static int fake_file_chains(void *context, const struct file_layout *layout, uint32_t *chain_ids,
                            size_t capacity, size_t *count)
{
    struct fake_storage *storage = context;
    *count = file_layout_stripe_width(layout, 8);
    return file_layout_stripe_chains(layout, storage->table, 8, chain_ids);
}

static int fake_last_chunk(void *context, uint32_t chain_id, uint64_t inode_id, bool *found,
                           uint64_t *chunk_index, uint32_t *chunk_length)
{
    struct fake_storage *storage = context;
    *found = false;
    for (size_t i = 0; i < storage->chunk_count; i++) {
        const struct fake_chunk *chunk = &storage->chunks[i];
        if (chunk->chain_id == chain_id && chunk->inode_id == inode_id &&
            (!*found || chunk->index > *chunk_index)) {
            *found = true;
            *chunk_index = chunk->index;
            *chunk_length = chunk->length;
        }
    }
    return 0;
}

static int fake_remove_chunks(void *context, uint32_t chain_id, uint64_t inode_id, uint64_t first)
{
    struct fake_storage *storage = context;
    storage->remove_calls++;
    size_t kept = 0;
    for (size_t i = 0; i < storage->chunk_count; i++) {
        const struct fake_chunk *chunk = &storage->chunks[i];
        if (!(chunk->chain_id == chain_id && chunk->inode_id == inode_id && chunk->index >= first))
            storage->chunks[kept++] = *chunk;
    }
    storage->chunk_count = kept;
    return 0;
}

/* Writes length bytes of file inode as chunks on the chains its layout names. */
static void fake_write(struct fake_storage *storage, const struct inode *inode, uint64_t length)
{
    for (uint64_t index = 0; index * CHUNK_SIZE < length; index++) {
        uint32_t chain;
        assert_int_equal(file_layout_chunk_chain(&inode->layout, storage->table, 8, index, &chain), 0);
        uint64_t rest = length - index * CHUNK_SIZE;
        storage->chunks[storage->chunk_count++] = (struct fake_chunk){
            chain, inode->id, index, (uint32_t)(rest < CHUNK_SIZE ? rest : CHUNK_SIZE)};
    }
}

struct fixture {
    struct temporary_store temporary;
    struct meta_namespace *space;
    struct fake_storage storage;
    struct meta_storage_ops ops;
};

static const struct meta_credentials root = {0, 0, 0, {0}};
static const struct meta_credentials alice = {1000, 1000, 0, {0}};
static const struct meta_credentials bob = {1001, 1001, 0, {0}};

static int setup(void **state)
{
    log_set_level(LOG_LEVEL_ERROR);
    struct fixture *fixture = calloc(1, sizeof(*fixture));
    assert_int_equal(temporary_store_open(&fixture->temporary, "meta-sessions", 64 << 20), 0);
    assert_int_equal(meta_namespace_open(fixture->temporary.store, &fixture->space), 0);
    struct file_layout layout = {.table_id = 1, .table_version = 1, .chunk_size = CHUNK_SIZE, .stripe = 4};
    assert_int_equal(meta_namespace_format(fixture->space, &layout), 0);
    for (uint32_t i = 0; i < 8; i++)
        fixture->storage.table[i] = 100 + i;
    fixture->ops = (struct meta_storage_ops){&fixture->storage, fake_file_chains, fake_last_chunk,
                                             fake_remove_chunks, NULL};
    *state = fixture;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fixture = *state;
    meta_namespace_close(fixture->space);
    assert_int_equal(temporary_store_close(&fixture->temporary), 0);
    free(fixture);
    return 0;
}

static struct inode make_file(struct fixture *fixture, const struct meta_credentials *who,
                              uint64_t parent, const char *name, uint32_t mode)
{
    struct inode inode;
    assert_int_equal(meta_create(fixture->space, who, parent, name, mode, 0, &inode), 0);
    return inode;
}

static uint64_t make_directory(struct fixture *fixture, const struct meta_credentials *who,
                               uint64_t parent, const char *name, uint32_t mode)
{
    struct inode inode;
    assert_int_equal(meta_mkdir(fixture->space, who, parent, name, mode, &inode), 0);
    return inode.id;
}

static size_t session_count(struct fixture *fixture, uint64_t inode_id)
{
    struct meta_session sessions[8];
    size_t count;
    assert_int_equal(meta_list_sessions(fixture->space, inode_id, sessions, 8, &count), 0);
    return count;
}

/* --- sessions and lengths --------------------------------------------------------- */

static void write_open_records_a_session_and_close_removes_it(void **state)
{
    struct fixture *fixture = *state;
    struct inode file = make_file(fixture, &root, META_ROOT_ID, "f", 0644), inode;
    /* read-only opens leave no trace */
    assert_int_equal(meta_open(fixture->space, &root, file.id, META_OPEN_MODE_READ, NULL, 0, &inode), 0);
    assert_int_equal(session_count(fixture, file.id), 0);
    assert_int_equal(meta_open(fixture->space, &root, file.id, META_OPEN_MODE_WRITE, "c1", 11, &inode), 0);
    assert_int_equal(meta_open(fixture->space, &root, file.id, META_OPEN_MODE_WRITE, "c2", 12, &inode), 0);
    struct meta_session sessions[4];
    size_t count;
    assert_int_equal(meta_list_sessions(fixture->space, file.id, sessions, 4, &count), 0);
    assert_int_equal(count, 2);
    assert_int_equal(sessions[0].session_id, 11);
    assert_string_equal(sessions[0].client_id, "c1");
    assert_string_equal(sessions[1].client_id, "c2");
    assert_int_equal(meta_close(fixture->space, file.id, 11, true, 5000, 0, &inode), 0);
    assert_int_equal(inode.length, 5000);
    assert_int_equal(session_count(fixture, file.id), 1);
    /* a create that opens for write records its session in the same transaction */
    assert_int_equal(meta_create_open(fixture->space, &root, META_ROOT_ID, "g", 0644, 0, "c3", 13,
                                      &inode), 0);
    assert_int_equal(session_count(fixture, inode.id), 1);
}

struct open_row {
    const char *name;
    uint32_t file_mode;
    const struct meta_credentials *who;
    unsigned mode;
    int expected;
};

static void open_checks_permissions_table(void **state)
{
    struct fixture *fixture = *state;
    uint64_t home = make_directory(fixture, &root, META_ROOT_ID, "home", 0777);
    struct inode link, inode;
    assert_int_equal(meta_symlink(fixture->space, &root, home, "link", "/x", &link), 0);
    const struct open_row rows[] = {
        {"r", 0644, &bob, META_OPEN_MODE_READ, 0},
        {"w", 0644, &bob, META_OPEN_MODE_WRITE, CHAINFS_PERMISSION_DENIED},
        {"rw", 0646, &bob, META_OPEN_MODE_READ | META_OPEN_MODE_WRITE, 0},
        {"none", 0600, &bob, META_OPEN_MODE_READ, CHAINFS_PERMISSION_DENIED},
        {"owner", 0600, &alice, META_OPEN_MODE_READ | META_OPEN_MODE_WRITE, 0},
        {"rootbypass", 0000, &root, META_OPEN_MODE_WRITE, 0},
        {"trunc-no-write", 0644, &alice, META_OPEN_MODE_TRUNCATE, CHAINFS_INVALID_ARGUMENT},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct inode file = make_file(fixture, &alice, home, rows[i].name, rows[i].file_mode);
        assert_int_equal(meta_open(fixture->space, rows[i].who, file.id, rows[i].mode, "c", 1, &inode),
                         rows[i].expected);
    }
    assert_int_equal(meta_open(fixture->space, &root, home, META_OPEN_MODE_WRITE, "c", 1, &inode),
                     CHAINFS_IS_DIRECTORY);
    assert_int_equal(meta_open(fixture->space, &root, home, META_OPEN_MODE_READ, NULL, 0, &inode), 0);
    assert_int_equal(meta_open(fixture->space, &root, link.id, META_OPEN_MODE_READ, NULL, 0, &inode),
                     CHAINFS_INVALID_ARGUMENT);
    /* a write open needs a session */
    struct inode file = make_file(fixture, &root, home, "nosession", 0644);
    assert_int_equal(meta_open(fixture->space, &root, file.id, META_OPEN_MODE_WRITE, "c", 0, &inode),
                     CHAINFS_INVALID_ARGUMENT);
    assert_int_equal(meta_open(fixture->space, &root, 999999, META_OPEN_MODE_READ, NULL, 0, &inode),
                     CHAINFS_NOT_FOUND);
}

static void lengths_grow_unless_a_truncate_intervened(void **state)
{
    struct fixture *fixture = *state;
    struct inode file = make_file(fixture, &root, META_ROOT_ID, "f", 0644), inode;
    assert_int_equal(meta_open(fixture->space, &root, file.id, META_OPEN_MODE_WRITE, "c", 7, &inode), 0);
    uint64_t version = inode.truncate_version;
    assert_int_equal(meta_report_length(fixture->space, file.id, 7, 100, version, &inode), 0);
    assert_int_equal(inode.length, 100);
    assert_int_equal(meta_report_length(fixture->space, file.id, 7, 50, version, &inode), 0);
    assert_int_equal(inode.length, 100); /* never shrinks by a report */
    /* truncate to 10: a report from before it is dropped */
    struct meta_setattr truncate = {.fields = META_SET_SIZE, .size = 10};
    assert_int_equal(meta_setattr(fixture->space, &root, file.id, &truncate, &inode), 0);
    assert_int_equal(inode.truncate_version, version + 1);
    assert_int_equal(meta_report_length(fixture->space, file.id, 7, 200, version, &inode), 0);
    assert_int_equal(inode.length, 10);
    assert_int_equal(meta_report_length(fixture->space, file.id, 7, 200, version + 1, &inode), 0);
    assert_int_equal(inode.length, 200);
    /* close with a stale version keeps the length, and ends the session */
    assert_int_equal(meta_close(fixture->space, file.id, 7, true, 300, version, &inode), 0);
    assert_int_equal(inode.length, 200);
    assert_int_equal(meta_report_length(fixture->space, file.id, 7, 400, version + 1, &inode),
                     CHAINFS_NOT_FOUND); /* the session is gone */
    /* O_TRUNC through open bumps the version and empties the file */
    assert_int_equal(meta_open(fixture->space, &root, file.id,
                               META_OPEN_MODE_WRITE | META_OPEN_MODE_TRUNCATE, "c", 8, &inode), 0);
    assert_int_equal(inode.length, 0);
    assert_int_equal(inode.truncate_version, version + 2);
}

static void sync_length_takes_the_end_of_the_last_chunk(void **state)
{
    struct fixture *fixture = *state;
    struct inode file = make_file(fixture, &root, META_ROOT_ID, "f", 0644), inode;
    /* 5.5 chunks over a stripe of 4 chains: the last chunk is on a different chain than
     * the first */
    fake_write(&fixture->storage, &file, 5 * CHUNK_SIZE + CHUNK_SIZE / 2);
    assert_int_equal(meta_sync_length(fixture->space, &fixture->ops, file.id, &inode), 0);
    assert_int_equal(inode.length, 5 * CHUNK_SIZE + CHUNK_SIZE / 2);
    struct meta_storage_ops none = {0};
    assert_int_equal(meta_sync_length(fixture->space, &none, file.id, &inode), CHAINFS_UNSUPPORTED);
    uint64_t directory = make_directory(fixture, &root, META_ROOT_ID, "d", 0755);
    assert_int_equal(meta_sync_length(fixture->space, &fixture->ops, directory, &inode),
                     CHAINFS_INVALID_ARGUMENT);
}

/* --- idempotency -------------------------------------------------------------------- */

static void encode_marker(void *context, struct wire_writer *writer)
{
    wire_put_u64(writer, *(uint64_t *)context);
}

/* Runs operation under a record (client, request id); returns its status and whether
 * the recorded reply came back (its marker in *marker). */
#define UNDER_RECORD(id_value, marker_value, replayed_out, marker_out, call)               \
    do {                                                                                     \
        uint64_t marker_ = (marker_value);                                                   \
        struct meta_request_record record_ = {.client_id = "client-a",                        \
                                              .request_id = (id_value),                      \
                                              .encode_reply = encode_marker,                 \
                                              .context = &marker_};                          \
        meta_request_record_begin(&record_);                                                 \
        int status_ = (call);                                                                \
        meta_request_record_end();                                                           \
        assert_int_equal(status_, 0);                                                        \
        *(replayed_out) = record_.replayed;                                                  \
        *(marker_out) = 0;                                                                   \
        if (record_.replayed) {                                                              \
            assert_int_equal(record_.reply_length, 8);                                       \
            *(marker_out) = wire_load_u64(record_.reply);                                    \
        }                                                                                    \
        free(record_.reply);                                                                 \
    } while (0)

static void retried_requests_are_applied_once(void **state)
{
    struct fixture *fixture = *state;
    struct meta_namespace *space = fixture->space;
    struct inode inode;
    bool replayed;
    uint64_t marker;
    /* exclusive create: the retry gets the first answer, not EEXIST */
    UNDER_RECORD(1, 111, &replayed, &marker,
                 meta_create(space, &root, META_ROOT_ID, "f", 0644, META_CREATE_EXCLUSIVE, &inode));
    assert_false(replayed);
    UNDER_RECORD(1, 222, &replayed, &marker,
                 meta_create(space, &root, META_ROOT_ID, "f", 0644, META_CREATE_EXCLUSIVE, &inode));
    assert_true(replayed);
    assert_int_equal(marker, 111);
    /* rename: applied once (a second application would fail with NOT_FOUND) */
    UNDER_RECORD(2, 1, &replayed, &marker, meta_rename(space, &root, META_ROOT_ID, "f", META_ROOT_ID, "g", 0));
    UNDER_RECORD(2, 1, &replayed, &marker, meta_rename(space, &root, META_ROOT_ID, "f", META_ROOT_ID, "g", 0));
    assert_true(replayed);
    assert_int_equal(meta_lookup(space, &root, META_ROOT_ID, "g", &inode), 0);
    /* unlink */
    UNDER_RECORD(3, 1, &replayed, &marker, meta_unlink(space, &root, META_ROOT_ID, "g"));
    UNDER_RECORD(3, 1, &replayed, &marker, meta_unlink(space, &root, META_ROOT_ID, "g"));
    assert_true(replayed);
    /* recursive remove */
    uint64_t top = make_directory(fixture, &root, META_ROOT_ID, "tree", 0755);
    make_file(fixture, &root, top, "x", 0644);
    uint64_t removed = 0;
    UNDER_RECORD(4, 2, &replayed, &marker, meta_remove_tree(space, &root, META_ROOT_ID, "tree", &removed));
    assert_false(replayed);
    assert_int_equal(removed, 2);
    UNDER_RECORD(4, 9, &replayed, &marker, meta_remove_tree(space, &root, META_ROOT_ID, "tree", &removed));
    assert_true(replayed);
    assert_int_equal(marker, 2);
    /* another request id is a new request */
    make_file(fixture, &root, META_ROOT_ID, "h", 0644);
    struct meta_request_record other = {.client_id = "client-a", .request_id = 5};
    meta_request_record_begin(&other);
    assert_int_equal(meta_create(space, &root, META_ROOT_ID, "h", 0644, META_CREATE_EXCLUSIVE, &inode),
                     CHAINFS_EXISTS);
    meta_request_record_end();
    assert_false(other.replayed);
    /* another client with the same request id too */
    struct meta_request_record stranger = {.client_id = "client-b", .request_id = 1};
    meta_request_record_begin(&stranger);
    assert_int_equal(meta_create(space, &root, META_ROOT_ID, "f", 0644, META_CREATE_EXCLUSIVE, &inode), 0);
    meta_request_record_end();
    assert_false(stranger.replayed);
    /* records expire */
    struct meta_record_cursor cursor = {.length = 0};
    size_t pruned;
    assert_int_equal(meta_prune_request_records(space, 3600 * 1000000000ll, 100, &cursor, &pruned), 0);
    assert_int_equal(pruned, 0);
    assert_int_equal(meta_prune_request_records(space, -1, 100, &cursor, &pruned), 0);
    assert_int_equal(pruned, 5);
    UNDER_RECORD(3, 1, &replayed, &marker, meta_create(space, &root, META_ROOT_ID, "g", 0644, 0, &inode));
    assert_false(replayed); /* the unlink's record is gone */
}

/* --- trees -------------------------------------------------------------------------- */

static size_t gc_queue_length(struct fixture *fixture)
{
    uint64_t ids[2048];
    size_t count;
    assert_int_equal(meta_gc_queue(fixture->space, ids, 2048, &count), 0);
    return count;
}

static void remove_tree_in_bounded_steps(void **state)
{
    struct fixture *fixture = *state;
    uint64_t top = make_directory(fixture, &root, META_ROOT_ID, "top", 0755);
    /* 600 files in one directory (several steps of META_REMOVE_BATCH), and a chain of
     * 6 nested directories with a file and a symlink in each */
    uint64_t wide = make_directory(fixture, &root, top, "wide", 0755);
    for (int i = 0; i < 600; i++) {
        char name[16];
        snprintf(name, sizeof(name), "f%03d", i);
        make_file(fixture, &root, wide, name, 0644);
    }
    uint64_t deep = top;
    struct inode inode;
    for (int depth = 0; depth < 6; depth++) {
        deep = make_directory(fixture, &root, deep, "d", 0755);
        make_file(fixture, &root, deep, "file", 0644);
        assert_int_equal(meta_symlink(fixture->space, &root, deep, "s", "/top", &inode), 0);
    }
    uint64_t removed;
    assert_int_equal(meta_remove_tree(fixture->space, &root, META_ROOT_ID, "top", &removed), 0);
    assert_int_equal(removed, 1 + 1 + 600 + 6 * 3);
    assert_int_equal(meta_lookup(fixture->space, &root, META_ROOT_ID, "top", &inode), CHAINFS_NOT_FOUND);
    assert_int_equal(meta_stat(fixture->space, wide, &inode), CHAINFS_NOT_FOUND);
    assert_int_equal(gc_queue_length(fixture), 600 + 12);
    assert_int_equal(meta_stat(fixture->space, META_ROOT_ID, &inode), 0);
    assert_int_equal(inode.nlink, 2);
    /* a single file is removed like unlink */
    make_file(fixture, &root, META_ROOT_ID, "single", 0644);
    assert_int_equal(meta_remove_tree(fixture->space, &root, META_ROOT_ID, "single", &removed), 0);
    assert_int_equal(removed, 1);
    assert_int_equal(meta_remove_tree(fixture->space, &root, META_ROOT_ID, "single", &removed),
                     CHAINFS_NOT_FOUND);
}

static void remove_tree_obeys_permissions(void **state)
{
    struct fixture *fixture = *state;
    uint64_t shared = make_directory(fixture, &root, META_ROOT_ID, "shared", 0777);
    uint64_t mine = make_directory(fixture, &alice, shared, "alice", 0755);
    make_file(fixture, &alice, mine, "a", 0644);
    uint64_t removed;
    /* bob may write shared, but not alice's directory below it */
    assert_int_equal(meta_remove_tree(fixture->space, &bob, shared, "alice", &removed),
                     CHAINFS_PERMISSION_DENIED);
    struct inode inode;
    assert_int_equal(meta_lookup(fixture->space, &root, mine, "a", &inode), 0);
    assert_int_equal(meta_remove_tree(fixture->space, &alice, shared, "alice", &removed), 0);
    assert_int_equal(removed, 2);
}

static void mkdirs_creates_missing_directories(void **state)
{
    struct fixture *fixture = *state;
    struct inode inode, again;
    assert_int_equal(meta_mkdirs(fixture->space, &root, "/a/b//c/", 0750, &inode), 0);
    assert_int_equal(inode.type, INODE_DIRECTORY);
    assert_int_equal(inode.mode, 0750);
    assert_int_equal(meta_resolve(fixture->space, &root, "/a/b/c", true, &again), 0);
    assert_int_equal(again.id, inode.id);
    assert_int_equal(meta_mkdirs(fixture->space, &root, "/a/b/c", 0750, &again), 0); /* exists */
    assert_int_equal(again.id, inode.id);
    struct inode link;
    assert_int_equal(meta_symlink(fixture->space, &root, META_ROOT_ID, "l", "/a/b", &link), 0);
    assert_int_equal(meta_mkdirs(fixture->space, &root, "/l/c/d", 0755, &again), 0); /* via symlink */
    assert_int_equal(meta_resolve(fixture->space, &root, "/a/b/c/d", true, &inode), 0);
    make_file(fixture, &root, inode.id, "file", 0644);
    assert_int_equal(meta_mkdirs(fixture->space, &root, "/a/b/c/d/file", 0755, &again), CHAINFS_EXISTS);
    assert_int_equal(meta_mkdirs(fixture->space, &root, "/a/b/c/d/file/x", 0755, &again),
                     CHAINFS_NOT_DIRECTORY);
    assert_int_equal(meta_mkdirs(fixture->space, &root, "relative", 0755, &again), CHAINFS_INVALID_ARGUMENT);
    assert_int_equal(meta_mkdirs(fixture->space, &bob, "/a/x/y", 0755, &again), CHAINFS_PERMISSION_DENIED);
}

static void batch_stat_readlink_and_realpath(void **state)
{
    struct fixture *fixture = *state;
    uint64_t a = make_directory(fixture, &root, META_ROOT_ID, "a", 0755);
    uint64_t b = make_directory(fixture, &root, a, "b", 0755);
    struct inode file = make_file(fixture, &root, b, "f", 0644), link, rel, dirlink;
    assert_int_equal(meta_symlink(fixture->space, &root, META_ROOT_ID, "abs", "/a/b/f", &link), 0);
    assert_int_equal(meta_symlink(fixture->space, &root, a, "rel", "b/../b/f", &rel), 0);
    assert_int_equal(meta_symlink(fixture->space, &root, META_ROOT_ID, "dl", "a/b", &dirlink), 0);
    uint64_t ids[4] = {a, 123456789, file.id, link.id};
    int statuses[4];
    struct inode inodes[4];
    assert_int_equal(meta_batch_stat(fixture->space, ids, 4, statuses, inodes), 0);
    assert_int_equal(statuses[0], 0);
    assert_int_equal(statuses[1], CHAINFS_NOT_FOUND);
    assert_int_equal(inodes[2].id, file.id);
    assert_int_equal(inodes[3].type, INODE_SYMLINK);
    char text[META_SYMLINK_MAX + 1];
    assert_int_equal(meta_readlink(fixture->space, link.id, text, sizeof(text)), 0);
    assert_string_equal(text, "/a/b/f");
    assert_int_equal(meta_readlink(fixture->space, file.id, text, sizeof(text)), CHAINFS_INVALID_ARGUMENT);
    assert_int_equal(meta_readlink(fixture->space, link.id, text, 4), CHAINFS_NAME_TOO_LONG);
    const char *rows[][2] = {
        {"/abs", "/a/b/f"}, {"/a/rel", "/a/b/f"}, {"/dl", "/a/b"},  {"/dl/f", "/a/b/f"},
        {"/a/./b/../b", "/a/b"}, {"/", "/"}, {"/a/b/f", "/a/b/f"}, {"/dl/../b", "/a/b"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        assert_int_equal(meta_realpath(fixture->space, &root, rows[i][0], text, sizeof(text)), 0);
        assert_string_equal(text, rows[i][1]);
    }
    assert_int_equal(meta_realpath(fixture->space, &root, "/nothing", text, sizeof(text)), CHAINFS_NOT_FOUND);
    struct inode loop;
    assert_int_equal(meta_symlink(fixture->space, &root, META_ROOT_ID, "loop", "/loop", &loop), 0);
    assert_int_equal(meta_realpath(fixture->space, &root, "/loop", text, sizeof(text)), CHAINFS_SYMLINK_LOOP);
}

static void directory_layouts_are_set_by_root_and_inherited(void **state)
{
    struct fixture *fixture = *state;
    uint64_t directory = make_directory(fixture, &root, META_ROOT_ID, "wide", 0777);
    struct file_layout layout = {.table_id = 2, .chunk_size = 4 << 20, .stripe = 8};
    struct inode inode;
    assert_int_equal(meta_set_layout(fixture->space, &alice, directory, &layout, &inode),
                     CHAINFS_NOT_PERMITTED);
    struct file_layout bad = {.table_id = 2, .chunk_size = 1000, .stripe = 8};
    assert_int_equal(meta_set_layout(fixture->space, &root, directory, &bad, &inode),
                     CHAINFS_INVALID_ARGUMENT);
    struct inode file = make_file(fixture, &root, META_ROOT_ID, "file", 0644);
    assert_int_equal(meta_set_layout(fixture->space, &root, file.id, &layout, &inode),
                     CHAINFS_NOT_DIRECTORY);
    assert_int_equal(meta_set_layout(fixture->space, &root, directory, &layout, &inode), 0);
    struct inode first = make_file(fixture, &alice, directory, "one", 0644);
    struct inode second = make_file(fixture, &alice, directory, "two", 0644);
    assert_int_equal(first.layout.table_id, 2);
    assert_int_equal(first.layout.chunk_size, 4 << 20);
    assert_int_equal(first.layout.stripe, 8);
    /* round robin: consecutive files start on different chains */
    assert_int_not_equal(first.layout.first_chain_index, second.layout.first_chain_index);
    assert_int_equal(meta_mkdir(fixture->space, &root, directory, "sub", 0755, &inode), 0);
    assert_int_equal(inode.layout.chunk_size, 4 << 20); /* directories inherit too */
}

static uint32_t table_versions(void *context, uint32_t table_id) { return table_id == 2 ? 7 : 0; }

static void new_files_pin_the_newest_table_version(void **state)
{
    struct fixture *fixture = *state;
    uint64_t directory = make_directory(fixture, &root, META_ROOT_ID, "pinned", 0777);
    struct file_layout layout = {.table_id = 2, .table_version = 0, .chunk_size = 1 << 20, .stripe = 2};
    struct inode inode;
    assert_int_equal(meta_set_layout(fixture->space, &root, directory, &layout, &inode), 0);
    struct inode before = make_file(fixture, &root, directory, "before", 0644);
    assert_int_equal(before.layout.table_version, 0); /* no source: unknown */
    meta_namespace_set_table_versions(fixture->space, table_versions, NULL);
    struct inode after = make_file(fixture, &root, directory, "after", 0644);
    assert_int_equal(after.layout.table_version, 7);
    assert_int_equal(meta_mkdir(fixture->space, &root, directory, "sub", 0755, &inode), 0);
    assert_int_equal(inode.layout.table_version, 0); /* directories keep "newest" */
    struct inode old = make_file(fixture, &root, META_ROOT_ID, "old", 0644);
    assert_int_equal(old.layout.table_version, 1); /* a pinned directory layout stays */
}

/* --- GC ----------------------------------------------------------------------------- */

static bool dead_is_c2(void *context, const char *client_id) { return strcmp(client_id, "c2") == 0; }

static void gc_removes_chunks_then_the_inode(void **state)
{
    struct fixture *fixture = *state;
    struct inode file = make_file(fixture, &root, META_ROOT_ID, "big", 0644), inode;
    fake_write(&fixture->storage, &file, 9 * CHUNK_SIZE + 1);
    struct inode other = make_file(fixture, &root, META_ROOT_ID, "other", 0644);
    fake_write(&fixture->storage, &other, CHUNK_SIZE);
    assert_int_equal(fixture->storage.chunk_count, 11);
    /* not queued yet */
    assert_int_equal(meta_gc_collect(fixture->space, &fixture->ops, file.id, NULL, NULL), CHAINFS_NOT_FOUND);
    assert_int_equal(meta_open(fixture->space, &root, file.id, META_OPEN_MODE_WRITE, "c1", 1, &inode), 0);
    assert_int_equal(meta_open(fixture->space, &root, file.id, META_OPEN_MODE_WRITE, "c2", 2, &inode), 0);
    assert_int_equal(meta_unlink(fixture->space, &root, META_ROOT_ID, "big"), 0);
    /* kept while a live client writes; the dead client's session is pruned */
    assert_int_equal(meta_gc_collect(fixture->space, &fixture->ops, file.id, dead_is_c2, NULL), CHAINFS_BUSY);
    assert_int_equal(session_count(fixture, file.id), 1);
    assert_int_equal(fixture->storage.chunk_count, 11);
    assert_int_equal(meta_stat(fixture->space, file.id, &inode), 0); /* still readable */
    assert_int_equal(meta_close(fixture->space, file.id, 1, false, 0, 0, &inode), 0);
    assert_int_equal(meta_gc_collect(fixture->space, &fixture->ops, file.id, dead_is_c2, NULL), 0);
    assert_int_equal(fixture->storage.chunk_count, 1); /* only the other file's chunk */
    assert_int_equal(fixture->storage.remove_calls, 4); /* one per chain of the stripe */
    assert_int_equal(meta_stat(fixture->space, file.id, &inode), CHAINFS_NOT_FOUND);
    assert_int_equal(gc_queue_length(fixture), 0);
    assert_int_equal(meta_gc_collect(fixture->space, &fixture->ops, file.id, NULL, NULL), CHAINFS_NOT_FOUND);
    /* without storage a file stays queued; a symlink needs none */
    struct meta_storage_ops none = {0};
    assert_int_equal(meta_unlink(fixture->space, &root, META_ROOT_ID, "other"), 0);
    assert_int_equal(meta_gc_collect(fixture->space, &none, other.id, NULL, NULL), CHAINFS_UNSUPPORTED);
    assert_int_equal(gc_queue_length(fixture), 1);
    struct inode link;
    assert_int_equal(meta_symlink(fixture->space, &root, META_ROOT_ID, "s", "/x", &link), 0);
    assert_int_equal(meta_unlink(fixture->space, &root, META_ROOT_ID, "s"), 0);
    assert_int_equal(meta_gc_collect(fixture->space, &none, link.id, NULL, NULL), 0);
}

static void gc_queue_is_walked_page_by_page(void **state)
{
    struct fixture *fixture = *state;
    for (int i = 0; i < 5; i++) {
        char name[8];
        snprintf(name, sizeof(name), "q%d", i);
        make_file(fixture, &root, META_ROOT_ID, name, 0644);
        assert_int_equal(meta_unlink(fixture->space, &root, META_ROOT_ID, name), 0);
    }
    uint64_t all[8], page[2], after = 0;
    size_t total = 0, count;
    bool more = true;
    assert_int_equal(meta_gc_queue(fixture->space, all, 8, &count), 0);
    assert_int_equal(count, 5);
    for (int pass = 0; pass < 5 && more; pass++) {
        assert_int_equal(meta_gc_queue_page(fixture->space, after, page, 2, &count, &more), 0);
        for (size_t i = 0; i < count; i++)
            assert_int_equal(page[i], all[total++]); /* the same order, nothing twice */
        after = count ? page[count - 1] : 0;
    }
    assert_false(more);
    assert_int_equal(total, 5);
    assert_int_equal(meta_gc_queue_page(fixture->space, 0, page, 0, &count, &more),
                     CHAINFS_INVALID_ARGUMENT);
}

static void sessions_of_dead_clients_are_pruned(void **state)
{
    struct fixture *fixture = *state;
    struct inode inode;
    for (int i = 0; i < 5; i++) {
        char name[8];
        snprintf(name, sizeof(name), "f%d", i);
        struct inode file = make_file(fixture, &root, META_ROOT_ID, name, 0644);
        assert_int_equal(meta_open(fixture->space, &root, file.id, META_OPEN_MODE_WRITE, "c1", 1, &inode), 0);
        assert_int_equal(meta_open(fixture->space, &root, file.id, META_OPEN_MODE_WRITE, "c2", 2, &inode), 0);
    }
    struct meta_session_cursor cursor = {0, 0};
    size_t pruned, total = 0;
    /* in passes of 3 sessions: the cursor walks the whole range, then wraps */
    for (int pass = 0; pass < 4; pass++) {
        assert_int_equal(meta_prune_sessions(fixture->space, dead_is_c2, NULL, 3, &cursor, &pruned), 0);
        total += pruned;
    }
    assert_int_equal(total, 5);
    assert_int_equal(cursor.inode_id, 0); /* wrapped */
}

/* --- the offline check ------------------------------------------------------------- */

static void put_record(struct fixture *fixture, const void *key, size_t key_length,
                       const struct wire_writer *value)
{
    struct kv_transaction *transaction;
    assert_int_equal(kv_begin(fixture->temporary.store, &transaction), 0);
    if (value)
        assert_int_equal(kv_set(transaction, key, key_length, value->data, value->length), 0);
    else
        assert_int_equal(kv_clear(transaction, key, key_length), 0);
    assert_int_equal(kv_commit(transaction), 0);
}

static void put_inode(struct fixture *fixture, const struct inode *inode)
{
    uint8_t key[12] = {'I', 'N', 'O', 'D'};
    wire_store_u64(key + 4, inode->id);
    struct wire_writer writer;
    wire_writer_init(&writer);
    inode_encode(&writer, inode);
    put_record(fixture, key, sizeof(key), &writer);
    wire_writer_free(&writer);
}

static void put_entry(struct fixture *fixture, uint64_t parent, const char *name, uint64_t id,
                      uint8_t type, bool remove)
{
    uint8_t key[12 + META_NAME_MAX] = {'D', 'E', 'N', 'T'};
    wire_store_u64(key + 4, parent);
    memcpy(key + 12, name, strlen(name));
    struct wire_writer writer;
    wire_writer_init(&writer);
    struct directory_entry entry = {id, type};
    directory_entry_encode(&writer, &entry);
    put_record(fixture, key, 12 + strlen(name), remove ? NULL : &writer);
    wire_writer_free(&writer);
}

/* A small tree: /d (directory) with files f and g (g hard-linked as /h), /d/e, and a
 * removed file in the GC queue. */
struct small_tree {
    uint64_t d, e;
    struct inode f, g;
};

static struct small_tree build_tree(struct fixture *fixture)
{
    struct small_tree tree;
    struct inode inode;
    tree.d = make_directory(fixture, &root, META_ROOT_ID, "d", 0755);
    tree.e = make_directory(fixture, &root, tree.d, "e", 0755);
    tree.f = make_file(fixture, &root, tree.d, "f", 0644);
    tree.g = make_file(fixture, &root, tree.d, "g", 0644);
    assert_int_equal(meta_link(fixture->space, &root, tree.g.id, META_ROOT_ID, "h", &inode), 0);
    make_file(fixture, &root, tree.d, "gone", 0644);
    assert_int_equal(meta_unlink(fixture->space, &root, tree.d, "gone"), 0);
    assert_int_equal(meta_rename(fixture->space, &root, tree.d, "e", META_ROOT_ID, "e2", 0), 0);
    return tree;
}

static void check_passes_on_a_consistent_namespace(void **state)
{
    struct fixture *fixture = *state;
    build_tree(fixture);
    struct meta_check_report report;
    assert_int_equal(meta_check(fixture->space, &report), 0);
    assert_int_equal(report.problem_count, 0);
    assert_int_equal(report.inodes, 6);
    assert_int_equal(report.entries, 5);
    assert_int_equal(report.queued, 1);
}

enum corruption { LOST_ENTRY, WRONG_FILE_NLINK, DANGLING_ENTRY, DIRECTORY_CYCLE, WRONG_DIRECTORY_NLINK,
                  SECOND_DIRECTORY_ENTRY, LINKED_AND_QUEUED };

struct corruption_row {
    enum corruption corruption;
    const char *finding; /* a part of the first problem's text */
};

static void corrupt(struct fixture *fixture, const struct small_tree *tree, enum corruption corruption)
{
    struct inode inode;
    switch (corruption) {
    case LOST_ENTRY:
        put_entry(fixture, tree->d, "f", 0, 0, true);
        break;
    case WRONG_FILE_NLINK:
        inode = tree->g;
        inode.nlink = 1; /* it has two entries */
        put_inode(fixture, &inode);
        break;
    case DANGLING_ENTRY:
        put_entry(fixture, tree->d, "ghost", 987654321, INODE_FILE, false);
        break;
    case DIRECTORY_CYCLE:
        assert_int_equal(meta_stat(fixture->space, tree->d, &inode), 0);
        inode.parent_id = tree->e; /* /d claims to live in /e2, which lives in / */
        put_inode(fixture, &inode);
        assert_int_equal(meta_stat(fixture->space, tree->e, &inode), 0);
        inode.parent_id = tree->d;
        put_inode(fixture, &inode);
        break;
    case WRONG_DIRECTORY_NLINK:
        assert_int_equal(meta_stat(fixture->space, META_ROOT_ID, &inode), 0);
        inode.nlink = 2; /* it has two subdirectories */
        put_inode(fixture, &inode);
        break;
    case SECOND_DIRECTORY_ENTRY:
        put_entry(fixture, META_ROOT_ID, "alias", tree->d, INODE_DIRECTORY, false);
        break;
    case LINKED_AND_QUEUED: {
        uint8_t key[12] = {'G', 'C', 'Q', 'U'};
        wire_store_u64(key + 4, tree->f.id);
        struct wire_writer empty;
        wire_writer_init(&empty);
        wire_put_raw(&empty, "", 0);
        put_record(fixture, key, sizeof(key), &empty);
        wire_writer_free(&empty);
        break;
    }
    }
}

static void check_finds_each_kind_of_corruption(void **state)
{
    static const struct corruption_row rows[] = {
        {LOST_ENTRY, "in no directory and not in the GC queue"},
        {WRONG_FILE_NLINK, "has nlink 1 but 2 entries"},
        {DANGLING_ENTRY, "points to missing inode"},
        {DIRECTORY_CYCLE, "linked as"},
        {WRONG_DIRECTORY_NLINK, "has nlink 2 for 2 subdirectories"},
        {SECOND_DIRECTORY_ENTRY, "has 2 entries"},
        {LINKED_AND_QUEUED, "linked and queued"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        void *fixture;
        assert_int_equal(setup(&fixture), 0);
        struct small_tree tree = build_tree(fixture);
        corrupt(fixture, &tree, rows[i].corruption);
        struct meta_check_report report;
        assert_int_equal(meta_check(((struct fixture *)fixture)->space, &report), 0);
        bool found = false;
        for (uint64_t k = 0; k < report.problem_count && k < META_CHECK_PROBLEMS_MAX; k++)
            found = found || strstr(report.problems[k], rows[i].finding) != NULL;
        if (!found)
            fail_msg("row %zu: no problem mentions '%s' (%llu problems, first: %s)", i,
                     rows[i].finding, (unsigned long long)report.problem_count,
                     report.problem_count ? report.problems[0] : "-");
        assert_int_equal(teardown(&fixture), 0);
    }
}

/* --- random concurrent changes ------------------------------------------------------- */

struct random_worker {
    struct meta_namespace *space;
    uint64_t top;
    unsigned seed;
    int operations;
};

/* Resolves "/t/nA" or "/t/nA/nB" (random) to a parent id and a name. */
static int random_entry(struct random_worker *worker, uint64_t *parent, char *name)
{
    int first = rand_r(&worker->seed) % 6, second = rand_r(&worker->seed) % 6;
    if (rand_r(&worker->seed) % 2) {
        *parent = worker->top;
        snprintf(name, 8, "n%d", first);
        return 0;
    }
    char directory[8];
    snprintf(directory, sizeof(directory), "n%d", first);
    snprintf(name, 8, "n%d", second);
    struct inode inode;
    int status = meta_lookup(worker->space, &root, worker->top, directory, &inode);
    *parent = inode.id;
    return status;
}

static void *random_changes(void *argument)
{
    struct random_worker *worker = argument;
    for (int i = 0; i < worker->operations; i++) {
        uint64_t parent, other_parent;
        char name[8], other[8];
        struct inode inode;
        if (random_entry(worker, &parent, name) != 0 || random_entry(worker, &other_parent, other) != 0)
            continue;
        struct inode existing;
        switch (rand_r(&worker->seed) % 8) {
        case 6:
            if (meta_lookup(worker->space, &root, parent, name, &existing) == 0)
                meta_link(worker->space, &root, existing.id, other_parent, other, &inode);
            break;
        case 0: meta_create(worker->space, &root, parent, name, 0644, 0, &inode); break;
        case 1: meta_mkdir(worker->space, &root, parent, name, 0755, &inode); break;
        case 2: meta_unlink(worker->space, &root, parent, name); break;
        case 3: meta_rmdir(worker->space, &root, parent, name); break;
        case 4: meta_rename(worker->space, &root, parent, name, other_parent, other, 0); break;
        case 5: meta_rename(worker->space, &root, parent, name, other_parent, other, META_RENAME_EXCHANGE); break;
        default: meta_rename(worker->space, &root, parent, name, other_parent, other, META_RENAME_NOREPLACE);
        }
    }
    return NULL;
}

/* Regression: a rename into a directory that a concurrent rename replaced (deleted)
 * once took the missing parent for a missing entry and wrote the entry into the
 * deleted directory; both renames committed within a few rounds. */
struct rename_pair {
    struct meta_namespace *space;
    uint64_t top, x;
    pthread_barrier_t *barrier;
    int replace_status, into_status;
};

static void *rename_over_x(void *argument)
{
    struct rename_pair *pair = argument;
    pthread_barrier_wait(pair->barrier);
    pair->replace_status = meta_rename(pair->space, &root, pair->top, "y", pair->top, "x", 0);
    return NULL;
}

static void *rename_into_x(void *argument)
{
    struct rename_pair *pair = argument;
    pthread_barrier_wait(pair->barrier);
    pair->into_status = meta_rename(pair->space, &root, pair->top, "f", pair->x, "n2", 0);
    return NULL;
}

static void rename_into_a_directory_being_replaced_never_both_commit(void **state)
{
    struct fixture *fixture = *state;
    uint64_t top = make_directory(fixture, &root, META_ROOT_ID, "t", 0755);
    for (int round = 0; round < 300; round++) {
        pthread_barrier_t barrier;
        pthread_barrier_init(&barrier, NULL, 2);
        struct rename_pair pair = {fixture->space, top, make_directory(fixture, &root, top, "x", 0755),
                                   &barrier, -1, -1};
        make_directory(fixture, &root, top, "y", 0755);
        make_directory(fixture, &root, top, "f", 0755);
        pthread_t a, b;
        assert_int_equal(pthread_create(&a, NULL, rename_over_x, &pair), 0);
        assert_int_equal(pthread_create(&b, NULL, rename_into_x, &pair), 0);
        pthread_join(a, NULL);
        pthread_join(b, NULL);
        pthread_barrier_destroy(&barrier);
        if (pair.replace_status == 0 && pair.into_status == 0)
            fail_msg("round %d: both renames committed", round);
        static const char *const names[] = {"x", "y", "f"};
        uint64_t removed;
        for (size_t i = 0; i < 3; i++)
            meta_remove_tree(fixture->space, &root, top, names[i], &removed);
    }
    struct meta_check_report report;
    assert_int_equal(meta_check(fixture->space, &report), 0);
    assert_int_equal(report.problem_count, 0);
}

static void random_concurrent_changes_stay_consistent(void **state)
{
    struct fixture *fixture = *state;
    uint64_t top = make_directory(fixture, &root, META_ROOT_ID, "t", 0755);
    struct random_worker workers[8];
    pthread_t threads[8];
    for (int i = 0; i < 8; i++) {
        workers[i] = (struct random_worker){fixture->space, top, (unsigned)i * 7919 + 17, 1500};
        assert_int_equal(pthread_create(&threads[i], NULL, random_changes, &workers[i]), 0);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(threads[i], NULL);
    struct meta_check_report report;
    assert_int_equal(meta_check(fixture->space, &report), 0);
    if (report.problem_count)
        fail_msg("%llu problems, first: %s", (unsigned long long)report.problem_count, report.problems[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(write_open_records_a_session_and_close_removes_it, setup, teardown),
        cmocka_unit_test_setup_teardown(open_checks_permissions_table, setup, teardown),
        cmocka_unit_test_setup_teardown(lengths_grow_unless_a_truncate_intervened, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_length_takes_the_end_of_the_last_chunk, setup, teardown),
        cmocka_unit_test_setup_teardown(retried_requests_are_applied_once, setup, teardown),
        cmocka_unit_test_setup_teardown(remove_tree_in_bounded_steps, setup, teardown),
        cmocka_unit_test_setup_teardown(remove_tree_obeys_permissions, setup, teardown),
        cmocka_unit_test_setup_teardown(mkdirs_creates_missing_directories, setup, teardown),
        cmocka_unit_test_setup_teardown(batch_stat_readlink_and_realpath, setup, teardown),
        cmocka_unit_test_setup_teardown(directory_layouts_are_set_by_root_and_inherited, setup, teardown),
        cmocka_unit_test_setup_teardown(new_files_pin_the_newest_table_version, setup, teardown),
        cmocka_unit_test_setup_teardown(gc_removes_chunks_then_the_inode, setup, teardown),
        cmocka_unit_test_setup_teardown(gc_queue_is_walked_page_by_page, setup, teardown),
        cmocka_unit_test_setup_teardown(sessions_of_dead_clients_are_pruned, setup, teardown),
        cmocka_unit_test_setup_teardown(check_passes_on_a_consistent_namespace, setup, teardown),
        cmocka_unit_test(check_finds_each_kind_of_corruption),
        cmocka_unit_test_setup_teardown(rename_into_a_directory_being_replaced_never_both_commit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(random_concurrent_changes_stay_consistent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
