/*
 * daemon.c - the shared life cycle of chainfs service processes.
 *
 * Order at start: parse arguments, load config (defaults, file, --set overrides),
 * open the log, block the stop signals (so every thread inherits the mask and only
 * the main thread receives them, through sigwait), claim the pid file, start the RPC
 * server, then publish the bound address. At stop the same in reverse.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_COMPONENT "daemon"
#include "chainfs/error.h"
#include "chainfs_build_config.h"
#include "common/clock.h"
#include "common/log.h"
#include "daemon/daemon.h"
#include "daemon/run_dir.h"
#include "net/system_service.h"

#define SETTING(section, key, type, default_value, field, min, max, description)             \
    {section, key, type, default_value, description, offsetof(struct daemon_config, field), min, max}

static const struct config_setting daemon_settings[] = {
    SETTING("daemon", "name", CONFIG_TYPE_STRING, "", name, 0, 0,
            "instance name for pid/address files; empty means the component name"),
    SETTING("daemon", "run_dir", CONFIG_TYPE_STRING, "/var/tmp/chainfs/run", run_dir, 0, 0,
            "directory for <name>.pid and <name>.address"),
    SETTING("log", "level", CONFIG_TYPE_STRING, "info", log_level, 0, 0,
            "debug, info, warn, error or off"),
    SETTING("log", "file", CONFIG_TYPE_STRING, "", log_file, 0, 0,
            "append log lines to this file; empty means stderr"),
    SETTING("rpc", "listen", CONFIG_TYPE_STRING, "127.0.0.1:0", listen, 0, 0,
            "host:port to listen on; port 0 picks a free port (see <name>.address)"),
    SETTING("rpc", "io_threads", CONFIG_TYPE_INT, "1", io_threads, 1, 64,
            "event-loop threads for connections"),
    SETTING("rpc", "worker_threads", CONFIG_TYPE_INT, "4", worker_threads, 1, 1024,
            "threads for handlers that block"),
    SETTING("rpc", "max_body", CONFIG_TYPE_SIZE, "4MiB", max_body, 64, 1LL << 30,
            "largest message body accepted in one frame"),
    SETTING("rpc", "max_payload", CONFIG_TYPE_SIZE, "65540KiB", max_payload, 0, 1LL << 31,
            "largest bulk payload accepted in one frame (a 64 MiB chunk plus slack)"),
    SETTING("rpc", "max_in_flight", CONFIG_TYPE_INT, "1024", max_in_flight, 1, 1 << 20,
            "requests in flight per connection before BUSY replies"),
    SETTING("rpc", "max_connections", CONFIG_TYPE_INT, "4096", max_connections, 1, 1 << 20,
            "open connections before new ones are refused"),
    SETTING("rpc", "shutdown_drain", CONFIG_TYPE_DURATION, "5s", shutdown_drain, 0, 600000,
            "how long a stopping server waits for requests in flight"),
    SETTING("rpc", "debug_methods", CONFIG_TYPE_BOOL, "false", debug_methods, 0, 0,
            "serve test-only methods (system.sleep)"),
};

const struct config_schema daemon_config_schema = {
    "daemon", daemon_settings, sizeof(daemon_settings) / sizeof(daemon_settings[0])};

/* What daemon_apply_cluster_config needs to rebuild the config of the running
 * daemon; a process runs one daemon. */
static struct {
    pthread_mutex_t lock;
    const struct daemon_service *service;
    const struct config_schema *schema;
    size_t config_size;
    const char *config_path;      /* argv strings live as long as the process */
    char **overrides;
    size_t override_count;
    const void *live;             /* the config the service started with */
    void *last_applied;           /* the last cluster config applied, or NULL */
    void *state;
    bool running;
} runtime = {.lock = PTHREAD_MUTEX_INITIALIZER};

void daemon_rpc_options(const struct daemon_config *config, struct rpc_server_options *options)
{
    rpc_server_default_options(options);
    options->name = config->name;
    options->listen_address = config->listen;
    options->io_threads = (size_t)config->io_threads;
    options->worker_threads = (size_t)config->worker_threads;
    options->max_body_length = (uint32_t)config->max_body;
    options->max_payload_length = (uint32_t)config->max_payload;
    options->max_in_flight = (uint32_t)config->max_in_flight;
    options->max_connections = (uint32_t)config->max_connections;
}

/* The shared settings followed by the service's own, describing one struct. */
static int service_schema(const struct daemon_service *service, struct config_schema *combined)
{
    struct config_part parts[8] = {{&daemon_config_schema, 0}};
    size_t count = 1;
    for (size_t i = 0; i < service->config_part_count && count < 8; i++)
        parts[count++] = service->config_parts[i];
    return config_schema_combine(service->component, parts, count, combined);
}

