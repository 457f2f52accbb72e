/*
 * local_cluster_setup.c - the steps of `chainfs up` after its processes run: storage
 * targets, the replicated chain table, and waiting until every chain serves.
 *
 * Target ids follow the gen-chain-table convention (chain_table_generator.h), so the
 * chains computed here name the targets created here. A second `up` finds the targets
 * and chains in place and only waits: restarted storage services take their targets
 * through recovery before the chains serve again (DESIGN §5, §7). "Serves" is checked
 * in mgmtd's routing and in each storage service's own view: right after a restart
 * the routing still shows the states of before it, for up to the failure interval.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"
#include "cli/local_cluster.h"
#include "common/clock.h"
#include "common/wire.h"
#include "daemon/run_dir.h"
#include "mgmtd/chain_table_generator.h"
#include "mgmtd/mgmtd_client.h"
#include "mgmtd/mgmtd_protocol.h"
#include "mgmtd/target_state.h"
#include "storage/storage_protocol.h"

#define CHAINS_TIMEOUT_NS (120 * CLOCK_NS_PER_S)
#define TARGETS_TIMEOUT_NS (30 * CLOCK_NS_PER_S)
#define TABLE_ID 1

static int create_target(struct rpc_client *client, const char *address, uint64_t target_id)
{
    struct storage_create_target_request request = {.target_id = target_id, .disk_index = 0};
    struct wire_writer message;
    wire_writer_init(&message);
    storage_create_target_request_encode(&message, &request);
    struct rpc_call call;
    rpc_call_init(&call, STORAGE_SERVICE_ID, STORAGE_METHOD_CREATE_TARGET);
    call.message = message.data;
    call.message_length = message.length;
    call.timeout_ns = 10 * CLOCK_NS_PER_S;
    int status = wire_writer_ok(&message) ? rpc_call_sync_retry(client, address, &call, 5)
                                          : CHAINFS_NO_MEMORY;
    if (status != 0)
        fprintf(stderr, "chainfs up: creating target %llu on %s failed: %s\n",
                (unsigned long long)target_id, address,
                call.error_text[0] ? call.error_text : chainfs_error_message(status));
    rpc_call_release(&call);
    wire_writer_free(&message);
    return status;
}

int local_cluster_create_targets(struct rpc_client *client, const struct local_cluster *cluster)
{
    for (unsigned node = 0; node < cluster->storage_count; node++) {
        char name[32], address[ADDRESS_TEXT_MAX * 2];
        uint32_t node_id = LOCAL_STORAGE_FIRST_NODE + node;
        snprintf(name, sizeof(name), "storage-%u", node + 1);
        if (run_dir_read_address(cluster->run, name, address, sizeof(address)) != 0)
            return CHAINFS_NOT_FOUND;
        for (unsigned target = 0; target < cluster->targets_per_node; target++) {
            int status = create_target(client, address, chain_table_target_id(node_id, 0, target));
            if (status != 0)
                return status;
        }
    }
    printf("  targets    %u per storage service\n", cluster->targets_per_node);
    return 0;
}

static int call_primary(struct mgmtd_client *mgmtd, uint16_t method, struct wire_writer *message)
{
    struct rpc_call call;
    rpc_call_init(&call, MGMTD_SERVICE_ID, method);
    call.message = message->data;
    call.message_length = message->length;
    int status = wire_writer_ok(message) ? mgmtd_client_call_primary(mgmtd, &call) : CHAINFS_NO_MEMORY;
    if (status != 0)
        fprintf(stderr, "chainfs up: mgmtd refused the chain table: %s\n",
                call.error_text[0] ? call.error_text : chainfs_error_message(status));
    rpc_call_release(&call);
    return status;
}

/* SET_CHAINS and SET_CHAIN_TABLE of a generated plan. */
static int upload_plan(struct mgmtd_client *mgmtd, const struct chain_table_plan *plan)
{
    struct wire_writer message;
    wire_writer_init(&message);
    wire_put_u32(&message, plan->chain_count);
    for (uint32_t chain = 0; chain < plan->chain_count; chain++) {
        wire_put_u32(&message, plan->first_chain_id + chain);
        wire_put_u8(&message, (uint8_t)plan->replicas);
        for (uint32_t replica = 0; replica < plan->replicas; replica++)
            wire_put_u64(&message, plan->target_ids[chain * plan->replicas + replica]);
    }
    int status = call_primary(mgmtd, MGMTD_METHOD_SET_CHAINS, &message);
    wire_writer_reset(&message);
    wire_put_u32(&message, TABLE_ID);
    wire_put_u32(&message, plan->chain_count);
    for (uint32_t chain = 0; chain < plan->chain_count; chain++)
        wire_put_u32(&message, plan->first_chain_id + chain);
    if (status == 0)
        status = call_primary(mgmtd, MGMTD_METHOD_SET_CHAIN_TABLE, &message);
    wire_writer_free(&message);
    return status;
}

