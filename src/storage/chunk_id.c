/*
 * chunk_id.c - encoding of chunk ids (see chunk_id.h for why big-endian).
 */
#include <string.h>

#include "storage/chunk_id.h"

static void store_big_endian(uint8_t *out, uint64_t value)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (uint8_t)value;
        value >>= 8;
    }
}

static uint64_t load_big_endian(const uint8_t *in)
{
    uint64_t value = 0;
    for (int i = 0; i < 8; i++)
        value = (value << 8) | in[i];
    return value;
}

struct chunk_id chunk_id_make(uint64_t inode, uint64_t index)
{
    struct chunk_id id;
    store_big_endian(id.bytes, inode);
    store_big_endian(id.bytes + 8, index);
    return id;
}

uint64_t chunk_id_inode(const struct chunk_id *id)
{
    return load_big_endian(id->bytes);
}

uint64_t chunk_id_index(const struct chunk_id *id)
{
    return load_big_endian(id->bytes + 8);
}

int chunk_id_compare(const struct chunk_id *a, const struct chunk_id *b)
{
    return memcmp(a->bytes, b->bytes, CHUNK_ID_SIZE);
}

/* splitmix64's finalizer over both halves. */
static uint64_t mix(uint64_t value)
{
    value ^= value >> 30;
    value *= 0xbf58476d1ce4e5b9ULL;
    value ^= value >> 27;
    value *= 0x94d049bb133111ebULL;
    value ^= value >> 31;
    return value;
}

uint64_t chunk_id_hash(const struct chunk_id *id)
{
    return mix(chunk_id_inode(id) ^ mix(chunk_id_index(id) + 0x9e3779b97f4a7c15ULL));
}
