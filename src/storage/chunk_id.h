/*
 * chunk_id.h - the 16-byte identity of a chunk: inode id and chunk index.
 *
 * Both halves are stored big-endian, so comparing ids bytewise (memcmp, LMDB's key
 * order) sorts by inode first and chunk index second: the chunks of one file form one
 * contiguous, ordered key range (DESIGN §6), which makes "last chunk of a file" and
 * "remove a range of chunks" single range scans.
 */
#ifndef CHAINFS_STORAGE_CHUNK_ID_H
#define CHAINFS_STORAGE_CHUNK_ID_H

#include <stdint.h>

#define CHUNK_ID_SIZE 16

struct chunk_id {
    uint8_t bytes[CHUNK_ID_SIZE];
};

/* The id of chunk `index` of inode `inode`. */
struct chunk_id chunk_id_make(uint64_t inode, uint64_t index);

uint64_t chunk_id_inode(const struct chunk_id *id);
uint64_t chunk_id_index(const struct chunk_id *id);

/* memcmp order: <0, 0, >0. */
int chunk_id_compare(const struct chunk_id *a, const struct chunk_id *b);

/* A well-mixed 64-bit hash for hash tables. */
uint64_t chunk_id_hash(const struct chunk_id *id);

#endif /* CHAINFS_STORAGE_CHUNK_ID_H */
