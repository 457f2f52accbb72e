/*
 * cluster_records.c - encoding of nodes, targets, chains and chain tables.
 *
 * Decoders reject anything out of range (unknown node type, too many targets, a
 * string too long), so a corrupt record is an error and never an overflow.
 */
#include <stdlib.h>

#include "mgmtd/cluster_records.h"

const char *node_type_name(uint8_t type)
{
    switch (type) {
    case NODE_TYPE_MGMTD: return "mgmtd";
    case NODE_TYPE_META: return "meta";
    case NODE_TYPE_STORAGE: return "storage";
    case NODE_TYPE_CLIENT: return "client";
    default: return NULL;
    }
}

void node_record_encode(struct wire_writer *writer, const struct node_record *record)
{
    wire_put_u32(writer, record->node_id);
    wire_put_u8(writer, record->type);
    wire_put_bool(writer, record->enabled);
    wire_put_bool(writer, record->alive);
    wire_put_string(writer, record->address);
}

bool node_record_decode(struct wire_reader *reader, struct node_record *record)
{
    record->node_id = wire_get_u32(reader);
    record->type = wire_get_u8(reader);
    record->enabled = wire_get_bool(reader);
    record->alive = wire_get_bool(reader);
    wire_get_string(reader, record->address, sizeof(record->address));
    return wire_reader_ok(reader) && node_type_name(record->type) != NULL;
}

void target_record_encode(struct wire_writer *writer, const struct target_record *record)
{
    wire_put_u64(writer, record->target_id);
    wire_put_u32(writer, record->node_id);
    wire_put_u32(writer, record->disk_index);
    wire_put_u8(writer, record->local_state);
    wire_put_u8(writer, record->public_state);
    wire_put_u32(writer, record->chain_id);
    wire_put_u64(writer, record->used_bytes);
    wire_put_u64(writer, record->capacity_bytes);
    wire_put_bool(writer, record->offline_by_admin);
}

bool target_record_decode(struct wire_reader *reader, struct target_record *record)
{
    record->target_id = wire_get_u64(reader);
    record->node_id = wire_get_u32(reader);
    record->disk_index = wire_get_u32(reader);
    record->local_state = wire_get_u8(reader);
    record->public_state = wire_get_u8(reader);
    record->chain_id = wire_get_u32(reader);
    record->used_bytes = wire_get_u64(reader);
    record->capacity_bytes = wire_get_u64(reader);
    record->offline_by_admin = wire_get_bool(reader);
    return wire_reader_ok(reader);
}

void client_session_record_encode(struct wire_writer *writer,
                                  const struct client_session_record *record)
{
    wire_put_string(writer, record->client_id);
    wire_put_string(writer, record->description);
    wire_put_bool(writer, record->alive);
}

bool client_session_record_decode(struct wire_reader *reader, struct client_session_record *record)
{
    wire_get_string(reader, record->client_id, sizeof(record->client_id));
    wire_get_string(reader, record->description, sizeof(record->description));
    record->alive = wire_get_bool(reader);
    return wire_reader_ok(reader) && record->client_id[0] != '\0';
}

void chain_record_encode(struct wire_writer *writer, const struct chain_record *record)
{
    wire_put_u32(writer, record->chain_id);
    wire_put_u64(writer, record->version);
    wire_put_u8(writer, record->target_count);
    for (uint8_t i = 0; i < record->target_count; i++)
        wire_put_u64(writer, record->target_ids[i]);
}

bool chain_record_decode(struct wire_reader *reader, struct chain_record *record)
{
    record->chain_id = wire_get_u32(reader);
    record->version = wire_get_u64(reader);
    record->target_count = wire_get_u8(reader);
    if (record->target_count == 0 || record->target_count > CHAIN_TARGETS_MAX)
        return false;
    for (uint8_t i = 0; i < record->target_count; i++)
        record->target_ids[i] = wire_get_u64(reader);
    return wire_reader_ok(reader);
}

void chain_table_record_encode(struct wire_writer *writer, const struct chain_table_record *record)
{
    wire_put_u32(writer, record->table_id);
    wire_put_u32(writer, record->version);
    wire_put_u32(writer, record->chain_count);
    for (uint32_t i = 0; i < record->chain_count; i++)
        wire_put_u32(writer, record->chain_ids[i]);
}

bool chain_table_record_decode(struct wire_reader *reader, struct chain_table_record *record)
{
    record->table_id = wire_get_u32(reader);
    record->version = wire_get_u32(reader);
    record->chain_count = wire_get_u32(reader);
    record->chain_ids = NULL;
    if (!wire_reader_ok(reader) || record->chain_count == 0 ||
        record->chain_count > CHAIN_TABLE_CHAINS_MAX ||
        wire_reader_remaining(reader) < (size_t)record->chain_count * 4)
        return false;
    record->chain_ids = calloc(record->chain_count, sizeof(uint32_t));
    if (!record->chain_ids)
        return false;
    for (uint32_t i = 0; i < record->chain_count; i++)
        record->chain_ids[i] = wire_get_u32(reader);
    if (!wire_reader_ok(reader))
        chain_table_record_free(record);
    return wire_reader_ok(reader);
}

void chain_table_record_free(struct chain_table_record *record)
{
    free(record->chain_ids);
    record->chain_ids = NULL;
}
