/*
 * embedded_meta.c - the metadata half of the embedded backend: the namespace library
 * (src/meta) on an LMDB store inside this process.
 *
 * It answers exactly what the metadata service answers for the same operations,
 * since both run the same namespace transactions (write sessions and length reports
 * included). What the service adds over the network has no use inside one process
 * and is left out: idempotent retries, and the GC workers, so the chunks of removed
 * files are not reclaimed (see src/client/README.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "chainfs/client.h"
#include "client/client_backend.h"
#include "client/embedded_backend.h"
#include "kv/kv.h"
#include "meta/meta_protocol.h"
#include "meta/namespace.h"

/* the one client of an embedded file system, as write sessions name it */
#define EMBEDDED_CLIENT_ID "embedded"

struct embedded_meta {
    struct kv_store *store;
    struct meta_namespace *space;
    char chunk_dir[4096];
    uint32_t chunk_size;
};

static int embedded_stat(void *context, uint64_t inode_id, struct inode *inode)
{
    struct embedded_meta *meta = context;
    return meta_stat(meta->space, inode_id, inode);
}

static int embedded_lookup(void *context, const struct meta_credentials *credentials,
                           uint64_t parent_id, const char *name, struct inode *inode)
{
    struct embedded_meta *meta = context;
    return meta_lookup(meta->space, credentials, parent_id, name, inode);
}

static int embedded_resolve(void *context, const struct meta_credentials *credentials,
                            const char *path, bool follow_last, struct inode *inode)
{
    struct embedded_meta *meta = context;
    return meta_resolve(meta->space, credentials, path, follow_last, inode);
}

static int embedded_create(void *context, const struct meta_credentials *credentials,
                           uint64_t parent_id, const char *name, uint32_t mode, unsigned flags,
                           uint64_t session_id, struct inode *inode)
{
    struct embedded_meta *meta = context;
    return meta_create_open(meta->space, credentials, parent_id, name, mode, flags,
                            EMBEDDED_CLIENT_ID, session_id, inode);
}

static int embedded_mkdir(void *context, const struct meta_credentials *credentials,
                          uint64_t parent_id, const char *name, uint32_t mode, struct inode *inode)
{
    struct embedded_meta *meta = context;
    return meta_mkdir(meta->space, credentials, parent_id, name, mode, inode);
}

static int embedded_symlink(void *context, const struct meta_credentials *credentials,
                            uint64_t parent_id, const char *name, const char *target,
                            struct inode *inode)
{
    struct embedded_meta *meta = context;
    return meta_symlink(meta->space, credentials, parent_id, name, target, inode);
}

static int embedded_link(void *context, const struct meta_credentials *credentials,
                         uint64_t inode_id, uint64_t new_parent_id, const char *new_name,
                         struct inode *inode)
{
    struct embedded_meta *meta = context;
    return meta_link(meta->space, credentials, inode_id, new_parent_id, new_name, inode);
}

static int embedded_unlink(void *context, const struct meta_credentials *credentials,
                           uint64_t parent_id, const char *name)
{
    struct embedded_meta *meta = context;
    return meta_unlink(meta->space, credentials, parent_id, name);
}

static int embedded_rmdir(void *context, const struct meta_credentials *credentials,
                          uint64_t parent_id, const char *name)
{
    struct embedded_meta *meta = context;
    return meta_rmdir(meta->space, credentials, parent_id, name);
}

static int embedded_rename(void *context, const struct meta_credentials *credentials,
                           uint64_t from_parent_id, const char *from_name, uint64_t to_parent_id,
                           const char *to_name, unsigned flags)
{
    struct embedded_meta *meta = context;
    return meta_rename(meta->space, credentials, from_parent_id, from_name, to_parent_id, to_name,
                       flags);
}

static int embedded_readdir(void *context, const struct meta_credentials *credentials,
                            uint64_t directory_id, const char *after,
                            struct meta_directory_entry *entries, struct inode *attributes,
                            size_t capacity, size_t *count, bool *more)
{
    struct embedded_meta *meta = context;
    if (capacity > META_BATCH_MAX)
        capacity = META_BATCH_MAX;
    int status = meta_readdir(meta->space, credentials, directory_id, after, entries, capacity,
                              count, more);
    if (status != 0 || !attributes || *count == 0)
        return status;
    uint64_t ids[META_BATCH_MAX];
    int statuses[META_BATCH_MAX];
    for (size_t i = 0; i < *count; i++)
        ids[i] = entries[i].inode_id;
    status = meta_batch_stat(meta->space, ids, *count, statuses, attributes);
    for (size_t i = 0; status == 0 && i < *count; i++)
        if (statuses[i] != 0)
            attributes[i].id = 0; /* removed since it was listed */
    return status;
}

