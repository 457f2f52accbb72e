/*
 * admin.c - `chainfs admin`: operate a cluster through its primary mgmtd.
 *
 *   chainfs admin [--mgmtd HOST:PORT[,...]] [--json] <command> [arguments]
 *
 * Without --mgmtd it uses $CHAINFS_MGMTD. Listings come from the routing info; changes
 * go to the primary (found and followed by mgmtd_client).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"
#include "cli/admin_csv.h"
#include "cli/admin_storage.h"
#include "cli/commands.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "mgmtd/chain_table_generator.h"
#include "mgmtd/mgmtd_client.h"
#include "mgmtd/mgmtd_protocol.h"
#include "mgmtd/target_state.h"

struct admin {
    struct mgmtd_client mgmtd;
    bool json;
};

static void print_admin_usage(FILE *out)
{
    fprintf(out,
            "usage: chainfs admin [--mgmtd HOST:PORT[,HOST:PORT...]] [--json] <command>\n\n"
            "  status                              primary, nodes, chains by state, capacity\n"
            "  list-nodes | list-targets | list-chains | list-chain-tables\n"
            "  upload-chains FILE.csv              ChainId,TargetId,TargetId,... per line\n"
            "  upload-chain-table ID FILE.csv      one ChainId per line; a new table version\n"
            "  init-cluster [--chunk-size SIZE] [--stripe-size N] [--table-id ID] [--force]\n"
            "  offline-target TARGET_ID | online-target TARGET_ID\n"
            "  enable-node NODE_ID | disable-node NODE_ID | unregister-node NODE_ID\n"
            "  set-config TYPE FILE.ini | get-config TYPE [VERSION]   (TYPE: meta, storage, client)\n"
            "  list-client-sessions\n"
            "  create-targets --node N --ids ID,ID,... [--disk I] [--address HOST:PORT]\n"
            "  storage-status                      targets of live storage nodes, recovery progress\n"
            "  gen-chain-table --nodes ID,ID,... --disks N --targets-per-disk N --replicas N\n"
            "                  [--first-chain-id ID] --chains-out FILE --table-out FILE   (offline)\n\n"
            "--mgmtd defaults to $CHAINFS_MGMTD.\n");
}

/* Prints an error from a failed call: the server's text when it sent one. */
static int report_failure(const char *what, int status, const struct rpc_call *call)
{
    fprintf(stderr, "chainfs admin %s: %s (%s)\n", what,
            call && call->error_text[0] ? call->error_text : chainfs_error_message(status),
            chainfs_error_name(status));
    if (status == CHAINFS_CONNECT_FAILED || status == CHAINFS_UNAVAILABLE || status == CHAINFS_TIMEOUT)
        fprintf(stderr, "  is mgmtd running? check the --mgmtd addresses\n");
    return 1;
}

static int load_routing(struct admin *admin, const char *what, struct routing_info *info)
{
    int status = mgmtd_client_routing_info(&admin->mgmtd, info);
    return status == 0 ? 0 : report_failure(what, status, NULL);
}

static int list_nodes(struct admin *admin)
{
    struct routing_info info;
    if (load_routing(admin, "list-nodes", &info) != 0)
        return 1;
    if (!admin->json)
        printf("%-8s %-8s %-24s %-6s %s\n", "NODE", "TYPE", "ADDRESS", "STATUS", "ENABLED");
    for (size_t i = 0; i < info.node_count; i++) {
        const struct node_record *node = &info.nodes[i];
        if (admin->json)
            printf("{\"node_id\":%u,\"type\":\"%s\",\"address\":\"%s\",\"alive\":%s,\"enabled\":%s}\n",
                   node->node_id, node_type_name(node->type), node->address,
                   node->alive ? "true" : "false", node->enabled ? "true" : "false");
        else
            printf("%-8u %-8s %-24s %-6s %s\n", node->node_id, node_type_name(node->type),
                   node->address, node->alive ? "up" : "down", node->enabled ? "yes" : "no");
    }
    routing_info_free(&info);
    return 0;
}

