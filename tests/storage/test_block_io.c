/*
 * test_block_io.c - block_io (storage/block_io.h): O_DIRECT reads, writes and syncs on
 * the calling thread's io_uring, from many threads at once and from threads that come
 * and go (each sets up and frees its own ring), in a forked child, and the synchronous
 * fallback.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "chainfs/error.h"
#include "common/aligned_buffer.h"
#include "storage/block_io.h"

#define THREADS 8
#define REGION_BYTES (64u << 10)
#define ROUNDS 3

struct fixture {
    char path[64];
    int fd;
};

static int open_fixture(void **state)
{
    struct fixture *fixture = calloc(1, sizeof(*fixture));
    assert_non_null(fixture);
    strcpy(fixture->path, "/tmp/chainfs-test-block-io-XXXXXX");
    int fd = mkstemp(fixture->path);
    assert_true(fd >= 0);
    close(fd);
    fixture->fd = open(fixture->path, O_RDWR | O_DIRECT);
    if (fixture->fd < 0 && errno == EINVAL) /* a file system without O_DIRECT */
        fixture->fd = open(fixture->path, O_RDWR);
    assert_true(fixture->fd >= 0);
    assert_int_equal(ftruncate(fixture->fd, (off_t)THREADS * REGION_BYTES), 0);
    *state = fixture;
    return 0;
}

static int close_fixture(void **state)
{
    struct fixture *fixture = *state;
    close(fixture->fd);
    unlink(fixture->path);
    free(fixture);
    return 0;
}

struct worker {
    struct block_io *io;
    int fd;
    unsigned index;
    unsigned round;
    int write_status, sync_status, read_status;
    bool same;
};

/* Writes this worker's region with its own pattern, syncs, reads it back. */
static void *worker_main(void *argument)
{
    struct worker *worker = argument;
    uint8_t *written = aligned_buffer_alloc(REGION_BYTES);
    uint8_t *read = aligned_buffer_alloc(REGION_BYTES);
    if (!written || !read) {
        worker->write_status = CHAINFS_NO_MEMORY;
    } else {
        for (size_t i = 0; i < REGION_BYTES; i++)
            written[i] = (uint8_t)(i * 31 + worker->index * 7 + worker->round);
        uint64_t offset = (uint64_t)worker->index * REGION_BYTES;
        worker->write_status = block_io_write(worker->io, worker->fd, written, REGION_BYTES, offset);
        worker->sync_status = block_io_sync(worker->io, worker->fd);
        memset(read, 0, REGION_BYTES);
        worker->read_status = block_io_read(worker->io, worker->fd, read, REGION_BYTES, offset);
        worker->same = memcmp(written, read, REGION_BYTES) == 0;
    }
    aligned_buffer_free(written, REGION_BYTES);
    aligned_buffer_free(read, REGION_BYTES);
    return NULL;
}

/* ROUNDS times: THREADS new threads at once, each on its own region. */
static void run_threads(struct block_io *io, int fd)
{
    for (unsigned round = 0; round < ROUNDS; round++) {
        pthread_t threads[THREADS];
        struct worker workers[THREADS];
        for (unsigned i = 0; i < THREADS; i++) {
            workers[i] = (struct worker){.io = io, .fd = fd, .index = i, .round = round};
            assert_int_equal(pthread_create(&threads[i], NULL, worker_main, &workers[i]), 0);
        }
        for (unsigned i = 0; i < THREADS; i++) {
            pthread_join(threads[i], NULL);
            assert_int_equal(workers[i].write_status, CHAINFS_OK);
            assert_int_equal(workers[i].sync_status, CHAINFS_OK);
            assert_int_equal(workers[i].read_status, CHAINFS_OK);
            assert_true(workers[i].same);
        }
    }
}

static void test_threads_on_their_own_rings(void **state)
{
    struct fixture *fixture = *state;
    struct block_io *io;
    assert_int_equal(block_io_open(0, false, &io), CHAINFS_OK);
    run_threads(io, fixture->fd);
    /* the opening thread (this one) has a ring too */
    struct worker self = {.io = io, .fd = fixture->fd, .index = 0, .round = 9};
    worker_main(&self);
    assert_int_equal(self.read_status, CHAINFS_OK);
    assert_true(self.same);
    block_io_close(io);
}

static void test_synchronous_fallback(void **state)
{
    struct fixture *fixture = *state;
    struct block_io *io;
    assert_int_equal(block_io_open(0, true, &io), CHAINFS_OK);
    assert_false(block_io_uses_uring(io));
    run_threads(io, fixture->fd);
    block_io_close(io);
}

/* Errors come back as statuses, on the ring and without it. */
static void test_errors(void **state)
{
    struct fixture *fixture = *state;
    for (int synchronous = 0; synchronous < 2; synchronous++) {
        struct block_io *io;
        assert_int_equal(block_io_open(0, synchronous, &io), CHAINFS_OK);
        uint8_t *buffer = aligned_buffer_alloc(REGION_BYTES);
        assert_non_null(buffer);
        /* a read past the end of the file ends early: CHAINFS_IO */
        assert_int_equal(block_io_read(io, fixture->fd, buffer, REGION_BYTES,
                                       (uint64_t)THREADS * REGION_BYTES),
                         CHAINFS_IO);
        assert_int_equal(block_io_read(io, -1, buffer, REGION_BYTES, 0), CHAINFS_IO);
        assert_int_equal(block_io_write(io, -1, buffer, REGION_BYTES, 0), CHAINFS_IO);
        assert_int_equal(block_io_sync(io, -1), CHAINFS_IO);
        aligned_buffer_free(buffer, REGION_BYTES);
        block_io_close(io);
    }
}

/* A child forked after the parent used its ring reads through a ring of its own. */
static void test_forked_child_reads(void **state)
{
    struct fixture *fixture = *state;
    struct block_io *io;
    assert_int_equal(block_io_open(0, false, &io), CHAINFS_OK);
    struct worker parent = {.io = io, .fd = fixture->fd, .index = 1, .round = 5};
    worker_main(&parent); /* this thread's ring is set up and used */
    assert_true(parent.same);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        struct worker worker = {.io = io, .fd = fixture->fd, .index = 2, .round = 6};
        worker_main(&worker);
        _exit(worker.write_status == CHAINFS_OK && worker.read_status == CHAINFS_OK &&
                      worker.same
                  ? 0
                  : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    block_io_close(io);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_threads_on_their_own_rings, open_fixture,
                                        close_fixture),
        cmocka_unit_test_setup_teardown(test_synchronous_fallback, open_fixture, close_fixture),
        cmocka_unit_test_setup_teardown(test_errors, open_fixture, close_fixture),
        cmocka_unit_test_setup_teardown(test_forked_child_reads, open_fixture, close_fixture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
