/*
 * storage_stress.c - `chainfs storage-tool stress`: writers and readers hammer the
 * chunks of one workload at once, through one storage client, and every read is
 * checked:
 *   torn   - the content is not one whole generation of the chunk (or names a
 *            generation never written);
 *   stale  - an older generation than one whose write was acknowledged before the read
 *            started (or a hole where an acknowledged write was): CRAQ promises that an
 *            acknowledged write is what every later read sees.
 * Writer w owns the chunks i with i % writers == w and writes each whole, generation
 * after generation. At the end every chunk is read once more and must hold its last
 * acknowledged generation (or a later attempted one whose reply was lost).
 *
 * Prints one JSON object; exits 0 only when nothing was torn or stale and the final
 * check passed. Failed writes and reads are counted by status, not judged: a test that
 * kills a storage process decides what it tolerates.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"
#include "cli/storage_tool.h"
#include "common/aligned_buffer.h"
#include "common/clock.h"

#define STRESS_BATCH 4
#define STATUS_SLOTS 64

struct stress {
    struct storage_client_stack *tool;
    const struct storage_workload *workload;
    uint64_t deadline;
    atomic_uint_fast64_t *acked;     /* per chunk: last acknowledged generation */
    atomic_uint_fast64_t *attempted; /* per chunk: highest generation sent */
    atomic_uint_fast64_t writes, write_failures, reads, read_failures, torn, stale;
    atomic_uint_fast64_t bytes_written, bytes_read;
    atomic_uint_fast64_t errors[STATUS_SLOTS];
};

struct stress_thread {
    struct stress *stress;
    unsigned number;
    pthread_t thread;
    uint8_t *buffers; /* STRESS_BATCH chunk buffers */
};

static void count_error(struct stress *stress, int status)
{
    atomic_fetch_add(&stress->errors[(unsigned)status < STATUS_SLOTS ? status : 0], 1);
}

/* The next STRESS_BATCH chunks writer `number` owns, round robin from *cursor. */
static size_t next_owned(const struct stress *stress, unsigned number, uint64_t *cursor,
                         uint64_t *indexes)
{
    const struct storage_workload *w = stress->workload;
    uint64_t owned = w->chunks / w->writers + (number < w->chunks % w->writers);
    size_t count = 0;
    for (; count < STRESS_BATCH && count < owned; count++) {
        indexes[count] = number + (*cursor % owned) * w->writers;
        (*cursor)++;
    }
    return count;
}

static void *writer_main(void *argument)
{
    struct stress_thread *self = argument;
    struct stress *stress = self->stress;
    const struct storage_workload *w = stress->workload;
    uint64_t cursor = 0, indexes[STRESS_BATCH], generations[STRESS_BATCH];
    struct storage_io ios[STRESS_BATCH];
    while (!deadline_expired(stress->deadline)) {
        size_t count = next_owned(stress, self->number, &cursor, indexes);
        if (count == 0)
            break;
        for (size_t i = 0; i < count; i++) {
            uint8_t *buffer = self->buffers + i * w->length;
            generations[i] = atomic_load(&stress->attempted[indexes[i]]) + 1;
            atomic_store(&stress->attempted[indexes[i]], generations[i]);
            storage_pattern_fill(buffer, w->length, w->inode, indexes[i], generations[i]);
            ios[i] = storage_workload_io(w, indexes[i], buffer);
        }
        storage_client_write(stress->tool->client, ios, count, deadline_after_ns(30 * CLOCK_NS_PER_S));
        for (size_t i = 0; i < count; i++) {
            if (ios[i].status != CHAINFS_OK) {
                atomic_fetch_add(&stress->write_failures, 1);
                count_error(stress, ios[i].status);
                continue;
            }
            atomic_store(&stress->acked[indexes[i]], generations[i]);
            atomic_fetch_add(&stress->writes, 1);
            atomic_fetch_add(&stress->bytes_written, w->length);
        }
    }
    return NULL;
}

/* Judges one successful read of chunk index that started when `acked` was acknowledged. */
static void judge_read(struct stress *stress, const struct storage_io *io, uint64_t index,
                       uint64_t acked)
{
    const struct storage_workload *w = stress->workload;
    uint64_t generation = 0;
    if (io->bytes_done == 0) {
        atomic_fetch_add(acked ? &stress->stale : &stress->reads, 1);
        return;
    }
    if (io->bytes_done != w->length ||
        !storage_pattern_check(io->buffer, w->length, w->inode, index, &generation) ||
        generation > atomic_load(&stress->attempted[index])) {
        atomic_fetch_add(&stress->torn, 1);
        return;
    }
    if (generation < acked) {
        atomic_fetch_add(&stress->stale, 1);
        return;
    }
    atomic_fetch_add(&stress->reads, 1);
    atomic_fetch_add(&stress->bytes_read, w->length);
}

