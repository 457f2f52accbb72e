/*
 * storage_bench.c - `chainfs bench storage` (issue 5 item 7).
 *
 * In a fresh directory under --dir (default /var/tmp, so on the disk the targets use):
 *   1. limits: fio with O_DIRECT on a raw file there (1 MiB sequential write and read
 *      at depth 16, 4 KiB random read at depth 64), iperf3 over loopback, memcpy;
 *   2. a cluster: mgmtd + 3 storage processes with 4 targets each; chains 1-3 are
 *      3-replica (one target of every node), chains 11-13 1-replica;
 *   3. figures through one storage client in this process, each for --seconds:
 *      1 MiB chunk writes (3 and 1 replicas), 1 MiB chunk reads (batched calls),
 *      4 KiB random reads with 64 in flight per thread.
 * Writes land on --chunks-per-thread 1 MiB chunks per thread (default 64) that are
 * rewritten in turn, so the disk use is bounded (4 threads x 64 MiB per replica). Storage runs with storage.sync=false unless
 * --sync: fio runs without fsync as well.
 */
#include "bench/storage_bench.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/disk_limits.h"
#include "bench/machine_limits.h"
#include "bench/storage_cluster.h"
#include "chainfs/error.h"
#include "client/storage_client_stack.h"
#include "common/aligned_buffer.h"
#include "common/bench_report.h"
#include "common/clock.h"
#include "common/log.h"

#define CHUNK_BYTES (1u << 20)
#define CHUNKS_PER_THREAD_MAX 1024
#define THREADS 4
#define LARGE_DEPTH 8  /* 1 MiB ios per call */
#define SMALL_DEPTH 64 /* 4 KiB ios per call */
#define SMALL_BYTES 4096u
#define TARGETS_PER_NODE 4

static const uint32_t replicated_chains[] = {1, 2, 3};
static const uint32_t single_chains[] = {11, 12, 13};

struct bench_settings {
    bool json, sync, keep;
    unsigned seconds;
    unsigned batch_items; /* storage client max_batch_items (0: its default) */
    unsigned chunks_per_thread;
    const char *parent;
};

enum work_mode { WORK_WRITE, WORK_READ, WORK_RANDOM_READ };

/* One thread's share of a figure. */
struct worker {
    struct storage_client *client;
    enum work_mode mode;
    const uint32_t *chains;
    size_t chain_count;
    uint64_t inode;
    uint64_t chunk_count; /* chunks 0 .. chunk_count - 1 of inode */
    uint64_t deadline;
    uint64_t bytes, ios, failures;
    int first_error;
    pthread_t thread;
};

static struct storage_io chunk_io(const struct worker *worker, uint64_t index, uint64_t offset,
                                  uint32_t length, void *buffer)
{
    return (struct storage_io){.chain_id = worker->chains[index % worker->chain_count],
                               .chunk_id = chunk_id_make(worker->inode, index),
                               .chunk_size = CHUNK_BYTES, .offset = offset, .length = length,
                               .buffer = buffer};
}

