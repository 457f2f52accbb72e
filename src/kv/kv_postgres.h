/*
 * kv_postgres.h - internals of the PostgreSQL backend shared by its two files: the
 * connection pool (kv_postgres_connection.c) and transactions (kv_postgres.c).
 */
#ifndef CHAINFS_KV_KV_POSTGRES_H
#define CHAINFS_KV_KV_POSTGRES_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>

#include "kv/kv.h"

#define KV_POSTGRES_DEFAULT_TABLE "chainfs_kv"

/* Names of the prepared statements every connection has. */
#define PG_STATEMENT_GET "chainfs_get"
#define PG_STATEMENT_RANGE_FORWARD "chainfs_range_forward"
#define PG_STATEMENT_RANGE_REVERSE "chainfs_range_reverse"
#define PG_STATEMENT_SET "chainfs_set"
#define PG_STATEMENT_CLEAR "chainfs_clear"
#define PG_STATEMENT_CLEAR_RANGE "chainfs_clear_range"
#define PG_STATEMENT_ADD "chainfs_add"

/* One pooled session: the connection transactions run on, plus a second one for
 * snapshot reads (opened on first use). A result whose ROLLBACK was sent without
 * waiting is collected before the next command (pending_*). */
struct pg_connection {
    PGconn *main;
    PGconn *snapshot;
    bool main_pending;
    bool snapshot_pending;
    struct pg_connection *next;
};

struct pg_backend {
    char *conninfo;
    char table[64];
    pthread_mutex_t mutex;
    struct pg_connection *idle; /* pool of idle connections */
    unsigned idle_count;
};

/* A connection from the pool, or a new one (CHAINFS_UNAVAILABLE if the server cannot
 * be reached). */
int pg_connection_acquire(struct pg_backend *backend, struct pg_connection **connection);

/* Returns a connection to the pool, or closes it when broken. */
void pg_connection_release(struct pg_backend *backend, struct pg_connection *connection,
                           bool broken);

/* Opens the snapshot connection of a pooled session if needed. */
int pg_connection_open_snapshot(struct pg_backend *backend, struct pg_connection *connection);

/* Collects the results of a command sent earlier without waiting. */
void pg_connection_drain(PGconn *conn, bool *pending);

/* chainfs status of a result (consumes nothing): 0 for success, CHAINFS_CONFLICT for
 * SQLSTATE 40001/40P01, CHAINFS_UNAVAILABLE when the connection is gone. */
int pg_result_status(PGconn *conn, const PGresult *result);

/* Creates the table and the add function if missing (serialized by an advisory lock). */
int pg_create_schema(struct pg_backend *backend, PGconn *conn);

void pg_backend_close_pool(struct pg_backend *backend);

#endif /* CHAINFS_KV_KV_POSTGRES_H */
