/*
 * storage_cluster.c - starting and stopping a local mgmtd + 3 storage cluster.
 */
#include "bench/storage_cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chainfs/error.h"
#include "common/clock.h"
#include "daemon/run_dir.h"
#include "mgmtd/target_state.h"

#define START_TIMEOUT_NS (20 * CLOCK_NS_PER_S)
#define SERVING_TIMEOUT_NS (30 * CLOCK_NS_PER_S)
#define MAX_ARGUMENTS 32

/* Runs /proc/self/exe with arguments (NULL-terminated), output to log (or inherited
 * when NULL). Returns the pid, or -1. */
static pid_t spawn(char *const arguments[], const char *log)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int null_fd = open("/dev/null", O_RDONLY);
    dup2(null_fd, 0);
    if (log) {
        int log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        dup2(log_fd, 1);
        dup2(log_fd, 2);
    }
    execv("/proc/self/exe", arguments);
    _exit(127);
}

/* Starts `chainfs <subcommand> --set ...` named name; its address lands in *address. */
static int start_daemon(struct storage_cluster *cluster, const char *subcommand, const char *name,
                        const char *const *settings, pid_t *pid, char *address, size_t capacity)
{
    char run_setting[PATH_MAX], name_setting[128], log[PATH_MAX];
    snprintf(run_setting, sizeof(run_setting), "daemon.run_dir=%s/run", cluster->dir);
    snprintf(name_setting, sizeof(name_setting), "daemon.name=%s", name);
    snprintf(log, sizeof(log), "%s/%s.log", cluster->dir, name);
    char *arguments[MAX_ARGUMENTS];
    size_t count = 0;
    arguments[count++] = "chainfs";
    arguments[count++] = (char *)subcommand;
    arguments[count++] = "--set";
    arguments[count++] = run_setting;
    arguments[count++] = "--set";
    arguments[count++] = name_setting;
    for (size_t i = 0; settings[i] && count + 3 < MAX_ARGUMENTS; i++) {
        arguments[count++] = "--set";
        arguments[count++] = (char *)settings[i];
    }
    arguments[count] = NULL;
    *pid = spawn(arguments, log);
    if (*pid < 0)
        return CHAINFS_INTERNAL;
    char run_dir[PATH_MAX];
    snprintf(run_dir, sizeof(run_dir), "%s/run", cluster->dir);
    for (uint64_t deadline = deadline_after_ns(START_TIMEOUT_NS); !deadline_expired(deadline);) {
        if (run_dir_read_address(run_dir, name, address, capacity) == 0)
            return CHAINFS_OK;
        if (waitpid(*pid, NULL, WNOHANG) == *pid) {
            *pid = 0;
            fprintf(stderr, "bench: %s exited at start; see %s\n", name, log);
            return CHAINFS_INTERNAL;
        }
        clock_sleep_ns(20 * CLOCK_NS_PER_MS);
    }
    fprintf(stderr, "bench: %s published no address; see %s\n", name, log);
    return CHAINFS_TIMEOUT;
}

static int make_target_directories(const struct storage_cluster *cluster, unsigned node,
                                   unsigned targets_per_node, char *disk, size_t capacity)
{
    snprintf(disk, capacity, "%s/disk-%u", cluster->dir, node);
    for (unsigned t = 1; t <= targets_per_node; t++) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/target-%u", disk, node * 100 + t);
        if (run_dir_make_directories(path) != 0)
            return CHAINFS_IO;
    }
    return CHAINFS_OK;
}

