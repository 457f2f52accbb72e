/*
 * fuzz_decoders.c - libFuzzer target for the frame header/envelope decoder and the
 * bounds-checked body reader. The input is both a candidate frame and a script of
 * typed reads over itself; nothing may read out of bounds or crash.
 */
#include <stddef.h>
#include <stdint.h>

#include "common/wire.h"
#include "net/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void decode_frame(const uint8_t *data, size_t size)
{
    static const struct frame_limits limits = {.max_body_length = 1 << 20,
                                               .max_payload_length = 1 << 26};
    if (size < FRAME_HEADER_SIZE)
        return;
    struct frame_header header;
    const char *reason;
    if (frame_decode_header(data, &limits, &header, &reason) != 0)
        return;
    if (size - FRAME_HEADER_SIZE < header.body_length)
        return;
    if (frame_check_crc(data, &header, data + FRAME_HEADER_SIZE)) {
        struct frame_envelope envelope;
        frame_decode_envelope(data + FRAME_HEADER_SIZE, &envelope);
    }
}

static void run_read_script(const uint8_t *data, size_t size)
{
    struct wire_reader reader;
    wire_reader_init(&reader, data, size);
    char text[48];
    const void *bytes;
    size_t length;
    while (wire_reader_ok(&reader) && wire_reader_remaining(&reader) > 0) {
        uint8_t operation = wire_get_u8(&reader);
        switch (operation % 8) {
        case 0: (void)wire_get_u16(&reader); break;
        case 1: (void)wire_get_u32(&reader); break;
        case 2: (void)wire_get_u64(&reader); break;
        case 3: (void)wire_get_bool(&reader); break;
        case 4: (void)wire_get_string(&reader, text, sizeof(text)); break;
        case 5: (void)wire_get_bytes(&reader, 256, &bytes, &length); break;
        case 6: (void)wire_get_raw(&reader, operation >> 3, &bytes); break;
        default: (void)wire_get_i64(&reader); break;
        }
    }
    (void)wire_reader_done(&reader);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decode_frame(data, size);
    run_read_script(data, size);
    return 0;
}
