/*
 * kv_lmdb_commit.c - committing to LMDB: conflict detection and group commit.
 *
 * Conflicts are detected the way FoundationDB's resolvers do: every commit gets the
 * next commit version and leaves its write ranges in the log table; a transaction
 * conflicts when one of its read ranges intersects the write ranges of a commit newer
 * than its read version. Because the check looks at ranges, not at the keys that
 * exist, an insert into a range another transaction listed is caught (no phantoms).
 * Log entries older than KV_LMDB_CONFLICT_WINDOW_NS are dropped and the "horizon"
 * remembers the newest dropped version: a transaction that read before it cannot be
 * checked any more and conflicts (FoundationDB's transaction_too_old).
 *
 * LMDB allows one write transaction at a time per environment. Commits of the threads
 * of one process queue up; whichever thread finds no leader writes the whole queue in
 * one LMDB transaction (validating each entry against the log, which includes the
 * entries before it in the same batch) and pays for one sync.
 *
 * Lazy commits (kv_set_lazy_commit; durability = sync only) do not start a batch while
 * they are all the queue holds, for up to KV_LAZY_COMMIT_WAIT_NS after the later of
 * the oldest one's arrival and the end of the last batch: an urgent commit arriving
 * meanwhile leads a batch that takes them along. At most KV_LMDB_LAZY_WAITERS_MAX wait
 * at once; one more leads a batch of them at once. So the close of a file and the
 * create of the next one cost one LMDB commit (two syncs), not two in a row, and the
 * create no longer waits for the close's syncs. Nothing is acknowledged before it is
 * durable.
 */
#define LOG_COMPONENT "kv"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chainfs/error.h"
#include "common/clock.h"
#include "common/log.h"
#include "kv/kv_key.h"
#include "kv/kv_lmdb.h"

#define KV_LMDB_BATCH_MAX 256
#define KV_LMDB_GROW_ATTEMPTS 16
#define KV_LMDB_LOG_TRIM_MAX 1024

/* try_batch outcomes that are not chainfs statuses. */
#define BATCH_NEEDS_LARGER_MAP (-1)
#define BATCH_NEEDS_NEW_MAP_SIZE (-2)

struct lmdb_commit_entry {
    const struct kv_commit_request *request;
    uint64_t read_version;
    int status;
    bool lazy;
    uint64_t queued_at; /* clock_now_ns() */
    bool done;
    struct lmdb_commit_entry *next;
};

void lmdb_commit_queue_init(struct lmdb_commit_queue *queue, bool lazy_commits_wait)
{
    pthread_mutex_init(&queue->mutex, NULL);
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC); /* lazy waits' deadlines */
    pthread_cond_init(&queue->progress, &attributes);
    pthread_condattr_destroy(&attributes);
    queue->head = queue->tail = NULL;
    queue->leader_active = false;
    queue->lazy_commits_wait = lazy_commits_wait;
    queue->urgent_queued = queue->lazy_queued = 0;
    queue->lazy_wait_ns = KV_LAZY_COMMIT_WAIT_NS;
    queue->last_batch_end = 0;
}

void lmdb_commit_queue_set_lazy_wait(struct lmdb_commit_queue *queue, uint64_t wait_ns)
{
    pthread_mutex_lock(&queue->mutex);
    queue->lazy_wait_ns = wait_ns;
    pthread_mutex_unlock(&queue->mutex);
}

void lmdb_commit_queue_destroy(struct lmdb_commit_queue *queue)
{
    pthread_cond_destroy(&queue->progress);
    pthread_mutex_destroy(&queue->mutex);
}

static uint64_t wall_clock_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (uint64_t)now.tv_sec * 1000000000ULL + (uint64_t)now.tv_nsec;
}

static void version_key(uint64_t version, uint8_t bytes[8])
{
    for (int i = 0; i < 8; i++)
        bytes[i] = (uint8_t)(version >> (56 - 8 * i));
}

/* ---- the log of write ranges ----
 * Value: u64 wall-clock ns, then per range: u8 kind (0 = one key, 1 = range),
 * u32 length + key [, u32 length + end key]. Integers little-endian. */

static size_t log_record_size(const struct kv_commit_request *request)
{
    size_t size = 8;
    for (size_t i = 0; i < request->cleared_range_count; i++)
        size += 9 + request->cleared_ranges[i].begin_length + request->cleared_ranges[i].end_length;
    for (size_t i = 0; i < request->mutation_count; i++)
        size += 5 + request->mutations[i].key_length;
    return size;
}

