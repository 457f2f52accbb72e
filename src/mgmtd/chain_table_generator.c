/*
 * chain_table_generator.c - builds the chains of `chainfs admin gen-chain-table`
 * and writes them as the two CSV files. What a plan guarantees, and how placement
 * and head balancing work, is at the top of chain_table_generator.h.
 *
 * Nodes are handled by their index in the request. The generator keeps, per node,
 * its free targets and heads, and a nodes x nodes matrix of chains shared by two
 * nodes; chains are kept as member node indexes and target ids in the order they
 * were chosen, with the position of the head, and are put head first only when the
 * plan is written out.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "chainfs/error.h"
#include "mgmtd/chain_table_generator.h"
#include "mgmtd/cluster_records.h"

#define TARGET_ID_NODE_FACTOR 1000000ULL
#define TARGET_ID_DISK_FACTOR 1000ULL
#define NO_CHAIN UINT32_MAX          /* bfs: node not reached */
#define SOURCE_NODE (UINT32_MAX - 1) /* bfs: node the path starts from */

uint64_t chain_table_target_id(uint32_t node_id, uint32_t disk_index, uint32_t target_index)
{
    return (uint64_t)node_id * TARGET_ID_NODE_FACTOR + disk_index * TARGET_ID_DISK_FACTOR +
           target_index + 1;
}

uint32_t chain_table_target_node(uint64_t target_id)
{
    return (uint32_t)(target_id / TARGET_ID_NODE_FACTOR);
}

static bool node_ids_are_valid(const uint32_t *node_ids, uint32_t node_count)
{
    for (uint32_t i = 0; i < node_count; i++) {
        if (node_ids[i] == 0)
            return false;
        for (uint32_t earlier = 0; earlier < i; earlier++)
            if (node_ids[earlier] == node_ids[i])
                return false;
    }
    return true;
}

int chain_table_request_validate(const struct chain_table_request *request)
{
    if (!request->node_ids || request->node_count < 1 ||
        request->node_count > CHAIN_TABLE_NODES_MAX ||
        !node_ids_are_valid(request->node_ids, request->node_count))
        return CHAINFS_INVALID_ARGUMENT;
    if (request->disks_per_node < 1 || request->disks_per_node > CHAIN_TABLE_DISKS_MAX ||
        request->targets_per_disk < 1 ||
        request->targets_per_disk > CHAIN_TABLE_TARGETS_PER_DISK_MAX)
        return CHAINFS_INVALID_ARGUMENT;
    if (request->replicas < 1 || request->replicas > CHAIN_TARGETS_MAX ||
        request->replicas > request->node_count)
        return CHAINFS_INVALID_ARGUMENT;
    uint64_t targets = (uint64_t)request->node_count * request->disks_per_node *
                       request->targets_per_disk;
    uint64_t chains = targets / request->replicas;
    uint64_t first_chain_id = request->first_chain_id ? request->first_chain_id : 1;
    if (targets % request->replicas != 0 || chains > CHAIN_TABLE_CHAINS_MAX ||
        first_chain_id + chains - 1 > UINT32_MAX)
        return CHAINFS_INVALID_ARGUMENT;
    return CHAINFS_OK;
}

/* ------------------------------------------------------------------- placement */

struct placement {
    const struct chain_table_request *request;
    uint32_t node_count;
    uint32_t replicas;
    uint32_t chain_count;
    uint32_t *free_targets; /* per node */
    uint32_t *used_targets; /* per node: how many were handed out */
    uint32_t *heads;        /* per node */
    uint32_t *shared;       /* [a * node_count + b]: chains holding both a and b */
    uint32_t *member_nodes; /* [chain * replicas + i], in the order chosen */
    uint64_t *member_targets;
    uint32_t *head_positions; /* per chain: index of the head among its members */
    /* scratch for choosing the members of one chain */
    uint32_t *cost;  /* per node: chains shared with the members chosen so far */
    uint32_t *worst; /* per node: most chains shared with one of them */
    bool *chosen;
    /* scratch for moving heads */
    uint32_t *headed_start; /* node_count + 1 offsets into headed */
    uint32_t *headed;       /* chains grouped by head node */
    uint32_t *reached_by;   /* per node: chain it was reached through */
    uint32_t *queue;
};

