/*
 * rpc_server.c - accepting connections and dispatching requests to services.
 *
 * Each accepted connection gets a server_peer that counts its requests in flight
 * (for the BUSY limits) and lives until the connection closed and every request it
 * carried has been answered.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOG_COMPONENT "rpc_server"
#include "chainfs/error.h"
#include "common/aligned_buffer.h"
#include "common/clock.h"
#include "common/log.h"
#include "net/connection.h"
#include "net/event_loop.h"
#include "net/rpc_server.h"
#include "net/worker_pool.h"

#define MAX_SERVICES 32
#define MAX_IO_THREADS 64

struct server_peer {
    struct rpc_server *server;
    struct connection *connection;
    struct server_peer *next; /* in server->peers */
    struct server_peer *previous;
    atomic_int references;     /* the open connection + each request */
    atomic_uint in_flight;
    atomic_uint_fast64_t in_flight_bytes;
    atomic_bool reading_paused; /* back-pressure: too many requests in flight */
};

struct request_internal {
    struct rpc_request public; /* first: handlers get &public */
    struct server_peer *peer;
    const struct rpc_method *method;
    uint8_t *body;
    size_t counted_bytes;
    const void *reply_payload;
    size_t reply_payload_length;
    void (*reply_payload_release)(void *argument);
    void *reply_payload_argument;
    struct outgoing_frame outgoing;
    bool reply_payload_crc; /* the caller checksummed its payload: do the same back */
    bool replied;
};

struct rpc_server {
    struct rpc_server_options options;
    char name[40];
    char listen_text[ADDRESS_TEXT_MAX * 2];
    struct net_address bound;
    struct event_loop *loops[MAX_IO_THREADS];
    size_t loop_count;
    atomic_size_t next_loop;
    struct worker_pool *workers;
    struct event_source listener;
    bool listening;
    const struct rpc_service *services[MAX_SERVICES];
    size_t service_count;
    pthread_mutex_t peers_lock;
    pthread_cond_t peers_changed;
    struct server_peer *peers;
    size_t peer_count;
    atomic_uint total_in_flight;
    atomic_bool stopping;
    bool started;
};

static const struct connection_handler server_connection_handler;

void rpc_server_default_options(struct rpc_server_options *options)
{
    *options = (struct rpc_server_options){
        .name = "rpc",
        .listen_address = "127.0.0.1:0",
        .io_threads = 1,
        .worker_threads = 4,
        .max_body_length = 4u << 20,
        .max_payload_length = (64u << 20) + 4096,
        .max_in_flight = 1024,
        .max_in_flight_bytes = 1ull << 30,
        .max_connections = 4096,
    };
}

/* --- peers ------------------------------------------------------------------------ */

static void peer_unref(struct server_peer *peer)
{
    if (atomic_fetch_sub(&peer->references, 1) != 1)
        return;
    struct rpc_server *server = peer->server;
    pthread_mutex_lock(&server->peers_lock);
    if (peer->previous)
        peer->previous->next = peer->next;
    else
        server->peers = peer->next;
    if (peer->next)
        peer->next->previous = peer->previous;
    server->peer_count--;
    pthread_cond_broadcast(&server->peers_changed);
    pthread_mutex_unlock(&server->peers_lock);
    connection_unref(peer->connection);
    free(peer);
}

/* --- requests --------------------------------------------------------------------- */

static struct request_internal *internal_of(struct rpc_request *request)
{
    return (struct request_internal *)request;
}

static void request_free(struct request_internal *request)
{
    struct server_peer *peer = request->peer;
    if (request->reply_payload_release)
        request->reply_payload_release(request->reply_payload_argument);
    aligned_buffer_free(request->public.payload, request->public.payload_length);
    wire_writer_free(&request->public.reply);
    free(request->body);
    unsigned left = atomic_fetch_sub(&peer->in_flight, 1) - 1;
    atomic_fetch_sub(&peer->in_flight_bytes, request->counted_bytes);
    /* Resume reading once half of the allowance is free again. */
    if (left <= peer->server->options.max_in_flight / 2 && atomic_exchange(&peer->reading_paused, false))
        connection_pause_reading(peer->connection, false);
    atomic_fetch_sub(&peer->server->total_in_flight, 1);
    free(request);
    peer_unref(peer);
}

