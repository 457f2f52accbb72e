/*
 * namespace_remove.c - unlink and rmdir.
 */
#include "chainfs/error.h"
#include "kv/kv.h"
#include "meta/namespace_internal.h"

struct remove_request {
    const struct meta_credentials *credentials;
    uint64_t parent_id;
    const char *name;
    bool directory; /* rmdir */
};

static int remove_transaction(struct kv_transaction *transaction, void *argument)
{
    struct remove_request *request = argument;
    struct inode parent, inode;
    struct directory_entry entry;
    int status = namespace_writable_directory(transaction, request->credentials, request->parent_id,
                                              &parent);
    if (status == 0)
        status = namespace_read_dentry(transaction, request->parent_id, request->name, &entry);
    if (status == 0)
        status = namespace_read_inode(transaction, entry.inode_id, &inode);
    if (status == 0)
        status = credentials_check_sticky(request->credentials, &parent, &inode);
    if (status == 0 && (inode.flags & INODE_FLAG_IMMUTABLE))
        status = CHAINFS_NOT_PERMITTED;
    if (status != 0)
        return status;
    if (request->directory && inode.type != INODE_DIRECTORY)
        return CHAINFS_NOT_DIRECTORY;
    if (!request->directory && inode.type == INODE_DIRECTORY)
        return CHAINFS_IS_DIRECTORY;
    status = namespace_clear_dentry(transaction, request->parent_id, request->name);
    if (status != 0 || !request->directory)
        return status == 0 ? namespace_drop_link(transaction, &inode, namespace_now_ns()) : status;
    /* Reading the (empty) entry range makes a concurrent create in it conflict. */
    status = namespace_check_empty(transaction, inode.id);
    uint8_t key[12];
    if (status == 0)
        status = kv_clear(transaction, key, namespace_inode_key(key, inode.id));
    if (status == 0) {
        parent.nlink--;
        status = namespace_write_inode(transaction, &parent);
    }
    return status;
}

static int remove_entry(struct meta_namespace *space, struct remove_request *request)
{
    int status = namespace_check_name(request->name);
    if (status == CHAINFS_INVALID_ARGUMENT && request->directory && request->name[0] == '.')
        return request->name[1] == '.' ? CHAINFS_NOT_EMPTY : CHAINFS_INVALID_ARGUMENT;
    return status == 0 ? namespace_run(space, remove_transaction, request) : status;
}

int meta_unlink(struct meta_namespace *space, const struct meta_credentials *credentials,
                uint64_t parent_id, const char *name)
{
    struct remove_request request = {credentials, parent_id, name, false};
    return remove_entry(space, &request);
}

int meta_rmdir(struct meta_namespace *space, const struct meta_credentials *credentials,
               uint64_t parent_id, const char *name)
{
    struct remove_request request = {credentials, parent_id, name, true};
    return remove_entry(space, &request);
}
