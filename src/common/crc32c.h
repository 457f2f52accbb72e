/*
 * crc32c.h - CRC32C (Castagnoli), the checksum of chainfs frames and chunks.
 *
 * Computed by ISA-L, which picks the fastest kernel for the CPU at run time
 * (PCLMULQDQ/AVX-512 folding, or the SSE4.2 crc32 instruction).
 */
#ifndef CHAINFS_COMMON_CRC32C_H
#define CHAINFS_COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC32C over data: crc32c(0, "123456789", 9) == 0xE3069283, and
 * crc32c(crc32c(0, a, n), b, m) equals the CRC of a followed by b. */
uint32_t crc32c(uint32_t crc, const void *data, size_t length);

#endif /* CHAINFS_COMMON_CRC32C_H */
