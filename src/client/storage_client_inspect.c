/*
 * storage_client_inspect.c - requests addressed to storage nodes and targets rather
 * than chains: space info of every target (statfs, admin status) and the dump of one
 * target's chunk metadata (tests, recovery checks).
 */
#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"
#include "client/call_window.h"
#include "client/storage_client_internal.h"
#include "common/clock.h"
#include "mgmtd/cluster_records.h"

/* Appends item_count items (item_size bytes each) to the malloc'ed *array of *count;
 * frees items either way. */
static int append_items(void **array, size_t *count, void *items, size_t item_count, size_t item_size)
{
    uint8_t *grown = realloc(*array, (*count + item_count + 1) * item_size);
    if (!grown) {
        free(items);
        return CHAINFS_NO_MEMORY;
    }
    if (item_count)
        memcpy(grown + *count * item_size, items, item_count * item_size);
    *array = grown;
    *count += item_count;
    free(items);
    return CHAINFS_OK;
}

/* --- space info -------------------------------------------------------------------- */

struct space_request {
    struct window_call window_call; /* first: the window hands it back */
};

/* Appends one node's targets to *targets. */
static int append_targets(const struct rpc_call *call, struct storage_target_info **targets,
                          size_t *count)
{
    struct wire_reader reader;
    wire_reader_init(&reader, call->reply_message, call->reply_message_length);
    struct storage_target_info *node_targets = NULL;
    size_t node_count = 0;
    if (!storage_space_info_reply_decode(&reader, &node_targets, &node_count))
        return CHAINFS_MALFORMED;
    return append_items((void **)targets, count, node_targets, node_count, sizeof(*node_targets));
}

/* Starts SPACE_INFO on every storage node with an address. Returns how many. */
static size_t start_space_requests(struct storage_client *client, const struct routing_info *info,
                                   struct call_window *window, uint64_t deadline,
                                   struct space_request **requests)
{
    size_t started = 0;
    for (size_t i = 0; i < info->node_count; i++) {
        const struct node_record *node = &info->nodes[i];
        if (node->type != NODE_TYPE_STORAGE || node->address[0] == '\0')
            continue;
        struct space_request *request = &(*requests)[started++];
        rpc_call_init(&request->window_call.call, STORAGE_SERVICE_ID, STORAGE_METHOD_SPACE_INFO);
        request->window_call.call.timeout_ns = storage_client_attempt_timeout(client, deadline);
        call_window_start(window, client->rpc, node->address, &request->window_call);
    }
    return started;
}

/* One round of space_info over the nodes the current routing names; *answered says
 * how many answered (their targets are in *targets). */
static int ask_every_node(struct storage_client *client, uint64_t deadline,
                          struct storage_target_info **targets, size_t *count,
                          size_t *unreachable_nodes, size_t *answered)
{
    *answered = 0;
    int status;
    struct routing_snapshot *snapshot = storage_client_snapshot(client, &status);
    if (!snapshot)
        return status;
    struct space_request *requests = calloc(snapshot->info.node_count + 1, sizeof(*requests));
    if (!requests) {
        routing_snapshot_release(snapshot);
        return CHAINFS_NO_MEMORY;
    }
    struct call_window window;
    call_window_init(&window);
    size_t started = start_space_requests(client, &snapshot->info, &window, deadline, &requests);
    routing_snapshot_release(snapshot);
    status = started ? CHAINFS_OK : CHAINFS_UNAVAILABLE; /* none registered yet: retry */
    struct window_call *finished;
    while ((finished = call_window_next(&window)) != NULL) {
        int call_status = finished->call.status;
        if (call_status == CHAINFS_OK)
            call_status = append_targets(&finished->call, targets, count);
        if (call_status == CHAINFS_OK)
            (*answered)++;
        else
            status = call_status;
        rpc_call_release(&finished->call);
    }
    call_window_destroy(&window);
    free(requests);
    if (unreachable_nodes)
        *unreachable_nodes = started - *answered;
    return status;
}