static void placement_free(struct placement *placement)
{
    free(placement->free_targets);
    free(placement->used_targets);
    free(placement->heads);
    free(placement->shared);
    free(placement->member_nodes);
    free(placement->member_targets);
    free(placement->head_positions);
    free(placement->cost);
    free(placement->worst);
    free(placement->chosen);
    free(placement->headed_start);
    free(placement->headed);
    free(placement->reached_by);
    free(placement->queue);
}

static int placement_init(struct placement *placement, const struct chain_table_request *request)
{
    uint32_t nodes = request->node_count;
    uint32_t per_node = request->disks_per_node * request->targets_per_disk;
    *placement = (struct placement){
        .request = request,
        .node_count = nodes,
        .replicas = request->replicas,
        .chain_count = (uint32_t)((uint64_t)nodes * per_node / request->replicas),
    };
    size_t slots = (size_t)placement->chain_count * request->replicas;
    placement->free_targets = malloc(nodes * sizeof(uint32_t));
    placement->used_targets = calloc(nodes, sizeof(uint32_t));
    placement->heads = calloc(nodes, sizeof(uint32_t));
    placement->shared = calloc((size_t)nodes * nodes, sizeof(uint32_t));
    placement->member_nodes = malloc(slots * sizeof(uint32_t));
    placement->member_targets = malloc(slots * sizeof(uint64_t));
    placement->head_positions = malloc(placement->chain_count * sizeof(uint32_t));
    placement->cost = malloc(nodes * sizeof(uint32_t));
    placement->worst = malloc(nodes * sizeof(uint32_t));
    placement->chosen = malloc(nodes * sizeof(bool));
    placement->headed_start = malloc((nodes + 1) * sizeof(uint32_t));
    placement->headed = malloc(placement->chain_count * sizeof(uint32_t));
    placement->reached_by = malloc(nodes * sizeof(uint32_t));
    placement->queue = malloc(nodes * sizeof(uint32_t));
    if (!placement->free_targets || !placement->used_targets || !placement->heads ||
        !placement->shared || !placement->member_nodes || !placement->member_targets ||
        !placement->head_positions || !placement->cost || !placement->worst ||
        !placement->chosen || !placement->headed_start || !placement->headed ||
        !placement->reached_by || !placement->queue) {
        placement_free(placement);
        return CHAINFS_NO_MEMORY;
    }
    for (uint32_t node = 0; node < nodes; node++)
        placement->free_targets[node] = per_node;
    return CHAINFS_OK;
}

/* True when candidate is a better next member than best (best may be none) for
 * chain number chain: the keys of chain_table_generator.h, in order. */
static bool better_member(const struct placement *placement, uint32_t chain, uint32_t candidate,
                          uint32_t best)
{
    if (best == UINT32_MAX)
        return true;
    uint32_t chains_left = placement->chain_count - chain;
    uint32_t candidate_free = placement->free_targets[candidate];
    uint32_t best_free = placement->free_targets[best];
    if ((candidate_free == chains_left) != (best_free == chains_left))
        return candidate_free == chains_left;
    if (placement->cost[candidate] != placement->cost[best])
        return placement->cost[candidate] < placement->cost[best];
    if (placement->worst[candidate] != placement->worst[best])
        return placement->worst[candidate] < placement->worst[best];
    if (candidate_free != best_free)
        return candidate_free > best_free;
    uint32_t nodes = placement->node_count, start = chain % nodes;
    return (candidate + nodes - start) % nodes < (best + nodes - start) % nodes;
}

/* Takes the next free target of node, its disks in turn. */
static uint64_t take_target(struct placement *placement, uint32_t node)
{
    const struct chain_table_request *request = placement->request;
    uint32_t slot = placement->used_targets[node]++;
    placement->free_targets[node]--;
    return chain_table_target_id(request->node_ids[node], slot % request->disks_per_node,
                                 slot / request->disks_per_node);
}

/* Records that the members of chain were chosen together. */
static void count_shared(struct placement *placement, uint32_t chain)
{
    const uint32_t *members = &placement->member_nodes[(size_t)chain * placement->replicas];
    for (uint32_t i = 0; i < placement->replicas; i++)
        for (uint32_t j = 0; j < placement->replicas; j++)
            if (i != j)
                placement->shared[(size_t)members[i] * placement->node_count + members[j]]++;
}

