/*
 * rpc_client.c - multiplexed calls over one connection per server address.
 *
 * Pieces: a channel per address (created on first use, kept for the client's life)
 * points at its current session; a session is one TCP connection plus the table of
 * calls waiting for a reply on it. When a connection closes, its session fails the
 * waiting calls and the channel forgets it, so the next call reconnects.
 *
 * A call completes when two things are over: its pending entry was resolved (reply,
 * timeout, cancel or disconnect) and its request frame was released by the send
 * path. Until then its buffers may still be in use, so completion waits for both.
 * Pending entries are resolved on the session's loop thread only, which is what
 * makes receiving a payload straight into a caller's buffer safe.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOG_COMPONENT "rpc_client"
#include "chainfs/error.h"
#include "common/clock.h"
#include "common/log.h"
#include "common/wire.h"
#include "net/event_loop.h"
#include "net/rpc_client.h"

#define PENDING_BUCKETS 256
#define MAX_CLIENT_LOOPS 16
#define TICK_INTERVAL_NS (5 * CLOCK_NS_PER_MS)

struct client_session {
    struct rpc_client *client;
    struct connection *connection;
    atomic_int references; /* the channel's + the open connection's */
    atomic_uint_fast64_t next_request_id;
    pthread_mutex_t pending_lock;
    struct rpc_call *pending[PENDING_BUCKETS];
    size_t pending_count;
    bool closed;
    struct client_session *next; /* in client->sessions, for the timeout scan */
    struct client_session *previous;
};

struct client_channel {
    char address[ADDRESS_TEXT_MAX * 2];
    pthread_mutex_t lock; /* guards session and connecting */
    struct client_session *session;
    uint64_t failed_at_ns; /* when the last connect attempt failed (0: never) */
    struct client_channel *next;
};

struct client_loop {
    struct rpc_client *client;
    struct event_loop *loop;
};

struct rpc_client {
    struct rpc_client_options options;
    char name[40];
    struct client_loop loops[MAX_CLIENT_LOOPS];
    size_t loop_count;
    atomic_size_t next_loop;
    pthread_mutex_t lock; /* channels and sessions lists */
    struct client_channel *channels;
    struct client_session *sessions;
    atomic_bool shut_down; /* rpc_client_shutdown: no more calls */
};

static const struct connection_handler client_connection_handler;

void rpc_client_default_options(struct rpc_client_options *options)
{
    *options = (struct rpc_client_options){
        .name = "client",
        .io_threads = 1,
        .max_body_length = 4u << 20,
        .max_payload_length = (64u << 20) + 4096,
        .connect_timeout_ns = 3 * CLOCK_NS_PER_S,
        .default_timeout_ns = 30 * CLOCK_NS_PER_S,
    };
}

/* --- sessions and the pending table ------------------------------------------------ */

static void session_unref(struct client_session *session)
{
    if (atomic_fetch_sub(&session->references, 1) != 1)
        return;
    struct rpc_client *client = session->client;
    pthread_mutex_lock(&client->lock);
    if (session->previous)
        session->previous->next = session->next;
    else
        client->sessions = session->next;
    if (session->next)
        session->next->previous = session->previous;
    pthread_mutex_unlock(&client->lock);
    connection_unref(session->connection);
    pthread_mutex_destroy(&session->pending_lock);
    free(session);
}

static struct rpc_call **pending_slot(struct client_session *session, uint64_t request_id)
{
    struct rpc_call **slot = &session->pending[request_id % PENDING_BUCKETS];
    while (*slot && (*slot)->state.request_id != request_id)
        slot = &(*slot)->state.next_pending;
    return slot;
}

static struct rpc_call *pending_find(struct client_session *session, uint64_t request_id)
{
    pthread_mutex_lock(&session->pending_lock);
    struct rpc_call *call = *pending_slot(session, request_id);
    pthread_mutex_unlock(&session->pending_lock);
    return call;
}

