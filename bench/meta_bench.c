/*
 * meta_bench.c - `chainfs bench meta` (see meta_bench.h).
 *
 * The meta servers are real `chainfs meta` processes (this binary, standalone, LMDB
 * without fsync in a temporary directory), so the figures include RPC, worker
 * dispatch and KV transactions, as a client sees them. Every metadata operation is at
 * least one KV read-write transaction, so the raw transaction rate of LMDB with the
 * same number of threads is the limit the figures are compared with.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/meta_bench.h"
#include "chainfs/error.h"
#include "client/meta_client.h"
#include "common/bench_report.h"
#include "common/clock.h"
#include "common/log.h"
#include "daemon/run_dir.h"
#include "kv/kv.h"

#define SERVERS_MAX 4
#define THREADS_MAX 64

struct settings {
    bool json;
    int threads;
    int files;
    int servers;
    char directory[64];
};

/* --- meta server processes ----------------------------------------------------------- */

static pid_t start_server(const struct settings *settings, int index)
{
    char name[32], run_dir[96], kv_path[96], node[32], kv_dir[128];
    snprintf(name, sizeof(name), "daemon.name=meta-%d", index);
    snprintf(run_dir, sizeof(run_dir), "daemon.run_dir=%s/run", settings->directory);
    snprintf(kv_path, sizeof(kv_path), "%s/kv", settings->directory);
    snprintf(kv_dir, sizeof(kv_dir), "kv.lmdb_path=%s", kv_path);
    snprintf(node, sizeof(node), "meta.node_id=%d", index + 1);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execl("/proc/self/exe", "chainfs", "meta", "--set", name, "--set", run_dir, "--set", kv_dir,
              "--set", "kv.durability=nosync", "--set", node, "--set", "log.level=error",
              "--set", "rpc.worker_threads=8", (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int wait_for_address(const struct settings *settings, int index, char *address)
{
    char run_dir[96], name[32];
    snprintf(run_dir, sizeof(run_dir), "%s/run", settings->directory);
    snprintf(name, sizeof(name), "meta-%d", index);
    for (int attempt = 0; attempt < 300; attempt++) { /* 30 s */
        if (run_dir_read_address(run_dir, name, address, ADDRESS_TEXT_MAX) == 0)
            return 0;
        usleep(100000);
    }
    return CHAINFS_TIMEOUT;
}

static void stop_server(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    for (int attempt = 0; attempt < 200; attempt++) { /* 20 s, then SIGKILL */
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return;
        usleep(100000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* --- client threads ----------------------------------------------------------------- */

enum phase { PHASE_CREATE, PHASE_STAT, PHASE_UNLINK };

struct worker {
    struct meta_client *client;
    uint64_t directory_id;
    int index;
    int files;
    enum phase phase;
    int status;
};

static const struct meta_credentials bench_root = {0, 0, 0, {0}};

static void *worker_main(void *argument)
{
    struct worker *worker = argument;
    for (int i = 0; i < worker->files && worker->status == 0; i++) {
        char name[48];
        snprintf(name, sizeof(name), "t%d-f%d", worker->index, i);
        struct inode inode;
        if (worker->phase == PHASE_CREATE)
            worker->status = meta_client_create_file(worker->client, &bench_root, worker->directory_id,
                                                     name, 0644, META_CREATE_EXCLUSIVE, 0, &inode);
        else if (worker->phase == PHASE_STAT)
            worker->status = meta_client_lookup(worker->client, &bench_root, worker->directory_id,
                                                name, &inode);
        else
            worker->status = meta_client_unlink(worker->client, &bench_root, worker->directory_id, name);
    }
    return NULL;
}

/* Runs one phase on every worker at once; returns operations per second. */
static int run_phase(struct worker *workers, int threads, enum phase phase, double *rate)
{
    pthread_t ids[THREADS_MAX];
    uint64_t start = clock_now_ns();
    int status = 0, started = 0;
    for (int i = 0; i < threads; i++) {
        workers[i].phase = phase;
        if (pthread_create(&ids[i], NULL, worker_main, &workers[i]) != 0) {
            status = CHAINFS_NO_MEMORY;
            break;
        }
        started++;
    }
    long operations = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(ids[i], NULL);
        if (workers[i].status)
            status = workers[i].status;
        operations += workers[i].files;
    }
    *rate = (double)operations / ((double)(clock_now_ns() - start) / 1e9);
    return status;
}

/* --- the raw KV limit ------------------------------------------------------------------ */

struct kv_worker {
    struct kv_store *store;
    uint64_t deadline;
    unsigned seed;
    long completed;
};

static int kv_read_write(struct kv_transaction *transaction, void *argument)
{
    struct kv_worker *worker = argument;
    char key[32];
    int length = snprintf(key, sizeof(key), "bench%08u", (unsigned)rand_r(&worker->seed) % 100000);
    const void *value;
    size_t value_length;
    int status = kv_get(transaction, key, (size_t)length, &value, &value_length);
    if (status != 0 && status != CHAINFS_NOT_FOUND)
        return status;
    length = snprintf(key, sizeof(key), "bench%08u", (unsigned)rand_r(&worker->seed) % 100000);
    return kv_set(transaction, key, (size_t)length, "0123456789abcdef0123456789abcdef", 32);
}

static void *kv_worker_main(void *argument)
{
    struct kv_worker *worker = argument;
    while (clock_now_ns() < worker->deadline)
        if (kv_run_transaction(worker->store, kv_read_write, worker, NULL) == 0)
            worker->completed++;
    return NULL;
}

static int measure_kv_rate(const struct settings *settings, double *rate)
{
    char path[96];
    snprintf(path, sizeof(path), "%s/kv-limit", settings->directory);
    if (mkdir(path, 0700) != 0)
        return CHAINFS_IO;
    struct kv_options options = {.backend = "lmdb", .lmdb_path = path, .lmdb_map_size = 256 << 20,
                                 .durability = KV_DURABILITY_NOSYNC};
    struct kv_store *store;
    int status = kv_open(&options, &store);
    if (status != 0)
        return status;
    struct kv_worker workers[THREADS_MAX];
    pthread_t ids[THREADS_MAX];
    uint64_t start = clock_now_ns();
    long completed = 0;
    int started = 0;
    for (int i = 0; i < settings->threads; i++) {
        workers[i] = (struct kv_worker){store, start + 2 * CLOCK_NS_PER_S, (unsigned)i * 7919 + 1, 0};
        if (pthread_create(&ids[i], NULL, kv_worker_main, &workers[i]) == 0)
            started++;
    }
    for (int i = 0; i < started; i++) {
        pthread_join(ids[i], NULL);
        completed += workers[i].completed;
    }
    *rate = (double)completed / ((double)(clock_now_ns() - start) / 1e9);
    kv_close(store);
    return 0;
}

/* --- the run ------------------------------------------------------------------------- */

static void report(const struct settings *settings, const char *figure, double value, double limit)
{
    char name[64];
    snprintf(name, sizeof(name), "%s_%dthreads", figure, settings->threads);
    struct bench_figure line = {"meta", name, value, "ops/s", "lmdb_nosync_read_write_txn_rate",
                                limit};
    bench_report_figure(&line, settings->json);
}

/* Creates, stats and unlinks files in per-thread directories, then creates in one
 * shared directory. */
static int run_workload(const struct settings *settings, struct meta_client **clients,
                        double kv_rate)
{
    struct worker workers[THREADS_MAX];
    struct inode inode;
    char name[32];
    int status = 0;
    for (int i = 0; i < settings->threads && status == 0; i++) {
        snprintf(name, sizeof(name), "private-%d", i);
        status = meta_client_mkdir(clients[i % settings->servers], &bench_root, META_ROOT_ID, name,
                                   0755, &inode);
        workers[i] = (struct worker){clients[i % settings->servers], inode.id, i, settings->files,
                                     PHASE_CREATE, 0};
    }
    double rate;
    static const char *const names[] = {"create_private", "stat_private", "unlink_private"};
    for (int phase = PHASE_CREATE; phase <= PHASE_UNLINK && status == 0; phase++) {
        status = run_phase(workers, settings->threads, (enum phase)phase, &rate);
        if (status == 0)
            report(settings, names[phase], rate, kv_rate);
    }
    if (status == 0)
        status = meta_client_mkdir(clients[0], &bench_root, META_ROOT_ID, "shared", 0755, &inode);
    for (int i = 0; i < settings->threads; i++)
        workers[i].directory_id = inode.id;
    if (status == 0)
        status = run_phase(workers, settings->threads, PHASE_CREATE, &rate);
    if (status == 0)
        report(settings, "create_shared", rate, kv_rate);
    return status;
}

static int remove_entry(const char *path, const struct stat *info, int flag, struct FTW *walk)
{
    return remove(path);
}

static int parse_options(int argc, char **argv, struct settings *settings)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},         {"threads", required_argument, NULL, 't'},
        {"files", required_argument, NULL, 'f'},  {"servers", required_argument, NULL, 's'},
        {NULL, 0, NULL, 0}};
    int option;
    optind = 1;
    while ((option = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (option) {
        case 'j': settings->json = true; break;
        case 't': settings->threads = atoi(optarg); break;
        case 'f': settings->files = atoi(optarg); break;
        case 's': settings->servers = atoi(optarg); break;
        default: return 2;
        }
    }
    if (settings->threads < 1 || settings->threads > THREADS_MAX || settings->files < 1 ||
        settings->servers < 1 || settings->servers > SERVERS_MAX) {
        fprintf(stderr, "usage: chainfs bench meta [--json] [--threads 1..%d] [--files N] "
                        "[--servers 1..%d]\n", THREADS_MAX, SERVERS_MAX);
        return 2;
    }
    return 0;
}

int meta_bench_main(int argc, char **argv)
{
    struct settings settings = {.threads = 8, .files = 2000, .servers = 2};
    if (parse_options(argc, argv, &settings) != 0)
        return 2;
    log_set_level(LOG_LEVEL_WARN);
    snprintf(settings.directory, sizeof(settings.directory), "/tmp/chainfs-bench-meta-XXXXXX");
    if (!mkdtemp(settings.directory))
        return 1;
    double kv_rate = 0;
    int status = measure_kv_rate(&settings, &kv_rate);
    pid_t pids[SERVERS_MAX] = {0};
    char addresses[SERVERS_MAX][ADDRESS_TEXT_MAX];
    for (int i = 0; i < settings.servers && status == 0; i++) {
        pids[i] = start_server(&settings, i);
        status = pids[i] > 0 ? wait_for_address(&settings, i, addresses[i]) : CHAINFS_IO;
    }
    struct rpc_client *rpc = NULL;
    struct meta_client *clients[SERVERS_MAX] = {0};
    struct rpc_client_options rpc_options;
    rpc_client_default_options(&rpc_options);
    if (status == 0)
        status = rpc_client_create(&rpc_options, &rpc);
    /* one client per server: threads are spread over the servers */
    for (int i = 0; i < settings.servers && status == 0; i++) {
        struct meta_client_options options = {.rpc = rpc, .servers = addresses[i]};
        status = meta_client_create(&options, &clients[i]);
    }
    if (status == 0)
        status = run_workload(&settings, clients, kv_rate);
    for (int i = 0; i < settings.servers; i++)
        meta_client_destroy(clients[i]);
    if (rpc)
        rpc_client_destroy(rpc);
    for (int i = 0; i < settings.servers; i++)
        stop_server(pids[i]);
    nftw(settings.directory, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (status != 0)
        fprintf(stderr, "chainfs bench meta: %s\n", chainfs_error_message(status));
    return status == 0 ? 0 : 1;
}
