/*
 * kv.h - the transactional, ordered key-value store every chainfs service keeps its
 * metadata in (DESIGN §4), with FoundationDB's semantics.
 *
 * Keys and values are byte strings (embedded zero bytes allowed) ordered by memcmp,
 * a shorter key before its extensions. A transaction reads from one consistent
 * snapshot (its read version), buffers its writes locally and applies them atomically
 * at commit. Commit fails with CHAINFS_CONFLICT when anything the transaction read
 * (without the snapshot flag) was written by a transaction that committed after the
 * read version: serializable snapshot isolation with optimistic concurrency. Reads
 * see the transaction's own uncommitted writes, also inside ranges.
 *
 * Backends: "lmdb" (embedded, one host, several processes share one environment) and
 * "postgres" (networked, SERIALIZABLE). See src/kv/README.md for what each guarantees.
 *
 * Threads: one struct kv_store is shared by every thread of a process; a transaction
 * is used by one thread at a time. Several processes may open the same store. Open a
 * given LMDB directory at most once per process.
 *
 * Memory: everything a read returns (values, rows) lives in memory owned by the
 * transaction and stays valid until kv_commit() or kv_abort() ends it.
 */
#ifndef CHAINFS_KV_KV_H
#define CHAINFS_KV_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* FoundationDB's limits. Larger keys, values or transactions fail with
 * CHAINFS_TOO_LARGE and change nothing. A transaction's size is the bytes of its
 * writes (keys and values, both bounds of each cleared range) plus the keys of its
 * read conflict ranges. */
#define KV_KEY_MAX 10000
#define KV_VALUE_MAX 100000
#define KV_TRANSACTION_MAX 10000000

/* How an LMDB store makes commits durable. */
enum kv_durability {
    KV_DURABILITY_SYNC,   /* commit returns after the data reached the disk (fdatasync) */
    KV_DURABILITY_NOSYNC, /* commit returns after the data reached the page cache:
                             survives a crash of any process, not of the machine */
};

struct kv_options {
    const char *backend; /* "lmdb" or "postgres" */
    /* lmdb */
    const char *lmdb_path;          /* directory of the environment (created if missing) */
    uint64_t lmdb_map_size;         /* initial map size in bytes; 0 = 1 GiB. Grows on demand. */
    enum kv_durability durability;  /* sync or nosync */
    /* postgres */
    const char *postgres_conninfo;  /* libpq connection string */
    const char *postgres_table;     /* table name ([a-z_][a-z0-9_]*, <= 48 chars); NULL =
                                       "chainfs_kv" */
};

/* Differences between backends a caller may need to know about (see README). */
struct kv_traits {
    /* true: a transaction conflicts exactly when a key or range it read (without the
     * snapshot flag) was written by a transaction that committed after its read
     * version - FoundationDB's rule. false (PostgreSQL SSI): it conflicts when no serial
     * order of the committed transactions exists, so it may commit a transaction that
     * FoundationDB would abort (ordering it before the writer), and may abort more
     * (write_write_conflicts, page-granular predicate locks). */
    bool read_conflicts_by_commit_order;
    /* FoundationDB never lets two blind writes of one key conflict; PostgreSQL does
     * (first updater wins), so on PostgreSQL concurrent atomic adds or sets of one key
     * may return CHAINFS_CONFLICT. */
    bool write_write_conflicts;
    /* Whether a commit that failed with CHAINFS_UNAVAILABLE may nevertheless have been
     * applied (the connection broke after COMMIT was sent). */
    bool commit_result_can_be_unknown;
};

struct kv_store;
struct kv_transaction;

/* One row of a range read. Key and value are owned by the transaction. */
struct kv_row {
    const uint8_t *key;
    size_t key_length;
    const uint8_t *value;
    size_t value_length;
};

struct kv_range_options {
    bool reverse;  /* rows in descending key order (the last ones of the range first) */
    size_t limit;  /* at most this many rows; 0 = no limit */
    bool snapshot; /* add no read conflict range */
};

struct kv_range_result {
    struct kv_row *rows; /* owned by the transaction */
    size_t count;
    /* True when the limit cut the result short and the range holds more rows. The next
     * page starts after the last row: forward, begin = last key + "\0"; reverse,
     * end = last key. */
    bool more;
};

/* Parses "sync" / "nosync". Returns false on anything else. */
bool kv_durability_parse(const char *text, enum kv_durability *durability);

/* Opens (creating if needed) the store described by options. Returns 0 and sets
 * *store, CHAINFS_CONFIG for bad options (logged, with the reason),
 * CHAINFS_UNAVAILABLE when PostgreSQL cannot be reached, CHAINFS_IO for an LMDB
 * failure. */
int kv_open(const struct kv_options *options, struct kv_store **store);

/* Closes the store. Every transaction must have ended. Accepts NULL. */
void kv_close(struct kv_store *store);