static int start_storage(struct storage_cluster *cluster, unsigned index, unsigned targets_per_node,
                         bool sync)
{
    unsigned node = STORAGE_CLUSTER_FIRST_NODE + index;
    char disk[PATH_MAX], node_setting[64], mgmtd_setting[256], disk_setting[PATH_MAX + 32],
        sync_setting[32], name[32], address[128];
    int status = make_target_directories(cluster, node, targets_per_node, disk, sizeof(disk));
    if (status != CHAINFS_OK)
        return status;
    snprintf(node_setting, sizeof(node_setting), "storage.node_id=%u", node);
    snprintf(mgmtd_setting, sizeof(mgmtd_setting), "storage.mgmtd=%s", cluster->mgmtd_address);
    snprintf(disk_setting, sizeof(disk_setting), "storage.disks=%s", disk);
    snprintf(sync_setting, sizeof(sync_setting), "storage.sync=%s", sync ? "true" : "false");
    snprintf(name, sizeof(name), "storage-%u", node);
    const char *settings[] = {node_setting, mgmtd_setting, disk_setting, sync_setting,
                              "storage.heartbeat_interval=200ms", "storage.heartbeat_fail_interval=5s",
                              "storage.routing_interval=200ms", "rpc.worker_threads=8",
                              "rpc.io_threads=2", "log.level=warn", NULL};
    return start_daemon(cluster, "storage", name, settings, &cluster->storage_pids[index], address,
                        sizeof(address));
}

int storage_cluster_start(struct storage_cluster *cluster, const char *dir, unsigned targets_per_node,
                          bool sync)
{
    memset(cluster, 0, sizeof(*cluster));
    snprintf(cluster->dir, sizeof(cluster->dir), "%s", dir);
    char kv_setting[PATH_MAX];
    snprintf(kv_setting, sizeof(kv_setting), "kv.lmdb_path=%s/kv", dir);
    const char *settings[] = {"mgmtd.node_id=1", kv_setting, "kv.durability=nosync",
                              "mgmtd.tick_interval=100ms", "mgmtd.lease_length=2s",
                              "mgmtd.heartbeat_fail_interval=5s", "log.level=warn", NULL};
    int status = start_daemon(cluster, "mgmtd", "mgmtd", settings, &cluster->mgmtd_pid,
                              cluster->mgmtd_address, sizeof(cluster->mgmtd_address));
    for (unsigned i = 0; status == CHAINFS_OK && i < STORAGE_CLUSTER_NODES; i++)
        status = start_storage(cluster, i, targets_per_node, sync);
    if (status != CHAINFS_OK)
        storage_cluster_stop(cluster);
    return status;
}

/* `chainfs admin --mgmtd A <command> <argument> [<argument>]`; 0 when it exited 0. */
static int run_admin(struct storage_cluster *cluster, const char *command, const char *first,
                     const char *second)
{
    char log[PATH_MAX];
    snprintf(log, sizeof(log), "%s/admin.log", cluster->dir);
    char *arguments[] = {"chainfs", "admin", "--mgmtd", cluster->mgmtd_address, (char *)command,
                         (char *)first, (char *)second, NULL};
    pid_t pid = spawn(arguments, log);
    int wait_status = 0;
    if (pid < 0 || waitpid(pid, &wait_status, 0) != pid || !WIFEXITED(wait_status) ||
        WEXITSTATUS(wait_status) != 0) {
        fprintf(stderr, "bench: chainfs admin %s failed; see %s\n", command, log);
        return CHAINFS_INTERNAL;
    }
    return CHAINFS_OK;
}

static bool write_file(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");
    if (!file)
        return false;
    bool ok = fputs(text, file) >= 0;
    return fclose(file) == 0 && ok;
}

/* Whether the routing shows at least target_count targets (any state). */
static bool targets_registered(struct routing_cache *routing, size_t target_count)
{
    routing_cache_refresh(routing);
    struct routing_snapshot *snapshot = routing_cache_acquire(routing);
    bool registered = snapshot && snapshot->info.target_count >= target_count;
    routing_snapshot_release(snapshot);
    return registered;
}

