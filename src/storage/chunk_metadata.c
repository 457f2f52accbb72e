/*
 * chunk_metadata.c - the fixed little-endian record of chunk_metadata.h.
 */
#include <string.h>

#include "storage/chunk_metadata.h"

#define VERSION_FIELDS_SIZE 40

bool chunk_metadata_has_pending(const struct chunk_metadata *metadata)
{
    return metadata->pending.version != 0;
}

static void put_u64(uint8_t *out, uint64_t value)
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(value >> (8 * i));
}

static void put_u32(uint8_t *out, uint32_t value)
{
    for (int i = 0; i < 4; i++)
        out[i] = (uint8_t)(value >> (8 * i));
}

static uint64_t get_u64(const uint8_t *in)
{
    uint64_t value = 0;
    for (int i = 7; i >= 0; i--)
        value = (value << 8) | in[i];
    return value;
}

static uint32_t get_u32(const uint8_t *in)
{
    return (uint32_t)get_u64((const uint8_t[8]){in[0], in[1], in[2], in[3]});
}

static void encode_version(const struct chunk_version *version, uint8_t *out)
{
    put_u64(out, version->version);
    put_u64(out + 8, version->chain_version);
    put_u64(out + 16, version->length);
    put_u32(out + 24, version->crc);
    put_u32(out + 28, (uint32_t)version->block.block_class);
    put_u64(out + 32, version->block.index);
}

static void decode_version(const uint8_t *in, struct chunk_version *version)
{
    version->version = get_u64(in);
    version->chain_version = get_u64(in + 8);
    version->length = get_u64(in + 16);
    version->crc = get_u32(in + 24);
    version->block.block_class = (int)(int32_t)get_u32(in + 28);
    version->block.index = get_u64(in + 32);
}

void chunk_metadata_encode(const struct chunk_metadata *metadata, uint8_t *record)
{
    memset(record, 0, CHUNK_METADATA_RECORD_SIZE);
    put_u32(record, CHUNK_METADATA_FORMAT);
    encode_version(&metadata->committed, record + 8);
    encode_version(&metadata->pending, record + 8 + VERSION_FIELDS_SIZE);
}

/* A version's block is consistent with its length. */
static bool version_valid(const struct chunk_version *version)
{
    int block_class = version->block.block_class;
    if (version->length == 0)
        return block_class == BLOCK_CLASS_NONE || (block_class >= 0 &&
                                                   block_class < BLOCK_CLASS_COUNT);
    return block_class >= 0 && block_class < BLOCK_CLASS_COUNT &&
           version->length <= block_class_size(block_class);
}

bool chunk_metadata_decode(const uint8_t *record, size_t size, struct chunk_metadata *out)
{
    memset(out, 0, sizeof(*out)); /* padding too: dumps are copied out whole */
    if (size != CHUNK_METADATA_RECORD_SIZE || get_u32(record) != CHUNK_METADATA_FORMAT)
        return false;
    decode_version(record + 8, &out->committed);
    decode_version(record + 8 + VERSION_FIELDS_SIZE, &out->pending);
    if (!version_valid(&out->committed))
        return false;
    if (out->pending.version != 0 &&
        (out->pending.version != out->committed.version + 1 || !version_valid(&out->pending)))
        return false;
    return true;
}
