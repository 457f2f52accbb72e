/*
 * namespace_tree.c - operations over several names or paths: mkdir -p, recursive
 * remove, batched stat, readlink, realpath, and the admin's directory layouts.
 */
#include <stdio.h>
#include <string.h>

#include "chainfs/error.h"
#include "kv/kv.h"
#include "meta/file_layout.h"
#include "meta/namespace_internal.h"

#define TREE_DEPTH_MAX 4096
#define REALPATH_SYMLINKS_MAX 40

/* --- mkdir -p --------------------------------------------------------------------- */

int meta_mkdirs(struct meta_namespace *space, const struct meta_credentials *credentials,
                const char *path, uint32_t mode, struct inode *inode)
{
    size_t path_length = strlen(path);
    if (path[0] != '/')
        return CHAINFS_INVALID_ARGUMENT;
    if (path_length > META_SYMLINK_MAX)
        return CHAINFS_NAME_TOO_LONG;
    char prefix[META_SYMLINK_MAX + 1];
    int status = meta_resolve(space, credentials, "/", true, inode);
    for (size_t at = 0; status == 0 && at < path_length;) {
        at += strspn(path + at, "/");
        size_t length = strcspn(path + at, "/");
        if (length == 0)
            break;
        if (length > META_NAME_MAX)
            return CHAINFS_NAME_TOO_LONG;
        char name[META_NAME_MAX + 1];
        memcpy(name, path + at, length);
        name[length] = '\0';
        at += length;
        memcpy(prefix, path, at);
        prefix[at] = '\0';
        uint64_t parent_id = inode->id;
        status = meta_resolve(space, credentials, prefix, true, inode);
        if (status == CHAINFS_NOT_FOUND) {
            status = meta_mkdir(space, credentials, parent_id, name, mode, inode);
            if (status == CHAINFS_EXISTS) /* created meanwhile */
                status = meta_resolve(space, credentials, prefix, true, inode);
        }
        if (status == 0 && inode->type != INODE_DIRECTORY)
            status = path[at + strspn(path + at, "/")] ? CHAINFS_NOT_DIRECTORY : CHAINFS_EXISTS;
    }
    return status;
}

/* --- recursive remove ------------------------------------------------------------- */

struct tree_removal {
    const struct meta_credentials *credentials;
    uint64_t parent_id;
    const char *name;
    struct inode top;    /* the entry to remove */
    uint64_t removed;    /* by the committed step (reset per attempt) */
    bool done;           /* the top directory is empty */
};

/* The entry itself, with the rules of unlink/rmdir (replays are noticed here). */
static int read_top(struct kv_transaction *transaction, void *argument)
{
    struct tree_removal *removal = argument;
    struct inode parent;
    struct directory_entry entry;
    int status = namespace_writable_directory(transaction, removal->credentials,
                                              removal->parent_id, &parent);
    if (status == 0)
        status = namespace_read_dentry(transaction, removal->parent_id, removal->name, &entry);
    if (status == 0)
        status = namespace_read_inode(transaction, entry.inode_id, &removal->top);
    if (status == 0)
        status = credentials_check_sticky(removal->credentials, &parent, &removal->top);
    if (status == 0 && (removal->top.flags & INODE_FLAG_IMMUTABLE))
        status = CHAINFS_NOT_PERMITTED;
    return status;
}

/* Removes an empty directory below the top from its parent. */
static int remove_empty_directory(struct kv_transaction *transaction,
                                  const struct meta_credentials *credentials,
                                  const struct inode *directory)
{
    struct inode parent;
    int status = namespace_writable_directory(transaction, credentials, directory->parent_id, &parent);
    if (status == 0)
        status = credentials_check_sticky(credentials, &parent, directory);
    if (status == 0 && (directory->flags & INODE_FLAG_IMMUTABLE))
        status = CHAINFS_NOT_PERMITTED;
    uint8_t key[12];
    if (status == 0)
        status = namespace_clear_dentry(transaction, parent.id, directory->name);
    if (status == 0)
        status = kv_clear(transaction, key, namespace_inode_key(key, directory->id));
    if (status == 0) {
        parent.nlink--;
        status = namespace_write_inode(transaction, &parent);
    }
    return status;
}