static int list_targets(struct admin *admin)
{
    struct routing_info info;
    if (load_routing(admin, "list-targets", &info) != 0)
        return 1;
    if (!admin->json)
        printf("%-10s %-6s %-5s %-7s %-11s %-8s %14s %14s\n", "TARGET", "NODE", "DISK", "CHAIN",
               "LOCAL", "PUBLIC", "USED", "CAPACITY");
    for (size_t i = 0; i < info.target_count; i++) {
        const struct target_record *target = &info.targets[i];
        const char *local = target_local_state_name(target->local_state);
        const char *public = target_public_state_name(target->public_state);
        if (admin->json)
            printf("{\"target_id\":%llu,\"node_id\":%u,\"disk\":%u,\"chain_id\":%u,"
                   "\"local_state\":\"%s\",\"public_state\":\"%s\",\"used_bytes\":%llu,"
                   "\"capacity_bytes\":%llu}\n",
                   (unsigned long long)target->target_id, target->node_id, target->disk_index,
                   target->chain_id, local, public, (unsigned long long)target->used_bytes,
                   (unsigned long long)target->capacity_bytes);
        else
            printf("%-10llu %-6u %-5u %-7u %-11s %-8s %14llu %14llu\n",
                   (unsigned long long)target->target_id, target->node_id, target->disk_index,
                   target->chain_id, local, public, (unsigned long long)target->used_bytes,
                   (unsigned long long)target->capacity_bytes);
    }
    routing_info_free(&info);
    return 0;
}

static const char *public_state_of(const struct routing_info *info, uint64_t target_id)
{
    const struct target_record *target = routing_info_target(info, target_id);
    return target ? target_public_state_name(target->public_state) : "missing";
}

static int list_chains(struct admin *admin)
{
    struct routing_info info;
    if (load_routing(admin, "list-chains", &info) != 0)
        return 1;
    if (!admin->json)
        printf("%-8s %-8s %s\n", "CHAIN", "VERSION", "TARGETS (head first)");
    for (size_t i = 0; i < info.chain_count; i++) {
        const struct chain_record *chain = &info.chains[i];
        if (admin->json)
            printf("{\"chain_id\":%u,\"version\":%llu,\"targets\":[", chain->chain_id,
                   (unsigned long long)chain->version);
        else
            printf("%-8u %-8llu", chain->chain_id, (unsigned long long)chain->version);
        for (uint8_t k = 0; k < chain->target_count; k++) {
            if (admin->json)
                printf("%s{\"target_id\":%llu,\"public_state\":\"%s\"}", k ? "," : "",
                       (unsigned long long)chain->target_ids[k],
                       public_state_of(&info, chain->target_ids[k]));
            else
                printf(" %llu:%s", (unsigned long long)chain->target_ids[k],
                       public_state_of(&info, chain->target_ids[k]));
        }
        printf(admin->json ? "]}\n" : "\n");
    }
    routing_info_free(&info);
    return 0;
}

static int list_chain_tables(struct admin *admin)
{
    struct routing_info info;
    if (load_routing(admin, "list-chain-tables", &info) != 0)
        return 1;
    if (!admin->json)
        printf("%-6s %-8s %s\n", "TABLE", "VERSION", "CHAINS");
    for (size_t i = 0; i < info.table_count; i++) {
        const struct chain_table_record *table = &info.tables[i];
        printf(admin->json ? "{\"table_id\":%u,\"version\":%u,\"chains\":[" : "%-6u %-8u ",
               table->table_id, table->version);
        for (uint32_t k = 0; k < table->chain_count; k++)
            printf(admin->json ? "%s%u" : "%s%u", k ? (admin->json ? "," : " ") : "",
                   table->chain_ids[k]);
        printf(admin->json ? "]}\n" : "\n");
    }
    routing_info_free(&info);
    return 0;
}

/* A chain's health in one word, from its targets' public states. */
static const char *chain_health(const struct routing_info *info, const struct chain_record *chain)
{
    int serving = 0, syncing = 0, lastsrv = 0;
    for (uint8_t k = 0; k < chain->target_count; k++) {
        const struct target_record *target = routing_info_target(info, chain->target_ids[k]);
        int state = target ? target->public_state : 0;
        serving += state == TARGET_PUBLIC_SERVING;
        syncing += state == TARGET_PUBLIC_SYNCING;
        lastsrv += state == TARGET_PUBLIC_LASTSRV;
    }
    if (serving == chain->target_count)
        return "healthy";
    if (syncing)
        return "syncing";
    if (serving)
        return "degraded";
    return lastsrv ? "lastsrv" : "offline";
}

