/*
 * test_chunk_engine_crash.c - crash consistency of the chunk engine (issue 5 item 2).
 *
 * Each round forks a child that opens the target (recovering it) and runs a storm of
 * writes, appends, truncates, installs, aborted updates and removals on 16 chunks
 * from two threads; the parent kills it with SIGKILL after a random 50-200 ms. Before each
 * update the child sends the parent an INTENT record (chunk, resulting exists /
 * version / length / CRC), after it an ACK record; records are smaller than
 * PIPE_BUF, so each reaches the pipe whole, and the parent drains the pipe after the
 * kill. The parent then opens the target itself and checks, for every chunk:
 *   - the committed state is the last acknowledged one or the one in flight (intent),
 *     never anything else: acknowledged writes are never lost, and no update is half
 *     applied;
 *   - the committed content reads back whole and matches its CRC (no torn chunk);
 *   - a pending version is the update in flight or one seen pending before, and its
 *     content matches its CRC;
 *   - no block leaks: chunk_engine_check (blocks in use = blocks referenced, LMDB
 *     records = index) passes after recovery.
 * The child itself checks that each update's CRC equals the one it computed from its
 * own copy of the chunk, and exits with a failure code (seen by the parent) otherwise.
 *
 * CHAINFS_STORAGE_CRASH_ROUNDS sets the number of rounds (default 60, each a kill
 * point); CHAINFS_STORAGE_CRASH_SEED replays a run.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "chainfs/error.h"
#include "common/clock.h"
#include "common/crc32c.h"
#include "common/log.h"
#include "storage/chunk_engine.h"
#include "storage_test_util.h"

#define CHUNK_COUNT 16
#define CHUNK_LIMIT (256u << 10)
#define WRITER_THREADS 2
#define DEFAULT_ROUNDS 60
#define KILL_DELAY_MIN_MS 50
#define KILL_DELAY_SPAN_MS 150
#define CHILD_FAILED 3

enum record_type { RECORD_INTENT = 1, RECORD_ACK = 2 };

/* A chunk's committed state as the test models it. */
struct chunk_state {
    uint8_t exists;
    uint64_t version;
    uint64_t length;
    uint32_t crc;
};

/* INTENT: the update about to run; its state becomes pending, then committed unless
 * the update is to be aborted. ACK: the committed state after it. */
struct log_record {
    uint8_t type;
    uint8_t chunk;
    uint8_t aborts;
    struct chunk_state state;
};

static struct chunk_id chunk_of(unsigned chunk)
{
    return chunk_id_make(1 + chunk / 8, chunk % 8);
}

static struct chunk_engine_options engine_options(bool sync)
{
    return (struct chunk_engine_options){.chunk_size_limit = CHUNK_LIMIT,
                                         .grow_bytes = 4u << 20, .sync = sync};
}

