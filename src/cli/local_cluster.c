/*
 * local_cluster.c - `chainfs up`, `down` and `status`: a whole cluster on this machine.
 *
 * `up` starts each process of the local cluster as a detached child of its own (new
 * session, stdin from /dev/null, output to <dir>/log/<name>.log), waits until it
 * published its address and answers health, and says what it started. `down` sends
 * SIGTERM to every pid recorded in <dir>/run and waits (SIGKILL after a timeout);
 * `status` lists them. Processes are found by their pid files only, never by name.
 *
 * Today the cluster is the cluster manager (one mgmtd on the embedded LMDB store in
 * <dir>/kv, initialised with init-cluster on first start); meta, storage and the FUSE
 * mount join this list as they are built.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "chainfs/error.h"
#include "cli/commands.h"
#include "common/clock.h"
#include "common/log.h"
#include "daemon/run_dir.h"
#include "mgmtd/mgmtd_client.h"
#include "mgmtd/mgmtd_protocol.h"
#include "net/rpc_client.h"
#include "net/system_service.h"

#define DEFAULT_CLUSTER_DIR "/var/tmp/chainfs"
#define START_TIMEOUT_NS (15 * CLOCK_NS_PER_S)
#define STOP_TIMEOUT_NS (15 * CLOCK_NS_PER_S)

struct cluster_process {
    const char *name;
    const char *subcommand;
    const char *settings[4]; /* "section.key=value"; "{dir}" stands for the cluster dir */
};

static const struct cluster_process cluster_processes[] = {
    {"mgmtd-1", "mgmtd", {"mgmtd.node_id=1", "kv.lmdb_path={dir}/kv", NULL}},
};

static const char *const coming_next[] = {
    "meta x2 over the embedded LMDB store (issue #6)",
    "storage x3 with a 3-replica chain table (issue #5)",
    "the FUSE mount (issue #7)",
};

struct cluster_paths {
    char dir[PATH_MAX / 2];
    char run[PATH_MAX];
    char log[PATH_MAX];
};

