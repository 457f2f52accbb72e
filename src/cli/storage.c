/*
 * storage.c - `chainfs storage`: the storage daemon (src/storage/storage_service.h).
 */
#include "cli/commands.h"
#include "storage/storage_service.h"

int command_storage(int argc, char **argv) { return daemon_main(argc, argv, &storage_daemon_service); }