static struct rpc_call *pending_remove(struct client_session *session, uint64_t request_id)
{
    pthread_mutex_lock(&session->pending_lock);
    struct rpc_call **slot = pending_slot(session, request_id);
    struct rpc_call *call = *slot;
    if (call) {
        *slot = call->state.next_pending;
        session->pending_count--;
    }
    pthread_mutex_unlock(&session->pending_lock);
    return call;
}

/* --- completion -------------------------------------------------------------------- */

static void drop_hold(struct rpc_call *call)
{
    if (atomic_fetch_sub(&call->state.holds, 1) == 1)
        call->on_complete(call);
}

static void resolve(struct rpc_call *call, int status, const char *text)
{
    call->status = status;
    if (status != 0 && text && !call->error_text[0])
        snprintf(call->error_text, sizeof(call->error_text), "%s", text);
    drop_hold(call);
}

static void request_released(struct outgoing_frame *frame, int status)
{
    struct rpc_call *call =
        (struct rpc_call *)((char *)frame - offsetof(struct rpc_call, state.outgoing));
    atomic_store(&call->state.request_released, true);
    drop_hold(call);
}

/* Ends a pending call early (timeout or cancel). Runs on the session's loop. */
static void abort_pending(struct client_session *session, struct rpc_call *call, int status)
{
    if (call->state.receiving || !atomic_load(&call->state.request_released)) {
        /* Its buffers are in use by the connection: closing it releases them, and the
         * closed handler resolves the call with this status. */
        call->state.abort_status = status;
        connection_close(session->connection, status);
        return;
    }
    if (pending_remove(session, call->state.request_id) == call)
        resolve(call, status, chainfs_error_message(status));
}

struct cancel_request {
    struct client_session *session;
    uint64_t request_id;
};

static void cancel_task(void *argument)
{
    struct cancel_request *cancel = argument;
    struct rpc_call *call = pending_find(cancel->session, cancel->request_id);
    if (call)
        abort_pending(cancel->session, call, CHAINFS_CANCELLED);
    session_unref(cancel->session);
    free(cancel);
}

void rpc_call_cancel(struct rpc_call *call)
{
    struct client_session *session = call->state.session;
    struct cancel_request *cancel = malloc(sizeof(*cancel));
    if (!cancel)
        return; /* the deadline still ends the call */
    atomic_fetch_add(&session->references, 1);
    cancel->session = session;
    cancel->request_id = call->state.request_id;
    if (event_loop_post(connection_loop(session->connection), cancel_task, cancel) != 0) {
        session_unref(session);
        free(cancel);
    }
}

/* The open sessions of this loop, each with a reference, in a fresh array (free it).
 * Returns the count; 0 with *found NULL when there are none or memory ran out. */
static size_t sessions_of_loop(struct client_loop *slot, struct client_session ***found)
{
    size_t count = 0, capacity = 0;
    *found = NULL;
    pthread_mutex_lock(&slot->client->lock);
    for (struct client_session *session = slot->client->sessions; session; session = session->next)
        capacity++;
    struct client_session **array = capacity ? malloc(capacity * sizeof(*array)) : NULL;
    for (struct client_session *session = slot->client->sessions; array && session;
         session = session->next) {
        if (connection_loop(session->connection) != slot->loop || session->closed)
            continue;
        atomic_fetch_add(&session->references, 1);
        array[count++] = session;
    }
    pthread_mutex_unlock(&slot->client->lock);
    *found = array;
    return count;
}

/* Request ids of calls past their deadline (at most capacity). */
static size_t expired_ids(struct client_session *session, uint64_t now, uint64_t *ids,
                          size_t capacity)
{
    size_t count = 0;
    pthread_mutex_lock(&session->pending_lock);
    for (size_t bucket = 0; bucket < PENDING_BUCKETS && count < capacity; bucket++)
        for (struct rpc_call *call = session->pending[bucket]; call && count < capacity;
             call = call->state.next_pending)
            if (call->state.deadline <= now && call->state.abort_status == 0)
                ids[count++] = call->state.request_id;
    pthread_mutex_unlock(&session->pending_lock);
    return count;
}

