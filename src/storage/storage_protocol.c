/*
 * storage_protocol.c - encoders and decoders of the storage service's messages
 * (storage_protocol.h). Decoders check structure and ranges only; whether a request
 * makes sense for a target (offsets against the chunk size, versions) is the
 * service's decision, answered with CHAINFS_INVALID_ARGUMENT.
 */
#include "storage/storage_protocol.h"

#include <stdlib.h>
#include <string.h>

bool storage_client_tag_is_set(const struct storage_client_tag *tag)
{
    for (size_t i = 0; i < STORAGE_CLIENT_ID_SIZE; i++)
        if (tag->client_id[i] != 0)
            return true;
    return false;
}

static void put_chunk_id(struct wire_writer *writer, const struct chunk_id *id)
{
    wire_put_raw(writer, id->bytes, CHUNK_ID_SIZE);
}

static void get_chunk_id(struct wire_reader *reader, struct chunk_id *id)
{
    const void *bytes = NULL;
    if (wire_get_raw(reader, CHUNK_ID_SIZE, &bytes))
        memcpy(id->bytes, bytes, CHUNK_ID_SIZE);
    else
        memset(id->bytes, 0, CHUNK_ID_SIZE);
}

static void put_tag(struct wire_writer *writer, const struct storage_client_tag *tag)
{
    wire_put_raw(writer, tag->client_id, STORAGE_CLIENT_ID_SIZE);
    wire_put_u32(writer, tag->channel);
    wire_put_u64(writer, tag->sequence);
}

static void get_tag(struct wire_reader *reader, struct storage_client_tag *tag)
{
    const void *bytes = NULL;
    if (wire_get_raw(reader, STORAGE_CLIENT_ID_SIZE, &bytes))
        memcpy(tag->client_id, bytes, STORAGE_CLIENT_ID_SIZE);
    else
        memset(tag->client_id, 0, STORAGE_CLIENT_ID_SIZE);
    tag->channel = wire_get_u32(reader);
    tag->sequence = wire_get_u64(reader);
}

void storage_write_request_encode(struct wire_writer *writer, const struct storage_write_request *m)
{
    wire_put_u64(writer, m->target_id);
    wire_put_u32(writer, m->chain_id);
    wire_put_u64(writer, m->chain_version);
    put_chunk_id(writer, &m->chunk_id);
    wire_put_u64(writer, m->offset);
    wire_put_u32(writer, m->length);
    wire_put_u32(writer, m->chunk_size);
    put_tag(writer, &m->tag);
}

bool storage_write_request_decode(struct wire_reader *reader, struct storage_write_request *m)
{
    m->target_id = wire_get_u64(reader);
    m->chain_id = wire_get_u32(reader);
    m->chain_version = wire_get_u64(reader);
    get_chunk_id(reader, &m->chunk_id);
    m->offset = wire_get_u64(reader);
    m->length = wire_get_u32(reader);
    m->chunk_size = wire_get_u32(reader);
    get_tag(reader, &m->tag);
    return wire_reader_done(reader);
}

void storage_update_request_encode(struct wire_writer *writer, const struct storage_update_request *m)
{
    wire_put_u64(writer, m->target_id);
    wire_put_u32(writer, m->chain_id);
    wire_put_u64(writer, m->chain_version);
    put_chunk_id(writer, &m->chunk_id);
    wire_put_u8(writer, m->kind);
    wire_put_u64(writer, m->offset);
    wire_put_u32(writer, m->length);
    wire_put_u32(writer, m->chunk_size);
    wire_put_u64(writer, m->update_version);
    wire_put_u64(writer, m->chunk_chain_version);
    wire_put_u32(writer, m->expected_crc);
    wire_put_u64(writer, m->expected_length);
    put_tag(writer, &m->tag);
}

