/*
 * kv_bench.c - `chainfs bench kv`: point-read transactions, 1-read-1-write
 * transactions and 100-key range reads per second, with 1 and 4 concurrent clients,
 * for LMDB nosync, LMDB sync and PostgreSQL, plus the fsync rate of the disk the LMDB
 * environment is on, measured in the same run and printed as the limit of the figures
 * that wait for the disk.
 *
 * Clients are threads of this process sharing one kv_store (the way the services of
 * chainfs use it), each running its own transactions back to back. With LMDB, commits
 * of concurrent threads share one LMDB write transaction and one sync (group commit).
 *
 * Options:
 *   --json               one JSON object per figure
 *   --duration SECONDS   measuring time per figure (default 1)
 *   --dir DIR            where the LMDB environments and the fsync probe file go
 *                        (default: a new directory under /tmp, removed afterwards)
 *   --backends LIST      comma-separated: lmdb-nosync,lmdb-sync,postgres (default all)
 *   --pg-conninfo STR    PostgreSQL to measure
 *   --pg-start           start a throwaway cluster with --pg-script (default
 *                        scripts/pg-test-cluster.sh) in DIR/pg; its fsync-bound figures
 *                        then also get the fsync limit
 * PostgreSQL is measured only with --pg-conninfo or --pg-start.
 */
#define LOG_COMPONENT "kv"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "chainfs/error.h"
#include "common/bench_report.h"
#include "common/clock.h"
#include "common/log.h"
#include "kv/kv.h"
#include "kv/kv_bench.h"

#define BENCH_KEYS 10000
#define BENCH_VALUE_BYTES 100
#define BENCH_RANGE_ROWS 100
#define BENCH_MAX_CLIENTS 4
#define BENCH_FSYNC_BLOCK 4096

struct bench_settings {
    bool json;
    double duration_s;
    char directory[256];
    bool own_directory;
    const char *backends;
    const char *pg_conninfo;
    bool pg_start;
    const char *pg_script;
    char started_conninfo[512];
    double fsync_rate;
};

enum workload { WORKLOAD_POINT_READ, WORKLOAD_READ_WRITE, WORKLOAD_RANGE_READ };

static const char *const workload_names[] = {"point_read", "read_write", "range_read_100"};

struct client {
    struct kv_store *store;
    enum workload workload;
    uint64_t deadline;
    uint64_t random_state;
    uint64_t completed;
    uint64_t conflicts;
    int status;
};

/* ---- workloads ---- */

static unsigned next_random(struct client *client)
{
    uint64_t x = client->random_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    client->random_state = x;
    return (unsigned)(x >> 11);
}

static size_t bench_key(unsigned number, char *key)
{
    return (size_t)sprintf(key, "bench/%08u", number % BENCH_KEYS);
}

static int run_one(struct client *client)
{
    struct kv_transaction *transaction;
    int status = kv_begin(client->store, &transaction);
    if (status != 0)
        return status;
    char key[32];
    size_t key_length = bench_key(next_random(client), key);
    const void *value;
    size_t value_length;
    if (client->workload == WORKLOAD_RANGE_READ) {
        struct kv_range_result result;
        struct kv_range_options options = {.limit = BENCH_RANGE_ROWS};
        status = kv_get_range(transaction, key, key_length, "bench0", 6, &options, &result);
    } else {
        status = kv_get(transaction, key, key_length, &value, &value_length);
    }
    if (status == 0 && client->workload == WORKLOAD_READ_WRITE) {
        char fresh[BENCH_VALUE_BYTES];
        memset(fresh, 'w', sizeof(fresh));
        key_length = bench_key(next_random(client), key);
        status = kv_set(transaction, key, key_length, fresh, sizeof(fresh));
    }
    if (status != 0) {
        kv_abort(transaction);
        return status;
    }
    return kv_commit(transaction);
}

static void *client_main(void *argument)
{
    struct client *client = argument;
    while (clock_now_ns() < client->deadline) {
        int status = run_one(client);
        if (status == CHAINFS_CONFLICT) {
            client->conflicts++;
        } else if (status != 0) {
            client->status = status;
            break;
        } else {
            client->completed++;
        }
    }
    return NULL;
}

/* Transactions per second of clients threads running the workload. */
static int measure(const struct bench_settings *settings, struct kv_store *store,
                   enum workload workload, int clients, double *rate)
{
    struct client work[BENCH_MAX_CLIENTS];
    pthread_t threads[BENCH_MAX_CLIENTS];
    uint64_t start = clock_now_ns();
    uint64_t deadline = start + (uint64_t)(settings->duration_s * 1e9);
    for (int i = 0; i < clients; i++) {
        work[i] = (struct client){store, workload, deadline, 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1) ^ start, 0, 0, 0};
        if (pthread_create(&threads[i], NULL, client_main, &work[i]) != 0)
            return CHAINFS_NO_MEMORY;
    }
    uint64_t completed = 0;
    int status = 0;
    for (int i = 0; i < clients; i++) {
        pthread_join(threads[i], NULL);
        completed += work[i].completed;
        if (work[i].status)
            status = work[i].status;
    }
    double elapsed = (double)(clock_now_ns() - start) / 1e9;
    *rate = (double)completed / elapsed;
    return status;
}