/* Chooses the members of chain and a first head: the member heading the fewest
 * chains so far. */
static void place_chain(struct placement *placement, uint32_t chain)
{
    uint32_t nodes = placement->node_count;
    uint32_t *members = &placement->member_nodes[(size_t)chain * placement->replicas];
    uint64_t *targets = &placement->member_targets[(size_t)chain * placement->replicas];
    memset(placement->cost, 0, nodes * sizeof(uint32_t));
    memset(placement->worst, 0, nodes * sizeof(uint32_t));
    memset(placement->chosen, 0, nodes * sizeof(bool));
    uint32_t head = 0;
    for (uint32_t i = 0; i < placement->replicas; i++) {
        uint32_t best = UINT32_MAX;
        for (uint32_t node = 0; node < nodes; node++)
            if (!placement->chosen[node] && placement->free_targets[node] > 0 &&
                better_member(placement, chain, node, best))
                best = node;
        /* feasible from the start (replicas <= nodes) and key 1 keeps it so */
        members[i] = best;
        targets[i] = take_target(placement, best);
        placement->chosen[best] = true;
        for (uint32_t node = 0; node < nodes; node++) {
            uint32_t shared = placement->shared[(size_t)node * nodes + best];
            placement->cost[node] += shared;
            if (shared > placement->worst[node])
                placement->worst[node] = shared;
        }
        if (placement->heads[best] < placement->heads[members[head]])
            head = i;
    }
    placement->head_positions[chain] = head;
    placement->heads[members[head]]++;
    count_shared(placement, chain);
}

/* ------------------------------------------------------------------ head moves */

static uint32_t head_node(const struct placement *placement, uint32_t chain)
{
    return placement->member_nodes[(size_t)chain * placement->replicas +
                                   placement->head_positions[chain]];
}

/* Groups the chains by head node (headed_start, headed). */
static void index_chains_by_head(struct placement *placement)
{
    uint32_t nodes = placement->node_count;
    memset(placement->headed_start, 0, (nodes + 1) * sizeof(uint32_t));
    for (uint32_t chain = 0; chain < placement->chain_count; chain++)
        placement->headed_start[head_node(placement, chain) + 1]++;
    for (uint32_t node = 0; node < nodes; node++)
        placement->headed_start[node + 1] += placement->headed_start[node];
    memcpy(placement->reached_by, placement->headed_start, nodes * sizeof(uint32_t));
    for (uint32_t chain = 0; chain < placement->chain_count; chain++)
        placement->headed[placement->reached_by[head_node(placement, chain)]++] = chain;
}

/* Makes node the head of chain. */
static void set_head(struct placement *placement, uint32_t chain, uint32_t node)
{
    const uint32_t *members = &placement->member_nodes[(size_t)chain * placement->replicas];
    placement->heads[head_node(placement, chain)]--;
    for (uint32_t i = 0; i < placement->replicas; i++)
        if (members[i] == node)
            placement->head_positions[chain] = i;
    placement->heads[node]++;
}

/*
 * Looks, breadth first, for a path from a node heading at least source_heads chains
 * to one heading at most sink_heads, where each step goes from the head of a chain
 * to another member of it, and moves the head of every chain on the path one step
 * along. The first node heads one chain less, the last one more, and every node in
 * between as many as before. Returns false when there is no such path.
 */
static bool move_heads_along_a_path(struct placement *placement, uint32_t source_heads,
                                    uint32_t sink_heads)
{
    uint32_t nodes = placement->node_count, queued = 0, sink = UINT32_MAX;
    index_chains_by_head(placement);
    for (uint32_t node = 0; node < nodes; node++) {
        placement->reached_by[node] = NO_CHAIN;
        if (placement->heads[node] >= source_heads) {
            placement->reached_by[node] = SOURCE_NODE;
            placement->queue[queued++] = node;
        }
    }
    for (uint32_t next = 0; next < queued && sink == UINT32_MAX; next++) {
        uint32_t from = placement->queue[next];
        for (uint32_t k = placement->headed_start[from];
             k < placement->headed_start[from + 1] && sink == UINT32_MAX; k++) {
            uint32_t chain = placement->headed[k];
            const uint32_t *members = &placement->member_nodes[(size_t)chain * placement->replicas];
            for (uint32_t i = 0; i < placement->replicas && sink == UINT32_MAX; i++) {
                uint32_t to = members[i];
                if (placement->reached_by[to] != NO_CHAIN)
                    continue;
                placement->reached_by[to] = chain;
                placement->queue[queued++] = to;
                if (placement->heads[to] <= sink_heads)
                    sink = to;
            }
        }
    }
    if (sink == UINT32_MAX)
        return false;
    for (uint32_t node = sink; placement->reached_by[node] != SOURCE_NODE;) {
        uint32_t chain = placement->reached_by[node];
        uint32_t previous = head_node(placement, chain);
        set_head(placement, chain, node);
        node = previous;
    }
    return true;
}

