/*
 * namespace.h - the POSIX namespace of chainfs on the KV store (DESIGN §6).
 *
 * Every operation is one KV transaction, retried on conflict, so any number of
 * metadata servers can serve one namespace at once. Errors are the status whose errno
 * a local file system would return (chainfs_error_to_errno).
 *
 * Directory times are not updated when entries are added or removed: every create in
 * a shared directory would otherwise write the directory's inode and conflict with
 * every other create there (3FS makes the same choice).
 */
#ifndef CHAINFS_META_NAMESPACE_H
#define CHAINFS_META_NAMESPACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meta/credentials.h"
#include "meta/inode.h"
#include "meta/storage_ops.h"

struct kv_store;
struct meta_namespace;
struct wire_writer;

/* Opens the namespace over a KV store (which must outlive it). */
int meta_namespace_open(struct kv_store *store, struct meta_namespace **space);
void meta_namespace_close(struct meta_namespace *space);

/* Where new files get their chain table version: a directory layout may name none
 * (0), and a file must name one, or a later upload of its table would move its
 * chunks. newest(context, table_id) answers the newest version the server knows (0:
 * none; the file then keeps 0). Call before serving. */
void meta_namespace_set_table_versions(struct meta_namespace *space,
                                       uint32_t (*newest)(void *context, uint32_t table_id),
                                       void *context);

/* Creates the root directory (mode 0755, owner root) with the default layout for new
 * files, unless it exists. Returns 0 either way. */
int meta_namespace_format(struct meta_namespace *space, const struct file_layout *default_layout);

/* Inode by id. */
int meta_stat(struct meta_namespace *space, uint64_t inode_id, struct inode *inode);

/* The child name of directory parent_id (needs execute permission on it). */
int meta_lookup(struct meta_namespace *space, const struct meta_credentials *credentials,
                uint64_t parent_id, const char *name, struct inode *inode);

/* Resolves an absolute path, following symlinks (at most 40; then SYMLINK_LOOP),
 * the last component only if follow_last. */
int meta_resolve(struct meta_namespace *space, const struct meta_credentials *credentials,
                 const char *path, bool follow_last, struct inode *inode);

enum meta_create_flag {
    META_CREATE_EXCLUSIVE = 1u << 0, /* O_EXCL: EXISTS if the name exists */
    META_CREATE_TRUNCATE = 1u << 1,  /* O_TRUNC: an existing file becomes empty */
};

/* Creates a regular file, or opens the existing one (O_CREAT semantics). */
int meta_create(struct meta_namespace *space, const struct meta_credentials *credentials,
                uint64_t parent_id, const char *name, uint32_t mode, unsigned flags,
                struct inode *inode);
int meta_mkdir(struct meta_namespace *space, const struct meta_credentials *credentials,
               uint64_t parent_id, const char *name, uint32_t mode, struct inode *inode);
int meta_symlink(struct meta_namespace *space, const struct meta_credentials *credentials,
                 uint64_t parent_id, const char *name, const char *target, struct inode *inode);
/* A hard link to inode_id (not a directory) as new_parent/new_name. */
int meta_link(struct meta_namespace *space, const struct meta_credentials *credentials,
              uint64_t inode_id, uint64_t new_parent_id, const char *new_name, struct inode *inode);

/* Removes a non-directory entry; the last link moves the file to the GC queue. */
int meta_unlink(struct meta_namespace *space, const struct meta_credentials *credentials,
                uint64_t parent_id, const char *name);
/* Removes an empty directory. */
int meta_rmdir(struct meta_namespace *space, const struct meta_credentials *credentials,
               uint64_t parent_id, const char *name);

enum meta_rename_flag {
    META_RENAME_NOREPLACE = 1u << 0, /* EXISTS if the destination exists */
    META_RENAME_EXCHANGE = 1u << 1,  /* swap two existing entries */
};

int meta_rename(struct meta_namespace *space, const struct meta_credentials *credentials,
                uint64_t from_parent_id, const char *from_name, uint64_t to_parent_id,
                const char *to_name, unsigned flags);

struct meta_directory_entry {
    char name[META_NAME_MAX + 1];
    uint64_t inode_id;
    uint8_t type;
};

/* Up to capacity entries of a directory in name order, starting after `after` ("" for
 * the first page). *more says whether further entries exist. */
int meta_readdir(struct meta_namespace *space, const struct meta_credentials *credentials,
                 uint64_t directory_id, const char *after, struct meta_directory_entry *entries,
                 size_t capacity, size_t *count, bool *more);

enum meta_setattr_field {
    META_SET_MODE = 1u << 0,
    META_SET_UID = 1u << 1,
    META_SET_GID = 1u << 2,
    META_SET_ATIME = 1u << 3,
    META_SET_MTIME = 1u << 4,
    META_SET_ATIME_NOW = 1u << 5,
    META_SET_MTIME_NOW = 1u << 6,
    META_SET_SIZE = 1u << 7,
};

