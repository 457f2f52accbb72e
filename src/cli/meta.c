/*
 * meta.c - `chainfs meta`: the metadata server daemon, with the storage client as its
 * way to the storage service (GC, exact lengths, statfs).
 */
#include "cli/commands.h"
#include "client/meta_storage_adapter.h"
#include "meta/meta_service.h"

int command_meta(int argc, char **argv)
{
    meta_service_set_storage_factory(&meta_storage_adapter_factory);
    return daemon_main(argc, argv, &meta_daemon_service);
}
