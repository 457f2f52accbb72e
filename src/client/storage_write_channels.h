/*
 * storage_write_channels.h - the channels that make client writes exactly-once
 * (DESIGN §7: "client writes carry (client, channel, sequence number) so a retried
 * write is applied once").
 *
 * A storage client owns a fixed number of channels. A write takes a free channel
 * together with the sequence number its request carries, keeps both for every retry
 * of that write (so the head recognises a retry and answers it with the first result
 * instead of applying it twice), and gives the channel back when the write has its
 * final outcome; the channel's next write carries the next sequence. So at most one
 * write is in flight per channel, and the number of channels bounds the writes one
 * client has in flight. Sequences start at 1 and only grow.
 *
 * Threads: every function may be called from any thread.
 */
#ifndef CHAINFS_CLIENT_STORAGE_WRITE_CHANNELS_H
#define CHAINFS_CLIENT_STORAGE_WRITE_CHANNELS_H

#include <stdint.h>

struct storage_write_channels;

/* What a write carries. */
struct storage_write_ticket {
    uint32_t channel;  /* 0 .. count - 1 */
    uint64_t sequence; /* >= 1 */
};

/* count >= 1. Returns 0, CHAINFS_INVALID_ARGUMENT or CHAINFS_NO_MEMORY. */
int storage_write_channels_create(uint32_t count, struct storage_write_channels **channels_out);

/* No channel may be held. */
void storage_write_channels_destroy(struct storage_write_channels *channels);

/* Takes a free channel, waiting until one is free or the deadline (clock.h) passes:
 * 0 or CHAINFS_TIMEOUT. */
int storage_write_channel_acquire(struct storage_write_channels *channels, uint64_t deadline,
                                  struct storage_write_ticket *ticket);

/* Takes a free channel without waiting: 0 or CHAINFS_BUSY. */
int storage_write_channel_try_acquire(struct storage_write_channels *channels,
                                      struct storage_write_ticket *ticket);

/* Gives the channel of a finished write back; its next write gets sequence + 1. */
void storage_write_channel_release(struct storage_write_channels *channels,
                                   const struct storage_write_ticket *ticket);

/* Channels free now (for tests and statistics). */
uint32_t storage_write_channels_free_count(struct storage_write_channels *channels);

#endif /* CHAINFS_CLIENT_STORAGE_WRITE_CHANNELS_H */
