/*
 * connection.c - framed, non-blocking TCP connection driven by an event loop.
 *
 * Threading: receiving and closing happen on the loop thread only; sending may come
 * from any thread and is serialized by send_lock, which also guards `closed`, so the
 * descriptor is never written after close.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOG_COMPONENT "net"
#include "chainfs/error.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "net/connection.h"
#include "net/event_loop.h"

#define READ_AHEAD_SIZE (64 * 1024)
#define DIRECT_READ_MIN (16 * 1024) /* payload left to read straight into its buffer */
#define READ_BUDGET (8u << 20)      /* bytes per readiness event, for fairness */
#define SEND_IOV_MAX 96

enum receive_state { RECEIVE_HEADER, RECEIVE_BODY, RECEIVE_PAYLOAD };

struct connection {
    struct event_source source;
    struct event_loop *loop;
    const struct connection_handler *handler;
    struct frame_limits limits;
    void *owner;
    atomic_int references;
    char peer[ADDRESS_TEXT_MAX];

    /* receiving: loop thread only */
    enum receive_state state;
    uint8_t header_bytes[FRAME_HEADER_SIZE];
    struct incoming_frame frame;
    size_t received; /* bytes of the current section (header, body or payload) */
    uint8_t *read_ahead;
    size_t read_start;
    size_t read_end;

    /* sending: guarded by send_lock */
    pthread_mutex_t send_lock;
    struct outgoing_frame *send_head;
    struct outgoing_frame *send_tail;
    bool deferring;        /* the loop is handling a read batch and will flush after */
    bool waiting_writable; /* EPOLLOUT is armed */
    bool reading_paused;   /* EPOLLIN is disarmed: the owner has too much in flight */
    bool closed;
    bool close_posted;
    int close_status;
};

static void do_close(struct connection *connection, int status);

void outgoing_frame_prepare(struct outgoing_frame *frame, uint16_t flags,
                            const struct frame_envelope *envelope, const void *message,
                            size_t message_length, const void *payload, size_t payload_length,
                            bool payload_crc)
{
    uint32_t checksum = 0;
    if (payload_crc) { /* also without a payload: asks the peer to checksum its reply */
        flags |= FRAME_FLAG_PAYLOAD_CRC;
        checksum = crc32c(0, payload, payload_length);
    }
    frame_encode_prefix(frame->prefix, flags, envelope, message, message_length,
                        (uint32_t)payload_length, checksum);
    frame->next = NULL;
    frame->iov[0] = (struct iovec){frame->prefix, FRAME_PREFIX_SIZE};
    frame->iov_count = 1;
    if (message_length)
        frame->iov[frame->iov_count++] = (struct iovec){(void *)message, message_length};
    if (payload_length)
        frame->iov[frame->iov_count++] = (struct iovec){(void *)payload, payload_length};
    frame->total_length = FRAME_PREFIX_SIZE + message_length + payload_length;
    frame->sent_length = 0;
}

void connection_ref(struct connection *connection)
{
    atomic_fetch_add(&connection->references, 1);
}

void connection_unref(struct connection *connection)
{
    if (atomic_fetch_sub(&connection->references, 1) != 1)
        return;
    free(connection->read_ahead);
    pthread_mutex_destroy(&connection->send_lock);
    free(connection);
}

bool connection_is_closed(const struct connection *connection)
{
    return __atomic_load_n(&connection->closed, __ATOMIC_ACQUIRE);
}

void *connection_owner(const struct connection *connection) { return connection->owner; }

struct event_loop *connection_loop(const struct connection *connection)
{
    return connection->loop;
}

const char *connection_peer(const struct connection *connection) { return connection->peer; }

/* --- sending -------------------------------------------------------------------- */

/* Appends the unsent part of frame to iov; returns the number of entries added. */
static int remaining_iov(const struct outgoing_frame *frame, struct iovec *iov)
{
    size_t skip = frame->sent_length;
    int count = 0;
    for (int i = 0; i < frame->iov_count; i++) {
        if (skip >= frame->iov[i].iov_len) {
            skip -= frame->iov[i].iov_len;
            continue;
        }
        iov[count].iov_base = (char *)frame->iov[i].iov_base + skip;
        iov[count].iov_len = frame->iov[i].iov_len - skip;
        skip = 0;
        count++;
    }
    return count;
}

/* Re-arms epoll with what the connection wants now; send_lock held. */
static void update_interest(struct connection *connection)
{
    uint32_t events = (connection->reading_paused ? 0 : EPOLLIN) |
                      (connection->waiting_writable ? EPOLLOUT : 0);
    event_loop_modify(connection->loop, &connection->source, events);
}

