/*
 * test_namespace.c - the metadata namespace on a real LMDB store: every operation's
 * success and its error paths (the errno a local file system gives), permissions for
 * non-root callers, the GC queue, and concurrent cross renames that must never both
 * commit.
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
#include "temporary_store.h"
#include "meta/namespace.h"

struct fixture {
    struct temporary_store temporary;
    struct kv_store *store;
    struct meta_namespace *space;
};

static const struct meta_credentials root = {0, 0, 0, {0}};
static const struct meta_credentials alice = {1000, 1000, 1, {500}};
static const struct meta_credentials bob = {1001, 1001, 0, {0}};

static int setup(void **state)
{
    log_set_level(LOG_LEVEL_ERROR);
    struct fixture *fixture = calloc(1, sizeof(*fixture));
    assert_int_equal(temporary_store_open(&fixture->temporary, "meta", 64 << 20), 0);
    fixture->store = fixture->temporary.store;
    assert_int_equal(meta_namespace_open(fixture->store, &fixture->space), 0);
    struct file_layout layout = {.table_id = 1, .table_version = 1, .chunk_size = 1 << 20, .stripe = 4};
    assert_int_equal(meta_namespace_format(fixture->space, &layout), 0);
    assert_int_equal(meta_namespace_format(fixture->space, &layout), 0); /* idempotent */
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

static uint64_t make_directory(struct fixture *fixture, uint64_t parent, const char *name, uint32_t mode)
{
    struct inode inode;
    assert_int_equal(meta_mkdir(fixture->space, &root, parent, name, mode, &inode), 0);
    return inode.id;
}

static uint64_t make_file(struct fixture *fixture, const struct meta_credentials *who, uint64_t parent,
                          const char *name)
{
    struct inode inode;
    assert_int_equal(meta_create(fixture->space, who, parent, name, 0644, META_CREATE_EXCLUSIVE, &inode), 0);
    return inode.id;
}

static bool in_gc_queue(struct fixture *fixture, uint64_t id)
{
    uint64_t ids[64];
    size_t count;
    assert_int_equal(meta_gc_queue(fixture->space, ids, 64, &count), 0);
    for (size_t i = 0; i < count; i++)
        if (ids[i] == id)
            return true;
    return false;
}

static void create_lookup_and_open_semantics(void **state)
{
    struct fixture *fixture = *state;
    struct inode inode, found;
    assert_int_equal(meta_create(fixture->space, &root, META_ROOT_ID, "a", 0640, 0, &inode), 0);
    assert_int_equal(inode.type, INODE_FILE);
    assert_int_equal(inode.mode, 0640);
    assert_int_equal(inode.nlink, 1);
    assert_int_equal(inode.layout.chunk_size, 1 << 20); /* inherited from the root */
    assert_int_equal(meta_lookup(fixture->space, &root, META_ROOT_ID, "a", &found), 0);
    assert_true(found.id == inode.id);
    /* O_CREAT on an existing file opens it; with O_EXCL it is EEXIST. */
    assert_int_equal(meta_create(fixture->space, &root, META_ROOT_ID, "a", 0600, 0, &found), 0);
    assert_true(found.id == inode.id && found.mode == 0640);
    assert_int_equal(meta_create(fixture->space, &root, META_ROOT_ID, "a", 0600,
                                 META_CREATE_EXCLUSIVE, &found), CHAINFS_EXISTS);
    uint64_t directory = make_directory(fixture, META_ROOT_ID, "d", 0755);
    assert_int_equal(meta_create(fixture->space, &root, META_ROOT_ID, "d", 0600, 0, &found),
                     CHAINFS_IS_DIRECTORY);
    assert_int_equal(meta_stat(fixture->space, META_ROOT_ID, &found), 0);
    assert_int_equal(found.nlink, 3); /* ".", "..", and d's ".." */
    assert_int_equal(meta_stat(fixture->space, directory, &found), 0);
    assert_true(found.parent_id == META_ROOT_ID);
    assert_string_equal(found.name, "d");
    /* ids are unique */
    struct inode other;
    assert_int_equal(meta_create(fixture->space, &root, directory, "a", 0600, 0, &other), 0);
    assert_true(other.id != inode.id && other.id != directory);
}

