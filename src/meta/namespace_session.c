/*
 * namespace_session.c - write sessions and file lengths: open, close, length
 * reports, the exact length from storage (fsync), and pruning sessions of dead
 * clients.
 *
 * Why sessions live in their own records rather than in the inode: opening a file
 * for write on one client must not conflict with a concurrent open or length report
 * from another; each session key is written by its own client only.
 */
#include <string.h>

#include "chainfs/error.h"
#include "kv/kv.h"
#include "meta/file_layout.h"
#include "meta/namespace_internal.h"

#define SESSION_KEY_LENGTH 20

static void store_big_endian(uint8_t *out, uint64_t value)
{
    for (int i = 0; i < 8; i++)
        out[i] = (uint8_t)(value >> (56 - 8 * i));
}

static uint64_t load_big_endian(const uint8_t *in)
{
    uint64_t value = 0;
    for (int i = 0; i < 8; i++)
        value = value << 8 | in[i];
    return value;
}

static size_t session_key(uint8_t out[SESSION_KEY_LENGTH], uint64_t inode_id, uint64_t session_id)
{
    memcpy(out, "INOS", 4);
    wire_store_u64(out + 4, inode_id);
    store_big_endian(out + 12, session_id);
    return SESSION_KEY_LENGTH;
}

void namespace_session_range(uint64_t inode_id, uint8_t begin[12], uint8_t end[12])
{
    memcpy(begin, "INOS", 4);
    wire_store_u64(begin + 4, inode_id);
    memcpy(end, begin, 12);
    int i = 11;
    while (i >= 4 && ++end[i] == 0)
        i--;
}

int namespace_write_session(struct kv_transaction *transaction, uint64_t inode_id,
                            uint64_t session_id, const char *client_id)
{
    uint8_t key[SESSION_KEY_LENGTH];
    struct wire_writer writer;
    wire_writer_init(&writer);
    wire_put_string(&writer, client_id);
    wire_put_i64(&writer, namespace_now_ns());
    int status = wire_writer_ok(&writer)
                     ? kv_set(transaction, key, session_key(key, inode_id, session_id), writer.data,
                              writer.length)
                     : CHAINFS_NO_MEMORY;
    wire_writer_free(&writer);
    return status;
}

static bool session_decode(const struct kv_row *row, struct meta_session *session)
{
    if (row->key_length != SESSION_KEY_LENGTH)
        return false;
    session->inode_id = wire_load_u64(row->key + 4);
    session->session_id = load_big_endian(row->key + 12);
    struct wire_reader reader;
    wire_reader_init(&reader, row->value, row->value_length);
    wire_get_string(&reader, session->client_id, sizeof(session->client_id));
    session->opened_ns = wire_get_i64(&reader);
    return wire_reader_done(&reader);
}

/* --- open ------------------------------------------------------------------------- */

struct open_request {
    const struct meta_credentials *credentials;
    uint64_t inode_id;
    unsigned mode;
    const char *client_id;
    uint64_t session_id;
    struct inode *inode;
};

static int check_open(const struct open_request *request, const struct inode *inode)
{
    if (inode->type == INODE_SYMLINK)
        return CHAINFS_INVALID_ARGUMENT;
    bool write = request->mode & META_OPEN_MODE_WRITE;
    if (inode->type == INODE_DIRECTORY && write)
        return CHAINFS_IS_DIRECTORY;
    unsigned access = (request->mode & META_OPEN_MODE_READ ? META_ACCESS_READ : 0) |
                      (write ? META_ACCESS_WRITE : 0);
    int status = access ? credentials_check_access(request->credentials, inode, access) : 0;
    if (status == 0 && write && (inode->flags & INODE_FLAG_IMMUTABLE))
        status = CHAINFS_NOT_PERMITTED;
    return status;
}

static int open_transaction(struct kv_transaction *transaction, void *argument)
{
    struct open_request *request = argument;
    struct inode *inode = request->inode;
    int status = namespace_read_inode(transaction, request->inode_id, inode);
    if (status == 0)
        status = check_open(request, inode);
    if (status != 0 || !(request->mode & META_OPEN_MODE_WRITE))
        return status;
    status = namespace_write_session(transaction, inode->id, request->session_id, request->client_id);
    if (status == 0 && (request->mode & META_OPEN_MODE_TRUNCATE) && inode->length > 0) {
        inode->length = 0;
        inode->truncate_version++; /* storage drops the chunks */
        inode->mtime_ns = inode->ctime_ns = namespace_now_ns();
        status = namespace_write_inode(transaction, inode);
    }
    return status;
}

