/*
 * local_cluster.c - `chainfs up`, `down` and `status`: a whole cluster on this machine.
 *
 * `up` starts, in a run directory (default /var/tmp/chainfs), one mgmtd (--mgmtd N:
 * N) and two meta servers sharing one KV store (embedded LMDB in <dir>/kv, or
 * PostgreSQL), storage services with several targets each (<dir>/storage-N), uploads a replicated chain
 * table, waits until every chain serves and mounts the file system through FUSE
 * (<dir>/mnt by default). Each process is a detached child of its own (new session,
 * stdin from /dev/null, output to <dir>/log/<name>.log); `up` waits until it published
 * its address and answers health (the mount: until it is mounted), and says what it
 * started and what to do next. A second `up` reuses the data and whatever still runs,
 * and restarts what does not. Each mgmtd listens on a port pinned at the first `up`
 * (local_cluster_mgmtd.c), since every service and the mount know it only by that.
 *
 * `down` stops the mount first (clean unmount), then meta, storage and mgmtd, each
 * by SIGTERM to the pid recorded in <dir>/run (SIGKILL after a timeout); processes are
 * found by their pid files only, never by name. `status` lists them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chainfs/error.h"
#include "cli/commands.h"
#include "cli/local_cluster.h"
#include "common/clock.h"
#include "common/log.h"
#include "daemon/run_dir.h"
#include "mgmtd/mgmtd_client.h"
#include "mgmtd/mgmtd_protocol.h"
#include "net/rpc_client.h"
#include "net/system_service.h"

#define DEFAULT_CLUSTER_DIR "/var/tmp/chainfs"
#define START_TIMEOUT_NS (30 * CLOCK_NS_PER_S)
#define STOP_TIMEOUT_NS (20 * CLOCK_NS_PER_S)
#define ARGUMENTS_MAX 48

/* One process of the cluster and its command line. */
struct cluster_process {
    char name[32];
    const char *subcommand;
    char *arguments[ARGUMENTS_MAX]; /* after "chainfs <subcommand>", NULL-terminated */
    size_t count;
    char text[ARGUMENTS_MAX][PATH_MAX + 64];
};

