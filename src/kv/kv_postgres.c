/*
 * kv_postgres.c - the networked PostgreSQL backend: a chainfs transaction is a
 * PostgreSQL transaction at SERIALIZABLE isolation (SSI) on a pooled session.
 *
 * Reads run inside it, so PostgreSQL's predicate locks track them (including the gaps
 * of range reads: no phantoms). Writes stay in the generic write set and are sent at
 * commit, followed by COMMIT; SQLSTATE 40001/40P01 anywhere become CHAINFS_CONFLICT.
 * Snapshot reads must not be tracked, so they run on the session's second connection
 * in a REPEATABLE READ READ ONLY transaction that imported the main transaction's
 * snapshot (pg_export_snapshot / SET TRANSACTION SNAPSHOT): the same data, no
 * predicate locks.
 */
#define LOG_COMPONENT "kv"

#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"
#include "common/log.h"
#include "kv/kv_backend.h"
#include "kv/kv_postgres.h"

#define PG_RANGE_FIRST_BATCH 64
#define PG_RANGE_MAX_BATCH 4096

struct pg_transaction {
    struct pg_backend *backend;
    struct pg_connection *connection;
    bool begun;           /* BEGIN sent on the main connection */
    bool snapshot_begun;  /* the snapshot connection imported our snapshot */
    bool broken;          /* the session is unusable: do not pool it */
    PGresult *last_value; /* holds the value a get returned */
};

/* ---- statements ---- */

/* libpq reads a NULL parameter as SQL NULL, so empty byte strings need a pointer. */
static const char *parameter(const uint8_t *bytes)
{
    return bytes ? (const char *)bytes : "";
}

/* Classifies a result, remembering a lost connection. */
static int check(struct pg_transaction *transaction, PGconn *conn, const PGresult *result)
{
    int status = pg_result_status(conn, result);
    if (status == CHAINFS_UNAVAILABLE)
        transaction->broken = true;
    return status;
}

static int command(struct pg_transaction *transaction, PGconn *conn, const char *sql)
{
    PGresult *result = PQexec(conn, sql);
    int status = check(transaction, conn, result);
    PQclear(result);
    return status;
}

/* Runs a prepared statement with binary parameters and binary results. */
static PGresult *execute(PGconn *conn, const char *statement, int count,
                         const char *const *values, const int *lengths)
{
    static const int binary[3] = {1, 1, 1};
    return PQexecPrepared(conn, statement, count, values, lengths, binary, 1);
}

static int execute_checked(struct pg_transaction *transaction, PGconn *conn,
                           const char *statement, int count, const char *const *values,
                           const int *lengths)
{
    PGresult *result = execute(conn, statement, count, values, lengths);
    int status = check(transaction, conn, result);
    PQclear(result);
    return status;
}

/* ---- transaction state ---- */

static int ensure_begun(struct pg_transaction *transaction)
{
    if (transaction->begun)
        return 0;
    struct pg_connection *connection = transaction->connection;
    pg_connection_drain(connection->main, &connection->main_pending);
    int status = command(transaction, connection->main, "BEGIN ISOLATION LEVEL SERIALIZABLE");
    transaction->begun = status == 0;
    return status;
}

static bool snapshot_id_valid(const char *id)
{
    size_t length = strlen(id);
    if (length == 0 || length > 64)
        return false;
    return strspn(id, "0123456789ABCDEFabcdef-") == length;
}

/* The snapshot connection, in a transaction that sees our read version. */
static int ensure_snapshot_connection(struct pg_transaction *transaction, PGconn **conn)
{
    struct pg_connection *connection = transaction->connection;
    *conn = connection->snapshot;
    if (transaction->snapshot_begun)
        return 0;
    int status = ensure_begun(transaction);
    if (status == 0)
        status = pg_connection_open_snapshot(transaction->backend, connection);
    if (status != 0)
        return status;
    *conn = connection->snapshot;
    pg_connection_drain(connection->snapshot, &connection->snapshot_pending);
    PGresult *exported = PQexec(connection->main, "SELECT pg_export_snapshot()");
    status = check(transaction, connection->main, exported);
    if (status == 0 && !snapshot_id_valid(PQgetvalue(exported, 0, 0)))
        status = CHAINFS_INTERNAL;
    char sql[160];
    if (status == 0)
        snprintf(sql, sizeof(sql),
                 "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '%s'",
                 PQgetvalue(exported, 0, 0));
    PQclear(exported);
    if (status == 0)
        status = command(transaction, connection->snapshot, sql);
    transaction->snapshot_begun = status == 0;
    return status;
}

/* The connection a read goes to. */
static int reading_connection(struct pg_transaction *transaction, bool snapshot, PGconn **conn)
{
    if (snapshot)
        return ensure_snapshot_connection(transaction, conn);
    *conn = transaction->connection->main;
    return ensure_begun(transaction);
}