static uint8_t *put_bytes(uint8_t *at, const uint8_t *bytes, size_t length)
{
    for (int i = 0; i < 4; i++)
        at[i] = (uint8_t)(length >> (8 * i));
    memcpy(at + 4, bytes, length);
    return at + 4 + length;
}

static void fill_log_record(uint8_t *at, const struct kv_commit_request *request)
{
    uint64_t now = wall_clock_ns();
    memcpy(at, &now, 8);
    at += 8;
    for (size_t i = 0; i < request->cleared_range_count; i++) {
        *at++ = 1;
        at = put_bytes(at, request->cleared_ranges[i].begin, request->cleared_ranges[i].begin_length);
        at = put_bytes(at, request->cleared_ranges[i].end, request->cleared_ranges[i].end_length);
    }
    for (size_t i = 0; i < request->mutation_count; i++) {
        *at++ = 0;
        at = put_bytes(at, request->mutations[i].key, request->mutations[i].key_length);
    }
}

static int write_log_record(MDB_txn *txn, MDB_dbi log, uint64_t version,
                            const struct kv_commit_request *request)
{
    uint8_t key_bytes[8];
    version_key(version, key_bytes);
    MDB_val key = {8, key_bytes}, value = {log_record_size(request), NULL};
    int result = mdb_put(txn, log, &key, &value, MDB_RESERVE);
    if (result == 0)
        fill_log_record(value.mv_data, request);
    return result;
}

/* Reads a length-prefixed key of a log record; false when the record is corrupt. */
static bool take_bytes(const uint8_t **at, const uint8_t *end, const uint8_t **bytes,
                       size_t *length)
{
    if (end - *at < 4)
        return false;
    *length = (size_t)(*at)[0] | (size_t)(*at)[1] << 8 | (size_t)(*at)[2] << 16 |
              (size_t)(*at)[3] << 24;
    if ((size_t)(end - *at - 4) < *length)
        return false;
    *bytes = *at + 4;
    *at += 4 + *length;
    return true;
}

/* CHAINFS_CONFLICT when a write range of the log record meets a read range. */
static int check_log_record(const MDB_val *record, const struct kv_commit_request *request)
{
    const uint8_t *at = (const uint8_t *)record->mv_data + 8;
    const uint8_t *end = (const uint8_t *)record->mv_data + record->mv_size;
    if (record->mv_size < 8)
        return CHAINFS_IO;
    while (at < end) {
        uint8_t kind = *at++;
        struct kv_key_range written;
        if (!take_bytes(&at, end, &written.begin, &written.begin_length))
            return CHAINFS_IO;
        bool hit;
        if (kind == 0) {
            hit = kv_sorted_ranges_contain(request->read_ranges, request->read_range_count,
                                           written.begin, written.begin_length);
        } else {
            if (!take_bytes(&at, end, &written.end, &written.end_length))
                return CHAINFS_IO;
            hit = kv_sorted_ranges_intersect(request->read_ranges, request->read_range_count,
                                             &written);
        }
        if (hit)
            return CHAINFS_CONFLICT;
    }
    return 0;
}

/* ---- validation and applying ---- */

static int validate(MDB_txn *txn, struct lmdb_backend *backend,
                    const struct lmdb_commit_entry *entry, uint64_t horizon, int *mdb_result)
{
    if (entry->request->read_range_count == 0)
        return 0;
    if (entry->read_version < horizon)
        return CHAINFS_CONFLICT; /* older than the conflict history */
    MDB_cursor *cursor;
    if ((*mdb_result = mdb_cursor_open(txn, backend->log, &cursor)) != 0)
        return 0;
    uint8_t start[8];
    version_key(entry->read_version + 1, start);
    MDB_val key = {8, start}, record;
    int status = 0;
    int result = mdb_cursor_get(cursor, &key, &record, MDB_SET_RANGE);
    while (result == 0 && status == 0) {
        status = check_log_record(&record, entry->request);
        if (status == 0)
            result = mdb_cursor_get(cursor, &key, &record, MDB_NEXT);
    }
    mdb_cursor_close(cursor);
    if (status == CHAINFS_IO)
        log_error("lmdb: corrupt conflict log record");
    if (result != 0 && result != MDB_NOTFOUND)
        *mdb_result = result;
    return status;
}