int meta_open(struct meta_namespace *space, const struct meta_credentials *credentials,
              uint64_t inode_id, unsigned mode, const char *client_id, uint64_t session_id,
              struct inode *inode)
{
    if (mode & ~7u)
        return CHAINFS_INVALID_ARGUMENT;
    if ((mode & META_OPEN_MODE_TRUNCATE) && !(mode & META_OPEN_MODE_WRITE))
        return CHAINFS_INVALID_ARGUMENT;
    if ((mode & META_OPEN_MODE_WRITE) &&
        (session_id == 0 || !client_id || !client_id[0] || strlen(client_id) > RECORD_CLIENT_ID_MAX))
        return CHAINFS_INVALID_ARGUMENT;
    struct open_request request = {credentials, inode_id, mode, client_id, session_id, inode};
    if (!(mode & META_OPEN_MODE_WRITE))
        return kv_run_transaction(space->store, open_transaction, &request, NULL);
    return namespace_run(space, open_transaction, &request);
}

/* --- lengths ---------------------------------------------------------------------- */

/* Adopts length when it grows the file and no truncate intervened. */
static int adopt_length(struct kv_transaction *transaction, struct inode *inode, uint64_t length,
                        uint64_t truncate_version)
{
    if (inode->type != INODE_FILE)
        return CHAINFS_INVALID_ARGUMENT;
    if (length <= inode->length || truncate_version != inode->truncate_version)
        return 0;
    inode->length = length;
    inode->mtime_ns = inode->ctime_ns = namespace_now_ns();
    return namespace_write_inode(transaction, inode);
}

struct length_request {
    uint64_t inode_id;
    uint64_t session_id;
    bool has_length;
    uint64_t length;
    uint64_t truncate_version;
    bool end_session; /* close */
    struct inode *inode;
};

static int length_transaction(struct kv_transaction *transaction, void *argument)
{
    struct length_request *request = argument;
    int status = namespace_read_inode(transaction, request->inode_id, request->inode);
    if (status != 0)
        return status;
    uint8_t key[SESSION_KEY_LENGTH];
    size_t key_length = session_key(key, request->inode_id, request->session_id);
    const void *value;
    size_t value_length;
    if (request->end_session) {
        /* applications do not wait for a close (FUSE's release is asynchronous): its
         * commit may wait a moment for the next create or open to share its syncs */
        kv_set_lazy_commit(transaction);
        status = kv_clear(transaction, key, key_length);
    } else {
        status = kv_get(transaction, key, key_length, &value, &value_length);
    }
    if (status == 0 && request->has_length)
        status = adopt_length(transaction, request->inode, request->length,
                              request->truncate_version);
    return status;
}

int meta_close(struct meta_namespace *space, uint64_t inode_id, uint64_t session_id,
               bool has_length, uint64_t length, uint64_t truncate_version, struct inode *inode)
{
    struct length_request request = {inode_id, session_id, has_length, length, truncate_version,
                                     true, inode};
    return namespace_run(space, length_transaction, &request);
}

int meta_report_length(struct meta_namespace *space, uint64_t inode_id, uint64_t session_id,
                       uint64_t length, uint64_t truncate_version, struct inode *inode)
{
    struct length_request request = {inode_id, session_id, true, length, truncate_version, false,
                                     inode};
    return namespace_run(space, length_transaction, &request);
}

/* The end of the file's data on storage: the largest (last chunk index x chunk
 * size + its length) over the file's chains. */
static int stored_length(const struct meta_storage_ops *ops, const struct inode *inode,
                         uint64_t *length)
{
    uint32_t chains[FILE_LAYOUT_STRIPE_MAX];
    size_t count;
    int status = ops->file_chains(ops->context, &inode->layout, chains, FILE_LAYOUT_STRIPE_MAX, &count);
    *length = 0;
    for (size_t i = 0; status == 0 && i < count; i++) {
        bool found;
        uint64_t index;
        uint32_t chunk_length;
        status = ops->last_chunk(ops->context, chains[i], inode->id, &found, &index, &chunk_length);
        uint64_t end = index * inode->layout.chunk_size + chunk_length;
        if (status == 0 && found && end > *length)
            *length = end;
    }
    return status;
}

