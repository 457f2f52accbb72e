/*
 * storage_ops.h - what the metadata service needs from the storage service, as a
 * table of callbacks, so that meta does not depend on the storage client's internals
 * (the meta daemon plugs in an adapter over src/client/storage_client; unit tests
 * plug in an in-memory fake).
 *
 * Every callback returns 0 or a CHAINFS_* status and may block (they run on worker
 * threads, never inside a KV transaction).
 */
#ifndef CHAINFS_META_STORAGE_OPS_H
#define CHAINFS_META_STORAGE_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "meta/inode.h"

struct meta_storage_ops {
    void *context;
    /* The chain ids a file's chunks live on, in stripe order (file_layout.h applied
     * to the file's chain table from routing info). */
    int (*file_chains)(void *context, const struct file_layout *layout, uint32_t *chain_ids,
                       size_t capacity, size_t *count);
    /* The highest-numbered chunk of inode_id stored on chain_id: *found false when the
     * chain holds none; else its index and its length in bytes. */
    int (*last_chunk)(void *context, uint32_t chain_id, uint64_t inode_id, bool *found,
                      uint64_t *chunk_index, uint32_t *chunk_length);
    /* Removes every chunk of inode_id on chain_id with index >= first_chunk. */
    int (*remove_chunks)(void *context, uint32_t chain_id, uint64_t inode_id, uint64_t first_chunk);
    /* Capacity and use of the whole cluster. May be NULL (statfs then sums the
     * target figures of the routing info). */
    int (*space_info)(void *context, uint64_t *capacity_bytes, uint64_t *used_bytes);
};

#endif /* CHAINFS_META_STORAGE_OPS_H */