struct meta_setattr {
    unsigned fields; /* META_SET_* */
    uint32_t mode;
    uint32_t uid;
    uint32_t gid;
    int64_t atime_ns;
    int64_t mtime_ns;
    uint64_t size;
};

/* chmod, chown, utimens and truncate with the rules of a local file system: mode and
 * explicit times by the owner (or root), uid by root, gid by the owner to one of their
 * groups, "now" times and size with write permission; a size change bumps the
 * truncate version (storage drops or zeroes the chunks past it). */
int meta_setattr(struct meta_namespace *space, const struct meta_credentials *credentials,
                 uint64_t inode_id, const struct meta_setattr *changes, struct inode *inode);

/* The absolute path of a directory, built from its parent pointers and own names
 * ("/" for the root). CHAINFS_NAME_TOO_LONG when it does not fit in capacity. */
int meta_directory_path(struct meta_namespace *space, uint64_t directory_id, char *path,
                        size_t capacity);

/* Ids of removed files waiting for their chunks to be deleted (GC queue). */
int meta_gc_queue(struct meta_namespace *space, uint64_t *ids, size_t capacity, size_t *count);
/* The next page of the queue after after_id (0: from the start), in key order;
 * *more says whether the queue goes on (GC walks it page by page, so files kept by
 * open sessions at its head do not hold up the rest). */
int meta_gc_queue_page(struct meta_namespace *space, uint64_t after_id, uint64_t *ids,
                       size_t capacity, size_t *count, bool *more);

/* ----------------------------------------------------------------------------------
 * Write sessions and file lengths (namespace_session.c)
 *
 * A write open records INOS <inode><session>: (client id, opened at). Reads are not
 * tracked. Lengths grow by reports and syncs, shrink only by truncate: a report is
 * adopted when larger than the stored length and carries the file's current
 * truncate version (a report from before a truncate is dropped).
 */

enum meta_open_mode {
    META_OPEN_MODE_READ = 1u << 0,     /* read permission */
    META_OPEN_MODE_WRITE = 1u << 1,    /* write permission; records the session */
    META_OPEN_MODE_TRUNCATE = 1u << 2, /* O_TRUNC (with write) */
};

struct meta_session {
    uint64_t inode_id;
    uint64_t session_id;
    char client_id[64];
    int64_t opened_ns;
};

/* O_CREAT like meta_create; when session_id != 0 also records a write session of
 * client_id for the file in the same transaction. */
int meta_create_open(struct meta_namespace *space, const struct meta_credentials *credentials,
                     uint64_t parent_id, const char *name, uint32_t mode, unsigned flags,
                     const char *client_id, uint64_t session_id, struct inode *inode);

/* Opens an existing file (META_OPEN_MODE_*): permission checks; a write open records
 * session_id (not 0) of client_id. IS_DIRECTORY for a directory opened for write,
 * INVALID_ARGUMENT for a symlink. */
int meta_open(struct meta_namespace *space, const struct meta_credentials *credentials,
              uint64_t inode_id, unsigned mode, const char *client_id, uint64_t session_id,
              struct inode *inode);

/* Ends a write session (absent ones are fine: it may have been pruned). With
 * has_length, length is adopted as in meta_report_length. */
int meta_close(struct meta_namespace *space, uint64_t inode_id, uint64_t session_id,
               bool has_length, uint64_t length, uint64_t truncate_version, struct inode *inode);

/* A length report of an open write session (NOT_FOUND when the session is gone). */
int meta_report_length(struct meta_namespace *space, uint64_t inode_id, uint64_t session_id,
                       uint64_t length, uint64_t truncate_version, struct inode *inode);

/* Makes the length exact: asks storage for the last chunk on each of the file's
 * chains and adopts the end of the highest one when it is larger, unless a truncate
 * ran meanwhile (then the truncate's length stands). */
int meta_sync_length(struct meta_namespace *space, const struct meta_storage_ops *ops,
                     uint64_t inode_id, struct inode *inode);

/* The write sessions of a file. */
int meta_list_sessions(struct meta_namespace *space, uint64_t inode_id,
                       struct meta_session *sessions, size_t capacity, size_t *count);

/* Deletes, among at most `limit` sessions after *cursor (a session key position kept
 * by the caller between passes; start with 0,0), those whose client is_dead says is
 * dead. *pruned counts them; the cursor wraps to the start at the end. */
struct meta_session_cursor {
    uint64_t inode_id;
    uint64_t session_id;
};
int meta_prune_sessions(struct meta_namespace *space,
                        bool (*is_dead)(void *context, const char *client_id), void *context,
                        size_t limit, struct meta_session_cursor *cursor, size_t *pruned);

