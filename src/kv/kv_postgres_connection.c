/*
 * kv_postgres_connection.c - PostgreSQL sessions for the kv backend: connecting,
 * creating the schema, preparing statements, error classification, and the pool that
 * gives each running transaction a session of its own (so any number of threads can
 * run transactions; a broken session is dropped and the next transaction reconnects).
 */
#define LOG_COMPONENT "kv"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"
#include "common/log.h"
#include "kv/kv_postgres.h"

#define PG_POOL_IDLE_MAX 64
#define PG_OID_BYTEA 17
#define PG_OID_INT8 20

/* Big enough for any statement text with a table name of up to 48 bytes. */
#define PG_SQL_MAX 1024

int pg_result_status(PGconn *conn, const PGresult *result)
{
    ExecStatusType type = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
    if (type == PGRES_COMMAND_OK || type == PGRES_TUPLES_OK)
        return 0;
    const char *state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : NULL;
    if (state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0))
        return CHAINFS_CONFLICT;
    if (PQstatus(conn) != CONNECTION_OK || !state || strncmp(state, "08", 2) == 0 ||
        strncmp(state, "57P", 3) == 0) {
        log_warn("postgres: connection lost: %s", PQerrorMessage(conn));
        return CHAINFS_UNAVAILABLE;
    }
    log_error("postgres: %s (SQLSTATE %s)", PQresultErrorMessage(result), state);
    return CHAINFS_IO;
}

static int run_command(PGconn *conn, const char *sql)
{
    PGresult *result = PQexec(conn, sql);
    int status = pg_result_status(conn, result);
    PQclear(result);
    return status;
}

void pg_connection_drain(PGconn *conn, bool *pending)
{
    if (!*pending)
        return;
    PGresult *result;
    while ((result = PQgetResult(conn)) != NULL)
        PQclear(result);
    *pending = false;
}

/* The 64-bit little-endian add of kv_atomic_add, byte by byte with carry (a shorter
 * old value is zero-extended, a longer one truncated, like kv_counter_add). */
static const char add_function_sql[] =
    "CREATE OR REPLACE FUNCTION chainfs_kv_add(old bytea, delta bytea) RETURNS bytea "
    "LANGUAGE plpgsql IMMUTABLE STRICT AS $$ "
    "DECLARE result bytea := '\\x0000000000000000'::bytea; carry int := 0; total int; "
    "BEGIN FOR i IN 0..7 LOOP "
    "total := get_byte(delta, i) + carry + "
    "CASE WHEN i < length(old) THEN get_byte(old, i) ELSE 0 END; "
    "result := set_byte(result, i, total % 256); carry := total / 256; "
    "END LOOP; RETURN result; END $$";

int pg_create_schema(struct pg_backend *backend, PGconn *conn)
{
    char sql[PG_SQL_MAX + sizeof(add_function_sql)];
    snprintf(sql, sizeof(sql),
             "BEGIN; SET LOCAL client_min_messages = warning; SELECT pg_advisory_xact_lock(5417316);"
             "CREATE TABLE IF NOT EXISTS %s (key bytea PRIMARY KEY, value bytea NOT NULL);"
             "%s; COMMIT",
             backend->table, add_function_sql);
    int status = run_command(conn, sql);
    if (status != 0)
        run_command(conn, "ROLLBACK");
    return status;
}

struct statement_template {
    const char *name;
    const char *sql; /* %1$s is the table */
    int parameter_count;
    Oid types[3];
};