/* Tick of each client loop: ends the calls of its sessions that passed their deadline. */
static void expire_calls(void *argument)
{
    struct client_session **sessions;
    size_t session_count = sessions_of_loop(argument, &sessions);
    uint64_t now = clock_now_ns();
    for (size_t i = 0; i < session_count; i++) {
        uint64_t ids[128];
        size_t id_count = expired_ids(sessions[i], now, ids, 128);
        for (size_t k = 0; k < id_count; k++) {
            struct rpc_call *call = pending_find(sessions[i], ids[k]);
            if (call)
                abort_pending(sessions[i], call, CHAINFS_TIMEOUT);
        }
        /* more than 128 expired at once: the next tick (5 ms) takes the rest */
        session_unref(sessions[i]);
    }
    free(sessions);
}

/* --- receiving replies ------------------------------------------------------------- */

static void *client_payload_destination(struct connection *connection, struct incoming_frame *frame)
{
    struct client_session *session = connection_owner(connection);
    struct rpc_call *call = pending_find(session, frame->envelope.request_id);
    if (!call || call->state.abort_status != 0)
        return NULL;
    size_t length = frame->header.payload_length;
    if (call->reply_payload_buffer) {
        if (length > call->reply_payload_capacity) {
            call->state.payload_too_large = true;
            return NULL;
        }
        call->state.receiving = true;
        return call->reply_payload_buffer;
    }
    call->state.allocated_payload = malloc(length);
    call->state.receiving = call->state.allocated_payload != NULL;
    return call->state.allocated_payload;
}

/* Fills the call's result from a reply frame (which it now owns). */
static void take_reply(struct rpc_call *call, struct incoming_frame *frame)
{
    call->state.receiving = false;
    call->state.reply_body = frame->body;
    call->reply_message = frame->body + FRAME_ENVELOPE_SIZE;
    call->reply_message_length = frame->header.body_length - FRAME_ENVELOPE_SIZE;
    int status = (int)frame->envelope.status;
    if (status != 0) {
        struct wire_reader reader;
        wire_reader_init(&reader, call->reply_message, call->reply_message_length);
        if (!wire_get_string(&reader, call->error_text, sizeof(call->error_text)))
            snprintf(call->error_text, sizeof(call->error_text), "%s",
                     chainfs_error_message(status));
    } else if (call->state.payload_too_large) {
        status = CHAINFS_TOO_LARGE;
        snprintf(call->error_text, sizeof(call->error_text),
                 "reply payload of %u bytes does not fit the %zu-byte buffer",
                 frame->header.payload_length, call->reply_payload_capacity);
    } else if (frame->header.payload_length && frame->payload_discarded) {
        status = CHAINFS_NO_MEMORY;
    } else if (frame->payload_crc_failed) {
        status = CHAINFS_CHECKSUM;
        snprintf(call->error_text, sizeof(call->error_text), "reply payload checksum mismatch");
    }
    if (frame->header.payload_length && !frame->payload_discarded) {
        call->reply_payload = frame->payload;
        call->reply_payload_length = frame->header.payload_length;
    }
    resolve(call, status, NULL);
}

static void client_frame_received(struct connection *connection, struct incoming_frame *frame)
{
    struct client_session *session = connection_owner(connection);
    if (!(frame->header.flags & FRAME_FLAG_REPLY)) {
        log_warn("closing connection to %s: the server sent a request", connection_peer(connection));
        free(frame->body);
        connection_close(connection, CHAINFS_MALFORMED);
        return;
    }
    struct rpc_call *call = pending_remove(session, frame->envelope.request_id);
    if (!call) { /* its caller gave up; the payload (if any) was discarded */
        free(frame->body);
        return;
    }
    take_reply(call, frame);
}