static void set_writable_interest(struct connection *connection, bool wanted)
{
    if (connection->waiting_writable == wanted)
        return;
    connection->waiting_writable = wanted;
    update_interest(connection);
}

void connection_pause_reading(struct connection *connection, bool paused)
{
    pthread_mutex_lock(&connection->send_lock);
    if (!connection->closed && connection->reading_paused != paused) {
        __atomic_store_n(&connection->reading_paused, paused, __ATOMIC_RELAXED);
        update_interest(connection);
    }
    pthread_mutex_unlock(&connection->send_lock);
}

/* Writes queued frames while the socket accepts them. Fully written frames move to
 * *done (released by the caller after unlocking). send_lock must be held. */
static int flush_locked(struct connection *connection, struct outgoing_frame **done)
{
    while (connection->send_head) {
        struct iovec iov[SEND_IOV_MAX];
        int count = 0;
        for (struct outgoing_frame *frame = connection->send_head;
             frame && count + 3 <= SEND_IOV_MAX; frame = frame->next)
            count += remaining_iov(frame, iov + count);
        struct msghdr message = {.msg_iov = iov, .msg_iovlen = (size_t)count};
        ssize_t written = sendmsg(connection->source.fd, &message, MSG_NOSIGNAL);
        if (written < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                set_writable_interest(connection, true);
                return 0;
            }
            return CHAINFS_DISCONNECTED;
        }
        size_t left = (size_t)written;
        while (left > 0) {
            struct outgoing_frame *frame = connection->send_head;
            size_t unsent = frame->total_length - frame->sent_length;
            if (left < unsent) {
                frame->sent_length += left;
                break;
            }
            left -= unsent;
            frame->sent_length = frame->total_length;
            connection->send_head = frame->next;
            if (!connection->send_head)
                connection->send_tail = NULL;
            frame->next = *done;
            *done = frame;
        }
    }
    set_writable_interest(connection, false);
    return 0;
}

static void release_frames(struct outgoing_frame *frames, int status)
{
    while (frames) {
        struct outgoing_frame *next = frames->next;
        frames->release(frames, status);
        frames = next;
    }
}

/* Flushes (unless deferring or waiting for EPOLLOUT) and releases what was written.
 * Takes and drops send_lock. */
static void flush(struct connection *connection)
{
    struct outgoing_frame *done = NULL;
    pthread_mutex_lock(&connection->send_lock);
    int status = 0;
    if (!connection->closed && !connection->deferring)
        status = flush_locked(connection, &done);
    pthread_mutex_unlock(&connection->send_lock);
    release_frames(done, 0);
    if (status != 0)
        connection_close(connection, status);
}

int connection_send(struct connection *connection, struct outgoing_frame *frame)
{
    frame->next = NULL;
    pthread_mutex_lock(&connection->send_lock);
    if (connection->closed) {
        pthread_mutex_unlock(&connection->send_lock);
        frame->release(frame, CHAINFS_DISCONNECTED);
        return CHAINFS_DISCONNECTED;
    }
    if (connection->send_tail)
        connection->send_tail->next = frame;
    else
        connection->send_head = frame;
    connection->send_tail = frame;
    bool write_now = !connection->deferring && !connection->waiting_writable;
    pthread_mutex_unlock(&connection->send_lock);
    if (write_now)
        flush(connection);
    return 0;
}

/* --- receiving ------------------------------------------------------------------ */

static void deliver_frame(struct connection *connection)
{
    struct incoming_frame frame = connection->frame;
    memset(&connection->frame, 0, sizeof(connection->frame));
    connection->state = RECEIVE_HEADER;
    connection->received = 0;
    connection->handler->frame_received(connection, &frame);
}

static bool begin_body(struct connection *connection)
{
    const char *reason = NULL;
    int status = frame_decode_header(connection->header_bytes, &connection->limits,
                                     &connection->frame.header, &reason);
    if (status != 0) {
        log_warn("closing connection from %s: %s", connection->peer, reason);
        do_close(connection, status);
        return false;
    }
    connection->frame.body = malloc(connection->frame.header.body_length);
    if (!connection->frame.body) {
        log_error("closing connection from %s: out of memory for a %u-byte body",
                  connection->peer, connection->frame.header.body_length);
        do_close(connection, CHAINFS_NO_MEMORY);
        return false;
    }
    connection->state = RECEIVE_BODY;
    connection->received = 0;
    return true;
}