static void reply_written(struct outgoing_frame *frame, int status)
{
    struct request_internal *request =
        (struct request_internal *)((char *)frame - offsetof(struct request_internal, outgoing));
    request_free(request);
}

void rpc_request_reply(struct rpc_request *public_request, int status)
{
    struct request_internal *request = internal_of(public_request);
    if (request->replied) {
        log_error("handler %s replied twice; ignoring the second reply", request->method
                  ? request->method->name : "?");
        return;
    }
    request->replied = true;
    struct frame_envelope envelope = public_request->envelope;
    envelope.status = (uint32_t)status;
    envelope.timeout_us = 0;
    if (!wire_writer_ok(&public_request->reply)) {
        envelope.status = CHAINFS_NO_MEMORY;
        wire_writer_reset(&public_request->reply);
    }
    bool payload_crc = envelope.status == 0 && request->reply_payload_crc;
    outgoing_frame_prepare(&request->outgoing, FRAME_FLAG_REPLY, &envelope,
                           public_request->reply.data, public_request->reply.length,
                           envelope.status == 0 ? request->reply_payload : NULL,
                           envelope.status == 0 ? request->reply_payload_length : 0, payload_crc);
    request->outgoing.release = reply_written;
    connection_send(request->peer->connection, &request->outgoing);
}

void rpc_request_fail(struct rpc_request *request, int status, const char *format, ...)
{
    char message[256];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(message, sizeof(message), format, arguments);
    va_end(arguments);
    wire_writer_reset(&request->reply);
    wire_put_string(&request->reply, message);
    rpc_request_reply(request, status);
}

void rpc_request_set_reply_payload(struct rpc_request *public_request, const void *payload,
                                   size_t length, void (*release)(void *argument),
                                   void *argument)
{
    struct request_internal *request = internal_of(public_request);
    request->reply_payload = payload;
    request->reply_payload_length = length;
    request->reply_payload_release = release;
    request->reply_payload_argument = argument;
}

void *rpc_request_take_payload(struct rpc_request *request)
{
    void *payload = request->payload;
    request->payload = NULL;
    return payload;
}

const char *rpc_request_peer(const struct rpc_request *request)
{
    return connection_peer(((const struct request_internal *)request)->peer->connection);
}

/* --- dispatch --------------------------------------------------------------------- */

static const struct rpc_method *find_method(const struct rpc_server *server, uint16_t service_id,
                                            uint16_t method_id, const struct rpc_service **service)
{
    *service = NULL;
    for (size_t i = 0; i < server->service_count; i++) {
        if (server->services[i]->id != service_id)
            continue;
        *service = server->services[i];
        for (size_t m = 0; m < (*service)->method_count; m++)
            if ((*service)->methods[m].id == method_id)
                return &(*service)->methods[m];
        return NULL;
    }
    return NULL;
}

static void run_handler(void *argument)
{
    struct request_internal *request = argument;
    if (deadline_expired(request->public.deadline)) {
        rpc_request_fail(&request->public, CHAINFS_TIMEOUT,
                         "deadline passed before %s started", request->method->name);
        return;
    }
    request->method->handler(&request->public);
}

/* Returns 0 to run the method, or the status to answer with instead. */
static int admission_status(struct request_internal *request, const struct incoming_frame *frame,
                            const struct rpc_service *service, char *message, size_t size)
{
    struct rpc_server *server = request->peer->server;
    if (atomic_load(&server->stopping)) {
        snprintf(message, size, "server %s is shutting down", server->name);
        return CHAINFS_SHUTTING_DOWN;
    }
    if (!service) {
        snprintf(message, size, "unknown service %u", frame->envelope.service_id);
        return CHAINFS_UNKNOWN_SERVICE;
    }
    if (!request->method) {
        snprintf(message, size, "unknown method %u of service %s", frame->envelope.method_id,
                 service->name);
        return CHAINFS_UNKNOWN_METHOD;
    }
    if (frame->payload_crc_failed) {
        snprintf(message, size, "payload checksum mismatch");
        return CHAINFS_CHECKSUM;
    }
    if (frame->header.payload_length && frame->payload_discarded) {
        snprintf(message, size, "too many payload bytes in flight on this connection");
        return CHAINFS_BUSY;
    }
    if (atomic_load(&request->peer->in_flight) > server->options.max_in_flight) {
        snprintf(message, size, "more than %u requests in flight on this connection",
                 server->options.max_in_flight);
        return CHAINFS_BUSY;
    }
    return 0;
}

