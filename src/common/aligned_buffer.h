/*
 * aligned_buffer.h - memory aligned for O_DIRECT I/O, recycled by size class.
 *
 * O_DIRECT needs the buffer address, file offset and length aligned to the device's
 * logical block size; 4096 covers every SSD chainfs targets. Bulk payloads (chunks up
 * to 64 MiB) come and go at a high rate; fresh memory for each would cost a page
 * fault per 4 KiB on first touch, so freed buffers are kept per power-of-two size
 * class (up to ALIGNED_BUFFER_CACHE_BYTES per class) and handed out again.
 */
#ifndef CHAINFS_COMMON_ALIGNED_BUFFER_H
#define CHAINFS_COMMON_ALIGNED_BUFFER_H

#include <stddef.h>

#define ALIGNED_BUFFER_ALIGNMENT 4096u
#define ALIGNED_BUFFER_CACHE_BYTES (64u << 20)

/* Rounds size up to a multiple of ALIGNED_BUFFER_ALIGNMENT. */
size_t aligned_buffer_round_up(size_t size);

/* At least size bytes at an aligned address; NULL on failure. The usable size is
 * the size class: the next power of two of at least 4096. */
void *aligned_buffer_alloc(size_t size);

/* Gives a buffer back; size must be the size it was allocated with. NULL is ignored. */
void aligned_buffer_free(void *buffer, size_t size);

#endif /* CHAINFS_COMMON_ALIGNED_BUFFER_H */