static int show_status(struct admin *admin)
{
    uint32_t node_id = 0;
    uint64_t epoch = 0;
    char primary[ADDRESS_TEXT_MAX] = "";
    int status = CHAINFS_UNAVAILABLE;
    for (size_t i = 0; i < admin->mgmtd.address_count && status != 0; i++)
        status = mgmtd_client_get_primary(&admin->mgmtd, admin->mgmtd.addresses[i], &node_id,
                                          primary, &epoch);
    if (status != 0)
        return report_failure("status", status, NULL);
    struct routing_info info;
    if (load_routing(admin, "status", &info) != 0)
        return 1;
    size_t up = 0, chains_healthy = 0;
    uint64_t used = 0, capacity = 0;
    for (size_t i = 0; i < info.node_count; i++)
        up += info.nodes[i].alive;
    for (size_t i = 0; i < info.target_count; i++) {
        used += info.targets[i].used_bytes;
        capacity += info.targets[i].capacity_bytes;
    }
    for (size_t i = 0; i < info.chain_count; i++)
        chains_healthy += strcmp(chain_health(&info, &info.chains[i]), "healthy") == 0;
    if (admin->json) {
        printf("{\"primary\":{\"node_id\":%u,\"address\":\"%s\",\"epoch\":%llu},"
               "\"routing_version\":%llu,\"nodes_up\":%zu,\"nodes_down\":%zu,\"chains\":%zu,"
               "\"chains_healthy\":%zu,\"targets\":%zu,\"used_bytes\":%llu,\"capacity_bytes\":%llu}\n",
               node_id, primary, (unsigned long long)epoch, (unsigned long long)info.version, up,
               info.node_count - up, info.chain_count, chains_healthy, info.target_count,
               (unsigned long long)used, (unsigned long long)capacity);
    } else {
        if (epoch)
            printf("primary mgmtd:   node %u at %s (epoch %llu)\n", node_id, primary,
                   (unsigned long long)epoch);
        else
            printf("primary mgmtd:   none yet (no mgmtd has taken the lease)\n");
        printf("routing version: %llu\n", (unsigned long long)info.version);
        printf("nodes:           %zu up, %zu down\n", up, info.node_count - up);
        printf("chains:          %zu, %zu healthy\n", info.chain_count, chains_healthy);
        for (size_t i = 0; i < info.chain_count; i++) {
            const char *health = chain_health(&info, &info.chains[i]);
            if (strcmp(health, "healthy") != 0)
                printf("  chain %u: %s\n", info.chains[i].chain_id, health);
            if (strcmp(health, "syncing") == 0)
                admin_storage_print_recovery(&admin->mgmtd, &info, &info.chains[i]);
        }
        printf("targets:         %zu, %.1f GiB used of %.1f GiB\n", info.target_count,
               used / 1073741824.0, capacity / 1073741824.0);
    }
    routing_info_free(&info);
    return 0;
}

/* Sends a prepared message to the primary and prints the result line. */
static int call_primary(struct admin *admin, const char *what, uint16_t method,
                        struct wire_writer *message)
{
    struct rpc_call call;
    rpc_call_init(&call, MGMTD_SERVICE_ID, method);
    call.message = message->data;
    call.message_length = message->length;
    int status = mgmtd_client_call_primary(&admin->mgmtd, &call);
    uint32_t result = 0;
    if (status == 0 && call.reply_message_length >= 4)
        result = wire_load_u32(call.reply_message);
    if (status != 0)
        report_failure(what, status, &call);
    else if (method == MGMTD_METHOD_SET_CHAINS)
        printf("%u chains created\n", result);
    else if (method == MGMTD_METHOD_SET_CHAIN_TABLE)
        printf("chain table version %u stored\n", result);
    else
        printf("%s: done\n", what);
    rpc_call_release(&call);
    return status == 0 ? 0 : 1;
}

static int upload_chains(struct admin *admin, int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: chainfs admin upload-chains FILE.csv\n");
        return 2;
    }
    struct wire_writer message;
    wire_writer_init(&message);
    int code = admin_csv_read_chains(argv[1], &message) == 0
                   ? call_primary(admin, "upload-chains", MGMTD_METHOD_SET_CHAINS, &message) : 2;
    wire_writer_free(&message);
    return code;
}