static void print_usage(const struct daemon_service *service, FILE *out)
{
    fprintf(out,
            "usage: chainfs %s [--config FILE] [--set SECTION.KEY=VALUE]...\n"
            "       chainfs %s --config-reference\n\n%s\n\n"
            "  --config FILE        INI file with [daemon], [log] and [rpc] sections\n"
            "  --set S.K=V          override one setting (repeatable, applied after the file)\n"
            "  --config-reference   print every setting with its type and default\n"
            "  --version            print the version\n\n"
            "SIGTERM or SIGINT stops it gracefully.\n",
            service->component, service->component, service->summary);
}

/* Loads the configuration from the command line. Returns -1 to continue, or an
 * exit code. */
static int load_configuration(int argc, char **argv, const struct daemon_service *service,
                              const struct config_schema *schema, struct daemon_config *config)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'}, {"set", required_argument, NULL, 's'},
        {"config-reference", no_argument, NULL, 'r'}, {"version", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    struct config_error error;
    if (config_apply_defaults(schema, config, &error) != 0) {
        fprintf(stderr, "chainfs %s: %s\n", service->component, error.message);
        return 1;
    }
    const char *config_path = NULL;
    char **overrides = calloc((size_t)argc, sizeof(char *));
    size_t override_count = 0;
    int option;
    optind = 1;
    while ((option = getopt_long(argc, argv, "c:s:", options, NULL)) != -1) {
        switch (option) {
        case 'c': config_path = optarg; break;
        case 's': overrides[override_count++] = optarg; break;
        case 'r': config_print_reference(schema, stdout); free(overrides); return 0;
        case 'v': printf("chainfs %s\n", CHAINFS_VERSION); free(overrides); return 0;
        case 'h': print_usage(service, stdout); free(overrides); return 0;
        default: print_usage(service, stderr); free(overrides); return 2;
        }
    }
    int status = 0;
    if (optind < argc) {
        fprintf(stderr, "chainfs %s: unexpected argument '%s'\n", service->component, argv[optind]);
        status = 2;
    }
    if (status == 0 && config_path)
        status = config_load_file(schema, config, config_path, &error);
    for (size_t i = 0; status == 0 && i < override_count; i++)
        status = config_apply_override(schema, config, overrides[i], &error);
    runtime.config_path = config_path;
    runtime.overrides = overrides; /* freed by daemon_main */
    runtime.override_count = override_count;
    if (status == CHAINFS_CONFIG)
        fprintf(stderr, "chainfs %s: %s\n", service->component, error.message);
    if (status != 0)
        return 2;
    if (config->name[0] == '\0') {
        free(config->name);
        config->name = strdup(service->component);
    }
    return -1;
}

static int setup_logging(const struct daemon_config *config, const char *component)
{
    enum log_level level;
    if (!log_level_parse(config->log_level, &level)) {
        fprintf(stderr, "chainfs %s: [log] level: expected debug, info, warn, error or off, got '%s'\n",
                component, config->log_level);
        return 2;
    }
    log_set_level(level);
    if (config->log_file[0] && log_open_file(config->log_file) != 0) {
        fprintf(stderr, "chainfs %s: cannot open log file %s: %s\n", component, config->log_file,
                strerror(errno));
        return 1;
    }
    return 0;
}

/* Serves until a stop signal arrives; returns the exit code. */
static int serve(const struct daemon_service *service, const struct daemon_config *config,
                 const sigset_t *stop_signals)
{
    struct rpc_server_options options;
    daemon_rpc_options(config, &options);
    struct rpc_server *server = NULL;
    struct system_service *system = NULL;
    void *state = NULL;
    bool started = false;
    int status = rpc_server_create(&options, &server);
    if (status == 0)
        status = system_service_create(service->component, config->debug_methods, &system);
    if (status == 0)
        status = rpc_server_register(server, system_service_descriptor(system));
    if (status == 0 && service->start)
        status = service->start(server, config, &state);
    started = status == 0;
    if (status == 0)
        status = rpc_server_start(server);
    char address[ADDRESS_TEXT_MAX] = "";
    if (status == 0) {
        rpc_server_bound_address(server, address);
        if (service->started)
            status = service->started(state, address);
    }
    if (status == 0)
        status = run_dir_publish_address(config->run_dir, config->name, address);
    if (status == 0) {
        pthread_mutex_lock(&runtime.lock);
        runtime.state = state;
        runtime.live = config;
        runtime.running = true;
        pthread_mutex_unlock(&runtime.lock);
        log_info("%s ready: pid %d, rpc %s", config->name, (int)getpid(), address);
        int signal_number = 0;
        sigwait(stop_signals, &signal_number);
        log_info("%s: %s received, stopping", config->name, strsignal(signal_number));
    } else {
        log_error("%s failed to start: %s", config->name, chainfs_error_message(status));
    }
    pthread_mutex_lock(&runtime.lock); /* no reconfigure once stopping starts */
    runtime.running = false;
    pthread_mutex_unlock(&runtime.lock);
    if (server)
        rpc_server_stop(server, (uint64_t)config->shutdown_drain * CLOCK_NS_PER_MS);
    if (started && service->stop)
        service->stop(state);
    rpc_server_destroy(server);
    system_service_destroy(system);
    run_dir_remove_address(config->run_dir, config->name);
    return status == 0 ? 0 : 1;
}