static struct request_internal *request_create(struct server_peer *peer,
                                               struct incoming_frame *frame)
{
    struct request_internal *request = calloc(1, sizeof(*request));
    if (!request)
        return NULL;
    request->peer = peer;
    request->body = frame->body;
    request->counted_bytes = frame->payload_discarded ? 0 : frame->header.payload_length;
    request->public.envelope = frame->envelope;
    request->reply_payload_crc = (frame->header.flags & FRAME_FLAG_PAYLOAD_CRC) != 0;
    request->public.message = frame->body + FRAME_ENVELOPE_SIZE;
    request->public.message_length = frame->header.body_length - FRAME_ENVELOPE_SIZE;
    request->public.payload = frame->payload_discarded ? NULL : frame->payload;
    request->public.payload_length = frame->header.payload_length;
    uint64_t timeout_us = frame->envelope.timeout_us;
    request->public.deadline = timeout_us == 0 || timeout_us > DEADLINE_NEVER / CLOCK_NS_PER_US
                                   ? DEADLINE_NEVER
                                   : deadline_after_ns(timeout_us * CLOCK_NS_PER_US);
    wire_writer_init(&request->public.reply);
    atomic_fetch_add(&peer->references, 1);
    atomic_fetch_add(&peer->in_flight, 1);
    atomic_fetch_add(&peer->in_flight_bytes, request->counted_bytes);
    atomic_fetch_add(&peer->server->total_in_flight, 1);
    return request;
}

static void *server_payload_destination(struct connection *connection, struct incoming_frame *frame)
{
    struct server_peer *peer = connection_owner(connection);
    uint64_t limit = peer->server->options.max_in_flight_bytes;
    if (atomic_load(&peer->in_flight_bytes) + frame->header.payload_length > limit)
        return NULL; /* read and dropped; the request is answered BUSY */
    return aligned_buffer_alloc(frame->header.payload_length);
}

static void server_frame_received(struct connection *connection, struct incoming_frame *frame)
{
    struct server_peer *peer = connection_owner(connection);
    struct rpc_server *server = peer->server;
    if (frame->header.flags & FRAME_FLAG_REPLY) {
        log_warn("closing connection from %s: it sent a reply to a server", connection_peer(connection));
        aligned_buffer_free(frame->payload_discarded ? NULL : frame->payload,
                            frame->header.payload_length);
        free(frame->body);
        connection_close(connection, CHAINFS_MALFORMED);
        return;
    }
    struct request_internal *request = request_create(peer, frame);
    if (!request) {
        log_error("out of memory for a request from %s; closing", connection_peer(connection));
        aligned_buffer_free(frame->payload_discarded ? NULL : frame->payload,
                            frame->header.payload_length);
        free(frame->body);
        connection_close(connection, CHAINFS_NO_MEMORY);
        return;
    }
    const struct rpc_service *service;
    request->method = find_method(server, frame->envelope.service_id, frame->envelope.method_id,
                                  &service);
    /* Back-pressure: a client that sends without reading replies cannot make the
     * server hold more than max_in_flight requests of it. */
    if (atomic_load(&peer->in_flight) >= server->options.max_in_flight &&
        !atomic_exchange(&peer->reading_paused, true))
        connection_pause_reading(connection, true);
    char message[160];
    int status = admission_status(request, frame, service, message, sizeof(message));
    if (status != 0) {
        log_debug("refusing request from %s: %s", connection_peer(connection), message);
        free(request->body); /* a refusal needs only the envelope */
        request->body = NULL;
        request->public.message = NULL;
        request->public.message_length = 0;
        rpc_request_fail(&request->public, status, "%s", message);
        return;
    }
    request->public.service_context = service->context;
    if (request->method->dispatch == RPC_DISPATCH_INLINE) {
        run_handler(request);
        return;
    }
    if (worker_pool_submit(server->workers, run_handler, request) != 0)
        rpc_request_fail(&request->public, CHAINFS_SHUTTING_DOWN, "worker pool stopped");
}

