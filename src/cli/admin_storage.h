/*
 * admin_storage.h - the `chainfs admin` commands that talk to storage nodes
 * directly (their addresses come from the routing info):
 *
 *   create-targets --node N --ids ID,ID,... [--disk I] [--address HOST:PORT]
 *       asks node N to create (or confirm) targets <disk I>/target-<ID>; they join
 *       the cluster with the node's next heartbeat. --address reaches a node that has
 *       not registered yet.
 *   storage-status
 *       per target of every live storage node: chain, states, chunks, space, and the
 *       progress of the recovery it runs for its successor.
 */
#ifndef CHAINFS_CLI_ADMIN_STORAGE_H
#define CHAINFS_CLI_ADMIN_STORAGE_H

#include <stdbool.h>

#include "mgmtd/mgmtd_client.h"

int admin_create_targets(struct mgmtd_client *mgmtd, int argc, char **argv);

int admin_storage_status(struct mgmtd_client *mgmtd, bool json);

/* For `admin status`: one line per target of chain that recovers its successor now,
 * with what it has sent so far (asked of the target's node). */
void admin_storage_print_recovery(struct mgmtd_client *mgmtd, const struct routing_info *info,
                                  const struct chain_record *chain);

#endif /* CHAINFS_CLI_ADMIN_STORAGE_H */