static int embedded_setattr(void *context, const struct meta_credentials *credentials,
                            uint64_t inode_id, const struct meta_setattr *changes,
                            struct inode *inode)
{
    struct embedded_meta *meta = context;
    return meta_setattr(meta->space, credentials, inode_id, changes, inode);
}

static int embedded_remove_recursive(void *context, const struct meta_credentials *credentials,
                                     uint64_t parent_id, const char *name)
{
    struct embedded_meta *meta = context;
    uint64_t removed;
    return meta_remove_tree(meta->space, credentials, parent_id, name, &removed);
}

static int embedded_open(void *context, const struct meta_credentials *credentials,
                         uint64_t inode_id, unsigned mode, uint64_t session_id, struct inode *inode)
{
    struct embedded_meta *meta = context;
    return meta_open(meta->space, credentials, inode_id, mode, EMBEDDED_CLIENT_ID, session_id,
                     inode);
}

static int embedded_report_length(void *context, uint64_t inode_id, uint64_t session_id,
                                  uint64_t length, uint64_t truncate_version)
{
    struct embedded_meta *meta = context;
    struct inode inode;
    return meta_report_length(meta->space, inode_id, session_id, length, truncate_version, &inode);
}

static int embedded_close(void *context, uint64_t inode_id, uint64_t session_id, uint64_t length,
                          uint64_t truncate_version)
{
    struct embedded_meta *meta = context;
    struct inode inode;
    return meta_close(meta->space, inode_id, session_id, true, length, truncate_version, &inode);
}

/* Space of the file system that holds the chunk files. */
static int embedded_statfs(void *context, struct chainfs_statfs *statfs)
{
    struct embedded_meta *meta = context;
    struct statvfs disk;
    if (statvfs(meta->chunk_dir, &disk) != 0)
        return CHAINFS_IO;
    statfs->capacity_bytes = (uint64_t)disk.f_blocks * disk.f_frsize;
    statfs->free_bytes = (uint64_t)disk.f_bavail * disk.f_frsize;
    statfs->used_bytes = statfs->capacity_bytes - (uint64_t)disk.f_bfree * disk.f_frsize;
    statfs->chunk_size = meta->chunk_size;
    return 0;
}

static void embedded_destroy(void *context)
{
    struct embedded_meta *meta = context;
    meta_namespace_close(meta->space);
    kv_close(meta->store);
    free(meta);
}

static const struct client_meta_ops embedded_meta_ops = {
    .stat = embedded_stat,
    .lookup = embedded_lookup,
    .resolve = embedded_resolve,
    .create = embedded_create,
    .mkdir = embedded_mkdir,
    .symlink = embedded_symlink,
    .link = embedded_link,
    .unlink = embedded_unlink,
    .rmdir = embedded_rmdir,
    .remove_recursive = embedded_remove_recursive,
    .rename = embedded_rename,
    .readdir = embedded_readdir,
    .setattr = embedded_setattr,
    .open = embedded_open,
    .report_length = embedded_report_length,
    .close = embedded_close,
    .statfs = embedded_statfs,
    .destroy = embedded_destroy,
};

int embedded_meta_open(const char *kv_dir, const char *chunk_dir, const struct file_layout *layout,
                       struct client_backend *backend)
{
    struct embedded_meta *meta = calloc(1, sizeof(*meta));
    if (!meta)
        return CHAINFS_NO_MEMORY;
    snprintf(meta->chunk_dir, sizeof(meta->chunk_dir), "%s", chunk_dir);
    meta->chunk_size = layout->chunk_size;
    struct kv_options options = {.backend = "lmdb", .lmdb_path = kv_dir,
                                 .durability = KV_DURABILITY_SYNC};
    int status = kv_open(&options, &meta->store);
    if (status == 0)
        status = meta_namespace_open(meta->store, &meta->space);
    if (status == 0)
        status = meta_namespace_format(meta->space, layout);
    if (status != 0) {
        if (meta->space)
            meta_namespace_close(meta->space);
        kv_close(meta->store);
        free(meta);
        return status;
    }
    backend->meta = &embedded_meta_ops;
    backend->meta_context = meta;
    return 0;
}