static void names_and_types_are_checked(void **state)
{
    struct fixture *fixture = *state;
    struct inode inode;
    char long_name[300];
    memset(long_name, 'n', 256);
    long_name[256] = '\0';
    static const struct { const char *name; int status; } cases[] = {
        {"", CHAINFS_INVALID_ARGUMENT}, {".", CHAINFS_INVALID_ARGUMENT},
        {"..", CHAINFS_INVALID_ARGUMENT}, {"a/b", CHAINFS_INVALID_ARGUMENT},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(meta_create(fixture->space, &root, META_ROOT_ID, cases[i].name, 0644, 0, &inode),
                         cases[i].status);
    assert_int_equal(meta_create(fixture->space, &root, META_ROOT_ID, long_name, 0644, 0, &inode),
                     CHAINFS_NAME_TOO_LONG);
    long_name[255] = '\0';
    assert_int_equal(meta_create(fixture->space, &root, META_ROOT_ID, long_name, 0644, 0, &inode), 0);
    uint64_t file = make_file(fixture, &root, META_ROOT_ID, "file");
    assert_int_equal(meta_create(fixture->space, &root, file, "x", 0644, 0, &inode), CHAINFS_NOT_DIRECTORY);
    assert_int_equal(meta_lookup(fixture->space, &root, META_ROOT_ID, "missing", &inode), CHAINFS_NOT_FOUND);
    assert_int_equal(meta_resolve(fixture->space, &root, "/file/x", true, &inode), CHAINFS_NOT_DIRECTORY);
    assert_int_equal(meta_resolve(fixture->space, &root, "relative", true, &inode), CHAINFS_INVALID_ARGUMENT);
    /* binary names other than '/' and NUL are fine */
    assert_int_equal(meta_create(fixture->space, &root, META_ROOT_ID, "\x01\xff name", 0644, 0, &inode), 0);
}

static void readdir_pages_in_name_order(void **state)
{
    struct fixture *fixture = *state;
    uint64_t directory = make_directory(fixture, META_ROOT_ID, "many", 0755);
    for (int i = 9; i >= 0; i--) {
        char name[16];
        snprintf(name, sizeof(name), "f%d", i);
        make_file(fixture, &root, directory, name);
    }
    struct meta_directory_entry entries[3];
    char after[META_NAME_MAX + 1] = "";
    int seen = 0;
    bool more = true;
    while (more) {
        size_t count;
        assert_int_equal(meta_readdir(fixture->space, &root, directory, after, entries, 3, &count, &more), 0);
        for (size_t i = 0; i < count; i++) {
            char expected[16];
            snprintf(expected, sizeof(expected), "f%d", seen++);
            assert_string_equal(entries[i].name, expected);
            assert_int_equal(entries[i].type, INODE_FILE);
        }
        if (count)
            snprintf(after, sizeof(after), "%s", entries[count - 1].name);
    }
    assert_int_equal(seen, 10);
    size_t count;
    assert_int_equal(meta_readdir(fixture->space, &root, make_file(fixture, &root, directory, "zz"), "",
                                  entries, 3, &count, &more), CHAINFS_NOT_DIRECTORY);
}

static void unlink_rmdir_and_the_gc_queue(void **state)
{
    struct fixture *fixture = *state;
    uint64_t directory = make_directory(fixture, META_ROOT_ID, "d", 0755);
    uint64_t file = make_file(fixture, &root, directory, "f");
    struct inode inode;
    assert_int_equal(meta_unlink(fixture->space, &root, META_ROOT_ID, "d"), CHAINFS_IS_DIRECTORY);
    assert_int_equal(meta_rmdir(fixture->space, &root, directory, "f"), CHAINFS_NOT_DIRECTORY);
    assert_int_equal(meta_rmdir(fixture->space, &root, META_ROOT_ID, "d"), CHAINFS_NOT_EMPTY);
    assert_int_equal(meta_rmdir(fixture->space, &root, META_ROOT_ID, ".."), CHAINFS_NOT_EMPTY);
    assert_int_equal(meta_unlink(fixture->space, &root, directory, "missing"), CHAINFS_NOT_FOUND);
    /* hard link: the inode survives one unlink */
    assert_int_equal(meta_link(fixture->space, &root, file, META_ROOT_ID, "hard", &inode), 0);
    assert_int_equal(inode.nlink, 2);
    assert_int_equal(meta_link(fixture->space, &root, file, META_ROOT_ID, "hard", &inode), CHAINFS_EXISTS);
    assert_int_equal(meta_link(fixture->space, &root, directory, META_ROOT_ID, "dirlink", &inode),
                     CHAINFS_NOT_PERMITTED);
    assert_int_equal(meta_unlink(fixture->space, &root, directory, "f"), 0);
    assert_false(in_gc_queue(fixture, file));
    assert_int_equal(meta_stat(fixture->space, file, &inode), 0);
    assert_int_equal(inode.nlink, 1);
    assert_int_equal(meta_unlink(fixture->space, &root, META_ROOT_ID, "hard"), 0);
    assert_true(in_gc_queue(fixture, file)); /* last link: waits for chunk deletion */
    assert_int_equal(meta_rmdir(fixture->space, &root, META_ROOT_ID, "d"), 0);
    assert_int_equal(meta_stat(fixture->space, directory, &inode), CHAINFS_NOT_FOUND);
    assert_int_equal(meta_stat(fixture->space, META_ROOT_ID, &inode), 0);
    assert_int_equal(inode.nlink, 2);
}

static void symlinks_resolve_with_a_depth_limit(void **state)
{
    struct fixture *fixture = *state;
    uint64_t directory = make_directory(fixture, META_ROOT_ID, "real", 0755);
    uint64_t file = make_file(fixture, &root, directory, "target");
    struct inode inode;
    assert_int_equal(meta_symlink(fixture->space, &root, META_ROOT_ID, "link", "real/target", &inode), 0);
    assert_int_equal(meta_symlink(fixture->space, &root, META_ROOT_ID, "dirlink", "/real", &inode), 0);
    assert_int_equal(meta_resolve(fixture->space, &root, "/link", true, &inode), 0);
    assert_true(inode.id == file);
    assert_int_equal(meta_resolve(fixture->space, &root, "/link", false, &inode), 0);
    assert_int_equal(inode.type, INODE_SYMLINK);
    assert_string_equal(inode.symlink_target, "real/target");
    assert_int_equal(meta_resolve(fixture->space, &root, "/dirlink/target", false, &inode), 0);
    assert_true(inode.id == file);
    assert_int_equal(meta_resolve(fixture->space, &root, "//real/./target", true, &inode), 0);
    assert_true(inode.id == file);
    assert_int_equal(meta_resolve(fixture->space, &root, "/real/../real/target", true, &inode), 0);
    assert_true(inode.id == file);
    assert_int_equal(meta_symlink(fixture->space, &root, META_ROOT_ID, "loop1", "/loop2", &inode), 0);
    assert_int_equal(meta_symlink(fixture->space, &root, META_ROOT_ID, "loop2", "/loop1", &inode), 0);
    assert_int_equal(meta_resolve(fixture->space, &root, "/loop1", true, &inode), CHAINFS_SYMLINK_LOOP);
    assert_int_equal(meta_symlink(fixture->space, &root, META_ROOT_ID, "empty", "", &inode),
                     CHAINFS_INVALID_ARGUMENT);
}

static void rename_rules(void **state)
{
    struct fixture *fixture = *state;
    struct inode inode;
    uint64_t a = make_directory(fixture, META_ROOT_ID, "a", 0755);
    uint64_t b = make_directory(fixture, META_ROOT_ID, "b", 0755);
    uint64_t child = make_directory(fixture, a, "child", 0755);
    uint64_t file = make_file(fixture, &root, a, "file");
    uint64_t victim = make_file(fixture, &root, b, "victim");
    /* plain, same directory */
    assert_int_equal(meta_rename(fixture->space, &root, a, "file", a, "renamed", 0), 0);
    assert_int_equal(meta_lookup(fixture->space, &root, a, "file", &inode), CHAINFS_NOT_FOUND);
    assert_int_equal(meta_rename(fixture->space, &root, a, "renamed", a, "renamed", 0), 0); /* itself */
    /* replacing a file sends it to GC */
    assert_int_equal(meta_rename(fixture->space, &root, a, "renamed", b, "victim", 0), 0);
    assert_int_equal(meta_lookup(fixture->space, &root, b, "victim", &inode), 0);
    assert_true(inode.id == file);
    assert_true(in_gc_queue(fixture, victim));
    /* directory across parents: link counts follow */
    assert_int_equal(meta_rename(fixture->space, &root, a, "child", b, "moved", 0), 0);
    assert_int_equal(meta_stat(fixture->space, a, &inode), 0);
    assert_int_equal(inode.nlink, 2);
    assert_int_equal(meta_stat(fixture->space, b, &inode), 0);
    assert_int_equal(inode.nlink, 3);
    assert_int_equal(meta_stat(fixture->space, child, &inode), 0);
    assert_true(inode.parent_id == b);
    assert_string_equal(inode.name, "moved");
    /* a directory never moves under itself */
    assert_int_equal(meta_rename(fixture->space, &root, META_ROOT_ID, "b", child, "loop", 0),
                     CHAINFS_INVALID_ARGUMENT);
    assert_int_equal(meta_rename(fixture->space, &root, META_ROOT_ID, "b", b, "self", 0),
                     CHAINFS_INVALID_ARGUMENT);
    /* type rules */
    make_file(fixture, &root, a, "f2");
    make_directory(fixture, a, "full", 0755);
    make_file(fixture, &root, META_ROOT_ID, "f3");
    assert_int_equal(meta_create(fixture->space, &root, b, "inside", 0644, 0, &inode), 0);
    assert_int_equal(meta_rename(fixture->space, &root, a, "f2", a, "full", 0), CHAINFS_IS_DIRECTORY);
    assert_int_equal(meta_rename(fixture->space, &root, a, "full", a, "f2", 0), CHAINFS_NOT_DIRECTORY);
    assert_int_equal(meta_rename(fixture->space, &root, a, "full", META_ROOT_ID, "b", 0), CHAINFS_NOT_EMPTY);
    assert_int_equal(meta_rename(fixture->space, &root, a, "f2", META_ROOT_ID, "f3", META_RENAME_NOREPLACE),
                     CHAINFS_EXISTS);
    assert_int_equal(meta_rename(fixture->space, &root, a, "nothing", a, "x", 0), CHAINFS_NOT_FOUND);
    assert_int_equal(meta_rename(fixture->space, &root, a, "f2", a, "absent", META_RENAME_EXCHANGE),
                     CHAINFS_NOT_FOUND);
    assert_int_equal(meta_rename(fixture->space, &root, a, "f2", a, "x",
                                 META_RENAME_EXCHANGE | META_RENAME_NOREPLACE), CHAINFS_INVALID_ARGUMENT);
    /* exchange a file and a directory across parents */
    struct inode before_file, before_dir;
    assert_int_equal(meta_lookup(fixture->space, &root, a, "f2", &before_file), 0);
    assert_int_equal(meta_lookup(fixture->space, &root, b, "moved", &before_dir), 0);
    assert_int_equal(meta_rename(fixture->space, &root, a, "f2", b, "moved", META_RENAME_EXCHANGE), 0);
    assert_int_equal(meta_lookup(fixture->space, &root, a, "f2", &inode), 0);
    assert_true(inode.id == before_dir.id && inode.parent_id == a);
    assert_int_equal(meta_lookup(fixture->space, &root, b, "moved", &inode), 0);
    assert_true(inode.id == before_file.id);
    assert_int_equal(meta_stat(fixture->space, a, &inode), 0);
    assert_int_equal(inode.nlink, 4); /* full, and the exchanged directory */
    assert_int_equal(meta_stat(fixture->space, b, &inode), 0);
    assert_int_equal(inode.nlink, 2);
}

static void permissions_for_non_root_callers(void **state)
{
    struct fixture *fixture = *state;
    struct inode inode;
    assert_int_equal(meta_create(fixture->space, &alice, META_ROOT_ID, "x", 0644, 0, &inode),
                     CHAINFS_PERMISSION_DENIED);
    assert_int_equal(meta_mkdir(fixture->space, &alice, META_ROOT_ID, "x", 0755, &inode),
                     CHAINFS_PERMISSION_DENIED);
    uint64_t shared = make_directory(fixture, META_ROOT_ID, "shared", 01777);
    uint64_t open_dir = make_directory(fixture, META_ROOT_ID, "open", 0777);
    assert_int_equal(meta_create(fixture->space, &alice, shared, "mine", 0644, 0, &inode), 0);
    assert_int_equal(inode.uid, 1000);
    assert_int_equal(inode.gid, 1000);
    /* sticky: bob may not remove or rename alice's file; alice may */
    assert_int_equal(meta_unlink(fixture->space, &bob, shared, "mine"), CHAINFS_NOT_PERMITTED);
    assert_int_equal(meta_rename(fixture->space, &bob, shared, "mine", shared, "his", 0), CHAINFS_NOT_PERMITTED);
    assert_int_equal(meta_create(fixture->space, &alice, open_dir, "mine", 0644, 0, &inode), 0);
    assert_int_equal(meta_unlink(fixture->space, &bob, open_dir, "mine"), 0); /* no sticky bit */
    assert_int_equal(meta_unlink(fixture->space, &alice, shared, "mine"), 0);
    /* search and read permission on directories */
    uint64_t private_dir = make_directory(fixture, META_ROOT_ID, "private", 0700);
    make_file(fixture, &root, private_dir, "secret");
    assert_int_equal(meta_lookup(fixture->space, &alice, private_dir, "secret", &inode),
                     CHAINFS_PERMISSION_DENIED);
    assert_int_equal(meta_resolve(fixture->space, &alice, "/private/secret", true, &inode),
                     CHAINFS_PERMISSION_DENIED);
    uint64_t search_only = make_directory(fixture, META_ROOT_ID, "search", 0711);
    make_file(fixture, &root, search_only, "known");
    struct meta_directory_entry entries[4];
    size_t count;
    bool more;
    assert_int_equal(meta_readdir(fixture->space, &alice, search_only, "", entries, 4, &count, &more),
                     CHAINFS_PERMISSION_DENIED);
    assert_int_equal(meta_lookup(fixture->space, &alice, search_only, "known", &inode), 0);
    /* supplementary group 500 grants the group bits */
    struct inode group_dir;
    assert_int_equal(meta_mkdir(fixture->space, &(struct meta_credentials){0, 500, 0, {0}}, META_ROOT_ID,
                                "group", 0770, &group_dir), 0);
    assert_int_equal(meta_create(fixture->space, &alice, group_dir.id, "ok", 0644, 0, &inode), 0);
    assert_int_equal(meta_create(fixture->space, &bob, group_dir.id, "no", 0644, 0, &inode),
                     CHAINFS_PERMISSION_DENIED);
    /* O_TRUNC of someone else's read-only file */
    assert_int_equal(meta_create(fixture->space, &bob, open_dir, "ro", 0444, 0, &inode), 0);
    assert_int_equal(meta_create(fixture->space, &alice, open_dir, "ro", 0644, 0, &inode), 0); /* open */
}

static void setattr_rules(void **state)
{
    struct fixture *fixture = *state;
    uint64_t open_dir = make_directory(fixture, META_ROOT_ID, "open", 0777);
    uint64_t file = make_file(fixture, &alice, open_dir, "f");
    struct inode inode, before;
    assert_int_equal(meta_stat(fixture->space, file, &before), 0);
    struct meta_setattr chmod_change = {.fields = META_SET_MODE, .mode = 0600};
    assert_int_equal(meta_setattr(fixture->space, &bob, file, &chmod_change, &inode), CHAINFS_NOT_PERMITTED);
    assert_int_equal(meta_setattr(fixture->space, &alice, file, &chmod_change, &inode), 0);
    assert_int_equal(inode.mode, 0600);
    struct meta_setattr chown_uid = {.fields = META_SET_UID, .uid = 1001};
    assert_int_equal(meta_setattr(fixture->space, &alice, file, &chown_uid, &inode), CHAINFS_NOT_PERMITTED);
    struct meta_setattr chgrp_own = {.fields = META_SET_GID, .gid = 500};
    assert_int_equal(meta_setattr(fixture->space, &alice, file, &chgrp_own, &inode), 0);
    assert_int_equal(inode.gid, 500);
    struct meta_setattr chgrp_other = {.fields = META_SET_GID, .gid = 777};
    assert_int_equal(meta_setattr(fixture->space, &alice, file, &chgrp_other, &inode), CHAINFS_NOT_PERMITTED);
    assert_int_equal(meta_setattr(fixture->space, &root, file, &chown_uid, &inode), 0);
    assert_int_equal(inode.uid, 1001);
    /* size needs write permission and bumps the truncate version */
    struct meta_setattr truncate_change = {.fields = META_SET_SIZE, .size = 4096};
    assert_int_equal(meta_setattr(fixture->space, &alice, file, &truncate_change, &inode),
                     CHAINFS_PERMISSION_DENIED);
    assert_int_equal(meta_setattr(fixture->space, &bob, file, &truncate_change, &inode), 0);
    assert_true(inode.length == 4096 && inode.truncate_version == before.truncate_version + 1);
    assert_int_equal(meta_setattr(fixture->space, &root, open_dir, &truncate_change, &inode),
                     CHAINFS_IS_DIRECTORY);
    /* explicit times by the owner only; "now" with write permission */
    struct meta_setattr times = {.fields = META_SET_MTIME, .mtime_ns = 42};
    assert_int_equal(meta_setattr(fixture->space, &alice, file, &times, &inode), CHAINFS_NOT_PERMITTED);
    assert_int_equal(meta_setattr(fixture->space, &bob, file, &times, &inode), 0);
    assert_true(inode.mtime_ns == 42);
    struct meta_setattr now = {.fields = META_SET_MTIME_NOW};
    assert_int_equal(meta_setattr(fixture->space, &alice, file, &now, &inode), CHAINFS_PERMISSION_DENIED);
    struct meta_setattr nothing = {.fields = 0};
    assert_int_equal(meta_setattr(fixture->space, &root, file, &nothing, &inode), CHAINFS_INVALID_ARGUMENT);
    assert_int_equal(meta_setattr(fixture->space, &root, 999999, &chmod_change, &inode), CHAINFS_NOT_FOUND);
    /* O_TRUNC of a file with data */
    assert_int_equal(meta_create(fixture->space, &bob, open_dir, "f", 0644, META_CREATE_TRUNCATE, &inode), 0);
    assert_true(inode.length == 0 && inode.truncate_version == before.truncate_version + 2);
}

static void directory_paths_follow_renames(void **state)
{
    struct fixture *fixture = *state;
    char path[64];
    assert_int_equal(meta_directory_path(fixture->space, META_ROOT_ID, path, sizeof(path)), 0);
    assert_string_equal(path, "/");
    uint64_t a = make_directory(fixture, META_ROOT_ID, "a", 0755);
    uint64_t b = make_directory(fixture, a, "b", 0755);
    uint64_t c = make_directory(fixture, b, "c", 0755);
    assert_int_equal(meta_directory_path(fixture->space, c, path, sizeof(path)), 0);
    assert_string_equal(path, "/a/b/c");
    assert_int_equal(meta_rename(fixture->space, &root, a, "b", META_ROOT_ID, "moved", 0), 0);
    assert_int_equal(meta_directory_path(fixture->space, c, path, sizeof(path)), 0);
    assert_string_equal(path, "/moved/c");
    assert_int_equal(meta_directory_path(fixture->space, c, path, 5), CHAINFS_NAME_TOO_LONG);
    uint64_t file = make_file(fixture, &root, META_ROOT_ID, "f");
    assert_int_equal(meta_directory_path(fixture->space, file, path, sizeof(path)), CHAINFS_NOT_DIRECTORY);
    assert_int_equal(meta_directory_path(fixture->space, 987654, path, sizeof(path)), CHAINFS_NOT_FOUND);
}

struct cross_rename {
    struct fixture *fixture;
    pthread_barrier_t *barrier;
    const char *from;
    uint64_t from_parent;
    uint64_t to_parent;
    const char *to;
    int status;
};

static void *rename_thread(void *argument)
{
    struct cross_rename *work = argument;
    pthread_barrier_wait(work->barrier);
    work->status = meta_rename(work->fixture->space, &root, work->from_parent, work->from,
                               work->to_parent, work->to, 0);
    return NULL;
}

static void concurrent_cross_renames_never_both_succeed(void **state)
{
    struct fixture *fixture = *state;
    for (int round = 0; round < 60; round++) {
        char a_name[16], b_name[16];
        snprintf(a_name, sizeof(a_name), "a%d", round);
        snprintf(b_name, sizeof(b_name), "b%d", round);
        uint64_t a = make_directory(fixture, META_ROOT_ID, a_name, 0755);
        uint64_t b = make_directory(fixture, META_ROOT_ID, b_name, 0755);
        pthread_barrier_t barrier;
        pthread_barrier_init(&barrier, NULL, 2);
        struct cross_rename first = {fixture, &barrier, a_name, META_ROOT_ID, b, "x", -1};
        struct cross_rename second = {fixture, &barrier, b_name, META_ROOT_ID, a, "y", -1};
        pthread_t threads[2];
        pthread_create(&threads[0], NULL, rename_thread, &first);
        pthread_create(&threads[1], NULL, rename_thread, &second);
        pthread_join(threads[0], NULL);
        pthread_join(threads[1], NULL);
        pthread_barrier_destroy(&barrier);
        assert_false(first.status == 0 && second.status == 0);
        assert_true(first.status == 0 || second.status == 0);
        /* whichever moved, the tree still reaches the root from both directories */
        struct inode inode;
        for (uint64_t id = a; ; id = inode.parent_id) {
            assert_int_equal(meta_stat(fixture->space, id, &inode), 0);
            if (id == META_ROOT_ID)
                break;
        }
        for (uint64_t id = b; ; id = inode.parent_id) {
            assert_int_equal(meta_stat(fixture->space, id, &inode), 0);
            if (id == META_ROOT_ID)
                break;
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(create_lookup_and_open_semantics, setup, teardown),
        cmocka_unit_test_setup_teardown(names_and_types_are_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(readdir_pages_in_name_order, setup, teardown),
        cmocka_unit_test_setup_teardown(unlink_rmdir_and_the_gc_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(symlinks_resolve_with_a_depth_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(rename_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(permissions_for_non_root_callers, setup, teardown),
        cmocka_unit_test_setup_teardown(setattr_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(directory_paths_follow_renames, setup, teardown),
        cmocka_unit_test_setup_teardown(concurrent_cross_renames_never_both_succeed, setup, teardown),
    };
    return cmocka_run_group_tests_name("namespace", tests, NULL, NULL);
}
