/*
 * meta_handlers.c - the metadata service's request handler: decode, apply through
 * the namespace (under the request's idempotency record for mutating methods),
 * encode the reply.
 *
 * One handler serves every method: the codec is table-driven (meta_protocol.c), so
 * the only per-method code is the call into the namespace below.
 */
#include <stdlib.h>
#include <string.h>

#define LOG_COMPONENT "meta"
#include "chainfs/error.h"
#include "common/log.h"
#include "meta/meta_protocol.h"
#include "meta/meta_server.h"

/* One request in progress: its decoded fields and its results. */
struct meta_call {
    struct meta_server *server;
    struct meta_request request;
    struct inode inode;
    uint64_t removed;
    char path[META_PATH_MAX + 1];
    struct meta_statfs statfs;
    size_t count;
    bool more;
    int *statuses;
    struct inode *inodes;
    struct meta_directory_entry *entries;
};

static void encode_result(void *context, struct wire_writer *writer)
{
    struct meta_call *call = context;
    switch (meta_method_reply_kind(call->request.method)) {
    case META_REPLY_NONE:
        break;
    case META_REPLY_INODE:
        meta_reply_encode_inode(writer, &call->inode);
        break;
    case META_REPLY_BATCH:
        meta_reply_encode_batch(writer, call->count, call->statuses, call->inodes);
        break;
    case META_REPLY_DIRECTORY:
        meta_reply_encode_directory(writer, call->more, call->count, call->entries, call->inodes);
        break;
    case META_REPLY_PATH:
        meta_reply_encode_path(writer, call->path);
        break;
    case META_REPLY_STATFS:
        meta_reply_encode_statfs(writer, &call->statfs);
        break;
    case META_REPLY_COUNT:
        meta_reply_encode_count(writer, call->removed);
        break;
    }
}

static int batch_stat(struct meta_call *call)
{
    size_t count = call->request.id_count;
    call->statuses = calloc(count + 1, sizeof(*call->statuses));
    call->inodes = calloc(count + 1, sizeof(*call->inodes));
    if (!call->statuses || !call->inodes)
        return CHAINFS_NO_MEMORY;
    call->count = count;
    return count ? meta_batch_stat(call->server->space, call->request.ids, count, call->statuses,
                                   call->inodes)
                 : 0;
}

/* A page of a directory; with attributes, the entries' inodes read right after (an
 * entry removed in between is reported with what its entry says). */
static int read_directory(struct meta_call *call)
{
    const struct meta_request *request = &call->request;
    size_t limit = request->limit == 0 || request->limit > META_BATCH_MAX ? META_BATCH_MAX
                                                                          : request->limit;
    call->entries = calloc(limit, sizeof(*call->entries));
    if (!call->entries)
        return CHAINFS_NO_MEMORY;
    int status = meta_readdir(call->server->space, &request->credentials, request->inode_id,
                              request->path, call->entries, limit, &call->count, &call->more);
    if (status != 0 || !(request->flags & META_READDIR_ATTRIBUTES) || call->count == 0)
        return status;
    uint64_t *ids = calloc(call->count, sizeof(*ids));
    call->statuses = calloc(call->count, sizeof(*call->statuses));
    call->inodes = calloc(call->count, sizeof(*call->inodes));
    if (!ids || !call->statuses || !call->inodes) {
        free(ids);
        return CHAINFS_NO_MEMORY;
    }
    for (size_t i = 0; i < call->count; i++)
        ids[i] = call->entries[i].inode_id;
    status = meta_batch_stat(call->server->space, ids, call->count, call->statuses, call->inodes);
    for (size_t i = 0; status == 0 && i < call->count; i++)
        if (call->statuses[i] != 0)
            call->inodes[i] = (struct inode){.id = ids[i], .type = call->entries[i].type};
    free(ids);
    return status;
}

static int close_session(struct meta_call *call)
{
    const struct meta_request *request = &call->request;
    struct meta_namespace *space = call->server->space;
    int status = meta_close(space, request->inode_id, request->session_id,
                            request->flags & META_CLOSE_LENGTH, request->length,
                            request->truncate_version, &call->inode);
    if (status != 0 || !(request->flags & META_CLOSE_SYNC_LENGTH))
        return status;
    return meta_sync_length(space, &call->server->storage, request->inode_id, &call->inode);
}

static int statfs(struct meta_call *call)
{
    memset(&call->statfs, 0, sizeof(call->statfs));
    int status = meta_server_space(call->server, &call->statfs.capacity_bytes,
                                   &call->statfs.used_bytes);
    if (status == 0 && call->statfs.capacity_bytes > call->statfs.used_bytes)
        call->statfs.free_bytes = call->statfs.capacity_bytes - call->statfs.used_bytes;
    return status;
}

