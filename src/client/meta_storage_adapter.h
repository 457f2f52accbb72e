/*
 * meta_storage_adapter.h - the metadata service's view of the storage service
 * (meta/storage_ops.h) implemented with the storage client: GC removes a file's
 * chunks chain by chain, fsync of length asks each chain for the file's last chunk,
 * statfs sums the space info of every target.
 *
 * The adapter owns its RPC client, routing cache (refreshed every second and on
 * demand by the storage client) and storage client.
 */
#ifndef CHAINFS_CLIENT_META_STORAGE_ADAPTER_H
#define CHAINFS_CLIENT_META_STORAGE_ADAPTER_H

#include "meta/meta_service.h"
#include "meta/storage_ops.h"

/* Fills ops (last_chunk, remove_chunks, space_info; no file_chains) for the cluster
 * whose mgmtd is at mgmtd_addresses. 0, INVALID_ARGUMENT or NO_MEMORY. */
int meta_storage_adapter_create(const char *mgmtd_addresses, struct meta_storage_ops *ops);

/* Frees what create made (ops->context). */
void meta_storage_adapter_destroy(struct meta_storage_ops *ops);

/* The factory for meta_service_set_storage_factory(). */
extern const struct meta_storage_factory meta_storage_adapter_factory;

#endif /* CHAINFS_CLIENT_META_STORAGE_ADAPTER_H */
