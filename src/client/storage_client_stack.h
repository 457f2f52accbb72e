/*
 * storage_client_stack.h - a storage client with its own RPC client and routing cache,
 * for programs that need nothing else from the cluster (tools, benchmarks). A process
 * that already has an RPC client and a routing cache creates the storage client on
 * those instead (storage_client.h).
 */
#ifndef CHAINFS_CLIENT_STORAGE_CLIENT_STACK_H
#define CHAINFS_CLIENT_STORAGE_CLIENT_STACK_H

#include "client/storage_client.h"

struct storage_client_stack {
    struct rpc_client *rpc;
    struct routing_cache *routing; /* refreshed every second in the background */
    struct storage_client *client;
};

/* Creates the three and fetches the routing info once from mgmtd_addresses
 * ("host:port[,...]"). options NULL: the defaults. 0 or a status; on failure nothing
 * is left open. */
int storage_client_stack_open(struct storage_client_stack *stack, const char *mgmtd_addresses,
                              const struct storage_client_options *options);

/* Closes what open created. No call may be in progress. */
void storage_client_stack_close(struct storage_client_stack *stack);

#endif /* CHAINFS_CLIENT_STORAGE_CLIENT_STACK_H */
