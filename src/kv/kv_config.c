/*
 * kv_config.c - [kv] settings and kv_open() from them.
 */
#include <stddef.h>
#include <string.h>

#define LOG_COMPONENT "kv"
#include "chainfs/error.h"
#include "common/log.h"
#include "kv/kv.h"
#include "kv/kv_config.h"

#define KV_SETTING(key, type, default_value, field, min, max, description)                   \
    {"kv", key, type, default_value, description, offsetof(struct kv_config, field), min, max}

static const struct config_setting kv_settings[] = {
    KV_SETTING("backend", CONFIG_TYPE_STRING, "lmdb", backend, 0, 0,
               "lmdb (embedded, one host) or postgres (networked, several hosts)"),
    KV_SETTING("lmdb_path", CONFIG_TYPE_STRING, "/var/tmp/chainfs/kv", lmdb_path, 0, 0,
               "LMDB environment directory, shared by the processes of one host"),
    KV_SETTING("lmdb_map_size", CONFIG_TYPE_SIZE, "1GiB", lmdb_map_size, 1 << 20, 1LL << 44,
               "initial LMDB map size; it grows on demand"),
    KV_SETTING("durability", CONFIG_TYPE_STRING, "sync", durability, 0, 0,
               "LMDB: sync (durable on return) or nosync (survives process crashes only)"),
    KV_SETTING("postgres_conninfo", CONFIG_TYPE_STRING, "", postgres_conninfo, 0, 0,
               "libpq connection string for backend = postgres"),
    KV_SETTING("postgres_table", CONFIG_TYPE_STRING, "chainfs_kv", postgres_table, 0, 0,
               "table holding the keys and values"),
};

const struct config_schema kv_config_schema = {"kv", kv_settings,
                                               sizeof(kv_settings) / sizeof(kv_settings[0])};

int kv_open_from_config(const struct kv_config *config, struct kv_store **store)
{
    struct kv_options options = {
        .backend = config->backend,
        .lmdb_path = config->lmdb_path,
        .lmdb_map_size = (uint64_t)config->lmdb_map_size,
        .postgres_conninfo = config->postgres_conninfo,
        .postgres_table = config->postgres_table,
    };
    if (strcmp(config->backend, "lmdb") != 0 && strcmp(config->backend, "postgres") != 0) {
        log_error("[kv] backend: expected lmdb or postgres, got '%s'", config->backend);
        return CHAINFS_CONFIG;
    }
    if (!kv_durability_parse(config->durability, &options.durability)) {
        log_error("[kv] durability: expected sync or nosync, got '%s'", config->durability);
        return CHAINFS_CONFIG;
    }
    if (strcmp(config->backend, "postgres") == 0 && config->postgres_conninfo[0] == '\0') {
        log_error("[kv] backend = postgres needs postgres_conninfo");
        return CHAINFS_CONFIG;
    }
    return kv_open(&options, store);
}