static int execute(struct meta_call *call)
{
    struct meta_namespace *space = call->server->space;
    const struct meta_request *r = &call->request;
    const struct meta_credentials *credentials = &r->credentials;
    switch (r->method) {
    case META_METHOD_STAT:
        return meta_stat(space, r->inode_id, &call->inode);
    case META_METHOD_STAT_PATH:
        return meta_resolve(space, credentials, r->path, r->flags & META_FOLLOW_LAST, &call->inode);
    case META_METHOD_BATCH_STAT:
        return batch_stat(call);
    case META_METHOD_LOOKUP:
        return meta_lookup(space, credentials, r->parent_id, r->name, &call->inode);
    case META_METHOD_CREATE:
        return meta_create_open(space, credentials, r->parent_id, r->name, r->mode, r->flags,
                                r->client_id, r->session_id, &call->inode);
    case META_METHOD_OPEN:
        return meta_open(space, credentials, r->inode_id, r->flags, r->client_id, r->session_id,
                         &call->inode);
    case META_METHOD_CLOSE:
        return close_session(call);
    case META_METHOD_REPORT_LENGTH:
        return meta_report_length(space, r->inode_id, r->session_id, r->length,
                                  r->truncate_version, &call->inode);
    case META_METHOD_SYNC_LENGTH:
        return meta_sync_length(space, &call->server->storage, r->inode_id, &call->inode);
    case META_METHOD_MKDIR:
        return meta_mkdir(space, credentials, r->parent_id, r->name, r->mode, &call->inode);
    case META_METHOD_MKDIRS:
        return meta_mkdirs(space, credentials, r->path, r->mode, &call->inode);
    case META_METHOD_SYMLINK:
        return meta_symlink(space, credentials, r->parent_id, r->name, r->path, &call->inode);
    case META_METHOD_READLINK:
        return meta_readlink(space, r->inode_id, call->path, sizeof(call->path));
    case META_METHOD_LINK:
        return meta_link(space, credentials, r->inode_id, r->new_parent_id, r->new_name,
                         &call->inode);
    case META_METHOD_UNLINK:
        return meta_unlink(space, credentials, r->parent_id, r->name);
    case META_METHOD_RMDIR:
        return meta_rmdir(space, credentials, r->parent_id, r->name);
    case META_METHOD_REMOVE_TREE:
        return meta_remove_tree(space, credentials, r->parent_id, r->name, &call->removed);
    case META_METHOD_RENAME:
        return meta_rename(space, credentials, r->parent_id, r->name, r->new_parent_id,
                           r->new_name, r->flags);
    case META_METHOD_READDIR:
        return read_directory(call);
    case META_METHOD_SETATTR:
        return meta_setattr(space, credentials, r->inode_id, &r->setattr, &call->inode);
    case META_METHOD_STATFS:
        return statfs(call);
    case META_METHOD_REALPATH:
        return meta_realpath(space, credentials, r->path, call->path, sizeof(call->path));
    case META_METHOD_SET_LAYOUT:
        return meta_set_layout(space, credentials, r->inode_id, &r->layout, &call->inode);
    }
    return CHAINFS_UNSUPPORTED;
}

/* Methods that are idempotent by nature run without a record: mkdir -p (existing
 * directories are fine; it spans several transactions) and sync of length. */
static bool needs_record(uint16_t method)
{
    return meta_method_mutates(method) && method != META_METHOD_MKDIRS &&
           method != META_METHOD_SYNC_LENGTH;
}

static void free_call(struct meta_call *call)
{
    free(call->statuses);
    free(call->inodes);
    free(call->entries);
    free(call);
}

void meta_handle_request(struct rpc_request *request)
{
    struct meta_server *server = request->service_context;
    uint16_t method = request->envelope.method_id;
    if (!meta_server_serving(server)) {
        rpc_request_fail(request, CHAINFS_UNAVAILABLE, "meta server lost its mgmtd lease");
        return;
    }
    struct meta_call *call = calloc(1, sizeof(*call));
    if (!call) {
        rpc_request_fail(request, CHAINFS_NO_MEMORY, "out of memory");
        return;
    }
    call->server = server;
    int status = meta_request_decode(method, request->message, request->message_length,
                                     &call->request);
    if (status != 0) {
        free_call(call);
        rpc_request_fail(request, status, "malformed %s request",
                         meta_method_name(method) ? meta_method_name(method) : "meta");
        return;
    }
    struct meta_request_record record = {.client_id = call->request.client_id,
                                         .request_id = call->request.request_id,
                                         .encode_reply = encode_result,
                                         .context = call};
    bool recorded = needs_record(method);
    if (recorded)
        meta_request_record_begin(&record);
    status = execute(call);
    if (recorded)
        meta_request_record_end();
    if (status == 0 && record.replayed)
        wire_put_raw(&request->reply, record.reply, record.reply_length);
    else if (status == 0)
        encode_result(call, &request->reply);
    free(record.reply);
    free_call(call);
    if (status == 0)
        rpc_request_reply(request, 0);
    else
        rpc_request_fail(request, status, "%s: %s", meta_method_name(method),
                         chainfs_error_message(status));
}
