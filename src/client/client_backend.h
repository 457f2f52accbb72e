/*
 * client_backend.h - what the file client library needs from metadata and storage.
 *
 * The client logic (open files, lengths, byte ranges to chunks, truncate order) is
 * written once against these two tables of operations. A cluster fills them with the
 * meta client and the storage client (RPC to the services); the embedded backend fills
 * them in-process (namespace library on an LMDB store, chunks in files), so the whole
 * client and the FUSE daemon run and are tested on one machine without services.
 *
 * Every operation returns a CHAINFS_* status; credentials are checked by the
 * implementation (the metadata service), never by the client.
 */
#ifndef CHAINFS_CLIENT_CLIENT_BACKEND_H
#define CHAINFS_CLIENT_CLIENT_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/file_range.h"
#include "meta/credentials.h"
#include "meta/inode.h"
#include "meta/namespace.h"

struct chainfs_statfs;

struct client_meta_ops {
    int (*stat)(void *context, uint64_t inode_id, struct inode *inode);
    int (*lookup)(void *context, const struct meta_credentials *credentials, uint64_t parent_id,
                  const char *name, struct inode *inode);
    int (*resolve)(void *context, const struct meta_credentials *credentials, const char *path,
                   bool follow_last, struct inode *inode);
    /* flags: META_CREATE_*; the created (or existing) file. session_id != 0 records a
     * write session for it in the same step (a create that opens for write). */
    int (*create)(void *context, const struct meta_credentials *credentials, uint64_t parent_id,
                  const char *name, uint32_t mode, unsigned flags, uint64_t session_id,
                  struct inode *inode);
    int (*mkdir)(void *context, const struct meta_credentials *credentials, uint64_t parent_id,
                 const char *name, uint32_t mode, struct inode *inode);
    int (*symlink)(void *context, const struct meta_credentials *credentials, uint64_t parent_id,
                   const char *name, const char *target, struct inode *inode);
    int (*link)(void *context, const struct meta_credentials *credentials, uint64_t inode_id,
                uint64_t new_parent_id, const char *new_name, struct inode *inode);
    int (*unlink)(void *context, const struct meta_credentials *credentials, uint64_t parent_id,
                  const char *name);
    int (*rmdir)(void *context, const struct meta_credentials *credentials, uint64_t parent_id,
                 const char *name);
    int (*remove_recursive)(void *context, const struct meta_credentials *credentials,
                            uint64_t parent_id, const char *name);
    int (*rename)(void *context, const struct meta_credentials *credentials,
                  uint64_t from_parent_id, const char *from_name, uint64_t to_parent_id,
                  const char *to_name, unsigned flags);
    /* attributes (may be NULL): each entry's inode too */
    int (*readdir)(void *context, const struct meta_credentials *credentials,
                   uint64_t directory_id, const char *after, struct meta_directory_entry *entries,
                   struct inode *attributes, size_t capacity, size_t *count, bool *more);
    int (*setattr)(void *context, const struct meta_credentials *credentials, uint64_t inode_id,
                   const struct meta_setattr *changes, struct inode *inode);
    /* Opens an existing file (META_OPEN_MODE_* in mode: permission checks; a write open
     * records the write session session_id, chosen by the client, not 0). */
    int (*open)(void *context, const struct meta_credentials *credentials, uint64_t inode_id,
                unsigned mode, uint64_t session_id, struct inode *inode);
    /* Reports the highest written end of a file: meta adopts it if it is larger than
     * the length and the truncate version is still truncate_version. */
    int (*report_length)(void *context, uint64_t inode_id, uint64_t session_id, uint64_t length,
                         uint64_t truncate_version);
    /* Ends a write session, with a last length report. */
    int (*close)(void *context, uint64_t inode_id, uint64_t session_id, uint64_t length,
                 uint64_t truncate_version);
    int (*statfs)(void *context, struct chainfs_statfs *statfs);
    void (*destroy)(void *context);
};

struct client_storage_ops {
    /* The chains a file with this layout stripes over, in stripe order (chunk i on
     * chain_ids[i % *width]); chain_ids has room for layout->stripe entries and *width
     * (at most layout->stripe) says how many were used. */
    int (*resolve_stripe)(void *context, const struct file_layout *layout, uint32_t *chain_ids,
                          uint32_t *width);
    /* Reads / writes every piece, in parallel where it can. Each piece gets its own
     * status and bytes done (a read is short where the chunk ends or is missing); the
     * return value is 0 or the first failure. */
    int (*read)(void *context, struct chunk_io *pieces, size_t count);
    int (*write)(void *context, struct chunk_io *pieces, size_t count);
    /* Removes the chunks of inode_id with index >= first_index on a chain. */
    int (*remove_chunks)(void *context, uint32_t chain_id, uint64_t inode_id, uint64_t first_index);
    /* Cuts one chunk to length bytes (nothing if it is missing or shorter). */
    int (*truncate_chunk)(void *context, uint32_t chain_id, uint64_t inode_id, uint64_t chunk_index,
                          uint32_t length, uint32_t chunk_size);
    void (*destroy)(void *context);
};

struct client_backend {
    const struct client_meta_ops *meta;
    void *meta_context;
    const struct client_storage_ops *storage;
    void *storage_context;
};

#endif /* CHAINFS_CLIENT_CLIENT_BACKEND_H */