static void server_frame_aborted(struct connection *connection, struct incoming_frame *frame)
{
    aligned_buffer_free(frame->payload, frame->header.payload_length);
}

static void server_connection_closed(struct connection *connection, int status)
{
    struct server_peer *peer = connection_owner(connection);
    log_debug("connection from %s closed: %s", connection_peer(connection),
              chainfs_error_name(status));
    peer_unref(peer);
}

static const struct connection_handler server_connection_handler = {
    .payload_destination = server_payload_destination,
    .frame_received = server_frame_received,
    .frame_aborted = server_frame_aborted,
    .closed = server_connection_closed,
};

/* --- accepting -------------------------------------------------------------------- */

static void adopt_socket(struct rpc_server *server, int fd)
{
    pthread_mutex_lock(&server->peers_lock);
    bool full = server->peer_count >= server->options.max_connections;
    pthread_mutex_unlock(&server->peers_lock);
    if (full) {
        log_warn("refusing a connection: %u connections open", server->options.max_connections);
        close(fd);
        return;
    }
    struct server_peer *peer = calloc(1, sizeof(*peer));
    if (!peer) {
        close(fd);
        return;
    }
    peer->server = server;
    atomic_init(&peer->references, 1);
    struct frame_limits limits = {server->options.max_body_length,
                                  server->options.max_payload_length};
    size_t index = atomic_fetch_add(&server->next_loop, 1) % server->loop_count;
    pthread_mutex_lock(&server->peers_lock);
    int status = connection_create(fd, server->loops[index], &server_connection_handler, &limits,
                                   peer, &peer->connection);
    if (status != 0) {
        pthread_mutex_unlock(&server->peers_lock);
        close(fd);
        free(peer);
        return;
    }
    peer->next = server->peers;
    if (server->peers)
        server->peers->previous = peer;
    server->peers = peer;
    server->peer_count++;
    pthread_mutex_unlock(&server->peers_lock);
}

static void handle_listener(struct event_source *source, uint32_t events)
{
    struct rpc_server *server =
        (struct rpc_server *)((char *)source - offsetof(struct rpc_server, listener));
    for (int i = 0; i < 64; i++) {
        int fd = accept4(source->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                log_warn("accept: %s", strerror(errno));
            return;
        }
        adopt_socket(server, fd);
    }
}

static int open_listener(struct rpc_server *server)
{
    struct net_address address;
    if (net_address_parse(server->listen_text, &address) != 0) {
        log_error("%s: cannot parse listen address '%s'", server->name, server->listen_text);
        return CHAINFS_INVALID_ARGUMENT;
    }
    int fd = socket(address.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&address.storage, address.length) != 0 ||
        listen(fd, 1024) != 0) {
        log_error("%s: cannot listen on %s: %s", server->name, server->listen_text, strerror(errno));
        if (fd >= 0)
            close(fd);
        return CHAINFS_IO;
    }
    net_address_of_socket(fd, false, &server->bound);
    server->listener.fd = fd;
    server->listener.callback = handle_listener;
    return 0;
}

/* --- lifecycle -------------------------------------------------------------------- */

int rpc_server_create(const struct rpc_server_options *options, struct rpc_server **result)
{
    if (options->io_threads == 0 || options->io_threads > MAX_IO_THREADS ||
        options->worker_threads == 0 || options->max_body_length < FRAME_ENVELOPE_SIZE)
        return CHAINFS_INVALID_ARGUMENT;
    struct rpc_server *server = calloc(1, sizeof(*server));
    if (!server)
        return CHAINFS_NO_MEMORY;
    server->options = *options;
    snprintf(server->name, sizeof(server->name), "%s", options->name);
    snprintf(server->listen_text, sizeof(server->listen_text), "%s", options->listen_address);
    server->options.name = server->name;
    server->options.listen_address = server->listen_text;
    server->listener.fd = -1;
    pthread_mutex_init(&server->peers_lock, NULL);
    pthread_cond_init(&server->peers_changed, NULL);
    *result = server;
    return 0;
}

