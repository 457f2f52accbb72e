/*
 * kv_lmdb.c - the embedded LMDB backend: opening the shared environment, growing the
 * map, and reads from a read-only LMDB transaction that is the chainfs transaction's
 * snapshot. Commits are in kv_lmdb_commit.c, the key layout in kv_lmdb_data.c.
 *
 * Several processes open the same directory; LMDB coordinates them through its lock
 * file (reader table, robust writer mutex). The map is sized up front and doubled when
 * a commit finds it full; other processes adopt the new size when LMDB reports
 * MDB_MAP_RESIZED.
 */
#define LOG_COMPONENT "kv"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chainfs/error.h"
#include "common/clock.h"
#include "common/log.h"
#include "kv/kv_lmdb.h"

#define KV_LMDB_DEFAULT_MAP_SIZE (1ULL << 30)
#define KV_LMDB_MAX_READERS 1024
#define KV_LMDB_RESIZE_WAIT_NS (10ULL * CLOCK_NS_PER_S)
#define KV_LMDB_BEGIN_ATTEMPTS 8

int lmdb_status(int mdb_result, const char *what)
{
    switch (mdb_result) {
    case 0:
        return 0;
    case MDB_NOTFOUND:
        return CHAINFS_NOT_FOUND;
    case MDB_MAP_FULL:
        log_error("lmdb %s: map full and cannot grow", what);
        return CHAINFS_NO_SPACE;
    case MDB_READERS_FULL:
        log_warn("lmdb %s: reader table full", what);
        return CHAINFS_BUSY;
    case ENOMEM:
        return CHAINFS_NO_MEMORY;
    case ENOSPC:
        return CHAINFS_NO_SPACE;
    default:
        log_error("lmdb %s: %s", what, mdb_strerror(mdb_result));
        return CHAINFS_IO;
    }
}

/* ---- meta table ---- */

int lmdb_meta_read(MDB_txn *txn, MDB_dbi meta, const char *name, uint64_t *value)
{
    MDB_val key = {strlen(name), (void *)name}, stored;
    int result = mdb_get(txn, meta, &key, &stored);
    if (result == MDB_NOTFOUND) {
        *value = 0;
        return 0;
    }
    if (result != 0)
        return result;
    if (stored.mv_size != sizeof(*value))
        return MDB_CORRUPTED;
    memcpy(value, stored.mv_data, sizeof(*value));
    return 0;
}

int lmdb_meta_write(MDB_txn *txn, MDB_dbi meta, const char *name, uint64_t value)
{
    MDB_val key = {strlen(name), (void *)name}, stored = {sizeof(value), &value};
    return mdb_put(txn, meta, &key, &stored, 0);
}

/* ---- map size ---- */

static int lock_map_exclusively(struct lmdb_backend *backend)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)(KV_LMDB_RESIZE_WAIT_NS / CLOCK_NS_PER_S);
    int result = pthread_rwlock_timedwrlock(&backend->map_lock, &until);
    if (result != 0)
        log_error("lmdb: cannot resize the map: transactions of this process stay open");
    return result == 0 ? 0 : CHAINFS_BUSY;
}

int lmdb_grow_map(struct lmdb_backend *backend)
{
    int status = lock_map_exclusively(backend);
    if (status != 0)
        return status;
    MDB_envinfo info;
    int result = mdb_env_info(backend->env, &info);
    if (result == 0)
        result = mdb_env_set_mapsize(backend->env, info.me_mapsize * 2);
    pthread_rwlock_unlock(&backend->map_lock);
    if (result == 0)
        log_info("lmdb: map grown to %zu MiB", info.me_mapsize * 2 >> 20);
    return lmdb_status(result, "grow map");
}

int lmdb_adopt_map_size(struct lmdb_backend *backend)
{
    int status = lock_map_exclusively(backend);
    if (status != 0)
        return status;
    int result = mdb_env_set_mapsize(backend->env, 0);
    pthread_rwlock_unlock(&backend->map_lock);
    return lmdb_status(result, "adopt map size");
}

