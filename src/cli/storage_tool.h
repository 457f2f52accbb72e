/*
 * storage_tool.h - what the `chainfs storage-tool` commands share: a storage client
 * connected to a cluster, the workload options, and the self-describing chunk content
 * that lets a reader tell a whole chunk from a torn one.
 *
 * Chunk content: bytes 0..23 are (inode, index, generation) little-endian, the rest a
 * pseudo-random stream seeded by those three. A chunk read back is "whole" when its
 * header names the chunk and every byte matches the stream of the generation it names.
 */
#ifndef CHAINFS_CLI_STORAGE_TOOL_H
#define CHAINFS_CLI_STORAGE_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/storage_client_stack.h"

#define STORAGE_TOOL_MAX_CHAINS 64
#define STORAGE_PATTERN_HEADER 24

/* The chunks a workload touches: chunk i of inode lives on chains[i % chain_count]. */
struct storage_workload {
    uint32_t chains[STORAGE_TOOL_MAX_CHAINS];
    size_t chain_count;
    uint64_t inode;
    uint64_t chunks;      /* chunk indexes 0 .. chunks - 1 */
    uint32_t chunk_size;
    uint32_t length;      /* bytes written per chunk (from offset 0), >= 24 */
    double seconds;       /* stress: how long */
    unsigned writers, readers;
    uint64_t generation;  /* write/verify: which content */
};

/* An io for the whole written range of chunk index. */
struct storage_io storage_workload_io(const struct storage_workload *workload, uint64_t index,
                                      void *buffer);

/* Fills buffer[0..length) with the content of (inode, index, generation). */
void storage_pattern_fill(uint8_t *buffer, size_t length, uint64_t inode, uint64_t index,
                          uint64_t generation);

/* Checks content read back: true when whole; *generation gets the generation its
 * header names. */
bool storage_pattern_check(const uint8_t *buffer, size_t length, uint64_t inode, uint64_t index,
                           uint64_t *generation);

/* `chainfs storage-tool stress`: writers and readers on the workload at once. */
int storage_tool_stress(struct storage_client_stack *tool, const struct storage_workload *workload);

#endif /* CHAINFS_CLI_STORAGE_TOOL_H */
