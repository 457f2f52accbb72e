/*
 * storage_client_internal.h - what the files of the storage client share: the client
 * record, routing snapshots with refresh, the retry rounds of one call, and helpers
 * to encode messages. Not for callers of storage_client.h.
 */
#ifndef CHAINFS_CLIENT_STORAGE_CLIENT_INTERNAL_H
#define CHAINFS_CLIENT_STORAGE_CLIENT_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "client/storage_client.h"
#include "client/storage_retry.h"
#include "client/storage_route.h"
#include "client/storage_write_channels.h"
#include "common/wire.h"

struct storage_client {
    struct storage_client_options options;
    struct rpc_client *rpc;
    struct routing_cache *routing;
    struct storage_write_channels *channels;
    uint64_t read_salt; /* spreads this client's reads differently from other clients' */
    atomic_uint_fast64_t random_state;
    struct {
        atomic_uint_fast64_t read_requests, read_items, direct_reads, write_requests, retries,
            routing_refreshes;
    } stats;
};

/* What the failures of one round of requests ask for before the next round. */
struct retry_rounds {
    unsigned round; /* rounds done */
    bool refresh_routing;
    bool back_off;
    bool refreshed;   /* routing was refreshed during this call */
};

/* The caller's deadline, or now + default timeout when it is 0. */
uint64_t storage_client_deadline(const struct storage_client *client, uint64_t deadline);

/* The timeout of one attempt: attempt_timeout_ns, cut to what is left of deadline
 * (at least 1 ms so an attempt can still report). */
uint64_t storage_client_attempt_timeout(const struct storage_client *client, uint64_t deadline);

/* The current routing snapshot; refreshes first when there is none. NULL (with
 * *status) when none can be had. */
struct routing_snapshot *storage_client_snapshot(struct storage_client *client, int *status);

/* Refreshes the routing info (counted in stats). */
void storage_client_refresh(struct storage_client *client, struct retry_rounds *rounds);

/* Records the decision for one failed io in the round's flags. */
void retry_rounds_note(struct retry_rounds *rounds, const struct storage_retry_decision *decision);

/* Between two rounds: refreshes routing and backs off as the last round asked, then
 * clears the flags. Returns false when the deadline passed (no further round). */
bool retry_rounds_next(struct storage_client *client, struct retry_rounds *rounds, uint64_t deadline);

/* A well-mixed random number (jitter). */
uint64_t storage_client_random(struct storage_client *client);

/* Takes the encoded bytes of writer; NULL (and frees them) if encoding failed. */
uint8_t *storage_client_take_message(struct wire_writer *writer, size_t *length);

/* The exactly-once tag of a write on ticket. */
void storage_client_tag(const struct storage_client *client, const struct storage_write_ticket *ticket,
                        struct storage_client_tag *tag);

/* Clears the results of an io and checks its request: CHAINFS_OK, or
 * CHAINFS_INVALID_ARGUMENT for a range beyond the chunk size, a missing buffer, or (for
 * writes) nothing to write. */
int storage_io_prepare(struct storage_io *io, bool write);

/* The final status of an io that never succeeded by its deadline. */
static inline int storage_client_expired_status(int last_error)
{
    return last_error ? last_error : CHAINFS_TIMEOUT;
}

#endif /* CHAINFS_CLIENT_STORAGE_CLIENT_INTERNAL_H */
