/*
 * namespace_internal.h - what the namespace operations share: KV keys, record
 * helpers, name checks and the inode id allocator.
 *
 * KV layout (DESIGN §4):
 *   INOD <u64 LE id>              inode record (inode.h); little-endian ids spread load
 *   DENT <u64 LE parent><name>    directory entry: a directory is one contiguous range
 *   IDAL <u8 shard>               next free counter of an inode id allocator shard
 *   GCQU <u64 LE id>              a removed file whose chunks still need deleting
 */
#ifndef CHAINFS_META_NAMESPACE_INTERNAL_H
#define CHAINFS_META_NAMESPACE_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "meta/namespace.h"

struct kv_transaction;

#define DENTRY_KEY_MAX (4 + 8 + META_NAME_MAX)

struct meta_namespace {
    struct kv_store *store;
    pthread_mutex_t allocator_lock;
    uint64_t next_id; /* ids [next_id, end_id) are reserved for this process */
    uint64_t end_id;
    uint32_t shard;
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

#endif /* CHAINFS_META_NAMESPACE_INTERNAL_H */
