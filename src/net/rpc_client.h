/*
 * rpc_client.h - the client side of chainfs RPC.
 *
 * One rpc_client keeps one connection per server address, shared by every thread
 * and multiplexed by request id: many calls are in flight at once and replies may
 * come back in any order. A call is either asynchronous (rpc_call_start, completion
 * callback on the client's event loop thread) or synchronous (rpc_call_sync).
 *
 * Bulk data never passes through an intermediate buffer of the RPC layer: a request
 * payload is written from the caller's memory, and a reply payload is received
 * straight into reply_payload_buffer when the caller provides one.
 *
 * Every call has a deadline. A lost connection fails the calls on it with
 * CHAINFS_DISCONNECTED and the next call reconnects; rpc_call_sync_retry() retries
 * idempotent calls with backoff.
 */
#ifndef CHAINFS_NET_RPC_CLIENT_H
#define CHAINFS_NET_RPC_CLIENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/connection.h"

struct rpc_client;
struct rpc_call;

struct rpc_client_options {
    const char *name;
    size_t io_threads;
    uint32_t max_body_length;    /* accepted in replies */
    uint32_t max_payload_length; /* accepted in replies */
    uint64_t connect_timeout_ns;
    uint64_t default_timeout_ns; /* calls whose timeout_ns is 0 */
};

void rpc_client_default_options(struct rpc_client_options *options);

int rpc_client_create(const struct rpc_client_options *options, struct rpc_client **client);

/* Ends every call in flight at once (they complete with CHAINFS_SHUTTING_DOWN) and
 * refuses new ones with CHAINFS_SHUTTING_DOWN, instead of letting them run into their
 * timeouts against peers that may be unreachable: for a stopping service whose
 * threads are about to be joined. Safe concurrently with calls; the client stays
 * valid until rpc_client_destroy. */
void rpc_client_shutdown(struct rpc_client *client);

/* Closes every connection (calls in flight complete with CHAINFS_SHUTTING_DOWN) and
 * frees the client. No call may be started concurrently. */
void rpc_client_destroy(struct rpc_client *client);

/* Bookkeeping of a call in flight; not for callers. */
struct rpc_call_state {
    struct outgoing_frame outgoing;
    struct client_session *session;
    struct rpc_call *next_pending;
    uint64_t request_id;
    uint64_t deadline;
    atomic_int holds; /* pending entry + request frame; completion when both are gone */
    atomic_bool request_released;
    uint8_t *reply_body;
    void *allocated_payload;
    bool receiving;       /* its reply payload is being written */
    bool payload_too_large;
    int abort_status;     /* TIMEOUT or CANCELLED decided by the loop */
};

struct rpc_call {
    /* Request, set by the caller after rpc_call_init(). */
    uint16_t service_id;
    uint16_t method_id;
    const void *message; /* must stay valid until completion */
    size_t message_length;
    const void *payload; /* must stay valid until completion */
    size_t payload_length;
    bool payload_crc;    /* checksum the payloads of request and reply */
    uint64_t timeout_ns; /* 0: the client's default */
    uint64_t trace_id;
    void *reply_payload_buffer; /* NULL: a reply payload is allocated (see reply_payload) */
    size_t reply_payload_capacity;
    void (*on_complete)(struct rpc_call *call); /* async only; runs on a loop thread */
    void *user_data;

    /* Result, valid after completion. */
    int status; /* CHAINFS_OK, a transport failure, or the server's status */
    const uint8_t *reply_message;
    size_t reply_message_length;
    void *reply_payload; /* reply_payload_buffer, or memory freed by rpc_call_release */
    size_t reply_payload_length;
    char error_text[256]; /* the server's or the transport's explanation */

    struct rpc_call_state state;
};

/* Clears a call and sets its method. */
void rpc_call_init(struct rpc_call *call, uint16_t service_id, uint16_t method_id);

/* Starts a call to address ("host:port"). On 0, on_complete runs exactly once later;
 * on an error (cannot connect, bad address) it never runs. */
int rpc_call_start(struct rpc_client *client, const char *address, struct rpc_call *call);

/* Runs a call and waits for it; returns call->status. */
int rpc_call_sync(struct rpc_client *client, const char *address, struct rpc_call *call);

/* rpc_call_sync, retried with exponential backoff while the status is retryable
 * (chainfs_error_is_retryable) and attempts remain. Only for idempotent methods. */
int rpc_call_sync_retry(struct rpc_client *client, const char *address, struct rpc_call *call,
                        int attempts);

/* Asks for an early end of an async call (completes with CHAINFS_CANCELLED unless the
 * reply won the race). The call must still be in flight. */
void rpc_call_cancel(struct rpc_call *call);

/* Frees reply memory; the call may then be reused after rpc_call_init. */
void rpc_call_release(struct rpc_call *call);

#endif /* CHAINFS_NET_RPC_CLIENT_H */
