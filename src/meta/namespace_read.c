/*
 * namespace_read.c - operations that only read: stat, lookup, path resolution,
 * readdir and the GC queue listing.
 */
#include <string.h>

#include "chainfs/error.h"
#include "kv/kv.h"
#include "meta/namespace_internal.h"

#define SYMLINK_DEPTH_MAX 40

struct read_request {
    const struct meta_credentials *credentials;
    uint64_t parent_id;
    const char *name;
    struct inode *inode;
};

static int stat_transaction(struct kv_transaction *transaction, void *argument)
{
    struct read_request *request = argument;
    return namespace_read_inode(transaction, request->parent_id, request->inode);
}

int meta_stat(struct meta_namespace *space, uint64_t inode_id, struct inode *inode)
{
    struct read_request request = {.parent_id = inode_id, .inode = inode};
    return kv_run_transaction(space->store, stat_transaction, &request, NULL);
}

/* Looks name up in parent (searchable directory) inside a transaction. */
static int lookup_in(struct kv_transaction *transaction, const struct meta_credentials *credentials,
                     const struct inode *parent, const char *name, struct inode *inode)
{
    if (parent->type != INODE_DIRECTORY)
        return CHAINFS_NOT_DIRECTORY;
    int status = credentials_check_access(credentials, parent, META_ACCESS_EXECUTE);
    if (status != 0)
        return status;
    if (strcmp(name, ".") == 0) {
        *inode = *parent;
        return 0;
    }
    if (strcmp(name, "..") == 0)
        return namespace_read_inode(transaction, parent->id == META_ROOT_ID ? META_ROOT_ID
                                                                             : parent->parent_id, inode);
    if (strlen(name) > META_NAME_MAX)
        return CHAINFS_NAME_TOO_LONG;
    struct directory_entry entry;
    status = namespace_read_dentry(transaction, parent->id, name, &entry);
    if (status == 0)
        status = namespace_read_inode(transaction, entry.inode_id, inode);
    return status;
}

static int lookup_transaction(struct kv_transaction *transaction, void *argument)
{
    struct read_request *request = argument;
    struct inode parent;
    int status = namespace_read_inode(transaction, request->parent_id, &parent);
    return status == 0 ? lookup_in(transaction, request->credentials, &parent, request->name,
                                   request->inode)
                       : status;
}

int meta_lookup(struct meta_namespace *space, const struct meta_credentials *credentials,
                uint64_t parent_id, const char *name, struct inode *inode)
{
    struct read_request request = {credentials, parent_id, name, inode};
    return kv_run_transaction(space->store, lookup_transaction, &request, NULL);
}

struct resolve_request {
    const struct meta_credentials *credentials;
    const char *path;
    bool follow_last;
    struct inode *inode;
};

/* Walks path (relative to start) component by component; symlinks restart the walk
 * on their target. *depth counts the symlinks followed. */
static int walk(struct kv_transaction *transaction, const struct meta_credentials *credentials,
                const struct inode *start, const char *path, bool follow_last, int *depth,
                struct inode *result)
{
    struct inode current = *start;
    while (*path) {
        while (*path == '/')
            path++;
        size_t length = strcspn(path, "/");
        if (length == 0)
            break;
        if (length > META_NAME_MAX)
            return CHAINFS_NAME_TOO_LONG;
        char name[META_NAME_MAX + 1];
        memcpy(name, path, length);
        name[length] = '\0';
        path += length;
        bool last = path[strspn(path, "/")] == '\0';
        struct inode next;
        int status = lookup_in(transaction, credentials, &current, name, &next);
        if (status != 0)
            return status;
        if (next.type == INODE_SYMLINK && (!last || follow_last)) {
            if (++*depth > SYMLINK_DEPTH_MAX)
                return CHAINFS_SYMLINK_LOOP;
            struct inode base = current;
            if (next.symlink_target[0] == '/' &&
                (status = namespace_read_inode(transaction, META_ROOT_ID, &base)) != 0)
                return status;
            status = walk(transaction, credentials, &base, next.symlink_target, true, depth, &next);
            if (status != 0)
                return status;
        }
        if (!last && next.type != INODE_DIRECTORY)
            return CHAINFS_NOT_DIRECTORY;
        current = next;
    }
    *result = current;
    return 0;
}

static int resolve_transaction(struct kv_transaction *transaction, void *argument)
{
    struct resolve_request *request = argument;
    struct inode root;
    int status = namespace_read_inode(transaction, META_ROOT_ID, &root);
    int depth = 0;
    return status == 0 ? walk(transaction, request->credentials, &root, request->path,
                              request->follow_last, &depth, request->inode)
                       : status;
}

int meta_resolve(struct meta_namespace *space, const struct meta_credentials *credentials,
                 const char *path, bool follow_last, struct inode *inode)
{
    if (path[0] != '/')
        return CHAINFS_INVALID_ARGUMENT;
    struct resolve_request request = {credentials, path, follow_last, inode};
    return kv_run_transaction(space->store, resolve_transaction, &request, NULL);
}

struct readdir_request {
    const struct meta_credentials *credentials;
    uint64_t directory_id;
    const char *after;
    struct meta_directory_entry *entries;
    size_t capacity;
    size_t *count;
    bool *more;
};

