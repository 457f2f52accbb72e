/*
 * routing_info.c - loading the routing info from the KV store and its encoding.
 */
#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"
#include "kv/kv.h"
#include "mgmtd/mgmtd_keys.h"
#include "mgmtd/routing_info.h"

#define LIST_MAX (1u << 20) /* records per list a decoder accepts */

static int read_version(struct kv_transaction *transaction, bool snapshot, uint64_t *version)
{
    const void *value;
    size_t length;
    int status = (snapshot ? kv_get_snapshot : kv_get)(transaction, MGMTD_KEY_ROUTING_VERSION,
                                                        MGMTD_KEY_ROUTING_VERSION_LENGTH, &value, &length);
    *version = 0;
    if (status == CHAINFS_NOT_FOUND)
        return 0;
    if (status == 0 && length != 8)
        return CHAINFS_MALFORMED;
    if (status == 0)
        *version = wire_load_u64(value);
    return status;
}

int routing_version_read(struct kv_transaction *transaction, uint64_t *version)
{
    return read_version(transaction, false, version);
}

int routing_version_read_snapshot(struct kv_transaction *transaction, uint64_t *version)
{
    return read_version(transaction, true, version);
}

int routing_version_bump(struct kv_transaction *transaction)
{
    return kv_atomic_add(transaction, MGMTD_KEY_ROUTING_VERSION, MGMTD_KEY_ROUTING_VERSION_LENGTH, 1);
}

/* Reads every row with a record prefix; decode() turns each value into element i. */
static int load_list(struct kv_transaction *transaction, const char prefix[4], size_t element_size,
                     bool (*decode)(struct wire_reader *reader, void *element), void **elements,
                     size_t *count)
{
    uint8_t begin[4], end[4];
    mgmtd_key_prefix_range(prefix, begin, end);
    struct kv_range_result rows;
    int status = kv_get_range(transaction, begin, 4, end, 4, NULL, &rows);
    *elements = NULL;
    *count = 0;
    if (status != 0 || rows.count == 0)
        return status;
    uint8_t *array = calloc(rows.count, element_size);
    if (!array)
        return CHAINFS_NO_MEMORY;
    for (size_t i = 0; i < rows.count; i++) {
        struct wire_reader reader;
        wire_reader_init(&reader, rows.rows[i].value, rows.rows[i].value_length);
        if (!decode(&reader, array + i * element_size) || !wire_reader_done(&reader)) {
            *elements = array;
            *count = i; /* what decoded so far, for routing_info_free */
            return CHAINFS_MALFORMED;
        }
    }
    *elements = array;
    *count = rows.count;
    return 0;
}

static bool decode_node(struct wire_reader *reader, void *element)
{
    return node_record_decode(reader, element);
}
static bool decode_target(struct wire_reader *reader, void *element)
{
    return target_record_decode(reader, element);
}
static bool decode_chain(struct wire_reader *reader, void *element)
{
    return chain_record_decode(reader, element);
}
static bool decode_table(struct wire_reader *reader, void *element)
{
    return chain_table_record_decode(reader, element);
}

int routing_info_load(struct kv_transaction *transaction, struct routing_info *info)
{
    memset(info, 0, sizeof(*info));
    int status = routing_version_read(transaction, &info->version);
    if (status == 0)
        status = load_list(transaction, "NODE", sizeof(struct node_record), decode_node,
                           (void **)&info->nodes, &info->node_count);
    if (status == 0)
        status = load_list(transaction, "TGIF", sizeof(struct target_record), decode_target,
                           (void **)&info->targets, &info->target_count);
    if (status == 0)
        status = load_list(transaction, "CHIF", sizeof(struct chain_record), decode_chain,
                           (void **)&info->chains, &info->chain_count);
    if (status == 0)
        status = load_list(transaction, "CHIT", sizeof(struct chain_table_record), decode_table,
                           (void **)&info->tables, &info->table_count);
    if (status != 0)
        routing_info_free(info);
    return status;
}

void routing_info_encode(struct wire_writer *writer, const struct routing_info *info)
{
    wire_put_u64(writer, info->version);
    wire_put_u32(writer, (uint32_t)info->node_count);
    for (size_t i = 0; i < info->node_count; i++)
        node_record_encode(writer, &info->nodes[i]);
    wire_put_u32(writer, (uint32_t)info->target_count);
    for (size_t i = 0; i < info->target_count; i++)
        target_record_encode(writer, &info->targets[i]);
    wire_put_u32(writer, (uint32_t)info->chain_count);
    for (size_t i = 0; i < info->chain_count; i++)
        chain_record_encode(writer, &info->chains[i]);
    wire_put_u32(writer, (uint32_t)info->table_count);
    for (size_t i = 0; i < info->table_count; i++)
        chain_table_record_encode(writer, &info->tables[i]);
}

/* Decodes a u32 count then count records into a fresh array. */
static bool decode_list(struct wire_reader *reader, size_t element_size,
                        bool (*decode)(struct wire_reader *reader, void *element), void **elements,
                        size_t *count)
{
    uint32_t declared = wire_get_u32(reader);
    if (!wire_reader_ok(reader) || declared > LIST_MAX || declared > wire_reader_remaining(reader))
        return false;
    if (declared == 0)
        return true;
    uint8_t *array = calloc(declared, element_size);
    if (!array)
        return false;
    *elements = array;
    for (uint32_t i = 0; i < declared; i++) {
        if (!decode(reader, array + (size_t)i * element_size))
            return false;
        *count = i + 1;
    }
    return true;
}

int routing_info_decode(struct wire_reader *reader, struct routing_info *info)
{
    memset(info, 0, sizeof(*info));
    info->version = wire_get_u64(reader);
    bool ok = decode_list(reader, sizeof(struct node_record), decode_node, (void **)&info->nodes,
                          &info->node_count) &&
              decode_list(reader, sizeof(struct target_record), decode_target,
                          (void **)&info->targets, &info->target_count) &&
              decode_list(reader, sizeof(struct chain_record), decode_chain,
                          (void **)&info->chains, &info->chain_count) &&
              decode_list(reader, sizeof(struct chain_table_record), decode_table,
                          (void **)&info->tables, &info->table_count) &&
              wire_reader_ok(reader);
    if (!ok) {
        routing_info_free(info);
        return CHAINFS_MALFORMED;
    }
    return 0;
}

void routing_info_free(struct routing_info *info)
{
    for (size_t i = 0; i < info->table_count; i++)
        chain_table_record_free(&info->tables[i]);
    free(info->nodes);
    free(info->targets);
    free(info->chains);
    free(info->tables);
    memset(info, 0, sizeof(*info));
}

const struct target_record *routing_info_target(const struct routing_info *info, uint64_t target_id)
{
    for (size_t i = 0; i < info->target_count; i++)
        if (info->targets[i].target_id == target_id)
            return &info->targets[i];
    return NULL;
}

const struct node_record *routing_info_node(const struct routing_info *info, uint32_t node_id)
{
    for (size_t i = 0; i < info->node_count; i++)
        if (info->nodes[i].node_id == node_id)
            return &info->nodes[i];
    return NULL;
}

const struct chain_record *routing_info_chain(const struct routing_info *info, uint32_t chain_id)
{
    for (size_t i = 0; i < info->chain_count; i++)
        if (info->chains[i].chain_id == chain_id)
            return &info->chains[i];
    return NULL;
}
