/*
 * event_loop.h - one thread waiting on epoll and running callbacks.
 *
 * Sources (sockets) are registered with a callback; the loop calls it with the ready
 * events. Other threads hand work to the loop with event_loop_post(); posted tasks
 * run after the current batch of events, which is also how a source that was removed
 * during a batch is freed safely (no event for it can still be pending).
 */
#ifndef CHAINFS_NET_EVENT_LOOP_H
#define CHAINFS_NET_EVENT_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct event_source;
typedef void (*event_callback)(struct event_source *source, uint32_t events);

struct event_source {
    int fd;
    event_callback callback;
};

typedef void (*event_task)(void *argument);

struct event_loop;

/* Creates a loop (not yet running). Returns 0 or a CHAINFS_* status. */
int event_loop_create(const char *name, struct event_loop **loop);

/* Starts the loop's thread. */
int event_loop_start(struct event_loop *loop);

/* Stops the thread (after its current batch and posted tasks) and joins it. */
void event_loop_stop(struct event_loop *loop);

/* Frees a stopped loop; tasks still queued run first. */
void event_loop_destroy(struct event_loop *loop);

/* epoll registration; events are EPOLLIN/EPOLLOUT/... (level-triggered). */
int event_loop_add(struct event_loop *loop, struct event_source *source, uint32_t events);
int event_loop_modify(struct event_loop *loop, struct event_source *source, uint32_t events);
void event_loop_remove(struct event_loop *loop, struct event_source *source);

/* Runs task(argument) on the loop thread after its current batch. Safe from any
 * thread; returns CHAINFS_NO_MEMORY if the task could not be queued. */
int event_loop_post(struct event_loop *loop, event_task task, void *argument);

/* Calls tick(argument) on the loop thread about every interval_ns (0 disables). */
void event_loop_set_tick(struct event_loop *loop, event_task tick, void *argument,
                         uint64_t interval_ns);

/* True when called from the loop's own thread. */
bool event_loop_in_thread(const struct event_loop *loop);

#endif /* CHAINFS_NET_EVENT_LOOP_H */