static int generate_and_upload(struct mgmtd_client *mgmtd, const struct local_cluster *cluster)
{
    uint32_t node_ids[LOCAL_STORAGE_MAX];
    for (unsigned node = 0; node < cluster->storage_count; node++)
        node_ids[node] = LOCAL_STORAGE_FIRST_NODE + node;
    struct chain_table_request request = {.node_ids = node_ids,
                                          .node_count = cluster->storage_count,
                                          .disks_per_node = 1,
                                          .targets_per_disk = cluster->targets_per_node,
                                          .replicas = cluster->replicas,
                                          .first_chain_id = 1};
    struct chain_table_plan plan;
    int status = chain_table_generate(&request, &plan);
    if (status != 0) {
        fprintf(stderr, "chainfs up: no chain table for %u storage x %u targets with %u replicas "
                        "(replicas must be at most the storage count, and storage x targets "
                        "divisible by replicas)\n",
                cluster->storage_count, cluster->targets_per_node, cluster->replicas);
        return status;
    }
    status = upload_plan(mgmtd, &plan);
    if (status == 0)
        printf("  chains     %u chains of %u replicas, chain table %d\n", plan.chain_count,
               plan.replicas, TABLE_ID);
    chain_table_plan_free(&plan);
    return status;
}

/* Targets of this cluster mgmtd knows. */
static size_t known_targets(const struct routing_info *info)
{
    return info->target_count;
}

/* Chains whose every target serves, and chains in all. */
static void serving_chains(const struct routing_info *info, size_t *serving, size_t *total)
{
    *serving = 0;
    *total = info->chain_count;
    for (size_t i = 0; i < info->chain_count; i++) {
        const struct chain_record *chain = &info->chains[i];
        bool all = chain->target_count > 0;
        for (uint8_t k = 0; k < chain->target_count; k++) {
            const struct target_record *target = routing_info_target(info, chain->target_ids[k]);
            all = all && target && target->public_state == TARGET_PUBLIC_SERVING;
        }
        *serving += all;
    }
}

/* What the wait conditions look at besides mgmtd's routing. */
struct wait_context {
    const struct local_cluster *cluster;
    struct rpc_client *client;
};

static int wait_for(struct mgmtd_client *mgmtd, uint64_t timeout_ns,
                    bool (*done)(const struct routing_info *info, const struct wait_context *context),
                    const struct wait_context *context, struct routing_info *last)
{
    uint64_t deadline = deadline_after_ns(timeout_ns);
    memset(last, 0, sizeof(*last));
    while (!deadline_expired(deadline)) {
        routing_info_free(last);
        if (mgmtd_client_routing_info(mgmtd, last) == 0 && done(last, context))
            return 0;
        clock_sleep_ns(100 * CLOCK_NS_PER_MS);
    }
    return CHAINFS_TIMEOUT;
}

static bool targets_known(const struct routing_info *info, const struct wait_context *context)
{
    const struct local_cluster *cluster = context->cluster;
    return known_targets(info) >= (size_t)cluster->storage_count * cluster->targets_per_node;
}

/* Whether the storage service at address sees each of its chained targets serving.
 * A restarted service first waits until mgmtd took its targets offline (DESIGN §5);
 * until then mgmtd still publishes the states of before the restart, and the service
 * reports no public state at all. */
