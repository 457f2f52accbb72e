/*
 * kv_arena.c - chunked bump allocation for transaction-lifetime memory.
 */
#include <stdlib.h>
#include <string.h>

#include "kv/kv_arena.h"

#define KV_ARENA_FIRST_CHUNK 16384
#define KV_ARENA_MAX_CHUNK (4u << 20)
#define KV_ARENA_ALIGNMENT 16

struct kv_arena_chunk {
    struct kv_arena_chunk *next;
    _Alignas(16) uint8_t bytes[];
};

void kv_arena_init(struct kv_arena *arena)
{
    arena->next = arena->inline_bytes;
    arena->limit = arena->inline_bytes + sizeof(arena->inline_bytes);
    arena->chunks = NULL;
    arena->next_chunk_size = KV_ARENA_FIRST_CHUNK;
}

void kv_arena_release(struct kv_arena *arena)
{
    struct kv_arena_chunk *chunk = arena->chunks;
    while (chunk) {
        struct kv_arena_chunk *next = chunk->next;
        free(chunk);
        chunk = next;
    }
    kv_arena_init(arena);
}

static size_t round_up(size_t size)
{
    return (size + KV_ARENA_ALIGNMENT - 1) & ~(size_t)(KV_ARENA_ALIGNMENT - 1);
}

static int add_chunk(struct kv_arena *arena, size_t at_least)
{
    size_t size = arena->next_chunk_size;
    if (size < at_least)
        size = at_least;
    struct kv_arena_chunk *chunk = malloc(sizeof(*chunk) + size);
    if (!chunk)
        return -1;
    chunk->next = arena->chunks;
    arena->chunks = chunk;
    arena->next = chunk->bytes;
    arena->limit = chunk->bytes + size;
    if (arena->next_chunk_size < KV_ARENA_MAX_CHUNK)
        arena->next_chunk_size *= 2;
    return 0;
}

void *kv_arena_allocate(struct kv_arena *arena, size_t size)
{
    if (size > SIZE_MAX / 2)
        return NULL;
    size = round_up(size ? size : 1);
    if ((size_t)(arena->limit - arena->next) < size && add_chunk(arena, size) != 0)
        return NULL;
    void *result = arena->next;
    arena->next += size;
    return result;
}

uint8_t *kv_arena_copy(struct kv_arena *arena, const void *bytes, size_t length)
{
    uint8_t *copy = kv_arena_allocate(arena, length);
    if (copy && length)
        memcpy(copy, bytes, length);
    return copy;
}