bool storage_update_request_decode(struct wire_reader *reader, struct storage_update_request *m)
{
    m->target_id = wire_get_u64(reader);
    m->chain_id = wire_get_u32(reader);
    m->chain_version = wire_get_u64(reader);
    get_chunk_id(reader, &m->chunk_id);
    m->kind = wire_get_u8(reader);
    m->offset = wire_get_u64(reader);
    m->length = wire_get_u32(reader);
    m->chunk_size = wire_get_u32(reader);
    m->update_version = wire_get_u64(reader);
    m->chunk_chain_version = wire_get_u64(reader);
    m->expected_crc = wire_get_u32(reader);
    m->expected_length = wire_get_u64(reader);
    get_tag(reader, &m->tag);
    return wire_reader_done(reader) && m->kind >= STORAGE_UPDATE_WRITE &&
           m->kind <= STORAGE_UPDATE_REMOVE;
}

void storage_commit_reply_encode(struct wire_writer *writer, const struct storage_commit_reply *m)
{
    wire_put_u64(writer, m->version);
    wire_put_u64(writer, m->length);
    wire_put_u32(writer, m->crc);
}

bool storage_commit_reply_decode(struct wire_reader *reader, struct storage_commit_reply *m)
{
    m->version = wire_get_u64(reader);
    m->length = wire_get_u64(reader);
    m->crc = wire_get_u32(reader);
    return wire_reader_done(reader);
}

/* Reads a u32 list count and allocates room for it; false (nothing allocated) when
 * the count is out of 0..max or larger than the bytes left could hold. */
static bool get_list(struct wire_reader *reader, uint32_t max, size_t minimum_record_size,
                     size_t element_size, void **elements, size_t *count)
{
    *elements = NULL;
    *count = 0;
    uint32_t n = wire_get_u32(reader);
    if (!wire_reader_ok(reader) || n > max ||
        (uint64_t)n * minimum_record_size > wire_reader_remaining(reader))
        return false;
    *elements = calloc(n ? n : 1, element_size);
    if (*elements == NULL)
        return false;
    *count = n;
    return true;
}

/* Frees a decoded list after a failure and reports it. */
static bool drop_list(void **elements, size_t *count)
{
    free(*elements);
    *elements = NULL;
    *count = 0;
    return false;
}

#define READ_ITEM_SIZE (8 + 4 + CHUNK_ID_SIZE + 8 + 4 + 1)

void storage_batch_read_request_encode(struct wire_writer *writer,
                                       const struct storage_read_item *items, size_t count)
{
    wire_put_u32(writer, (uint32_t)count);
    for (size_t i = 0; i < count; i++) {
        wire_put_u64(writer, items[i].target_id);
        wire_put_u32(writer, items[i].chain_id);
        put_chunk_id(writer, &items[i].chunk_id);
        wire_put_u64(writer, items[i].offset);
        wire_put_u32(writer, items[i].length);
        wire_put_u8(writer, items[i].flags);
    }
}

bool storage_batch_read_request_decode(struct wire_reader *reader, uint64_t max_total_bytes,
                                       struct storage_read_item **items, size_t *count)
{
    if (!get_list(reader, STORAGE_BATCH_READ_ITEMS_MAX, READ_ITEM_SIZE, sizeof **items,
                  (void **)items, count))
        return false;
    uint64_t total = 0;
    for (size_t i = 0; i < *count; i++) {
        struct storage_read_item *item = &(*items)[i];
        item->target_id = wire_get_u64(reader);
        item->chain_id = wire_get_u32(reader);
        get_chunk_id(reader, &item->chunk_id);
        item->offset = wire_get_u64(reader);
        item->length = wire_get_u32(reader);
        item->flags = wire_get_u8(reader);
        total += item->length;
        if ((item->flags & ~STORAGE_READ_RELAXED) != 0)
            return drop_list((void **)items, count);
    }
    if (*count == 0 || total > max_total_bytes || !wire_reader_done(reader))
        return drop_list((void **)items, count);
    return true;
}

#define READ_RESULT_SIZE (4 + 4 + 8 + 8 + 4)

