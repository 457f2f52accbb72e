/*
 * metadata_store.c - LMDB plumbing for chunk metadata (see metadata_store.h).
 */
#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LOG_COMPONENT "storage"
#include "chainfs/error.h"
#include "common/log.h"
#include "storage/metadata_store.h"

#define INITIAL_MAP_SIZE (256ULL << 20)

struct metadata_store {
    MDB_env *env;
    MDB_dbi chunks;
    size_t map_size;
    pthread_mutex_t lock;
};

static int status_of(int lmdb_result)
{
    switch (lmdb_result) {
    case 0:
        return CHAINFS_OK;
    case MDB_NOTFOUND:
        return CHAINFS_NOT_FOUND;
    case ENOSPC:
        return CHAINFS_NO_SPACE;
    case ENOMEM:
        return CHAINFS_NO_MEMORY;
    default:
        log_error("lmdb: %s", mdb_strerror(lmdb_result));
        return CHAINFS_IO;
    }
}

static int open_environment(struct metadata_store *store, const char *path, bool sync)
{
    int result = mdb_env_create(&store->env);
    if (result != 0)
        return result;
    store->map_size = INITIAL_MAP_SIZE;
    mdb_env_set_mapsize(store->env, store->map_size);
    mdb_env_set_maxdbs(store->env, 2);
    unsigned flags = MDB_NOTLS;
    if (!sync)
        flags |= MDB_NOSYNC | MDB_WRITEMAP;
    result = mdb_env_open(store->env, path, flags, 0644);
    if (result != 0)
        return result;
    MDB_txn *txn;
    result = mdb_txn_begin(store->env, NULL, 0, &txn);
    if (result != 0)
        return result;
    result = mdb_dbi_open(txn, "chunks", MDB_CREATE, &store->chunks);
    if (result != 0) {
        mdb_txn_abort(txn);
        return result;
    }
    return mdb_txn_commit(txn);
}

int metadata_store_open(const char *dir, bool sync, struct metadata_store **store_out)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/metadata", dir);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        log_error("cannot create %s: %s", path, strerror(errno));
        return CHAINFS_IO;
    }
    struct metadata_store *store = calloc(1, sizeof(*store));
    if (store == NULL)
        return CHAINFS_NO_MEMORY;
    pthread_mutex_init(&store->lock, NULL);
    int result = open_environment(store, path, sync);
    if (result != 0) {
        log_error("cannot open the metadata in %s: %s", path, mdb_strerror(result));
        metadata_store_close(store);
        return CHAINFS_IO;
    }
    *store_out = store;
    return CHAINFS_OK;
}

void metadata_store_close(struct metadata_store *store)
{
    if (store == NULL)
        return;
    if (store->env != NULL)
        mdb_env_close(store->env);
    pthread_mutex_destroy(&store->lock);
    free(store);
}

static int write_changes(struct metadata_store *store, const struct metadata_change *changes,
                         size_t count)
{
    MDB_txn *txn;
    int result = mdb_txn_begin(store->env, NULL, 0, &txn);
    if (result != 0)
        return result;
    for (size_t i = 0; i < count && result == 0; i++) {
        const struct chunk_metadata *metadata = &changes[i].metadata;
        MDB_val key = {CHUNK_ID_SIZE, (void *)metadata->id.bytes};
        if (changes[i].remove) {
            result = mdb_del(txn, store->chunks, &key, NULL);
            if (result == MDB_NOTFOUND)
                result = 0;
            continue;
        }
        uint8_t record[CHUNK_METADATA_RECORD_SIZE];
        chunk_metadata_encode(metadata, record);
        MDB_val value = {sizeof(record), record};
        result = mdb_put(txn, store->chunks, &key, &value, 0);
    }
    if (result != 0) {
        mdb_txn_abort(txn);
        return result;
    }
    return mdb_txn_commit(txn);
}