static void client_frame_aborted(struct connection *connection, struct incoming_frame *frame)
{
    /* The buffer belongs to the call (caller's or allocated_payload); the closed
     * handler resolves the call, and rpc_call_release frees allocations. */
}

static void forget_session(struct rpc_client *client, struct client_session *session)
{
    pthread_mutex_lock(&client->lock);
    struct client_channel *channel = client->channels;
    for (; channel; channel = channel->next)
        if (channel->session == session)
            break;
    pthread_mutex_unlock(&client->lock);
    if (!channel)
        return;
    pthread_mutex_lock(&channel->lock);
    bool owned = channel->session == session;
    if (owned)
        channel->session = NULL;
    pthread_mutex_unlock(&channel->lock);
    if (owned)
        session_unref(session);
}

static void client_connection_closed(struct connection *connection, int status)
{
    struct client_session *session = connection_owner(connection);
    pthread_mutex_lock(&session->pending_lock);
    session->closed = true;
    struct rpc_call *failed = NULL;
    for (size_t bucket = 0; bucket < PENDING_BUCKETS; bucket++) {
        while (session->pending[bucket]) {
            struct rpc_call *call = session->pending[bucket];
            session->pending[bucket] = call->state.next_pending;
            call->state.next_pending = failed;
            failed = call;
        }
    }
    session->pending_count = 0;
    pthread_mutex_unlock(&session->pending_lock);
    /* Forgotten first, so that a caller retrying from a completion reconnects. */
    forget_session(session->client, session);
    while (failed) {
        struct rpc_call *next = failed->state.next_pending;
        int reason = failed->state.abort_status ? failed->state.abort_status
                     : status == CHAINFS_SHUTTING_DOWN ? status /* this client stops */
                                                       : CHAINFS_DISCONNECTED;
        failed->state.receiving = false;
        resolve(failed, reason, reason == CHAINFS_DISCONNECTED ? "connection lost" : NULL);
        failed = next;
    }
    log_debug("connection to %s closed: %s", connection_peer(connection), chainfs_error_name(status));
    session_unref(session); /* the connection's reference */
}

static const struct connection_handler client_connection_handler = {
    .payload_destination = client_payload_destination,
    .frame_received = client_frame_received,
    .frame_aborted = client_frame_aborted,
    .closed = client_connection_closed,
};

/* --- connecting -------------------------------------------------------------------- */

