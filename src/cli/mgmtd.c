/*
 * mgmtd.c - `chainfs mgmtd`: the cluster manager daemon.
 */
#include "cli/commands.h"
#include "mgmtd/mgmtd_service.h"

int command_mgmtd(int argc, char **argv) { return daemon_main(argc, argv, &mgmtd_daemon_service); }
