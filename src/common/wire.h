/*
 * wire.h - explicit little-endian encoding of message bodies.
 *
 * Writers grow a heap buffer; readers check every access against the remaining
 * length. Both are "sticky": after the first failure (allocation failure, or reading
 * past the end) every later call is a no-op that returns zero, and the caller checks
 * wire_writer_ok()/wire_reader_ok() once at the end instead of after every field.
 *
 * Variable-length fields (bytes, strings) are a u32 length followed by the bytes.
 */
#ifndef CHAINFS_COMMON_WIRE_H
#define CHAINFS_COMMON_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wire_writer {
    uint8_t *data;
    size_t length;
    size_t capacity;
    bool failed;
};

void wire_writer_init(struct wire_writer *writer);
void wire_writer_free(struct wire_writer *writer);
/* Forgets the content but keeps the allocation. */
void wire_writer_reset(struct wire_writer *writer);
bool wire_writer_ok(const struct wire_writer *writer);
/* Hands the buffer to the caller (free() it); the writer is left empty. */
uint8_t *wire_writer_take(struct wire_writer *writer, size_t *length);

void wire_put_u8(struct wire_writer *writer, uint8_t value);
void wire_put_u16(struct wire_writer *writer, uint16_t value);
void wire_put_u32(struct wire_writer *writer, uint32_t value);
void wire_put_u64(struct wire_writer *writer, uint64_t value);
void wire_put_i64(struct wire_writer *writer, int64_t value);
void wire_put_bool(struct wire_writer *writer, bool value);
/* Raw bytes, no length prefix. */
void wire_put_raw(struct wire_writer *writer, const void *bytes, size_t length);
/* u32 length, then the bytes. Fails the writer if length exceeds UINT32_MAX. */
void wire_put_bytes(struct wire_writer *writer, const void *bytes, size_t length);
void wire_put_string(struct wire_writer *writer, const char *text);

struct wire_reader {
    const uint8_t *data;
    size_t length;
    size_t offset;
    bool failed;
};

void wire_reader_init(struct wire_reader *reader, const void *data, size_t length);
bool wire_reader_ok(const struct wire_reader *reader);
/* True when nothing failed and every byte was consumed: bodies with trailing garbage
 * are malformed. */
bool wire_reader_done(const struct wire_reader *reader);
size_t wire_reader_remaining(const struct wire_reader *reader);

uint8_t wire_get_u8(struct wire_reader *reader);
uint16_t wire_get_u16(struct wire_reader *reader);
uint32_t wire_get_u32(struct wire_reader *reader);
uint64_t wire_get_u64(struct wire_reader *reader);
int64_t wire_get_i64(struct wire_reader *reader);
/* Fails on any byte other than 0 or 1. */
bool wire_get_bool(struct wire_reader *reader);
/* Points *bytes at the next length raw bytes inside the reader's buffer (no copy). */
bool wire_get_raw(struct wire_reader *reader, size_t length, const void **bytes);
/* A length-prefixed field no longer than max_length, as a view into the buffer. */
bool wire_get_bytes(struct wire_reader *reader, size_t max_length, const void **bytes,
                    size_t *length);
/* A length-prefixed string copied into out (NUL-terminated); fails if it does not fit
 * in capacity - 1 bytes or contains a NUL byte. */
bool wire_get_string(struct wire_reader *reader, char *out, size_t capacity);

/* Fixed-position helpers for headers. */
static inline void wire_store_u16(uint8_t *at, uint16_t value)
{
    at[0] = (uint8_t)value;
    at[1] = (uint8_t)(value >> 8);
}
static inline void wire_store_u32(uint8_t *at, uint32_t value)
{
    for (int i = 0; i < 4; i++)
        at[i] = (uint8_t)(value >> (8 * i));
}
static inline void wire_store_u64(uint8_t *at, uint64_t value)
{
    for (int i = 0; i < 8; i++)
        at[i] = (uint8_t)(value >> (8 * i));
}
static inline uint16_t wire_load_u16(const uint8_t *at)
{
    return (uint16_t)(at[0] | (at[1] << 8));
}
static inline uint32_t wire_load_u32(const uint8_t *at)
{
    return (uint32_t)at[0] | ((uint32_t)at[1] << 8) | ((uint32_t)at[2] << 16) |
           ((uint32_t)at[3] << 24);
}
static inline uint64_t wire_load_u64(const uint8_t *at)
{
    return (uint64_t)wire_load_u32(at) | ((uint64_t)wire_load_u32(at + 4) << 32);
}

#endif /* CHAINFS_COMMON_WIRE_H */
