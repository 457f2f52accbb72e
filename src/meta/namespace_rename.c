/*
 * namespace_rename.c - rename with replace, no-replace and exchange.
 *
 * A directory must never move under itself: inside the transaction the destination's
 * ancestors are read up to the root (conflicting reads), so of two concurrent cross
 * renames (a -> b/x and b -> a/y) at most one can commit.
 */
#include <string.h>

#include "chainfs/error.h"
#include "kv/kv.h"
#include "meta/namespace_internal.h"

#define ANCESTORS_MAX 4096

struct rename_request {
    const struct meta_credentials *credentials;
    uint64_t from_parent_id;
    const char *from_name;
    uint64_t to_parent_id;
    const char *to_name;
    unsigned flags;
};

/* INVALID_ARGUMENT when directory_id is destination_parent_id or one of its
 * ancestors. */
static int check_not_ancestor(struct kv_transaction *transaction, uint64_t directory_id,
                              uint64_t destination_parent_id)
{
    uint64_t current = destination_parent_id;
    for (int depth = 0; depth < ANCESTORS_MAX; depth++) {
        if (current == directory_id)
            return CHAINFS_INVALID_ARGUMENT;
        if (current == META_ROOT_ID)
            return 0;
        struct inode ancestor;
        int status = namespace_read_inode(transaction, current, &ancestor);
        if (status != 0)
            return status;
        current = ancestor.parent_id;
    }
    return CHAINFS_SYMLINK_LOOP; /* a corrupt parent chain: refuse */
}

/* The moving side of a rename: an entry, its inode, and its parent. */
struct rename_side {
    struct inode parent;
    struct directory_entry entry;
    struct inode inode;
    bool exists;
};

static int load_side(struct kv_transaction *transaction, const struct meta_credentials *credentials,
                     uint64_t parent_id, const char *name, struct rename_side *side)
{
    /* A missing parent is an error (ENOENT), not a missing entry: taking it for one
     * once let a rename write an entry into a directory deleted meanwhile. */
    int status = namespace_writable_directory(transaction, credentials, parent_id, &side->parent);
    if (status != 0)
        return status;
    status = namespace_read_dentry(transaction, parent_id, name, &side->entry);
    side->exists = status == 0;
    if (status == CHAINFS_NOT_FOUND)
        return 0;
    if (status == 0)
        status = namespace_read_inode(transaction, side->entry.inode_id, &side->inode);
    if (status == 0)
        status = credentials_check_sticky(credentials, &side->parent, &side->inode);
    if (status == 0 && (side->inode.flags & INODE_FLAG_IMMUTABLE))
        status = CHAINFS_NOT_PERMITTED;
    return status;
}

/* Checks replacing `to` by `from` the way rename(2) does. */
static int check_replace(struct kv_transaction *transaction, const struct rename_side *from,
                         const struct rename_side *to)
{
    if (from->inode.type == INODE_DIRECTORY) {
        if (to->inode.type != INODE_DIRECTORY)
            return CHAINFS_NOT_DIRECTORY;
        return namespace_check_empty(transaction, to->inode.id);
    }
    return to->inode.type == INODE_DIRECTORY ? CHAINFS_IS_DIRECTORY : 0;
}

/* Writes a directory that moved: its parent pointer and own name. */
static int moved_directory(struct kv_transaction *transaction, struct inode *inode,
                           uint64_t parent_id, const char *name, int64_t now)
{
    if (inode->type != INODE_DIRECTORY)
        return 0;
    inode->parent_id = parent_id;
    strcpy(inode->name, name);
    inode->ctime_ns = now;
    return namespace_write_inode(transaction, inode);
}

/* Stores the parents' link counts (".." of moved directories); one write when the two
 * parents are the same directory. */
static int write_parents(struct kv_transaction *transaction, struct rename_side *from,
                         struct rename_side *to, int from_delta, int to_delta)
{
    if (from->parent.id == to->parent.id) {
        from->parent.nlink += (uint32_t)(from_delta + to_delta);
        return from_delta + to_delta ? namespace_write_inode(transaction, &from->parent) : 0;
    }
    int status = 0;
    from->parent.nlink += (uint32_t)from_delta;
    to->parent.nlink += (uint32_t)to_delta;
    if (from_delta)
        status = namespace_write_inode(transaction, &from->parent);
    if (status == 0 && to_delta)
        status = namespace_write_inode(transaction, &to->parent);
    return status;
}

