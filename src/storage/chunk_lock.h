/*
 * chunk_lock.h - the per-chunk lock of CRAQ writes (DESIGN §7 step 3), without
 * blocking threads.
 *
 * A write holds its chunk's lock from before it prepares the pending version until
 * it committed (or aborted) it, which spans a round trip down the chain. Threads
 * must not sleep that long: a worker blocked on a lock whose holder waits for a
 * worker of another node can deadlock a cluster whose pools are busy. So acquiring
 * never blocks: when the chunk is free the caller holds it at once; otherwise its
 * waiter is queued and, when the holder releases, the waiter's function is submitted
 * to a worker pool (FIFO per chunk, so writes to one chunk run in arrival order).
 *
 * chunk_lock_acquire_wait is the blocking form for threads that may block (the
 * recovery worker).
 *
 * A chunk_lock_sequence takes several locks (a replicated removal's chunks) one after
 * another, in ascending chunk id order, the same non-blocking way. Every holder of
 * more than one lock takes them in that order and every other holder holds one, so
 * no two acquirers can wait for each other in a cycle.
 */
#ifndef CHAINFS_STORAGE_CHUNK_LOCK_H
#define CHAINFS_STORAGE_CHUNK_LOCK_H

#include <stdbool.h>
#include <stddef.h>

#include "net/worker_pool.h"
#include "storage/chunk_id.h"

struct chunk_lock_table;

/* A queued acquisition: run(argument) is submitted to the pool once it holds the
 * lock. Owned by the caller, untouched after run started. */
struct chunk_lock_waiter {
    worker_task run;
    void *argument;
    struct chunk_lock_waiter *next;
};

/* pool runs the waiters (must outlive the table). */
int chunk_lock_table_create(struct worker_pool *pool, struct chunk_lock_table **table);

/* No lock may be held or awaited. NULL is accepted. */
void chunk_lock_table_destroy(struct chunk_lock_table *table);

/* True: the caller holds the lock now (waiter unused). False: waiter was queued and
 * will run holding the lock. */
bool chunk_lock_acquire(struct chunk_lock_table *table, const struct chunk_id *id,
                        struct chunk_lock_waiter *waiter);

/* Acquires, sleeping until the lock is free. */
void chunk_lock_acquire_wait(struct chunk_lock_table *table, const struct chunk_id *id);

/* Releases the lock held by the caller; hands it to the next waiter if any. */
void chunk_lock_release(struct chunk_lock_table *table, const struct chunk_id *id);

/* Several locks taken in order: fill with chunk_lock_sequence_start, release with
 * chunk_lock_sequence_release. Owned by the caller, which must not move it while it
 * holds or awaits locks. */
struct chunk_lock_sequence {
    struct chunk_lock_table *table;
    const struct chunk_id *ids; /* strictly ascending, valid until released */
    size_t count;
    size_t held; /* ids[0..held) are held */
    worker_task on_all_held;
    void *argument;
    struct chunk_lock_waiter waiter;
};

/* Starts acquiring ids[0..count) in that (strictly ascending) order; once all are
 * held, on_all_held(argument) runs: on the caller's thread when no lock was busy,
 * else on the table's pool. count 0 calls it at once. */
void chunk_lock_sequence_start(struct chunk_lock_sequence *sequence,
                               struct chunk_lock_table *table, const struct chunk_id *ids,
                               size_t count, worker_task on_all_held, void *argument);

/* Releases the locks the sequence holds (all of them, once on_all_held ran). */
void chunk_lock_sequence_release(struct chunk_lock_sequence *sequence);

/* Number of chunks locked now (tests, stats). */
size_t chunk_lock_held_count(struct chunk_lock_table *table);

#endif /* CHAINFS_STORAGE_CHUNK_LOCK_H */