static int parse_dir_option(int argc, char **argv, struct cluster_paths *paths, const char *usage)
{
    static const struct option options[] = {{"dir", required_argument, NULL, 'd'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    const char *dir = getenv("CHAINFS_DIR") ? getenv("CHAINFS_DIR") : DEFAULT_CLUSTER_DIR;
    int option;
    optind = 1;
    while ((option = getopt_long(argc, argv, "d:h", options, NULL)) != -1) {
        if (option == 'd') {
            dir = optarg;
        } else {
            fprintf(option == 'h' ? stdout : stderr, "usage: %s\n", usage);
            return option == 'h' ? 0 : 2;
        }
    }
    if (optind < argc || strlen(dir) >= sizeof(paths->dir)) {
        fprintf(stderr, "usage: %s\n", usage);
        return 2;
    }
    snprintf(paths->dir, sizeof(paths->dir), "%s", dir);
    snprintf(paths->run, sizeof(paths->run), "%s/run", dir);
    snprintf(paths->log, sizeof(paths->log), "%s/log", dir);
    return -1;
}

static bool process_alive(pid_t pid) { return kill(pid, 0) == 0 || errno == EPERM; }

/* Starts one daemon detached from this terminal; returns its pid or -1. */
/* "--set" arguments of a process, with {dir} replaced by the cluster directory. */
static size_t process_settings(const struct cluster_paths *paths, const struct cluster_process *process,
                               char storage[][PATH_MAX + 64], char **arguments)
{
    size_t count = 0;
    snprintf(storage[0], PATH_MAX + 64, "daemon.name=%s", process->name);
    snprintf(storage[1], PATH_MAX + 64, "daemon.run_dir=%s", paths->run);
    for (size_t i = 0; i < 4 && process->settings[i]; i++) {
        const char *setting = process->settings[i];
        const char *marker = strstr(setting, "{dir}");
        if (marker)
            snprintf(storage[2 + i], PATH_MAX + 64, "%.*s%s%s", (int)(marker - setting), setting,
                     paths->dir, marker + 5);
        else
            snprintf(storage[2 + i], PATH_MAX + 64, "%s", setting);
        count = 3 + i;
    }
    if (count == 0)
        count = 2;
    for (size_t i = 0; i < count; i++) {
        arguments[2 * i] = "--set";
        arguments[2 * i + 1] = storage[i];
    }
    return 2 * count;
}

/* Starts one daemon detached from this terminal; returns its pid or -1. */
static pid_t spawn_daemon(const struct cluster_paths *paths, const struct cluster_process *process)
{
    char log_path[PATH_MAX + 64];
    static char settings[6][PATH_MAX + 64];
    char *arguments[2 + 12 + 1] = {"chainfs", (char *)process->subcommand};
    size_t count = process_settings(paths, process, settings, arguments + 2);
    arguments[2 + count] = NULL;
    snprintf(log_path, sizeof(log_path), "%s/%s.log", paths->log, process->name);
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
static int wait_until_ready(struct rpc_client *client, const struct cluster_paths *paths,
                            const char *name, pid_t pid, char *address, size_t capacity)
{
    uint64_t deadline = deadline_after_ns(START_TIMEOUT_NS);
    while (!deadline_expired(deadline)) {
        int wait_status;
        if (waitpid(pid, &wait_status, WNOHANG) == pid)
            return CHAINFS_IO; /* it exited */
        struct system_health health;
        if (run_dir_read_address(paths->run, name, address, capacity) == 0 &&
            system_health_query(client, address, CLOCK_NS_PER_S, &health) == 0)
            return 0;
        clock_sleep_ns(50 * CLOCK_NS_PER_MS);
    }
    return CHAINFS_TIMEOUT;
}

static int start_process(struct rpc_client *client, const struct cluster_paths *paths,
                         const struct cluster_process *process)
{
    char address[ADDRESS_TEXT_MAX * 2];
    pid_t pid;
    if (run_dir_read_pid(paths->run, process->name, &pid) == 0 && process_alive(pid)) {
        run_dir_read_address(paths->run, process->name, address, sizeof(address));
        printf("  %-10s already running: pid %d, rpc %s\n", process->name, (int)pid, address);
        return 0;
    }
    pid = spawn_daemon(paths, process);
    if (pid < 0) {
        fprintf(stderr, "chainfs up: cannot start %s: %s\n", process->name, strerror(errno));
        return 1;
    }
    int status = wait_until_ready(client, paths, process->name, pid, address, sizeof(address));
    if (status != 0) {
        fprintf(stderr, "chainfs up: %s did not become ready (%s); see %s/%s.log\n",
                process->name, chainfs_error_message(status), paths->log, process->name);
        return 1;
    }
    printf("  %-10s started: pid %d, rpc %s\n", process->name, (int)pid, address);
    return 0;
}

/* Runs init-cluster once (a second `up` finds it done). */
static int initialise_cluster(struct rpc_client *client, const struct cluster_paths *paths)
{
    char address[ADDRESS_TEXT_MAX * 2];
    struct mgmtd_client mgmtd;
    if (run_dir_read_address(paths->run, "mgmtd-1", address, sizeof(address)) != 0 ||
        mgmtd_client_init(&mgmtd, client, address, 5 * CLOCK_NS_PER_S) != 0)
        return 1;
    struct wire_writer message;
    wire_writer_init(&message);
    wire_put_u32(&message, 1u << 20); /* chunk size */
    wire_put_u32(&message, 4);        /* stripe size */
    wire_put_u32(&message, 1);        /* default chain table */
    wire_put_bool(&message, false);
    struct rpc_call call;
    rpc_call_init(&call, MGMTD_SERVICE_ID, MGMTD_METHOD_INIT_CLUSTER);
    call.message = message.data;
    call.message_length = message.length;
    int status = mgmtd_client_call_primary(&mgmtd, &call);
    if (status == 0)
        printf("  cluster    initialised (1 MiB chunks, stripe 4, chain table 1)\n");
    else if (status == CHAINFS_EXISTS)
        printf("  cluster    already initialised\n");
    else
        fprintf(stderr, "chainfs up: init-cluster failed: %s\n",
                call.error_text[0] ? call.error_text : chainfs_error_message(status));
    rpc_call_release(&call);
    wire_writer_free(&message);
    printf("  admin      CHAINFS_MGMTD=%s chainfs admin status\n", address);
    return status == 0 || status == CHAINFS_EXISTS ? 0 : 1;
}

int command_up(int argc, char **argv)
{
    struct cluster_paths paths;
    int code = parse_dir_option(argc, argv, &paths, "chainfs up [--dir DIR]  (default "
                                DEFAULT_CLUSTER_DIR " or $CHAINFS_DIR)");
    if (code >= 0)
        return code;
    int error = run_dir_make_directories(paths.run);
    if (error == 0)
        error = run_dir_make_directories(paths.log);
    if (error != 0) {
        fprintf(stderr, "chainfs up: cannot create %s: %s\n", paths.dir, strerror(error));
        return 1;
    }
    log_set_level(LOG_LEVEL_ERROR);
    struct rpc_client_options options;
    rpc_client_default_options(&options);
    struct rpc_client *client;
    if (rpc_client_create(&options, &client) != 0)
        return 1;
    printf("chainfs up: local cluster in %s\n", paths.dir);
    code = 0;
    for (size_t i = 0; code == 0 && i < sizeof(cluster_processes) / sizeof(cluster_processes[0]); i++)
        code = start_process(client, &paths, &cluster_processes[i]);
    if (code == 0)
        code = initialise_cluster(client, &paths);
    rpc_client_destroy(client);
    if (code != 0)
        return code;
    printf("\nNot built yet, so not started (the file system is not mounted yet):\n");
    for (size_t i = 0; i < sizeof(coming_next) / sizeof(coming_next[0]); i++)
        printf("  - %s\n", coming_next[i]);
    printf("\nNext: `chainfs status --dir %s` to check, `chainfs down --dir %s` to stop.\n",
           paths.dir, paths.dir);
    return 0;
}

/* Calls visit(name) for each <name>.pid in the run directory. Returns the count. */
static int for_each_daemon(const struct cluster_paths *paths,
                           void (*visit)(const struct cluster_paths *paths, const char *name,
                                         void *argument),
                           void *argument)
{
    DIR *directory = opendir(paths->run);
    if (!directory)
        return 0;
    int count = 0;
    struct dirent *entry;
    while ((entry = readdir(directory)) != NULL) {
        size_t length = strlen(entry->d_name);
        if (length <= 4 || strcmp(entry->d_name + length - 4, ".pid") != 0)
            continue;
        char name[256];
        snprintf(name, sizeof(name), "%.*s", (int)(length - 4), entry->d_name);
        visit(paths, name, argument);
        count++;
    }
    closedir(directory);
    return count;
}

static void stop_daemon(const struct cluster_paths *paths, const char *name, void *argument)
{
    int *failures = argument;
    pid_t pid;
    if (run_dir_read_pid(paths->run, name, &pid) != 0 || !process_alive(pid)) {
        printf("  %-10s not running (stale pid file removed)\n", name);
        run_dir_release_pid(paths->run, name);
        run_dir_remove_address(paths->run, name);
        return;
    }
    kill(pid, SIGTERM);
    uint64_t deadline = deadline_after_ns(STOP_TIMEOUT_NS);
    while (process_alive(pid) && !deadline_expired(deadline)) {
        waitpid(pid, NULL, WNOHANG); /* reaps it if it is our child */
        clock_sleep_ns(20 * CLOCK_NS_PER_MS);
    }
    if (process_alive(pid)) {
        kill(pid, SIGKILL);
        printf("  %-10s did not stop within %llu s: killed (pid %d)\n", name,
               (unsigned long long)(STOP_TIMEOUT_NS / CLOCK_NS_PER_S), (int)pid);
        run_dir_release_pid(paths->run, name);
        run_dir_remove_address(paths->run, name);
        (*failures)++;
        return;
    }
    printf("  %-10s stopped (pid %d)\n", name, (int)pid);
}

int command_down(int argc, char **argv)
{
    struct cluster_paths paths;
    int code = parse_dir_option(argc, argv, &paths, "chainfs down [--dir DIR]");
    if (code >= 0)
        return code;
    int failures = 0;
    printf("chainfs down: %s\n", paths.dir);
    if (for_each_daemon(&paths, stop_daemon, &failures) == 0)
        printf("  nothing running\n");
    return failures ? 1 : 0;
}

struct status_context {
    struct rpc_client *client;
    int unhealthy;
};

static void show_daemon(const struct cluster_paths *paths, const char *name, void *argument)
{
    struct status_context *context = argument;
    pid_t pid = 0;
    char address[ADDRESS_TEXT_MAX * 2] = "-";
    struct system_health health;
    bool alive = run_dir_read_pid(paths->run, name, &pid) == 0 && process_alive(pid);
    bool answered = alive &&
                    run_dir_read_address(paths->run, name, address, sizeof(address)) == 0 &&
                    system_health_query(context->client, address, CLOCK_NS_PER_S, &health) == 0;
    if (answered)
        printf("  %-10s up      pid %-7d rpc %-22s %s, up %llu s\n", name, (int)pid, address,
               health.component, (unsigned long long)(health.uptime_ms / 1000));
    else
        printf("  %-10s %-7s pid %-7d rpc %s\n", name, alive ? "silent" : "down", (int)pid, address);
    if (!answered)
        context->unhealthy++;
}

int command_status(int argc, char **argv)
{
    struct cluster_paths paths;
    int code = parse_dir_option(argc, argv, &paths, "chainfs status [--dir DIR]");
    if (code >= 0)
        return code;
    log_set_level(LOG_LEVEL_ERROR);
    struct rpc_client_options options;
    rpc_client_default_options(&options);
    struct status_context context = {0};
    if (rpc_client_create(&options, &context.client) != 0)
        return 1;
    printf("chainfs status: %s\n", paths.dir);
    int count = for_each_daemon(&paths, show_daemon, &context);
    rpc_client_destroy(context.client);
    if (count == 0)
        printf("  nothing running (start it with `chainfs up --dir %s`)\n", paths.dir);
    return count == 0 || context.unhealthy ? 1 : 0;
}
