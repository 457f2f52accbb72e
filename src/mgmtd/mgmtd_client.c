/*
 * mgmtd_client.c - finding and following the primary mgmtd.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"
#include "common/clock.h"
#include "mgmtd/mgmtd_client.h"
#include "mgmtd/mgmtd_protocol.h"

#define PRIMARY_ATTEMPTS 20

int mgmtd_client_init(struct mgmtd_client *client, struct rpc_client *rpc, const char *addresses,
                      uint64_t timeout_ns)
{
    memset(client, 0, sizeof(*client));
    client->rpc = rpc;
    client->timeout_ns = timeout_ns;
    const char *start = addresses;
    while (*start) {
        size_t length = strcspn(start, ",");
        if (length == 0 || length >= ADDRESS_TEXT_MAX || client->address_count == 8)
            return CHAINFS_INVALID_ARGUMENT;
        memcpy(client->addresses[client->address_count], start, length);
        client->addresses[client->address_count++][length] = '\0';
        start += length + (start[length] == ',');
    }
    return client->address_count ? 0 : CHAINFS_INVALID_ARGUMENT;
}

int mgmtd_client_get_primary(struct mgmtd_client *client, const char *address, uint32_t *node_id,
                             char primary[ADDRESS_TEXT_MAX], uint64_t *epoch)
{
    struct rpc_call call;
    rpc_call_init(&call, MGMTD_SERVICE_ID, MGMTD_METHOD_GET_PRIMARY);
    call.timeout_ns = client->timeout_ns;
    int status = rpc_call_sync(client->rpc, address, &call);
    if (status == 0) {
        struct wire_reader reader;
        wire_reader_init(&reader, call.reply_message, call.reply_message_length);
        *node_id = wire_get_u32(&reader);
        wire_get_string(&reader, primary, ADDRESS_TEXT_MAX);
        *epoch = wire_get_u64(&reader);
        if (!wire_reader_done(&reader))
            status = CHAINFS_MALFORMED;
    }
    rpc_call_release(&call);
    return status;
}

/* Asks each configured mgmtd who the primary is; remembers the first answer. */
static int locate_primary(struct mgmtd_client *client)
{
    int status = CHAINFS_UNAVAILABLE;
    for (size_t i = 0; i < client->address_count; i++) {
        uint32_t node_id;
        uint64_t epoch;
        char primary[ADDRESS_TEXT_MAX];
        status = mgmtd_client_get_primary(client, client->addresses[i], &node_id, primary, &epoch);
        if (status == 0 && epoch != 0) {
            snprintf(client->primary, sizeof(client->primary), "%s", primary);
            return 0;
        }
        if (status == 0)
            status = CHAINFS_NOT_PRIMARY; /* nobody holds the lease yet */
    }
    return status;
}

int mgmtd_client_call_primary(struct mgmtd_client *client, struct rpc_call *call)
{
    int status = CHAINFS_UNAVAILABLE;
    uint64_t backoff = 20 * CLOCK_NS_PER_MS;
    for (int attempt = 0; attempt < PRIMARY_ATTEMPTS; attempt++) {
        if (!client->primary[0] && (status = locate_primary(client)) != 0) {
            clock_sleep_ns(backoff);
            backoff = backoff < 500 * CLOCK_NS_PER_MS ? backoff * 2 : backoff;
            continue;
        }
        rpc_call_release(call);
        call->timeout_ns = client->timeout_ns;
        status = rpc_call_sync(client->rpc, client->primary, call);
        if (status != CHAINFS_NOT_PRIMARY && status != CHAINFS_CONNECT_FAILED &&
            status != CHAINFS_DISCONNECTED && status != CHAINFS_TIMEOUT)
            return status;
        client->primary[0] = '\0'; /* it moved or died: ask again */
        clock_sleep_ns(backoff);
        backoff = backoff < 500 * CLOCK_NS_PER_MS ? backoff * 2 : backoff;
    }
    return status;
}

static int routing_info_from(struct mgmtd_client *client, const char *address,
                             struct routing_info *info)
{
    uint8_t request[8] = {0}; /* version 0: always send the whole info */
    struct rpc_call call;
    rpc_call_init(&call, MGMTD_SERVICE_ID, MGMTD_METHOD_GET_ROUTING_INFO);
    call.message = request;
    call.message_length = sizeof(request);
    call.timeout_ns = client->timeout_ns;
    int status = rpc_call_sync(client->rpc, address, &call);
    if (status == 0) {
        struct wire_reader reader;
        wire_reader_init(&reader, call.reply_message, call.reply_message_length);
        (void)wire_get_u64(&reader);
        bool included = wire_get_bool(&reader);
        status = included ? routing_info_decode(&reader, info) : CHAINFS_MALFORMED;
        if (status == 0 && !wire_reader_done(&reader)) {
            routing_info_free(info);
            status = CHAINFS_MALFORMED;
        }
    }
    rpc_call_release(&call);
    return status;
}

int mgmtd_client_routing_info(struct mgmtd_client *client, struct routing_info *info)
{
    int status = CHAINFS_UNAVAILABLE;
    if (client->primary[0] && routing_info_from(client, client->primary, info) == 0)
        return 0;
    for (size_t i = 0; i < client->address_count; i++)
        if ((status = routing_info_from(client, client->addresses[i], info)) == 0)
            return 0;
    return status;
}

int mgmtd_client_get_config(struct mgmtd_client *client, uint8_t node_type, uint64_t version,
                            uint64_t *version_out, char **text_out)
{
    uint8_t request[9];
    request[0] = node_type;
    wire_store_u64(request + 1, version);
    struct rpc_call call;
    rpc_call_init(&call, MGMTD_SERVICE_ID, MGMTD_METHOD_GET_CONFIG);
    call.message = request;
    call.message_length = sizeof(request);
    int status = mgmtd_client_call_primary(client, &call);
    *text_out = NULL;
    if (status == 0) {
        struct wire_reader reader;
        wire_reader_init(&reader, call.reply_message, call.reply_message_length);
        *version_out = wire_get_u64(&reader);
        const void *text;
        size_t length;
        if (!wire_get_bytes(&reader, MGMTD_CONFIG_TEXT_MAX, &text, &length) ||
            !wire_reader_done(&reader))
            status = CHAINFS_MALFORMED;
        else if (!(*text_out = malloc(length + 1))) /* the text is not NUL-terminated */
            status = CHAINFS_NO_MEMORY;
        else {
            memcpy(*text_out, text, length);
            (*text_out)[length] = '\0';
        }
    }
    rpc_call_release(&call);
    return status;
}
