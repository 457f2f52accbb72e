/*
 * block_io.c - io_uring submission with one completion thread, and the synchronous
 * fallback.
 *
 * Why a completion thread: callers are ordinary blocking threads (the engine's API is
 * synchronous), but many of them may have I/O in flight at once. Letting each caller
 * wait on the ring itself would need the ring's completion side to be shared between
 * threads; one reaper that wakes the owner of each completion keeps the ring single-
 * consumer and lets the SSD see the whole queue depth of all callers.
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

#define DEFAULT_QUEUE_DEPTH 256

enum request_kind { REQUEST_READ, REQUEST_WRITE, REQUEST_SYNC };

/* One submitted operation; lives on the caller's stack until it is done. */
struct io_request {
    int result; /* the CQE's res: bytes transferred or -errno */
    bool done;
};

struct block_io {
    bool uses_uring;
    struct io_uring ring;
    pthread_mutex_t submit_lock;
    pthread_t completion_thread;
    pthread_mutex_t completion_lock;
    pthread_cond_t completed;
};

/* user_data of the NOP that tells the completion thread to stop. */
static char stop_marker;

static void *completion_loop(void *argument)
{
    struct block_io *io = argument;
    for (;;) {
        struct io_uring_cqe *cqe;
        int result = io_uring_wait_cqe(&io->ring, &cqe);
        if (result == -EINTR)
            continue;
        if (result < 0) {
            log_error("io_uring_wait_cqe failed: %s", strerror(-result));
            continue;
        }
        void *user_data = io_uring_cqe_get_data(cqe);
        int completion = cqe->res;
        io_uring_cqe_seen(&io->ring, cqe);
        if (user_data == &stop_marker)
            return NULL;
        struct io_request *request = user_data;
        pthread_mutex_lock(&io->completion_lock);
        request->result = completion;
        request->done = true;
        pthread_cond_broadcast(&io->completed);
        pthread_mutex_unlock(&io->completion_lock);
    }
}

/* Takes a free submission entry, flushing the queue to the kernel when it is full. */
static struct io_uring_sqe *take_sqe(struct block_io *io)
{
    struct io_uring_sqe *sqe;
    while ((sqe = io_uring_get_sqe(&io->ring)) == NULL)
        io_uring_submit(&io->ring);
    return sqe;
}

static int submit(struct block_io *io, enum request_kind kind, int fd, void *buffer,
                  size_t length, uint64_t offset, void *user_data)
{
    pthread_mutex_lock(&io->submit_lock);
    struct io_uring_sqe *sqe = take_sqe(io);
    if (kind == REQUEST_READ)
        io_uring_prep_read(sqe, fd, buffer, (unsigned)length, offset);
    else if (kind == REQUEST_WRITE)
        io_uring_prep_write(sqe, fd, buffer, (unsigned)length, offset);
    else if (fd >= 0)
        io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
    else
        io_uring_prep_nop(sqe);
    io_uring_sqe_set_data(sqe, user_data);
    int result = io_uring_submit(&io->ring);
    pthread_mutex_unlock(&io->submit_lock);
    return result < 0 ? result : 0;
}

/* One operation through the ring, waiting for its completion; returns res. */
static int run_on_ring(struct block_io *io, enum request_kind kind, int fd, void *buffer,
                       size_t length, uint64_t offset)
{
    struct io_request request;
    /* Initialized under the lock the completion thread takes: the kernel hands the
     * request over, but tools like ThreadSanitizer only see ordering through locks. */
    pthread_mutex_lock(&io->completion_lock);
    request = (struct io_request){0, false};
    pthread_mutex_unlock(&io->completion_lock);
    int result = submit(io, kind, fd, buffer, length, offset, &request);
    if (result < 0)
        return result;
    pthread_mutex_lock(&io->completion_lock);
    while (!request.done)
        pthread_cond_wait(&io->completed, &io->completion_lock);
    pthread_mutex_unlock(&io->completion_lock);
    return request.result;
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
    if (io->uses_uring)
        return run_on_ring(io, kind, fd, buffer, length, offset);
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

static bool start_uring(struct block_io *io, unsigned queue_depth)
{
    int result = io_uring_queue_init(queue_depth, &io->ring, 0);
    if (result < 0) {
        log_warn("io_uring unavailable (%s); using synchronous pread/pwrite",
                 strerror(-result));
        return false;
    }
    result = pthread_create(&io->completion_thread, NULL, completion_loop, io);
    if (result != 0) {
        log_warn("cannot start the io_uring completion thread (%s); using synchronous I/O",
                 strerror(result));
        io_uring_queue_exit(&io->ring);
        return false;
    }
    return true;
}

int block_io_open(unsigned queue_depth, bool force_synchronous, struct block_io **io_out)
{
    struct block_io *io = calloc(1, sizeof(*io));
    if (io == NULL)
        return CHAINFS_NO_MEMORY;
    pthread_mutex_init(&io->submit_lock, NULL);
    pthread_mutex_init(&io->completion_lock, NULL);
    pthread_cond_init(&io->completed, NULL);
    if (!force_synchronous)
        io->uses_uring = start_uring(io, queue_depth ? queue_depth : DEFAULT_QUEUE_DEPTH);
    *io_out = io;
    return CHAINFS_OK;
}

void block_io_close(struct block_io *io)
{
    if (io == NULL)
        return;
    if (io->uses_uring) {
        int result = -1;
        for (int attempt = 0; attempt < 100 && result < 0; attempt++) {
            result = submit(io, REQUEST_SYNC, -1, NULL, 0, 0, &stop_marker);
            if (result < 0)
                usleep(10000);
        }
        if (result < 0) {
            /* The thread still waits on the ring: leaking beats freeing under it. */
            log_error("cannot stop the io_uring completion thread; leaking the ring");
            return;
        }
        pthread_join(io->completion_thread, NULL);
        io_uring_queue_exit(&io->ring);
    }
    pthread_cond_destroy(&io->completed);
    pthread_mutex_destroy(&io->completion_lock);
    pthread_mutex_destroy(&io->submit_lock);
    free(io);
}
