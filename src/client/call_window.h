/*
 * call_window.h - many asynchronous RPC calls in flight from one thread, whose
 * completions that thread collects one by one (rpc_client.h runs completions on
 * its loop threads, where nothing may block or take long).
 *
 * The caller embeds a struct window_call in each of its request records, starts it
 * with call_window_start and gets finished calls back from call_window_next in
 * completion order; it then reads the result on its own thread.
 */
#ifndef CHAINFS_CLIENT_CALL_WINDOW_H
#define CHAINFS_CLIENT_CALL_WINDOW_H

#include <pthread.h>
#include <stddef.h>

#include "net/rpc_client.h"

struct window_call {
    struct rpc_call call; /* set up with rpc_call_init before call_window_start */
    struct window_call *next_completed;
};

struct call_window {
    pthread_mutex_t lock;
    pthread_cond_t completed_signal;
    struct window_call *completed_head; /* finished, not yet taken */
    struct window_call *completed_tail;
    size_t in_flight; /* started, not yet taken */
};

void call_window_init(struct call_window *window);

/* Every started call must have been taken back first. */
void call_window_destroy(struct call_window *window);

/* Starts call->call to address (on_complete and user_data are the window's). A call
 * that cannot start (bad address, cannot connect) is finished at once with that
 * status: every started call comes back from call_window_next exactly once. */
void call_window_start(struct call_window *window, struct rpc_client *rpc, const char *address,
                       struct window_call *call);

/* Calls started and not yet taken back. */
size_t call_window_in_flight(struct call_window *window);

/* Waits for the next finished call and takes it back; NULL when none is in flight. */
struct window_call *call_window_next(struct call_window *window);

#endif /* CHAINFS_CLIENT_CALL_WINDOW_H */
