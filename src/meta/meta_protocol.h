/*
 * meta_protocol.h - the metadata service's RPC methods (service META_SERVICE_ID) and
 * their messages.
 *
 * Every request starts with the caller's credentials (u32 uid, u32 gid, u32 group
 * count, that many u32 groups); a mutating request then carries (string client id,
 * u64 request id): the server records the reply under that pair in the transaction
 * that applies the operation, and a retry with the same pair gets the recorded reply
 * instead of applying it twice. Then come the method's fields, each in a fixed order
 * given by one table (meta_protocol.c), so one codec serves every method:
 *
 *   inode id u64 | parent id u64 | name string | new parent id u64 | new name string |
 *   path string (path, symlink target or cursor) | mode u32 | flags u32 |
 *   session id u64 | length u64 | truncate version u64 | setattr (u32 fields, u32 mode,
 *   u32 uid, u32 gid, i64 atime, i64 mtime, u64 size) | layout (5 x u32, u64 seed) |
 *   limit u32 | ids (u32 count, count x u64)
 *
 * Replies (by method): an inode (inode.h encoding); nothing; a batch (u32 count, per
 * id u32 status and, when 0, an inode); a directory page (bool more, u32 count, per
 * entry: string name, u64 id, u8 type, bool with inode, inode); a path (string); a
 * statfs (u64 capacity, u64 used, u64 free, u64 inodes); a count (u64).
 *
 * Errors travel as the RPC status (a CHAINFS_* code); chainfs_error_to_errno gives
 * the errno a local file system would return.
 */
#ifndef CHAINFS_META_META_PROTOCOL_H
#define CHAINFS_META_META_PROTOCOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/wire.h"
#include "meta/credentials.h"
#include "meta/inode.h"
#include "meta/namespace.h"

#define META_SERVICE_ID 3

#define META_PATH_MAX 4095
#define META_CLIENT_ID_MAX 63  /* bytes of a client id (as mgmtd client sessions) */
#define META_BATCH_MAX 256     /* ids in one batched stat, entries in one readdir page */

enum meta_method {
    META_METHOD_STAT = 1,         /* inode id -> inode */
    META_METHOD_STAT_PATH = 2,    /* path, flags (META_FOLLOW_LAST) -> inode */
    META_METHOD_BATCH_STAT = 3,   /* ids -> batch */
    META_METHOD_LOOKUP = 4,       /* parent id, name -> inode */
    META_METHOD_CREATE = 5,       /* parent, name, mode, flags (META_CREATE_*), session -> inode */
    META_METHOD_OPEN = 6,         /* inode id, flags (META_OPEN_MODE_*), session -> inode */
    META_METHOD_CLOSE = 7,        /* inode id, flags (META_CLOSE_*), session, length,
                                     truncate version -> inode */
    META_METHOD_REPORT_LENGTH = 8, /* inode id, session, length, truncate version -> inode */
    META_METHOD_SYNC_LENGTH = 9,  /* inode id -> inode (length exact from storage) */
    META_METHOD_MKDIR = 10,       /* parent id, name, mode -> inode */
    META_METHOD_MKDIRS = 11,      /* path, mode -> inode of the last directory (mkdir -p) */
    META_METHOD_SYMLINK = 12,     /* parent id, name, path (target) -> inode */
    META_METHOD_READLINK = 13,    /* inode id -> path */
    META_METHOD_LINK = 14,        /* inode id, new parent, new name -> inode */
    META_METHOD_UNLINK = 15,      /* parent id, name -> nothing */
    META_METHOD_RMDIR = 16,       /* parent id, name -> nothing */
    META_METHOD_REMOVE_TREE = 17, /* parent id, name -> count (inodes removed) */
    META_METHOD_RENAME = 18,      /* parent, name, new parent, new name, flags -> nothing */
    META_METHOD_READDIR = 19,     /* inode id, path (cursor), limit, flags -> directory page */
    META_METHOD_SETATTR = 20,     /* inode id, setattr -> inode */
    META_METHOD_STATFS = 21,      /* -> statfs */
    META_METHOD_REALPATH = 22,    /* path -> path */
    META_METHOD_SET_LAYOUT = 23,  /* inode id (directory), layout -> inode (root only) */
    META_METHOD_COUNT_ = 24,      /* one past the last method */
};