/* Unlinks the non-directory entries of rows from directory. */
static int remove_files(struct kv_transaction *transaction, struct tree_removal *removal,
                        const struct inode *directory, const struct kv_range_result *rows)
{
    int64_t now = namespace_now_ns();
    for (size_t i = 0; i < rows->count; i++) {
        struct wire_reader reader;
        struct directory_entry entry;
        struct inode inode;
        wire_reader_init(&reader, rows->rows[i].value, rows->rows[i].value_length);
        if (!directory_entry_decode(&reader, &entry))
            return CHAINFS_MALFORMED;
        int status = namespace_read_inode(transaction, entry.inode_id, &inode);
        if (status == 0)
            status = credentials_check_sticky(removal->credentials, directory, &inode);
        if (status == 0 && (inode.flags & INODE_FLAG_IMMUTABLE))
            status = CHAINFS_NOT_PERMITTED;
        if (status == 0)
            status = kv_clear(transaction, rows->rows[i].key, rows->rows[i].key_length);
        if (status == 0)
            status = namespace_drop_link(transaction, &inode, now);
        if (status != 0)
            return status;
        removal->removed++;
    }
    return 0;
}

/* One bounded step: walks down to a directory whose first entries hold no
 * subdirectory, then unlinks those entries, or removes that directory when empty. */
static int removal_step(struct kv_transaction *transaction, void *argument)
{
    struct tree_removal *removal = argument;
    removal->removed = 0;
    removal->done = false;
    uint64_t directory_id = removal->top.id;
    for (int depth = 0; depth < TREE_DEPTH_MAX; depth++) {
        struct inode directory;
        int status = namespace_writable_directory(transaction, removal->credentials, directory_id,
                                                  &directory);
        if (status != 0)
            return status;
        uint8_t begin[12], end[12];
        namespace_directory_range(directory_id, begin, end);
        struct kv_range_options options = {.limit = META_REMOVE_BATCH};
        struct kv_range_result rows;
        status = kv_get_range(transaction, begin, 12, end, 12, &options, &rows);
        if (status != 0)
            return status;
        uint64_t subdirectory = 0;
        for (size_t i = 0; i < rows.count && !subdirectory; i++) {
            struct wire_reader reader;
            struct directory_entry entry;
            wire_reader_init(&reader, rows.rows[i].value, rows.rows[i].value_length);
            if (!directory_entry_decode(&reader, &entry))
                return CHAINFS_MALFORMED;
            if (entry.type == INODE_DIRECTORY)
                subdirectory = entry.inode_id;
        }
        if (subdirectory) {
            directory_id = subdirectory;
            continue;
        }
        if (rows.count)
            return remove_files(transaction, removal, &directory, &rows);
        if (directory_id == removal->top.id) {
            removal->done = true;
            return 0;
        }
        removal->removed++;
        return remove_empty_directory(transaction, removal->credentials, &directory);
    }
    return CHAINFS_SYMLINK_LOOP; /* deeper than any real tree: a corrupt one */
}

int meta_remove_tree(struct meta_namespace *space, const struct meta_credentials *credentials,
                     uint64_t parent_id, const char *name, uint64_t *removed)
{
    *removed = 0;
    int status = namespace_check_name(name);
    struct tree_removal removal = {credentials, parent_id, name, {0}, 0, false};
    if (status == 0)
        status = namespace_run_unrecorded(space, read_top, &removal);
    if (status != 0 || namespace_replayed())
        return status;
    if (removal.top.type != INODE_DIRECTORY) {
        *removed = 1;
        return meta_unlink(space, credentials, parent_id, name);
    }
    /* bounded: every step removes at least one entry, and the final rmdir is retried
     * only a few times when concurrent creates refill the directory */
    for (int round = 0; round < 8; round++) {
        while (!removal.done) {
            status = kv_run_transaction(space->store, removal_step, &removal, NULL);
            if (status != 0)
                return status;
            *removed += removal.removed;
        }
        ++*removed;
        status = meta_rmdir(space, credentials, parent_id, name);
        if (status != CHAINFS_NOT_EMPTY)
            return status;
        --*removed;
        removal.done = false;
    }
    return CHAINFS_NOT_EMPTY;
}

/* --- batched stat, readlink, realpath --------------------------------------------- */

struct batch_request {
    const uint64_t *ids;
    size_t count;
    int *statuses;
    struct inode *inodes;
};

static int batch_transaction(struct kv_transaction *transaction, void *argument)
{
    struct batch_request *request = argument;
    for (size_t i = 0; i < request->count; i++) {
        int status = namespace_read_inode(transaction, request->ids[i], &request->inodes[i]);
        if (status != 0 && status != CHAINFS_NOT_FOUND)
            return status;
        request->statuses[i] = status;
    }
    return 0;
}

