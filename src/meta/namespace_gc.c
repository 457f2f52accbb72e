/*
 * namespace_gc.c - collecting one file of the GC queue: its chunks on every chain,
 * then its records.
 *
 * Chunks go first and the records last, so a crash in between leaves the file queued
 * and a later pass removes the rest (removing chunks that are already gone is
 * harmless). A file is kept while a live client holds a write session on it: that
 * client may still write, and its data must stay readable through its open handle.
 */
#include <string.h>

#include "chainfs/error.h"
#include "kv/kv.h"
#include "meta/file_layout.h"
#include "meta/namespace_internal.h"

#define SESSIONS_PER_PASS 64

struct gc_check {
    uint64_t inode_id;
    bool (*is_dead)(void *context, const char *client_id);
    void *context;
    bool deleting;      /* second pass: delete the records */
    bool busy;          /* a live session holds the file */
    bool inode_missing; /* queued, but the inode is already gone */
    struct inode inode;
};

static size_t queue_key(uint8_t out[12], uint64_t inode_id)
{
    memcpy(out, "GCQU", 4);
    wire_store_u64(out + 4, inode_id);
    return 12;
}

/* Deletes the sessions of dead clients; busy when a live one remains. */
static int check_sessions(struct kv_transaction *transaction, struct gc_check *check)
{
    uint8_t begin[12], end[12];
    namespace_session_range(check->inode_id, begin, end);
    struct kv_range_options options = {.limit = SESSIONS_PER_PASS};
    struct kv_range_result rows;
    int status = kv_get_range(transaction, begin, 12, end, 12, &options, &rows);
    check->busy = rows.more;
    for (size_t i = 0; status == 0 && i < rows.count; i++) {
        struct wire_reader reader;
        char client_id[64];
        wire_reader_init(&reader, rows.rows[i].value, rows.rows[i].value_length);
        bool decoded = wire_get_string(&reader, client_id, sizeof(client_id));
        if (decoded && check->is_dead && check->is_dead(check->context, client_id))
            status = kv_clear(transaction, rows.rows[i].key, rows.rows[i].key_length);
        else
            check->busy = true;
    }
    return status;
}

static int gc_transaction(struct kv_transaction *transaction, void *argument)
{
    struct gc_check *check = argument;
    check->busy = check->inode_missing = false;
    uint8_t key[12];
    const void *value;
    size_t length;
    int status = kv_get(transaction, key, queue_key(key, check->inode_id), &value, &length);
    if (status == CHAINFS_NOT_FOUND && check->deleting)
        return 0; /* collected by another server meanwhile */
    if (status != 0)
        return status;
    status = namespace_read_inode(transaction, check->inode_id, &check->inode);
    if (status == CHAINFS_NOT_FOUND) {
        check->inode_missing = true; /* only the queue entry was left */
        return kv_clear(transaction, key, 12);
    }
    if (status != 0)
        return status;
    if (check->inode.nlink > 0)
        return kv_clear(transaction, key, 12); /* linked again (cannot happen today) */
    status = check_sessions(transaction, check);
    if (status != 0 || check->busy || !check->deleting)
        return status;
    status = kv_clear(transaction, key, 12);
    return status == 0 ? kv_clear(transaction, key, namespace_inode_key(key, check->inode_id))
                       : status;
}

/* Removes every chunk of the file on each chain of its stripe. */
static int remove_chunks(const struct meta_storage_ops *ops, const struct inode *inode)
{
    if (inode->type != INODE_FILE)
        return 0; /* symlinks have no chunks */
    if (!ops || !ops->file_chains || !ops->remove_chunks)
        return CHAINFS_UNSUPPORTED;
    uint32_t chains[FILE_LAYOUT_STRIPE_MAX];
    size_t count;
    int status = ops->file_chains(ops->context, &inode->layout, chains, FILE_LAYOUT_STRIPE_MAX, &count);
    for (size_t i = 0; status == 0 && i < count; i++)
        status = ops->remove_chunks(ops->context, chains[i], inode->id, 0);
    return status;
}

int meta_gc_collect(struct meta_namespace *space, const struct meta_storage_ops *ops,
                    uint64_t inode_id, bool (*is_dead)(void *context, const char *client_id),
                    void *context)
{
    struct gc_check check = {.inode_id = inode_id, .is_dead = is_dead, .context = context};
    int status = kv_run_transaction(space->store, gc_transaction, &check, NULL);
    if (status != 0 || check.inode_missing)
        return status;
    if (check.busy)
        return CHAINFS_BUSY;
    status = remove_chunks(ops, &check.inode);
    if (status != 0)
        return status;
    check.deleting = true;
    status = kv_run_transaction(space->store, gc_transaction, &check, NULL);
    return status == 0 && check.busy ? CHAINFS_BUSY : status;
}