int rpc_server_register(struct rpc_server *server, const struct rpc_service *service)
{
    if (server->started || server->service_count == MAX_SERVICES)
        return CHAINFS_INVALID_ARGUMENT;
    for (size_t i = 0; i < server->service_count; i++)
        if (server->services[i]->id == service->id)
            return CHAINFS_EXISTS;
    server->services[server->service_count++] = service;
    return 0;
}

int rpc_server_start(struct rpc_server *server)
{
    int status = open_listener(server);
    for (size_t i = 0; status == 0 && i < server->options.io_threads; i++) {
        char name[40];
        snprintf(name, sizeof(name), "%.9s-io%zu", server->name, i);
        status = event_loop_create(name, &server->loops[i]);
        if (status == 0) {
            server->loop_count++;
            status = event_loop_start(server->loops[i]);
        }
    }
    if (status == 0)
        status = worker_pool_create(server->name, server->options.worker_threads, &server->workers);
    if (status == 0)
        status = event_loop_add(server->loops[0], &server->listener, EPOLLIN);
    if (status != 0)
        return status;
    server->listening = true;
    server->started = true;
    char bound[ADDRESS_TEXT_MAX];
    net_address_format(&server->bound, bound);
    log_info("%s: listening on %s (%zu io threads, %zu workers)", server->name, bound,
             server->loop_count, server->options.worker_threads);
    return 0;
}

void rpc_server_bound_address(const struct rpc_server *server, char out[ADDRESS_TEXT_MAX])
{
    net_address_format(&server->bound, out);
}

static void stop_listening(void *argument)
{
    struct rpc_server *server = argument;
    event_loop_remove(server->loops[0], &server->listener);
}

/* Waits until condition() or the deadline; peers_lock held. */
static void wait_for_peers(struct rpc_server *server, uint64_t deadline,
                           bool (*condition)(struct rpc_server *server))
{
    while (!condition(server) && !deadline_expired(deadline)) {
        struct timespec until = {0};
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 10 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&server->peers_changed, &server->peers_lock, &until);
    }
}

static bool nothing_in_flight(struct rpc_server *server)
{
    return atomic_load(&server->total_in_flight) == 0;
}

static bool no_peers(struct rpc_server *server) { return server->peer_count == 0; }

void rpc_server_stop(struct rpc_server *server, uint64_t drain_ns)
{
    if (!server->started || atomic_exchange(&server->stopping, true))
        return;
    if (server->listening) {
        event_loop_post(server->loops[0], stop_listening, server);
        server->listening = false;
    }
    uint64_t deadline = deadline_after_ns(drain_ns);
    pthread_mutex_lock(&server->peers_lock);
    wait_for_peers(server, deadline, nothing_in_flight);
    for (struct server_peer *peer = server->peers; peer; peer = peer->next)
        connection_close(peer->connection, CHAINFS_SHUTTING_DOWN);
    wait_for_peers(server, deadline_after_ns(drain_ns + CLOCK_NS_PER_S), no_peers);
    size_t left = server->peer_count;
    pthread_mutex_unlock(&server->peers_lock);
    if (left)
        log_warn("%s: %zu connections still busy at shutdown", server->name, left);
    worker_pool_destroy(server->workers); /* runs what was queued */
    server->workers = NULL;
    for (size_t i = 0; i < server->loop_count; i++)
        event_loop_stop(server->loops[i]);
    if (server->listener.fd >= 0)
        close(server->listener.fd);
    server->listener.fd = -1;
    log_info("%s: stopped", server->name);
}

void rpc_server_destroy(struct rpc_server *server)
{
    if (!server)
        return;
    rpc_server_stop(server, 5 * CLOCK_NS_PER_S);
    pthread_mutex_lock(&server->peers_lock);
    size_t busy = server->peer_count;
    pthread_mutex_unlock(&server->peers_lock);
    if (busy) {
        /* A handler still owes a reply and will touch the server and its loops when it
         * answers: leaking them is the only safe choice this late. */
        log_error("%s: %zu connections still have requests in flight; not freeing the server",
                  server->name, busy);
        return;
    }
    worker_pool_destroy(server->workers);
    for (size_t i = 0; i < server->loop_count; i++)
        event_loop_destroy(server->loops[i]);
    if (server->listener.fd >= 0)
        close(server->listener.fd);
    pthread_cond_destroy(&server->peers_changed);
    pthread_mutex_destroy(&server->peers_lock);
    free(server);
}