void storage_batch_read_reply_encode(struct wire_writer *writer,
                                     const struct storage_read_result *results, size_t count)
{
    wire_put_u32(writer, (uint32_t)count);
    for (size_t i = 0; i < count; i++) {
        wire_put_u32(writer, results[i].status);
        wire_put_u32(writer, results[i].length);
        wire_put_u64(writer, results[i].version);
        wire_put_u64(writer, results[i].chunk_length);
        wire_put_u32(writer, results[i].crc);
    }
}

bool storage_batch_read_reply_decode(struct wire_reader *reader,
                                     struct storage_read_result **results, size_t *count)
{
    if (!get_list(reader, STORAGE_BATCH_READ_ITEMS_MAX, READ_RESULT_SIZE, sizeof **results,
                  (void **)results, count))
        return false;
    for (size_t i = 0; i < *count; i++) {
        struct storage_read_result *result = &(*results)[i];
        result->status = wire_get_u32(reader);
        result->length = wire_get_u32(reader);
        result->version = wire_get_u64(reader);
        result->chunk_length = wire_get_u64(reader);
        result->crc = wire_get_u32(reader);
    }
    if (!wire_reader_done(reader))
        return drop_list((void **)results, count);
    return true;
}

void storage_last_chunk_request_encode(struct wire_writer *writer,
                                       const struct storage_last_chunk_request *m)
{
    wire_put_u64(writer, m->target_id);
    wire_put_u32(writer, m->chain_id);
    wire_put_u64(writer, m->inode);
}

bool storage_last_chunk_request_decode(struct wire_reader *reader,
                                       struct storage_last_chunk_request *m)
{
    m->target_id = wire_get_u64(reader);
    m->chain_id = wire_get_u32(reader);
    m->inode = wire_get_u64(reader);
    return wire_reader_done(reader);
}

void storage_last_chunk_reply_encode(struct wire_writer *writer,
                                     const struct storage_last_chunk_reply *m)
{
    wire_put_bool(writer, m->found);
    wire_put_u64(writer, m->index);
    wire_put_u64(writer, m->length);
    wire_put_u64(writer, m->version);
    wire_put_bool(writer, m->pending);
}

bool storage_last_chunk_reply_decode(struct wire_reader *reader, struct storage_last_chunk_reply *m)
{
    m->found = wire_get_bool(reader);
    m->index = wire_get_u64(reader);
    m->length = wire_get_u64(reader);
    m->version = wire_get_u64(reader);
    m->pending = wire_get_bool(reader);
    return wire_reader_done(reader);
}

void storage_remove_chunks_request_encode(struct wire_writer *writer,
                                          const struct storage_remove_chunks_request *m)
{
    wire_put_u64(writer, m->target_id);
    wire_put_u32(writer, m->chain_id);
    wire_put_u64(writer, m->chain_version);
    wire_put_u64(writer, m->inode);
    wire_put_u64(writer, m->first_index);
    wire_put_u64(writer, m->end_index);
}

bool storage_remove_chunks_request_decode(struct wire_reader *reader,
                                          struct storage_remove_chunks_request *m)
{
    m->target_id = wire_get_u64(reader);
    m->chain_id = wire_get_u32(reader);
    m->chain_version = wire_get_u64(reader);
    m->inode = wire_get_u64(reader);
    m->first_index = wire_get_u64(reader);
    m->end_index = wire_get_u64(reader);
    return wire_reader_done(reader);
}

void storage_remove_listed_request_encode(struct wire_writer *writer,
                                          const struct storage_remove_listed_request *m)
{
    wire_put_u64(writer, m->target_id);
    wire_put_u32(writer, m->chain_id);
    wire_put_u64(writer, m->chain_version);
    wire_put_u64(writer, m->inode);
    wire_put_u32(writer, (uint32_t)m->count);
    for (size_t i = 0; i < m->count; i++)
        wire_put_u64(writer, m->indexes[i]);
}