static int apply_mutation(MDB_txn *txn, MDB_dbi data, const struct kv_mutation *mutation)
{
    switch (mutation->type) {
    case KV_MUTATION_SET:
        return lmdb_data_put(txn, data, mutation->key, mutation->key_length, mutation->value,
                             mutation->value_length);
    case KV_MUTATION_CLEAR:
        return lmdb_data_delete(txn, data, mutation->key, mutation->key_length);
    case KV_MUTATION_ADD: {
        MDB_val old;
        int result = lmdb_data_get(txn, data, mutation->key, mutation->key_length, &old);
        if (result != 0 && result != MDB_NOTFOUND)
            return result;
        uint8_t sum[8];
        kv_counter_add(result == 0 ? old.mv_data : NULL, result == 0 ? old.mv_size : 0,
                       mutation->value, sum);
        return lmdb_data_put(txn, data, mutation->key, mutation->key_length, sum, 8);
    }
    }
    return EINVAL;
}

static int apply(MDB_txn *txn, struct lmdb_backend *backend, const struct kv_commit_request *request,
                 uint64_t version)
{
    int result = 0;
    for (size_t i = 0; i < request->cleared_range_count && result == 0; i++)
        result = lmdb_data_clear_range(txn, backend->data, &request->cleared_ranges[i]);
    for (size_t i = 0; i < request->mutation_count && result == 0; i++)
        result = apply_mutation(txn, backend->data, &request->mutations[i]);
    if (result == 0)
        result = write_log_record(txn, backend->log, version, request);
    return result;
}

/* Drops log records older than the conflict window, moving the horizon up. */
static int trim_log(MDB_txn *txn, struct lmdb_backend *backend, uint64_t *horizon)
{
    uint64_t oldest_kept = wall_clock_ns() - KV_LMDB_CONFLICT_WINDOW_NS;
    MDB_cursor *cursor;
    int result = mdb_cursor_open(txn, backend->log, &cursor);
    if (result != 0)
        return result;
    uint64_t new_horizon = *horizon;
    for (int trimmed = 0; trimmed < KV_LMDB_LOG_TRIM_MAX; trimmed++) {
        MDB_val key, record;
        uint64_t written_at;
        result = mdb_cursor_get(cursor, &key, &record, MDB_FIRST);
        if (result != 0 || record.mv_size < 8 || key.mv_size != 8)
            break;
        memcpy(&written_at, record.mv_data, 8);
        if (written_at >= oldest_kept)
            break;
        new_horizon = 0;
        for (int i = 0; i < 8; i++)
            new_horizon = new_horizon << 8 | ((const uint8_t *)key.mv_data)[i];
        if ((result = mdb_cursor_del(cursor, 0)) != 0)
            break;
    }
    mdb_cursor_close(cursor);
    if (result != 0 && result != MDB_NOTFOUND)
        return result;
    if (new_horizon == *horizon)
        return 0;
    *horizon = new_horizon;
    return lmdb_meta_write(txn, backend->meta, "horizon", new_horizon);
}

/* Validates and applies every entry of the batch; returns an LMDB code for the whole
 * batch (entry statuses are set when it is 0). */
static int write_batch(MDB_txn *txn, struct lmdb_backend *backend,
                       struct lmdb_commit_entry *batch)
{
    uint64_t version, horizon;
    int result = lmdb_meta_read(txn, backend->meta, "version", &version);
    if (result == 0)
        result = lmdb_meta_read(txn, backend->meta, "horizon", &horizon);
    for (struct lmdb_commit_entry *entry = batch; entry && result == 0; entry = entry->next) {
        entry->status = validate(txn, backend, entry, horizon, &result);
        if (entry->status == 0 && result == 0)
            result = apply(txn, backend, entry->request, ++version);
    }
    if (result == 0)
        result = lmdb_meta_write(txn, backend->meta, "version", version);
    if (result == 0)
        result = trim_log(txn, backend, &horizon);
    return result;
}

/* One attempt at the batch in one LMDB write transaction. Returns 0 (entry statuses
 * set), a chainfs status for every entry, or a BATCH_NEEDS_* code. */