static int exchange(struct kv_transaction *transaction, const struct rename_request *request,
                    struct rename_side *from, struct rename_side *to)
{
    if (!to->exists)
        return CHAINFS_NOT_FOUND;
    int status = 0;
    if (from->parent.id != to->parent.id) {
        if (from->inode.type == INODE_DIRECTORY)
            status = check_not_ancestor(transaction, from->inode.id, to->parent.id);
        if (status == 0 && to->inode.type == INODE_DIRECTORY)
            status = check_not_ancestor(transaction, to->inode.id, from->parent.id);
    }
    int64_t now = namespace_now_ns();
    if (status == 0)
        status = namespace_write_dentry(transaction, request->to_parent_id, request->to_name, &from->entry);
    if (status == 0)
        status = namespace_write_dentry(transaction, request->from_parent_id, request->from_name, &to->entry);
    if (status == 0)
        status = moved_directory(transaction, &from->inode, request->to_parent_id, request->to_name, now);
    if (status == 0)
        status = moved_directory(transaction, &to->inode, request->from_parent_id, request->from_name, now);
    int from_dirs = from->inode.type == INODE_DIRECTORY, to_dirs = to->inode.type == INODE_DIRECTORY;
    if (status == 0 && from->parent.id != to->parent.id)
        status = write_parents(transaction, from, to, to_dirs - from_dirs, from_dirs - to_dirs);
    return status;
}

static int move(struct kv_transaction *transaction, const struct rename_request *request,
                struct rename_side *from, struct rename_side *to)
{
    int status = 0;
    if (to->exists) {
        if (request->flags & META_RENAME_NOREPLACE)
            return CHAINFS_EXISTS;
        if (to->inode.id == from->inode.id)
            return 0; /* the same file: rename(2) does nothing */
        status = check_replace(transaction, from, to);
    }
    if (status == 0 && from->inode.type == INODE_DIRECTORY && from->parent.id != to->parent.id)
        status = check_not_ancestor(transaction, from->inode.id, to->parent.id);
    int64_t now = namespace_now_ns();
    if (status == 0)
        status = namespace_clear_dentry(transaction, request->from_parent_id, request->from_name);
    if (status == 0)
        status = namespace_write_dentry(transaction, request->to_parent_id, request->to_name, &from->entry);
    if (status == 0)
        status = moved_directory(transaction, &from->inode, request->to_parent_id, request->to_name, now);
    int from_delta = 0, to_delta = 0;
    if (from->inode.type == INODE_DIRECTORY && from->parent.id != to->parent.id) {
        from_delta--;
        to_delta++;
    }
    if (status == 0 && to->exists) {
        if (to->inode.type == INODE_DIRECTORY) {
            uint8_t key[12];
            status = kv_clear(transaction, key, namespace_inode_key(key, to->inode.id));
            to_delta--;
        } else {
            status = namespace_drop_link(transaction, &to->inode, now);
        }
    }
    if (status == 0)
        status = write_parents(transaction, from, to, from_delta, to_delta);
    return status;
}

static int rename_transaction(struct kv_transaction *transaction, void *argument)
{
    struct rename_request *request = argument;
    struct rename_side from, to;
    int status = load_side(transaction, request->credentials, request->from_parent_id,
                           request->from_name, &from);
    if (status == 0 && !from.exists)
        status = CHAINFS_NOT_FOUND;
    if (status == 0)
        status = load_side(transaction, request->credentials, request->to_parent_id, request->to_name, &to);
    if (status != 0)
        return status;
    return (request->flags & META_RENAME_EXCHANGE) ? exchange(transaction, request, &from, &to)
                                                   : move(transaction, request, &from, &to);
}

int meta_rename(struct meta_namespace *space, const struct meta_credentials *credentials,
                uint64_t from_parent_id, const char *from_name, uint64_t to_parent_id,
                const char *to_name, unsigned flags)
{
    if ((flags & META_RENAME_NOREPLACE) && (flags & META_RENAME_EXCHANGE))
        return CHAINFS_INVALID_ARGUMENT;
    if (flags & ~(unsigned)(META_RENAME_NOREPLACE | META_RENAME_EXCHANGE))
        return CHAINFS_INVALID_ARGUMENT;
    int status = namespace_check_name(from_name);
    if (status == 0)
        status = namespace_check_name(to_name);
    if (status != 0)
        return status;
    struct rename_request request = {credentials, from_parent_id, from_name, to_parent_id, to_name, flags};
    return namespace_run(space, rename_transaction, &request);
}
