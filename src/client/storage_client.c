/*
 * storage_client.c - creating the storage client and what its calls share: deadlines,
 * routing snapshots and refreshes, retry rounds, statistics.
 */
#include "client/storage_client.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "chainfs/error.h"
#include "client/storage_client_internal.h"
#include "common/clock.h"
#define LOG_COMPONENT "storage-client"
#include "common/log.h"

void storage_client_default_options(struct storage_client_options *options)
{
    memset(options, 0, sizeof(*options));
    options->channel_count = 128;
    options->default_timeout_ns = 60 * CLOCK_NS_PER_S;
    options->attempt_timeout_ns = 10 * CLOCK_NS_PER_S;
    options->max_in_flight = 256;
    options->max_batch_items = 128;
    options->max_batch_bytes = 4u << 20;
    options->direct_read_bytes = 256u << 10;
    options->backoff_first_ns = CLOCK_NS_PER_MS;
    options->backoff_max_ns = 100 * CLOCK_NS_PER_MS;
}

static bool options_valid(const struct storage_client_options *options)
{
    return options->channel_count > 0 && options->default_timeout_ns > 0 &&
           options->attempt_timeout_ns > 0 && options->max_in_flight > 0 &&
           options->max_batch_items > 0 && options->max_batch_items <= STORAGE_BATCH_READ_ITEMS_MAX &&
           options->max_batch_bytes > 0 && options->backoff_first_ns <= options->backoff_max_ns;
}

static bool is_all_zero(const uint8_t *bytes, size_t length)
{
    for (size_t i = 0; i < length; i++)
        if (bytes[i])
            return false;
    return true;
}

/* A random client id: sequence numbers restart with every client, so every client
 * must have an id no other client ever had. */
static int random_client_id(uint8_t id[STORAGE_CLIENT_ID_SIZE])
{
    for (int attempt = 0; attempt < 8; attempt++) {
        if (getrandom(id, STORAGE_CLIENT_ID_SIZE, 0) != STORAGE_CLIENT_ID_SIZE)
            return CHAINFS_INTERNAL;
        if (!is_all_zero(id, STORAGE_CLIENT_ID_SIZE))
            return CHAINFS_OK;
    }
    return CHAINFS_INTERNAL;
}

int storage_client_create(const struct storage_client_options *options, struct rpc_client *rpc,
                          struct routing_cache *routing, struct storage_client **client_out)
{
    *client_out = NULL;
    if (!options || !rpc || !routing || !options_valid(options))
        return CHAINFS_INVALID_ARGUMENT;
    struct storage_client *client = calloc(1, sizeof(*client));
    if (!client)
        return CHAINFS_NO_MEMORY;
    client->options = *options;
    client->rpc = rpc;
    client->routing = routing;
    int status = CHAINFS_OK;
    if (is_all_zero(options->client_id, STORAGE_CLIENT_ID_SIZE))
        status = random_client_id(client->options.client_id);
    if (status == CHAINFS_OK)
        status = storage_write_channels_create(options->channel_count, &client->channels);
    if (status != CHAINFS_OK) {
        free(client);
        return status;
    }
    memcpy(&client->read_salt, client->options.client_id, sizeof(client->read_salt));
    atomic_init(&client->random_state, client->read_salt | 1);
    *client_out = client;
    return CHAINFS_OK;
}

void storage_client_destroy(struct storage_client *client)
{
    if (!client)
        return;
    storage_write_channels_destroy(client->channels);
    free(client);
}

void storage_client_get_stats(struct storage_client *client, struct storage_client_stats *stats)
{
    stats->read_requests = atomic_load(&client->stats.read_requests);
    stats->read_items = atomic_load(&client->stats.read_items);
    stats->direct_reads = atomic_load(&client->stats.direct_reads);
    stats->write_requests = atomic_load(&client->stats.write_requests);
    stats->retries = atomic_load(&client->stats.retries);
    stats->routing_refreshes = atomic_load(&client->stats.routing_refreshes);
}

