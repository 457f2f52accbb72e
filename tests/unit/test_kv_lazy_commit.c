/*
 * test_kv_lazy_commit.c - lazy commits of the LMDB backend (kv_set_lazy_commit): with
 * durability = sync a lazy commit that is alone in the queue waits for an urgent
 * commit and is written in the same LMDB transaction (one set of syncs), counted by
 * LMDB's last transaction id; alone it still commits, after the bounded wait; no more
 * than KV_LMDB_LAZY_WAITERS_MAX wait at once; with nosync it does not wait. Meta's
 * close is such a commit: it shares the transaction of the create that follows it.
 * Every commit's result is read back afterwards. Where the order of arrivals matters,
 * the wait is made long (LONG_WAIT_NS) and arrivals are awaited, so timing does not.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "chainfs/error.h"
#include "common/clock.h"
#include "common/log.h"
#include "kv/kv.h"
#include "kv/kv_backend.h"
#include "kv/kv_lmdb.h"
#include "meta/namespace.h"
#include "temporary_store.h"

#define LONG_WAIT_NS (30 * CLOCK_NS_PER_S)
#define POLL_LIMIT_NS (10 * CLOCK_NS_PER_S)

struct fixture {
    struct temporary_store temporary;
    struct kv_store *store;
};

static int open_store(void **state, enum kv_durability durability)
{
    log_set_level(LOG_LEVEL_OFF);
    struct fixture *fixture = calloc(1, sizeof(*fixture));
    assert_int_equal(temporary_store_open_with(&fixture->temporary, "lazy", 64 << 20, durability), 0);
    fixture->store = fixture->temporary.store;
    *state = fixture;
    return 0;
}

static int setup_sync(void **state) { return open_store(state, KV_DURABILITY_SYNC); }
static int setup_nosync(void **state) { return open_store(state, KV_DURABILITY_NOSYNC); }

static int teardown(void **state)
{
    struct fixture *fixture = *state;
    assert_int_equal(temporary_store_close(&fixture->temporary), 0);
    free(fixture);
    return 0;
}

static struct lmdb_commit_queue *commit_queue(struct kv_store *store)
{
    return &((struct lmdb_backend *)store->backend)->queue;
}

/* Waits (bounded) until count lazy commits are queued. */
static void await_lazy_queued(struct kv_store *store, size_t count)
{
    struct lmdb_commit_queue *queue = commit_queue(store);
    uint64_t limit = deadline_after_ns(POLL_LIMIT_NS);
    for (;;) {
        pthread_mutex_lock(&queue->mutex);
        size_t queued = queue->lazy_queued;
        pthread_mutex_unlock(&queue->mutex);
        if (queued == count)
            return;
        assert_false(deadline_expired(limit));
        clock_sleep_ns(100 * CLOCK_NS_PER_US);
    }
}

static size_t last_lmdb_transaction(struct kv_store *store)
{
    struct lmdb_backend *backend = store->backend;
    MDB_envinfo info;
    assert_int_equal(mdb_env_info(backend->env, &info), 0);
    return info.me_last_txnid;
}

static int put(struct kv_store *store, const char *key, bool lazy)
{
    struct kv_transaction *transaction;
    int status = kv_begin(store, &transaction);
    if (status != 0)
        return status;
    if (lazy)
        kv_set_lazy_commit(transaction);
    status = kv_set(transaction, key, strlen(key), "v", 1);
    if (status != 0) {
        kv_abort(transaction);
        return status;
    }
    return kv_commit(transaction);
}

static void assert_present(struct kv_store *store, const char *key)
{
    struct kv_transaction *transaction;
    assert_int_equal(kv_begin(store, &transaction), 0);
    const void *value;
    size_t length;
    assert_int_equal(kv_get(transaction, key, strlen(key), &value, &length), 0);
    assert_int_equal(length, 1);
    kv_abort(transaction);
}

struct lazy_put {
    struct kv_store *store;
    char key[32];
    int status;
};

static void *put_lazily(void *argument)
{
    struct lazy_put *lazy = argument;
    lazy->status = put(lazy->store, lazy->key, true);
    return NULL;
}

/* A lazy commit queued first, then an urgent one: one LMDB transaction. Without the
 * wait the lazy one would lead at once and the urgent one need a second. */
static void a_lazy_commit_joins_the_next_urgent_one(void **state)
{
    struct fixture *fixture = *state;
    lmdb_commit_queue_set_lazy_wait(commit_queue(fixture->store), LONG_WAIT_NS);
    struct lazy_put lazy = {.store = fixture->store, .key = "close"};
    size_t before = last_lmdb_transaction(fixture->store);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, put_lazily, &lazy), 0);
    await_lazy_queued(fixture->store, 1);
    uint64_t started = clock_now_ns();
    assert_int_equal(put(fixture->store, "create", false), 0);
    pthread_join(thread, NULL);
    assert_true(clock_now_ns() - started < LONG_WAIT_NS / 3); /* the lazy one did not time out */
    assert_int_equal(lazy.status, 0);
    assert_int_equal(last_lmdb_transaction(fixture->store) - before, 1);
    assert_present(fixture->store, "close");
    assert_present(fixture->store, "create");
}

/* Lazy commits hold their callers' threads: with KV_LMDB_LAZY_WAITERS_MAX waiting, one
 * more does not wait but writes them all at once. */