static int try_batch(struct lmdb_backend *backend, struct lmdb_commit_entry *batch)
{
    pthread_rwlock_rdlock(&backend->map_lock);
    MDB_txn *txn;
    int result = mdb_txn_begin(backend->env, NULL, 0, &txn);
    if (result == 0) {
        result = write_batch(txn, backend, batch);
        if (result == 0)
            result = mdb_txn_commit(txn);
        else
            mdb_txn_abort(txn);
    }
    pthread_rwlock_unlock(&backend->map_lock);
    if (result == MDB_MAP_FULL)
        return BATCH_NEEDS_LARGER_MAP;
    if (result == MDB_MAP_RESIZED)
        return BATCH_NEEDS_NEW_MAP_SIZE;
    return lmdb_status(result, "commit");
}

static void run_batch(struct lmdb_backend *backend, struct lmdb_commit_entry *batch)
{
    int status = CHAINFS_NO_SPACE;
    for (int attempt = 0; attempt < KV_LMDB_GROW_ATTEMPTS; attempt++) {
        status = try_batch(backend, batch);
        if (status == BATCH_NEEDS_LARGER_MAP)
            status = lmdb_grow_map(backend);
        else if (status == BATCH_NEEDS_NEW_MAP_SIZE)
            status = lmdb_adopt_map_size(backend);
        else
            break;
        if (status != 0)
            break;
        status = CHAINFS_NO_SPACE;
    }
    if (status != 0)
        for (struct lmdb_commit_entry *entry = batch; entry; entry = entry->next)
            entry->status = status;
}

/* ---- the queue ---- */

/* Detaches up to KV_LMDB_BATCH_MAX entries from the head of the queue. */
static struct lmdb_commit_entry *take_batch(struct lmdb_commit_queue *queue)
{
    struct lmdb_commit_entry *batch = queue->head, *last = batch;
    for (int count = 1;; count++) {
        queue->urgent_queued -= !last->lazy;
        queue->lazy_queued -= last->lazy;
        if (count == KV_LMDB_BATCH_MAX || !last->next)
            break;
        last = last->next;
    }
    queue->head = last->next;
    if (!queue->head)
        queue->tail = NULL;
    last->next = NULL;
    return batch;
}

/* True when the queue holds only lazy entries that may still wait for an urgent one;
 * *until is then the time to stop waiting. */
static bool waiting_for_urgent(const struct lmdb_commit_queue *queue, struct timespec *until)
{
    if (!queue->lazy_commits_wait || queue->urgent_queued > 0 ||
        queue->lazy_queued > KV_LMDB_LAZY_WAITERS_MAX)
        return false;
    uint64_t since = queue->head->queued_at > queue->last_batch_end ? queue->head->queued_at
                                                                    : queue->last_batch_end;
    uint64_t deadline = since + queue->lazy_wait_ns;
    if (deadline_expired(deadline))
        return false;
    *until = deadline_to_timespec(deadline);
    return true;
}

/* Writes a batch taken from the queue (mutex held on entry and return). */
static void lead_batch(struct lmdb_backend *backend)
{
    struct lmdb_commit_queue *queue = &backend->queue;
    queue->leader_active = true;
    struct lmdb_commit_entry *batch = take_batch(queue);
    pthread_mutex_unlock(&queue->mutex);
    run_batch(backend, batch);
    pthread_mutex_lock(&queue->mutex);
    for (struct lmdb_commit_entry *done = batch; done;) {
        struct lmdb_commit_entry *next = done->next;
        done->done = true;
        done = next;
    }
    queue->last_batch_end = clock_now_ns();
    queue->leader_active = false;
    pthread_cond_broadcast(&queue->progress);
}

int lmdb_commit(struct lmdb_backend *backend, uint64_t read_version,
                const struct kv_commit_request *request)
{
    struct lmdb_commit_queue *queue = &backend->queue;
    struct lmdb_commit_entry entry = {request, read_version, 0, request->lazy, 0, false, NULL};
    pthread_mutex_lock(&queue->mutex);
    entry.queued_at = clock_now_ns();
    queue->urgent_queued += !entry.lazy;
    queue->lazy_queued += entry.lazy;
    if (queue->tail)
        queue->tail->next = &entry;
    else
        queue->head = &entry;
    queue->tail = &entry;
    while (!entry.done) {
        struct timespec until;
        if (queue->leader_active)
            pthread_cond_wait(&queue->progress, &queue->mutex);
        else if (waiting_for_urgent(queue, &until))
            pthread_cond_timedwait(&queue->progress, &queue->mutex, &until);
        else
            lead_batch(backend);
    }
    pthread_mutex_unlock(&queue->mutex);
    return entry.status;
}
