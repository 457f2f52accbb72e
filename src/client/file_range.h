/*
 * file_range.h - cutting a byte range of a file into the chunk pieces that live on
 * storage (DESIGN §6, §8).
 *
 * A file is a sequence of fixed-size chunks; chunk i lives on chain
 * chain_ids[i mod stripe], where chain_ids is the file's stripe of chains resolved from
 * its layout and chain table. A byte range [offset, offset + length) becomes one piece
 * per chunk it touches: (chain, chunk index, offset in the chunk, length, where in the
 * caller's buffer). Pure functions, no I/O: the client issues the pieces in parallel.
 */
#ifndef CHAINFS_CLIENT_FILE_RANGE_H
#define CHAINFS_CLIENT_FILE_RANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The file's chunks and the chains they are spread over. */
struct file_stripe {
    uint64_t inode_id;
    uint32_t chunk_size;       /* a power of two */
    uint32_t stripe;           /* number of chains, >= 1 */
    const uint32_t *chain_ids; /* stripe entries: chain of chunk i is chain_ids[i % stripe] */
};

/* One piece of a byte range: a part of one chunk. */
struct chunk_io {
    uint32_t chain_id;
    uint64_t inode_id;
    uint64_t chunk_index;
    uint32_t chunk_size;
    uint32_t offset;        /* inside the chunk */
    uint32_t length;
    uint64_t buffer_offset; /* of the piece's bytes in the caller's buffer */
    uint8_t *buffer;        /* caller's buffer + buffer_offset */
    /* result, set by the storage layer */
    int status;
    uint32_t done; /* bytes read or written; a read is short at the chunk's end */
};

/* How many pieces [offset, offset + length) has (0 for an empty range). */
size_t file_range_piece_count(uint32_t chunk_size, uint64_t offset, uint64_t length);

/* Fills pieces (capacity at least file_range_piece_count()) for the range, in file
 * order, pointing into buffer. Returns the count, or 0 when the stripe is invalid
 * (chunk size not a power of two, stripe 0), the range overflows 64 bits or capacity
 * is too small. */
size_t file_range_split(const struct file_stripe *stripe, uint64_t offset, uint64_t length,
                        uint8_t *buffer, struct chunk_io *pieces, size_t capacity);

/* What a truncate to new_length does to the chunks: every chunk from first_removed on
 * is removed; if partial, chunk partial_index is cut to partial_length bytes. */
struct truncate_plan {
    uint64_t first_removed;
    bool partial;
    uint64_t partial_index;
    uint32_t partial_length;
};

void file_range_truncate_plan(uint32_t chunk_size, uint64_t new_length, struct truncate_plan *plan);

/* True when chunk_size is a power of two of at least 4 KiB and at most 1 GiB. */
bool file_range_valid_chunk_size(uint32_t chunk_size);

#endif /* CHAINFS_CLIENT_FILE_RANGE_H */
