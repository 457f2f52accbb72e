/*
 * test_frame.c - frame header and envelope encoding: every validation rule, and a
 * checksum that catches a flip of any single bit of header or body.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "chainfs/error.h"
#include "common/wire.h"
#include "net/frame.h"

static const struct frame_limits limits = {.max_body_length = 1024, .max_payload_length = 4096};

static void encode_sample(uint8_t prefix[FRAME_PREFIX_SIZE], const char *message, uint32_t payload)
{
    struct frame_envelope envelope = {.request_id = 0x1122334455667788ULL, .service_id = 7,
                                      .method_id = 9, .status = 0, .timeout_us = 5000,
                                      .trace_id = 42};
    frame_encode_prefix(prefix, 0, &envelope, message, strlen(message), payload, 0);
}

static void valid_frame_round_trips(void **state)
{
    (void)state;
    uint8_t frame[FRAME_PREFIX_SIZE + 5];
    encode_sample(frame, "hello", 100);
    memcpy(frame + FRAME_PREFIX_SIZE, "hello", 5);
    struct frame_header header;
    const char *reason = NULL;
    assert_int_equal(frame_decode_header(frame, &limits, &header, &reason), 0);
    assert_int_equal(header.body_length, FRAME_ENVELOPE_SIZE + 5);
    assert_int_equal(header.payload_length, 100);
    assert_true(frame_check_crc(frame, &header, frame + FRAME_HEADER_SIZE));
    struct frame_envelope envelope;
    frame_decode_envelope(frame + FRAME_HEADER_SIZE, &envelope);
    assert_true(envelope.request_id == 0x1122334455667788ULL);
    assert_int_equal(envelope.service_id, 7);
    assert_int_equal(envelope.method_id, 9);
    assert_true(envelope.timeout_us == 5000);
    assert_true(envelope.trace_id == 42);
}

static void checksum_catches_every_bit_flip(void **state)
{
    (void)state;
    uint8_t frame[FRAME_PREFIX_SIZE + 5];
    encode_sample(frame, "hello", 0);
    memcpy(frame + FRAME_PREFIX_SIZE, "hello", 5);
    for (size_t byte = 0; byte < sizeof(frame); byte++) {
        if (byte >= 20 && byte < 24)
            continue; /* the checksum field itself */
        for (int bit = 0; bit < 8; bit++) {
            frame[byte] ^= (uint8_t)(1 << bit);
            struct frame_header header;
            const char *reason;
            if (frame_decode_header(frame, &limits, &header, &reason) == 0)
                assert_false(frame_check_crc(frame, &header, frame + FRAME_HEADER_SIZE));
            frame[byte] ^= (uint8_t)(1 << bit);
        }
    }
}

struct header_case {
    const char *name;
    size_t offset;
    int width; /* bytes: 2 or 4 */
    uint32_t value;
    int expected;
};

static void every_header_rule_is_enforced(void **state)
{
    (void)state;
    static const struct header_case cases[] = {
        {"bad magic", 0, 4, 0x12345678, CHAINFS_MALFORMED},
        {"future version", 4, 2, 2, CHAINFS_MALFORMED},
        {"unknown flag", 6, 2, 0x8000, CHAINFS_MALFORMED},
        {"body shorter than envelope", 8, 4, FRAME_ENVELOPE_SIZE - 1, CHAINFS_MALFORMED},
        {"body over limit", 8, 4, 1025, CHAINFS_TOO_LARGE},
        {"huge body", 8, 4, 0xffffffff, CHAINFS_TOO_LARGE},
        {"payload over limit", 12, 4, 4097, CHAINFS_TOO_LARGE},
        {"payload crc without flag", 16, 4, 99, CHAINFS_MALFORMED},
        {"body at limit", 8, 4, 1024, 0},
        {"payload at limit", 12, 4, 4096, 0},
        {"known flags", 6, 2, FRAME_FLAG_REPLY | FRAME_FLAG_PAYLOAD_CRC, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t frame[FRAME_PREFIX_SIZE];
        encode_sample(frame, "", 0);
        if (cases[i].width == 2)
            wire_store_u16(frame + cases[i].offset, (uint16_t)cases[i].value);
        else
            wire_store_u32(frame + cases[i].offset, cases[i].value);
        struct frame_header header;
        const char *reason = NULL;
        int status = frame_decode_header(frame, &limits, &header, &reason);
        if (status != cases[i].expected)
            fail_msg("case '%s': expected %d, got %d", cases[i].name, cases[i].expected, status);
        if (status != 0)
            assert_non_null(reason);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_frame_round_trips),
        cmocka_unit_test(checksum_catches_every_bit_flip),
        cmocka_unit_test(every_header_rule_is_enforced),
    };
    return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