static int upload_chain_table(struct admin *admin, int argc, char **argv)
{
    int64_t table_id;
    if (argc != 3 || !config_parse_int(argv[1], &table_id) || table_id < 1 || table_id > UINT32_MAX) {
        fprintf(stderr, "usage: chainfs admin upload-chain-table TABLE_ID FILE.csv\n");
        return 2;
    }
    struct wire_writer message;
    wire_writer_init(&message);
    int code = admin_csv_read_chain_table(argv[2], (uint32_t)table_id, &message) == 0
                   ? call_primary(admin, "upload-chain-table", MGMTD_METHOD_SET_CHAIN_TABLE, &message)
                   : 2;
    wire_writer_free(&message);
    return code;
}

static int init_cluster(struct admin *admin, int argc, char **argv)
{
    static const struct option options[] = {{"chunk-size", required_argument, NULL, 'c'},
                                            {"stripe-size", required_argument, NULL, 's'},
                                            {"table-id", required_argument, NULL, 't'},
                                            {"force", no_argument, NULL, 'f'},
                                            {NULL, 0, NULL, 0}};
    int64_t chunk_size = 1 << 20, stripe_size = 4, table_id = 1;
    bool force = false;
    int option;
    optind = 1;
    while ((option = getopt_long(argc, argv, "", options, NULL)) != -1) {
        bool ok = true;
        if (option == 'c')
            ok = config_parse_size(optarg, &chunk_size) && chunk_size <= UINT32_MAX;
        else if (option == 's')
            ok = config_parse_int(optarg, &stripe_size) && stripe_size > 0 && stripe_size <= UINT32_MAX;
        else if (option == 't')
            ok = config_parse_int(optarg, &table_id) && table_id > 0 && table_id <= UINT32_MAX;
        else if (option == 'f')
            force = true;
        else
            ok = false;
        if (!ok) {
            fprintf(stderr, "usage: chainfs admin init-cluster [--chunk-size SIZE] "
                            "[--stripe-size N] [--table-id ID] [--force]\n");
            return 2;
        }
    }
    struct wire_writer message;
    wire_writer_init(&message);
    wire_put_u32(&message, (uint32_t)chunk_size);
    wire_put_u32(&message, (uint32_t)stripe_size);
    wire_put_u32(&message, (uint32_t)table_id);
    wire_put_bool(&message, force);
    int code = call_primary(admin, "init-cluster", MGMTD_METHOD_INIT_CLUSTER, &message);
    wire_writer_free(&message);
    return code;
}


/* Parses a positive integer argument; prints usage on failure. */
static bool parse_id_argument(const char *text, uint64_t max, uint64_t *id)
{
    int64_t value;
    return config_parse_int(text, &value) && value > 0 && (uint64_t)value <= max && (*id = (uint64_t)value, true);
}

static int switch_target(struct admin *admin, int argc, char **argv, bool offline)
{
    uint64_t target_id;
    if (argc != 2 || !parse_id_argument(argv[1], UINT64_MAX >> 1, &target_id)) {
        fprintf(stderr, "usage: chainfs admin %s TARGET_ID\n", argv[0]);
        return 2;
    }
    struct wire_writer message;
    wire_writer_init(&message);
    wire_put_u64(&message, target_id);
    wire_put_bool(&message, offline);
    int code = call_primary(admin, argv[0], MGMTD_METHOD_SET_TARGET_OFFLINE, &message);
    wire_writer_free(&message);
    return code;
}

static int switch_node(struct admin *admin, int argc, char **argv, bool enabled)
{
    uint64_t node_id;
    if (argc != 2 || !parse_id_argument(argv[1], UINT32_MAX, &node_id)) {
        fprintf(stderr, "usage: chainfs admin %s NODE_ID\n", argv[0]);
        return 2;
    }
    struct wire_writer message;
    wire_writer_init(&message);
    wire_put_u32(&message, (uint32_t)node_id);
    wire_put_bool(&message, enabled);
    int code = call_primary(admin, argv[0], MGMTD_METHOD_SET_NODE_ENABLED, &message);
    wire_writer_free(&message);
    return code;
}

