/*
 * kv_lmdb.h - internals shared by the files of the LMDB backend: the environment and
 * its tables, the data table's key encoding, and group commit.
 *
 * Tables of the environment:
 *   data - the user's keys and values (key encoding in kv_lmdb_data.c)
 *   meta - "version": u64 commit version of the last commit; "horizon": u64, the
 *          newest version whose write ranges were dropped from the log
 *   log  - big-endian u64 commit version -> the write ranges of that commit, kept for
 *          KV_LMDB_CONFLICT_WINDOW_NS (FoundationDB keeps 5 s of history too)
 */
#ifndef CHAINFS_KV_KV_LMDB_H
#define CHAINFS_KV_KV_LMDB_H

#include <lmdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "kv/kv.h"
#include "kv/kv_backend.h"

#define KV_LMDB_CONFLICT_WINDOW_NS (5ULL * 1000000000ULL)

/* Lazy commits that may wait at once: each holds its caller's thread (a meta server's
 * RPC worker), so a crowd of them must not take every worker from urgent requests. */
#define KV_LMDB_LAZY_WAITERS_MAX 2

struct lmdb_commit_entry;

/* Commits of this process waiting for the thread that writes them (group commit). */
struct lmdb_commit_queue {
    pthread_mutex_t mutex;
    pthread_cond_t progress;
    struct lmdb_commit_entry *head;
    struct lmdb_commit_entry *tail;
    bool leader_active;
    bool lazy_commits_wait; /* durability = sync: lazy commits wait for an urgent one */
    size_t urgent_queued;   /* queued entries that are not lazy (kv_set_lazy_commit) */
    size_t lazy_queued;     /* queued entries that are lazy */
    uint64_t lazy_wait_ns;  /* KV_LAZY_COMMIT_WAIT_NS (tests set others) */
    uint64_t last_batch_end; /* clock_now_ns() when the last batch was written */
};

struct lmdb_backend {
    MDB_env *env;
    MDB_dbi data;
    MDB_dbi meta;
    MDB_dbi log;
    /* Held shared by every open LMDB transaction of this process and exclusively while
     * the map size changes (LMDB requires no active transaction then). */
    pthread_rwlock_t map_lock;
    struct lmdb_commit_queue queue;
};

struct lmdb_transaction {
    struct lmdb_backend *backend;
    MDB_txn *snapshot; /* read transaction, NULL until the first read */
    uint64_t read_version;
};

/* chainfs status for an LMDB return code (logged when unexpected). */
int lmdb_status(int mdb_result, const char *what);

/* Makes the map larger (double), or adopts the size another process set. Returns 0 or
 * a chainfs status. */
int lmdb_grow_map(struct lmdb_backend *backend);
int lmdb_adopt_map_size(struct lmdb_backend *backend);

/* Group commit (kv_lmdb_commit.c). */
void lmdb_commit_queue_init(struct lmdb_commit_queue *queue, bool lazy_commits_wait);
void lmdb_commit_queue_destroy(struct lmdb_commit_queue *queue);
/* Changes how long lazy commits wait (tests: a long wait makes timing irrelevant). */
void lmdb_commit_queue_set_lazy_wait(struct lmdb_commit_queue *queue, uint64_t wait_ns);
int lmdb_commit(struct lmdb_backend *backend, uint64_t read_version,
                const struct kv_commit_request *request);

/* Meta table values. */
int lmdb_meta_read(MDB_txn *txn, MDB_dbi meta, const char *name, uint64_t *value);
int lmdb_meta_write(MDB_txn *txn, MDB_dbi meta, const char *name, uint64_t value);

/* The data table (kv_lmdb_data.c). Each returns an LMDB code. A value returned by get
 * points into the map and is valid until the LMDB transaction ends or writes. */
int lmdb_data_get(MDB_txn *txn, MDB_dbi data, const uint8_t *key, size_t key_length,
                  MDB_val *value);
int lmdb_data_put(MDB_txn *txn, MDB_dbi data, const uint8_t *key, size_t key_length,
                  const uint8_t *value, size_t value_length);
int lmdb_data_delete(MDB_txn *txn, MDB_dbi data, const uint8_t *key, size_t key_length);
int lmdb_data_scan(MDB_txn *txn, MDB_dbi data, const struct kv_key_range *range, bool reverse,
                   kv_row_sink sink, void *context);
int lmdb_data_clear_range(MDB_txn *txn, MDB_dbi data, const struct kv_key_range *range);

#endif /* CHAINFS_KV_KV_LMDB_H */