static bool storage_service_serving(struct rpc_client *client, const char *address)
{
    struct rpc_call call;
    rpc_call_init(&call, STORAGE_SERVICE_ID, STORAGE_METHOD_SPACE_INFO);
    call.timeout_ns = 2 * CLOCK_NS_PER_S;
    struct storage_target_info *targets = NULL;
    size_t count = 0;
    bool serving = false;
    if (rpc_call_sync(client, address, &call) == 0) {
        struct wire_reader reader;
        wire_reader_init(&reader, call.reply_message, call.reply_message_length);
        serving = storage_space_info_reply_decode(&reader, &targets, &count);
        for (size_t i = 0; serving && i < count; i++)
            serving = targets[i].chain_id == 0 ||
                      targets[i].public_state == TARGET_PUBLIC_SERVING;
        free(targets);
    }
    rpc_call_release(&call);
    return serving;
}

/* Every chain serves, in mgmtd's routing and in the view of every storage service. */
static bool chains_serving(const struct routing_info *info, const struct wait_context *context)
{
    size_t serving, total;
    serving_chains(info, &serving, &total);
    if (total == 0 || serving != total)
        return false;
    for (size_t i = 0; i < info->node_count; i++) {
        const struct node_record *node = &info->nodes[i];
        if (node->type == NODE_TYPE_STORAGE &&
            (node->address[0] == '\0' || !storage_service_serving(context->client, node->address)))
            return false;
    }
    return true;
}

int local_cluster_setup_chains(struct rpc_client *client, const struct local_cluster *cluster)
{
    struct mgmtd_client mgmtd;
    int status = mgmtd_client_init(&mgmtd, client, cluster->mgmtd_address, 5 * CLOCK_NS_PER_S);
    struct routing_info info = {0};
    struct wait_context context = {cluster, client};
    if (status == 0)
        status = wait_for(&mgmtd, TARGETS_TIMEOUT_NS, targets_known, &context, &info);
    if (status != 0) {
        fprintf(stderr, "chainfs up: mgmtd knows %zu of %u targets after %llu s\n",
                info.target_count, cluster->storage_count * cluster->targets_per_node,
                (unsigned long long)(TARGETS_TIMEOUT_NS / CLOCK_NS_PER_S));
        routing_info_free(&info);
        return status;
    }
    bool have_chains = info.chain_count > 0 && info.table_count > 0;
    routing_info_free(&info);
    if (have_chains)
        printf("  chains     in place (kept from the last run)\n");
    else if ((status = generate_and_upload(&mgmtd, cluster)) != 0)
        return status;
    printf("  waiting    until every chain serves (restarted targets recover first)...\n");
    fflush(stdout);
    status = wait_for(&mgmtd, CHAINS_TIMEOUT_NS, chains_serving, &context, &info);
    size_t serving, total;
    serving_chains(&info, &serving, &total);
    routing_info_free(&info);
    if (status != 0) {
        fprintf(stderr, "chainfs up: %zu of %zu chains serve after %llu s; see `chainfs admin "
                        "--mgmtd %s list-chains` and the logs in %s\n",
                serving, total, (unsigned long long)(CHAINS_TIMEOUT_NS / CLOCK_NS_PER_S),
                cluster->mgmtd_address, cluster->log);
        return status;
    }
    printf("  chains     %zu of %zu serving\n", serving, total);
    return 0;
}

bool local_cluster_mounted(const char *path)
{
    FILE *mounts = fopen("/proc/self/mountinfo", "r");
    if (!mounts)
        return false;
    char line[PATH_MAX * 2 + 256];
    bool found = false;
    while (!found && fgets(line, sizeof(line), mounts)) {
        /* id parent major:minor root mountpoint options ... - type source ... */
        char mountpoint[PATH_MAX], type[64];
        const char *separator = strstr(line, " - ");
        if (sscanf(line, "%*s %*s %*s %*s %4095s", mountpoint) == 1 && separator &&
            sscanf(separator + 3, "%63s", type) == 1)
            found = strcmp(mountpoint, path) == 0 && strcmp(type, "fuse.chainfs") == 0;
    }
    fclose(mounts);
    return found;
}
