/*
 * temporary_store.h - a throw-away LMDB KV store in a fresh /tmp directory, for the
 * unit tests of components that keep their state in the KV store (lease, namespace).
 * Header-only: each test executable includes it once.
 */
#ifndef CHAINFS_TESTS_TEMPORARY_STORE_H
#define CHAINFS_TESTS_TEMPORARY_STORE_H

#include <stdio.h>
#include <stdlib.h>

#include "kv/kv.h"

struct temporary_store {
    char directory[64];
    struct kv_store *store;
};

/* Opens an LMDB store of map_size bytes with the durability in a new directory; 0 or
 * a status. */
static inline int temporary_store_open_with(struct temporary_store *temporary, const char *name,
                                            uint64_t map_size, enum kv_durability durability)
{
    snprintf(temporary->directory, sizeof(temporary->directory), "/tmp/chainfs-%s-XXXXXX", name);
    if (!mkdtemp(temporary->directory))
        return -1;
    struct kv_options options = {.backend = "lmdb", .lmdb_path = temporary->directory,
                                 .lmdb_map_size = map_size, .durability = durability};
    return kv_open(&options, &temporary->store);
}

/* Opens a nosync LMDB store of map_size bytes in a new directory; 0 or a status. */
static inline int temporary_store_open(struct temporary_store *temporary, const char *name,
                                       uint64_t map_size)
{
    return temporary_store_open_with(temporary, name, map_size, KV_DURABILITY_NOSYNC);
}

/* Closes the store and removes its directory; 0 when the removal worked. */
static inline int temporary_store_close(struct temporary_store *temporary)
{
    kv_close(temporary->store);
    char command[128];
    snprintf(command, sizeof(command), "rm -rf %s", temporary->directory);
    return system(command);
}

#endif /* CHAINFS_TESTS_TEMPORARY_STORE_H */
