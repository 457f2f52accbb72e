/*
 * meta_protocol.c - codecs of the metadata service's messages (see meta_protocol.h).
 *
 * One table says, per method, which request fields it carries and what kind of reply
 * it gets; a single encoder and decoder walk the fields in their fixed order. Adding
 * a method is one table row, and the codec tests cover every row.
 */
#include <string.h>

#include "chainfs/error.h"
#include "meta/meta_protocol.h"

enum request_field {
    FIELD_INODE_ID = 1u << 0,
    FIELD_PARENT_ID = 1u << 1,
    FIELD_NAME = 1u << 2,
    FIELD_NEW_PARENT_ID = 1u << 3,
    FIELD_NEW_NAME = 1u << 4,
    FIELD_PATH = 1u << 5,
    FIELD_MODE = 1u << 6,
    FIELD_FLAGS = 1u << 7,
    FIELD_SESSION_ID = 1u << 8,
    FIELD_LENGTH = 1u << 9,
    FIELD_TRUNCATE_VERSION = 1u << 10,
    FIELD_SETATTR = 1u << 11,
    FIELD_LAYOUT = 1u << 12,
    FIELD_LIMIT = 1u << 13,
    FIELD_IDS = 1u << 14,
};

struct method_row {
    const char *name;
    bool mutates;
    unsigned fields;
    enum meta_reply_kind reply;
};

#define ENTRY (FIELD_PARENT_ID | FIELD_NAME)

static const struct method_row method_rows[META_METHOD_COUNT_] = {
    [META_METHOD_STAT] = {"stat", false, FIELD_INODE_ID, META_REPLY_INODE},
    [META_METHOD_STAT_PATH] = {"stat_path", false, FIELD_PATH | FIELD_FLAGS, META_REPLY_INODE},
    [META_METHOD_BATCH_STAT] = {"batch_stat", false, FIELD_IDS, META_REPLY_BATCH},
    [META_METHOD_LOOKUP] = {"lookup", false, ENTRY, META_REPLY_INODE},
    [META_METHOD_CREATE] = {"create", true, ENTRY | FIELD_MODE | FIELD_FLAGS | FIELD_SESSION_ID,
                            META_REPLY_INODE},
    [META_METHOD_OPEN] = {"open", true, FIELD_INODE_ID | FIELD_FLAGS | FIELD_SESSION_ID,
                          META_REPLY_INODE},
    [META_METHOD_CLOSE] = {"close", true,
                           FIELD_INODE_ID | FIELD_FLAGS | FIELD_SESSION_ID | FIELD_LENGTH |
                               FIELD_TRUNCATE_VERSION,
                           META_REPLY_INODE},
    [META_METHOD_REPORT_LENGTH] = {"report_length", true,
                                   FIELD_INODE_ID | FIELD_SESSION_ID | FIELD_LENGTH |
                                       FIELD_TRUNCATE_VERSION,
                                   META_REPLY_INODE},
    [META_METHOD_SYNC_LENGTH] = {"sync_length", true, FIELD_INODE_ID, META_REPLY_INODE},
    [META_METHOD_MKDIR] = {"mkdir", true, ENTRY | FIELD_MODE, META_REPLY_INODE},
    [META_METHOD_MKDIRS] = {"mkdirs", true, FIELD_PATH | FIELD_MODE, META_REPLY_INODE},
    [META_METHOD_SYMLINK] = {"symlink", true, ENTRY | FIELD_PATH, META_REPLY_INODE},
    [META_METHOD_READLINK] = {"readlink", false, FIELD_INODE_ID, META_REPLY_PATH},
    [META_METHOD_LINK] = {"link", true, FIELD_INODE_ID | FIELD_NEW_PARENT_ID | FIELD_NEW_NAME,
                          META_REPLY_INODE},
    [META_METHOD_UNLINK] = {"unlink", true, ENTRY, META_REPLY_NONE},
    [META_METHOD_RMDIR] = {"rmdir", true, ENTRY, META_REPLY_NONE},
    [META_METHOD_REMOVE_TREE] = {"remove_tree", true, ENTRY, META_REPLY_COUNT},
    [META_METHOD_RENAME] = {"rename", true,
                            ENTRY | FIELD_NEW_PARENT_ID | FIELD_NEW_NAME | FIELD_FLAGS,
                            META_REPLY_NONE},
    [META_METHOD_READDIR] = {"readdir", false,
                             FIELD_INODE_ID | FIELD_PATH | FIELD_FLAGS | FIELD_LIMIT,
                             META_REPLY_DIRECTORY},
    [META_METHOD_SETATTR] = {"setattr", true, FIELD_INODE_ID | FIELD_SETATTR, META_REPLY_INODE},
    [META_METHOD_STATFS] = {"statfs", false, 0, META_REPLY_STATFS},
    [META_METHOD_REALPATH] = {"realpath", false, FIELD_PATH, META_REPLY_PATH},
    [META_METHOD_SET_LAYOUT] = {"set_layout", true, FIELD_INODE_ID | FIELD_LAYOUT,
                                META_REPLY_INODE},
};

