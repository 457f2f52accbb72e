/*
 * frame.c - encoding and validation of frame headers and envelopes.
 */
#include "chainfs/error.h"
#include "common/crc32c.h"
#include "common/wire.h"
#include "net/frame.h"

static void encode_envelope(uint8_t *at, const struct frame_envelope *envelope)
{
    wire_store_u64(at, envelope->request_id);
    wire_store_u16(at + 8, envelope->service_id);
    wire_store_u16(at + 10, envelope->method_id);
    wire_store_u32(at + 12, envelope->status);
    wire_store_u64(at + 16, envelope->timeout_us);
    wire_store_u64(at + 24, envelope->trace_id);
}

void frame_encode_prefix(uint8_t prefix[FRAME_PREFIX_SIZE], uint16_t flags,
                         const struct frame_envelope *envelope, const void *message,
                         size_t message_length, uint32_t payload_length, uint32_t payload_crc)
{
    wire_store_u32(prefix, FRAME_MAGIC);
    wire_store_u16(prefix + 4, FRAME_VERSION);
    wire_store_u16(prefix + 6, flags);
    wire_store_u32(prefix + 8, (uint32_t)(FRAME_ENVELOPE_SIZE + message_length));
    wire_store_u32(prefix + 12, payload_length);
    wire_store_u32(prefix + 16, payload_crc);
    encode_envelope(prefix + FRAME_HEADER_SIZE, envelope);
    uint32_t crc = crc32c(0, prefix, 20);
    crc = crc32c(crc, prefix + FRAME_HEADER_SIZE, FRAME_ENVELOPE_SIZE);
    crc = crc32c(crc, message, message_length);
    wire_store_u32(prefix + 20, crc);
}

int frame_decode_header(const uint8_t bytes[FRAME_HEADER_SIZE], const struct frame_limits *limits,
                        struct frame_header *header, const char **reason)
{
    if (wire_load_u32(bytes) != FRAME_MAGIC) {
        *reason = "bad magic";
        return CHAINFS_MALFORMED;
    }
    header->version = wire_load_u16(bytes + 4);
    header->flags = wire_load_u16(bytes + 6);
    header->body_length = wire_load_u32(bytes + 8);
    header->payload_length = wire_load_u32(bytes + 12);
    header->payload_crc = wire_load_u32(bytes + 16);
    header->frame_crc = wire_load_u32(bytes + 20);
    if (header->version != FRAME_VERSION) {
        *reason = "unsupported protocol version";
        return CHAINFS_MALFORMED;
    }
    if (header->flags & ~FRAME_FLAGS_KNOWN) {
        *reason = "unknown flags";
        return CHAINFS_MALFORMED;
    }
    if (header->body_length < FRAME_ENVELOPE_SIZE) {
        *reason = "body shorter than the envelope";
        return CHAINFS_MALFORMED;
    }
    if (header->body_length > limits->max_body_length) {
        *reason = "body larger than the connection limit";
        return CHAINFS_TOO_LARGE;
    }
    if (header->payload_length > limits->max_payload_length) {
        *reason = "payload larger than the connection limit";
        return CHAINFS_TOO_LARGE;
    }
    if (!(header->flags & FRAME_FLAG_PAYLOAD_CRC) && header->payload_crc != 0) {
        *reason = "payload checksum without its flag";
        return CHAINFS_MALFORMED;
    }
    return 0;
}

bool frame_check_crc(const uint8_t header_bytes[FRAME_HEADER_SIZE], const struct frame_header *header,
                     const uint8_t *body)
{
    uint32_t crc = crc32c(0, header_bytes, 20);
    crc = crc32c(crc, body, header->body_length);
    return crc == header->frame_crc;
}

void frame_decode_envelope(const uint8_t *body, struct frame_envelope *envelope)
{
    envelope->request_id = wire_load_u64(body);
    envelope->service_id = wire_load_u16(body + 8);
    envelope->method_id = wire_load_u16(body + 10);
    envelope->status = wire_load_u32(body + 12);
    envelope->timeout_us = wire_load_u64(body + 16);
    envelope->trace_id = wire_load_u64(body + 24);
}