static int preload(struct kv_store *store)
{
    char value[BENCH_VALUE_BYTES];
    memset(value, 'v', sizeof(value));
    for (unsigned first = 0; first < BENCH_KEYS; first += 1000) {
        struct kv_transaction *transaction;
        int status = kv_begin(store, &transaction);
        for (unsigned number = first; status == 0 && number < first + 1000; number++) {
            char key[32];
            status = kv_set(transaction, key, bench_key(number, key), value, sizeof(value));
        }
        if (status == 0)
            status = kv_commit(transaction);
        else
            kv_abort(transaction);
        if (status != 0)
            return status;
    }
    return 0;
}

/* ---- the disk's fsync rate ---- */

static double measure_fsync_rate(const struct bench_settings *settings)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/fsync-probe", settings->directory);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return 0;
    static char block[BENCH_FSYNC_BLOCK];
    memset(block, 'f', sizeof(block));
    uint64_t start = clock_now_ns(), deadline = start + (uint64_t)(settings->duration_s * 1e9);
    uint64_t count = 0;
    while (clock_now_ns() < deadline) {
        if (pwrite(fd, block, sizeof(block), 0) != (ssize_t)sizeof(block) || fdatasync(fd) != 0)
            break;
        count++;
    }
    double elapsed = (double)(clock_now_ns() - start) / 1e9;
    close(fd);
    unlink(path);
    return (double)count / elapsed;
}

/* ---- one backend ---- */

struct backend_run {
    const char *label;         /* "lmdb_nosync" */
    struct kv_options options;
    bool disk_bound_writes;    /* its commits wait for an fsync */
};

static void report(const struct bench_settings *settings, const char *figure, double value,
                   const char *unit, const char *limit, double limit_value)
{
    struct bench_figure line = {"kv", figure, value, unit, limit, limit_value};
    bench_report_figure(&line, settings->json);
}

static int bench_backend(const struct bench_settings *settings, const struct backend_run *run)
{
    struct kv_store *store;
    int status = kv_open(&run->options, &store);
    if (status == 0)
        status = preload(store);
    for (int workload = 0; workload < 3 && status == 0; workload++) {
        for (int clients = 1; clients <= BENCH_MAX_CLIENTS && status == 0; clients *= 4) {
            double rate;
            status = measure(settings, store, (enum workload)workload, clients, &rate);
            char figure[96];
            snprintf(figure, sizeof(figure), "%s_%s_%dclient%s", run->label,
                     workload_names[workload], clients, clients > 1 ? "s" : "");
            bool fsync_bound = run->disk_bound_writes && workload == WORKLOAD_READ_WRITE;
            if (status == 0)
                report(settings, figure, rate, "txn/s", fsync_bound ? "fsync_4k_same_disk" : NULL,
                       fsync_bound ? settings->fsync_rate : 0);
        }
    }
    if (status != 0)
        fprintf(stderr, "bench kv: %s: %s\n", run->label, chainfs_error_message(status));
    if (store)
        kv_close(store);
    return status;
}

/* ---- setup ---- */

static int remove_entry(const char *path, const struct stat *info, int flag, struct FTW *walk)
{
    (void)info, (void)flag, (void)walk;
    return remove(path);
}

static bool wanted(const struct bench_settings *settings, const char *backend)
{
    if (!settings->backends)
        return true;
    size_t length = strlen(backend);
    for (const char *at = settings->backends; (at = strstr(at, backend)) != NULL; at += length)
        if ((at == settings->backends || at[-1] == ',') && (at[length] == 0 || at[length] == ','))
            return true;
    return false;
}

static int start_postgres(struct bench_settings *settings)
{
    char command[768];
    snprintf(command, sizeof(command), "'%s' start '%s/pg'", settings->pg_script,
             settings->directory);
    FILE *output = popen(command, "r");
    if (!output)
        return CHAINFS_IO;
    bool read_line = fgets(settings->started_conninfo, sizeof(settings->started_conninfo), output) != NULL;
    int exit_status = pclose(output);
    if (!read_line || exit_status != 0) {
        fprintf(stderr, "bench kv: %s failed\n", command);
        return CHAINFS_UNAVAILABLE;
    }
    settings->started_conninfo[strcspn(settings->started_conninfo, "\n")] = 0;
    settings->pg_conninfo = settings->started_conninfo;
    return 0;
}

static void stop_postgres(const struct bench_settings *settings)
{
    char command[768];
    snprintf(command, sizeof(command), "'%s' stop '%s/pg'", settings->pg_script,
             settings->directory);
    if (system(command) != 0)
        fprintf(stderr, "bench kv: %s failed\n", command);
}

