/*
 * admin_storage.c - `chainfs admin create-targets` and `storage-status`, and the
 * recovery lines of `admin status` (admin_storage.h).
 */
#include "cli/admin_storage.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"
#include "common/clock.h"
#include "mgmtd/cluster_records.h"
#include "mgmtd/routing_cache.h"
#include "mgmtd/target_state.h"
#include "storage/storage_protocol.h"

#define CALL_TIMEOUT_NS (5 * CLOCK_NS_PER_S)
#define CREATE_IDS_MAX 1024

static int storage_call(struct mgmtd_client *mgmtd, const char *address, uint16_t method,
                        const struct wire_writer *message, struct rpc_call *call)
{
    rpc_call_init(call, STORAGE_SERVICE_ID, method);
    call->message = message ? message->data : NULL;
    call->message_length = message ? message->length : 0;
    call->timeout_ns = CALL_TIMEOUT_NS;
    return rpc_call_sync(mgmtd->rpc, address, call);
}

static int parse_ids(const char *text, uint64_t *ids, size_t capacity, size_t *count)
{
    *count = 0;
    while (*text) {
        char *end;
        unsigned long long value = strtoull(text, &end, 10);
        if (end == text || value == 0 || (*end != ',' && *end) || *count == capacity)
            return CHAINFS_INVALID_ARGUMENT;
        ids[(*count)++] = value;
        text = *end ? end + 1 : end;
    }
    return *count ? 0 : CHAINFS_INVALID_ARGUMENT;
}

/* The address of node_id from the routing info, into out. */
static int node_address(struct mgmtd_client *mgmtd, uint32_t node_id, char out[ADDRESS_TEXT_MAX])
{
    struct routing_info info;
    int status = mgmtd_client_routing_info(mgmtd, &info);
    if (status != 0) {
        fprintf(stderr, "chainfs admin: cannot read routing info: %s\n",
                chainfs_error_message(status));
        return status;
    }
    const struct node_record *node = routing_info_node(&info, node_id);
    if (node == NULL || node->type != NODE_TYPE_STORAGE || !node->address[0]) {
        fprintf(stderr, "chainfs admin: node %u is not a registered storage node (use --address)\n",
                node_id);
        status = CHAINFS_NOT_FOUND;
    } else {
        snprintf(out, ADDRESS_TEXT_MAX, "%s", node->address);
    }
    routing_info_free(&info);
    return status;
}

int admin_create_targets(struct mgmtd_client *mgmtd, int argc, char **argv)
{
    static const struct option options[] = {{"node", required_argument, NULL, 'n'},
                                            {"ids", required_argument, NULL, 'i'},
                                            {"disk", required_argument, NULL, 'd'},
                                            {"address", required_argument, NULL, 'a'},
                                            {NULL, 0, NULL, 0}};
    unsigned long node_id = 0, disk = 0;
    const char *ids_text = NULL, *address = NULL;
    optind = 1;
    int option;
    while ((option = getopt_long(argc, argv, "", options, NULL)) != -1) {
        char *end = NULL;
        if (option == 'n')
            node_id = strtoul(optarg, &end, 10);
        else if (option == 'd')
            disk = strtoul(optarg, &end, 10);
        else if (option == 'i')
            ids_text = optarg;
        else if (option == 'a')
            address = optarg;
        else
            return 2;
        if (end != NULL && (*end || end == optarg)) {
            fprintf(stderr, "chainfs admin create-targets: bad number '%s'\n", optarg);
            return 2;
        }
    }
    static uint64_t ids[CREATE_IDS_MAX];
    size_t count = 0;
    if (optind != argc || ids_text == NULL || (node_id == 0 && address == NULL) ||
        disk > UINT32_MAX || parse_ids(ids_text, ids, CREATE_IDS_MAX, &count) != 0) {
        fprintf(stderr, "usage: chainfs admin create-targets --node N --ids ID,ID,... [--disk I] "
                        "[--address HOST:PORT]\n");
        return 2;
    }
    char resolved[ADDRESS_TEXT_MAX];
    if (address == NULL) {
        if (node_address(mgmtd, (uint32_t)node_id, resolved) != 0)
            return 1;
        address = resolved;
    }
    int code = 0;
    for (size_t i = 0; i < count; i++) {
        struct storage_create_target_request request = {ids[i], (uint32_t)disk};
        struct wire_writer message;
        wire_writer_init(&message);
        storage_create_target_request_encode(&message, &request);
        struct rpc_call call;
        int status = storage_call(mgmtd, address, STORAGE_METHOD_CREATE_TARGET, &message, &call);
        if (status == 0 && call.reply_message_length == 1)
            printf("target %llu: %s\n", (unsigned long long)ids[i],
                   call.reply_message[0] ? "created" : "exists");
        else {
            fprintf(stderr, "chainfs admin create-targets: target %llu: %s (%s)\n",
                    (unsigned long long)ids[i],
                    call.error_text[0] ? call.error_text : chainfs_error_message(status),
                    chainfs_error_name(status));
            code = 1;
        }
        rpc_call_release(&call);
        wire_writer_free(&message);
    }
    return code;
}

