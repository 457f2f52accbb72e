/*
 * block_io.c - io_uring submission on a ring of the calling thread, and the
 * synchronous fallback.
 *
 * Why a ring per thread: callers are ordinary blocking threads (the engine's API is
 * synchronous) and each waits for its own request anyway. Waiting in io_uring_enter on
 * its own ring costs the caller one wake-up per request. The earlier design, one
 * shared ring with a completion thread that woke the owner of each completion, cost
 * three (the kernel runs the completion's task work in the submitting thread, which
 * woke the completion thread, which woke the caller): on the 2-core test machine those
 * wake-ups were most of a 4 KiB read's CPU time in a storage service. The device still
 * sees the queue depth of all callers together.
 */
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_COMPONENT "storage"
#include "chainfs/error.h"
#include "common/log.h"
#include "storage/block_io.h"

/* A caller has one request in flight at a time; a few entries spare. */
#define THREAD_RING_ENTRIES 4

enum request_kind { REQUEST_READ, REQUEST_WRITE, REQUEST_SYNC };

struct block_io {
    bool uses_uring;
};

/* The calling thread's ring: set up at its first request, torn down by the key's
 * destructor when the thread ends. */
enum ring_state { RING_NONE, RING_READY, RING_FAILED };
static __thread struct io_uring thread_ring;
static __thread enum ring_state thread_ring_state;
static pthread_key_t ring_key;
static pthread_once_t ring_key_once = PTHREAD_ONCE_INIT;

static void end_thread_ring(void *argument)
{
    (void)argument;
    if (thread_ring_state == RING_READY)
        io_uring_queue_exit(&thread_ring);
    thread_ring_state = RING_NONE;
}

/* A forked child inherits the forking thread's ring, but the kernel takes requests on a
 * single-issuer ring only from the thread that made it: the child makes its own. */
static void forget_ring_after_fork(void)
{
    end_thread_ring(NULL);
}

static void make_ring_key(void)
{
    if (pthread_key_create(&ring_key, end_thread_ring) != 0)
        log_warn("no thread key for io_uring rings: rings of ended threads are not freed");
    pthread_atfork(NULL, NULL, forget_ring_after_fork);
}

/* The calling thread's ring, or NULL when io_uring cannot be set up (logged once per
 * thread; the caller then uses pread/pwrite). */
static struct io_uring *calling_thread_ring(void)
{
    if (thread_ring_state == RING_READY)
        return &thread_ring;
    if (thread_ring_state == RING_FAILED)
        return NULL;
    pthread_once(&ring_key_once, make_ring_key);
    /* completions are reaped only by this thread, while it waits in io_uring_enter */
    int result = io_uring_queue_init(THREAD_RING_ENTRIES, &thread_ring,
                                     IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN);
    if (result == -EINVAL) /* a kernel before 6.1 */
        result = io_uring_queue_init(THREAD_RING_ENTRIES, &thread_ring, 0);
    if (result < 0) {
        log_warn("io_uring unavailable (%s); using synchronous pread/pwrite",
                 strerror(-result));
        thread_ring_state = RING_FAILED;
        return NULL;
    }
    thread_ring_state = RING_READY;
    pthread_setspecific(ring_key, &thread_ring); /* non-NULL: the destructor runs */
    return &thread_ring;
}

/* One operation through the calling thread's ring, waiting for its completion;
 * returns res (or -errno of the submission). */
static int run_on_ring(struct io_uring *ring, enum request_kind kind, int fd, void *buffer,
                       size_t length, uint64_t offset)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring); /* free: nothing else in flight */
    if (sqe == NULL)
        return -EBUSY;
    if (kind == REQUEST_READ)
        io_uring_prep_read(sqe, fd, buffer, (unsigned)length, offset);
    else if (kind == REQUEST_WRITE)
        io_uring_prep_write(sqe, fd, buffer, (unsigned)length, offset);
    else
        io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
    int result;
    do
        result = io_uring_submit(ring);
    while (result == -EINTR);
    if (result < 0)
        return result;
    struct io_uring_cqe *cqe;
    do
        result = io_uring_wait_cqe(ring, &cqe);
    while (result == -EINTR);
    if (result < 0)
        return result; /* cannot happen with a submitted request on a live ring */
    result = cqe->res;
    io_uring_cqe_seen(ring, cqe);
    return result;
}