bool storage_remove_listed_request_decode(struct wire_reader *reader,
                                          struct storage_remove_listed_request *m)
{
    m->target_id = wire_get_u64(reader);
    m->chain_id = wire_get_u32(reader);
    m->chain_version = wire_get_u64(reader);
    m->inode = wire_get_u64(reader);
    if (!get_list(reader, STORAGE_REMOVE_LISTED_MAX, 8, sizeof *m->indexes,
                  (void **)&m->indexes, &m->count))
        return false;
    for (size_t i = 0; i < m->count; i++) {
        m->indexes[i] = wire_get_u64(reader);
        if (i > 0 && m->indexes[i] <= m->indexes[i - 1])
            return drop_list((void **)&m->indexes, &m->count);
    }
    if (!wire_reader_done(reader))
        return drop_list((void **)&m->indexes, &m->count);
    return true;
}

void storage_truncate_request_encode(struct wire_writer *writer,
                                     const struct storage_truncate_request *m)
{
    wire_put_u64(writer, m->target_id);
    wire_put_u32(writer, m->chain_id);
    wire_put_u64(writer, m->chain_version);
    put_chunk_id(writer, &m->chunk_id);
    wire_put_u64(writer, m->length);
    wire_put_u32(writer, m->chunk_size);
}

bool storage_truncate_request_decode(struct wire_reader *reader, struct storage_truncate_request *m)
{
    m->target_id = wire_get_u64(reader);
    m->chain_id = wire_get_u32(reader);
    m->chain_version = wire_get_u64(reader);
    get_chunk_id(reader, &m->chunk_id);
    m->length = wire_get_u64(reader);
    m->chunk_size = wire_get_u32(reader);
    return wire_reader_done(reader);
}

#define TARGET_INFO_SIZE (8 + 4 + 4 + 1 + 1 + 8 * 4 + 1 + 8 * 4)
#define TARGET_INFO_MAX 65536u

void storage_space_info_reply_encode(struct wire_writer *writer,
                                     const struct storage_target_info *targets, size_t count)
{
    wire_put_u32(writer, (uint32_t)count);
    for (size_t i = 0; i < count; i++) {
        const struct storage_target_info *t = &targets[i];
        wire_put_u64(writer, t->target_id);
        wire_put_u32(writer, t->disk_index);
        wire_put_u32(writer, t->chain_id);
        wire_put_u8(writer, t->local_state);
        wire_put_u8(writer, t->public_state);
        wire_put_u64(writer, t->used_bytes);
        wire_put_u64(writer, t->capacity_bytes);
        wire_put_u64(writer, t->chunks);
        wire_put_u64(writer, t->pending_chunks);
        wire_put_bool(writer, t->sync_active);
        wire_put_u64(writer, t->sync_chunks_transferred);
        wire_put_u64(writer, t->sync_chunks_removed);
        wire_put_u64(writer, t->sync_bytes_transferred);
        wire_put_u64(writer, t->sync_rounds_completed);
    }
}

bool storage_space_info_reply_decode(struct wire_reader *reader,
                                     struct storage_target_info **targets, size_t *count)
{
    if (!get_list(reader, TARGET_INFO_MAX, TARGET_INFO_SIZE, sizeof **targets, (void **)targets,
                  count))
        return false;
    for (size_t i = 0; i < *count; i++) {
        struct storage_target_info *t = &(*targets)[i];
        t->target_id = wire_get_u64(reader);
        t->disk_index = wire_get_u32(reader);
        t->chain_id = wire_get_u32(reader);
        t->local_state = wire_get_u8(reader);
        t->public_state = wire_get_u8(reader);
        t->used_bytes = wire_get_u64(reader);
        t->capacity_bytes = wire_get_u64(reader);
        t->chunks = wire_get_u64(reader);
        t->pending_chunks = wire_get_u64(reader);
        t->sync_active = wire_get_bool(reader);
        t->sync_chunks_transferred = wire_get_u64(reader);
        t->sync_chunks_removed = wire_get_u64(reader);
        t->sync_bytes_transferred = wire_get_u64(reader);
        t->sync_rounds_completed = wire_get_u64(reader);
    }
    if (!wire_reader_done(reader))
        return drop_list((void **)targets, count);
    return true;
}

