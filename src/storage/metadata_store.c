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

/* A batch waiting in the group-commit queue. */
struct commit_request {
    const struct metadata_change *changes;
    size_t count;
    int status;
    bool done;
    struct commit_request *next;
};

struct metadata_store {
    MDB_env *env;
    MDB_dbi chunks;
    size_t map_size;
    pthread_mutex_t lock; /* LMDB access */
    /* Group commit: batches queue up while one thread (the leader) writes. */
    pthread_mutex_t queue_lock;
    pthread_cond_t queue_changed;
    struct commit_request *queue_head, **queue_tail;
    bool leader_active;
    uint64_t transactions, batches; /* written by leaders under queue_lock */
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
        flags |= MDB_NOSYNC; /* no MDB_WRITEMAP: a full disk must fail a commit, not SIGBUS */
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
    pthread_mutex_init(&store->queue_lock, NULL);
    pthread_cond_init(&store->queue_changed, NULL);
    store->queue_tail = &store->queue_head;
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
    pthread_mutex_destroy(&store->queue_lock);
    pthread_cond_destroy(&store->queue_changed);
    free(store);
}

/* Puts or deletes one batch's records inside txn. */
static int stage_changes(struct metadata_store *store, MDB_txn *txn,
                         const struct metadata_change *changes, size_t count)
{
    int result = 0;
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
    return result;
}

/* Writes the batches of a request list in one LMDB transaction. */
static int write_requests(struct metadata_store *store, struct commit_request *requests)
{
    MDB_txn *txn;
    int result = mdb_txn_begin(store->env, NULL, 0, &txn);
    if (result != 0)
        return result;
    for (struct commit_request *request = requests; request != NULL && result == 0;
         request = request->next)
        result = stage_changes(store, txn, request->changes, request->count);
    if (result != 0) {
        mdb_txn_abort(txn);
        return result;
    }
    return mdb_txn_commit(txn);
}

/* write_requests, growing the map while it is full (LMDB access locked). */
static int write_growing(struct metadata_store *store, struct commit_request *requests)
{
    int result = write_requests(store, requests);
    while (result == MDB_MAP_FULL) {
        /* No transaction of ours is open (we hold the lock), so the map may grow. */
        store->map_size *= 2;
        result = mdb_env_set_mapsize(store->env, store->map_size);
        if (result == 0)
            result = write_requests(store, requests);
    }
    return result;
}

/* The leader writes a group; when the group fails, each batch is retried alone so one
 * bad batch cannot fail the others. Sets every request's status. */
static void write_group(struct metadata_store *store, struct commit_request *group)
{
    pthread_mutex_lock(&store->lock);
    int result = write_growing(store, group);
    for (struct commit_request *request = group; request != NULL; request = request->next) {
        if (result != 0 && group->next != NULL) {
            struct commit_request *next = request->next;
            request->next = NULL;
            request->status = status_of(write_growing(store, request));
            request->next = next;
        } else {
            request->status = status_of(result);
        }
    }
    pthread_mutex_unlock(&store->lock);
}

int metadata_store_apply(struct metadata_store *store, const struct metadata_change *changes,
                         size_t count)
{
    struct commit_request request = {changes, count, CHAINFS_OK, false, NULL};
    pthread_mutex_lock(&store->queue_lock);
    *store->queue_tail = &request;
    store->queue_tail = &request.next;
    while (!request.done && store->leader_active)
        pthread_cond_wait(&store->queue_changed, &store->queue_lock);
    if (!request.done) {
        /* Lead: take everything queued (our batch included) and write it at once. */
        store->leader_active = true;
        struct commit_request *group = store->queue_head;
        store->queue_head = NULL;
        store->queue_tail = &store->queue_head;
        pthread_mutex_unlock(&store->queue_lock);
        write_group(store, group);
        pthread_mutex_lock(&store->queue_lock);
        store->transactions++;
        for (struct commit_request *member = group, *next; member != NULL; member = next) {
            next = member->next; /* read before done: a member's stack frame may go */
            member->done = true;
            store->batches++;
        }
        store->leader_active = false;
        pthread_cond_broadcast(&store->queue_changed);
    }
    pthread_mutex_unlock(&store->queue_lock);
    return request.status;
}

void metadata_store_commit_counts(struct metadata_store *store, uint64_t *transactions,
                                  uint64_t *batches)
{
    pthread_mutex_lock(&store->queue_lock);
    *transactions = store->transactions;
    *batches = store->batches;
    pthread_mutex_unlock(&store->queue_lock);
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