/* ----------------------------------------------------------------------------------
 * Idempotency records (namespace_idempotency.c)
 *
 * IDEM <client id> 0x00 <u64 BE request id>: (i64 recorded at, reply bytes). A service
 * that applies a mutating request sets a record scope on its thread around the
 * namespace call: the operation's transaction first looks the pair up (found: the
 * transaction changes nothing and the recorded reply is handed back), and on success
 * writes the reply that encode_reply produces in the same transaction. So a request
 * is applied at most once, whichever server the retry reaches.
 */
struct meta_request_record {
    const char *client_id;
    uint64_t request_id;
    /* Encodes the reply of the operation that just succeeded (inside its transaction,
     * with the operation's outputs filled in). */
    void (*encode_reply)(void *context, struct wire_writer *writer);
    void *context;
    /* Out: the request was applied before; reply holds the recorded reply (malloc'd,
     * the caller frees it). */
    bool replayed;
    uint8_t *reply;
    size_t reply_length;
};

/* Sets / clears the record scope of the calling thread (scopes do not nest). */
void meta_request_record_begin(struct meta_request_record *record);
void meta_request_record_end(void);

/* Deletes up to `limit` records older than max_age_ns, scanning from *cursor (a key
 * position kept by the caller; start with an empty one); *removed counts them. */
struct meta_record_cursor {
    uint8_t key[80];
    size_t length;
};
int meta_prune_request_records(struct meta_namespace *space, int64_t max_age_ns, size_t limit,
                               struct meta_record_cursor *cursor, size_t *removed);

/* ----------------------------------------------------------------------------------
 * Trees, batches and paths (namespace_tree.c)
 */

/* mkdir -p of an absolute path: missing directories are created with mode, existing
 * ones (also through symlinks) are fine; the last one is returned. */
int meta_mkdirs(struct meta_namespace *space, const struct meta_credentials *credentials,
                const char *path, uint32_t mode, struct inode *inode);

/* rm -r of parent/name on the server, in bounded transactions (at most
 * META_REMOVE_BATCH entries each) from the leaves up; files go to the GC queue.
 * *removed counts the inodes unlinked. Permission rules as for unlink and rmdir at
 * every level (a refusal stops it part way, like rm -r). */
#define META_REMOVE_BATCH 256
int meta_remove_tree(struct meta_namespace *space, const struct meta_credentials *credentials,
                     uint64_t parent_id, const char *name, uint64_t *removed);

/* Inodes of several ids in one transaction; statuses[i] says which exist. */
int meta_batch_stat(struct meta_namespace *space, const uint64_t *ids, size_t count,
                    int *statuses, struct inode *inodes);

/* The target of a symlink (INVALID_ARGUMENT for other types). */
int meta_readlink(struct meta_namespace *space, uint64_t inode_id, char *target, size_t capacity);

/* The canonical absolute path of an absolute path (every symlink resolved). */
int meta_realpath(struct meta_namespace *space, const struct meta_credentials *credentials,
                  const char *path, char *resolved, size_t capacity);

/* Admin: sets the default layout of a directory (root only: NOT_PERMITTED; checked
 * by file_layout_check). */
int meta_set_layout(struct meta_namespace *space, const struct meta_credentials *credentials,
                    uint64_t directory_id, const struct file_layout *layout, struct inode *inode);

/* ----------------------------------------------------------------------------------
 * Garbage collection (namespace_gc.c)
 */

/* Collects one file of the GC queue: unless it has write sessions of live clients
 * (BUSY; sessions of clients is_dead calls dead are deleted), removes its chunks on
 * every chain of its stripe through ops, then deletes the inode, its sessions and the
 * queue entry. NOT_FOUND when it is not (any more) queued. is_dead may be NULL. */
int meta_gc_collect(struct meta_namespace *space, const struct meta_storage_ops *ops,
                    uint64_t inode_id, bool (*is_dead)(void *context, const char *client_id),
                    void *context);

/* ----------------------------------------------------------------------------------
 * Offline consistency check (namespace_check.c)
 */
#define META_CHECK_PROBLEMS_MAX 16

struct meta_check_report {
    uint64_t inodes;
    uint64_t entries;
    uint64_t queued;
    uint64_t problem_count; /* 0: consistent */
    char problems[META_CHECK_PROBLEMS_MAX][160]; /* the first ones, as text */
};

/* Verifies, in one snapshot of a quiescent namespace: every entry points to an
 * existing inode of its type, in a directory; a file's nlink counts its entries, and
 * a file with none is in the GC queue (and only then); a directory has exactly one
 * entry, matching its parent id and name, nlink 2 + its subdirectories, and reaches
 * the root without a cycle. Returns 0 (the report says what it found) or a KV
 * status. */
int meta_check(struct meta_namespace *space, struct meta_check_report *report);

#endif /* CHAINFS_META_NAMESPACE_H */