/* Whether every target of the chains is serving. */
static bool chains_serving(struct routing_cache *routing, const uint32_t *chain_ids, size_t chain_count)
{
    routing_cache_refresh(routing);
    struct routing_snapshot *snapshot = routing_cache_acquire(routing);
    bool serving = snapshot != NULL;
    for (size_t c = 0; serving && c < chain_count; c++) {
        const struct target_record *targets[CHAIN_TARGETS_MAX];
        size_t count = routing_chain_targets(&snapshot->info, chain_ids[c], targets);
        serving = count > 0;
        for (size_t t = 0; serving && t < count; t++)
            serving = targets[t]->public_state == TARGET_PUBLIC_SERVING;
    }
    routing_snapshot_release(snapshot);
    return serving;
}

static bool wait_for(bool (*ready)(void *), void *argument, uint64_t timeout_ns)
{
    for (uint64_t deadline = deadline_after_ns(timeout_ns); !deadline_expired(deadline);) {
        if (ready(argument))
            return true;
        clock_sleep_ns(100 * CLOCK_NS_PER_MS);
    }
    return false;
}

struct chains_wait {
    struct routing_cache *routing;
    size_t target_count;
    const uint32_t *chain_ids;
    size_t chain_count;
};

static bool registered_ready(void *argument)
{
    struct chains_wait *wait = argument;
    return targets_registered(wait->routing, wait->target_count);
}

static bool serving_ready(void *argument)
{
    struct chains_wait *wait = argument;
    return chains_serving(wait->routing, wait->chain_ids, wait->chain_count);
}

int storage_cluster_create_chains(struct storage_cluster *cluster, struct routing_cache *routing,
                                  size_t target_count, const char *chains_csv, uint32_t table_id,
                                  const uint32_t *chain_ids, size_t chain_count)
{
    struct chains_wait wait = {routing, target_count, chain_ids, chain_count};
    if (!wait_for(registered_ready, &wait, SERVING_TIMEOUT_NS)) {
        fprintf(stderr, "bench: the storage targets did not register with mgmtd (logs in %s)\n",
                cluster->dir);
        return CHAINFS_TIMEOUT;
    }
    char chains_path[PATH_MAX], table_path[PATH_MAX], table_argument[16];
    snprintf(chains_path, sizeof(chains_path), "%s/chains-%u.csv", cluster->dir, table_id);
    snprintf(table_path, sizeof(table_path), "%s/table-%u.csv", cluster->dir, table_id);
    snprintf(table_argument, sizeof(table_argument), "%u", table_id);
    char table[4096] = "ChainId\n";
    for (size_t i = 0; i < chain_count; i++)
        snprintf(table + strlen(table), sizeof(table) - strlen(table), "%u\n", chain_ids[i]);
    if (!write_file(chains_path, chains_csv) || !write_file(table_path, table))
        return CHAINFS_IO;
    int status = run_admin(cluster, "upload-chains", chains_path, NULL);
    if (status == CHAINFS_OK)
        status = run_admin(cluster, "upload-chain-table", table_argument, table_path);
    if (status == CHAINFS_OK && !wait_for(serving_ready, &wait, SERVING_TIMEOUT_NS)) {
        fprintf(stderr, "bench: the chains did not become serving (logs in %s)\n", cluster->dir);
        status = CHAINFS_TIMEOUT;
    }
    return status;
}

/* Stops one process: SIGTERM, then SIGKILL after the timeout. */
static void stop_process(pid_t *pid)
{
    if (*pid <= 0)
        return;
    kill(*pid, SIGTERM);
    for (uint64_t deadline = deadline_after_ns(15 * CLOCK_NS_PER_S); !deadline_expired(deadline);) {
        if (waitpid(*pid, NULL, WNOHANG) == *pid) {
            *pid = 0;
            return;
        }
        clock_sleep_ns(10 * CLOCK_NS_PER_MS);
    }
    kill(*pid, SIGKILL);
    waitpid(*pid, NULL, 0);
    *pid = 0;
}

void storage_cluster_stop(struct storage_cluster *cluster)
{
    for (int i = STORAGE_CLUSTER_NODES - 1; i >= 0; i--)
        stop_process(&cluster->storage_pids[i]);
    stop_process(&cluster->mgmtd_pid);
}