static int sync_transaction(struct kv_transaction *transaction, void *argument)
{
    struct length_request *request = argument;
    int status = namespace_read_inode(transaction, request->inode_id, request->inode);
    return status == 0 ? adopt_length(transaction, request->inode, request->length,
                                      request->truncate_version)
                       : status;
}

int meta_sync_length(struct meta_namespace *space, const struct meta_storage_ops *ops,
                     uint64_t inode_id, struct inode *inode)
{
    struct inode before;
    int status = meta_stat(space, inode_id, &before);
    if (status == 0 && before.type != INODE_FILE)
        status = CHAINFS_INVALID_ARGUMENT;
    if (status != 0)
        return status;
    if (!ops || !ops->file_chains || !ops->last_chunk)
        return CHAINFS_UNSUPPORTED;
    uint64_t length;
    status = stored_length(ops, &before, &length);
    if (status != 0)
        return status;
    /* adopted only if the truncate version is still the one the storage scan saw */
    struct length_request request = {inode_id, 0, true, length, before.truncate_version, false, inode};
    /* not recorded: a repeated sync is harmless, and CLOSE runs one after its own record */
    return kv_run_transaction(space->store, sync_transaction, &request, NULL);
}

/* --- listing and pruning ------------------------------------------------------------ */

struct list_request {
    uint64_t inode_id;
    struct meta_session *sessions;
    size_t capacity;
    size_t *count;
};

static int list_transaction(struct kv_transaction *transaction, void *argument)
{
    struct list_request *request = argument;
    uint8_t begin[12], end[12];
    namespace_session_range(request->inode_id, begin, end);
    struct kv_range_options options = {.limit = request->capacity};
    struct kv_range_result rows;
    int status = kv_get_range(transaction, begin, 12, end, 12, &options, &rows);
    for (size_t i = 0; status == 0 && i < rows.count; i++)
        if (!session_decode(&rows.rows[i], &request->sessions[i]))
            status = CHAINFS_MALFORMED;
    if (status == 0)
        *request->count = rows.count;
    return status;
}

int meta_list_sessions(struct meta_namespace *space, uint64_t inode_id,
                       struct meta_session *sessions, size_t capacity, size_t *count)
{
    if (capacity == 0)
        return CHAINFS_INVALID_ARGUMENT;
    struct list_request request = {inode_id, sessions, capacity, count};
    return kv_run_transaction(space->store, list_transaction, &request, NULL);
}

struct prune_request {
    bool (*is_dead)(void *context, const char *client_id);
    void *context;
    size_t limit;
    struct meta_session_cursor *cursor;
    size_t *pruned;
};

static int prune_transaction(struct kv_transaction *transaction, void *argument)
{
    struct prune_request *request = argument;
    uint8_t begin[SESSION_KEY_LENGTH + 1];
    size_t begin_length = session_key(begin, request->cursor->inode_id, request->cursor->session_id);
    begin[begin_length++] = 0; /* strictly after the cursor */
    if (request->cursor->inode_id == 0 && request->cursor->session_id == 0)
        begin_length = 4;
    struct kv_range_options options = {.limit = request->limit, .snapshot = true};
    struct kv_range_result rows;
    *request->pruned = 0;
    int status = kv_get_range(transaction, begin, begin_length, "INOT", 4, &options, &rows);
    struct meta_session session = {0};
    for (size_t i = 0; status == 0 && i < rows.count; i++) {
        if (!session_decode(&rows.rows[i], &session))
            continue; /* not ours to judge */
        if (!request->is_dead(request->context, session.client_id))
            continue;
        status = kv_clear(transaction, rows.rows[i].key, rows.rows[i].key_length);
        ++*request->pruned;
    }
    if (status != 0)
        return status;
    const struct kv_row *last = rows.count ? &rows.rows[rows.count - 1] : NULL;
    if (rows.more && last && last->key_length == SESSION_KEY_LENGTH) {
        request->cursor->inode_id = wire_load_u64(last->key + 4);
        request->cursor->session_id = load_big_endian(last->key + 12);
    } else {
        request->cursor->inode_id = request->cursor->session_id = 0;
    }
    return 0;
}

int meta_prune_sessions(struct meta_namespace *space,
                        bool (*is_dead)(void *context, const char *client_id), void *context,
                        size_t limit, struct meta_session_cursor *cursor, size_t *pruned)
{
    if (limit == 0 || !is_dead)
        return CHAINFS_INVALID_ARGUMENT;
    struct prune_request request = {is_dead, context, limit, cursor, pruned};
    return kv_run_transaction(space->store, prune_transaction, &request, NULL);
}