void storage_dump_request_encode(struct wire_writer *writer, const struct storage_dump_request *m)
{
    wire_put_u64(writer, m->target_id);
    wire_put_bool(writer, m->has_after);
    put_chunk_id(writer, &m->after);
    wire_put_u32(writer, m->max_records);
}

bool storage_dump_request_decode(struct wire_reader *reader, struct storage_dump_request *m)
{
    m->target_id = wire_get_u64(reader);
    m->has_after = wire_get_bool(reader);
    get_chunk_id(reader, &m->after);
    m->max_records = wire_get_u32(reader);
    return wire_reader_done(reader) && m->max_records >= 1 &&
           m->max_records <= STORAGE_DUMP_RECORDS_MAX;
}

static void put_chunk_version(struct wire_writer *writer, const struct storage_chunk_version *v)
{
    wire_put_u64(writer, v->version);
    wire_put_u64(writer, v->chain_version);
    wire_put_u64(writer, v->length);
    wire_put_u32(writer, v->crc);
}

static void get_chunk_version(struct wire_reader *reader, struct storage_chunk_version *v)
{
    v->version = wire_get_u64(reader);
    v->chain_version = wire_get_u64(reader);
    v->length = wire_get_u64(reader);
    v->crc = wire_get_u32(reader);
}

#define CHUNK_RECORD_SIZE (CHUNK_ID_SIZE + 2 * (8 * 3 + 4))

void storage_dump_reply_encode(struct wire_writer *writer, const struct storage_chunk_record *records,
                               size_t count, bool more)
{
    wire_put_u32(writer, (uint32_t)count);
    for (size_t i = 0; i < count; i++) {
        put_chunk_id(writer, &records[i].chunk_id);
        put_chunk_version(writer, &records[i].committed);
        put_chunk_version(writer, &records[i].pending);
    }
    wire_put_bool(writer, more);
}

bool storage_dump_reply_decode(struct wire_reader *reader, struct storage_chunk_record **records,
                               size_t *count, bool *more)
{
    if (!get_list(reader, STORAGE_DUMP_RECORDS_MAX, CHUNK_RECORD_SIZE, sizeof **records,
                  (void **)records, count))
        return false;
    for (size_t i = 0; i < *count; i++) {
        get_chunk_id(reader, &(*records)[i].chunk_id);
        get_chunk_version(reader, &(*records)[i].committed);
        get_chunk_version(reader, &(*records)[i].pending);
    }
    *more = wire_get_bool(reader);
    if (!wire_reader_done(reader))
        return drop_list((void **)records, count);
    return true;
}

void storage_create_target_request_encode(struct wire_writer *writer,
                                          const struct storage_create_target_request *m)
{
    wire_put_u64(writer, m->target_id);
    wire_put_u32(writer, m->disk_index);
}

bool storage_create_target_request_decode(struct wire_reader *reader,
                                          struct storage_create_target_request *m)
{
    m->target_id = wire_get_u64(reader);
    m->disk_index = wire_get_u32(reader);
    return wire_reader_done(reader) && m->target_id != 0;
}

void storage_sync_done_request_encode(struct wire_writer *writer,
                                      const struct storage_sync_done_request *m)
{
    wire_put_u64(writer, m->target_id);
    wire_put_u32(writer, m->chain_id);
    wire_put_u64(writer, m->chain_version);
}

bool storage_sync_done_request_decode(struct wire_reader *reader,
                                      struct storage_sync_done_request *m)
{
    m->target_id = wire_get_u64(reader);
    m->chain_id = wire_get_u32(reader);
    m->chain_version = wire_get_u64(reader);
    return wire_reader_done(reader);
}
