/*
 * connection.h - one TCP connection carrying chainfs frames in both directions.
 *
 * Shared by the RPC server and client. Receiving is a state machine run by the
 * connection's event loop: header -> body -> payload. The payload is read straight
 * into a buffer chosen by the owner (connection_handler.payload_destination) once
 * header and envelope are known; only bytes that arrived in the same read as the
 * body pass through the connection's read-ahead buffer.
 *
 * Sending is safe from any thread: frames (struct outgoing_frame) are queued and
 * written with writev; payloads are referenced, never copied, and each frame's
 * release() runs once it is fully written or discarded. While the loop processes a
 * batch of received frames, sends are deferred and flushed together afterwards, so
 * many small replies cost one system call.
 */
#ifndef CHAINFS_NET_CONNECTION_H
#define CHAINFS_NET_CONNECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "net/address.h"
#include "net/frame.h"

struct connection;
struct event_loop;

struct outgoing_frame {
    struct outgoing_frame *next;
    uint8_t prefix[FRAME_PREFIX_SIZE];
    struct iovec iov[3];
    int iov_count;
    size_t total_length;
    size_t sent_length;
    /* Called exactly once: status 0 when written, else why it was discarded. */
    void (*release)(struct outgoing_frame *frame, int status);
};

/* Fills frame with header, envelope, message and payload references. The message and
 * payload must stay valid until release() runs. payload_crc adds a payload checksum. */
void outgoing_frame_prepare(struct outgoing_frame *frame, uint16_t flags,
                            const struct frame_envelope *envelope, const void *message,
                            size_t message_length, const void *payload, size_t payload_length,
                            bool payload_crc);

/* A frame being received, handed to the owner. */
struct incoming_frame {
    struct frame_header header;
    struct frame_envelope envelope;
    uint8_t *body;          /* malloc'd, body_length bytes; the owner may keep it */
    void *payload;          /* where the payload went (set by payload_destination) */
    void *owner_context;    /* free for the owner, e.g. the call being answered */
    bool payload_discarded; /* payload_destination returned NULL */
    bool payload_crc_failed;
};

struct connection_handler {
    /* The body arrived and a payload follows: return a buffer for header.payload_length
     * bytes, or NULL to read and discard the payload. May set frame->owner_context. */
    void *(*payload_destination)(struct connection *connection, struct incoming_frame *frame);
    /* A whole frame arrived. The owner takes frame->body (and the payload buffer). */
    void (*frame_received)(struct connection *connection, struct incoming_frame *frame);
    /* A frame whose payload was being received is dropped because the connection
     * closed; the owner releases what payload_destination handed out. */
    void (*frame_aborted)(struct connection *connection, struct incoming_frame *frame);
    /* The connection closed (status says why); called once, on the loop thread. */
    void (*closed)(struct connection *connection, int status);
};

/* Wraps a connected socket (made non-blocking here) and starts receiving on loop.
 * The new connection holds one reference for its loop; the caller gets another. */
int connection_create(int fd, struct event_loop *loop, const struct connection_handler *handler,
                      const struct frame_limits *limits, void *owner,
                      struct connection **connection);

void connection_ref(struct connection *connection);
void connection_unref(struct connection *connection);

/* Queues a frame and writes as much as the socket takes. After close the frame is
 * released at once with CHAINFS_DISCONNECTED, which is also returned. */
int connection_send(struct connection *connection, struct outgoing_frame *frame);

/* Stops (or resumes) reading from the peer, from any thread: back-pressure when the
 * owner has as much in flight as it accepts. Frames already buffered still arrive. */
void connection_pause_reading(struct connection *connection, bool paused);

/* Closes (from any thread; the work happens on the loop thread). */
void connection_close(struct connection *connection, int status);

bool connection_is_closed(const struct connection *connection);
void *connection_owner(const struct connection *connection);
struct event_loop *connection_loop(const struct connection *connection);
/* "host:port" of the peer, for log lines. */
const char *connection_peer(const struct connection *connection);

#endif /* CHAINFS_NET_CONNECTION_H */