static uint64_t next_random(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

/* ---- the child: a storm of updates, each announced and acknowledged ---- */

struct writer {
    struct chunk_engine *engine;
    int log_fd;
    unsigned first_chunk; /* owns chunks first_chunk, +WRITER_THREADS, ... */
    uint64_t random;
    uint8_t *contents[CHUNK_COUNT];
    struct chunk_state states[CHUNK_COUNT];
};

static void send_record(int fd, enum record_type type, unsigned chunk, bool aborts,
                        const struct chunk_state *state)
{
    struct log_record record = {(uint8_t)type, (uint8_t)chunk, aborts, *state};
    if (write(fd, &record, sizeof(record)) != (ssize_t)sizeof(record))
        _exit(CHILD_FAILED);
}

static void fail_child(const char *what, unsigned chunk, int status)
{
    fprintf(stderr, "child: %s of chunk %u failed: %s\n", what, chunk,
            chainfs_error_name(status));
    _exit(CHILD_FAILED);
}

/* Loads a chunk's committed content into the writer's copy; resolves a pending
 * version left by an earlier crash (commit or abort, at random). */
static void load_chunk(struct writer *writer, unsigned chunk)
{
    struct chunk_id id = chunk_of(chunk);
    struct chunk_metadata metadata;
    int status = chunk_engine_stat(writer->engine, &id, &metadata);
    if (status == CHAINFS_OK && chunk_metadata_has_pending(&metadata)) {
        struct chunk_state after = {1, metadata.pending.version, metadata.pending.length,
                                    metadata.pending.crc};
        bool commit = next_random(&writer->random) % 2;
        send_record(writer->log_fd, RECORD_INTENT, chunk, !commit, &after);
        if (!commit)
            after = (struct chunk_state){metadata.committed.version != 0,
                                         metadata.committed.version, metadata.committed.length,
                                         metadata.committed.crc};
        status = commit ? chunk_engine_commit(writer->engine, &id, metadata.pending.version)
                        : chunk_engine_abort(writer->engine, &id, metadata.pending.version);
        if (status != CHAINFS_OK)
            fail_child("resolving the pending version", chunk, status);
        send_record(writer->log_fd, RECORD_ACK, chunk, false, &after);
    }
    struct chunk_read_result result;
    status = chunk_engine_read(writer->engine, &id, 0, CHUNK_LIMIT, writer->contents[chunk], 0,
                               &result);
    if (status == CHAINFS_NOT_FOUND) {
        writer->states[chunk] = (struct chunk_state){0};
        return;
    }
    if (status != CHAINFS_OK)
        fail_child("reading", chunk, status);
    writer->states[chunk] = (struct chunk_state){result.version != 0, result.version,
                                                 result.chunk_length, result.crc};
}

/* Replaces a chunk whole with fresh content, committed at once two versions ahead. */
static void install_chunk(struct writer *writer, unsigned chunk, uint8_t *content)
{
    struct chunk_id id = chunk_of(chunk);
    uint64_t length = next_random(&writer->random) % CHUNK_LIMIT;
    fill_pattern(content, length, next_random(&writer->random));
    struct chunk_state next = {1, writer->states[chunk].version + 2, length,
                               crc32c(0, content, length)};
    send_record(writer->log_fd, RECORD_INTENT, chunk, false, &next);
    struct chunk_update update;
    int status = chunk_engine_install(writer->engine, &id, content, length, next.version, 1,
                                      &update);
    if (status != CHAINFS_OK)
        fail_child("install", chunk, status);
    if (update.crc != next.crc)
        fail_child("the CRC of an install", chunk, CHAINFS_CHECKSUM);
    writer->states[chunk] = next;
    memcpy(writer->contents[chunk], content, length);
    send_record(writer->log_fd, RECORD_ACK, chunk, false, &next);
}

/* Computes the next update of a chunk in `content` (a copy) and applies it. */
static void update_chunk(struct writer *writer, unsigned chunk, uint8_t *content)
{
    struct chunk_state *old = &writer->states[chunk];
    struct chunk_id id = chunk_of(chunk);
    uint64_t choice = next_random(&writer->random) % 100;
    uint64_t offset, length;
    bool truncate = false, abort_it = choice >= 95;
    if (choice < 10 && old->exists) {
        struct chunk_state gone = {0};
        send_record(writer->log_fd, RECORD_INTENT, chunk, false, &gone);
        int status = chunk_engine_remove(writer->engine, &id);
        if (status != CHAINFS_OK)
            fail_child("remove", chunk, status);
        *old = gone;
        send_record(writer->log_fd, RECORD_ACK, chunk, false, old);
        return;
    }
    if (choice < 25 && choice >= 20) {
        install_chunk(writer, chunk, content);
        return;
    }
    if (choice < 20) {
        truncate = true;
        offset = 0;
        length = next_random(&writer->random) % CHUNK_LIMIT;
    } else {
        offset = choice < 50 ? old->length : next_random(&writer->random) % (old->length + 1);
        length = 1 + next_random(&writer->random) % (64u << 10);
        if (offset + length > CHUNK_LIMIT)
            length = CHUNK_LIMIT - offset;
    }
    memcpy(content, writer->contents[chunk], old->length);
    uint64_t new_length = truncate ? length : (offset + length > old->length ? offset + length
                                                                             : old->length);
    if (new_length > old->length)
        memset(content + old->length, 0, new_length - old->length);
    if (!truncate)
        fill_pattern(content + offset, length, next_random(&writer->random));
    struct chunk_state next = {1, old->version + 1, new_length, crc32c(0, content, new_length)};
    send_record(writer->log_fd, RECORD_INTENT, chunk, abort_it, &next);
    struct chunk_update update;
    int status = truncate ? (old->exists ? chunk_engine_prepare_truncate(writer->engine, &id,
                                                                         length, 1, &update)
                                         : chunk_engine_prepare_update(writer->engine, &id,
                                                                       length, NULL, 0, 1,
                                                                       &update))
                          : chunk_engine_prepare_update(writer->engine, &id, offset,
                                                        content + offset, length, 1, &update);
    if (status != CHAINFS_OK)
        fail_child("prepare", chunk, status);
    if (update.crc != next.crc || update.version != next.version || update.length != new_length)
        fail_child("the CRC or version of an update", chunk, CHAINFS_CHECKSUM);
    status = abort_it ? chunk_engine_abort(writer->engine, &id, update.version)
                      : chunk_engine_commit(writer->engine, &id, update.version);
    if (status != CHAINFS_OK)
        fail_child(abort_it ? "abort" : "commit", chunk, status);
    if (!abort_it) {
        *old = next;
        memcpy(writer->contents[chunk], content, new_length);
    }
    send_record(writer->log_fd, RECORD_ACK, chunk, false, old);
}

static void *writer_loop(void *argument)
{
    struct writer *writer = argument;
    uint8_t *content = malloc(CHUNK_LIMIT);
    for (unsigned chunk = writer->first_chunk; chunk < CHUNK_COUNT; chunk += WRITER_THREADS) {
        writer->contents[chunk] = malloc(CHUNK_LIMIT);
        load_chunk(writer, chunk);
    }
    for (;;) {
        unsigned pick = (unsigned)(next_random(&writer->random) % (CHUNK_COUNT / WRITER_THREADS));
        update_chunk(writer, writer->first_chunk + pick * WRITER_THREADS, content);
    }
    return NULL;
}

static void run_child(const char *dir, int log_fd, uint64_t seed, bool sync)
{
    struct chunk_engine_options options = engine_options(sync);
    struct chunk_engine *engine;
    int status = chunk_engine_open(dir, &options, &engine);
    if (status != CHAINFS_OK)
        fail_child("open", 0, status);
    struct writer writers[WRITER_THREADS];
    pthread_t threads[WRITER_THREADS];
    for (unsigned i = 0; i < WRITER_THREADS; i++) {
        writers[i] = (struct writer){.engine = engine, .log_fd = log_fd, .first_chunk = i,
                                     .random = seed * 31 + i + 1};
        pthread_create(&threads[i], NULL, writer_loop, &writers[i]);
    }
    for (unsigned i = 0; i < WRITER_THREADS; i++)
        pthread_join(threads[i], NULL);
    _exit(0);
}

/* ---- the parent: what may be on disk, and the check after each kill ---- */

struct chunk_model {
    struct chunk_state acknowledged;
    struct chunk_state intent;
    bool in_flight;
    bool intent_aborts; /* the intent may become pending, never committed */
    struct chunk_state known_pending; /* exists == 0: none */
};

struct totals {
    unsigned kills, kills_in_flight, pending_recovered;
    uint64_t acknowledged;
};

static void apply_record(struct chunk_model *models, const struct log_record *record,
                         struct totals *totals)
{
    struct chunk_model *model = &models[record->chunk % CHUNK_COUNT];
    if (record->type == RECORD_INTENT) {
        model->intent = record->state;
        model->in_flight = true;
        model->intent_aborts = record->aborts;
    } else {
        model->acknowledged = record->state;
        model->in_flight = false;
        totals->acknowledged++;
    }
}

static bool same_state(const struct chunk_state *a, const struct chunk_state *b)
{
    if (!a->exists || !b->exists)
        return a->exists == b->exists;
    return a->version == b->version && a->length == b->length && a->crc == b->crc;
}

/* Reads a version whole (the engine checks the CRC of a whole-chunk read). */
static bool version_reads_back(struct chunk_engine *engine, const struct chunk_id *id,
                               unsigned flags, const struct chunk_state *state, uint8_t *buffer)
{
    struct chunk_read_result result;
    int status = chunk_engine_read(engine, id, 0, CHUNK_LIMIT, buffer, flags, &result);
    return status == CHAINFS_OK && result.bytes_read == state->length &&
           result.crc == state->crc && crc32c(0, buffer, result.bytes_read) == state->crc;
}

static bool verify_chunk(struct chunk_engine *engine, unsigned chunk, struct chunk_model *model,
                         uint8_t *buffer, struct totals *totals)
{
    struct chunk_id id = chunk_of(chunk);
    struct chunk_metadata metadata;
    struct chunk_state committed = {0}, pending = {0};
    if (chunk_engine_stat(engine, &id, &metadata) == CHAINFS_OK) {
        committed = (struct chunk_state){metadata.committed.version != 0,
                                         metadata.committed.version, metadata.committed.length,
                                         metadata.committed.crc};
        pending = (struct chunk_state){metadata.pending.version != 0, metadata.pending.version,
                                       metadata.pending.length, metadata.pending.crc};
    }
    bool ok = same_state(&committed, &model->acknowledged) ||
              (model->in_flight && !model->intent_aborts &&
               same_state(&committed, &model->intent));
    if (!ok)
        fprintf(stderr, "chunk %u: committed v%" PRIu64 " (exists %d) is neither acknowledged "
                "v%" PRIu64 " nor in flight\n", chunk, committed.version, committed.exists,
                model->acknowledged.version);
    if (ok && committed.exists && !version_reads_back(engine, &id, 0, &committed, buffer)) {
        fprintf(stderr, "chunk %u: committed content torn\n", chunk);
        ok = false;
    }
    if (ok && pending.exists) {
        totals->pending_recovered++;
        ok = (model->in_flight && same_state(&pending, &model->intent)) ||
             same_state(&pending, &model->known_pending);
        ok = ok && version_reads_back(engine, &id, CHUNK_READ_PENDING, &pending, buffer);
        if (!ok)
            fprintf(stderr, "chunk %u: unexpected or torn pending v%" PRIu64 "\n", chunk,
                    pending.version);
    }
    model->acknowledged = committed;
    model->known_pending = pending;
    model->in_flight = false;
    return ok;
}

static bool verify_target(const char *dir, struct chunk_model *models, struct totals *totals)
{
    struct chunk_engine_options options = engine_options(false);
    struct chunk_engine *engine;
    int status = chunk_engine_open(dir, &options, &engine);
    if (status != CHAINFS_OK) {
        fprintf(stderr, "recovery failed: %s\n", chainfs_error_name(status));
        return false;
    }
    uint8_t *buffer = malloc(CHUNK_LIMIT);
    bool ok = chunk_engine_check(engine) == CHAINFS_OK;
    for (unsigned chunk = 0; chunk < CHUNK_COUNT; chunk++)
        ok = verify_chunk(engine, chunk, &models[chunk], buffer, totals) && ok;
    free(buffer);
    chunk_engine_close(engine);
    return ok;
}

/* Reads whole records from the pipe until the deadline (or end of file). */
static void read_log(int fd, uint64_t deadline, struct chunk_model *models,
                     struct totals *totals, bool *in_flight_at_end)
{
    static uint8_t pending_bytes[sizeof(struct log_record)];
    static size_t pending_count;
    for (;;) {
        uint64_t left = deadline_remaining_ns(deadline);
        struct pollfd poll_fd = {fd, POLLIN, 0};
        if (deadline != DEADLINE_NEVER &&
            poll(&poll_fd, 1, (int)(left / CLOCK_NS_PER_MS)) <= 0)
            return;
        ssize_t got = read(fd, pending_bytes + pending_count,
                           sizeof(pending_bytes) - pending_count);
        if (got <= 0 && !(got < 0 && errno == EINTR))
            return;
        pending_count += got > 0 ? (size_t)got : 0;
        if (pending_count == sizeof(struct log_record)) {
            struct log_record record;
            memcpy(&record, pending_bytes, sizeof(record));
            apply_record(models, &record, totals);
            *in_flight_at_end = record.type == RECORD_INTENT;
            pending_count = 0;
        }
    }
}

static bool run_round(const char *dir, unsigned round, uint64_t *random,
                      struct chunk_model *models, struct totals *totals)
{
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0)
        return false;
    bool sync = round % 4 == 3;
    pid_t child = fork();
    if (child == 0) {
        close(pipe_fds[0]);
        run_child(dir, pipe_fds[1], next_random(random), sync);
    }
    close(pipe_fds[1]);
    uint64_t delay_ms = KILL_DELAY_MIN_MS + next_random(random) % KILL_DELAY_SPAN_MS;
    bool in_flight = false;
    read_log(pipe_fds[0], deadline_after_ns(delay_ms * CLOCK_NS_PER_MS), models, totals,
             &in_flight);
    kill(child, SIGKILL);
    int status;
    waitpid(child, &status, 0);
    read_log(pipe_fds[0], DEADLINE_NEVER, models, totals, &in_flight);
    close(pipe_fds[0]);
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
        fprintf(stderr, "round %u: the child exited by itself (status %d)\n", round, status);
        return false;
    }
    totals->kills++;
    for (unsigned chunk = 0; chunk < CHUNK_COUNT; chunk++)
        if (models[chunk].in_flight) {
            totals->kills_in_flight++;
            break;
        }
    return verify_target(dir, models, totals);
}