static int unregister_node(struct admin *admin, int argc, char **argv)
{
    uint64_t node_id;
    if (argc != 2 || !parse_id_argument(argv[1], UINT32_MAX, &node_id)) {
        fprintf(stderr, "usage: chainfs admin unregister-node NODE_ID\n");
        return 2;
    }
    struct wire_writer message;
    wire_writer_init(&message);
    wire_put_u32(&message, (uint32_t)node_id);
    int code = call_primary(admin, argv[0], MGMTD_METHOD_UNREGISTER_NODE, &message);
    wire_writer_free(&message);
    return code;
}

static int parse_node_type(const char *name, uint8_t *type)
{
    for (uint8_t candidate = NODE_TYPE_META; candidate <= NODE_TYPE_CLIENT; candidate++) {
        if (strcmp(name, node_type_name(candidate)) == 0) {
            *type = candidate;
            return 0;
        }
    }
    fprintf(stderr, "chainfs admin: unknown node type '%s' (meta, storage or client)\n", name);
    return 2;
}

static int set_config(struct admin *admin, int argc, char **argv)
{
    uint8_t type;
    if (argc != 3) {
        fprintf(stderr, "usage: chainfs admin set-config TYPE FILE.ini\n");
        return 2;
    }
    if (parse_node_type(argv[1], &type) != 0)
        return 2;
    FILE *file = fopen(argv[2], "r");
    if (!file) {
        fprintf(stderr, "chainfs admin set-config: cannot open %s\n", argv[2]);
        return 2;
    }
    static char text[64 * 1024];
    size_t length = fread(text, 1, sizeof(text), file);
    bool too_long = !feof(file);
    fclose(file);
    if (too_long) {
        fprintf(stderr, "chainfs admin set-config: %s is larger than 60000 bytes\n", argv[2]);
        return 2;
    }
    struct wire_writer message;
    wire_writer_init(&message);
    wire_put_u8(&message, type);
    wire_put_bytes(&message, text, length);
    struct rpc_call call;
    rpc_call_init(&call, MGMTD_SERVICE_ID, MGMTD_METHOD_SET_CONFIG);
    call.message = message.data;
    call.message_length = message.length;
    int status = mgmtd_client_call_primary(&admin->mgmtd, &call);
    if (status == 0 && call.reply_message_length == 8)
        printf("%s config version %llu stored\n", argv[1],
               (unsigned long long)wire_load_u64(call.reply_message));
    else
        report_failure("set-config", status ? status : CHAINFS_MALFORMED, &call);
    rpc_call_release(&call);
    wire_writer_free(&message);
    return status == 0 ? 0 : 1;
}

static int get_config(struct admin *admin, int argc, char **argv)
{
    uint8_t type;
    uint64_t version = 0;
    if ((argc != 2 && argc != 3) || (argc == 3 && !parse_id_argument(argv[2], UINT64_MAX >> 1, &version))) {
        fprintf(stderr, "usage: chainfs admin get-config TYPE [VERSION]\n");
        return 2;
    }
    if (parse_node_type(argv[1], &type) != 0)
        return 2;
    uint8_t request[9];
    request[0] = type;
    wire_store_u64(request + 1, version);
    struct rpc_call call;
    rpc_call_init(&call, MGMTD_SERVICE_ID, MGMTD_METHOD_GET_CONFIG);
    call.message = request;
    call.message_length = sizeof(request);
    int status = mgmtd_client_call_primary(&admin->mgmtd, &call);
    if (status == 0) {
        struct wire_reader reader;
        wire_reader_init(&reader, call.reply_message, call.reply_message_length);
        version = wire_get_u64(&reader);
        const void *text;
        size_t length;
        if (wire_get_bytes(&reader, 1 << 20, &text, &length) && wire_reader_done(&reader))
            printf("; %s config version %llu\n%.*s", argv[1], (unsigned long long)version,
                   (int)length, (const char *)text);
        else
            status = CHAINFS_MALFORMED;
    }
    if (status != 0)
        report_failure("get-config", status, &call);
    rpc_call_release(&call);
    return status == 0 ? 0 : 1;
}

