/*
 * storage_retry.h - what the storage client does with the status of one request
 * (DESIGN §8: retry on chain-version and routing errors after refreshing routing
 * info, on "not committed" reads after a short wait; everything bounded by the
 * caller's deadline). Pure: the decision table and the backoff schedule.
 *
 * The table (read = BATCH_READ item or QUERY_LAST_CHUNK; update = WRITE, TRUNCATE,
 * REMOVE_CHUNKS, which all go to the head):
 *
 *   status                        retry  refresh  avoid target  back off
 *   OK                            no
 *   ROUTING_STALE                 yes    yes      no            yes (routing may lag)
 *   NOT_COMMITTED                 yes    no       no            yes
 *   BUSY, CONFLICT                yes    no       no            yes
 *   UNAVAILABLE                   yes    yes      no            yes
 *   DISCONNECTED, CONNECT_FAILED  yes    yes      yes           no (another replica
 *   SHUTTING_DOWN, TIMEOUT                                          is tried first)
 *   CHECKSUM, IO                  read: yes, refresh, avoid (another replica may be
 *                                 sound); update: no (the head decided)
 *   anything else                 no     (bad request, NO_SPACE, NOT_FOUND, ...)
 *
 * A read answered NOT_COMMITTED retries at the chain's last serving target
 * (storage_route_tail): the tail commits an update first, so it is "not committed"
 * there for the shortest time, and a reader of a chunk under constant writes does not
 * starve at a replica further up the chain.
 *
 * From the second retry round on, every round backs off whatever the status, so a
 * failure that repeats (a dead head that mgmtd has not yet published offline) does
 * not spin.
 *
 * A TIMEOUT here is one attempt's deadline, which is shorter than the caller's; when
 * the caller's deadline passes the operation ends with the last status seen.
 * Avoiding a target only matters for reads (writes have one head); for an update the
 * refresh alone picks the new head once mgmtd publishes it.
 */
#ifndef CHAINFS_CLIENT_STORAGE_RETRY_H
#define CHAINFS_CLIENT_STORAGE_RETRY_H

#include <stdbool.h>
#include <stdint.h>

enum storage_operation_kind {
    STORAGE_OPERATION_READ = 1,
    STORAGE_OPERATION_UPDATE = 2,
};

struct storage_retry_decision {
    bool retry;
    bool refresh_routing;
    bool avoid_target;
    bool back_off;
};

struct storage_retry_decision storage_retry_decide(enum storage_operation_kind kind, int status);

/* The wait before retry round `round` (1, 2, ...): doubling from first_ns, capped at
 * max_ns, with up to 25% taken off at random (jitter, from the caller's random
 * value) so that clients that failed together do not retry in lockstep. */
uint64_t storage_retry_backoff_ns(unsigned round, uint64_t first_ns, uint64_t max_ns,
                                  uint64_t random_value);

#endif /* CHAINFS_CLIENT_STORAGE_RETRY_H */