static int readdir_transaction(struct kv_transaction *transaction, void *argument)
{
    struct readdir_request *request = argument;
    struct inode directory;
    int status = namespace_read_inode(transaction, request->directory_id, &directory);
    if (status == 0 && directory.type != INODE_DIRECTORY)
        status = CHAINFS_NOT_DIRECTORY;
    if (status == 0)
        status = credentials_check_access(request->credentials, &directory, META_ACCESS_READ);
    if (status != 0)
        return status;
    uint8_t begin[DENTRY_KEY_MAX + 1], first[12], end[12];
    namespace_directory_range(request->directory_id, first, end);
    size_t begin_length = namespace_dentry_key(begin, request->directory_id, request->after);
    if (request->after[0])
        begin[begin_length++] = '\0'; /* strictly after the cursor */
    struct kv_range_options options = {.limit = request->capacity};
    struct kv_range_result rows;
    status = kv_get_range(transaction, begin, begin_length, end, 12, &options, &rows);
    if (status != 0)
        return status;
    for (size_t k = 0; k < rows.count; k++) {
        struct meta_directory_entry *entry = &request->entries[k];
        size_t name_length = rows.rows[k].key_length - 12;
        memcpy(entry->name, rows.rows[k].key + 12, name_length);
        entry->name[name_length] = '\0';
        struct wire_reader reader;
        struct directory_entry stored;
        wire_reader_init(&reader, rows.rows[k].value, rows.rows[k].value_length);
        if (!directory_entry_decode(&reader, &stored))
            return CHAINFS_MALFORMED;
        entry->inode_id = stored.inode_id;
        entry->type = stored.type;
    }
    *request->count = rows.count;
    *request->more = rows.more;
    return 0;
}

int meta_readdir(struct meta_namespace *space, const struct meta_credentials *credentials,
                 uint64_t directory_id, const char *after, struct meta_directory_entry *entries,
                 size_t capacity, size_t *count, bool *more)
{
    if (capacity == 0 || strlen(after) > META_NAME_MAX)
        return CHAINFS_INVALID_ARGUMENT;
    struct readdir_request request = {credentials, directory_id, after, entries, capacity, count, more};
    return kv_run_transaction(space->store, readdir_transaction, &request, NULL);
}

struct gc_request {
    uint64_t after_id;
    uint64_t *ids;
    size_t capacity;
    size_t *count;
    bool *more;
};

static int gc_transaction(struct kv_transaction *transaction, void *argument)
{
    struct gc_request *request = argument;
    struct kv_range_options options = {.limit = request->capacity, .snapshot = true};
    struct kv_range_result rows;
    uint8_t begin[13] = {'G', 'C', 'Q', 'U'};
    size_t begin_length = 4;
    if (request->after_id) {
        wire_store_u64(begin + 4, request->after_id);
        begin[12] = 0; /* strictly after it */
        begin_length = 13;
    }
    int status = kv_get_range(transaction, begin, begin_length, "GCQV", 4, &options, &rows);
    for (size_t i = 0; status == 0 && i < rows.count; i++)
        request->ids[i] = wire_load_u64(rows.rows[i].key + 4);
    if (status == 0) {
        *request->count = rows.count;
        *request->more = rows.more;
    }
    return status;
}

int meta_gc_queue(struct meta_namespace *space, uint64_t *ids, size_t capacity, size_t *count)
{
    bool more;
    return meta_gc_queue_page(space, 0, ids, capacity, count, &more);
}

int meta_gc_queue_page(struct meta_namespace *space, uint64_t after_id, uint64_t *ids,
                       size_t capacity, size_t *count, bool *more)
{
    if (capacity == 0)
        return CHAINFS_INVALID_ARGUMENT;
    struct gc_request request = {after_id, ids, capacity, count, more};
    return kv_run_transaction(space->store, gc_transaction, &request, NULL);
}

struct path_request {
    uint64_t directory_id;
    char *path;
    size_t capacity;
};

/* Prepends "/name" to the path being built backwards at the end of the buffer. */
static bool prepend(char *path, size_t *start, const char *name)
{
    size_t length = strlen(name);
    if (*start < length + 1)
        return false;
    *start -= length;
    memcpy(path + *start, name, length);
    path[--*start] = '/';
    return true;
}

static int path_transaction(struct kv_transaction *transaction, void *argument)
{
    struct path_request *request = argument;
    size_t start = request->capacity - 1;
    request->path[start] = '\0';
    uint64_t current = request->directory_id;
    for (int depth = 0; current != META_ROOT_ID; depth++) {
        struct inode inode;
        int status = namespace_read_inode(transaction, current, &inode);
        if (status != 0)
            return status;
        if (inode.type != INODE_DIRECTORY)
            return CHAINFS_NOT_DIRECTORY;
        if (depth > 4096)
            return CHAINFS_SYMLINK_LOOP; /* a corrupt parent chain */
        if (!prepend(request->path, &start, inode.name))
            return CHAINFS_NAME_TOO_LONG;
        current = inode.parent_id;
    }
    if (start == request->capacity - 1) {
        if (request->capacity < 2)
            return CHAINFS_NAME_TOO_LONG;
        request->path[--start] = '/';
    }
    memmove(request->path, request->path + start, request->capacity - start);
    return 0;
}

int meta_directory_path(struct meta_namespace *space, uint64_t directory_id, char *path,
                        size_t capacity)
{
    if (capacity == 0)
        return CHAINFS_INVALID_ARGUMENT;
    struct path_request request = {directory_id, path, capacity};
    return kv_run_transaction(space->store, path_transaction, &request, NULL);
}
