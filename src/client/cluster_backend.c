/*
 * cluster_backend.c - the client_backend of a real cluster: metadata operations
 * through the meta client, chunk I/O through the storage client, both over the
 * client's rpc_client, with routing info from mgmtd.
 *
 * The meta client (branch meta-service) and the storage client (branch
 * storage-client) are being written alongside this library; until they are merged
 * here, connecting to a cluster answers CHAINFS_UNSUPPORTED and only the embedded
 * backend works.
 */
#define LOG_COMPONENT "client"
#include "common/log.h"
#include "client/client_internal.h"

int cluster_backend_open(struct chainfs_client *client)
{
    log_error("this build has no cluster backend yet (meta and storage clients not merged); "
              "use an embedded file system");
    return CHAINFS_UNSUPPORTED;
}