static int list_client_sessions(struct admin *admin)
{
    struct rpc_call call;
    rpc_call_init(&call, MGMTD_SERVICE_ID, MGMTD_METHOD_LIST_CLIENT_SESSIONS);
    int status = mgmtd_client_call_primary(&admin->mgmtd, &call);
    struct wire_reader reader;
    wire_reader_init(&reader, call.reply_message, call.reply_message_length);
    uint32_t count = status == 0 ? wire_get_u32(&reader) : 0;
    if (status == 0 && !admin->json)
        printf("%-40s %-6s %s\n", "CLIENT", "STATUS", "DESCRIPTION");
    for (uint32_t i = 0; status == 0 && i < count; i++) {
        struct client_session_record session;
        if (!client_session_record_decode(&reader, &session)) {
            status = CHAINFS_MALFORMED;
            break;
        }
        if (admin->json)
            printf("{\"client_id\":\"%s\",\"alive\":%s,\"description\":\"%s\"}\n", session.client_id,
                   session.alive ? "true" : "false", session.description);
        else
            printf("%-40s %-6s %s\n", session.client_id, session.alive ? "alive" : "dead",
                   session.description);
    }
    if (status != 0)
        report_failure("list-client-sessions", status, &call);
    rpc_call_release(&call);
    return status == 0 ? 0 : 1;
}

/* Parses "11,12,13" into ids (at most capacity). Returns the count or 0 on error. */
static uint32_t parse_node_list(const char *text, uint32_t *ids, uint32_t capacity)
{
    uint32_t count = 0;
    while (*text && count < capacity) {
        char *end;
        unsigned long value = strtoul(text, &end, 10);
        if (end == text || value == 0 || value > UINT32_MAX || (*end != ',' && *end != '\0'))
            return 0;
        ids[count++] = (uint32_t)value;
        text = *end ? end + 1 : end;
    }
    return *text ? 0 : count;
}

static int write_plan(const struct chain_table_plan *plan, const char *chains_path,
                      const char *table_path)
{
    FILE *chains = fopen(chains_path, "w");
    FILE *table = fopen(table_path, "w");
    int status = chains && table ? 0 : CHAINFS_IO;
    if (status == 0)
        status = chain_table_plan_write_chains_csv(plan, chains);
    if (status == 0)
        status = chain_table_plan_write_table_csv(plan, table);
    if (chains && fclose(chains) != 0)
        status = CHAINFS_IO;
    if (table && fclose(table) != 0)
        status = CHAINFS_IO;
    if (status != 0)
        fprintf(stderr, "chainfs admin gen-chain-table: cannot write %s / %s\n", chains_path, table_path);
    return status;
}

