/*
 * kv_config.h - the [kv] section of a service's configuration file, and opening the
 * store it describes. Used by every service that keeps state in the KV store.
 */
#ifndef CHAINFS_KV_KV_CONFIG_H
#define CHAINFS_KV_KV_CONFIG_H

#include <stdint.h>

#include "common/config.h"

struct kv_store;

struct kv_config {
    char *backend;           /* "lmdb" or "postgres" */
    char *lmdb_path;         /* environment directory */
    int64_t lmdb_map_size;   /* initial map size */
    char *durability;        /* "sync" or "nosync" */
    char *postgres_conninfo; /* libpq connection string */
    char *postgres_table;
};

/* Settings of struct kv_config (section [kv]); add with a config_part at the offset of
 * the struct kv_config member. */
extern const struct config_schema kv_config_schema;

/* Opens the store; a wrong backend or durability name is a CHAINFS_CONFIG error with
 * a message in the log. */
int kv_open_from_config(const struct kv_config *config, struct kv_store **store);

#endif /* CHAINFS_KV_KV_CONFIG_H */
