/*
 * worker_pool.h - a fixed set of threads for handlers that may block
 * (KV transactions, disk I/O), so that they never stall an event loop.
 */
#ifndef CHAINFS_NET_WORKER_POOL_H
#define CHAINFS_NET_WORKER_POOL_H

#include <stddef.h>

typedef void (*worker_task)(void *argument);

struct worker_pool;

/* Starts thread_count threads named "<name>-N". */
int worker_pool_create(const char *name, size_t thread_count, struct worker_pool **pool);

/* Queues task(argument); returns CHAINFS_SHUTTING_DOWN after worker_pool_destroy began. */
int worker_pool_submit(struct worker_pool *pool, worker_task task, void *argument);

/* Runs every queued task, then joins the threads and frees the pool. */
void worker_pool_destroy(struct worker_pool *pool);

#endif /* CHAINFS_NET_WORKER_POOL_H */
