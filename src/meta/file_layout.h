/*
 * file_layout.h - where the chunks of a file live (DESIGN §6): the pure mapping from a
 * file's layout and its chain table to the chain of each chunk.
 *
 * A file uses `stripe` consecutive chains of its table, starting at
 * first_chain_index (modulo the table length), in an order shuffled by the file's
 * seed; chunk i lives on the (i mod stripe)-th chain of that order. Meta and every
 * client compute the same answer from the same inputs, so meta stays off the data
 * path. A stripe longer than the table is cut to the table length (a chain is never
 * used twice by one file).
 */
#ifndef CHAINFS_META_FILE_LAYOUT_H
#define CHAINFS_META_FILE_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "meta/inode.h"

/* The most chains one file stripes over. */
#define FILE_LAYOUT_STRIPE_MAX 1024

/* How many chains the file really uses: min(stripe, chain_count), 0 if either is 0. */
uint32_t file_layout_stripe_width(const struct file_layout *layout, size_t chain_count);

/* The chain ids the file stripes over, in stripe order: out[k] holds the chain of
 * every chunk i with i mod width == k. out needs file_layout_stripe_width() slots.
 * Returns 0, or INVALID_ARGUMENT for an empty table, stripe 0 or a stripe over
 * FILE_LAYOUT_STRIPE_MAX. */
int file_layout_stripe_chains(const struct file_layout *layout, const uint32_t *table_chain_ids,
                              size_t chain_count, uint32_t *out);

/* The chain id of chunk chunk_index of the file (same rules and errors). */
int file_layout_chunk_chain(const struct file_layout *layout, const uint32_t *table_chain_ids,
                            size_t chain_count, uint64_t chunk_index, uint32_t *chain_id);

/* Checks a layout an admin sets on a directory: chunk size a power of two from
 * 64 KiB to 64 MiB, stripe 1..FILE_LAYOUT_STRIPE_MAX, table id not 0. */
int file_layout_check(const struct file_layout *layout);

#endif /* CHAINFS_META_FILE_LAYOUT_H */