int storage_client_space_info(struct storage_client *client, uint64_t deadline,
                              struct storage_target_info **targets, size_t *count,
                              size_t *unreachable_nodes)
{
    *targets = NULL;
    *count = 0;
    if (unreachable_nodes)
        *unreachable_nodes = 0;
    deadline = storage_client_deadline(client, deadline);
    size_t answered;
    int status = ask_every_node(client, deadline, targets, count, unreachable_nodes, &answered);
    if (answered == 0 && status != CHAINFS_NO_MEMORY && !deadline_expired(deadline)) {
        /* routing from before the storage services (re)registered: no node, or only
         * addresses of processes that are gone; ask once more with fresh routing */
        storage_client_refresh(client, &(struct retry_rounds){0});
        status = ask_every_node(client, deadline, targets, count, unreachable_nodes, &answered);
    }
    if (answered > 0)
        return CHAINFS_OK;
    free(*targets);
    *targets = NULL;
    *count = 0;
    return status;
}

/* --- dump of a target ------------------------------------------------------------- */

#define DUMP_PAGE_RECORDS 4096u

/* One DUMP_CHUNKS page; appends its records. */
static int dump_page(struct storage_client *client, const char *address,
                     const struct storage_dump_request *page, uint64_t deadline,
                     struct storage_chunk_record **records, size_t *count, bool *more)
{
    struct wire_writer writer;
    wire_writer_init(&writer);
    storage_dump_request_encode(&writer, page);
    size_t length;
    uint8_t *message = storage_client_take_message(&writer, &length);
    if (!message)
        return CHAINFS_NO_MEMORY;
    struct rpc_call call;
    rpc_call_init(&call, STORAGE_SERVICE_ID, STORAGE_METHOD_DUMP_CHUNKS);
    call.message = message;
    call.message_length = length;
    call.timeout_ns = storage_client_attempt_timeout(client, deadline);
    int status = rpc_call_sync(client->rpc, address, &call);
    struct storage_chunk_record *page_records = NULL;
    size_t page_count = 0;
    if (status == CHAINFS_OK) {
        struct wire_reader reader;
        wire_reader_init(&reader, call.reply_message, call.reply_message_length);
        if (!storage_dump_reply_decode(&reader, &page_records, &page_count, more))
            status = CHAINFS_MALFORMED;
    }
    rpc_call_release(&call);
    free(message);
    if (status != CHAINFS_OK)
        return status;
    status = append_items((void **)records, count, page_records, page_count, sizeof(*page_records));
    if (status != CHAINFS_OK)
        return status;
    if (*more && page_count == 0)
        return CHAINFS_MALFORMED; /* "more" without progress would loop forever */
    return CHAINFS_OK;
}

/* The address of the node holding target_id, from the current routing info. */
static int target_address(struct storage_client *client, uint64_t target_id,
                          char address[NODE_ADDRESS_MAX])
{
    int status;
    struct routing_snapshot *snapshot = storage_client_snapshot(client, &status);
    if (!snapshot)
        return status;
    struct storage_route route;
    status = storage_route_target(&snapshot->info, target_id, &route);
    routing_snapshot_release(snapshot);
    if (status == CHAINFS_OK)
        memcpy(address, route.address, NODE_ADDRESS_MAX);
    return status;
}

int storage_client_dump_target(struct storage_client *client, uint64_t target_id,
                               uint64_t deadline, struct storage_chunk_record **records,
                               size_t *count)
{
    *records = NULL;
    *count = 0;
    deadline = storage_client_deadline(client, deadline);
    char address[NODE_ADDRESS_MAX];
    int status = target_address(client, target_id, address);
    struct storage_dump_request page = {.target_id = target_id, .max_records = DUMP_PAGE_RECORDS};
    struct retry_rounds rounds = {0};
    bool more = true;
    while (status == CHAINFS_OK && more) {
        status = dump_page(client, address, &page, deadline, records, count, &more);
        if (status == CHAINFS_OK) {
            if (*count > 0) {
                page.has_after = true;
                page.after = (*records)[*count - 1].chunk_id;
            }
            continue;
        }
        struct storage_retry_decision decision = storage_retry_decide(STORAGE_OPERATION_READ, status);
        if (!decision.retry || status == CHAINFS_CHECKSUM || status == CHAINFS_IO)
            break;
        retry_rounds_note(&rounds, &decision);
        if (!retry_rounds_next(client, &rounds, deadline))
            break;
        status = target_address(client, target_id, address);
    }
    if (status != CHAINFS_OK) {
        free(*records);
        *records = NULL;
        *count = 0;
    }
    return status;
}