static int run_synchronously(enum request_kind kind, int fd, void *buffer, size_t length,
                             uint64_t offset)
{
    ssize_t result;
    do {
        if (kind == REQUEST_READ)
            result = pread(fd, buffer, length, (off_t)offset);
        else if (kind == REQUEST_WRITE)
            result = pwrite(fd, buffer, length, (off_t)offset);
        else
            result = fdatasync(fd);
    } while (result < 0 && errno == EINTR);
    return result < 0 ? -errno : (int)result;
}

static int run_once(struct block_io *io, enum request_kind kind, int fd, void *buffer,
                    size_t length, uint64_t offset)
{
    struct io_uring *ring = io->uses_uring ? calling_thread_ring() : NULL;
    if (ring)
        return run_on_ring(ring, kind, fd, buffer, length, offset);
    return run_synchronously(kind, fd, buffer, length, offset);
}

/* Transfers all of length, resubmitting after short transfers. */
static int transfer(struct block_io *io, enum request_kind kind, int fd, void *buffer,
                    size_t length, uint64_t offset)
{
    /* One request moves at most 1 GiB so the byte count always fits res. */
    const size_t max_request = (size_t)1 << 30;
    size_t done = 0;
    while (done < length) {
        size_t step = length - done < max_request ? length - done : max_request;
        int result = run_once(io, kind, fd, (char *)buffer + done, step, offset + done);
        if (result == -EINTR || result == -EAGAIN)
            continue;
        if (result < 0) {
            log_error("%s of %zu bytes at %llu failed: %s",
                      kind == REQUEST_READ ? "read" : "write", step,
                      (unsigned long long)(offset + done), strerror(-result));
            return result == -ENOSPC ? CHAINFS_NO_SPACE : CHAINFS_IO;
        }
        if (result == 0) {
            log_error("%s at %llu hit the end of the file",
                      kind == REQUEST_READ ? "read" : "write",
                      (unsigned long long)(offset + done));
            return CHAINFS_IO;
        }
        done += (size_t)result;
    }
    return CHAINFS_OK;
}

int block_io_read(struct block_io *io, int fd, void *buffer, size_t length, uint64_t offset)
{
    return transfer(io, REQUEST_READ, fd, buffer, length, offset);
}

int block_io_write(struct block_io *io, int fd, const void *buffer, size_t length,
                   uint64_t offset)
{
    return transfer(io, REQUEST_WRITE, fd, (void *)buffer, length, offset);
}

int block_io_sync(struct block_io *io, int fd)
{
    int result;
    do
        result = run_once(io, REQUEST_SYNC, fd, NULL, 0, 0);
    while (result == -EINTR);
    if (result < 0) {
        log_error("fdatasync failed: %s", strerror(-result));
        return CHAINFS_IO;
    }
    return CHAINFS_OK;
}

bool block_io_uses_uring(const struct block_io *io)
{
    return io->uses_uring;
}

int block_io_open(unsigned queue_depth, bool force_synchronous, struct block_io **io_out)
{
    (void)queue_depth; /* each thread has one request in flight on its own ring */
    struct block_io *io = calloc(1, sizeof(*io));
    if (io == NULL)
        return CHAINFS_NO_MEMORY;
    /* the opening thread's ring tells whether this kernel lets us use io_uring */
    io->uses_uring = !force_synchronous && calling_thread_ring() != NULL;
    *io_out = io;
    return CHAINFS_OK;
}

void block_io_close(struct block_io *io)
{
    free(io); /* the rings belong to the threads */
}