/* ---- opening ---- */

static int open_tables(struct lmdb_backend *backend)
{
    for (int attempt = 0; attempt < KV_LMDB_BEGIN_ATTEMPTS; attempt++) {
        MDB_txn *txn;
        int result = mdb_txn_begin(backend->env, NULL, 0, &txn);
        if (result == MDB_MAP_RESIZED) {
            mdb_env_set_mapsize(backend->env, 0);
            continue;
        }
        if (result == 0)
            result = mdb_dbi_open(txn, "data", MDB_CREATE, &backend->data);
        if (result == 0)
            result = mdb_dbi_open(txn, "meta", MDB_CREATE, &backend->meta);
        if (result == 0)
            result = mdb_dbi_open(txn, "log", MDB_CREATE, &backend->log);
        if (result == 0)
            return lmdb_status(mdb_txn_commit(txn), "create tables");
        if (txn)
            mdb_txn_abort(txn);
        return lmdb_status(result, "create tables");
    }
    return CHAINFS_IO;
}

static int open_environment(struct lmdb_backend *backend, const struct kv_options *options)
{
    if (mkdir(options->lmdb_path, 0755) != 0 && errno != EEXIST) {
        log_error("lmdb: cannot create %s: %s", options->lmdb_path, strerror(errno));
        return CHAINFS_IO;
    }
    int result = mdb_env_create(&backend->env);
    if (result != 0)
        return lmdb_status(result, "create environment");
    uint64_t map_size = options->lmdb_map_size ? options->lmdb_map_size : KV_LMDB_DEFAULT_MAP_SIZE;
    /* No MDB_WRITEMAP: pages written through a writable map of a sparse file on a full
     * disk raise SIGBUS; with write() a full disk is an error the commit returns. */
    unsigned flags = MDB_NOTLS | (options->durability == KV_DURABILITY_NOSYNC ? MDB_NOSYNC : 0);
    result = mdb_env_set_mapsize(backend->env, map_size);
    if (result == 0)
        result = mdb_env_set_maxreaders(backend->env, KV_LMDB_MAX_READERS);
    if (result == 0)
        result = mdb_env_set_maxdbs(backend->env, 4);
    if (result == 0)
        result = mdb_env_open(backend->env, options->lmdb_path, flags, 0644);
    if (result != 0) {
        log_error("lmdb: cannot open %s: %s", options->lmdb_path, mdb_strerror(result));
        mdb_env_close(backend->env);
        return result == ENOENT || result == EACCES ? CHAINFS_CONFIG : CHAINFS_IO;
    }
    int stale;
    mdb_reader_check(backend->env, &stale); /* reader slots of processes that died */
    return 0;
}

int kv_lmdb_open(const struct kv_options *options, void **opened)
{
    struct lmdb_backend *backend = calloc(1, sizeof(*backend));
    if (!backend)
        return CHAINFS_NO_MEMORY;
    int status = open_environment(backend, options);
    if (status != 0) {
        free(backend);
        return status;
    }
    if (mdb_env_get_maxkeysize(backend->env) < 511) {
        log_error("lmdb: library built with keys under 511 bytes; unsupported");
        status = CHAINFS_UNSUPPORTED;
    }
    if (status == 0)
        status = open_tables(backend);
    if (status != 0) {
        mdb_env_close(backend->env);
        free(backend);
        return status;
    }
    pthread_rwlockattr_t attributes;
    pthread_rwlockattr_init(&attributes);
    /* Reader preference: a thread holding one transaction may open another. */
    pthread_rwlockattr_setkind_np(&attributes, PTHREAD_RWLOCK_PREFER_READER_NP);
    pthread_rwlock_init(&backend->map_lock, &attributes);
    pthread_rwlockattr_destroy(&attributes);
    lmdb_commit_queue_init(&backend->queue, options->durability == KV_DURABILITY_SYNC);
    *opened = backend;
    return 0;
}

