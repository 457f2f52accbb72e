/*
 * node.c - `chainfs node`: a daemon with only the system service.
 *
 * It is the daemon scaffolding on its own (config, logging, run directory, RPC
 * server, graceful stop); the cluster manager, metadata and storage services are
 * built on the same daemon_main().
 */
#include "cli/commands.h"
#include "daemon/daemon.h"

static const struct daemon_service node_service = {
    .component = "node",
    .summary = "A bare chainfs daemon serving the system service (health, echo, sink, source).",
};

int command_node(int argc, char **argv) { return daemon_main(argc, argv, &node_service); }
