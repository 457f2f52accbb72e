/*
 * lease.h - primary election among several mgmtd through a lease in the KV store.
 *
 * Two records:
 *   holder  (epoch, node id, address): changes only when a new primary takes over;
 *   renewal (a counter): the primary increments it every renew interval.
 *
 * A holder record naming node 0 means nobody holds the lease (never taken, or given
 * up by a primary that stopped gracefully): a follower takes it at once.
 *
 * A follower watches the renewal counter on its own monotonic clock. When the counter
 * has not moved for a whole lease length, the primary is presumed dead and the follower
 * takes over in one transaction that re-reads both records (still as observed), then
 * writes itself as holder with epoch + 1. The primary, for its part, stops acting as
 * primary once lease length - margin has passed since the start of its last successful
 * renewal, which is before any follower can have seen a full lease length without
 * change. Clocks are compared only within one process, never across hosts.
 *
 * Timing alone is not trusted for safety: every state-changing transaction of the
 * primary calls lease_fence(), which reads the holder record inside that transaction.
 * A stale primary either sees the new holder or conflicts with the takeover, so two
 * primaries can never both commit (fencing).
 */
#ifndef CHAINFS_MGMTD_LEASE_H
#define CHAINFS_MGMTD_LEASE_H

#include <stdbool.h>
#include <stdint.h>

struct kv_store;
struct kv_transaction;

#define LEASE_ADDRESS_MAX 64

struct lease_holder {
    uint64_t epoch; /* 0: nobody ever held the lease */
    uint32_t node_id;
    char address[LEASE_ADDRESS_MAX];
};

struct lease {
    /* configuration */
    uint32_t self_node_id;
    char self_address[LEASE_ADDRESS_MAX];
    uint64_t length_ns; /* how long a silent renewal counter means a dead primary */

    /* as primary */
    bool primary;
    uint64_t epoch;       /* ours, while primary */
    uint64_t valid_until; /* monotonic; we stop acting as primary after it */

    /* as observer (primary or not) */
    struct lease_holder holder;     /* last holder record read */
    uint64_t observed_renewal;      /* last renewal counter read */
    uint64_t observed_since;        /* monotonic time it was first seen */
    bool observed;
};

/* Prepares a lease participant. length_ns must exceed the renew interval several
 * times over (a renewal must land well within every lease length). */
void lease_init(struct lease *lease, uint32_t self_node_id, const char *self_address,
                uint64_t length_ns);

/* One step of the protocol, run every renew interval: renews as primary, or watches
 * and takes over when the primary went silent. Returns 0 or a KV status; on error a
 * primary keeps its role only until valid_until. */
int lease_tick(struct kv_store *store, struct lease *lease);

/* True while this process may act as primary (holds the lease and it is not past
 * valid_until). */
bool lease_is_primary(const struct lease *lease);

/* Fencing: inside a state-changing transaction, verifies that this process still holds
 * the lease (reads the holder record with a read conflict). Returns 0 or
 * CHAINFS_NOT_PRIMARY. */
int lease_fence(struct kv_transaction *transaction, const struct lease *lease);

/* Gives the lease up (graceful stop): the holder record keeps its epoch but names
 * nobody, so that a follower takes over at its next tick instead of waiting a lease
 * length. Does nothing unless this process is the primary. */
int lease_release(struct kv_store *store, struct lease *lease);

/* Reads the holder record (who is primary, as far as the store knows). */
int lease_read_holder(struct kv_store *store, struct lease_holder *holder);

#endif /* CHAINFS_MGMTD_LEASE_H */