static int connect_socket(const char *address_text, uint64_t timeout_ns, int *result)
{
    struct net_address address;
    if (net_address_parse(address_text, &address) != 0)
        return CHAINFS_INVALID_ARGUMENT;
    int fd = socket(address.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return CHAINFS_IO;
    if (connect(fd, (struct sockaddr *)&address.storage, address.length) != 0) {
        if (errno != EINPROGRESS) {
            close(fd);
            return CHAINFS_CONNECT_FAILED;
        }
        struct pollfd wait = {.fd = fd, .events = POLLOUT};
        int error = 0;
        socklen_t length = sizeof(error);
        int wait_ms = timeout_ns / CLOCK_NS_PER_MS > 0 ? (int)(timeout_ns / CLOCK_NS_PER_MS) : 1;
        if (poll(&wait, 1, wait_ms) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0 || error != 0) {
            close(fd);
            return CHAINFS_CONNECT_FAILED;
        }
    }
    *result = fd;
    return 0;
}

/* Connects and installs the new session as channel->session. The channel's lock is
 * held by the caller; the session is installed under client->lock, before the
 * connection can report its close, so that the closed handler always finds it. */
static int session_open(struct rpc_client *client, const char *address, uint64_t timeout_ns,
                        struct client_channel *channel)
{
    int fd;
    int status = connect_socket(address, timeout_ns, &fd);
    if (status != 0) {
        log_debug("cannot connect to %s: %s", address, chainfs_error_name(status));
        return status;
    }
    struct client_session *session = calloc(1, sizeof(*session));
    if (!session) {
        close(fd);
        return CHAINFS_NO_MEMORY;
    }
    session->client = client;
    atomic_init(&session->references, 2);
    atomic_init(&session->next_request_id, 1);
    pthread_mutex_init(&session->pending_lock, NULL);
    struct frame_limits limits = {client->options.max_body_length,
                                  client->options.max_payload_length};
    size_t index = atomic_fetch_add(&client->next_loop, 1) % client->loop_count;
    pthread_mutex_lock(&client->lock); /* listed before the first event can close it */
    status = connection_create(fd, client->loops[index].loop, &client_connection_handler,
                               &limits, session, &session->connection);
    if (status != 0) {
        pthread_mutex_unlock(&client->lock);
        close(fd);
        pthread_mutex_destroy(&session->pending_lock);
        free(session);
        return status;
    }
    session->next = client->sessions;
    if (client->sessions)
        client->sessions->previous = session;
    client->sessions = session;
    channel->session = session;
    pthread_mutex_unlock(&client->lock);
    /* The caller's connection reference is not needed: the session holds one through
     * connection_create's second reference, released in session_unref. */
    return 0;
}

static bool session_is_closed(struct client_session *session)
{
    pthread_mutex_lock(&session->pending_lock);
    bool closed = session->closed;
    pthread_mutex_unlock(&session->pending_lock);
    return closed;
}

static struct client_channel *channel_for(struct rpc_client *client, const char *address)
{
    pthread_mutex_lock(&client->lock);
    struct client_channel *channel = client->channels;
    while (channel && strcmp(channel->address, address) != 0)
        channel = channel->next;
    if (!channel && strlen(address) < sizeof(channel->address) &&
        (channel = calloc(1, sizeof(*channel))) != NULL) {
        snprintf(channel->address, sizeof(channel->address), "%s", address);
        pthread_mutex_init(&channel->lock, NULL);
        channel->next = client->channels;
        client->channels = channel;
    }
    pthread_mutex_unlock(&client->lock);
    return channel;
}

/* A referenced, open session for address, connecting if needed (waiting at most
 * timeout_ns for the connection). Callers that queued behind an attempt that failed
 * share its failure instead of trying again one after another: against a host that
 * drops packets every attempt takes the whole timeout. */
static int session_for(struct rpc_client *client, const char *address, uint64_t timeout_ns,
                       struct client_session **result)
{
    struct client_channel *channel = channel_for(client, address);
    if (!channel)
        return CHAINFS_INVALID_ARGUMENT;
    uint64_t arrived = clock_now_ns();
    pthread_mutex_lock(&channel->lock);
    int status = 0;
    if (channel->session && session_is_closed(channel->session)) {
        session_unref(channel->session); /* the channel's reference */
        channel->session = NULL;
    }
    if (!channel->session && channel->failed_at_ns > arrived) {
        status = CHAINFS_CONNECT_FAILED;
    } else if (!channel->session) {
        status = session_open(client, address, timeout_ns, channel);
        if (status != 0)
            channel->failed_at_ns = clock_now_ns();
    }
    if (status == 0) {
        atomic_fetch_add(&channel->session->references, 1);
        *result = channel->session;
    }
    pthread_mutex_unlock(&channel->lock);
    return status;
}

/* --- calls ------------------------------------------------------------------------- */

void rpc_call_init(struct rpc_call *call, uint16_t service_id, uint16_t method_id)
{
    memset(call, 0, sizeof(*call));
    call->service_id = service_id;
    call->method_id = method_id;
}

/* Enters the call into the session's pending table unless the session closed. */
static bool pending_insert(struct client_session *session, struct rpc_call *call)
{
    pthread_mutex_lock(&session->pending_lock);
    bool open = !session->closed;
    if (open) {
        struct rpc_call **bucket = &session->pending[call->state.request_id % PENDING_BUCKETS];
        call->state.next_pending = *bucket;
        *bucket = call;
        session->pending_count++;
    }
    pthread_mutex_unlock(&session->pending_lock);
    return open;
}

static void reset_result(struct rpc_call *call)
{
    call->status = 0;
    call->reply_message = NULL;
    call->reply_message_length = 0;
    call->reply_payload = NULL;
    call->reply_payload_length = 0;
    call->error_text[0] = '\0';
    memset(&call->state, 0, sizeof(call->state));
}

int rpc_call_start(struct rpc_client *client, const char *address, struct rpc_call *call)
{
    if (call->message_length > client->options.max_body_length - FRAME_ENVELOPE_SIZE ||
        call->payload_length > UINT32_MAX || !call->on_complete)
        return CHAINFS_INVALID_ARGUMENT;
    if (atomic_load(&client->shut_down)) {
        snprintf(call->error_text, sizeof(call->error_text), "%s is shutting down", client->name);
        return CHAINFS_SHUTTING_DOWN;
    }
    uint64_t timeout = call->timeout_ns ? call->timeout_ns : client->options.default_timeout_ns;
    uint64_t connect_timeout = client->options.connect_timeout_ns;
    if (timeout < connect_timeout) /* a call never waits past its own deadline */
        connect_timeout = timeout;
    struct client_session *session;
    int status = session_for(client, address, connect_timeout, &session);
    if (status != 0) {
        snprintf(call->error_text, sizeof(call->error_text), "cannot connect to %s", address);
        return status;
    }
    if (atomic_load(&client->shut_down)) { /* shut down while connecting */
        session_unref(session);
        snprintf(call->error_text, sizeof(call->error_text), "%s is shutting down", client->name);
        return CHAINFS_SHUTTING_DOWN;
    }
    reset_result(call);
    call->state.session = session;
    call->state.request_id = atomic_fetch_add(&session->next_request_id, 1);
    call->state.deadline = deadline_after_ns(timeout);
    atomic_init(&call->state.holds, 2);
    if (!pending_insert(session, call)) {
        session_unref(session);
        snprintf(call->error_text, sizeof(call->error_text), "connection to %s lost", address);
        return CHAINFS_DISCONNECTED;
    }
    struct frame_envelope envelope = {
        .request_id = call->state.request_id,
        .service_id = call->service_id,
        .method_id = call->method_id,
        .timeout_us = timeout >= DEADLINE_NEVER - 999 ? 0 : (timeout + 999) / 1000,
        .trace_id = call->trace_id,
    };
    outgoing_frame_prepare(&call->state.outgoing, 0, &envelope, call->message,
                           call->message_length, call->payload, call->payload_length,
                           call->payload_crc);
    call->state.outgoing.release = request_released;
    connection_send(session->connection, &call->state.outgoing);
    /* While the call is pending its session stays alive through the connection's
     * reference: the closed handler resolves every pending call before dropping it. */
    session_unref(session);
    return 0;
}

struct sync_waiter {
    pthread_mutex_t lock;
    pthread_cond_t done_signal;
    bool done;
};

static void wake_waiter(struct rpc_call *call)
{
    struct sync_waiter *waiter = call->user_data;
    pthread_mutex_lock(&waiter->lock);
    waiter->done = true;
    pthread_cond_signal(&waiter->done_signal);
    pthread_mutex_unlock(&waiter->lock);
}

int rpc_call_sync(struct rpc_client *client, const char *address, struct rpc_call *call)
{
    struct sync_waiter waiter = {.done = false};
    pthread_mutex_init(&waiter.lock, NULL);
    pthread_cond_init(&waiter.done_signal, NULL);
    call->on_complete = wake_waiter;
    call->user_data = &waiter;
    int status = rpc_call_start(client, address, call);
    if (status == 0) {
        pthread_mutex_lock(&waiter.lock);
        while (!waiter.done)
            pthread_cond_wait(&waiter.done_signal, &waiter.lock);
        pthread_mutex_unlock(&waiter.lock);
        status = call->status;
    } else {
        call->status = status;
    }
    pthread_cond_destroy(&waiter.done_signal);
    pthread_mutex_destroy(&waiter.lock);
    return status;
}

int rpc_call_sync_retry(struct rpc_client *client, const char *address, struct rpc_call *call,
                        int attempts)
{
    uint64_t backoff = 10 * CLOCK_NS_PER_MS;
    int status = CHAINFS_RETRY_EXHAUSTED;
    for (int attempt = 0; attempt < attempts; attempt++) {
        rpc_call_release(call);
        status = rpc_call_sync(client, address, call);
        if (status == 0 || !chainfs_error_is_retryable(status))
            return status;
        log_debug("call %u/%u to %s failed (%s), retry %d of %d", call->service_id,
                  call->method_id, address, chainfs_error_name(status), attempt + 1, attempts);
        clock_sleep_ns(backoff + (uint64_t)rand() % (backoff / 2 + 1));
        if (backoff < CLOCK_NS_PER_S)
            backoff *= 2;
    }
    return status;
}

void rpc_call_release(struct rpc_call *call)
{
    free(call->state.reply_body);
    free(call->state.allocated_payload);
    call->state.reply_body = NULL;
    call->state.allocated_payload = NULL;
    call->reply_message = NULL;
    call->reply_payload = NULL;
}

/* --- lifecycle --------------------------------------------------------------------- */

int rpc_client_create(const struct rpc_client_options *options, struct rpc_client **result)
{
    if (options->io_threads == 0 || options->io_threads > MAX_CLIENT_LOOPS ||
        options->max_body_length < FRAME_ENVELOPE_SIZE)
        return CHAINFS_INVALID_ARGUMENT;
    struct rpc_client *client = calloc(1, sizeof(*client));
    if (!client)
        return CHAINFS_NO_MEMORY;
    client->options = *options;
    snprintf(client->name, sizeof(client->name), "%s", options->name);
    client->options.name = client->name;
    pthread_mutex_init(&client->lock, NULL);
    for (size_t i = 0; i < options->io_threads; i++) {
        char name[40];
        snprintf(name, sizeof(name), "%.9s-io%zu", client->name, i);
        struct client_loop *slot = &client->loops[i];
        slot->client = client;
        int status = event_loop_create(name, &slot->loop);
        if (status == 0) {
            client->loop_count++;
            event_loop_set_tick(slot->loop, expire_calls, slot, TICK_INTERVAL_NS);
            status = event_loop_start(slot->loop);
        }
        if (status != 0) {
            rpc_client_destroy(client);
            return status;
        }
    }
    *result = client;
    return 0;
}

void rpc_client_shutdown(struct rpc_client *client)
{
    atomic_store(&client->shut_down, true);
    pthread_mutex_lock(&client->lock);
    for (struct client_session *session = client->sessions; session; session = session->next)
        connection_close(session->connection, CHAINFS_SHUTTING_DOWN);
    pthread_mutex_unlock(&client->lock);
}

void rpc_client_destroy(struct rpc_client *client)
{
    if (!client)
        return;
    rpc_client_shutdown(client);
    for (size_t i = 0; i < client->loop_count; i++)
        event_loop_stop(client->loops[i].loop); /* runs the posted closes first */
    struct client_channel *channel = client->channels;
    while (channel) {
        struct client_channel *next = channel->next;
        if (channel->session)
            session_unref(channel->session);
        pthread_mutex_destroy(&channel->lock);
        free(channel);
        channel = next;
    }
    for (size_t i = 0; i < client->loop_count; i++)
        event_loop_destroy(client->loops[i].loop);
    pthread_mutex_destroy(&client->lock);
    free(client);
}