static void *worker_main(void *argument)
{
    struct worker *worker = argument;
    bool small = worker->mode == WORK_RANDOM_READ;
    size_t depth = small ? SMALL_DEPTH : LARGE_DEPTH;
    uint32_t length = small ? SMALL_BYTES : CHUNK_BYTES;
    uint8_t *buffers = aligned_buffer_alloc(depth * length);
    struct storage_io ios[SMALL_DEPTH];
    if (!buffers)
        return NULL;
    for (size_t i = 0; i < depth * length; i++)
        buffers[i] = (uint8_t)(i * 31 + worker->inode);
    uint64_t cursor = 0, random = worker->inode * 0x9E3779B97F4A7C15ull;
    while (!deadline_expired(worker->deadline)) {
        for (size_t i = 0; i < depth; i++) {
            random ^= random << 13, random ^= random >> 7, random ^= random << 17;
            uint64_t index = small ? random % worker->chunk_count : cursor++ % worker->chunk_count;
            uint64_t offset = small ? ((random >> 20) % (CHUNK_BYTES / SMALL_BYTES)) * SMALL_BYTES : 0;
            ios[i] = chunk_io(worker, index, offset, length, buffers + i * length);
        }
        if (worker->mode == WORK_WRITE)
            storage_client_write(worker->client, ios, depth, deadline_after_ns(30 * CLOCK_NS_PER_S));
        else
            storage_client_read(worker->client, ios, depth, deadline_after_ns(30 * CLOCK_NS_PER_S));
        for (size_t i = 0; i < depth; i++) {
            if (ios[i].status == CHAINFS_OK && ios[i].bytes_done == length) {
                worker->bytes += length;
                worker->ios++;
            } else {
                worker->failures++;
                if (!worker->first_error)
                    worker->first_error = ios[i].status ? ios[i].status : CHAINFS_NOT_FOUND;
            }
        }
    }
    aligned_buffer_free(buffers, depth * length);
    return NULL;
}

struct work_result {
    double mib_per_second;
    double ios_per_second;
};

/* Runs THREADS workers for `seconds`; each thread has its own inode (base + number). */
static struct work_result run_workers(struct storage_client *client, enum work_mode mode,
                                      const uint32_t *chains, size_t chain_count, uint64_t inode_base,
                                      const struct bench_settings *settings, const char *what)
{
    struct worker workers[THREADS];
    uint64_t start = clock_now_ns();
    for (unsigned i = 0; i < THREADS; i++) {
        workers[i] = (struct worker){.client = client, .mode = mode, .chains = chains,
                                     .chain_count = chain_count, .inode = inode_base + i,
                                     .chunk_count = settings->chunks_per_thread,
                                     .deadline = deadline_after_ns((uint64_t)settings->seconds * CLOCK_NS_PER_S)};
        pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
    }
    uint64_t bytes = 0, ios = 0, failures = 0;
    int first_error = 0;
    for (unsigned i = 0; i < THREADS; i++) {
        pthread_join(workers[i].thread, NULL);
        bytes += workers[i].bytes;
        ios += workers[i].ios;
        failures += workers[i].failures;
        first_error = first_error ? first_error : workers[i].first_error;
    }
    double elapsed = (double)(clock_now_ns() - start) / 1e9;
    if (failures)
        fprintf(stderr, "bench storage: %s: %llu ios failed (first: %s)\n", what,
                (unsigned long long)failures, chainfs_error_name(first_error));
    return (struct work_result){(double)bytes / elapsed / (1 << 20), (double)ios / elapsed};
}

/* Fills every chunk the read figures read: one pass of writes over all of them. */
static int fill_chunks(struct storage_client *client, const uint32_t *chains, size_t chain_count,
                       uint64_t inode_base, uint64_t chunk_count)
{
    uint8_t *buffer = aligned_buffer_alloc(CHUNK_BYTES);
    if (!buffer)
        return CHAINFS_NO_MEMORY;
    memset(buffer, 0x5A, CHUNK_BYTES);
    int status = CHAINFS_OK;
    for (unsigned t = 0; status == CHAINFS_OK && t < THREADS; t++) {
        struct worker owner = {.chains = chains, .chain_count = chain_count, .inode = inode_base + t};
        struct storage_io ios[CHUNKS_PER_THREAD_MAX];
        for (uint64_t index = 0; index < chunk_count; index++)
            ios[index] = chunk_io(&owner, index, 0, CHUNK_BYTES, buffer);
        status = storage_client_write(client, ios, chunk_count, deadline_after_ns(60 * CLOCK_NS_PER_S));
    }
    aligned_buffer_free(buffer, CHUNK_BYTES);
    return status;
}

struct limits {
    struct fio_result seq_write, seq_read, random_read;
    double iperf3, memcpy_mib_s;
};

