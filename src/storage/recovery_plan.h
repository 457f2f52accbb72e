/*
 * recovery_plan.h - which chunks a predecessor sends to, or removes from, a
 * returning target it recovers (DESIGN §7, issue 8 item 1).
 *
 * Input: both chunk metadata dumps (local = the serving predecessor, remote = the
 * syncing target). Per chunk id:
 *   only local                                   -> TRANSFER
 *   only remote                                  -> REMOVE
 *   local committed chain version newer          -> TRANSFER
 *   remote has a pending version                 -> TRANSFER
 *   equal chain versions, local committed version
 *     != remote committed version                -> TRANSFER
 *   otherwise                                    -> leave it
 * DESIGN §7 compares the local committed version with the remote *pending* one and
 * leaves the chunk when they are equal. But nothing commits a pending version left
 * on a syncing target (new writes reach it as whole-chunk replaces, never as
 * updates), so such a chunk would keep answering "not committed" and refuse the next
 * forwarded update as out of order. So any remote pending version is a leftover to
 * clear with a replace, and the comparison is between committed versions.
 * A local chunk with only a pending version (committed version 0: a first write in
 * flight) counts as absent locally: the write in flight reaches the target itself.
 *
 * The plan is a hint computed from dumps that may be stale by the time it runs; the
 * sync worker re-reads the local chunk under its lock before acting (a chunk
 * transferred needlessly is harmless: the target installs what it already has).
 */
#ifndef CHAINFS_STORAGE_RECOVERY_PLAN_H
#define CHAINFS_STORAGE_RECOVERY_PLAN_H

#include <stddef.h>

#include "storage/storage_protocol.h"

enum recovery_action {
    RECOVERY_LEAVE = 0,
    RECOVERY_TRANSFER = 1,
    RECOVERY_REMOVE = 2,
};

/* The rule for one chunk: local or remote may be NULL (absent). */
enum recovery_action recovery_plan_decide(const struct storage_chunk_record *local,
                                          const struct storage_chunk_record *remote);

struct recovery_step {
    struct chunk_id chunk_id;
    enum recovery_action action; /* TRANSFER or REMOVE */
};

/* Merges two dumps sorted by chunk id (as chunk_engine_dump and DUMP_CHUNKS give
 * them) into the steps to take, in chunk id order; *steps is malloc'ed (NULL when
 * there is nothing to do). 0 or CHAINFS_NO_MEMORY; CHAINFS_INVALID_ARGUMENT when a
 * dump is not strictly sorted. */
int recovery_plan_build(const struct storage_chunk_record *local, size_t local_count,
                        const struct storage_chunk_record *remote, size_t remote_count,
                        struct recovery_step **steps, size_t *step_count);

#endif /* CHAINFS_STORAGE_RECOVERY_PLAN_H */
