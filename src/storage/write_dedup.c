/*
 * write_dedup.c - exactly-once client writes: per (client id, channel) the newest
 * sequence number, whether it still runs, and its reply (storage_internal.h,
 * decisions in update_rules.c).
 *
 * In memory only: the table lives as long as the process, which covers the retries
 * of one write (a client retries within its deadline). Entries are never dropped;
 * a client uses a bounded set of channels, so the table grows with the number of
 * clients, not of writes.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"
#include "storage/storage_internal.h"

#define BUCKETS 4096

struct channel_entry {
    uint8_t client_id[STORAGE_CLIENT_ID_SIZE];
    uint32_t channel;
    struct client_channel_state state;
    struct storage_commit_reply reply;
    struct channel_entry *next;
};

struct write_dedup {
    pthread_mutex_t lock;
    struct channel_entry *buckets[BUCKETS];
};

int write_dedup_create(struct write_dedup **out)
{
    struct write_dedup *dedup = calloc(1, sizeof *dedup);
    if (dedup == NULL)
        return CHAINFS_NO_MEMORY;
    pthread_mutex_init(&dedup->lock, NULL);
    *out = dedup;
    return 0;
}

void write_dedup_destroy(struct write_dedup *dedup)
{
    if (dedup == NULL)
        return;
    for (size_t i = 0; i < BUCKETS; i++)
        while (dedup->buckets[i] != NULL) {
            struct channel_entry *entry = dedup->buckets[i];
            dedup->buckets[i] = entry->next;
            free(entry);
        }
    pthread_mutex_destroy(&dedup->lock);
    free(dedup);
}

static size_t bucket_of(const struct storage_client_tag *tag)
{
    uint64_t hash = 1469598103934665603ull;
    for (size_t i = 0; i < STORAGE_CLIENT_ID_SIZE; i++)
        hash = (hash ^ tag->client_id[i]) * 1099511628211ull;
    hash = (hash ^ tag->channel) * 1099511628211ull;
    return (size_t)(hash % BUCKETS);
}

static struct channel_entry *find(struct write_dedup *dedup, const struct storage_client_tag *tag)
{
    struct channel_entry *entry = dedup->buckets[bucket_of(tag)];
    while (entry != NULL && (entry->channel != tag->channel ||
                             memcmp(entry->client_id, tag->client_id, STORAGE_CLIENT_ID_SIZE) != 0))
        entry = entry->next;
    return entry;
}

enum sequence_decision write_dedup_begin(struct write_dedup *dedup,
                                         const struct storage_client_tag *tag,
                                         struct storage_commit_reply *reply)
{
    pthread_mutex_lock(&dedup->lock);
    struct channel_entry *entry = find(dedup, tag);
    enum sequence_decision decision =
        update_rules_sequence(entry ? &entry->state : NULL, tag->sequence);
    if (decision == SEQUENCE_REPLAY)
        *reply = entry->reply;
    if (decision == SEQUENCE_NEW && entry == NULL && (entry = calloc(1, sizeof *entry)) != NULL) {
        memcpy(entry->client_id, tag->client_id, STORAGE_CLIENT_ID_SIZE);
        entry->channel = tag->channel;
        size_t bucket = bucket_of(tag);
        entry->next = dedup->buckets[bucket];
        dedup->buckets[bucket] = entry;
    }
    if (decision == SEQUENCE_NEW && entry != NULL)
        entry->state = (struct client_channel_state){tag->sequence, true, false};
    pthread_mutex_unlock(&dedup->lock);
    return decision;
}

void write_dedup_finish(struct write_dedup *dedup, const struct storage_client_tag *tag, int status,
                        const struct storage_commit_reply *reply)
{
    pthread_mutex_lock(&dedup->lock);
    struct channel_entry *entry = find(dedup, tag);
    if (entry != NULL && entry->state.sequence == tag->sequence) {
        entry->state.in_progress = false;
        entry->state.has_reply = status == 0;
        if (status == 0)
            entry->reply = *reply;
    }
    pthread_mutex_unlock(&dedup->lock);
}