static unsigned env_unsigned(const char *name, unsigned fallback)
{
    const char *text = getenv(name);
    return text != NULL && *text != '\0' ? (unsigned)strtoul(text, NULL, 10) : fallback;
}

int main(void)
{
    log_set_level(LOG_LEVEL_ERROR);
    unsigned rounds = env_unsigned("CHAINFS_STORAGE_CRASH_ROUNDS", DEFAULT_ROUNDS);
    uint64_t seed = env_unsigned("CHAINFS_STORAGE_CRASH_SEED", (unsigned)time(NULL));
    uint64_t random = seed * 2654435761u + 1;
    char dir[256];
    if (make_scratch_dir(dir, sizeof(dir), "crash") != 0)
        return 1;
    struct chunk_model models[CHUNK_COUNT] = {0};
    struct totals totals = {0};
    uint64_t start = clock_now_ns();
    bool ok = true;
    for (unsigned round = 0; round < rounds && ok; round++) {
        ok = run_round(dir, round, &random, models, &totals);
        if (!ok)
            fprintf(stderr, "FAILED in round %u (CHAINFS_STORAGE_CRASH_SEED=%" PRIu64 ")\n",
                    round, seed);
    }
    printf("crash test: %u kill points, %u with an update in flight, %" PRIu64
           " acknowledged updates, %u pending versions recovered, seed %" PRIu64 ", %.1f s: %s\n",
           totals.kills, totals.kills_in_flight, totals.acknowledged, totals.pending_recovered,
           seed, (double)(clock_now_ns() - start) / 1e9, ok ? "ok" : "FAILED");
    if (ok)
        remove_tree(dir);
    else
        fprintf(stderr, "target kept in %s\n", dir);
    return ok ? 0 : 1;
}