static const struct statement_template statements[] = {
    {PG_STATEMENT_GET, "SELECT value FROM %1$s WHERE key = $1", 1, {PG_OID_BYTEA}},
    {PG_STATEMENT_RANGE_FORWARD,
     "SELECT key, value FROM %1$s WHERE key >= $1 AND key < $2 ORDER BY key LIMIT $3", 3,
     {PG_OID_BYTEA, PG_OID_BYTEA, PG_OID_INT8}},
    {PG_STATEMENT_RANGE_REVERSE,
     "SELECT key, value FROM %1$s WHERE key >= $1 AND key < $2 ORDER BY key DESC LIMIT $3", 3,
     {PG_OID_BYTEA, PG_OID_BYTEA, PG_OID_INT8}},
    {PG_STATEMENT_SET,
     "INSERT INTO %1$s (key, value) VALUES ($1, $2) "
     "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", 2, {PG_OID_BYTEA, PG_OID_BYTEA}},
    {PG_STATEMENT_CLEAR, "DELETE FROM %1$s WHERE key = $1", 1, {PG_OID_BYTEA}},
    {PG_STATEMENT_CLEAR_RANGE, "DELETE FROM %1$s WHERE key >= $1 AND key < $2", 2,
     {PG_OID_BYTEA, PG_OID_BYTEA}},
    {PG_STATEMENT_ADD,
     "INSERT INTO %1$s AS t (key, value) VALUES ($1, $2) "
     "ON CONFLICT (key) DO UPDATE SET value = chainfs_kv_add(t.value, EXCLUDED.value)", 2,
     {PG_OID_BYTEA, PG_OID_BYTEA}},
};

static int prepare_statements(struct pg_backend *backend, PGconn *conn)
{
    int status = 0;
    for (size_t i = 0; i < sizeof(statements) / sizeof(statements[0]) && status == 0; i++) {
        char sql[PG_SQL_MAX];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(sql, sizeof(sql), statements[i].sql, backend->table);
#pragma GCC diagnostic pop
        PGresult *result = PQprepare(conn, statements[i].name, sql,
                                     statements[i].parameter_count, statements[i].types);
        status = pg_result_status(conn, result);
        PQclear(result);
    }
    return status;
}

/* A new, prepared session (NULL *conn on failure). */
static int connect_prepared(struct pg_backend *backend, PGconn **conn)
{
    *conn = PQconnectdb(backend->conninfo);
    if (!*conn)
        return CHAINFS_NO_MEMORY;
    int status = 0;
    if (PQstatus(*conn) != CONNECTION_OK) {
        log_warn("postgres: cannot connect: %s", PQerrorMessage(*conn));
        status = CHAINFS_UNAVAILABLE;
    }
    if (status == 0)
        status = prepare_statements(backend, *conn);
    if (status != 0) {
        PQfinish(*conn);
        *conn = NULL;
    }
    return status;
}

int pg_connection_acquire(struct pg_backend *backend, struct pg_connection **connection)
{
    pthread_mutex_lock(&backend->mutex);
    struct pg_connection *pooled = backend->idle;
    if (pooled) {
        backend->idle = pooled->next;
        backend->idle_count--;
    }
    pthread_mutex_unlock(&backend->mutex);
    if (pooled) {
        *connection = pooled;
        return 0;
    }
    struct pg_connection *created = calloc(1, sizeof(*created));
    if (!created)
        return CHAINFS_NO_MEMORY;
    int status = connect_prepared(backend, &created->main);
    if (status != 0) {
        free(created);
        return status;
    }
    *connection = created;
    return 0;
}

int pg_connection_open_snapshot(struct pg_backend *backend, struct pg_connection *connection)
{
    if (connection->snapshot)
        return 0;
    return connect_prepared(backend, &connection->snapshot);
}

static void close_connection(struct pg_connection *connection)
{
    PQfinish(connection->main);
    if (connection->snapshot)
        PQfinish(connection->snapshot);
    free(connection);
}

void pg_connection_release(struct pg_backend *backend, struct pg_connection *connection,
                           bool broken)
{
    if (!broken) {
        pthread_mutex_lock(&backend->mutex);
        if (backend->idle_count < PG_POOL_IDLE_MAX) {
            connection->next = backend->idle;
            backend->idle = connection;
            backend->idle_count++;
            connection = NULL;
        }
        pthread_mutex_unlock(&backend->mutex);
    }
    if (connection)
        close_connection(connection);
}

void pg_backend_close_pool(struct pg_backend *backend)
{
    while (backend->idle) {
        struct pg_connection *next = backend->idle->next;
        pg_connection_drain(backend->idle->main, &backend->idle->main_pending);
        if (backend->idle->snapshot)
            pg_connection_drain(backend->idle->snapshot, &backend->idle->snapshot_pending);
        close_connection(backend->idle);
        backend->idle = next;
    }
    backend->idle_count = 0;
}
