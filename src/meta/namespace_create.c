/*
 * namespace_create.c - operations that add names: format (the root), create, mkdir,
 * symlink and hard link.
 */
#include <string.h>
#include <sys/stat.h>

#include "chainfs/error.h"
#include "kv/kv.h"
#include "meta/namespace_internal.h"

struct new_entry {
    struct meta_namespace *space;
    const struct meta_credentials *credentials;
    uint64_t parent_id;
    const char *name;
    uint32_t mode;
    unsigned flags;
    const char *symlink_target;
    const char *client_id; /* with session_id != 0: record a write session */
    uint64_t session_id;
    uint64_t new_id; /* allocated before the transaction */
    uint8_t type;
    struct inode *inode;
};

/* A new inode of the caller, inheriting layout and (setgid) group from parent. */
static void initialise_inode(const struct new_entry *request, const struct inode *parent,
                             struct inode *inode)
{
    memset(inode, 0, sizeof(*inode));
    int64_t now = namespace_now_ns();
    inode->id = request->new_id;
    inode->type = request->type;
    inode->mode = request->mode & 07777;
    inode->uid = request->credentials->uid;
    inode->gid = (parent->mode & S_ISGID) ? parent->gid : request->credentials->gid;
    if (request->type == INODE_DIRECTORY && (parent->mode & S_ISGID))
        inode->mode |= S_ISGID;
    inode->nlink = request->type == INODE_DIRECTORY ? 2 : 1;
    inode->atime_ns = inode->mtime_ns = inode->ctime_ns = now;
    inode->layout = parent->layout;
    if (request->type == INODE_FILE) {
        /* round robin over the table (ids grow), and a per-file shuffle seed */
        inode->layout.first_chain_index = (uint32_t)(request->new_id >> 4);
        inode->layout.seed = request->new_id;
        struct meta_namespace *space = request->space;
        if (inode->layout.table_version == 0 && space->newest_table_version)
            inode->layout.table_version = space->newest_table_version(space->table_version_context,
                                                                      inode->layout.table_id);
    }
    inode->parent_id = request->type == INODE_DIRECTORY ? parent->id : 0;
    if (request->type == INODE_DIRECTORY)
        strcpy(inode->name, request->name);
    if (request->type == INODE_SYMLINK) {
        strcpy(inode->symlink_target, request->symlink_target);
        inode->mode = 0777;
        inode->length = strlen(request->symlink_target);
    }
}

/* O_CREAT on an existing name: EXISTS with O_EXCL, IS_DIRECTORY for a directory,
 * else the file (emptied with O_TRUNC, which needs write permission). */
static int open_existing(struct kv_transaction *transaction, const struct new_entry *request,
                         const struct directory_entry *entry)
{
    if (request->type != INODE_FILE || (request->flags & META_CREATE_EXCLUSIVE))
        return CHAINFS_EXISTS;
    int status = namespace_read_inode(transaction, entry->inode_id, request->inode);
    if (status != 0)
        return status;
    if (request->inode->type == INODE_DIRECTORY)
        return CHAINFS_IS_DIRECTORY;
    if (request->inode->type != INODE_FILE)
        return 0;
    if (request->session_id)
        status = credentials_check_access(request->credentials, request->inode, META_ACCESS_WRITE);
    if (status == 0 && request->session_id)
        status = namespace_write_session(transaction, request->inode->id, request->session_id,
                                         request->client_id);
    if (status != 0 || !(request->flags & META_CREATE_TRUNCATE))
        return status;
    status = credentials_check_access(request->credentials, request->inode, META_ACCESS_WRITE);
    if (status == 0 && (request->inode->flags & INODE_FLAG_IMMUTABLE))
        status = CHAINFS_NOT_PERMITTED;
    if (status != 0 || request->inode->length == 0)
        return status;
    request->inode->length = 0;
    request->inode->truncate_version++; /* storage drops the chunks (issue #7) */
    request->inode->mtime_ns = request->inode->ctime_ns = namespace_now_ns();
    return namespace_write_inode(transaction, request->inode);
}

static int new_entry_transaction(struct kv_transaction *transaction, void *argument)
{
    struct new_entry *request = argument;
    struct inode parent;
    int status = namespace_writable_directory(transaction, request->credentials, request->parent_id,
                                              &parent);
    if (status == CHAINFS_PERMISSION_DENIED && request->type == INODE_FILE) {
        /* opening an existing file needs only search permission on the directory */
        struct directory_entry entry;
        if (credentials_check_access(request->credentials, &parent, META_ACCESS_EXECUTE) == 0 &&
            namespace_read_dentry(transaction, request->parent_id, request->name, &entry) == 0)
            return open_existing(transaction, request, &entry);
    }
    if (status != 0)
        return status;
    struct directory_entry entry;
    status = namespace_read_dentry(transaction, request->parent_id, request->name, &entry);
    if (status == 0)
        return open_existing(transaction, request, &entry);
    if (status != CHAINFS_NOT_FOUND)
        return status;
    initialise_inode(request, &parent, request->inode);
    status = namespace_write_inode(transaction, request->inode);
    entry = (struct directory_entry){request->new_id, request->type};
    if (status == 0)
        status = namespace_write_dentry(transaction, request->parent_id, request->name, &entry);
    if (status == 0 && request->type == INODE_DIRECTORY) {
        parent.nlink++; /* the child's ".." */
        status = namespace_write_inode(transaction, &parent);
    }
    if (status == 0 && request->type == INODE_FILE && request->session_id)
        status = namespace_write_session(transaction, request->new_id, request->session_id,
                                         request->client_id);
    return status;
}

