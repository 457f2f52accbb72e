/*
 * chunk_metadata.h - what a target knows about one chunk, and its LMDB record.
 *
 * A chunk has a committed version (what reads return) and at most one pending
 * version (an update written to disk but not yet committed by the replication
 * layer; pending = committed + 1). Each version names its content by length, CRC32C
 * and block location. A chunk created by an update that is still pending has
 * committed version 0, length 0 and no block.
 *
 * Record (the LMDB value under the 16-byte chunk id, all little-endian, 96 bytes):
 *   u32 format (CHUNK_METADATA_FORMAT), u32 reserved (0)
 *   committed: u64 version, u64 chain version, u64 length, u32 crc, i32 block class,
 *              u64 block index
 *   pending:   the same five fields; version 0 means "no pending version"
 *   u64 reserved (0)
 */
#ifndef CHAINFS_STORAGE_CHUNK_METADATA_H
#define CHAINFS_STORAGE_CHUNK_METADATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage/block_pool.h"
#include "storage/chunk_id.h"

#define CHUNK_METADATA_FORMAT 1u
#define CHUNK_METADATA_RECORD_SIZE 96

/* One version of a chunk's content. version 0: absent. */
struct chunk_version {
    uint64_t version;
    uint64_t chain_version; /* the chain version the update carried */
    uint64_t length;
    uint32_t crc; /* CRC32C of the length bytes of content */
    struct block_location block;
};

struct chunk_metadata {
    struct chunk_id id;
    struct chunk_version committed;
    struct chunk_version pending;
};

/* True when the chunk has a pending version. */
bool chunk_metadata_has_pending(const struct chunk_metadata *metadata);

/* Writes the record (CHUNK_METADATA_RECORD_SIZE bytes) for metadata. */
void chunk_metadata_encode(const struct chunk_metadata *metadata, uint8_t *record);

/* Parses a record; false when its size, format or fields are invalid (block class
 * out of range, a version with length but no block, pending not committed + 1). */
bool chunk_metadata_decode(const uint8_t *record, size_t size, struct chunk_metadata *out);

#endif /* CHAINFS_STORAGE_CHUNK_METADATA_H */
