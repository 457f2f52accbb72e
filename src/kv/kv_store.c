/*
 * kv_store.c - opening a store: validating the options and choosing the backend.
 */
#define LOG_COMPONENT "kv"

#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"
#include "common/log.h"
#include "kv/kv.h"
#include "kv/kv_backend.h"

#define KV_TABLE_NAME_MAX 48

bool kv_durability_parse(const char *text, enum kv_durability *durability)
{
    if (text && strcmp(text, "sync") == 0)
        *durability = KV_DURABILITY_SYNC;
    else if (text && strcmp(text, "nosync") == 0)
        *durability = KV_DURABILITY_NOSYNC;
    else
        return false;
    return true;
}

static bool table_name_valid(const char *name)
{
    size_t length = strlen(name);
    if (length == 0 || length > KV_TABLE_NAME_MAX || (name[0] >= '0' && name[0] <= '9'))
        return false;
    for (size_t i = 0; i < length; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
              name[i] == '_'))
            return false;
    return true;
}

static int check_lmdb_options(const struct kv_options *options)
{
    if (!options->lmdb_path || !options->lmdb_path[0]) {
        log_error("backend lmdb needs a path");
        return CHAINFS_CONFIG;
    }
    if (options->durability != KV_DURABILITY_SYNC &&
        options->durability != KV_DURABILITY_NOSYNC) {
        log_error("durability must be sync or nosync");
        return CHAINFS_CONFIG;
    }
    return 0;
}

static int check_postgres_options(const struct kv_options *options)
{
    if (!options->postgres_conninfo) {
        log_error("backend postgres needs a conninfo");
        return CHAINFS_CONFIG;
    }
    if (options->postgres_table && !table_name_valid(options->postgres_table)) {
        log_error("postgres table name '%s' is not [a-z_][a-z0-9_]* of at most %d bytes",
                  options->postgres_table, KV_TABLE_NAME_MAX);
        return CHAINFS_CONFIG;
    }
    return 0;
}

int kv_open(const struct kv_options *options, struct kv_store **store)
{
    if (!options || !store)
        return CHAINFS_INVALID_ARGUMENT;
    const struct kv_backend_ops *ops;
    int (*open_backend)(const struct kv_options *, void **);
    int status;
    if (options->backend && strcmp(options->backend, "lmdb") == 0) {
        ops = &kv_lmdb_backend_ops;
        open_backend = kv_lmdb_open;
        status = check_lmdb_options(options);
    } else if (options->backend && strcmp(options->backend, "postgres") == 0) {
        ops = &kv_postgres_backend_ops;
        open_backend = kv_postgres_open;
        status = check_postgres_options(options);
    } else {
        log_error("unknown backend '%s' (lmdb or postgres)",
                  options->backend ? options->backend : "(none)");
        return CHAINFS_CONFIG;
    }
    if (status != 0)
        return status;
    struct kv_store *created = calloc(1, sizeof(*created));
    if (!created)
        return CHAINFS_NO_MEMORY;
    created->ops = ops;
    status = open_backend(options, &created->backend);
    if (status != 0) {
        free(created);
        return status;
    }
    *store = created;
    return 0;
}

void kv_close(struct kv_store *store)
{
    if (!store)
        return;
    store->ops->close(store->backend);
    free(store);
}

const char *kv_backend_name(const struct kv_store *store) { return store->ops->name; }

struct kv_traits kv_store_traits(const struct kv_store *store) { return store->ops->traits; }
