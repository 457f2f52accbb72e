/*
 * storage_write_channels.c - a pool of write channels with their sequence numbers.
 *
 * Free channels are a stack of channel numbers; next_sequence[c] is what channel c's
 * next write carries.
 */
#include "client/storage_write_channels.h"

#include <pthread.h>
#include <stdlib.h>

#include "chainfs/error.h"
#include "common/clock.h"

struct storage_write_channels {
    pthread_mutex_t lock;
    pthread_cond_t freed; /* CLOCK_MONOTONIC */
    uint32_t count;
    uint32_t free_count;
    uint32_t *free_channels; /* stack */
    uint64_t *next_sequence; /* per channel */
};

int storage_write_channels_create(uint32_t count, struct storage_write_channels **channels_out)
{
    *channels_out = NULL;
    if (count == 0)
        return CHAINFS_INVALID_ARGUMENT;
    struct storage_write_channels *channels = calloc(1, sizeof(*channels));
    if (!channels)
        return CHAINFS_NO_MEMORY;
    channels->free_channels = calloc(count, sizeof(*channels->free_channels));
    channels->next_sequence = calloc(count, sizeof(*channels->next_sequence));
    if (!channels->free_channels || !channels->next_sequence) {
        free(channels->free_channels);
        free(channels->next_sequence);
        free(channels);
        return CHAINFS_NO_MEMORY;
    }
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&channels->freed, &attributes);
    pthread_condattr_destroy(&attributes);
    pthread_mutex_init(&channels->lock, NULL);
    channels->count = count;
    /* Channel 0 on top, so a lone writer always uses channel 0 (easy to follow in logs). */
    for (uint32_t i = 0; i < count; i++) {
        channels->free_channels[i] = count - 1 - i;
        channels->next_sequence[i] = 1;
    }
    channels->free_count = count;
    *channels_out = channels;
    return CHAINFS_OK;
}

void storage_write_channels_destroy(struct storage_write_channels *channels)
{
    if (!channels)
        return;
    pthread_cond_destroy(&channels->freed);
    pthread_mutex_destroy(&channels->lock);
    free(channels->free_channels);
    free(channels->next_sequence);
    free(channels);
}

/* Pops a free channel; the lock is held and one is free. */
static void take_channel(struct storage_write_channels *channels, struct storage_write_ticket *ticket)
{
    uint32_t channel = channels->free_channels[--channels->free_count];
    ticket->channel = channel;
    ticket->sequence = channels->next_sequence[channel];
}

int storage_write_channel_acquire(struct storage_write_channels *channels, uint64_t deadline,
                                  struct storage_write_ticket *ticket)
{
    pthread_mutex_lock(&channels->lock);
    while (channels->free_count == 0) {
        if (deadline_expired(deadline)) {
            pthread_mutex_unlock(&channels->lock);
            return CHAINFS_TIMEOUT;
        }
        if (deadline == DEADLINE_NEVER) {
            pthread_cond_wait(&channels->freed, &channels->lock);
        } else {
            struct timespec until = deadline_to_timespec(deadline);
            pthread_cond_timedwait(&channels->freed, &channels->lock, &until);
        }
    }
    take_channel(channels, ticket);
    pthread_mutex_unlock(&channels->lock);
    return CHAINFS_OK;
}

int storage_write_channel_try_acquire(struct storage_write_channels *channels,
                                      struct storage_write_ticket *ticket)
{
    pthread_mutex_lock(&channels->lock);
    int status = CHAINFS_BUSY;
    if (channels->free_count > 0) {
        take_channel(channels, ticket);
        status = CHAINFS_OK;
    }
    pthread_mutex_unlock(&channels->lock);
    return status;
}

void storage_write_channel_release(struct storage_write_channels *channels,
                                   const struct storage_write_ticket *ticket)
{
    pthread_mutex_lock(&channels->lock);
    channels->next_sequence[ticket->channel] = ticket->sequence + 1;
    channels->free_channels[channels->free_count++] = ticket->channel;
    pthread_cond_signal(&channels->freed);
    pthread_mutex_unlock(&channels->lock);
}

uint32_t storage_write_channels_free_count(struct storage_write_channels *channels)
{
    pthread_mutex_lock(&channels->lock);
    uint32_t free_count = channels->free_count;
    pthread_mutex_unlock(&channels->lock);
    return free_count;
}