static const struct method_row *method_row(uint16_t method)
{
    if (method == 0 || method >= META_METHOD_COUNT_)
        return NULL;
    return &method_rows[method];
}

const char *meta_method_name(uint16_t method)
{
    const struct method_row *row = method_row(method);
    return row ? row->name : NULL;
}

bool meta_method_mutates(uint16_t method)
{
    const struct method_row *row = method_row(method);
    return row && row->mutates;
}

enum meta_reply_kind meta_method_reply_kind(uint16_t method)
{
    const struct method_row *row = method_row(method);
    return row ? row->reply : META_REPLY_NONE;
}

/* --- requests ---------------------------------------------------------------------- */

static void setattr_encode(struct wire_writer *writer, const struct meta_setattr *changes)
{
    wire_put_u32(writer, changes->fields);
    wire_put_u32(writer, changes->mode);
    wire_put_u32(writer, changes->uid);
    wire_put_u32(writer, changes->gid);
    wire_put_i64(writer, changes->atime_ns);
    wire_put_i64(writer, changes->mtime_ns);
    wire_put_u64(writer, changes->size);
}

static void setattr_decode(struct wire_reader *reader, struct meta_setattr *changes)
{
    changes->fields = wire_get_u32(reader);
    changes->mode = wire_get_u32(reader);
    changes->uid = wire_get_u32(reader);
    changes->gid = wire_get_u32(reader);
    changes->atime_ns = wire_get_i64(reader);
    changes->mtime_ns = wire_get_i64(reader);
    changes->size = wire_get_u64(reader);
}

static void credentials_encode(struct wire_writer *writer, const struct meta_credentials *credentials)
{
    uint32_t count = credentials->group_count <= META_GROUPS_MAX ? credentials->group_count
                                                                 : META_GROUPS_MAX;
    wire_put_u32(writer, credentials->uid);
    wire_put_u32(writer, credentials->gid);
    wire_put_u32(writer, count);
    for (uint32_t i = 0; i < count; i++)
        wire_put_u32(writer, credentials->groups[i]);
}

static bool credentials_decode(struct wire_reader *reader, struct meta_credentials *credentials)
{
    credentials->uid = wire_get_u32(reader);
    credentials->gid = wire_get_u32(reader);
    credentials->group_count = wire_get_u32(reader);
    if (credentials->group_count > META_GROUPS_MAX)
        return false;
    for (uint32_t i = 0; i < credentials->group_count; i++)
        credentials->groups[i] = wire_get_u32(reader);
    return wire_reader_ok(reader);
}

void meta_request_encode(struct wire_writer *writer, const struct meta_request *request)
{
    const struct method_row *row = method_row(request->method);
    unsigned fields = row ? row->fields : 0;
    credentials_encode(writer, &request->credentials);
    if (row && row->mutates) {
        wire_put_string(writer, request->client_id);
        wire_put_u64(writer, request->request_id);
    }
    if (fields & FIELD_INODE_ID)
        wire_put_u64(writer, request->inode_id);
    if (fields & FIELD_PARENT_ID)
        wire_put_u64(writer, request->parent_id);
    if (fields & FIELD_NAME)
        wire_put_string(writer, request->name);
    if (fields & FIELD_NEW_PARENT_ID)
        wire_put_u64(writer, request->new_parent_id);
    if (fields & FIELD_NEW_NAME)
        wire_put_string(writer, request->new_name);
    if (fields & FIELD_PATH)
        wire_put_string(writer, request->path);
    if (fields & FIELD_MODE)
        wire_put_u32(writer, request->mode);
    if (fields & FIELD_FLAGS)
        wire_put_u32(writer, request->flags);
    if (fields & FIELD_SESSION_ID)
        wire_put_u64(writer, request->session_id);
    if (fields & FIELD_LENGTH)
        wire_put_u64(writer, request->length);
    if (fields & FIELD_TRUNCATE_VERSION)
        wire_put_u64(writer, request->truncate_version);
    if (fields & FIELD_SETATTR)
        setattr_encode(writer, &request->setattr);
    if (fields & FIELD_LAYOUT)
        file_layout_encode(writer, &request->layout);
    if (fields & FIELD_LIMIT)
        wire_put_u32(writer, request->limit);
    if (fields & FIELD_IDS) {
        uint32_t count = request->id_count <= META_BATCH_MAX ? request->id_count : META_BATCH_MAX;
        wire_put_u32(writer, count);
        for (uint32_t i = 0; i < count; i++)
            wire_put_u64(writer, request->ids[i]);
    }
}