static void *reader_main(void *argument)
{
    struct stress_thread *self = argument;
    struct stress *stress = self->stress;
    const struct storage_workload *w = stress->workload;
    uint64_t random = 0x9E3779B97F4A7C15ull * (self->number + 1);
    uint64_t indexes[STRESS_BATCH], acked[STRESS_BATCH];
    struct storage_io ios[STRESS_BATCH];
    while (!deadline_expired(stress->deadline)) {
        for (size_t i = 0; i < STRESS_BATCH; i++) {
            random ^= random << 13, random ^= random >> 7, random ^= random << 17;
            indexes[i] = random % w->chunks;
            acked[i] = atomic_load(&stress->acked[indexes[i]]);
            ios[i] = storage_workload_io(w, indexes[i], self->buffers + i * w->length);
        }
        storage_client_read(stress->tool->client, ios, STRESS_BATCH, deadline_after_ns(30 * CLOCK_NS_PER_S));
        for (size_t i = 0; i < STRESS_BATCH; i++) {
            if (ios[i].status != CHAINFS_OK) {
                atomic_fetch_add(&stress->read_failures, 1);
                count_error(stress, ios[i].status);
                continue;
            }
            judge_read(stress, &ios[i], indexes[i], acked[i]);
        }
    }
    return NULL;
}

/* After the run: every chunk holds its last acknowledged generation, or a later
 * attempted one. Returns how many do not (unreadable chunks count). */
static uint64_t final_check(struct stress *stress)
{
    const struct storage_workload *w = stress->workload;
    uint8_t *buffer = aligned_buffer_alloc(w->length);
    uint64_t mismatches = 0;
    for (uint64_t index = 0; buffer && index < w->chunks; index++) {
        struct storage_io io = storage_workload_io(w, index, buffer);
        uint64_t acked = atomic_load(&stress->acked[index]);
        uint64_t attempted = atomic_load(&stress->attempted[index]);
        uint64_t generation = 0;
        int status = storage_client_read(stress->tool->client, &io, 1, deadline_after_ns(30 * CLOCK_NS_PER_S));
        bool whole = status == CHAINFS_OK &&
                     (io.bytes_done == 0 ? attempted == 0 || acked == 0
                                         : storage_pattern_check(buffer, w->length, w->inode, index,
                                                                 &generation));
        if (!whole || (io.bytes_done && (generation < acked || generation > attempted))) {
            mismatches++;
            fprintf(stderr, "stress: chunk %" PRIu64 ": %s, generation %" PRIu64 ", acknowledged %" PRIu64
                    ", attempted %" PRIu64 "\n", index, chainfs_error_name(status), generation, acked, attempted);
        }
    }
    aligned_buffer_free(buffer, w->length);
    return buffer ? mismatches : w->chunks;
}

static void print_result(struct stress *stress, double seconds, uint64_t mismatches)
{
    struct storage_client_stats client;
    storage_client_get_stats(stress->tool->client, &client);
    printf("{\"retries\":%" PRIu64 ",\"routing_refreshes\":%" PRIu64 ",\"read_requests\":%" PRIu64
           ",\"read_items\":%" PRIu64 ",",
           client.retries, client.routing_refreshes, client.read_requests, client.read_items);
    printf("\"seconds\":%.3f,\"writes\":%" PRIu64 ",\"write_failures\":%" PRIu64 ",\"reads\":%" PRIu64
           ",\"read_failures\":%" PRIu64 ",\"torn\":%" PRIu64 ",\"stale\":%" PRIu64
           ",\"final_mismatches\":%" PRIu64 ",\"write_mib_s\":%.1f,\"read_mib_s\":%.1f,\"errors\":{",
           seconds, (uint64_t)stress->writes, (uint64_t)stress->write_failures, (uint64_t)stress->reads,
           (uint64_t)stress->read_failures, (uint64_t)stress->torn, (uint64_t)stress->stale, mismatches,
           (double)stress->bytes_written / seconds / (1 << 20), (double)stress->bytes_read / seconds / (1 << 20));
    bool first = true;
    for (int status = 0; status < STATUS_SLOTS; status++) {
        if (stress->errors[status] == 0)
            continue;
        printf("%s\"%s\":%" PRIu64, first ? "" : ",", chainfs_error_name(status), (uint64_t)stress->errors[status]);
        first = false;
    }
    printf("}}\n");
    fflush(stdout);
}

int storage_tool_stress(struct storage_client_stack *tool, const struct storage_workload *workload)
{
    struct stress stress = {.tool = tool, .workload = workload};
    unsigned thread_count = workload->writers + workload->readers;
    stress.acked = calloc(workload->chunks, sizeof(*stress.acked));
    stress.attempted = calloc(workload->chunks, sizeof(*stress.attempted));
    struct stress_thread *threads = calloc(thread_count + 1, sizeof(*threads));
    if (!stress.acked || !stress.attempted || !threads)
        return 1;
    uint64_t start = clock_now_ns();
    stress.deadline = deadline_after_ns((uint64_t)(workload->seconds * 1e9));
    for (unsigned i = 0; i < thread_count; i++) {
        threads[i] = (struct stress_thread){.stress = &stress,
                                            .number = i < workload->writers ? i : i - workload->writers,
                                            .buffers = aligned_buffer_alloc(STRESS_BATCH * workload->length)};
        pthread_create(&threads[i].thread, NULL, i < workload->writers ? writer_main : reader_main, &threads[i]);
    }
    for (unsigned i = 0; i < thread_count; i++) {
        pthread_join(threads[i].thread, NULL);
        aligned_buffer_free(threads[i].buffers, STRESS_BATCH * workload->length);
    }
    double seconds = (double)(clock_now_ns() - start) / 1e9;
    uint64_t mismatches = final_check(&stress);
    print_result(&stress, seconds, mismatches);
    free(threads);
    free(stress.acked);
    free(stress.attempted);
    return stress.torn == 0 && stress.stale == 0 && mismatches == 0 ? 0 : 1;
}