enum meta_close_flag {
    META_CLOSE_LENGTH = 1u << 0,     /* the request carries the highest written offset */
    META_CLOSE_SYNC_LENGTH = 1u << 1, /* set the exact length from storage */
};

enum meta_lookup_flag {
    META_FOLLOW_LAST = 1u << 0,      /* STAT_PATH: follow a symlink in the last component */
    META_READDIR_ATTRIBUTES = 1u << 1, /* READDIR: each entry with its inode */
};

/* Every field a request may carry; a method uses the subset its table row names. */
struct meta_request {
    uint16_t method;
    struct meta_credentials credentials;
    char client_id[META_CLIENT_ID_MAX + 1]; /* mutating methods */
    uint64_t request_id;                    /* mutating methods; not 0 */
    uint64_t inode_id;
    uint64_t parent_id;
    char name[META_NAME_MAX + 1];
    uint64_t new_parent_id;
    char new_name[META_NAME_MAX + 1];
    char path[META_PATH_MAX + 1];
    uint32_t mode;
    uint32_t flags;
    uint64_t session_id;
    uint64_t length;
    uint64_t truncate_version;
    struct meta_setattr setattr;
    struct file_layout layout;
    uint32_t limit;
    uint32_t id_count;
    uint64_t ids[META_BATCH_MAX];
};

/* File-system figures for statfs. */
struct meta_statfs {
    uint64_t capacity_bytes;
    uint64_t used_bytes;
    uint64_t free_bytes;
    uint64_t inode_count; /* 0 when not counted */
};

enum meta_reply_kind {
    META_REPLY_NONE,
    META_REPLY_INODE,
    META_REPLY_BATCH,
    META_REPLY_DIRECTORY,
    META_REPLY_PATH,
    META_REPLY_STATFS,
    META_REPLY_COUNT,
};

/* Decoded replies. Arrays are caller-provided (capacity in the *_capacity fields);
 * a reply with more items than capacity is MALFORMED. */
struct meta_reply {
    struct inode inode;
    /* batch */
    size_t batch_capacity;
    int *batch_statuses;
    struct inode *batch_inodes;
    /* directory page (inodes only with META_READDIR_ATTRIBUTES; may be NULL otherwise) */
    size_t entry_capacity;
    struct meta_directory_entry *entries;
    struct inode *entry_inodes;
    /* batch and directory: how many */
    size_t count;
    bool more;
    char path[META_PATH_MAX + 1];
    struct meta_statfs statfs;
    uint64_t removed; /* count */
};

/* "stat", ...; NULL for an unknown method. */
const char *meta_method_name(uint16_t method);

/* True for methods that change the namespace (they carry client and request ids). */
bool meta_method_mutates(uint16_t method);

enum meta_reply_kind meta_method_reply_kind(uint16_t method);

/* Writes request (its method's fields) into writer. */
void meta_request_encode(struct wire_writer *writer, const struct meta_request *request);

/* Decodes a request of `method` (sets request->method). Returns 0, or MALFORMED for
 * a short, long or inconsistent body (unknown method, empty client id or request id
 * 0 on a mutating method, more groups or ids than fit, overlong strings). */
int meta_request_decode(uint16_t method, const void *body, size_t length,
                        struct meta_request *request);

/* Reply encoders, one per kind (server side). */
void meta_reply_encode_inode(struct wire_writer *writer, const struct inode *inode);
void meta_reply_encode_batch(struct wire_writer *writer, size_t count, const int *statuses,
                             const struct inode *inodes);
void meta_reply_encode_directory(struct wire_writer *writer, bool more, size_t count,
                                 const struct meta_directory_entry *entries,
                                 const struct inode *inodes);
void meta_reply_encode_path(struct wire_writer *writer, const char *path);
void meta_reply_encode_statfs(struct wire_writer *writer, const struct meta_statfs *statfs);
void meta_reply_encode_count(struct wire_writer *writer, uint64_t count);

/* Decodes the reply of `method` into reply (its arrays set by the caller). Returns 0
 * or MALFORMED. */
int meta_reply_decode(uint16_t method, const void *body, size_t length, struct meta_reply *reply);

#endif /* CHAINFS_META_META_PROTOCOL_H */