/* fio's file is as large as the chunks one replica of the figures touches (at least
 * 64 MiB), so both spread over a similar stretch of the disk. */
static void measure_limits(const char *dir, const struct bench_settings *settings, struct limits *limits)
{
    char file[PATH_MAX];
    snprintf(file, sizeof(file), "%s/fio.raw", dir);
    unsigned seconds = settings->seconds;
    uint64_t size_mib = (uint64_t)THREADS * settings->chunks_per_thread * (CHUNK_BYTES >> 20);
    size_mib = size_mib < 64 ? 64 : size_mib;
    if (limit_fio(file, size_mib, "write", CHUNK_BYTES, 16, seconds, &limits->seq_write) != 0 ||
        limit_fio(file, size_mib, "read", CHUNK_BYTES, 16, seconds, &limits->seq_read) != 0 ||
        limit_fio(file, size_mib, "randread", SMALL_BYTES, 64, seconds, &limits->random_read) != 0)
        fprintf(stderr, "bench storage: fio failed; its limits print as 0\n");
    unlink(file);
    limits->iperf3 = limit_iperf3_loopback_mib_s(seconds);
    limits->memcpy_mib_s = limit_memcpy_mib_s(CHUNK_BYTES, 1.0);
}

static void report(const char *figure, double value, const char *unit, const char *limit,
                   double limit_value, bool json)
{
    struct bench_figure line = {"storage", figure, value, unit, limit, limit_value};
    bench_report_figure(&line, json);
}

static double min3(double a, double b, double c)
{
    double m = a < b ? a : b;
    return m < c ? m : c;
}

/* The figures, against a running cluster. */
static int measure(struct storage_client *client, const struct limits *limits,
                   const struct bench_settings *settings)
{
    const struct bench_settings *s = settings;
    bool json = settings->json;
    struct work_result result =
        run_workers(client, WORK_WRITE, replicated_chains, 3, 1000, s, "3-replica writes");
    report("write_1MiB_3replica", result.mib_per_second, "MiB/s", "fio_write_1MiB_qd16/3",
           limits->seq_write.mib_per_second / 3, json);
    result = run_workers(client, WORK_WRITE, single_chains, 3, 2000, s, "1-replica writes");
    report("write_1MiB_1replica", result.mib_per_second, "MiB/s", "fio_write_1MiB_qd16",
           limits->seq_write.mib_per_second, json);
    int status = fill_chunks(client, single_chains, 3, 2000, s->chunks_per_thread);
    if (status == CHAINFS_OK)
        status = fill_chunks(client, replicated_chains, 3, 1000, s->chunks_per_thread);
    if (status != CHAINFS_OK) {
        fprintf(stderr, "bench storage: filling the chunks to read failed: %s\n", chainfs_error_name(status));
        return 1;
    }
    double read_limit = min3(limits->seq_read.mib_per_second, limits->iperf3, limits->memcpy_mib_s);
    result = run_workers(client, WORK_READ, single_chains, 3, 2000, s, "1-replica reads");
    report("read_1MiB_1replica", result.mib_per_second, "MiB/s", "min(fio_read_1MiB_qd16,iperf3,memcpy)",
           read_limit, json);
    result = run_workers(client, WORK_READ, replicated_chains, 3, 1000, s, "3-replica reads");
    report("read_1MiB_3replica", result.mib_per_second, "MiB/s", "min(fio_read_1MiB_qd16,iperf3,memcpy)",
           read_limit, json);
    result = run_workers(client, WORK_RANDOM_READ, single_chains, 3, 2000, s, "4 KiB random reads");
    report("randread_4KiB_qd64_1replica", result.ios_per_second, "IOPS", "fio_randread_4KiB_qd64",
           limits->random_read.iops, json);
    return 0;
}

