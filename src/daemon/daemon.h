/*
 * daemon.h - what every chainfs service process shares: command line, config file,
 * logging, run directory (pid and address files), the RPC server with the system
 * service, and a graceful stop on SIGTERM or SIGINT.
 *
 * A service fills struct daemon_service with its name and start/stop hooks and
 * calls daemon_main() from its `chainfs <service>` subcommand.
 */
#ifndef CHAINFS_DAEMON_DAEMON_H
#define CHAINFS_DAEMON_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "net/rpc_server.h"

/* Settings every daemon has (sections [daemon], [log], [rpc]). */
struct daemon_config {
    char *name;    /* instance name: pid and address files are <run_dir>/<name>.* */
    char *run_dir;
    char *log_level;
    char *log_file;
    char *listen;
    int64_t io_threads;
    int64_t worker_threads;
    int64_t max_body;
    int64_t max_payload;
    int64_t max_in_flight;
    int64_t max_connections;
    int64_t shutdown_drain;
    bool debug_methods;
};

extern const struct config_schema daemon_config_schema;

struct daemon_service {
    const char *component; /* "node", "mgmtd", "meta", "storage" */
    const char *summary;   /* one line for --help */
    /* The service's config is a struct of config_size bytes whose first member is a
     * struct daemon_config; parts describe the rest of it (may be empty). */
    const struct config_part *config_parts;
    size_t config_part_count;
    size_t config_size;
    /* Registers the service's RPC services on server before it starts listening.
     * config points at the service's whole config struct. */
    int (*start)(struct rpc_server *server, const void *config, void **state);
    /* Runs after the server listens, with its bound address (e.g. to register with
     * the cluster manager). May be NULL. */
    int (*started)(void *state, const char *address);
    /* Stops background work; the server has stopped answering. */
    void (*stop)(void *state);
    /* A new cluster-wide config arrived (daemon_apply_cluster_config): fresh is the
     * whole config rebuilt from defaults, file, cluster text and --set overrides.
     * Applies what can change while running (thread-safely) and ignores the rest,
     * which takes effect at the next start. May be NULL. */
    void (*reconfigure)(void *state, const void *fresh);
};

/* Runs a daemon until SIGTERM/SIGINT. argv[0] is the subcommand name. Returns the
 * process exit code (0 after a clean stop, 2 for usage/config errors, 1 otherwise). */
int daemon_main(int argc, char **argv, const struct daemon_service *service);

/* Applies a cluster-wide config (INI text of this node type, from mgmtd; see
 * mgmtd/cluster_config.h) to the running daemon. The precedence is defaults < config
 * file < cluster config < --set overrides. [log] level applies live; the service's
 * reconfigure hook applies its own live settings; every changed setting is logged.
 * Bad text changes nothing and returns CHAINFS_CONFIG (message in error). Returns
 * CHAINFS_INVALID_ARGUMENT outside a running daemon_main. Thread-safe. */
int daemon_apply_cluster_config(const char *text, uint64_t version, struct config_error *error);

/* Fills RPC server options from the [rpc] settings. */
void daemon_rpc_options(const struct daemon_config *config, struct rpc_server_options *options);

#endif /* CHAINFS_DAEMON_DAEMON_H */
