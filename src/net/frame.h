/*
 * frame.h - the chainfs RPC frame: fixed header, request envelope, body, payload.
 *
 *   header (24 bytes, little-endian)
 *     0  u32 magic            FRAME_MAGIC ("CFSR")
 *     4  u16 version          FRAME_VERSION
 *     6  u16 flags            FRAME_FLAG_*; unknown bits are malformed
 *     8  u32 body_length      envelope + message body, FRAME_ENVELOPE_SIZE at least
 *    12  u32 payload_length   bulk segment that follows the body (may be 0)
 *    16  u32 payload_crc      CRC32C of the payload if FRAME_FLAG_PAYLOAD_CRC, else 0
 *    20  u32 frame_crc        CRC32C of header bytes 0..19, then the whole body
 *   envelope (first 32 bytes of the body)
 *     0  u64 request_id       chosen by the caller, echoed in the reply
 *     8  u16 service_id
 *    10  u16 method_id
 *    12  u32 status           0 in requests; CHAINFS_* status in replies
 *    16  u64 timeout_us       time the caller still waits, 0 = no deadline
 *    24  u64 trace_id         carried through for log correlation
 *   message body (body_length - 32 bytes, encoded with common/wire.h)
 *   payload (payload_length bytes)
 *
 * The payload is a separate segment so that a receiver learns its size and owner
 * from header and envelope before reading it, and can place it straight into its
 * final buffer (an O_DIRECT chunk buffer, a USRBIO iov). An RDMA transport would
 * send header+body as a message and the payload as a one-sided transfer.
 */
#ifndef CHAINFS_NET_FRAME_H
#define CHAINFS_NET_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FRAME_MAGIC 0x52534643u /* bytes 'C' 'F' 'S' 'R' */
#define FRAME_VERSION 1
#define FRAME_HEADER_SIZE 24
#define FRAME_ENVELOPE_SIZE 32
#define FRAME_PREFIX_SIZE (FRAME_HEADER_SIZE + FRAME_ENVELOPE_SIZE)

enum frame_flag {
    FRAME_FLAG_REPLY = 1u << 0,
    FRAME_FLAG_PAYLOAD_CRC = 1u << 1,
};
#define FRAME_FLAGS_KNOWN (FRAME_FLAG_REPLY | FRAME_FLAG_PAYLOAD_CRC)

struct frame_header {
    uint16_t version;
    uint16_t flags;
    uint32_t body_length;
    uint32_t payload_length;
    uint32_t payload_crc;
    uint32_t frame_crc;
};

struct frame_envelope {
    uint64_t request_id;
    uint16_t service_id;
    uint16_t method_id;
    uint32_t status;
    uint64_t timeout_us;
    uint64_t trace_id;
};

/* What a receiver accepts; larger frames are refused before anything is allocated. */
struct frame_limits {
    uint32_t max_body_length;
    uint32_t max_payload_length;
};

/* Writes header and envelope into prefix[FRAME_PREFIX_SIZE] and computes frame_crc
 * over them and the message body. payload_crc is stored as given (0 unless
 * FRAME_FLAG_PAYLOAD_CRC is in flags). */
void frame_encode_prefix(uint8_t prefix[FRAME_PREFIX_SIZE], uint16_t flags,
                         const struct frame_envelope *envelope, const void *message,
                         size_t message_length, uint32_t payload_length, uint32_t payload_crc);

/* Decodes and validates a header: magic, version, flags, lengths against limits.
 * Returns 0, CHAINFS_MALFORMED or CHAINFS_TOO_LARGE; *reason gets a short
 * explanation for the log. Does not check frame_crc (the body is not read yet). */
int frame_decode_header(const uint8_t bytes[FRAME_HEADER_SIZE], const struct frame_limits *limits,
                        struct frame_header *header, const char **reason);

/* True when frame_crc matches the header bytes and the body. */
bool frame_check_crc(const uint8_t header_bytes[FRAME_HEADER_SIZE], const struct frame_header *header,
                     const uint8_t *body);

/* Decodes the envelope at the start of a body of at least FRAME_ENVELOPE_SIZE bytes. */
void frame_decode_envelope(const uint8_t *body, struct frame_envelope *envelope);

#endif /* CHAINFS_NET_FRAME_H */