static void add_argument(struct cluster_process *process, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void add_argument(struct cluster_process *process, const char *format, ...)
{
    if (process->count + 1 >= ARGUMENTS_MAX)
        return;
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(process->text[process->count], sizeof(process->text[0]), format, arguments);
    va_end(arguments);
    process->arguments[process->count] = process->text[process->count];
    process->arguments[++process->count] = NULL;
}

static void add_setting(struct cluster_process *process, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* "--set section.key=value", the setting formatted like printf. */
static void add_setting(struct cluster_process *process, const char *format, ...)
{
    char setting[PATH_MAX + 64];
    va_list arguments;
    va_start(arguments, format);
    vsnprintf(setting, sizeof(setting), format, arguments);
    va_end(arguments);
    add_argument(process, "--set");
    add_argument(process, "%s", setting);
}

/* A service daemon named name, with the run directory settings every one takes. */
static void service_process(struct cluster_process *process, const struct local_cluster *cluster,
                            const char *subcommand, const char *name)
{
    memset(process, 0, sizeof(*process));
    snprintf(process->name, sizeof(process->name), "%s", name);
    process->subcommand = subcommand;
    add_setting(process, "daemon.name=%s", name);
    add_setting(process, "daemon.run_dir=%s", cluster->run);
}

/* kv.* settings of the shared store. */
static void add_kv_settings(struct cluster_process *process, const struct local_cluster *cluster)
{
    if (cluster->postgres) {
        add_setting(process, "kv.backend=postgres");
        add_setting(process, "kv.postgres_conninfo=%s", cluster->postgres);
        return;
    }
    add_setting(process, "kv.backend=lmdb");
    add_setting(process, "kv.lmdb_path=%s/kv", cluster->dir);
    if (cluster->fast)
        add_setting(process, "kv.durability=nosync"); /* tests: no fdatasync per commit */
}

/* Heartbeats every second (fast: 200 ms) and failure after 10 s (fast: 6 s): a local
 * cluster recovers from a restart in seconds rather than the production minute. The
 * fast interval is not shorter because a member stops serving after half of it
 * without mgmtd (storage exits), and a lone mgmtd restarted must be back before that:
 * under the sanitizers on a busy 2-core machine one took 2.1 s from exec to listening
 * (`chainfs --help` alone 0.5-0.8 s), which 3 s (1.5 s) and 5 s (2.5 s) missed. */
static const char *heartbeat_interval(const struct local_cluster *cluster)
{
    return cluster->fast ? "200ms" : "1s";
}

static const char *fail_interval(const struct local_cluster *cluster)
{
    return cluster->fast ? "6s" : "10s";
}

/* The lease and the tick. After a SIGKILL the dead primary holds the lease for
 * lease_length more, a follower (or the restarted mgmtd) takes over within two ticks
 * of that, and members find it at their next heartbeat; they must not have stopped
 * serving by then. Rule (docs/configuration.md):
 *   lease_length + 2 x tick_interval + heartbeat_interval < heartbeat_fail_interval / 2
 * fast: 1 s + 200 ms + 200 ms < 3 s; otherwise 2 s + 1 s + 1 s < 5 s. The lease is
 * not shorter because a primary whose renewal stalls for lease_length - lease_length/5
 * loses its role (safe, fenced, but a needless takeover). */
static const char *tick_interval(const struct local_cluster *cluster)
{
    return cluster->fast ? "100ms" : "500ms";
}

static const char *lease_length(const struct local_cluster *cluster)
{
    return cluster->fast ? "1s" : "2s";
}

/* mgmtd-(index+1), node id index+1, on its pinned port. */
static void mgmtd_process(struct cluster_process *process, const struct local_cluster *cluster,
                          unsigned index)
{
    char name[32];
    snprintf(name, sizeof(name), "mgmtd-%u", index + 1);
    service_process(process, cluster, "mgmtd", name);
    add_setting(process, "rpc.listen=127.0.0.1:%u", cluster->mgmtd_ports[index]);
    add_setting(process, "mgmtd.node_id=%u", index + 1);
    add_kv_settings(process, cluster);
    add_setting(process, "mgmtd.tick_interval=%s", tick_interval(cluster));
    add_setting(process, "mgmtd.lease_length=%s", lease_length(cluster));
    add_setting(process, "mgmtd.heartbeat_fail_interval=%s", fail_interval(cluster));
}

static void meta_process(struct cluster_process *process, const struct local_cluster *cluster,
                         unsigned index)
{
    char name[32];
    snprintf(name, sizeof(name), "meta-%u", index + 1);
    service_process(process, cluster, "meta", name);
    add_setting(process, "meta.node_id=%u", LOCAL_META_FIRST_NODE + index);
    add_setting(process, "meta.mgmtd=%s", cluster->mgmtd_address);
    add_setting(process, "meta.heartbeat_interval=%s", heartbeat_interval(cluster));
    add_setting(process, "meta.heartbeat_fail_interval=%s", fail_interval(cluster));
    if (cluster->fast)
        add_setting(process, "meta.gc_interval=200ms");
    add_kv_settings(process, cluster);
}

static void storage_process(struct cluster_process *process, const struct local_cluster *cluster,
                            unsigned index)
{
    char name[32];
    snprintf(name, sizeof(name), "storage-%u", index + 1);
    service_process(process, cluster, "storage", name);
    add_setting(process, "storage.node_id=%u", LOCAL_STORAGE_FIRST_NODE + index);
    add_setting(process, "storage.mgmtd=%s", cluster->mgmtd_address);
    add_setting(process, "storage.disks=%s/storage-%u/disk0", cluster->dir, index + 1);
    add_setting(process, "storage.heartbeat_interval=%s", heartbeat_interval(cluster));
    add_setting(process, "storage.heartbeat_fail_interval=%s", fail_interval(cluster));
    /* Twelve targets on one disk: 256 MiB steps per size class would take gigabytes. */
    add_setting(process, "storage.grow_step=16MiB");
    if (cluster->fast) {
        add_setting(process, "storage.routing_interval=200ms");
        add_setting(process, "storage.sync=false");
    }
}

static void mount_process(struct cluster_process *process, const struct local_cluster *cluster)
{
    memset(process, 0, sizeof(*process));
    snprintf(process->name, sizeof(process->name), "mount");
    process->subcommand = "mount";
    add_argument(process, "--mgmtd=%s", cluster->mgmtd_address);
    add_argument(process, "--run-dir=%s", cluster->run);
    add_argument(process, "--name=mount");
    add_argument(process, "--client-id=local-mount-%d", (int)getpid());
    if (cluster->fast) {
        add_argument(process, "--length-report-ms=200");
        add_argument(process, "--session-interval-ms=500");
    }
    /* four failure intervals: a call meeting a dead storage service waits for its
     * detection, its restart and the chain's recovery instead of failing just before */
    add_argument(process, "--io-timeout-ms=%s", cluster->fast ? "24000" : "40000");
    if (cluster->page_cache)
        add_argument(process, "--page-cache");
    add_argument(process, "%s", cluster->mountpoint);
}

static bool process_alive(pid_t pid) { return run_dir_pid_alive(pid); }

/* Starts one process detached from this terminal; returns its pid or -1. */
static pid_t spawn_process(const struct local_cluster *cluster, const struct cluster_process *process)
{
    char log_path[PATH_MAX + 64];
    char *arguments[ARGUMENTS_MAX + 3] = {"chainfs", (char *)process->subcommand};
    for (size_t i = 0; i <= process->count; i++)
        arguments[2 + i] = process->arguments[i];
    snprintf(log_path, sizeof(log_path), "%s/%s.log", cluster->log, process->name);
    pid_t child = fork();
    if (child != 0)
        return child;
    setsid();
    int null_fd = open("/dev/null", O_RDONLY);
    int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (null_fd < 0 || log_fd < 0)
        _exit(127);
    dup2(null_fd, STDIN_FILENO);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    execv("/proc/self/exe", arguments);
    _exit(127);
}

/* Waits until the daemon published its address and answers health. */
static int wait_until_ready(struct rpc_client *client, const struct local_cluster *cluster,
                            const char *name, pid_t pid, char *address, size_t capacity)
{
    uint64_t deadline = deadline_after_ns(START_TIMEOUT_NS);
    bool mount = strcmp(name, "mount") == 0;
    while (!deadline_expired(deadline)) {
        int wait_status;
        if (waitpid(pid, &wait_status, WNOHANG) == pid)
            return CHAINFS_IO; /* it exited */
        struct system_health health;
        if (mount && local_cluster_mounted(cluster->mountpoint)) {
            snprintf(address, capacity, "%s", cluster->mountpoint);
            return 0;
        }
        if (!mount && run_dir_read_address(cluster->run, name, address, capacity) == 0 &&
            system_health_query(client, address, CLOCK_NS_PER_S, &health) == 0)
            return 0;
        clock_sleep_ns(50 * CLOCK_NS_PER_MS);
    }
    return CHAINFS_TIMEOUT;
}

/* Whether the process recorded as name runs (and, for the mount, is mounted). */
static bool already_running(const struct local_cluster *cluster, const char *name, pid_t *pid)
{
    if (run_dir_read_pid(cluster->run, name, pid) != 0 || !process_alive(*pid))
        return false;
    return strcmp(name, "mount") != 0 || local_cluster_mounted(cluster->mountpoint);
}

static int start_process(struct rpc_client *client, const struct local_cluster *cluster,
                         const struct cluster_process *process)
{
    char address[PATH_MAX];
    pid_t pid;
    if (already_running(cluster, process->name, &pid)) {
        if (run_dir_read_address(cluster->run, process->name, address, sizeof(address)) != 0)
            snprintf(address, sizeof(address), "%s", cluster->mountpoint);
        printf("  %-10s already running: pid %d, %s\n", process->name, (int)pid, address);
        return 0;
    }
    run_dir_remove_address(cluster->run, process->name); /* a killed one's stale port */
    pid = spawn_process(cluster, process);
    if (pid < 0) {
        fprintf(stderr, "chainfs up: cannot start %s: %s\n", process->name, strerror(errno));
        return 1;
    }
    int status = wait_until_ready(client, cluster, process->name, pid, address, sizeof(address));
    if (status != 0) {
        fprintf(stderr, "chainfs up: %s did not become ready (%s); see %s/%s.log\n",
                process->name, chainfs_error_message(status), cluster->log, process->name);
        return 1;
    }
    printf("  %-10s started: pid %d, %s\n", process->name, (int)pid, address);
    fflush(stdout);
    return 0;
}

/* Runs init-cluster once (a second `up` finds it done). */
static int initialise_cluster(struct rpc_client *client, const struct local_cluster *cluster)
{
    struct mgmtd_client mgmtd;
    if (mgmtd_client_init(&mgmtd, client, cluster->mgmtd_address, 5 * CLOCK_NS_PER_S) != 0)
        return 1;
    struct wire_writer message;
    wire_writer_init(&message);
    wire_put_u32(&message, 1u << 20); /* chunk size */
    wire_put_u32(&message, 4);        /* stripe size */
    wire_put_u32(&message, 1);        /* default chain table */
    wire_put_bool(&message, false);
    struct rpc_call call;
    int status;
    /* a restarted mgmtd takes the lease back a moment after it answers health */
    uint64_t deadline = deadline_after_ns(START_TIMEOUT_NS);
    for (;;) {
        rpc_call_init(&call, MGMTD_SERVICE_ID, MGMTD_METHOD_INIT_CLUSTER);
        call.message = message.data;
        call.message_length = message.length;
        status = mgmtd_client_call_primary(&mgmtd, &call);
        if (status == 0 || status == CHAINFS_EXISTS || deadline_expired(deadline))
            break;
        rpc_call_release(&call);
        clock_sleep_ns(100 * CLOCK_NS_PER_MS);
    }
    if (status == 0)
        printf("  cluster    initialised (1 MiB chunks, stripe 4, chain table 1)\n");
    else if (status == CHAINFS_EXISTS)
        printf("  cluster    already initialised\n");
    else
        fprintf(stderr, "chainfs up: init-cluster failed: %s\n",
                call.error_text[0] ? call.error_text : chainfs_error_message(status));
    rpc_call_release(&call);
    wire_writer_free(&message);
    return status == 0 || status == CHAINFS_EXISTS ? 0 : 1;
}

/* Every pinned port of a mgmtd that is not running must be free: a mgmtd on another
 * port would be found by nobody. Checked before anything starts. */
static int check_mgmtd_ports(const struct local_cluster *cluster)
{
    char path[PATH_MAX + 32];
    local_cluster_mgmtd_file(cluster, path, sizeof(path));
    for (unsigned i = 0; i < cluster->mgmtd_count; i++) {
        char name[32];
        pid_t pid;
        snprintf(name, sizeof(name), "mgmtd-%u", i + 1);
        if (already_running(cluster, name, &pid) || local_cluster_port_free(cluster->mgmtd_ports[i]))
            continue;
        fprintf(stderr, "chainfs up: %s's port 127.0.0.1:%u (pinned in %s) is in use by another "
                        "process: stop that process, or, while this cluster is down, remove %s to "
                        "choose new ports\n",
                name, cluster->mgmtd_ports[i], path, path);
        return 1;
    }
    return 0;
}

/* Starts every process in order, setting up targets and chains before the mount. */
static int start_cluster(struct rpc_client *client, struct local_cluster *cluster)
{
    static struct cluster_process process; /* large: keep it off the stack */
    int code = 0;
    for (unsigned i = 0; code == 0 && i < cluster->mgmtd_count; i++) {
        mgmtd_process(&process, cluster, i);
        code = start_process(client, cluster, &process);
    }
    if (code == 0)
        code = initialise_cluster(client, cluster);
    for (unsigned i = 0; code == 0 && i < 2; i++) {
        meta_process(&process, cluster, i);
        code = start_process(client, cluster, &process);
    }
    for (unsigned i = 0; code == 0 && i < cluster->storage_count; i++) {
        char disk[PATH_MAX];
        snprintf(disk, sizeof(disk), "%.*s/storage-%u/disk0", PATH_MAX / 2, cluster->dir, i + 1);
        if (run_dir_make_directories(disk) != 0) {
            fprintf(stderr, "chainfs up: cannot create %s: %s\n", disk, strerror(errno));
            return 1;
        }
        storage_process(&process, cluster, i);
        code = start_process(client, cluster, &process);
    }
    if (code == 0 && local_cluster_create_targets(client, cluster) != 0)
        code = 1;
    if (code == 0 && local_cluster_setup_chains(client, cluster) != 0)
        code = 1;
    if (code == 0 && run_dir_make_directories(cluster->mountpoint) != 0) {
        fprintf(stderr, "chainfs up: cannot create the mount point %s\n", cluster->mountpoint);
        code = 1;
    }
    if (code == 0) {
        mount_process(&process, cluster);
        code = start_process(client, cluster, &process);
    }
    return code;
}

static const char up_usage[] =
    "usage: chainfs up [options]   a local cluster, mounted\n"
    "  --dir DIR          run directory (default " DEFAULT_CLUSTER_DIR " or $CHAINFS_DIR)\n"
    "  --mountpoint PATH  where to mount (default DIR/mnt)\n"
    "  --storage N        storage services (default 3)\n"
    "  --targets N        targets per storage service (default 4)\n"
    "  --replicas N       replicas per chain (default 3)\n"
    "  --mgmtd N          cluster managers sharing the KV store (default 1, or as the last\n"
    "                     `up` of DIR); their ports are chosen once and kept in DIR/run\n"
    "  --postgres CONNINFO  keep the KV store in PostgreSQL instead of DIR/kv (LMDB)\n"
    "  --page-cache       mount with the kernel page cache (default: direct I/O)\n"
    "  --fast             short heartbeat and failure intervals (tests)\n";

static bool parse_count(const char *text, unsigned minimum, unsigned maximum, unsigned *value)
{
    char *end;
    unsigned long number = strtoul(text, &end, 10);
    *value = (unsigned)number;
    return end != text && *end == '\0' && number >= minimum && number <= maximum;
}

/* Options of up/down/status; returns -1 to go on, else the exit code. */
static int parse_options(int argc, char **argv, struct local_cluster *cluster, const char *usage,
                         bool up)
{
    enum { DIR_OPTION = 256, MOUNTPOINT, STORAGE, TARGETS, REPLICAS, POSTGRES, PAGE_CACHE, FAST,
           MGMTD };
    static const struct option options[] = {
        {"dir", required_argument, NULL, DIR_OPTION}, {"mountpoint", required_argument, NULL, MOUNTPOINT},
        {"storage", required_argument, NULL, STORAGE}, {"targets", required_argument, NULL, TARGETS},
        {"replicas", required_argument, NULL, REPLICAS}, {"postgres", required_argument, NULL, POSTGRES},
        {"page-cache", no_argument, NULL, PAGE_CACHE}, {"fast", no_argument, NULL, FAST},
        {"mgmtd", required_argument, NULL, MGMTD},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *dir = getenv("CHAINFS_DIR") ? getenv("CHAINFS_DIR") : DEFAULT_CLUSTER_DIR;
    const char *mountpoint = NULL;
    *cluster = (struct local_cluster){.storage_count = 3, .targets_per_node = 4, .replicas = 3};
    int option;
    bool ok = true;
    optind = 1;
    while (ok && (option = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        if (option == 'h') {
            fputs(usage, stdout);
            return 0;
        }
        if (!up && option != DIR_OPTION && option != MOUNTPOINT)
            ok = false;
        else if (option == DIR_OPTION)
            dir = optarg;
        else if (option == MOUNTPOINT)
            mountpoint = optarg;
        else if (option == STORAGE)
            ok = parse_count(optarg, 1, LOCAL_STORAGE_MAX, &cluster->storage_count);
        else if (option == TARGETS)
            ok = parse_count(optarg, 1, 64, &cluster->targets_per_node);
        else if (option == REPLICAS)
            ok = parse_count(optarg, 1, CHAIN_TARGETS_MAX, &cluster->replicas);
        else if (option == POSTGRES)
            cluster->postgres = optarg;
        else if (option == PAGE_CACHE)
            cluster->page_cache = true;
        else if (option == FAST)
            cluster->fast = true;
        else if (option == MGMTD)
            ok = parse_count(optarg, 1, LOCAL_MGMTD_MAX, &cluster->mgmtd_count);
        else
            ok = false;
    }
    if (!ok || optind < argc || strlen(dir) >= sizeof(cluster->dir) ||
        (up && cluster->replicas > cluster->storage_count)) {
        fputs(usage, stderr);
        return 2;
    }
    snprintf(cluster->dir, sizeof(cluster->dir), "%s", dir);
    snprintf(cluster->run, sizeof(cluster->run), "%s/run", dir);
    snprintf(cluster->log, sizeof(cluster->log), "%s/log", dir);
    if (mountpoint)
        snprintf(cluster->mountpoint, sizeof(cluster->mountpoint), "%s", mountpoint);
    else
        snprintf(cluster->mountpoint, sizeof(cluster->mountpoint), "%s/mnt", dir);
    return -1;
}

/* Absolute paths, so that the daemons (which chdir nowhere) and mountinfo agree. */
static int make_absolute(struct local_cluster *cluster)
{
    char resolved[PATH_MAX];
    if (run_dir_make_directories(cluster->dir) != 0 || !realpath(cluster->dir, resolved) ||
        strlen(resolved) >= sizeof(cluster->dir))
        return 1;
    snprintf(cluster->dir, sizeof(cluster->dir), "%.*s", (int)sizeof(cluster->dir) - 1, resolved);
    snprintf(cluster->run, sizeof(cluster->run), "%s/run", cluster->dir);
    snprintf(cluster->log, sizeof(cluster->log), "%s/log", cluster->dir);
    if (run_dir_make_directories(cluster->mountpoint) != 0 || !realpath(cluster->mountpoint, resolved))
        return 1;
    snprintf(cluster->mountpoint, sizeof(cluster->mountpoint), "%s", resolved);
    return 0;
}

/* The mount point of the last `up` (down and status need it without options). */
static void remember_mountpoint(const struct local_cluster *cluster)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/mountpoint", cluster->run);
    FILE *file = fopen(path, "w");
    if (file) {
        fprintf(file, "%s\n", cluster->mountpoint);
        fclose(file);
    }
}

static void recall_mountpoint(struct local_cluster *cluster)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/mountpoint", cluster->run);
    FILE *file = fopen(path, "r");
    if (!file)
        return;
    if (fgets(cluster->mountpoint, sizeof(cluster->mountpoint), file))
        cluster->mountpoint[strcspn(cluster->mountpoint, "\n")] = '\0';
    fclose(file);
}

static int running_count(const struct local_cluster *cluster);

int command_up(int argc, char **argv)
{
    struct local_cluster cluster;
    int code = parse_options(argc, argv, &cluster, up_usage, true);
    if (code >= 0)
        return code;
    if (make_absolute(&cluster) != 0 || run_dir_make_directories(cluster.run) != 0 ||
        run_dir_make_directories(cluster.log) != 0) {
        fprintf(stderr, "chainfs up: cannot create %s or the mount point %s: %s\n", cluster.dir,
                cluster.mountpoint, strerror(errno));
        return 1;
    }
    bool count_given = cluster.mgmtd_count != 0;
    if (!count_given)
        cluster.mgmtd_count = 1;
    if (local_cluster_pin_mgmtd(&cluster, count_given, running_count(&cluster) > 0) != 0 ||
        check_mgmtd_ports(&cluster) != 0)
        return 1;
    remember_mountpoint(&cluster);
    log_set_level(LOG_LEVEL_ERROR);
    struct rpc_client_options options;
    rpc_client_default_options(&options);
    struct rpc_client *client;
    if (rpc_client_create(&options, &client) != 0)
        return 1;
    printf("chainfs up: local cluster in %s (%u mgmtd, %u storage x %u targets, %u replicas, "
           "KV %s)\n",
           cluster.dir, cluster.mgmtd_count, cluster.storage_count, cluster.targets_per_node,
           cluster.replicas,
           cluster.postgres ? "in PostgreSQL" : "in LMDB");
    fflush(stdout);
    code = start_cluster(client, &cluster);
    rpc_client_destroy(client);
    if (code != 0) {
        fprintf(stderr, "\nchainfs up failed; what started keeps running: `chainfs down --dir %s` "
                        "stops it\n", cluster.dir);
        return code;
    }
    printf("\nchainfs is mounted at %s\n\n", cluster.mountpoint);
    printf("Next:\n  ls %s                      use it like any directory\n", cluster.mountpoint);
    printf("  chainfs status --dir %s       the processes\n", cluster.dir);
    printf("  CHAINFS_MGMTD=%s chainfs admin status   chains and targets\n",
           cluster.mgmtd_address);
    printf("  chainfs down --dir %s         unmount and stop (data stays for the next `up`)\n",
           cluster.dir);
    return 0;
}

/* Stop order: the mount first (it needs the services to flush lengths), then meta
 * (its GC calls storage: with storage gone first, collection would run into timeouts
 * while meta stops), storage, mgmtd last. */
static int stop_rank(const char *name)
{
    static const char *const order[] = {"mount", "meta-", "storage-", "mgmtd-"};
    for (int i = 0; i < 4; i++)
        if (strncmp(name, order[i], strlen(order[i])) == 0)
            return i;
    return 4;
}

static int compare_names(const void *a, const void *b)
{
    const char *left = a, *right = b;
    int rank = stop_rank(left) - stop_rank(right);
    return rank ? rank : strcmp(left, right);
}

/* Calls visit(name) for each <name>.pid in the run directory, in stop order. Returns
 * the count. */
static int for_each_daemon(const struct local_cluster *cluster,
                           void (*visit)(const struct local_cluster *cluster, const char *name,
                                         void *argument),
                           void *argument)
{
    enum { NAMES_MAX = 64 };
    static char names[NAMES_MAX][64];
    int count = 0;
    DIR *directory = opendir(cluster->run);
    if (!directory)
        return 0;
    struct dirent *entry;
    while ((entry = readdir(directory)) != NULL && count < NAMES_MAX) {
        size_t length = strlen(entry->d_name);
        if (length <= 4 || length - 4 >= sizeof(names[0]) ||
            strcmp(entry->d_name + length - 4, ".pid") != 0)
            continue;
        snprintf(names[count++], sizeof(names[0]), "%.*s", (int)(length - 4), entry->d_name);
    }
    closedir(directory);
    qsort(names, (size_t)count, sizeof(names[0]), compare_names);
    for (int i = 0; i < count; i++)
        visit(cluster, names[i], argument);
    return count;
}

static void count_running(const struct local_cluster *cluster, const char *name, void *argument)
{
    pid_t pid;
    if (run_dir_read_pid(cluster->run, name, &pid) == 0 && process_alive(pid))
        ++*(int *)argument;
}

/* How many processes of the cluster run (by their pid files). */
static int running_count(const struct local_cluster *cluster)
{
    int running = 0;
    for_each_daemon(cluster, count_running, &running);
    return running;
}

/* SIGTERM to name (unless it is not running: then its stale files go). Returns its
 * pid, or 0. */
static pid_t signal_daemon(const struct local_cluster *cluster, const char *name)
{
    pid_t pid;
    if (run_dir_read_pid(cluster->run, name, &pid) != 0 || !process_alive(pid)) {
        printf("  %-10s not running (stale pid file removed)\n", name);
        run_dir_release_pid(cluster->run, name);
        run_dir_remove_address(cluster->run, name);
        return 0;
    }
    kill(pid, SIGTERM);
    return pid;
}

/* Waits for a signalled daemon to exit; SIGKILL after the timeout. Returns 1 if it had
 * to be killed. */
static int wait_for_exit(const struct local_cluster *cluster, const char *name, pid_t pid,
                         uint64_t deadline)
{
    while (process_alive(pid) && !deadline_expired(deadline)) {
        waitpid(pid, NULL, WNOHANG); /* reaps it if it is our child */
        clock_sleep_ns(20 * CLOCK_NS_PER_MS);
    }
    if (process_alive(pid)) {
        kill(pid, SIGKILL);
        printf("  %-10s did not stop within %llu s: killed (pid %d)\n", name,
               (unsigned long long)(STOP_TIMEOUT_NS / CLOCK_NS_PER_S), (int)pid);
        run_dir_release_pid(cluster->run, name);
        run_dir_remove_address(cluster->run, name);
        return 1;
    }
    printf("  %-10s stopped (pid %d)\n", name, (int)pid);
    return 0;
}

struct stop_batch {
    int rank;           /* the kind being stopped now */
    char names[64][64]; /* its processes, signalled */
    pid_t pids[64];
    int count;
};

static void signal_in_rank(const struct local_cluster *cluster, const char *name, void *argument)
{
    struct stop_batch *batch = argument;
    if (stop_rank(name) != batch->rank || batch->count == 64)
        return;
    pid_t pid = signal_daemon(cluster, name);
    if (pid == 0)
        return;
    snprintf(batch->names[batch->count], sizeof(batch->names[0]), "%.63s", name);
    batch->pids[batch->count++] = pid;
}

/* Stops every daemon, kind by kind in stop order, the processes of one kind together.
 * Returns how many had to be killed; *count says how many were found. */
static int stop_all(const struct local_cluster *cluster, int *count)
{
    static struct stop_batch batch;
    int failures = 0;
    *count = 0;
    for (int rank = 0; rank <= 4; rank++) {
        batch.rank = rank;
        batch.count = 0;
        int found = for_each_daemon(cluster, signal_in_rank, &batch);
        if (rank == 0)
            *count = found;
        uint64_t deadline = deadline_after_ns(STOP_TIMEOUT_NS);
        for (int i = 0; i < batch.count; i++)
            failures += wait_for_exit(cluster, batch.names[i], batch.pids[i], deadline);
    }
    return failures;
}

/* A mount whose daemon died leaves the kernel mount behind ("transport endpoint is
 * not connected"): detach it so that the next `up` can mount again. */
static void detach_stale_mount(const struct local_cluster *cluster)
{
    if (!local_cluster_mounted(cluster->mountpoint))
        return;
    if (umount2(cluster->mountpoint, MNT_DETACH) == 0)
        printf("  mount      detached the stale mount at %s\n", cluster->mountpoint);
    else
        fprintf(stderr, "chainfs down: cannot unmount %s: %s\n", cluster->mountpoint,
                strerror(errno));
}

int command_down(int argc, char **argv)
{
    struct local_cluster cluster;
    int code = parse_options(argc, argv, &cluster, "usage: chainfs down [--dir DIR]\n", false);
    if (code >= 0)
        return code;
    recall_mountpoint(&cluster);
    printf("chainfs down: %s\n", cluster.dir);
    int count;
    int failures = stop_all(&cluster, &count);
    if (count == 0)
        printf("  nothing running\n");
    detach_stale_mount(&cluster);
    return failures ? 1 : 0;
}

struct status_context {
    struct rpc_client *client;
    int unhealthy;
};

/* Whether the mgmtd at address is the one the lease names. */
static bool holds_lease(struct rpc_client *rpc, const char *address)
{
    struct mgmtd_client mgmtd;
    uint32_t node_id;
    uint64_t epoch;
    char primary[ADDRESS_TEXT_MAX];
    return mgmtd_client_init(&mgmtd, rpc, address, CLOCK_NS_PER_S) == 0 &&
           mgmtd_client_get_primary(&mgmtd, address, &node_id, primary, &epoch) == 0 &&
           node_id != 0 && strcmp(primary, address) == 0;
}

static void show_daemon(const struct local_cluster *cluster, const char *name, void *argument)
{
    struct status_context *context = argument;
    pid_t pid = 0;
    char address[ADDRESS_TEXT_MAX * 2] = "-";
    struct system_health health;
    bool alive = run_dir_read_pid(cluster->run, name, &pid) == 0 && process_alive(pid);
    if (strcmp(name, "mount") == 0) {
        bool mounted = alive && local_cluster_mounted(cluster->mountpoint);
        printf("  %-10s %-7s pid %-7d %s\n", name, mounted ? "up" : alive ? "silent" : "down",
               (int)pid, cluster->mountpoint);
        context->unhealthy += !mounted;
        return;
    }
    bool answered = alive &&
                    run_dir_read_address(cluster->run, name, address, sizeof(address)) == 0 &&
                    system_health_query(context->client, address, CLOCK_NS_PER_S, &health) == 0;
    if (answered)
        printf("  %-10s up      pid %-7d rpc %-22s %s, up %llu s%s\n", name, (int)pid, address,
               health.component, (unsigned long long)(health.uptime_ms / 1000),
               strncmp(name, "mgmtd-", 6) == 0 && holds_lease(context->client, address)
                   ? ", primary" : "");
    else
        printf("  %-10s %-7s pid %-7d rpc %s\n", name, alive ? "silent" : "down", (int)pid, address);
    if (!answered)
        context->unhealthy++;
}

int command_status(int argc, char **argv)
{
    struct local_cluster cluster;
    int code = parse_options(argc, argv, &cluster, "usage: chainfs status [--dir DIR]\n", false);
    if (code >= 0)
        return code;
    recall_mountpoint(&cluster);
    log_set_level(LOG_LEVEL_ERROR);
    struct rpc_client_options options;
    rpc_client_default_options(&options);
    struct status_context context = {0};
    if (rpc_client_create(&options, &context.client) != 0)
        return 1;
    printf("chainfs status: %s\n", cluster.dir);
    int count = for_each_daemon(&cluster, show_daemon, &context);
    rpc_client_destroy(context.client);
    if (count == 0)
        printf("  nothing running (start it with `chainfs up --dir %s`)\n", cluster.dir);
    return count == 0 || context.unhealthy ? 1 : 0;
}