/*
 * Moves heads until every node heads floor(chains / nodes) = q chains or q + 1.
 * First nodes with q + 2 or more give one to a node with q or fewer, then nodes
 * with fewer than q take one from a node with q + 1. Both paths always exist: were
 * the nodes reachable from the givers all above the even share chains / nodes, the
 * chains headed there would all lie there, more chains than those nodes can hold
 * (each node is in the same number of chains); the taker case is the mirror image.
 * Should it ever fail anyway, the plan stays valid, only less balanced.
 */
static void balance_heads(struct placement *placement)
{
    uint32_t even = placement->chain_count / placement->node_count;
    for (;;) {
        uint32_t most = 0, fewest = UINT32_MAX;
        for (uint32_t node = 0; node < placement->node_count; node++) {
            if (placement->heads[node] > most)
                most = placement->heads[node];
            if (placement->heads[node] < fewest)
                fewest = placement->heads[node];
        }
        bool moved;
        if (most >= even + 2)
            moved = move_heads_along_a_path(placement, even + 2, even);
        else if (fewest < even)
            moved = move_heads_along_a_path(placement, even + 1, even - 1);
        else
            return;
        if (!moved)
            return;
    }
}

/* --------------------------------------------------------------------- the plan */

/* Copies the chains into the plan, head first. */
static void fill_plan(const struct placement *placement, struct chain_table_plan *plan)
{
    uint32_t replicas = placement->replicas;
    for (uint32_t chain = 0; chain < placement->chain_count; chain++) {
        const uint64_t *targets = &placement->member_targets[(size_t)chain * replicas];
        uint64_t *out = &plan->target_ids[(size_t)chain * replicas];
        uint32_t head = placement->head_positions[chain], written = 0;
        out[written++] = targets[head];
        for (uint32_t i = 0; i < replicas; i++)
            if (i != head)
                out[written++] = targets[i];
    }
}

int chain_table_generate(const struct chain_table_request *request, struct chain_table_plan *plan)
{
    memset(plan, 0, sizeof(*plan));
    int status = chain_table_request_validate(request);
    if (status != CHAINFS_OK)
        return status;
    struct placement placement;
    status = placement_init(&placement, request);
    if (status != CHAINFS_OK)
        return status;
    plan->target_ids = malloc((size_t)placement.chain_count * request->replicas * sizeof(uint64_t));
    plan->node_ids = malloc(request->node_count * sizeof(uint32_t));
    if (!plan->target_ids || !plan->node_ids) {
        placement_free(&placement);
        chain_table_plan_free(plan);
        return CHAINFS_NO_MEMORY;
    }
    for (uint32_t chain = 0; chain < placement.chain_count; chain++)
        place_chain(&placement, chain);
    balance_heads(&placement);
    fill_plan(&placement, plan);
    plan->chain_count = placement.chain_count;
    plan->replicas = request->replicas;
    plan->first_chain_id = request->first_chain_id ? request->first_chain_id : 1;
    plan->node_count = request->node_count;
    memcpy(plan->node_ids, request->node_ids, request->node_count * sizeof(uint32_t));
    placement_free(&placement);
    return CHAINFS_OK;
}

void chain_table_plan_free(struct chain_table_plan *plan)
{
    free(plan->target_ids);
    free(plan->node_ids);
    memset(plan, 0, sizeof(*plan));
}

/* ---------------------------------------------------------------------- CSV */

