/*
 * aligned_buffer.h - memory aligned for O_DIRECT I/O.
 *
 * O_DIRECT needs the buffer address, file offset and length aligned to the device's
 * logical block size; 4096 covers every SSD chainfs targets.
 */
#ifndef CHAINFS_COMMON_ALIGNED_BUFFER_H
#define CHAINFS_COMMON_ALIGNED_BUFFER_H

#include <stddef.h>

#define ALIGNED_BUFFER_ALIGNMENT 4096u

/* Rounds size up to a multiple of ALIGNED_BUFFER_ALIGNMENT. */
size_t aligned_buffer_round_up(size_t size);

/* Allocates at least size bytes (rounded up) at an aligned address; NULL on failure.
 * size 0 yields a one-block buffer so that callers never special-case empty payloads. */
void *aligned_buffer_alloc(size_t size);

void aligned_buffer_free(void *buffer);

#endif /* CHAINFS_COMMON_ALIGNED_BUFFER_H */
