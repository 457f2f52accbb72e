/*
 * meta_storage_adapter.c - meta_storage_ops over the storage client (see
 * meta_storage_adapter.h).
 */
#include <stdlib.h>

#include "chainfs/error.h"
#include "client/meta_storage_adapter.h"
#include "client/storage_client.h"
#include "common/clock.h"

#define ROUTING_REFRESH_NS CLOCK_NS_PER_S
#define CALL_TIMEOUT_NS (30 * CLOCK_NS_PER_S)

struct adapter {
    struct rpc_client *rpc;
    struct routing_cache *routing;
    struct storage_client *storage;
};

static int last_chunk(void *context, uint32_t chain_id, uint64_t inode_id, bool *found,
                      uint64_t *chunk_index, uint32_t *chunk_length)
{
    struct adapter *adapter = context;
    struct storage_last_chunk_reply reply = {0};
    int status = storage_client_query_last_chunk(adapter->storage, chain_id, inode_id,
                                                 deadline_after_ns(CALL_TIMEOUT_NS), &reply);
    *found = status == 0 && reply.found;
    *chunk_index = reply.index;
    *chunk_length = (uint32_t)reply.length;
    return status;
}

static int remove_chunks(void *context, uint32_t chain_id, uint64_t inode_id, uint64_t first_chunk)
{
    struct adapter *adapter = context;
    return storage_client_remove_chunks(adapter->storage, chain_id, inode_id, first_chunk, UINT64_MAX,
                                        deadline_after_ns(CALL_TIMEOUT_NS), NULL);
}

static int space_info(void *context, uint64_t *capacity, uint64_t *used)
{
    struct adapter *adapter = context;
    struct storage_target_info *targets = NULL;
    size_t count = 0;
    int status = storage_client_space_info(adapter->storage, deadline_after_ns(CALL_TIMEOUT_NS),
                                           &targets, &count, NULL);
    *capacity = *used = 0;
    for (size_t i = 0; status == 0 && i < count; i++) {
        *capacity += targets[i].capacity_bytes;
        *used += targets[i].used_bytes;
    }
    free(targets);
    return status;
}

void meta_storage_adapter_destroy(struct meta_storage_ops *ops)
{
    struct adapter *adapter = ops->context;
    if (!adapter)
        return;
    storage_client_destroy(adapter->storage);
    routing_cache_destroy(adapter->routing);
    if (adapter->rpc)
        rpc_client_destroy(adapter->rpc);
    free(adapter);
    ops->context = NULL;
}

int meta_storage_adapter_create(const char *mgmtd_addresses, struct meta_storage_ops *ops)
{
    struct adapter *adapter = calloc(1, sizeof(*adapter));
    if (!adapter)
        return CHAINFS_NO_MEMORY;
    *ops = (struct meta_storage_ops){.context = adapter, .last_chunk = last_chunk,
                                     .remove_chunks = remove_chunks, .space_info = space_info};
    struct rpc_client_options rpc_options;
    rpc_client_default_options(&rpc_options);
    rpc_options.name = "meta-storage";
    int status = rpc_client_create(&rpc_options, &adapter->rpc);
    if (status == 0) {
        struct routing_cache_options routing = {.rpc = adapter->rpc,
                                                .mgmtd_addresses = mgmtd_addresses,
                                                .refresh_interval_ns = ROUTING_REFRESH_NS};
        status = routing_cache_create(&routing, &adapter->routing);
    }
    if (status == 0) {
        routing_cache_refresh(adapter->routing); /* a first snapshot if mgmtd answers */
        struct storage_client_options options;
        storage_client_default_options(&options);
        status = storage_client_create(&options, adapter->rpc, adapter->routing, &adapter->storage);
    }
    if (status != 0)
        meta_storage_adapter_destroy(ops);
    return status;
}

static int factory_create(const char *mgmtd_addresses, struct meta_storage_ops *ops)
{
    return meta_storage_adapter_create(mgmtd_addresses, ops);
}

const struct meta_storage_factory meta_storage_adapter_factory = {factory_create,
                                                                  meta_storage_adapter_destroy};
