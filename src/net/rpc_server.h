/*
 * rpc_server.h - the server side of chainfs RPC: listener, services, dispatch.
 *
 * A service is a table of methods under a 16-bit service id. Each method runs either
 * inline on the connection's event loop (for handlers that never block, such as echo)
 * or on the worker pool (anything that touches the KV store or a disk). A handler
 * answers exactly once with rpc_request_reply(), possibly later and from another
 * thread (a storage head answers after its successor acknowledged).
 */
#ifndef CHAINFS_NET_RPC_SERVER_H
#define CHAINFS_NET_RPC_SERVER_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "common/wire.h"
#include "net/address.h"
#include "net/frame.h"

struct rpc_request;
struct rpc_server;

typedef void (*rpc_handler)(struct rpc_request *request);

enum rpc_dispatch {
    RPC_DISPATCH_INLINE, /* on the event loop: must not block */
    RPC_DISPATCH_WORKER, /* on the worker pool */
};

struct rpc_method {
    uint16_t id;
    const char *name;
    rpc_handler handler;
    enum rpc_dispatch dispatch;
};

struct rpc_service {
    uint16_t id;
    const char *name;
    const struct rpc_method *methods;
    size_t method_count;
    void *context; /* handed to handlers as request->service_context */
};

struct rpc_server_options {
    const char *name;           /* for thread names and logs */
    const char *listen_address; /* "127.0.0.1:0" picks a free port */
    size_t io_threads;          /* event loops */
    size_t worker_threads;
    uint32_t max_body_length;     /* per frame */
    uint32_t max_payload_length;  /* per frame */
    uint32_t max_in_flight;       /* requests per connection before BUSY replies */
    uint64_t max_in_flight_bytes; /* payload bytes per connection before BUSY replies */
    uint32_t max_connections;
};

/* The values the daemons use unless configured otherwise. */
void rpc_server_default_options(struct rpc_server_options *options);

/* A request as its handler sees it. Fields above `reply` are read-only. */
struct rpc_request {
    struct frame_envelope envelope;
    const uint8_t *message; /* the method's body, after the envelope */
    size_t message_length;
    void *payload; /* O_DIRECT-aligned buffer; the request frees it unless taken */
    size_t payload_length;
    uint64_t deadline; /* CLOCK_MONOTONIC ns, DEADLINE_NEVER if the caller set none */
    void *service_context;
    struct wire_writer reply; /* the handler writes its reply message here */
};

int rpc_server_create(const struct rpc_server_options *options, struct rpc_server **server);

/* Registers a service (before rpc_server_start). The service table must outlive the
 * server. Returns CHAINFS_EXISTS for a duplicate id. */
int rpc_server_register(struct rpc_server *server, const struct rpc_service *service);

/* Binds, listens and starts the loops and workers. */
int rpc_server_start(struct rpc_server *server);

/* The bound address (with the real port when the configured one was 0). */
void rpc_server_bound_address(const struct rpc_server *server, char out[ADDRESS_TEXT_MAX]);

/* Graceful stop: stop accepting, answer new requests with SHUTTING_DOWN, wait up to
 * drain_ns for in-flight requests, close connections, stop threads. */
void rpc_server_stop(struct rpc_server *server, uint64_t drain_ns);

void rpc_server_destroy(struct rpc_server *server);

/* Sends the reply: status, request->reply as message, and the reply payload if one
 * was set. Frees the request once written (do not touch it afterwards). */
void rpc_request_reply(struct rpc_request *request, int status);

/* Replies with a non-zero status and a message the client shows to its user. */
void rpc_request_fail(struct rpc_request *request, int status, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* Attaches a reply payload (not copied); release(argument) runs once it was sent or
 * dropped. release may be NULL for buffers that outlive the server. */
void rpc_request_set_reply_payload(struct rpc_request *request, const void *payload,
                                   size_t length, void (*release)(void *argument),
                                   void *argument);

/* Takes ownership of the request payload: free it with
 * aligned_buffer_free(payload, request->payload_length). */
void *rpc_request_take_payload(struct rpc_request *request);

/* "host:port" of the caller. */
const char *rpc_request_peer(const struct rpc_request *request);

#endif /* CHAINFS_NET_RPC_SERVER_H */
