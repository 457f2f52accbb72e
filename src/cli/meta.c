/*
 * meta.c - `chainfs meta`: the metadata server daemon.
 */
#include "cli/commands.h"
#include "meta/meta_service.h"

int command_meta(int argc, char **argv) { return daemon_main(argc, argv, &meta_daemon_service); }
