/*
 * crc32c.c - CRC32C through ISA-L.
 *
 * ISA-L's crc32_iscsi() takes and returns the raw register (no pre/post inversion)
 * and an int length, so this wrapper adds the standard inversions and feeds large
 * buffers in pieces.
 */
#include <isa-l/crc.h>
#include <limits.h>

#include "common/crc32c.h"

uint32_t crc32c(uint32_t crc, const void *data, size_t length)
{
    const unsigned char *bytes = data;
    uint32_t state = ~crc;
    while (length > 0) {
        size_t piece = length > (size_t)INT_MAX ? (size_t)1 << 30 : length;
        state = crc32_iscsi((unsigned char *)bytes, (int)piece, state);
        bytes += piece;
        length -= piece;
    }
    return ~state;
}
