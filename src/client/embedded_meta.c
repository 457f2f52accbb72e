/*
 * embedded_meta.c - the metadata half of the embedded backend: the namespace library
 * (src/meta) on an LMDB store inside this process.
 *
 * It answers exactly what the metadata service answers for the same operations,
 * since both run the same namespace transactions; what the service adds over the
 * network (write-session records, GC workers, idempotent retries) has no use inside
 * one process and is left out: sessions are not recorded and removed files' chunks
 * are not reclaimed (see src/client/README.md).
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
#include "meta/namespace_internal.h"

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
                           struct inode *inode)
{
    struct embedded_meta *meta = context;
    return meta_create(meta->space, credentials, parent_id, name, mode, flags, inode);
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
                            struct meta_directory_entry *entries, size_t capacity, size_t *count,
                            bool *more)
{
    struct embedded_meta *meta = context;
    return meta_readdir(meta->space, credentials, directory_id, after, entries, capacity, count,
                        more);
}

static int embedded_setattr(void *context, const struct meta_credentials *credentials,
                            uint64_t inode_id, const struct meta_setattr *changes,
                            struct inode *inode)
{
    struct embedded_meta *meta = context;
    return meta_setattr(meta->space, credentials, inode_id, changes, inode);
}

/* Removes every entry of directory_id, depth first (bounded by EMBEDDED_TREE_DEPTH). */
static int remove_children(struct embedded_meta *meta, const struct meta_credentials *credentials,
                           uint64_t directory_id, int depth)
{
    enum { PAGE = 64 };
    if (depth > EMBEDDED_TREE_DEPTH)
        return CHAINFS_SYMLINK_LOOP;
    struct meta_directory_entry *entries = calloc(PAGE, sizeof(*entries));
    if (!entries)
        return CHAINFS_NO_MEMORY;
    int status = 0;
    bool more = true;
    while (status == 0 && more) {
        size_t count = 0;
        /* always from the start: what was listed is removed before the next page */
        status = meta_readdir(meta->space, credentials, directory_id, "", entries, PAGE, &count,
                              &more);
        for (size_t i = 0; status == 0 && i < count; i++) {
            if (entries[i].type == INODE_DIRECTORY) {
                status = remove_children(meta, credentials, entries[i].inode_id, depth + 1);
                if (status == 0)
                    status = meta_rmdir(meta->space, credentials, directory_id, entries[i].name);
            } else {
                status = meta_unlink(meta->space, credentials, directory_id, entries[i].name);
            }
        }
        if (status == 0 && count == 0)
            break;
    }
    free(entries);
    return status;
}

static int embedded_remove_recursive(void *context, const struct meta_credentials *credentials,
                                     uint64_t parent_id, const char *name)
{
    struct embedded_meta *meta = context;
    struct inode inode;
    int status = meta_lookup(meta->space, credentials, parent_id, name, &inode);
    if (status != 0)
        return status;
    if (inode.type != INODE_DIRECTORY)
        return meta_unlink(meta->space, credentials, parent_id, name);
    status = remove_children(meta, credentials, inode.id, 0);
    return status == 0 ? meta_rmdir(meta->space, credentials, parent_id, name) : status;
}

static int embedded_open(void *context, const struct meta_credentials *credentials,
                         uint64_t inode_id, unsigned access, bool write, uint64_t *session_id,
                         struct inode *inode)
{
    struct embedded_meta *meta = context;
    int status = meta_stat(meta->space, inode_id, inode);
    if (status != 0)
        return status;
    if (inode->type == INODE_DIRECTORY)
        return write ? CHAINFS_IS_DIRECTORY : 0;
    if (write && (inode->flags & INODE_FLAG_IMMUTABLE))
        return CHAINFS_NOT_PERMITTED;
    status = credentials_check_access(credentials, inode, access);
    *session_id = 0; /* one process: no other client to keep sessions for */
    return status;
}

struct length_report {
    uint64_t inode_id;
    uint64_t length;
    uint64_t truncate_version;
};

/* Adopts a larger length unless a truncate came in between (DESIGN §6). */
static int report_length_transaction(struct kv_transaction *transaction, void *argument)
{
    const struct length_report *report = argument;
    struct inode inode;
    int status = namespace_read_inode(transaction, report->inode_id, &inode);
    if (status != 0)
        return status;
    if (inode.type != INODE_FILE || inode.truncate_version != report->truncate_version ||
        inode.length >= report->length)
        return 0;
    inode.length = report->length;
    inode.mtime_ns = inode.ctime_ns = namespace_now_ns();
    return namespace_write_inode(transaction, &inode);
}

static int embedded_report_length(void *context, uint64_t inode_id, uint64_t session_id,
                                  uint64_t length, uint64_t truncate_version)
{
    struct embedded_meta *meta = context;
    struct length_report report = {inode_id, length, truncate_version};
    return kv_run_transaction(meta->store, report_length_transaction, &report, NULL);
}

static int embedded_close(void *context, uint64_t inode_id, uint64_t session_id) { return 0; }

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
