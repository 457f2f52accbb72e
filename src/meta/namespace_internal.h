/*
 * namespace_internal.h - what the namespace operations share: KV keys, record
 * helpers, name checks and the inode id allocator.
 *
 * KV layout (DESIGN §4):
 *   INOD <u64 LE id>              inode record (inode.h); little-endian ids spread load
 *   DENT <u64 LE parent><name>    directory entry: a directory is one contiguous range
 *   IDAL <u8 shard>               next free counter of an inode id allocator shard
 *   GCQU <u64 LE id>              a removed file whose chunks still need deleting
 *   INOS <u64 LE id><u64 BE session>   a write session of a file (client id, opened at)
 *   IDEM <client id> 0 <u64 BE request>  the reply of an applied request (idempotency)
 */
#ifndef CHAINFS_META_NAMESPACE_INTERNAL_H
#define CHAINFS_META_NAMESPACE_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "kv/kv.h"
#include "meta/namespace.h"

struct kv_transaction;

#define RECORD_CLIENT_ID_MAX 63
#define RECORD_KEY_MAX (4 + RECORD_CLIENT_ID_MAX + 1 + 8)

#define DENTRY_KEY_MAX (4 + 8 + META_NAME_MAX)

struct meta_namespace {
    struct kv_store *store;
    pthread_mutex_t allocator_lock;
    uint64_t next_id; /* ids [next_id, end_id) are reserved for this process */
    uint64_t end_id;
    uint32_t shard;
    uint32_t (*newest_table_version)(void *context, uint32_t table_id);
    void *table_version_context;
};

size_t namespace_inode_key(uint8_t out[12], uint64_t id);
size_t namespace_dentry_key(uint8_t out[DENTRY_KEY_MAX], uint64_t parent_id, const char *name);

/* [begin, end) holding every entry of a directory (12-byte keys). */
void namespace_directory_range(uint64_t directory_id, uint8_t begin[12], uint8_t end[12]);

/* 0, or NAME_TOO_LONG / INVALID_ARGUMENT for "", ".", "..", or names with '/'. */
int namespace_check_name(const char *name);

/* Record helpers: 0, CHAINFS_NOT_FOUND, CHAINFS_MALFORMED or a KV status. */
int namespace_read_inode(struct kv_transaction *transaction, uint64_t id, struct inode *inode);
int namespace_write_inode(struct kv_transaction *transaction, const struct inode *inode);
int namespace_read_dentry(struct kv_transaction *transaction, uint64_t parent_id, const char *name,
                          struct directory_entry *entry);
int namespace_write_dentry(struct kv_transaction *transaction, uint64_t parent_id, const char *name,
                           const struct directory_entry *entry);
int namespace_clear_dentry(struct kv_transaction *transaction, uint64_t parent_id, const char *name);
/* 0 if the directory has no entries, CHAINFS_NOT_EMPTY otherwise. */
int namespace_check_empty(struct kv_transaction *transaction, uint64_t directory_id);

/* Reads parent_id as a directory the caller may modify (write + execute, not
 * immutable). */
int namespace_writable_directory(struct kv_transaction *transaction,
                                 const struct meta_credentials *credentials, uint64_t parent_id,
                                 struct inode *parent);

/* Drops one link of a non-directory inode; the last one moves it to the GC queue. */
int namespace_drop_link(struct kv_transaction *transaction, struct inode *inode, int64_t now_ns);

/* A fresh inode id (reserved from a shard in blocks, outside the caller's
 * transaction). */
int namespace_allocate_id(struct meta_namespace *space, uint64_t *id);

int64_t namespace_now_ns(void);

/* Runs a mutating operation's transaction: under a request record scope (namespace.h)
 * it first looks the request up (a replay changes nothing) and records the reply on
 * success; without a scope it is kv_run_transaction. */
int namespace_run(struct meta_namespace *space, kv_transaction_function function, void *argument);
/* The same, but never records (the first steps of a multi-transaction operation). */
int namespace_run_unrecorded(struct meta_namespace *space, kv_transaction_function function,
                             void *argument);
/* Whether the last namespace_run of this thread's scope found a recorded reply. */
bool namespace_replayed(void);

/* Records write session session_id of client_id on inode_id. */
int namespace_write_session(struct kv_transaction *transaction, uint64_t inode_id,
                            uint64_t session_id, const char *client_id);
/* [begin, end) of the sessions of a file (12-byte keys). */
void namespace_session_range(uint64_t inode_id, uint8_t begin[12], uint8_t end[12]);

/* Writes the GC queue entry of a file whose last link is gone. */
int namespace_queue_for_gc(struct kv_transaction *transaction, uint64_t inode_id);

#endif /* CHAINFS_META_NAMESPACE_INTERNAL_H */