int chain_table_plan_write_chains_csv(const struct chain_table_plan *plan, FILE *out)
{
    if (fputs("ChainId", out) < 0)
        return CHAINFS_IO;
    for (uint32_t i = 0; i < plan->replicas; i++)
        if (fputs(",TargetId", out) < 0)
            return CHAINFS_IO;
    if (fputc('\n', out) == EOF)
        return CHAINFS_IO;
    for (uint32_t chain = 0; chain < plan->chain_count; chain++) {
        if (fprintf(out, "%u", plan->first_chain_id + chain) < 0)
            return CHAINFS_IO;
        for (uint32_t i = 0; i < plan->replicas; i++)
            if (fprintf(out, ",%" PRIu64, plan->target_ids[(size_t)chain * plan->replicas + i]) < 0)
                return CHAINFS_IO;
        if (fputc('\n', out) == EOF)
            return CHAINFS_IO;
    }
    return ferror(out) ? CHAINFS_IO : CHAINFS_OK;
}

int chain_table_plan_write_table_csv(const struct chain_table_plan *plan, FILE *out)
{
    if (fputs("ChainId\n", out) < 0)
        return CHAINFS_IO;
    for (uint32_t chain = 0; chain < plan->chain_count; chain++)
        if (fprintf(out, "%u\n", plan->first_chain_id + chain) < 0)
            return CHAINFS_IO;
    return ferror(out) ? CHAINFS_IO : CHAINFS_OK;
}

/* ---------------------------------------------------------------------- stats */

/* The index of node_id in the plan, or UINT32_MAX. */
static uint32_t node_index(const struct chain_table_plan *plan, uint32_t node_id)
{
    for (uint32_t i = 0; i < plan->node_count; i++)
        if (plan->node_ids[i] == node_id)
            return i;
    return UINT32_MAX;
}

/* Fills chains, heads and the shared matrix from the plan's chains. */
static int count_plan(const struct chain_table_plan *plan, struct chain_table_node_stats *stats,
                      uint32_t *shared)
{
    uint32_t members[CHAIN_TARGETS_MAX] = {0};
    for (uint32_t chain = 0; chain < plan->chain_count; chain++) {
        for (uint32_t i = 0; i < plan->replicas; i++) {
            uint64_t target = plan->target_ids[(size_t)chain * plan->replicas + i];
            members[i] = node_index(plan, chain_table_target_node(target));
            if (members[i] == UINT32_MAX)
                return CHAINFS_INVALID_ARGUMENT;
            stats[members[i]].chains++;
        }
        stats[members[0]].heads++;
        for (uint32_t i = 0; i < plan->replicas; i++)
            for (uint32_t j = 0; j < plan->replicas; j++)
                if (i != j)
                    shared[(size_t)members[i] * plan->node_count + members[j]]++;
    }
    return CHAINFS_OK;
}

int chain_table_plan_node_stats(const struct chain_table_plan *plan,
                                struct chain_table_node_stats *stats)
{
    uint32_t nodes = plan->node_count;
    if (plan->chain_count > 0 && (plan->replicas < 1 || plan->replicas > CHAIN_TARGETS_MAX))
        return CHAINFS_INVALID_ARGUMENT;
    uint32_t *shared = calloc((size_t)nodes * nodes + 1, sizeof(uint32_t));
    if (!shared)
        return CHAINFS_NO_MEMORY;
    for (uint32_t node = 0; node < nodes; node++)
        stats[node] = (struct chain_table_node_stats){.node_id = plan->node_ids[node],
                                                      .min_shared = UINT32_MAX};
    int status = count_plan(plan, stats, shared);
    for (uint32_t node = 0; node < nodes && status == CHAINFS_OK; node++) {
        struct chain_table_node_stats *node_stats = &stats[node];
        for (uint32_t peer = 0; peer < nodes; peer++) {
            if (peer == node)
                continue;
            uint32_t count = shared[(size_t)node * nodes + peer];
            node_stats->peers += count > 0;
            if (count < node_stats->min_shared)
                node_stats->min_shared = count;
            if (count > node_stats->max_shared)
                node_stats->max_shared = count;
        }
        if (node_stats->min_shared == UINT32_MAX)
            node_stats->min_shared = 0; /* the only node */
    }
    free(shared);
    return status;
}
