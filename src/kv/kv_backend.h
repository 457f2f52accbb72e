/*
 * kv_backend.h - what a storage engine implements to serve as a kv backend.
 *
 * The generic layer (kv_transaction.c) owns everything FoundationDB-shaped that does
 * not depend on the engine: argument checks, size limits, the local write set,
 * read-your-writes merging, and the list of read conflict ranges. A backend supplies
 * snapshot reads at one read version and an atomic commit that checks the read
 * conflict ranges (LMDB) or lets the engine do it (PostgreSQL SERIALIZABLE).
 */
#ifndef CHAINFS_KV_KV_BACKEND_H
#define CHAINFS_KV_KV_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kv/kv.h"

/* A half-open key range [begin, end). */
struct kv_key_range {
    const uint8_t *begin;
    size_t begin_length;
    const uint8_t *end;
    size_t end_length;
};

enum kv_mutation_type {
    KV_MUTATION_SET,   /* key = value */
    KV_MUTATION_CLEAR, /* remove key */
    KV_MUTATION_ADD,   /* key = add64(key, value), value is the 8-byte little-endian delta */
};

struct kv_mutation {
    enum kv_mutation_type type;
    const uint8_t *key;
    size_t key_length;
    const uint8_t *value;
    size_t value_length;
};

/* Everything a commit applies. Cleared ranges are applied before the mutations (the
 * write set already dropped mutations a later clear overrode). All arrays are in key
 * order; ranges do not overlap. */
struct kv_commit_request {
    const struct kv_key_range *read_ranges; /* non-snapshot reads: the conflict set */
    size_t read_range_count;
    const struct kv_key_range *cleared_ranges;
    size_t cleared_range_count;
    const struct kv_mutation *mutations;
    size_t mutation_count;
    bool lazy; /* kv_set_lazy_commit: may wait for an urgent commit to share its syncs */
};

/* Receives the rows of a range read in order; returns false to stop the scan. The
 * pointers are valid only during the call. */
typedef bool (*kv_row_sink)(void *context, const uint8_t *key, size_t key_length,
                            const uint8_t *value, size_t value_length);

struct kv_backend_ops {
    const char *name;
    struct kv_traits traits;
    void (*close)(void *backend);
    /* Starts a backend transaction (cheap: snapshots are taken at the first read). */
    int (*begin)(void *backend, void **transaction);
    /* Reads a key at the read version: 0 with *value valid until the next call on this
     * transaction, CHAINFS_NOT_FOUND, or an error. */
    int (*get)(void *transaction, bool snapshot, const uint8_t *key, size_t key_length,
               const uint8_t **value, size_t *value_length);
    /* Calls sink for each row of range at the read version, ascending or descending,
     * until sink returns false or the range ends. */
    int (*read_range)(void *transaction, bool snapshot, const struct kv_key_range *range,
                      bool reverse, kv_row_sink sink, void *context);
    /* Checks conflicts and applies the request atomically: 0, CHAINFS_CONFLICT, or an
     * error. Called at most once, only for transactions with writes. */
    int (*commit)(void *transaction, const struct kv_commit_request *request);
    /* Ends (rolling back if still open) and frees the backend transaction. */
    void (*end)(void *transaction);
};

/* A store is a backend behind the generic layer. */
struct kv_store {
    const struct kv_backend_ops *ops;
    void *backend;
};

extern const struct kv_backend_ops kv_lmdb_backend_ops;
extern const struct kv_backend_ops kv_postgres_backend_ops;

/* Open the backend state for kv_open (options already validated for the backend). */
int kv_lmdb_open(const struct kv_options *options, void **backend);
int kv_postgres_open(const struct kv_options *options, void **backend);

#endif /* CHAINFS_KV_KV_BACKEND_H */