static bool finish_body(struct connection *connection)
{
    struct incoming_frame *frame = &connection->frame;
    if (!frame_check_crc(connection->header_bytes, &frame->header, frame->body)) {
        log_warn("closing connection from %s: frame checksum mismatch", connection->peer);
        do_close(connection, CHAINFS_CHECKSUM);
        return false;
    }
    frame_decode_envelope(frame->body, &frame->envelope);
    if (frame->header.payload_length == 0) {
        deliver_frame(connection);
        return true;
    }
    frame->payload = connection->handler->payload_destination(connection, frame);
    frame->payload_discarded = frame->payload == NULL;
    connection->state = RECEIVE_PAYLOAD;
    connection->received = 0;
    return true;
}

static void finish_payload(struct connection *connection)
{
    struct incoming_frame *frame = &connection->frame;
    if ((frame->header.flags & FRAME_FLAG_PAYLOAD_CRC) && !frame->payload_discarded &&
        crc32c(0, frame->payload, frame->header.payload_length) != frame->header.payload_crc)
        frame->payload_crc_failed = true;
    deliver_frame(connection);
}

static size_t section_length(const struct connection *connection)
{
    switch (connection->state) {
    case RECEIVE_HEADER: return FRAME_HEADER_SIZE;
    case RECEIVE_BODY: return connection->frame.header.body_length;
    default: return connection->frame.header.payload_length;
    }
}

/* Consumes buffered bytes into the current frame. Returns false once closed. */
static bool consume_read_ahead(struct connection *connection)
{
    while (connection->read_start < connection->read_end && !connection->closed) {
        size_t available = connection->read_end - connection->read_start;
        size_t wanted = section_length(connection) - connection->received;
        size_t take = available < wanted ? available : wanted;
        const uint8_t *from = connection->read_ahead + connection->read_start;
        if (connection->state == RECEIVE_HEADER)
            memcpy(connection->header_bytes + connection->received, from, take);
        else if (connection->state == RECEIVE_BODY)
            memcpy(connection->frame.body + connection->received, from, take);
        else if (!connection->frame.payload_discarded)
            memcpy((uint8_t *)connection->frame.payload + connection->received, from, take);
        connection->received += take;
        connection->read_start += take;
        if (connection->received < section_length(connection))
            continue;
        if (connection->state == RECEIVE_HEADER) {
            if (!begin_body(connection))
                return false;
        } else if (connection->state == RECEIVE_BODY) {
            if (!finish_body(connection))
                return false;
        } else {
            finish_payload(connection);
        }
    }
    return !connection->closed;
}

/* Reads the rest of a large payload straight into its destination. Returns the
 * recv() result. */
static ssize_t read_payload_directly(struct connection *connection)
{
    size_t wanted = connection->frame.header.payload_length - connection->received;
    ssize_t count = recv(connection->source.fd,
                         (uint8_t *)connection->frame.payload + connection->received, wanted, 0);
    if (count > 0) {
        connection->received += (size_t)count;
        if (connection->received == connection->frame.header.payload_length)
            finish_payload(connection);
    }
    return count;
}

static bool wants_direct_read(const struct connection *connection)
{
    return connection->state == RECEIVE_PAYLOAD && !connection->frame.payload_discarded &&
           connection->read_start == connection->read_end &&
           connection->frame.header.payload_length - connection->received >= DIRECT_READ_MIN;
}

static ssize_t read_into_read_ahead(struct connection *connection, size_t *asked)
{
    if (connection->read_start == connection->read_end) {
        connection->read_start = connection->read_end = 0;
    } else if (connection->read_end == READ_AHEAD_SIZE) {
        size_t kept = connection->read_end - connection->read_start;
        memmove(connection->read_ahead, connection->read_ahead + connection->read_start, kept);
        connection->read_start = 0;
        connection->read_end = kept;
    }
    *asked = READ_AHEAD_SIZE - connection->read_end;
    ssize_t count = recv(connection->source.fd, connection->read_ahead + connection->read_end,
                         *asked, 0);
    if (count > 0) {
        connection->read_end += (size_t)count;
        consume_read_ahead(connection);
    }
    return count;
}

static void handle_readable(struct connection *connection)
{
    size_t budget = READ_BUDGET;
    while (!connection->closed && !__atomic_load_n(&connection->reading_paused, __ATOMIC_RELAXED) &&
           budget > 0) {
        size_t asked = 0;
        ssize_t count;
        if (wants_direct_read(connection)) {
            asked = connection->frame.header.payload_length - connection->received;
            count = read_payload_directly(connection);
        } else {
            count = read_into_read_ahead(connection, &asked);
        }
        if (count == 0) {
            if (connection->state != RECEIVE_HEADER || connection->received != 0)
                log_warn("connection from %s closed in the middle of a frame", connection->peer);
            do_close(connection, CHAINFS_DISCONNECTED);
            return;
        }
        if (count < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                do_close(connection, CHAINFS_DISCONNECTED);
            return;
        }
        budget -= (size_t)count < budget ? (size_t)count : budget;
        if ((size_t)count < asked)
            return; /* drained: level-triggered epoll reports more */
    }
}