int metadata_store_apply(struct metadata_store *store, const struct metadata_change *changes,
                         size_t count)
{
    pthread_mutex_lock(&store->lock);
    int result = write_changes(store, changes, count);
    while (result == MDB_MAP_FULL) {
        /* No transaction of ours is open (we hold the lock), so the map may grow. */
        store->map_size *= 2;
        result = mdb_env_set_mapsize(store->env, store->map_size);
        if (result == 0)
            result = write_changes(store, changes, count);
    }
    pthread_mutex_unlock(&store->lock);
    return status_of(result);
}

static int visit_all(struct metadata_store *store, MDB_txn *txn,
                     int (*visit)(const struct chunk_metadata *metadata, void *context),
                     void *context)
{
    MDB_cursor *cursor;
    int result = mdb_cursor_open(txn, store->chunks, &cursor);
    if (result != 0)
        return status_of(result);
    MDB_val key, value;
    int status = CHAINFS_OK;
    for (result = mdb_cursor_get(cursor, &key, &value, MDB_FIRST); result == 0 && status == 0;
         result = mdb_cursor_get(cursor, &key, &value, MDB_NEXT)) {
        struct chunk_metadata metadata;
        if (key.mv_size != CHUNK_ID_SIZE ||
            !chunk_metadata_decode(value.mv_data, value.mv_size, &metadata)) {
            log_error("malformed chunk metadata record (key of %zu bytes)", key.mv_size);
            status = CHAINFS_MALFORMED;
            break;
        }
        memcpy(metadata.id.bytes, key.mv_data, CHUNK_ID_SIZE);
        status = visit(&metadata, context);
    }
    mdb_cursor_close(cursor);
    if (status == CHAINFS_OK && result != 0 && result != MDB_NOTFOUND)
        status = status_of(result);
    return status;
}

int metadata_store_for_each(struct metadata_store *store,
                            int (*visit)(const struct chunk_metadata *metadata, void *context),
                            void *context)
{
    pthread_mutex_lock(&store->lock);
    MDB_txn *txn;
    int result = mdb_txn_begin(store->env, NULL, MDB_RDONLY, &txn);
    int status = result == 0 ? visit_all(store, txn, visit, context) : status_of(result);
    if (result == 0)
        mdb_txn_abort(txn);
    pthread_mutex_unlock(&store->lock);
    return status;
}

/* Positions on the greatest key below end (the last key when there is none >= end). */
static int seek_before(MDB_cursor *cursor, const struct chunk_id *end, MDB_val *key)
{
    MDB_val value;
    *key = (MDB_val){CHUNK_ID_SIZE, (void *)end->bytes};
    int result = mdb_cursor_get(cursor, key, &value, MDB_SET_RANGE);
    if (result == MDB_NOTFOUND)
        return mdb_cursor_get(cursor, key, &value, MDB_LAST);
    if (result != 0)
        return result;
    return mdb_cursor_get(cursor, key, &value, MDB_PREV);
}

int metadata_store_last_in_range(struct metadata_store *store, const struct chunk_id *begin,
                                 const struct chunk_id *end, struct chunk_id *id)
{
    pthread_mutex_lock(&store->lock);
    MDB_txn *txn = NULL;
    MDB_cursor *cursor = NULL;
    int result = mdb_txn_begin(store->env, NULL, MDB_RDONLY, &txn);
    if (result == 0)
        result = mdb_cursor_open(txn, store->chunks, &cursor);
    MDB_val key;
    if (result == 0)
        result = seek_before(cursor, end, &key);
    if (result == 0 && (key.mv_size != CHUNK_ID_SIZE || memcmp(key.mv_data, begin->bytes,
                                                              CHUNK_ID_SIZE) < 0 ||
                        memcmp(key.mv_data, end->bytes, CHUNK_ID_SIZE) >= 0))
        result = MDB_NOTFOUND;
    if (result == 0)
        memcpy(id->bytes, key.mv_data, CHUNK_ID_SIZE);
    if (cursor != NULL)
        mdb_cursor_close(cursor);
    if (txn != NULL)
        mdb_txn_abort(txn);
    pthread_mutex_unlock(&store->lock);
    return status_of(result);
}