static int add_entry(struct meta_namespace *space, struct new_entry *request)
{
    request->space = space;
    int status = namespace_check_name(request->name);
    if (status == 0)
        status = namespace_allocate_id(space, &request->new_id);
    if (status == 0)
        status = namespace_run(space, new_entry_transaction, request);
    return status;
}

int meta_create(struct meta_namespace *space, const struct meta_credentials *credentials,
                uint64_t parent_id, const char *name, uint32_t mode, unsigned flags,
                struct inode *inode)
{
    return meta_create_open(space, credentials, parent_id, name, mode, flags, NULL, 0, inode);
}

int meta_create_open(struct meta_namespace *space, const struct meta_credentials *credentials,
                     uint64_t parent_id, const char *name, uint32_t mode, unsigned flags,
                     const char *client_id, uint64_t session_id, struct inode *inode)
{
    if (session_id && (!client_id || !client_id[0] || strlen(client_id) > RECORD_CLIENT_ID_MAX))
        return CHAINFS_INVALID_ARGUMENT;
    struct new_entry request = {.credentials = credentials, .parent_id = parent_id, .name = name,
                                .mode = mode, .flags = flags, .type = INODE_FILE, .inode = inode,
                                .client_id = client_id, .session_id = session_id};
    return add_entry(space, &request);
}

int meta_mkdir(struct meta_namespace *space, const struct meta_credentials *credentials,
               uint64_t parent_id, const char *name, uint32_t mode, struct inode *inode)
{
    struct new_entry request = {.credentials = credentials, .parent_id = parent_id, .name = name,
                                .mode = mode, .type = INODE_DIRECTORY, .inode = inode};
    return add_entry(space, &request);
}

int meta_symlink(struct meta_namespace *space, const struct meta_credentials *credentials,
                 uint64_t parent_id, const char *name, const char *target, struct inode *inode)
{
    size_t length = strlen(target);
    if (length == 0)
        return CHAINFS_INVALID_ARGUMENT;
    if (length > META_SYMLINK_MAX)
        return CHAINFS_NAME_TOO_LONG;
    struct new_entry request = {.credentials = credentials, .parent_id = parent_id, .name = name,
                                .symlink_target = target, .type = INODE_SYMLINK, .inode = inode};
    return add_entry(space, &request);
}

struct link_request {
    const struct meta_credentials *credentials;
    uint64_t inode_id;
    uint64_t parent_id;
    const char *name;
    struct inode *inode;
};

static int link_transaction(struct kv_transaction *transaction, void *argument)
{
    struct link_request *request = argument;
    struct inode parent;
    int status = namespace_read_inode(transaction, request->inode_id, request->inode);
    if (status != 0)
        return status;
    if (request->inode->type == INODE_DIRECTORY)
        return CHAINFS_NOT_PERMITTED; /* EPERM: no hard links to directories */
    if (request->inode->nlink == 0)
        return CHAINFS_NOT_FOUND; /* unlinked meanwhile (ENOENT, as linkat of such a file) */
    if (request->inode->flags & INODE_FLAG_IMMUTABLE)
        return CHAINFS_NOT_PERMITTED;
    status = namespace_writable_directory(transaction, request->credentials, request->parent_id, &parent);
    if (status != 0)
        return status;
    struct directory_entry entry;
    status = namespace_read_dentry(transaction, request->parent_id, request->name, &entry);
    if (status != CHAINFS_NOT_FOUND)
        return status == 0 ? CHAINFS_EXISTS : status;
    request->inode->nlink++;
    request->inode->ctime_ns = namespace_now_ns();
    entry = (struct directory_entry){request->inode->id, request->inode->type};
    status = namespace_write_inode(transaction, request->inode);
    return status == 0 ? namespace_write_dentry(transaction, request->parent_id, request->name, &entry)
                       : status;
}

int meta_link(struct meta_namespace *space, const struct meta_credentials *credentials,
              uint64_t inode_id, uint64_t new_parent_id, const char *new_name, struct inode *inode)
{
    int status = namespace_check_name(new_name);
    if (status != 0)
        return status;
    struct link_request request = {credentials, inode_id, new_parent_id, new_name, inode};
    return namespace_run(space, link_transaction, &request);
}

static int format_transaction(struct kv_transaction *transaction, void *argument)
{
    const struct file_layout *layout = argument;
    struct inode root;
    int status = namespace_read_inode(transaction, META_ROOT_ID, &root);
    if (status != CHAINFS_NOT_FOUND)
        return status; /* exists (0) or an error */
    memset(&root, 0, sizeof(root));
    root.id = META_ROOT_ID;
    root.type = INODE_DIRECTORY;
    root.mode = 0755;
    root.nlink = 2;
    root.atime_ns = root.mtime_ns = root.ctime_ns = namespace_now_ns();
    root.layout = *layout;
    root.parent_id = META_ROOT_ID;
    return namespace_write_inode(transaction, &root);
}

int meta_namespace_format(struct meta_namespace *space, const struct file_layout *default_layout)
{
    return kv_run_transaction(space->store, format_transaction, (void *)default_layout, NULL);
}