int meta_batch_stat(struct meta_namespace *space, const uint64_t *ids, size_t count,
                    int *statuses, struct inode *inodes)
{
    struct batch_request request = {ids, count, statuses, inodes};
    return kv_run_transaction(space->store, batch_transaction, &request, NULL);
}

int meta_readlink(struct meta_namespace *space, uint64_t inode_id, char *target, size_t capacity)
{
    struct inode inode;
    int status = meta_stat(space, inode_id, &inode);
    if (status == 0 && inode.type != INODE_SYMLINK)
        status = CHAINFS_INVALID_ARGUMENT;
    if (status == 0 && strlen(inode.symlink_target) >= capacity)
        status = CHAINFS_NAME_TOO_LONG;
    if (status == 0)
        strcpy(target, inode.symlink_target);
    return status;
}

/* Splits path (no trailing slashes) into its directory part and last name. */
static void split_last(const char *path, char *directory, char *name)
{
    size_t length = strlen(path);
    while (length > 1 && path[length - 1] == '/')
        length--;
    size_t slash = length;
    while (slash > 0 && path[slash - 1] != '/')
        slash--;
    size_t name_length = length - slash;
    if (name_length > META_NAME_MAX)
        name_length = META_NAME_MAX;
    memcpy(name, path + slash, name_length);
    name[name_length] = '\0';
    memcpy(directory, path, slash ? slash : 1);
    directory[slash ? slash : 1] = '\0';
    if (slash == 0)
        directory[0] = '/';
}

int meta_realpath(struct meta_namespace *space, const struct meta_credentials *credentials,
                  const char *path, char *resolved, size_t capacity)
{
    if (path[0] != '/')
        return CHAINFS_INVALID_ARGUMENT;
    if (strlen(path) > META_SYMLINK_MAX)
        return CHAINFS_NAME_TOO_LONG;
    char work[META_SYMLINK_MAX + 1], directory[META_SYMLINK_MAX + 1], name[META_NAME_MAX + 1];
    strcpy(work, path);
    for (int followed = 0; followed <= REALPATH_SYMLINKS_MAX; followed++) {
        struct inode inode;
        int status = meta_resolve(space, credentials, work, false, &inode);
        if (status != 0)
            return status;
        if (inode.type == INODE_DIRECTORY)
            return meta_directory_path(space, inode.id, resolved, capacity);
        split_last(work, directory, name);
        if (inode.type == INODE_FILE) {
            status = meta_resolve(space, credentials, directory, true, &inode);
            if (status == 0)
                status = meta_directory_path(space, inode.id, resolved, capacity);
            size_t used = status == 0 ? strlen(resolved) : 0;
            bool root = used == 1;
            if (status == 0 && used + !root + strlen(name) + 1 > capacity)
                status = CHAINFS_NAME_TOO_LONG;
            if (status == 0)
                snprintf(resolved + used, capacity - used, "%s%s", root ? "" : "/", name);
            return status;
        }
        /* a symlink: continue with its target, relative ones from its directory */
        int length = inode.symlink_target[0] == '/'
                         ? snprintf(work, sizeof(work), "%s", inode.symlink_target)
                         : snprintf(work, sizeof(work), "%s/%s", directory, inode.symlink_target);
        if (length < 0 || (size_t)length >= sizeof(work))
            return CHAINFS_NAME_TOO_LONG;
    }
    return CHAINFS_SYMLINK_LOOP;
}

/* --- directory layouts ------------------------------------------------------------ */

struct layout_request {
    uint64_t directory_id;
    const struct file_layout *layout;
    struct inode *inode;
};

static int layout_transaction(struct kv_transaction *transaction, void *argument)
{
    struct layout_request *request = argument;
    int status = namespace_read_inode(transaction, request->directory_id, request->inode);
    if (status != 0)
        return status;
    if (request->inode->type != INODE_DIRECTORY)
        return CHAINFS_NOT_DIRECTORY;
    request->inode->layout = *request->layout;
    request->inode->ctime_ns = namespace_now_ns();
    return namespace_write_inode(transaction, request->inode);
}

int meta_set_layout(struct meta_namespace *space, const struct meta_credentials *credentials,
                    uint64_t directory_id, const struct file_layout *layout, struct inode *inode)
{
    if (credentials->uid != 0)
        return CHAINFS_NOT_PERMITTED;
    int status = file_layout_check(layout);
    if (status != 0)
        return status;
    struct file_layout stored = *layout;
    stored.first_chain_index = 0; /* chosen per file at create */
    stored.seed = 0;
    struct layout_request request = {directory_id, &stored, inode};
    return namespace_run(space, layout_transaction, &request);
}
