/*
 * fuzz_connection.c - libFuzzer target for the connection's receive state machine.
 *
 * Each input is written into one end of a socket pair whose other end is a real
 * connection on a real event loop (as in the server): header, body, payload
 * placement, checksums, limits, EOF in the middle of a frame. Every complete frame is
 * answered with a small reply so the send path runs too. The input then ends (EOF)
 * and the target waits until the connection closed; leaks and bad accesses are
 * caught by AddressSanitizer.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "net/connection.h"
#include "net/event_loop.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct event_loop *loop;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t closed_signal = PTHREAD_COND_INITIALIZER;
static bool closed;

struct reply {
    struct outgoing_frame frame;
};

static void reply_released(struct outgoing_frame *frame, int status)
{
    free(frame);
}

static void *choose_destination(struct connection *connection, struct incoming_frame *frame)
{
    /* Odd request ids are discarded, like payloads over a server's byte budget. */
    return (frame->envelope.request_id & 1) ? NULL : malloc(frame->header.payload_length);
}

static void frame_received(struct connection *connection, struct incoming_frame *frame)
{
    struct outgoing_frame *reply = malloc(sizeof(*reply));
    struct frame_envelope envelope = frame->envelope;
    envelope.status = 0;
    outgoing_frame_prepare(reply, FRAME_FLAG_REPLY, &envelope, NULL, 0, NULL, 0, false);
    reply->release = reply_released;
    connection_send(connection, reply);
    if (!frame->payload_discarded)
        free(frame->payload);
    free(frame->body);
}

static void frame_aborted(struct connection *connection, struct incoming_frame *frame)
{
    free(frame->payload);
}

static void connection_closed(struct connection *connection, int status)
{
    pthread_mutex_lock(&lock);
    closed = true;
    pthread_cond_signal(&closed_signal);
    pthread_mutex_unlock(&lock);
}

static const struct connection_handler handler = {choose_destination, frame_received,
                                                  frame_aborted, connection_closed};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    log_set_level(LOG_LEVEL_OFF);
    event_loop_create("fuzz", &loop);
    event_loop_start(loop);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
        return 0;
    int buffer = 1 << 20;
    setsockopt(pair[1], SOL_SOCKET, SO_SNDBUF, &buffer, sizeof(buffer));
    static const struct frame_limits limits = {.max_body_length = 1 << 16,
                                               .max_payload_length = 1 << 20};
    struct connection *connection;
    closed = false;
    if (connection_create(pair[0], loop, &handler, &limits, NULL, &connection) != 0) {
        close(pair[0]);
        close(pair[1]);
        return 0;
    }
    for (size_t written = 0; written < size;) {
        ssize_t count = write(pair[1], data + written, size - written);
        if (count <= 0)
            break; /* the connection closed on a protocol error */
        written += (size_t)count;
    }
    shutdown(pair[1], SHUT_WR);
    pthread_mutex_lock(&lock);
    while (!closed)
        pthread_cond_wait(&closed_signal, &lock);
    pthread_mutex_unlock(&lock);
    close(pair[1]);
    connection_unref(connection);
    return 0;
}