static void no_more_than_the_limit_of_lazy_commits_wait(void **state)
{
    struct fixture *fixture = *state;
    lmdb_commit_queue_set_lazy_wait(commit_queue(fixture->store), LONG_WAIT_NS);
    struct lazy_put waiting[KV_LMDB_LAZY_WAITERS_MAX];
    pthread_t threads[KV_LMDB_LAZY_WAITERS_MAX];
    for (int i = 0; i < KV_LMDB_LAZY_WAITERS_MAX; i++) {
        waiting[i] = (struct lazy_put){.store = fixture->store};
        snprintf(waiting[i].key, sizeof(waiting[i].key), "waiting%d", i);
        assert_int_equal(pthread_create(&threads[i], NULL, put_lazily, &waiting[i]), 0);
        await_lazy_queued(fixture->store, (size_t)i + 1);
    }
    size_t before = last_lmdb_transaction(fixture->store);
    uint64_t started = clock_now_ns();
    assert_int_equal(put(fixture->store, "one-more", true), 0);
    for (int i = 0; i < KV_LMDB_LAZY_WAITERS_MAX; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(waiting[i].status, 0);
        assert_present(fixture->store, waiting[i].key);
    }
    assert_true(clock_now_ns() - started < LONG_WAIT_NS / 3);
    assert_int_equal(last_lmdb_transaction(fixture->store) - before, 1);
    assert_present(fixture->store, "one-more");
}

/* Alone, a lazy commit commits after at most the wait (bounded generously here). */
static void a_lazy_commit_alone_commits_after_the_wait(void **state)
{
    struct fixture *fixture = *state;
    uint64_t started = clock_now_ns();
    assert_int_equal(put(fixture->store, "alone", true), 0);
    uint64_t took = clock_now_ns() - started;
    assert_true(took >= KV_LAZY_COMMIT_WAIT_NS / 2); /* it did wait */
    assert_true(took < 2 * CLOCK_NS_PER_S);
    assert_present(fixture->store, "alone");
}

/* nosync commits are cheap: a lazy one does not wait for company. */
static void without_sync_a_lazy_commit_does_not_wait(void **state)
{
    struct fixture *fixture = *state;
    uint64_t started = clock_now_ns();
    for (int i = 0; i < 50; i++) {
        char key[32];
        snprintf(key, sizeof(key), "quick%d", i);
        assert_int_equal(put(fixture->store, key, true), 0);
    }
    /* 50 waits would take 50 x KV_LAZY_COMMIT_WAIT_NS */
    assert_true(clock_now_ns() - started < 25 * KV_LAZY_COMMIT_WAIT_NS);
    assert_present(fixture->store, "quick49");
}

struct meta_files {
    struct meta_namespace *space;
    uint64_t closing; /* inode whose session 1 the thread closes */
    int status;
};

static const struct meta_credentials root = {0, 0, 0, {0}};

static void *close_file(void *argument)
{
    struct meta_files *files = argument;
    struct inode inode;
    files->status = meta_close(files->space, files->closing, 1, false, 0, 0, &inode);
    return NULL;
}

/* The FUSE pattern: the close (release) of one file goes out just before the create
 * of the next. */
static void a_meta_close_shares_the_next_creates_transaction(void **state)
{
    struct fixture *fixture = *state;
    struct meta_files files = {0};
    assert_int_equal(meta_namespace_open(fixture->store, &files.space), 0);
    struct file_layout layout = {.table_id = 1, .table_version = 1, .chunk_size = 1 << 20,
                                 .stripe = 1};
    assert_int_equal(meta_namespace_format(files.space, &layout), 0);
    struct inode inode;
    assert_int_equal(meta_create_open(files.space, &root, META_ROOT_ID, "closed", 0644, 0, "c", 1,
                                      &inode), 0);
    files.closing = inode.id;
    lmdb_commit_queue_set_lazy_wait(commit_queue(fixture->store), LONG_WAIT_NS);
    size_t before = last_lmdb_transaction(fixture->store);
    pthread_t thread;
    assert_int_equal(pthread_create(&thread, NULL, close_file, &files), 0);
    await_lazy_queued(fixture->store, 1);
    assert_int_equal(meta_create_open(files.space, &root, META_ROOT_ID, "next", 0644, 0, "c", 2,
                                      &inode), 0);
    pthread_join(thread, NULL);
    assert_int_equal(files.status, 0);
    assert_int_equal(last_lmdb_transaction(fixture->store) - before, 1);
    struct meta_session sessions[2];
    size_t count;
    assert_int_equal(meta_list_sessions(files.space, files.closing, sessions, 2, &count), 0);
    assert_int_equal(count, 0); /* the close is applied */
    meta_namespace_close(files.space);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_lazy_commit_joins_the_next_urgent_one, setup_sync,
                                        teardown),
        cmocka_unit_test_setup_teardown(no_more_than_the_limit_of_lazy_commits_wait, setup_sync,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_lazy_commit_alone_commits_after_the_wait, setup_sync,
                                        teardown),
        cmocka_unit_test_setup_teardown(without_sync_a_lazy_commit_does_not_wait, setup_nosync,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_meta_close_shares_the_next_creates_transaction,
                                        setup_sync, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