static void usage(void)
{
    fprintf(stderr, "usage: chainfs bench kv [--json] [--duration SECONDS] [--dir DIR]\n"
                    "       [--backends lmdb-nosync,lmdb-sync,postgres]\n"
                    "       [--pg-conninfo CONNINFO | --pg-start [--pg-script PATH]]\n");
}

static int parse_options(int argc, char **argv, struct bench_settings *settings)
{
    *settings = (struct bench_settings){.duration_s = 1.0, .pg_script = "scripts/pg-test-cluster.sh"};
    for (int i = 1; i < argc; i++) {
        const char *option = argv[i];
        const char *argument = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes_argument = true;
        if (strcmp(option, "--json") == 0) {
            settings->json = true;
            takes_argument = false;
        } else if (strcmp(option, "--pg-start") == 0) {
            settings->pg_start = true;
            takes_argument = false;
        } else if (!argument) {
            usage();
            return CHAINFS_INVALID_ARGUMENT;
        } else if (strcmp(option, "--duration") == 0) {
            char *end;
            settings->duration_s = strtod(argument, &end);
            if (*end || !(settings->duration_s > 0 && settings->duration_s <= 3600)) {
                fprintf(stderr, "bench kv: --duration wants seconds in (0, 3600]\n");
                return CHAINFS_INVALID_ARGUMENT;
            }
        } else if (strcmp(option, "--dir") == 0) {
            snprintf(settings->directory, sizeof(settings->directory), "%s", argument);
        } else if (strcmp(option, "--backends") == 0) {
            settings->backends = argument;
        } else if (strcmp(option, "--pg-conninfo") == 0) {
            settings->pg_conninfo = argument;
        } else if (strcmp(option, "--pg-script") == 0) {
            settings->pg_script = argument;
        } else {
            usage();
            return CHAINFS_INVALID_ARGUMENT;
        }
        i += takes_argument;
    }
    return 0;
}

static int prepare_directory(struct bench_settings *settings)
{
    if (settings->directory[0]) {
        if (mkdir(settings->directory, 0755) != 0 && errno != EEXIST)
            return CHAINFS_IO;
        return 0;
    }
    snprintf(settings->directory, sizeof(settings->directory), "/tmp/chainfs-kv-bench-XXXXXX");
    if (!mkdtemp(settings->directory))
        return CHAINFS_IO;
    chmod(settings->directory, 0755); /* the PostgreSQL user must reach DIR/pg */
    settings->own_directory = true;
    return 0;
}

static int run_backends(struct bench_settings *settings)
{
    char lmdb_nosync[300], lmdb_sync[300];
    snprintf(lmdb_nosync, sizeof(lmdb_nosync), "%s/lmdb-nosync", settings->directory);
    snprintf(lmdb_sync, sizeof(lmdb_sync), "%s/lmdb-sync", settings->directory);
    struct backend_run runs[] = {
        {"lmdb_nosync", {.backend = "lmdb", .lmdb_path = lmdb_nosync, .durability = KV_DURABILITY_NOSYNC}, false},
        {"lmdb_sync", {.backend = "lmdb", .lmdb_path = lmdb_sync, .durability = KV_DURABILITY_SYNC}, true},
        {"postgres", {.backend = "postgres", .postgres_conninfo = settings->pg_conninfo,
                      .postgres_table = "kv_bench"}, settings->pg_start},
    };
    const char *names[] = {"lmdb-nosync", "lmdb-sync", "postgres"};
    int status = 0;
    for (int i = 0; i < 3 && status == 0; i++) {
        if (!wanted(settings, names[i]))
            continue;
        if (i == 2 && !settings->pg_conninfo) {
            fprintf(stderr, "bench kv: postgres skipped (give --pg-conninfo or --pg-start)\n");
            continue;
        }
        status = bench_backend(settings, &runs[i]);
    }
    return status;
}

int kv_bench_main(int argc, char **argv)
{
    struct bench_settings settings;
    if (parse_options(argc, argv, &settings) != 0)
        return 2;
    if (prepare_directory(&settings) != 0) {
        fprintf(stderr, "bench kv: cannot create %s\n", settings.directory);
        return 1;
    }
    int status = 0;
    bool pg_started = false;
    if (settings.pg_start && wanted(&settings, "postgres"))
        pg_started = (status = start_postgres(&settings)) == 0;
    if (status == 0) {
        settings.fsync_rate = measure_fsync_rate(&settings);
        report(&settings, "fsync_4k_same_disk", settings.fsync_rate, "ops/s", NULL, 0);
        status = run_backends(&settings);
    }
    if (pg_started)
        stop_postgres(&settings);
    if (settings.own_directory)
        nftw(settings.directory, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    return status == 0 ? 0 : 1;
}