int storage_io_prepare(struct storage_io *io, bool write)
{
    io->bytes_done = 0;
    io->version = 0;
    io->chunk_length = 0;
    io->crc = 0;
    if ((io->length > 0 || write) && !io->buffer)
        return CHAINFS_INVALID_ARGUMENT;
    if (write && io->length == 0)
        return CHAINFS_INVALID_ARGUMENT;
    if (io->chunk_size == 0 || io->offset > io->chunk_size || io->length > io->chunk_size - io->offset)
        return CHAINFS_INVALID_ARGUMENT;
    return CHAINFS_OK;
}

uint64_t storage_client_deadline(const struct storage_client *client, uint64_t deadline)
{
    return deadline ? deadline : deadline_after_ns(client->options.default_timeout_ns);
}

uint64_t storage_client_attempt_timeout(const struct storage_client *client, uint64_t deadline)
{
    uint64_t left = deadline_remaining_ns(deadline);
    uint64_t timeout = client->options.attempt_timeout_ns;
    if (left < timeout)
        timeout = left;
    return timeout < CLOCK_NS_PER_MS ? CLOCK_NS_PER_MS : timeout;
}

struct routing_snapshot *storage_client_snapshot(struct storage_client *client, int *status)
{
    struct routing_snapshot *snapshot = routing_cache_acquire(client->routing);
    if (snapshot) {
        *status = CHAINFS_OK;
        return snapshot;
    }
    atomic_fetch_add(&client->stats.routing_refreshes, 1);
    *status = routing_cache_refresh(client->routing);
    snapshot = routing_cache_acquire(client->routing);
    if (snapshot)
        *status = CHAINFS_OK;
    else if (*status == CHAINFS_OK)
        *status = CHAINFS_UNAVAILABLE;
    return snapshot;
}

void storage_client_refresh(struct storage_client *client, struct retry_rounds *rounds)
{
    atomic_fetch_add(&client->stats.routing_refreshes, 1);
    int status = routing_cache_refresh(client->routing);
    if (status != CHAINFS_OK)
        log_debug("storage client: routing refresh failed: %s", chainfs_error_name(status));
    rounds->refreshed = true;
}

void retry_rounds_note(struct retry_rounds *rounds, const struct storage_retry_decision *decision)
{
    rounds->refresh_routing |= decision->refresh_routing;
    rounds->back_off |= decision->back_off;
}

bool retry_rounds_next(struct storage_client *client, struct retry_rounds *rounds, uint64_t deadline)
{
    if (deadline_expired(deadline))
        return false;
    rounds->round++;
    if (rounds->refresh_routing)
        storage_client_refresh(client, rounds);
    /* From the second retry on every round waits, so that a failure that repeats
     * (a dead head not yet published offline) cannot spin. */
    if (rounds->back_off || rounds->round > 1) {
        uint64_t wait = storage_retry_backoff_ns(rounds->round, client->options.backoff_first_ns,
                                                 client->options.backoff_max_ns,
                                                 storage_client_random(client));
        uint64_t left = deadline_remaining_ns(deadline);
        clock_sleep_ns(wait < left ? wait : left);
    }
    rounds->refresh_routing = false;
    rounds->back_off = false;
    return !deadline_expired(deadline);
}

uint64_t storage_client_random(struct storage_client *client)
{
    /* splitmix64 over an atomic counter: cheap and good enough for jitter */
    uint64_t value = atomic_fetch_add(&client->random_state, 0x9E3779B97F4A7C15ull);
    value = (value ^ (value >> 30)) * 0xBF58476D1CE4E5B9ull;
    value = (value ^ (value >> 27)) * 0x94D049BB133111EBull;
    return value ^ (value >> 31);
}

uint8_t *storage_client_take_message(struct wire_writer *writer, size_t *length)
{
    if (!wire_writer_ok(writer)) {
        wire_writer_free(writer);
        return NULL;
    }
    return wire_writer_take(writer, length);
}

void storage_client_tag(const struct storage_client *client, const struct storage_write_ticket *ticket,
                        struct storage_client_tag *tag)
{
    memcpy(tag->client_id, client->options.client_id, STORAGE_CLIENT_ID_SIZE);
    tag->channel = ticket->channel;
    tag->sequence = ticket->sequence;
}
