/*
 * mgmtd_client.h - calling the cluster manager from services, clients and the admin
 * tool: find the primary among the configured mgmtd addresses and follow it when it
 * changes.
 */
#ifndef CHAINFS_MGMTD_MGMTD_CLIENT_H
#define CHAINFS_MGMTD_MGMTD_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mgmtd/routing_info.h"
#include "net/rpc_client.h"

struct mgmtd_client {
    struct rpc_client *rpc;
    char addresses[8][ADDRESS_TEXT_MAX];
    size_t address_count;
    char primary[ADDRESS_TEXT_MAX]; /* last known primary, "" if none */
    uint64_t timeout_ns;
};

/* addresses: "host:port[,host:port...]" (at most 8). Returns 0 or INVALID_ARGUMENT. */
int mgmtd_client_init(struct mgmtd_client *client, struct rpc_client *rpc, const char *addresses,
                      uint64_t timeout_ns);

/* Asks the mgmtd at address who is primary. */
int mgmtd_client_get_primary(struct mgmtd_client *client, const char *address, uint32_t *node_id,
                             char primary[ADDRESS_TEXT_MAX], uint64_t *epoch);

/* Calls a method on the primary: finds it, follows NOT_PRIMARY answers and retries
 * lost connections (bounded). The reply is in call (release it with
 * rpc_call_release). Returns the call status. */
int mgmtd_client_call_primary(struct mgmtd_client *client, struct rpc_call *call);

/* Fetches the routing info from any mgmtd (the primary first). */
int mgmtd_client_routing_info(struct mgmtd_client *client, struct routing_info *info);

/* Fetches the cluster config of a node type (version 0: the newest) from the
 * primary: *version_out is its version, *text_out a NUL-terminated malloc'ed copy the
 * caller frees. CHAINFS_NOT_FOUND when no such config is stored. */
int mgmtd_client_get_config(struct mgmtd_client *client, uint8_t node_type, uint64_t version,
                            uint64_t *version_out, char **text_out);

#endif /* CHAINFS_MGMTD_MGMTD_CLIENT_H */
