/*
 * kv_arena.h - the memory a transaction hands out (values, rows, write-set nodes).
 *
 * Allocations are bump-pointer carved from chunks and all freed together when the
 * transaction ends, which is exactly the lifetime the interface promises for returned
 * values. The first chunk lives inside the arena so small transactions never call
 * malloc for it.
 */
#ifndef CHAINFS_KV_KV_ARENA_H
#define CHAINFS_KV_KV_ARENA_H

#include <stddef.h>
#include <stdint.h>

#define KV_ARENA_INLINE_BYTES 2048

struct kv_arena_chunk;

struct kv_arena {
    uint8_t *next;  /* free space in the current chunk */
    uint8_t *limit;
    struct kv_arena_chunk *chunks; /* heap chunks, newest first */
    size_t next_chunk_size;
    _Alignas(16) uint8_t inline_bytes[KV_ARENA_INLINE_BYTES];
};

void kv_arena_init(struct kv_arena *arena);

/* Frees every chunk; the arena is empty and reusable afterwards. */
void kv_arena_release(struct kv_arena *arena);

/* size bytes aligned to 16, or NULL when out of memory. */
void *kv_arena_allocate(struct kv_arena *arena, size_t size);

/* A copy of length bytes (NULL when out of memory; a valid pointer for length 0). */
uint8_t *kv_arena_copy(struct kv_arena *arena, const void *bytes, size_t length);

#endif /* CHAINFS_KV_KV_ARENA_H */