/* The backend's name ("lmdb" or "postgres"). */
const char *kv_backend_name(const struct kv_store *store);

/* The backend's behaviour where it differs from FoundationDB. */
struct kv_traits kv_store_traits(const struct kv_store *store);

/* Starts a transaction. The read version is taken lazily, at the first read.
 * Returns 0, CHAINFS_NO_MEMORY or CHAINFS_UNAVAILABLE (PostgreSQL unreachable). */
int kv_begin(struct kv_store *store, struct kv_transaction **transaction);

/* Reads one key: 0 with *value / *value_length set (owned by the transaction),
 * CHAINFS_NOT_FOUND when absent, CHAINFS_TOO_LARGE for an oversized key, or a backend
 * error (CHAINFS_CONFLICT, CHAINFS_UNAVAILABLE) after which the transaction can only
 * be aborted. Adds a read conflict on the key. */
int kv_get(struct kv_transaction *transaction, const void *key, size_t key_length,
           const void **value, size_t *value_length);

/* kv_get without a read conflict: a later write of the key by another transaction
 * does not make this one conflict. */
int kv_get_snapshot(struct kv_transaction *transaction, const void *key, size_t key_length,
                    const void **value, size_t *value_length);

/* Reads the rows with begin <= key < end in key order (or reverse order), merged with
 * the transaction's own writes. options may be NULL (forward, no limit, conflicting).
 * Without the snapshot flag it adds a read conflict on the part of the range it
 * covered: all of it, or up to the last row returned when more is set. */
int kv_get_range(struct kv_transaction *transaction, const void *begin, size_t begin_length,
                 const void *end, size_t end_length, const struct kv_range_options *options,
                 struct kv_range_result *result);

/* Buffers a write of key = value. */
int kv_set(struct kv_transaction *transaction, const void *key, size_t key_length,
           const void *value, size_t value_length);

/* Buffers the removal of key (absent keys are fine). */
int kv_clear(struct kv_transaction *transaction, const void *key, size_t key_length);

/* Buffers the removal of every key with begin <= key < end (begin >= end: no-op). */
int kv_clear_range(struct kv_transaction *transaction, const void *begin, size_t begin_length,
                   const void *end, size_t end_length);

/* Adds delta to the 64-bit little-endian counter at key, without reading it (no read
 * conflict). A missing key counts as 0; a shorter value is zero-extended and a longer
 * one truncated to 8 bytes; the sum wraps modulo 2^64. */
int kv_atomic_add(struct kv_transaction *transaction, const void *key, size_t key_length,
                  int64_t delta);

/* Commits and ends the transaction (it is freed whatever the outcome). Returns 0,
 * CHAINFS_CONFLICT (retry from the start), CHAINFS_UNAVAILABLE (PostgreSQL connection
 * lost: retryable, see kv_traits.commit_result_can_be_unknown), or the error an earlier
 * operation of the transaction failed with. A transaction without writes commits
 * without contacting the backend (its reads were already serializable at its read
 * version). */
int kv_commit(struct kv_transaction *transaction);

/* Marks the transaction's commit as not urgent (e.g. the end of a write session,
 * which no application waits for): a backend that groups commits may hold it for up
 * to KV_LAZY_COMMIT_WAIT_NS so that it shares the syncs of an urgent commit arriving
 * meanwhile (LMDB with durability = sync: a create and the close of the previous
 * file in one transaction instead of two). kv_commit still returns only once the
 * commit is durable. Other backends ignore it. */
#define KV_LAZY_COMMIT_WAIT_NS (2ULL * 1000000ULL)
void kv_set_lazy_commit(struct kv_transaction *transaction);

/* Discards the transaction's writes and ends it. Accepts NULL. */
void kv_abort(struct kv_transaction *transaction);

/* The body of a transaction for kv_run_transaction: returns 0 to commit, or a status
 * (which aborts; CHAINFS_CONFLICT and CHAINFS_UNAVAILABLE are retried). */
typedef int (*kv_transaction_function)(struct kv_transaction *transaction, void *argument);

struct kv_retry_options {
    unsigned max_attempts;       /* 0 = 100 */
    uint64_t initial_backoff_ns; /* 0 = 1 ms; doubled after every retryable failure */
    uint64_t max_backoff_ns;     /* 0 = 1 s */
};

/* Runs function in fresh transactions until one commits. Between attempts it sleeps a
 * random time in [backoff/2, backoff) (jitter), backoff doubling up to the maximum.
 * Returns 0, the function's or commit's non-retryable status, or
 * CHAINFS_RETRY_EXHAUSTED after max_attempts retryable failures. options may be
 * NULL. The function may run several times: it must not have effects outside the
 * transaction that it cannot repeat. */
int kv_run_transaction(struct kv_store *store, kv_transaction_function function,
                       void *argument, const struct kv_retry_options *options);

#endif /* CHAINFS_KV_KV_H */
