/*
 * call_window.c - collecting completions of asynchronous RPC calls on one thread.
 */
#include "client/call_window.h"

#include <string.h>

#include "chainfs/error.h"

void call_window_init(struct call_window *window)
{
    memset(window, 0, sizeof(*window));
    pthread_mutex_init(&window->lock, NULL);
    pthread_cond_init(&window->completed_signal, NULL);
}

void call_window_destroy(struct call_window *window)
{
    pthread_cond_destroy(&window->completed_signal);
    pthread_mutex_destroy(&window->lock);
}

/* Queues a finished call; the lock is held. */
static void push_completed(struct call_window *window, struct window_call *call)
{
    call->next_completed = NULL;
    if (window->completed_tail)
        window->completed_tail->next_completed = call;
    else
        window->completed_head = call;
    window->completed_tail = call;
}

/* Runs on an rpc_client loop thread: only queue and wake. */
static void on_call_complete(struct rpc_call *rpc_call)
{
    struct window_call *call = (struct window_call *)rpc_call;
    struct call_window *window = rpc_call->user_data;
    pthread_mutex_lock(&window->lock);
    push_completed(window, call);
    pthread_cond_signal(&window->completed_signal);
    pthread_mutex_unlock(&window->lock);
}

void call_window_start(struct call_window *window, struct rpc_client *rpc, const char *address,
                       struct window_call *call)
{
    call->call.on_complete = on_call_complete;
    call->call.user_data = window;
    pthread_mutex_lock(&window->lock);
    window->in_flight++;
    pthread_mutex_unlock(&window->lock);
    int status = rpc_call_start(rpc, address, &call->call);
    if (status == CHAINFS_OK)
        return;
    call->call.status = status;
    pthread_mutex_lock(&window->lock);
    push_completed(window, call);
    pthread_mutex_unlock(&window->lock);
}

size_t call_window_in_flight(struct call_window *window)
{
    pthread_mutex_lock(&window->lock);
    size_t in_flight = window->in_flight;
    pthread_mutex_unlock(&window->lock);
    return in_flight;
}

struct window_call *call_window_next(struct call_window *window)
{
    pthread_mutex_lock(&window->lock);
    while (!window->completed_head && window->in_flight > 0)
        pthread_cond_wait(&window->completed_signal, &window->lock);
    struct window_call *call = window->completed_head;
    if (call) {
        window->completed_head = call->next_completed;
        if (!window->completed_head)
            window->completed_tail = NULL;
        window->in_flight--;
    }
    pthread_mutex_unlock(&window->lock);
    return call;
}
