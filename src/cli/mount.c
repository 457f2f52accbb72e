/*
 * mount.c - `chainfs mount`: mount a chainfs file system through FUSE (src/fuse).
 *
 * The daemon runs in the foreground until unmounted or signalled (SIGTERM, SIGINT:
 * clean unmount); `chainfs up` starts it detached. With --run-dir it publishes
 * <run-dir>/<name>.pid once the file system is mounted, so that `up` knows the mount
 * is ready and `down` can stop it.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chainfs/client.h"
#include "cli/commands.h"
#include "common/log.h"
#include "daemon/run_dir.h"
#include "fuse/fuse_daemon.h"

static const char usage[] =
    "usage: chainfs mount [options] MOUNTPOINT\n"
    "  --mgmtd HOST:PORT[,..]   the cluster to mount (default $CHAINFS_MGMTD)\n"
    "  --embedded DIR           a file system kept in DIR by this process (no cluster)\n"
    "  --page-cache             use the kernel page cache for file data (default: direct I/O)\n"
    "  --entry-timeout SECONDS  how long the kernel may cache names (default 1)\n"
    "  --attr-timeout SECONDS   how long the kernel may cache attributes (default 1)\n"
    "  --threads N              request threads (default 16)\n"
    "  --no-allow-other         only the mounting user may enter\n"
    "  --client-id ID           identity towards the cluster (default generated)\n"
    "  --length-report-ms MS    length reports of files being written (default 1000)\n"
    "  --session-interval-ms MS client session renewal with mgmtd (default 10000)\n"
    "  --io-timeout-ms MS       how long one metadata or storage call may take, retries and\n"
    "                           failover included, before the application sees an error\n"
    "                           (default 120000: more than a failure detection at the\n"
    "                           default heartbeat_fail_interval of 60 s)\n"
    "  --chunk-size BYTES --stripe N --chains N   embedded only: layout of new files\n"
    "  --run-dir DIR --name NAME  publish DIR/NAME.pid once mounted\n"
    "  --log-file PATH --log-level LEVEL --debug\n";

struct mount_command {
    struct chainfs_client_options client;
    struct fuse_mount_options mount;
    const char *run_dir;
    const char *name;
    const char *log_file;
};

static void publish_pid(void *context)
{
    const struct mount_command *command = context;
    if (command->run_dir && run_dir_claim_pid(command->run_dir, command->name) != 0)
        log_message(LOG_LEVEL_ERROR, "mount", "cannot write %s/%s.pid", command->run_dir,
                    command->name);
}

static bool parse_number(const char *text, double minimum, double maximum, double *value)
{
    char *end;
    *value = strtod(text, &end);
    return end != text && *end == '\0' && *value >= minimum && *value <= maximum;
}

/* Parses the command line; returns -1 to go on, else the exit code. */
static int parse(int argc, char **argv, struct mount_command *command)
{
    enum { MGMTD = 256, EMBEDDED, PAGE_CACHE, ENTRY, ATTR, THREADS, NO_ALLOW, CLIENT_ID, REPORT,
           SESSION, IO_TIMEOUT, CHUNK, STRIPE, CHAINS, RUN_DIR, NAME, LOG_FILE, LOG_LEVEL, DEBUG };
    static const struct option options[] = {
        {"mgmtd", required_argument, NULL, MGMTD}, {"embedded", required_argument, NULL, EMBEDDED},
        {"page-cache", no_argument, NULL, PAGE_CACHE}, {"entry-timeout", required_argument, NULL, ENTRY},
        {"attr-timeout", required_argument, NULL, ATTR}, {"threads", required_argument, NULL, THREADS},
        {"no-allow-other", no_argument, NULL, NO_ALLOW}, {"client-id", required_argument, NULL, CLIENT_ID},
        {"length-report-ms", required_argument, NULL, REPORT},
        {"session-interval-ms", required_argument, NULL, SESSION},
        {"io-timeout-ms", required_argument, NULL, IO_TIMEOUT},
        {"chunk-size", required_argument, NULL, CHUNK}, {"stripe", required_argument, NULL, STRIPE},
        {"chains", required_argument, NULL, CHAINS}, {"run-dir", required_argument, NULL, RUN_DIR},
        {"name", required_argument, NULL, NAME}, {"log-file", required_argument, NULL, LOG_FILE},
        {"log-level", required_argument, NULL, LOG_LEVEL}, {"debug", no_argument, NULL, DEBUG},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int option;
    double number;
    optind = 1;
    while ((option = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        bool ok = true;
        switch (option) {
        case MGMTD: command->client.mgmtd_addresses = optarg; break;
        case EMBEDDED: command->client.embedded_dir = optarg; break;
        case PAGE_CACHE: command->mount.page_cache = true; break;
        case ENTRY: ok = parse_number(optarg, 0, 86400, &command->mount.entry_timeout); break;
        case ATTR: ok = parse_number(optarg, 0, 86400, &command->mount.attr_timeout); break;
        case THREADS:
            ok = parse_number(optarg, 1, 1024, &number);
            command->mount.max_threads = (unsigned)number;
            break;
        case NO_ALLOW: command->mount.allow_other = false; break;
        case CLIENT_ID: command->client.client_id = optarg; break;
        case REPORT:
            ok = parse_number(optarg, 1, 3600000, &number);
            command->client.length_report_interval_ns = (uint64_t)number * 1000000;
            break;
        case SESSION:
            ok = parse_number(optarg, 1, 3600000, &number);
            command->client.session_interval_ns = (uint64_t)number * 1000000;
            break;
        case IO_TIMEOUT:
            ok = parse_number(optarg, 100, 86400000, &number);
            command->client.call_timeout_ns = (uint64_t)number * 1000000;
            break;
        case CHUNK:
            ok = parse_number(optarg, 4096, 1 << 30, &number);
            command->client.embedded_chunk_size = (uint32_t)number;
            break;
        case STRIPE:
            ok = parse_number(optarg, 1, 65536, &number);
            command->client.embedded_stripe = (uint32_t)number;
            break;
        case CHAINS:
            ok = parse_number(optarg, 1, 65536, &number);
            command->client.embedded_chains = (uint32_t)number;
            break;
        case RUN_DIR: command->run_dir = optarg; break;
        case NAME: command->name = optarg; break;
        case LOG_FILE: command->log_file = optarg; break;
        case LOG_LEVEL: {
            enum log_level level;
            ok = log_level_parse(optarg, &level);
            if (ok)
                log_set_level(level);
            break;
        }
        case DEBUG: command->mount.debug = true; break;
        case 'h': fputs(usage, stdout); return 0;
        default: ok = false;
        }
        if (!ok) {
            fprintf(stderr, "chainfs mount: bad value for --%s\n%s",
                    optind > 0 && optind <= argc ? argv[optind - 1] + 2 : "?", usage);
            return 2;
        }
    }
    if (!command->client.mgmtd_addresses && !command->client.embedded_dir)
        command->client.mgmtd_addresses = getenv("CHAINFS_MGMTD");
    if (optind != argc - 1 || (!command->client.mgmtd_addresses == !command->client.embedded_dir) ||
        (command->run_dir && !command->name)) {
        fputs(usage, stderr);
        return 2;
    }
    command->mount.mountpoint = argv[optind];
    return -1;
}

int command_mount(int argc, char **argv)
{
    struct mount_command command = {0};
    chainfs_client_default_options(&command.client);
    /* applications through the mount ride out a failover rather than see EAGAIN */
    command.client.call_timeout_ns = 120 * 1000000000ull;
    fuse_mount_default_options(&command.mount);
    int code = parse(argc, argv, &command);
    if (code >= 0)
        return code;
    if (command.log_file && log_open_file(command.log_file) != 0) {
        fprintf(stderr, "chainfs mount: cannot open %s\n", command.log_file);
        return 1;
    }
    struct chainfs_client *client;
    int status = chainfs_client_connect(&command.client, &client);
    if (status != 0) {
        fprintf(stderr, "chainfs mount: cannot connect: %s\n", chainfs_error_message(status));
        return 1;
    }
    command.mount.on_mounted = publish_pid;
    command.mount.context = &command;
    status = fuse_daemon_run(client, &command.mount);
    chainfs_client_disconnect(client);
    if (command.run_dir)
        run_dir_release_pid(command.run_dir, command.name);
    if (status != 0) {
        fprintf(stderr, "chainfs mount: %s\n", chainfs_error_message(status));
        return 1;
    }
    return 0;
}
