/*
 * namespace_setattr.c - chmod, chown, utimens and truncate.
 */
#include <sys/stat.h>

#include "chainfs/error.h"
#include "kv/kv.h"
#include "meta/namespace_internal.h"

struct setattr_request {
    const struct meta_credentials *credentials;
    uint64_t inode_id;
    const struct meta_setattr *changes;
    struct inode *inode;
};

static bool is_owner(const struct meta_credentials *credentials, const struct inode *inode)
{
    return credentials->uid == 0 || credentials->uid == inode->uid;
}

/* Ownership changes: EPERM unless root, or the owner moving the file to one of their
 * own groups. */
static int check_owner_change(const struct meta_credentials *credentials, const struct inode *inode,
                              const struct meta_setattr *changes)
{
    if (credentials->uid == 0)
        return 0;
    if ((changes->fields & META_SET_UID) && changes->uid != inode->uid)
        return CHAINFS_NOT_PERMITTED;
    if ((changes->fields & META_SET_GID) &&
        (credentials->uid != inode->uid || !credentials_in_group(credentials, changes->gid)))
        return CHAINFS_NOT_PERMITTED;
    return 0;
}

static int check_changes(const struct meta_credentials *credentials, const struct inode *inode,
                         const struct meta_setattr *changes)
{
    unsigned fields = changes->fields;
    if (inode->flags & INODE_FLAG_IMMUTABLE)
        return CHAINFS_NOT_PERMITTED;
    if ((fields & (META_SET_MODE | META_SET_ATIME | META_SET_MTIME)) && !is_owner(credentials, inode))
        return CHAINFS_NOT_PERMITTED;
    int status = check_owner_change(credentials, inode, changes);
    if (status == 0 && (fields & (META_SET_ATIME_NOW | META_SET_MTIME_NOW)) && !is_owner(credentials, inode))
        status = credentials_check_access(credentials, inode, META_ACCESS_WRITE);
    if (status == 0 && (fields & META_SET_SIZE)) {
        if (inode->type == INODE_DIRECTORY)
            return CHAINFS_IS_DIRECTORY;
        if (inode->type != INODE_FILE)
            return CHAINFS_INVALID_ARGUMENT;
        status = credentials_check_access(credentials, inode, META_ACCESS_WRITE);
    }
    return status;
}

static void apply_changes(const struct meta_credentials *credentials, struct inode *inode,
                          const struct meta_setattr *changes)
{
    unsigned fields = changes->fields;
    int64_t now = namespace_now_ns();
    if (fields & META_SET_MODE) {
        inode->mode = changes->mode & 07777;
        /* like Linux: a non-root caller outside the file's group loses setgid */
        if (credentials->uid != 0 && !credentials_in_group(credentials, inode->gid))
            inode->mode &= ~(uint32_t)S_ISGID;
    }
    if (fields & META_SET_UID)
        inode->uid = changes->uid;
    if (fields & META_SET_GID)
        inode->gid = changes->gid;
    if (fields & META_SET_ATIME)
        inode->atime_ns = changes->atime_ns;
    if (fields & META_SET_MTIME)
        inode->mtime_ns = changes->mtime_ns;
    if (fields & META_SET_ATIME_NOW)
        inode->atime_ns = now;
    if (fields & META_SET_MTIME_NOW)
        inode->mtime_ns = now;
    if (fields & META_SET_SIZE) {
        /* A new truncate version even at the same length: the client has cut storage
         * there, and its own (or another client's) unreported longer length must not
         * be adopted afterwards. */
        inode->truncate_version++;
        if (changes->size != inode->length)
            inode->mtime_ns = now;
        inode->length = changes->size;
    }
    inode->ctime_ns = now;
}

static int setattr_transaction(struct kv_transaction *transaction, void *argument)
{
    struct setattr_request *request = argument;
    int status = namespace_read_inode(transaction, request->inode_id, request->inode);
    if (status == 0)
        status = check_changes(request->credentials, request->inode, request->changes);
    if (status != 0)
        return status;
    apply_changes(request->credentials, request->inode, request->changes);
    return namespace_write_inode(transaction, request->inode);
}

int meta_setattr(struct meta_namespace *space, const struct meta_credentials *credentials,
                 uint64_t inode_id, const struct meta_setattr *changes, struct inode *inode)
{
    if (changes->fields == 0 || (changes->fields & ~0xffu))
        return CHAINFS_INVALID_ARGUMENT;
    struct setattr_request request = {credentials, inode_id, changes, inode};
    return namespace_run(space, setattr_transaction, &request);
}