/* SPACE_INFO of the node at address; *targets malloc'ed. */
static int space_info(struct mgmtd_client *mgmtd, const char *address,
                      struct storage_target_info **targets, size_t *count)
{
    struct rpc_call call;
    int status = storage_call(mgmtd, address, STORAGE_METHOD_SPACE_INFO, NULL, &call);
    if (status == 0) {
        struct wire_reader reader;
        wire_reader_init(&reader, call.reply_message, call.reply_message_length);
        if (!storage_space_info_reply_decode(&reader, targets, count))
            status = CHAINFS_MALFORMED;
    }
    rpc_call_release(&call);
    return status;
}

static void print_target(const struct node_record *node, const struct storage_target_info *t,
                         bool json)
{
    const char *local = target_local_state_name(t->local_state);
    const char *public = t->public_state ? target_public_state_name(t->public_state) : "-";
    if (json) {
        printf("{\"target_id\":%llu,\"node_id\":%u,\"disk\":%u,\"chain_id\":%u,"
               "\"local_state\":\"%s\",\"public_state\":\"%s\",\"chunks\":%llu,"
               "\"pending_chunks\":%llu,\"used_bytes\":%llu,\"capacity_bytes\":%llu,"
               "\"sync_active\":%s,\"sync_chunks_transferred\":%llu,\"sync_chunks_removed\":%llu,"
               "\"sync_bytes_transferred\":%llu,\"sync_rounds_completed\":%llu}\n",
               (unsigned long long)t->target_id, node->node_id, t->disk_index, t->chain_id, local,
               public, (unsigned long long)t->chunks, (unsigned long long)t->pending_chunks,
               (unsigned long long)t->used_bytes, (unsigned long long)t->capacity_bytes,
               t->sync_active ? "true" : "false", (unsigned long long)t->sync_chunks_transferred,
               (unsigned long long)t->sync_chunks_removed,
               (unsigned long long)t->sync_bytes_transferred,
               (unsigned long long)t->sync_rounds_completed);
        return;
    }
    printf("%-10llu %-6u %-7u %-11s %-8s %10llu %14llu %-5s %10llu %10llu %14llu\n",
           (unsigned long long)t->target_id, node->node_id, t->chain_id, local, public,
           (unsigned long long)t->chunks, (unsigned long long)t->used_bytes,
           t->sync_active ? "yes" : "no", (unsigned long long)t->sync_chunks_transferred,
           (unsigned long long)t->sync_chunks_removed,
           (unsigned long long)t->sync_bytes_transferred);
}

int admin_storage_status(struct mgmtd_client *mgmtd, bool json)
{
    struct routing_info info;
    int status = mgmtd_client_routing_info(mgmtd, &info);
    if (status != 0) {
        fprintf(stderr, "chainfs admin storage-status: %s\n", chainfs_error_message(status));
        return 1;
    }
    if (!json)
        printf("%-10s %-6s %-7s %-11s %-8s %10s %14s %-5s %10s %10s %14s\n", "TARGET", "NODE",
               "CHAIN", "LOCAL", "PUBLIC", "CHUNKS", "USED", "SYNC", "SENT", "REMOVED",
               "SENT_BYTES");
    int code = 0;
    for (size_t i = 0; i < info.node_count; i++) {
        const struct node_record *node = &info.nodes[i];
        if (node->type != NODE_TYPE_STORAGE || !node->alive)
            continue;
        struct storage_target_info *targets = NULL;
        size_t count = 0;
        status = space_info(mgmtd, node->address, &targets, &count);
        if (status != 0) {
            fprintf(stderr, "chainfs admin storage-status: node %u at %s: %s\n", node->node_id,
                    node->address, chainfs_error_message(status));
            code = 1;
        }
        for (size_t k = 0; k < count; k++)
            print_target(node, &targets[k], json);
        free(targets);
    }
    routing_info_free(&info);
    return code;
}

void admin_storage_print_recovery(struct mgmtd_client *mgmtd, const struct routing_info *info,
                                  const struct chain_record *chain)
{
    for (uint8_t k = 0; k < chain->target_count; k++) {
        const struct target_record *target = routing_info_target(info, chain->target_ids[k]);
        const struct target_record *successor =
            target ? routing_chain_successor(info, chain->chain_id, target->target_id) : NULL;
        if (successor == NULL || successor->public_state != TARGET_PUBLIC_SYNCING ||
            target->public_state != TARGET_PUBLIC_SERVING)
            continue;
        const char *address = routing_target_address(info, target->target_id);
        struct storage_target_info *targets = NULL;
        size_t count = 0;
        if (address == NULL || space_info(mgmtd, address, &targets, &count) != 0) {
            printf("    target %llu recovers %llu (progress unavailable)\n",
                   (unsigned long long)target->target_id, (unsigned long long)successor->target_id);
            continue;
        }
        for (size_t i = 0; i < count; i++)
            if (targets[i].target_id == target->target_id)
                printf("    target %llu recovers %llu: %llu chunks sent (%.1f MiB), %llu removed%s\n",
                       (unsigned long long)target->target_id,
                       (unsigned long long)successor->target_id,
                       (unsigned long long)targets[i].sync_chunks_transferred,
                       targets[i].sync_bytes_transferred / 1048576.0,
                       (unsigned long long)targets[i].sync_chunks_removed,
                       targets[i].sync_active ? "" : " (between passes)");
        free(targets);
    }
}
