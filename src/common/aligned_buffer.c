/*
 * aligned_buffer.c - block-aligned allocations for O_DIRECT.
 */
#include <stdlib.h>

#include "common/aligned_buffer.h"

size_t aligned_buffer_round_up(size_t size)
{
    return (size + ALIGNED_BUFFER_ALIGNMENT - 1) & ~(size_t)(ALIGNED_BUFFER_ALIGNMENT - 1);
}

void *aligned_buffer_alloc(size_t size)
{
    size_t rounded = aligned_buffer_round_up(size ? size : 1);
    if (rounded < size)
        return NULL; /* overflow */
    void *buffer = NULL;
    if (posix_memalign(&buffer, ALIGNED_BUFFER_ALIGNMENT, rounded) != 0)
        return NULL;
    return buffer;
}

void aligned_buffer_free(void *buffer) { free(buffer); }