/* Strings: wire_get_string refuses ones over capacity - 1 bytes (and embedded NULs
 * would cut a name short, so they are refused too). */
static bool get_text(struct wire_reader *reader, char *out, size_t capacity)
{
    const void *bytes;
    size_t length;
    if (!wire_get_bytes(reader, capacity - 1, &bytes, &length) || memchr(bytes, '\0', length))
        return false;
    memcpy(out, bytes, length);
    out[length] = '\0';
    return true;
}

static bool decode_fields(struct wire_reader *reader, unsigned fields, struct meta_request *request)
{
    if ((fields & FIELD_INODE_ID))
        request->inode_id = wire_get_u64(reader);
    if ((fields & FIELD_PARENT_ID))
        request->parent_id = wire_get_u64(reader);
    if ((fields & FIELD_NAME) && !get_text(reader, request->name, sizeof(request->name)))
        return false;
    if ((fields & FIELD_NEW_PARENT_ID))
        request->new_parent_id = wire_get_u64(reader);
    if ((fields & FIELD_NEW_NAME) && !get_text(reader, request->new_name, sizeof(request->new_name)))
        return false;
    if ((fields & FIELD_PATH) && !get_text(reader, request->path, sizeof(request->path)))
        return false;
    if (fields & FIELD_MODE)
        request->mode = wire_get_u32(reader);
    if (fields & FIELD_FLAGS)
        request->flags = wire_get_u32(reader);
    if (fields & FIELD_SESSION_ID)
        request->session_id = wire_get_u64(reader);
    if (fields & FIELD_LENGTH)
        request->length = wire_get_u64(reader);
    if (fields & FIELD_TRUNCATE_VERSION)
        request->truncate_version = wire_get_u64(reader);
    if (fields & FIELD_SETATTR)
        setattr_decode(reader, &request->setattr);
    if (fields & FIELD_LAYOUT)
        file_layout_decode(reader, &request->layout);
    if (fields & FIELD_LIMIT)
        request->limit = wire_get_u32(reader);
    if (fields & FIELD_IDS) {
        request->id_count = wire_get_u32(reader);
        if (request->id_count > META_BATCH_MAX)
            return false;
        for (uint32_t i = 0; i < request->id_count; i++)
            request->ids[i] = wire_get_u64(reader);
    }
    return wire_reader_done(reader);
}

int meta_request_decode(uint16_t method, const void *body, size_t length,
                        struct meta_request *request)
{
    const struct method_row *row = method_row(method);
    if (!row)
        return CHAINFS_MALFORMED;
    memset(request, 0, sizeof(*request));
    request->method = method;
    struct wire_reader reader;
    wire_reader_init(&reader, body, length);
    if (!credentials_decode(&reader, &request->credentials))
        return CHAINFS_MALFORMED;
    if (row->mutates) {
        if (!get_text(&reader, request->client_id, sizeof(request->client_id)))
            return CHAINFS_MALFORMED;
        request->request_id = wire_get_u64(&reader);
        if (request->client_id[0] == '\0' || request->request_id == 0)
            return CHAINFS_MALFORMED;
    }
    return decode_fields(&reader, row->fields, request) ? 0 : CHAINFS_MALFORMED;
}

/* --- replies ----------------------------------------------------------------------- */

void meta_reply_encode_inode(struct wire_writer *writer, const struct inode *inode)
{
    inode_encode(writer, inode);
}