/* ---- backend operations ---- */

static int pg_begin(void *opened, void **created_transaction)
{
    struct pg_transaction *transaction = calloc(1, sizeof(*transaction));
    if (!transaction)
        return CHAINFS_NO_MEMORY;
    transaction->backend = opened;
    int status = pg_connection_acquire(transaction->backend, &transaction->connection);
    if (status != 0) {
        free(transaction);
        return status;
    }
    *created_transaction = transaction;
    return 0;
}

static int pg_get(void *opened, bool snapshot, const uint8_t *key, size_t key_length,
                  const uint8_t **value, size_t *value_length)
{
    struct pg_transaction *transaction = opened;
    PGconn *conn;
    int status = reading_connection(transaction, snapshot, &conn);
    if (status != 0)
        return status;
    const char *values[1] = {parameter(key)};
    int lengths[1] = {(int)key_length};
    PQclear(transaction->last_value);
    transaction->last_value = execute(conn, PG_STATEMENT_GET, 1, values, lengths);
    status = check(transaction, conn, transaction->last_value);
    if (status != 0)
        return status;
    if (PQntuples(transaction->last_value) == 0)
        return CHAINFS_NOT_FOUND;
    *value = (const uint8_t *)PQgetvalue(transaction->last_value, 0, 0);
    *value_length = (size_t)PQgetlength(transaction->last_value, 0, 0);
    return 0;
}

/* Bounds of the next batch of a range read, owned (the previous batch is freed). */
struct range_cursor {
    uint8_t *begin;
    size_t begin_length;
    uint8_t *end;
    size_t end_length;
};

static int move_cursor_past(struct range_cursor *cursor, const PGresult *batch, int rows,
                            bool reverse)
{
    const char *last = PQgetvalue(batch, rows - 1, 0);
    size_t length = (size_t)PQgetlength(batch, rows - 1, 0);
    uint8_t *bound = malloc(length + 1);
    if (!bound)
        return CHAINFS_NO_MEMORY;
    memcpy(bound, last, length);
    if (reverse) {
        free(cursor->end);
        cursor->end = bound;
        cursor->end_length = length;
    } else {
        bound[length] = 0; /* just after the last key */
        free(cursor->begin);
        cursor->begin = bound;
        cursor->begin_length = length + 1;
    }
    return 0;
}

/* Sends one batch to the sink. Returns 0 and sets *finished when the scan is over. */
static int read_batch(struct pg_transaction *transaction, PGconn *conn,
                      struct range_cursor *cursor, bool reverse, int64_t batch_size,
                      kv_row_sink sink, void *context, bool *finished)
{
    uint8_t limit[8];
    for (int i = 0; i < 8; i++)
        limit[i] = (uint8_t)((uint64_t)batch_size >> (56 - 8 * i));
    const char *values[3] = {parameter(cursor->begin), parameter(cursor->end), (char *)limit};
    int lengths[3] = {(int)cursor->begin_length, (int)cursor->end_length, 8};
    PGresult *batch = execute(conn, reverse ? PG_STATEMENT_RANGE_REVERSE : PG_STATEMENT_RANGE_FORWARD,
                              3, values, lengths);
    int status = check(transaction, conn, batch);
    int rows = status == 0 ? PQntuples(batch) : 0;
    bool stopped = false;
    for (int row = 0; row < rows && !stopped; row++)
        stopped = !sink(context, (const uint8_t *)PQgetvalue(batch, row, 0),
                        (size_t)PQgetlength(batch, row, 0),
                        (const uint8_t *)PQgetvalue(batch, row, 1),
                        (size_t)PQgetlength(batch, row, 1));
    *finished = stopped || rows < batch_size;
    if (status == 0 && !*finished)
        status = move_cursor_past(cursor, batch, rows, reverse);
    PQclear(batch);
    return status;
}

static int copy_bound(const uint8_t *bytes, size_t length, uint8_t **copy)
{
    *copy = malloc(length ? length : 1);
    if (!*copy)
        return CHAINFS_NO_MEMORY;
    if (length)
        memcpy(*copy, bytes, length);
    return 0;
}

static int pg_read_range(void *opened, bool snapshot, const struct kv_key_range *range,
                         bool reverse, kv_row_sink sink, void *context)
{
    struct pg_transaction *transaction = opened;
    PGconn *conn;
    int status = reading_connection(transaction, snapshot, &conn);
    if (status != 0)
        return status;
    struct range_cursor cursor = {NULL, range->begin_length, NULL, range->end_length};
    status = copy_bound(range->begin, range->begin_length, &cursor.begin);
    if (status == 0)
        status = copy_bound(range->end, range->end_length, &cursor.end);
    bool finished = false;
    for (int64_t batch = PG_RANGE_FIRST_BATCH; status == 0 && !finished;) {
        status = read_batch(transaction, conn, &cursor, reverse, batch, sink, context, &finished);
        if (batch < PG_RANGE_MAX_BATCH)
            batch *= 2;
    }
    free(cursor.begin);
    free(cursor.end);
    return status;
}

