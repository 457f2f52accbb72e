/*
 * mgmtd_keys.c - key encoding of the cluster manager's records.
 */
#include <string.h>

#include "mgmtd/mgmtd_keys.h"

static size_t put_big_endian(uint8_t *out, uint64_t value, size_t bytes)
{
    for (size_t i = 0; i < bytes; i++)
        out[i] = (uint8_t)(value >> (8 * (bytes - 1 - i)));
    return bytes;
}

size_t mgmtd_key_node(uint8_t *out, uint32_t node_id)
{
    memcpy(out, "NODE", 4);
    return 4 + put_big_endian(out + 4, node_id, 4);
}

size_t mgmtd_key_node_incarnation(uint8_t *out, uint32_t node_id)
{
    memcpy(out, "NINC", 4);
    return 4 + put_big_endian(out + 4, node_id, 4);
}

size_t mgmtd_key_target(uint8_t *out, uint64_t target_id)
{
    memcpy(out, "TGIF", 4);
    return 4 + put_big_endian(out + 4, target_id, 8);
}

size_t mgmtd_key_chain(uint8_t *out, uint32_t chain_id)
{
    memcpy(out, "CHIF", 4);
    return 4 + put_big_endian(out + 4, chain_id, 4);
}

size_t mgmtd_key_chain_table(uint8_t *out, uint32_t table_id, uint32_t version)
{
    memcpy(out, "CHIT", 4);
    put_big_endian(out + 4, table_id, 4);
    return 8 + put_big_endian(out + 8, version, 4);
}

size_t mgmtd_key_config(uint8_t *out, uint8_t node_type, uint64_t version)
{
    memcpy(out, "CONF", 4);
    out[4] = node_type;
    return 5 + put_big_endian(out + 5, version, 8);
}

size_t mgmtd_key_client_session(uint8_t *out, const char *client_id)
{
    size_t length = strnlen(client_id, MGMTD_KEY_MAX - 5);
    memcpy(out, "CLSE", 4);
    memcpy(out + 4, client_id, length);
    return 4 + length;
}

void mgmtd_key_prefix_range(const char prefix[4], uint8_t begin[4], uint8_t end[4])
{
    memcpy(begin, prefix, 4);
    memcpy(end, prefix, 4);
    end[3]++; /* prefixes are ASCII letters: no carry */
}
