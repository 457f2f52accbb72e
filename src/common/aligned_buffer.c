/*
 * aligned_buffer.c - block-aligned allocations with a per-size-class free list.
 *
 * Classes are powers of two from 4 KiB (class 0) to 1 GiB; larger requests are
 * allocated and freed directly. Each class keeps a LIFO of freed buffers (the most
 * recently used memory is the most likely still mapped and cached) under one mutex.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/aligned_buffer.h"

#define CLASS_COUNT 19 /* 4 KiB << 18 = 1 GiB */

struct free_buffer {
    struct free_buffer *next;
};

struct size_class {
    pthread_mutex_t lock;
    struct free_buffer *free_list;
    size_t cached;
};

static struct size_class classes[CLASS_COUNT] = {
#define CLASS_INIT {PTHREAD_MUTEX_INITIALIZER, NULL, 0}
    CLASS_INIT, CLASS_INIT, CLASS_INIT, CLASS_INIT, CLASS_INIT, CLASS_INIT, CLASS_INIT,
    CLASS_INIT, CLASS_INIT, CLASS_INIT, CLASS_INIT, CLASS_INIT, CLASS_INIT, CLASS_INIT,
    CLASS_INIT, CLASS_INIT, CLASS_INIT, CLASS_INIT, CLASS_INIT,
#undef CLASS_INIT
};

size_t aligned_buffer_round_up(size_t size)
{
    return (size + ALIGNED_BUFFER_ALIGNMENT - 1) & ~(size_t)(ALIGNED_BUFFER_ALIGNMENT - 1);
}

/* The class index for size, or -1 when it is too large to pool. */
static int class_of(size_t size)
{
    size_t class_size = ALIGNED_BUFFER_ALIGNMENT;
    for (int index = 0; index < CLASS_COUNT; index++, class_size <<= 1)
        if (size <= class_size)
            return index;
    return -1;
}

static size_t class_size(int index) { return (size_t)ALIGNED_BUFFER_ALIGNMENT << index; }

void *aligned_buffer_alloc(size_t size)
{
    int index = class_of(size);
    size_t allocation = index >= 0 ? class_size(index) : aligned_buffer_round_up(size);
    if (allocation < size)
        return NULL; /* overflow */
    if (index >= 0) {
        struct size_class *pool = &classes[index];
        pthread_mutex_lock(&pool->lock);
        struct free_buffer *buffer = pool->free_list;
        if (buffer) {
            pool->free_list = buffer->next;
            pool->cached -= allocation;
        }
        pthread_mutex_unlock(&pool->lock);
        if (buffer)
            return buffer;
    }
    void *buffer = NULL;
    if (posix_memalign(&buffer, ALIGNED_BUFFER_ALIGNMENT, allocation) != 0)
        return NULL;
    return buffer;
}

void aligned_buffer_free(void *buffer, size_t size)
{
    if (!buffer)
        return;
    int index = class_of(size);
    if (index >= 0) {
        struct size_class *pool = &classes[index];
        size_t allocation = class_size(index);
        pthread_mutex_lock(&pool->lock);
        /* Always keep one buffer, even of a class larger than the cache budget. */
        bool keep = pool->cached + allocation <= ALIGNED_BUFFER_CACHE_BYTES || !pool->free_list;
        if (keep) {
            struct free_buffer *entry = buffer;
            entry->next = pool->free_list;
            pool->free_list = entry;
            pool->cached += allocation;
        }
        pthread_mutex_unlock(&pool->lock);
        if (keep)
            return;
    }
    free(buffer);
}
