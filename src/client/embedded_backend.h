/*
 * embedded_backend.h - a whole chainfs file system inside one process, for tests and
 * single-machine use: the namespace library on an LMDB store (embedded_meta.c) and
 * chunks as files (embedded_storage.c), behind the client_backend tables, so the
 * client library and the FUSE daemon run unchanged without any service.
 *
 * Layout of dir:
 *   kv/                          the LMDB store of the namespace
 *   chunks/<chain>/<inode hex>/<chunk index>   one file per chunk, its bytes as stored
 */
#ifndef CHAINFS_CLIENT_EMBEDDED_BACKEND_H
#define CHAINFS_CLIENT_EMBEDDED_BACKEND_H

#include <stdint.h>

#include "client/client_backend.h"

/* Opens (creating if needed) the embedded file system in dir; a new one gets a root
 * whose default layout has this chunk size and stripe over chain_count chains.
 * Fills both halves of backend. Returns 0 or a status. */
int embedded_backend_open(const char *dir, uint32_t chunk_size, uint32_t stripe,
                          uint32_t chain_count, struct client_backend *backend);

/* The two halves (embedded_backend_open calls both). */
int embedded_meta_open(const char *kv_dir, const char *chunk_dir, const struct file_layout *layout,
                       struct client_backend *backend);
int embedded_storage_open(const char *chunk_dir, uint32_t chain_count,
                          struct client_backend *backend);

#endif /* CHAINFS_CLIENT_EMBEDDED_BACKEND_H */