static void set_deferring(struct connection *connection, bool deferring)
{
    pthread_mutex_lock(&connection->send_lock);
    connection->deferring = deferring;
    pthread_mutex_unlock(&connection->send_lock);
}

static void handle_event(struct event_source *source, uint32_t events)
{
    struct connection *connection = (struct connection *)source;
    if (connection->closed)
        return;
    connection_ref(connection);
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        set_deferring(connection, true);
        handle_readable(connection);
        set_deferring(connection, false);
    }
    /* Flushes what the batch queued, or what EPOLLOUT says now fits; flush_locked
     * disarms EPOLLOUT once the queue is empty. */
    if (!connection->closed)
        flush(connection);
    connection_unref(connection);
}

/* --- lifecycle ------------------------------------------------------------------ */

static void unref_task(void *argument) { connection_unref(argument); }

static void do_close(struct connection *connection, int status)
{
    pthread_mutex_lock(&connection->send_lock);
    if (connection->closed) {
        pthread_mutex_unlock(&connection->send_lock);
        return;
    }
    /* Replies to the valid requests that came before a protocol error still go out
     * (as far as the socket takes them without blocking). */
    struct outgoing_frame *written = NULL;
    if (status != CHAINFS_DISCONNECTED)
        flush_locked(connection, &written);
    __atomic_store_n(&connection->closed, true, __ATOMIC_RELEASE);
    connection->close_status = status;
    struct outgoing_frame *queued = connection->send_head;
    connection->send_head = connection->send_tail = NULL;
    pthread_mutex_unlock(&connection->send_lock);

    event_loop_remove(connection->loop, &connection->source);
    close(connection->source.fd);
    release_frames(written, 0);
    release_frames(queued, CHAINFS_DISCONNECTED);
    if (connection->state == RECEIVE_PAYLOAD && !connection->frame.payload_discarded)
        connection->handler->frame_aborted(connection, &connection->frame);
    if (connection->state != RECEIVE_HEADER)
        free(connection->frame.body);
    memset(&connection->frame, 0, sizeof(connection->frame));
    connection->handler->closed(connection, status);
    /* The loop's reference goes after this batch: events already fetched for this
     * source may still be dispatched and must find it allocated. */
    if (event_loop_post(connection->loop, unref_task, connection) != 0)
        log_error("cannot queue the release of a connection (out of memory): leaking it");
}

static void close_task(void *argument)
{
    struct connection *connection = argument;
    do_close(connection, connection->close_status);
    connection_unref(connection);
}

void connection_close(struct connection *connection, int status)
{
    if (event_loop_in_thread(connection->loop)) {
        do_close(connection, status);
        return;
    }
    pthread_mutex_lock(&connection->send_lock);
    bool post = !connection->closed && !connection->close_posted;
    if (post) {
        connection->close_posted = true;
        connection->close_status = status;
    }
    pthread_mutex_unlock(&connection->send_lock);
    if (!post)
        return;
    connection_ref(connection);
    if (event_loop_post(connection->loop, close_task, connection) != 0) {
        log_error("cannot queue a connection close (out of memory)");
        connection_unref(connection);
    }
}

int connection_create(int fd, struct event_loop *loop, const struct connection_handler *handler,
                      const struct frame_limits *limits, void *owner, struct connection **result)
{
    struct connection *connection = calloc(1, sizeof(*connection));
    uint8_t *read_ahead = malloc(READ_AHEAD_SIZE);
    if (!connection || !read_ahead) {
        free(connection);
        free(read_ahead);
        return CHAINFS_NO_MEMORY;
    }
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    connection->source.fd = fd;
    connection->source.callback = handle_event;
    connection->loop = loop;
    connection->handler = handler;
    connection->limits = *limits;
    connection->owner = owner;
    connection->read_ahead = read_ahead;
    atomic_init(&connection->references, 2); /* the loop's and the caller's */
    pthread_mutex_init(&connection->send_lock, NULL);
    struct net_address peer;
    if (net_address_of_socket(fd, true, &peer) == 0)
        net_address_format(&peer, connection->peer);
    else
        snprintf(connection->peer, sizeof(connection->peer), "unknown");
    /* Published before it is armed: another loop thread may deliver its first frame
     * (and the owner look up *result) before event_loop_add returns. */
    *result = connection;
    if (event_loop_add(loop, &connection->source, EPOLLIN) != 0) {
        *result = NULL;
        pthread_mutex_destroy(&connection->send_lock);
        free(read_ahead);
        free(connection);
        return CHAINFS_IO;
    }
    return 0;
}
