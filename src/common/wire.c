/*
 * wire.c - growable little-endian writer and bounds-checked reader.
 */
#include <stdlib.h>
#include <string.h>

#include "common/wire.h"

void wire_writer_init(struct wire_writer *writer) { memset(writer, 0, sizeof(*writer)); }

void wire_writer_free(struct wire_writer *writer)
{
    free(writer->data);
    memset(writer, 0, sizeof(*writer));
}

void wire_writer_reset(struct wire_writer *writer)
{
    writer->length = 0;
    writer->failed = false;
}

bool wire_writer_ok(const struct wire_writer *writer) { return !writer->failed; }

uint8_t *wire_writer_take(struct wire_writer *writer, size_t *length)
{
    uint8_t *data = writer->data;
    *length = writer->length;
    memset(writer, 0, sizeof(*writer));
    return data;
}

/* Returns a pointer to `length` fresh bytes at the end, or NULL (and fails the writer). */
static uint8_t *writer_extend(struct wire_writer *writer, size_t length)
{
    if (writer->failed)
        return NULL;
    if (length > SIZE_MAX - writer->length) {
        writer->failed = true;
        return NULL;
    }
    size_t needed = writer->length + length;
    if (needed > writer->capacity) {
        size_t capacity = writer->capacity ? writer->capacity : 256;
        while (capacity < needed)
            capacity = capacity > SIZE_MAX / 2 ? needed : capacity * 2;
        uint8_t *grown = realloc(writer->data, capacity);
        if (!grown) {
            writer->failed = true;
            return NULL;
        }
        writer->data = grown;
        writer->capacity = capacity;
    }
    uint8_t *at = writer->data + writer->length;
    writer->length = needed;
    return at;
}

void wire_put_u8(struct wire_writer *writer, uint8_t value)
{
    uint8_t *at = writer_extend(writer, 1);
    if (at)
        *at = value;
}

void wire_put_u16(struct wire_writer *writer, uint16_t value)
{
    uint8_t *at = writer_extend(writer, 2);
    if (at)
        wire_store_u16(at, value);
}

void wire_put_u32(struct wire_writer *writer, uint32_t value)
{
    uint8_t *at = writer_extend(writer, 4);
    if (at)
        wire_store_u32(at, value);
}

void wire_put_u64(struct wire_writer *writer, uint64_t value)
{
    uint8_t *at = writer_extend(writer, 8);
    if (at)
        wire_store_u64(at, value);
}

void wire_put_i64(struct wire_writer *writer, int64_t value) { wire_put_u64(writer, (uint64_t)value); }

void wire_put_bool(struct wire_writer *writer, bool value) { wire_put_u8(writer, value ? 1 : 0); }

void wire_put_raw(struct wire_writer *writer, const void *bytes, size_t length)
{
    uint8_t *at = writer_extend(writer, length);
    if (at && length)
        memcpy(at, bytes, length);
}

void wire_put_bytes(struct wire_writer *writer, const void *bytes, size_t length)
{
    if (length > UINT32_MAX) {
        writer->failed = true;
        return;
    }
    wire_put_u32(writer, (uint32_t)length);
    wire_put_raw(writer, bytes, length);
}

void wire_put_string(struct wire_writer *writer, const char *text)
{
    wire_put_bytes(writer, text, strlen(text));
}

void wire_reader_init(struct wire_reader *reader, const void *data, size_t length)
{
    reader->data = data;
    reader->length = length;
    reader->offset = 0;
    reader->failed = false;
}

bool wire_reader_ok(const struct wire_reader *reader) { return !reader->failed; }

bool wire_reader_done(const struct wire_reader *reader)
{
    return !reader->failed && reader->offset == reader->length;
}

size_t wire_reader_remaining(const struct wire_reader *reader)
{
    return reader->failed ? 0 : reader->length - reader->offset;
}

/* Returns the next `length` bytes and advances, or NULL (and fails the reader). */
static const uint8_t *reader_take(struct wire_reader *reader, size_t length)
{
    if (reader->failed || length > reader->length - reader->offset) {
        reader->failed = true;
        return NULL;
    }
    const uint8_t *at = reader->data + reader->offset;
    reader->offset += length;
    return at;
}

uint8_t wire_get_u8(struct wire_reader *reader)
{
    const uint8_t *at = reader_take(reader, 1);
    return at ? *at : 0;
}

uint16_t wire_get_u16(struct wire_reader *reader)
{
    const uint8_t *at = reader_take(reader, 2);
    return at ? wire_load_u16(at) : 0;
}

uint32_t wire_get_u32(struct wire_reader *reader)
{
    const uint8_t *at = reader_take(reader, 4);
    return at ? wire_load_u32(at) : 0;
}

uint64_t wire_get_u64(struct wire_reader *reader)
{
    const uint8_t *at = reader_take(reader, 8);
    return at ? wire_load_u64(at) : 0;
}

int64_t wire_get_i64(struct wire_reader *reader) { return (int64_t)wire_get_u64(reader); }

bool wire_get_bool(struct wire_reader *reader)
{
    uint8_t value = wire_get_u8(reader);
    if (value > 1)
        reader->failed = true;
    return value == 1;
}

bool wire_get_raw(struct wire_reader *reader, size_t length, const void **bytes)
{
    const uint8_t *at = reader_take(reader, length);
    *bytes = at;
    return at != NULL;
}

bool wire_get_bytes(struct wire_reader *reader, size_t max_length, const void **bytes,
                    size_t *length)
{
    uint32_t declared = wire_get_u32(reader);
    if (reader->failed || declared > max_length) {
        reader->failed = true;
        *bytes = NULL;
        *length = 0;
        return false;
    }
    *length = declared;
    return wire_get_raw(reader, declared, bytes);
}

bool wire_get_string(struct wire_reader *reader, char *out, size_t capacity)
{
    const void *bytes;
    size_t length;
    if (capacity == 0 || !wire_get_bytes(reader, capacity - 1, &bytes, &length) ||
        memchr(bytes, '\0', length) != NULL) {
        reader->failed = true;
        if (capacity)
            out[0] = '\0';
        return false;
    }
    memcpy(out, bytes, length);
    out[length] = '\0';
    return true;
}