static int create_chains(struct storage_cluster *cluster, struct routing_cache *routing)
{
    /* One target of every node per 3-replica chain, heads rotated; target 4 of each
     * node alone in a 1-replica chain. */
    const char *replicated = "ChainId,TargetId,TargetId,TargetId\n"
                             "1,1101,1201,1301\n2,1202,1302,1102\n3,1303,1103,1203\n";
    const char *single = "ChainId,TargetId\n11,1104\n12,1204\n13,1304\n";
    size_t targets = STORAGE_CLUSTER_NODES * TARGETS_PER_NODE;
    int status = storage_cluster_create_chains(cluster, routing, targets, replicated, 1,
                                               replicated_chains, 3);
    if (status == CHAINFS_OK)
        status = storage_cluster_create_chains(cluster, routing, targets, single, 2, single_chains, 3);
    return status;
}

static int parse_settings(int argc, char **argv, struct bench_settings *settings)
{
    *settings = (struct bench_settings){.seconds = 3, .parent = "/var/tmp", .chunks_per_thread = 64};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            settings->json = true;
        } else if (strcmp(argv[i], "--sync") == 0) {
            settings->sync = true;
        } else if (strcmp(argv[i], "--keep") == 0) {
            settings->keep = true;
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            settings->seconds = (unsigned)atoi(argv[++i]);
            if (settings->seconds < 1 || settings->seconds > 600)
                return 2;
        } else if (strcmp(argv[i], "--batch-items") == 0 && i + 1 < argc) {
            settings->batch_items = (unsigned)atoi(argv[++i]);
            if (settings->batch_items < 1 || settings->batch_items > STORAGE_BATCH_READ_ITEMS_MAX)
                return 2;
        } else if (strcmp(argv[i], "--chunks-per-thread") == 0 && i + 1 < argc) {
            settings->chunks_per_thread = (unsigned)atoi(argv[++i]);
            if (settings->chunks_per_thread < 1 || settings->chunks_per_thread > CHUNKS_PER_THREAD_MAX)
                return 2;
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            settings->parent = argv[++i];
        } else {
            return 2;
        }
    }
    return 0;
}

int storage_bench_main(int argc, char **argv)
{
    struct bench_settings settings;
    if (parse_settings(argc, argv, &settings) != 0) {
        fprintf(stderr, "usage: chainfs bench storage [--json] [--seconds S (1..600, default 3)] "
                        "[--dir DIR (default /var/tmp)] [--sync] [--keep] [--batch-items N]\n"
                        "       [--chunks-per-thread N (1..1024, default 64)]\n");
        return 2;
    }
    log_set_level(LOG_LEVEL_WARN);
    char dir[PATH_MAX / 2];
    snprintf(dir, sizeof(dir), "%s/chainfs-bench-storage-XXXXXX", settings.parent);
    if (!mkdtemp(dir)) {
        perror("bench storage: mkdtemp");
        return 1;
    }
    struct limits limits;
    measure_limits(dir, &settings, &limits);
    struct storage_cluster cluster;
    struct storage_client_stack bench = {0};
    struct storage_client_options options;
    storage_client_default_options(&options);
    if (settings.batch_items)
        options.max_batch_items = settings.batch_items;
    int code = 1;
    if (storage_cluster_start(&cluster, dir, TARGETS_PER_NODE, settings.sync) == CHAINFS_OK) {
        if (storage_client_stack_open(&bench, cluster.mgmtd_address, &options) == CHAINFS_OK &&
            create_chains(&cluster, bench.routing) == CHAINFS_OK)
            code = measure(bench.client, &limits, &settings);
        storage_client_stack_close(&bench);
        storage_cluster_stop(&cluster);
    }
    if (settings.keep) {
        fprintf(stderr, "bench storage: kept %s\n", dir);
    } else {
        char command[PATH_MAX];
        snprintf(command, sizeof(command), "rm -rf '%s'", dir);
        if (system(command) != 0)
            fprintf(stderr, "bench storage: could not remove %s\n", dir);
    }
    return code;
}