void meta_reply_encode_batch(struct wire_writer *writer, size_t count, const int *statuses,
                             const struct inode *inodes)
{
    wire_put_u32(writer, (uint32_t)count);
    for (size_t i = 0; i < count; i++) {
        wire_put_u32(writer, (uint32_t)statuses[i]);
        if (statuses[i] == 0)
            inode_encode(writer, &inodes[i]);
    }
}

void meta_reply_encode_directory(struct wire_writer *writer, bool more, size_t count,
                                 const struct meta_directory_entry *entries,
                                 const struct inode *inodes)
{
    wire_put_bool(writer, more);
    wire_put_u32(writer, (uint32_t)count);
    for (size_t i = 0; i < count; i++) {
        wire_put_string(writer, entries[i].name);
        wire_put_u64(writer, entries[i].inode_id);
        wire_put_u8(writer, entries[i].type);
        wire_put_bool(writer, inodes != NULL);
        if (inodes)
            inode_encode(writer, &inodes[i]);
    }
}

void meta_reply_encode_path(struct wire_writer *writer, const char *path)
{
    wire_put_string(writer, path);
}

void meta_reply_encode_statfs(struct wire_writer *writer, const struct meta_statfs *statfs)
{
    wire_put_u64(writer, statfs->capacity_bytes);
    wire_put_u64(writer, statfs->used_bytes);
    wire_put_u64(writer, statfs->free_bytes);
    wire_put_u64(writer, statfs->inode_count);
}

void meta_reply_encode_count(struct wire_writer *writer, uint64_t count)
{
    wire_put_u64(writer, count);
}

static bool decode_batch(struct wire_reader *reader, struct meta_reply *reply)
{
    uint32_t count = wire_get_u32(reader);
    if (count > reply->batch_capacity)
        return false;
    for (uint32_t i = 0; i < count && wire_reader_ok(reader); i++) {
        reply->batch_statuses[i] = (int)wire_get_u32(reader);
        if (reply->batch_statuses[i] == 0 && !inode_decode_part(reader, &reply->batch_inodes[i]))
            return false;
    }
    reply->count = count;
    return true;
}

static bool decode_directory(struct wire_reader *reader, struct meta_reply *reply)
{
    reply->more = wire_get_bool(reader);
    uint32_t count = wire_get_u32(reader);
    if (count > reply->entry_capacity)
        return false;
    for (uint32_t i = 0; i < count && wire_reader_ok(reader); i++) {
        struct meta_directory_entry *entry = &reply->entries[i];
        if (!get_text(reader, entry->name, sizeof(entry->name)))
            return false;
        entry->inode_id = wire_get_u64(reader);
        entry->type = wire_get_u8(reader);
        if (!wire_get_bool(reader))
            continue;
        struct inode scratch;
        struct inode *inode = reply->entry_inodes ? &reply->entry_inodes[i] : &scratch;
        if (!inode_decode_part(reader, inode))
            return false;
    }
    reply->count = count;
    return true;
}

static bool decode_statfs(struct wire_reader *reader, struct meta_statfs *statfs)
{
    statfs->capacity_bytes = wire_get_u64(reader);
    statfs->used_bytes = wire_get_u64(reader);
    statfs->free_bytes = wire_get_u64(reader);
    statfs->inode_count = wire_get_u64(reader);
    return true;
}

int meta_reply_decode(uint16_t method, const void *body, size_t length, struct meta_reply *reply)
{
    const struct method_row *row = method_row(method);
    if (!row)
        return CHAINFS_MALFORMED;
    struct wire_reader reader;
    wire_reader_init(&reader, body, length);
    bool ok = true;
    switch (row->reply) {
    case META_REPLY_NONE:
        break;
    case META_REPLY_INODE:
        ok = inode_decode_part(&reader, &reply->inode);
        break;
    case META_REPLY_BATCH:
        ok = decode_batch(&reader, reply);
        break;
    case META_REPLY_DIRECTORY:
        ok = decode_directory(&reader, reply);
        break;
    case META_REPLY_PATH:
        ok = get_text(&reader, reply->path, sizeof(reply->path));
        break;
    case META_REPLY_STATFS:
        ok = decode_statfs(&reader, &reply->statfs);
        break;
    case META_REPLY_COUNT:
        reply->removed = wire_get_u64(&reader);
        break;
    }
    return ok && wire_reader_done(&reader) ? 0 : CHAINFS_MALFORMED;
}
