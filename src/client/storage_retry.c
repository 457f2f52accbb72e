/*
 * storage_retry.c - the storage client's retry decisions and backoff schedule.
 */
#include "client/storage_retry.h"

#include "chainfs/error.h"

struct storage_retry_decision storage_retry_decide(enum storage_operation_kind kind, int status)
{
    struct storage_retry_decision none = {0};
    switch (status) {
    case CHAINFS_ROUTING_STALE:
    case CHAINFS_UNAVAILABLE:
        return (struct storage_retry_decision){.retry = true, .refresh_routing = true, .back_off = true};
    case CHAINFS_NOT_COMMITTED:
    case CHAINFS_BUSY:
    case CHAINFS_CONFLICT:
        return (struct storage_retry_decision){.retry = true, .back_off = true};
    case CHAINFS_DISCONNECTED:
    case CHAINFS_CONNECT_FAILED:
    case CHAINFS_SHUTTING_DOWN:
    case CHAINFS_TIMEOUT:
        return (struct storage_retry_decision){.retry = true, .refresh_routing = true, .avoid_target = true};
    case CHAINFS_CHECKSUM:
    case CHAINFS_IO:
        if (kind == STORAGE_OPERATION_READ)
            return (struct storage_retry_decision){.retry = true, .refresh_routing = true, .avoid_target = true};
        return none;
    default:
        return none;
    }
}

uint64_t storage_retry_backoff_ns(unsigned round, uint64_t first_ns, uint64_t max_ns,
                                  uint64_t random_value)
{
    if (round == 0 || first_ns == 0)
        return 0;
    uint64_t wait = first_ns;
    for (unsigned i = 1; i < round && wait < max_ns; i++)
        wait = wait > UINT64_MAX / 2 ? UINT64_MAX : wait * 2;
    if (wait > max_ns)
        wait = max_ns;
    return wait - (wait / 4) * (random_value % 1024) / 1024;
}