/* Logging, signals, pid file, then serve. Returns the exit code. */
static int run_configured(const struct daemon_service *service, struct daemon_config *config)
{
    int exit_code = setup_logging(config, service->component);
    if (exit_code != 0)
        return exit_code;
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (run_dir_claim_pid(config->run_dir, config->name) != 0)
        return 1;
    exit_code = serve(service, config, &stop_signals);
    run_dir_release_pid(config->run_dir, config->name);
    return exit_code;
}

int daemon_main(int argc, char **argv, const struct daemon_service *service)
{
    struct config_schema schema;
    size_t config_size = service->config_size ? service->config_size : sizeof(struct daemon_config);
    struct daemon_config *config = calloc(1, config_size);
    if (!config || service_schema(service, &schema) != 0) {
        free(config);
        fprintf(stderr, "chainfs %s: out of memory\n", service->component);
        return 1;
    }
    runtime.service = service;
    runtime.schema = &schema;
    runtime.config_size = config_size;
    int exit_code = load_configuration(argc, argv, service, &schema, config);
    if (exit_code < 0) /* not --help, --version, or a usage/config error */
        exit_code = run_configured(service, config);
    pthread_mutex_lock(&runtime.lock);
    free(runtime.overrides);
    runtime.overrides = NULL;
    if (runtime.last_applied) {
        config_free(&schema, runtime.last_applied);
        free(runtime.last_applied);
        runtime.last_applied = NULL;
    }
    runtime.schema = NULL;
    pthread_mutex_unlock(&runtime.lock);
    config_free(&schema, config);
    config_schema_release(&schema);
    free(config);
    return exit_code;
}

/* Defaults, file, cluster text, overrides: the config the daemon would start with now. */
static int rebuild_config(void *fresh, const char *text, uint64_t version,
                          struct config_error *error)
{
    int status = config_apply_defaults(runtime.schema, fresh, error);
    if (status == 0 && runtime.config_path)
        status = config_load_file(runtime.schema, fresh, runtime.config_path, error);
    char origin[64];
    snprintf(origin, sizeof(origin), "cluster config v%llu", (unsigned long long)version);
    if (status == 0)
        status = config_load_text(runtime.schema, fresh, text, origin, error);
    for (size_t i = 0; status == 0 && i < runtime.override_count; i++)
        status = config_apply_override(runtime.schema, fresh, runtime.overrides[i], error);
    const struct daemon_config *common = fresh;
    enum log_level level;
    if (status == 0 && !log_level_parse(common->log_level, &level)) {
        snprintf(error->message, sizeof(error->message), "%s: [log] level: bad value '%s'",
                 origin, common->log_level);
        status = CHAINFS_CONFIG;
    }
    return status;
}

int daemon_apply_cluster_config(const char *text, uint64_t version, struct config_error *error)
{
    pthread_mutex_lock(&runtime.lock);
    if (!runtime.running || !runtime.schema) {
        pthread_mutex_unlock(&runtime.lock);
        snprintf(error->message, sizeof(error->message), "no daemon is running");
        return CHAINFS_INVALID_ARGUMENT;
    }
    void *fresh = calloc(1, runtime.config_size);
    if (!fresh)
        snprintf(error->message, sizeof(error->message), "out of memory");
    int status = fresh ? rebuild_config(fresh, text, version, error) : CHAINFS_NO_MEMORY;
    if (status == 0) {
        const void *previous = runtime.last_applied ? runtime.last_applied : runtime.live;
        char names[512];
        size_t changed = config_describe_changes(runtime.schema, previous, fresh, names,
                                                 sizeof(names));
        /* Logged before the new level applies, so that a quieter level still shows it. */
        log_info("cluster config version %llu applied; %zu setting(s) changed%s%s",
                 (unsigned long long)version, changed, changed ? ": " : "", names);
        const struct daemon_config *common = fresh;
        enum log_level level;
        if (log_level_parse(common->log_level, &level))
            log_set_level(level);
        if (runtime.service->reconfigure)
            runtime.service->reconfigure(runtime.state, fresh);
        if (runtime.last_applied) {
            config_free(runtime.schema, runtime.last_applied);
            free(runtime.last_applied);
        }
        runtime.last_applied = fresh;
    } else {
        log_warn("cluster config version %llu not applied: %s", (unsigned long long)version,
                 error->message);
        if (fresh)
            config_free(runtime.schema, fresh);
        free(fresh);
    }
    pthread_mutex_unlock(&runtime.lock);
    return status;
}