/* Writes the chains and chain-table CSVs for a set of storage nodes; needs no mgmtd. */
static int gen_chain_table(int argc, char **argv)
{
    static const struct option options[] = {
        {"nodes", required_argument, NULL, 'n'}, {"disks", required_argument, NULL, 'd'},
        {"targets-per-disk", required_argument, NULL, 't'}, {"replicas", required_argument, NULL, 'r'},
        {"first-chain-id", required_argument, NULL, 'f'}, {"chains-out", required_argument, NULL, 'c'},
        {"table-out", required_argument, NULL, 'o'}, {NULL, 0, NULL, 0}};
    static uint32_t node_ids[CHAIN_TABLE_NODES_MAX];
    struct chain_table_request request = {.node_ids = node_ids, .first_chain_id = 1};
    const char *chains_path = NULL, *table_path = NULL;
    int64_t number;
    int option;
    bool ok = true;
    optind = 1;
    while (ok && (option = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (option == 'n')
            ok = (request.node_count = parse_node_list(optarg, node_ids, CHAIN_TABLE_NODES_MAX)) > 0;
        else if (option == 'c')
            chains_path = optarg;
        else if (option == 'o')
            table_path = optarg;
        else if (strchr("dtrf", option) && config_parse_int(optarg, &number) && number >= 0 &&
                 number <= UINT32_MAX)
            *(option == 'd' ? &request.disks_per_node : option == 't' ? &request.targets_per_disk
              : option == 'r' ? &request.replicas : &request.first_chain_id) = (uint32_t)number;
        else
            ok = false;
    }
    if (!ok || !chains_path || !table_path || optind != argc) {
        fprintf(stderr, "usage: chainfs admin gen-chain-table --nodes ID,ID,... --disks N "
                        "--targets-per-disk N --replicas N [--first-chain-id ID] "
                        "--chains-out FILE --table-out FILE\n");
        return 2;
    }
    struct chain_table_plan plan;
    int status = chain_table_generate(&request, &plan);
    if (status != 0) {
        fprintf(stderr, "chainfs admin gen-chain-table: impossible layout: replicas must be 1 to 16 "
                        "and at most the number of nodes, and nodes x disks x targets-per-disk "
                        "divisible by replicas (%s)\n", chainfs_error_message(status));
        return 2;
    }
    status = write_plan(&plan, chains_path, table_path);
    if (status == 0)
        printf("%u chains of %u replicas over %u nodes: %s, %s\n", plan.chain_count, plan.replicas,
               plan.node_count, chains_path, table_path);
    chain_table_plan_free(&plan);
    return status == 0 ? 0 : 1;
}

static int run_admin_command(struct admin *admin, int argc, char **argv)
{
    const char *command = argv[0];
    if (strcmp(command, "status") == 0)
        return show_status(admin);
    if (strcmp(command, "list-nodes") == 0)
        return list_nodes(admin);
    if (strcmp(command, "list-targets") == 0)
        return list_targets(admin);
    if (strcmp(command, "list-chains") == 0)
        return list_chains(admin);
    if (strcmp(command, "list-chain-tables") == 0)
        return list_chain_tables(admin);
    if (strcmp(command, "upload-chains") == 0)
        return upload_chains(admin, argc, argv);
    if (strcmp(command, "upload-chain-table") == 0)
        return upload_chain_table(admin, argc, argv);
    if (strcmp(command, "init-cluster") == 0)
        return init_cluster(admin, argc, argv);
    if (strcmp(command, "offline-target") == 0 || strcmp(command, "online-target") == 0)
        return switch_target(admin, argc, argv, command[1] == 'f');
    if (strcmp(command, "enable-node") == 0 || strcmp(command, "disable-node") == 0)
        return switch_node(admin, argc, argv, command[0] == 'e');
    if (strcmp(command, "unregister-node") == 0)
        return unregister_node(admin, argc, argv);
    if (strcmp(command, "set-config") == 0)
        return set_config(admin, argc, argv);
    if (strcmp(command, "get-config") == 0)
        return get_config(admin, argc, argv);
    if (strcmp(command, "list-client-sessions") == 0)
        return list_client_sessions(admin);
    if (strcmp(command, "create-targets") == 0)
        return admin_create_targets(&admin->mgmtd, argc, argv);
    if (strcmp(command, "storage-status") == 0)
        return admin_storage_status(&admin->mgmtd, admin->json);
    fprintf(stderr, "chainfs admin: unknown command '%s'\n\n", command);
    print_admin_usage(stderr);
    return 2;
}

int command_admin(int argc, char **argv)
{
    const char *addresses = getenv("CHAINFS_MGMTD");
    struct admin admin = {.json = false};
    int first = 1;
    while (first < argc && argv[first][0] == '-') {
        if (strcmp(argv[first], "--json") == 0) {
            admin.json = true;
            first++;
        } else if (strcmp(argv[first], "--mgmtd") == 0 && first + 1 < argc) {
            addresses = argv[first + 1];
            first += 2;
        } else {
            print_admin_usage(strcmp(argv[first], "--help") == 0 ? stdout : stderr);
            return strcmp(argv[first], "--help") == 0 ? 0 : 2;
        }
    }
    if (first == argc) {
        print_admin_usage(stderr);
        return 2;
    }
    if (strcmp(argv[first], "gen-chain-table") == 0)
        return gen_chain_table(argc - first, argv + first);
    if (!addresses) {
        fprintf(stderr, "chainfs admin: no mgmtd address: pass --mgmtd HOST:PORT or set CHAINFS_MGMTD\n");
        return 2;
    }
    log_set_level(LOG_LEVEL_ERROR);
    struct rpc_client_options options;
    rpc_client_default_options(&options);
    struct rpc_client *rpc;
    if (rpc_client_create(&options, &rpc) != 0)
        return 1;
    int code;
    if (mgmtd_client_init(&admin.mgmtd, rpc, addresses, 5 * CLOCK_NS_PER_S) != 0) {
        fprintf(stderr, "chainfs admin: bad mgmtd address list '%s'\n", addresses);
        code = 2;
    } else {
        code = run_admin_command(&admin, argc - first, argv + first);
    }
    rpc_client_destroy(rpc);
    return code;
}