static int send_mutation(struct pg_transaction *transaction, const struct kv_mutation *mutation)
{
    const char *values[2] = {parameter(mutation->key), parameter(mutation->value)};
    int lengths[2] = {(int)mutation->key_length, (int)mutation->value_length};
    const char *statement = mutation->type == KV_MUTATION_SET     ? PG_STATEMENT_SET
                            : mutation->type == KV_MUTATION_CLEAR ? PG_STATEMENT_CLEAR
                                                                  : PG_STATEMENT_ADD;
    int count = mutation->type == KV_MUTATION_CLEAR ? 1 : 2;
    return execute_checked(transaction, transaction->connection->main, statement, count,
                           values, lengths);
}

static int send_clear_range(struct pg_transaction *transaction, const struct kv_key_range *range)
{
    const char *values[2] = {parameter(range->begin), parameter(range->end)};
    int lengths[2] = {(int)range->begin_length, (int)range->end_length};
    return execute_checked(transaction, transaction->connection->main, PG_STATEMENT_CLEAR_RANGE,
                           2, values, lengths);
}

static int pg_commit(void *opened, const struct kv_commit_request *request)
{
    struct pg_transaction *transaction = opened;
    int status = ensure_begun(transaction);
    for (size_t i = 0; i < request->cleared_range_count && status == 0; i++)
        status = send_clear_range(transaction, &request->cleared_ranges[i]);
    for (size_t i = 0; i < request->mutation_count && status == 0; i++)
        status = send_mutation(transaction, &request->mutations[i]);
    if (status == 0) {
        status = command(transaction, transaction->connection->main, "COMMIT");
        transaction->begun = false;
    }
    return status;
}

/* Rolls back without waiting for the reply (collected before the next command). */
static void roll_back_later(PGconn *conn, bool *pending)
{
    if (PQsendQuery(conn, "ROLLBACK"))
        *pending = true;
}

static void pg_end(void *opened)
{
    struct pg_transaction *transaction = opened;
    struct pg_connection *connection = transaction->connection;
    PQclear(transaction->last_value);
    if (!transaction->broken) {
        if (transaction->begun)
            roll_back_later(connection->main, &connection->main_pending);
        if (transaction->snapshot_begun)
            roll_back_later(connection->snapshot, &connection->snapshot_pending);
        transaction->broken = PQstatus(connection->main) != CONNECTION_OK ||
                              (connection->snapshot && PQstatus(connection->snapshot) != CONNECTION_OK);
    }
    pg_connection_release(transaction->backend, connection, transaction->broken);
    free(transaction);
}

/* ---- opening ---- */

int kv_postgres_open(const struct kv_options *options, void **opened)
{
    struct pg_backend *backend = calloc(1, sizeof(*backend));
    if (!backend || !(backend->conninfo = strdup(options->postgres_conninfo))) {
        free(backend);
        return CHAINFS_NO_MEMORY;
    }
    snprintf(backend->table, sizeof(backend->table), "%s",
             options->postgres_table ? options->postgres_table : KV_POSTGRES_DEFAULT_TABLE);
    pthread_mutex_init(&backend->mutex, NULL);
    PGconn *conn = PQconnectdb(backend->conninfo);
    int status = conn && PQstatus(conn) == CONNECTION_OK ? 0 : CHAINFS_UNAVAILABLE;
    if (status != 0)
        log_error("postgres: cannot connect: %s", conn ? PQerrorMessage(conn) : "out of memory");
    else
        status = pg_create_schema(backend, conn);
    PQfinish(conn);
    if (status != 0) {
        pthread_mutex_destroy(&backend->mutex);
        free(backend->conninfo);
        free(backend);
        return status;
    }
    *opened = backend;
    return 0;
}

static void pg_close(void *opened)
{
    struct pg_backend *backend = opened;
    pg_backend_close_pool(backend);
    pthread_mutex_destroy(&backend->mutex);
    free(backend->conninfo);
    free(backend);
}

const struct kv_backend_ops kv_postgres_backend_ops = {
    .name = "postgres",
    .traits = {.read_conflicts_by_commit_order = false,
               .write_write_conflicts = true, .commit_result_can_be_unknown = true},
    .close = pg_close,
    .begin = pg_begin,
    .get = pg_get,
    .read_range = pg_read_range,
    .commit = pg_commit,
    .end = pg_end,
};