static void lmdb_close(void *opened)
{
    struct lmdb_backend *backend = opened;
    lmdb_commit_queue_destroy(&backend->queue);
    pthread_rwlock_destroy(&backend->map_lock);
    mdb_env_close(backend->env);
    free(backend);
}

/* ---- transactions and reads ---- */

static int lmdb_begin(void *opened, void **transaction)
{
    struct lmdb_transaction *created = calloc(1, sizeof(*created));
    if (!created)
        return CHAINFS_NO_MEMORY;
    created->backend = opened;
    *transaction = created;
    return 0;
}

static void release_snapshot(struct lmdb_transaction *transaction)
{
    if (!transaction->snapshot)
        return;
    mdb_txn_abort(transaction->snapshot);
    transaction->snapshot = NULL;
    pthread_rwlock_unlock(&transaction->backend->map_lock);
}

/* Opens the read snapshot and reads its version, at the first read. */
static int take_snapshot(struct lmdb_transaction *transaction)
{
    struct lmdb_backend *backend = transaction->backend;
    for (int attempt = 0; attempt < KV_LMDB_BEGIN_ATTEMPTS; attempt++) {
        pthread_rwlock_rdlock(&backend->map_lock);
        int result = mdb_txn_begin(backend->env, NULL, MDB_RDONLY, &transaction->snapshot);
        if (result == 0) {
            result = lmdb_meta_read(transaction->snapshot, backend->meta, "version",
                                    &transaction->read_version);
            if (result != 0)
                release_snapshot(transaction);
            return lmdb_status(result, "read version");
        }
        transaction->snapshot = NULL;
        pthread_rwlock_unlock(&backend->map_lock);
        if (result != MDB_MAP_RESIZED)
            return lmdb_status(result, "begin read");
        int status = lmdb_adopt_map_size(backend);
        if (status != 0)
            return status;
    }
    return CHAINFS_BUSY;
}

static int lmdb_get(void *opened, bool snapshot, const uint8_t *key, size_t key_length,
                    const uint8_t **value, size_t *value_length)
{
    struct lmdb_transaction *transaction = opened;
    int status = transaction->snapshot ? 0 : take_snapshot(transaction);
    if (status != 0)
        return status;
    MDB_val found;
    int result = lmdb_data_get(transaction->snapshot, transaction->backend->data, key,
                               key_length, &found);
    if (result != 0)
        return lmdb_status(result, "get");
    *value = found.mv_data;
    *value_length = found.mv_size;
    return 0;
}

static int lmdb_read_range(void *opened, bool snapshot, const struct kv_key_range *range,
                           bool reverse, kv_row_sink sink, void *context)
{
    struct lmdb_transaction *transaction = opened;
    int status = transaction->snapshot ? 0 : take_snapshot(transaction);
    if (status != 0)
        return status;
    return lmdb_status(lmdb_data_scan(transaction->snapshot, transaction->backend->data, range,
                                      reverse, sink, context),
                       "range read");
}

static int lmdb_transaction_commit(void *opened, const struct kv_commit_request *request)
{
    struct lmdb_transaction *transaction = opened;
    /* The conflict check works on versions, so the snapshot can go now; holding it
     * would also block a map resize this commit may need. */
    release_snapshot(transaction);
    return lmdb_commit(transaction->backend, transaction->read_version, request);
}

static void lmdb_end(void *opened)
{
    struct lmdb_transaction *transaction = opened;
    release_snapshot(transaction);
    free(transaction);
}

const struct kv_backend_ops kv_lmdb_backend_ops = {
    .name = "lmdb",
    .traits = {.read_conflicts_by_commit_order = true,
               .write_write_conflicts = false, .commit_result_can_be_unknown = false},
    .close = lmdb_close,
    .begin = lmdb_begin,
    .get = lmdb_get,
    .read_range = lmdb_read_range,
    .commit = lmdb_transaction_commit,
    .end = lmdb_end,
};
