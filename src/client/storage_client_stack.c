/*
 * storage_client_stack.c - RPC client + routing cache + storage client in one.
 */
#include "client/storage_client_stack.h"

#include <string.h>

#include "chainfs/error.h"
#include "common/clock.h"

int storage_client_stack_open(struct storage_client_stack *stack, const char *mgmtd_addresses,
                              const struct storage_client_options *options)
{
    memset(stack, 0, sizeof(*stack));
    struct rpc_client_options rpc_options;
    rpc_client_default_options(&rpc_options);
    rpc_options.name = "storage-client";
    rpc_options.io_threads = 2;
    int status = rpc_client_create(&rpc_options, &stack->rpc);
    struct routing_cache_options cache_options = {.rpc = stack->rpc, .mgmtd_addresses = mgmtd_addresses,
                                                  .refresh_interval_ns = CLOCK_NS_PER_S};
    if (status == CHAINFS_OK)
        status = routing_cache_create(&cache_options, &stack->routing);
    if (status == CHAINFS_OK)
        status = routing_cache_refresh(stack->routing);
    struct storage_client_options defaults;
    storage_client_default_options(&defaults);
    if (status == CHAINFS_OK)
        status = storage_client_create(options ? options : &defaults, stack->rpc, stack->routing,
                                       &stack->client);
    if (status != CHAINFS_OK)
        storage_client_stack_close(stack);
    return status;
}

void storage_client_stack_close(struct storage_client_stack *stack)
{
    storage_client_destroy(stack->client);
    routing_cache_destroy(stack->routing);
    if (stack->rpc)
        rpc_client_destroy(stack->rpc);
    memset(stack, 0, sizeof(*stack));
}
