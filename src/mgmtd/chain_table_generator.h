/*
 * chain_table_generator.h - `chainfs admin gen-chain-table`: from storage nodes x
 * disks x targets per disk x replicas, the chains and the chain table an admin
 * uploads (upload-chains, upload-chain-table).
 *
 * Pure: no I/O but the FILE streams the writers are given, and the same request
 * always gives the same plan, byte for byte.
 *
 * Target ids. They follow 3FS's convention, so they can be derived (by
 * create-targets, by an operator reading a log) from where the target lives:
 *
 *     target_id = node_id * 1,000,000 + disk_index * 1,000 + target_index + 1
 *
 * with disk_index in 0..999 and target_index in 0..998: node 11, disk 2, its first
 * target is 11002001. Requests with more disks or targets per disk than that are
 * rejected, since their ids would run into the next disk or node.
 *
 * Placement. Every target is in exactly one chain, and each chain has `replicas`
 * targets on distinct nodes. Chains are built one at a time and each is filled
 * node by node with the best node that still has free targets, by these keys:
 *   1. a node with as many free targets as there are chains left to build (this
 *      one included) comes first: it must be in every remaining chain. This alone
 *      keeps the plan feasible: while no node has more free targets than chains are
 *      left, at most `replicas` nodes are at that limit and at least `replicas`
 *      nodes have free targets (the free targets add up to replicas x chains left),
 *      so the chain can always be filled and the condition holds again after it.
 *      It holds at the start because replicas <= nodes;
 *   2. fewest chains already shared with the nodes chosen for this chain (summed),
 *      then fewest shared with any one of them: spreads each node's chains over as
 *      many different peers as possible, and as evenly as possible;
 *   3. most free targets, so nodes are used up evenly;
 *   4. a rotation by chain number, so ties do not always go to the first node.
 * This is a greedy approximation of a balanced incomplete block design (3FS
 * computes one with an integer program). It is good enough: it makes every node
 * share chains with every other one whenever a node is in enough chains for that
 * (3x1x6x3, 5x2x6x3, 8x1x12x3, 4 nodes x 2 replicas and most small layouts), and
 * otherwise misses few peers (180 nodes x 10 disks x 9 targets x 3 replicas: each
 * node reaches at least 168 of its 179 peers) while keeping the chains any two
 * nodes share within a few of the even share. That spreads the recovery of a
 * failed node over many peers, which is what matters.
 * A node's targets are handed out round robin over its disks, so consecutive chains
 * of a node land on different disks.
 *
 * Heads. The head takes the writes of its chain, so heads are balanced exactly:
 * each chain first takes as head its member that heads the fewest chains so far,
 * then a repair pass moves heads along chains (like augmenting paths in a flow)
 * until every node heads floor(chains / nodes) or one more. Such an assignment
 * always exists because every node is in the same number of chains. The other
 * members follow the head in the order they were chosen.
 */
#ifndef CHAINFS_MGMTD_CHAIN_TABLE_GENERATOR_H
#define CHAINFS_MGMTD_CHAIN_TABLE_GENERATOR_H

#include <stdint.h>
#include <stdio.h>

#define CHAIN_TABLE_NODES_MAX 1024 /* the generator keeps a nodes x nodes matrix */
#define CHAIN_TABLE_DISKS_MAX 1000
#define CHAIN_TABLE_TARGETS_PER_DISK_MAX 999

struct chain_table_request {
    const uint32_t *node_ids; /* storage nodes, each non-zero and listed once */
    uint32_t node_count;
    uint32_t disks_per_node;   /* 1..CHAIN_TABLE_DISKS_MAX */
    uint32_t targets_per_disk; /* 1..CHAIN_TABLE_TARGETS_PER_DISK_MAX */
    uint32_t replicas;         /* chain length: 1..CHAIN_TARGETS_MAX, <= node_count */
    uint32_t first_chain_id;   /* id of the first chain; 0 means 1 */
};

/* The generated chains: chain i has id first_chain_id + i and its targets at
 * target_ids[i * replicas ...], head first. */
struct chain_table_plan {
    uint32_t chain_count;
    uint32_t replicas;
    uint32_t first_chain_id;
    uint64_t *target_ids;
    uint32_t node_count;
    uint32_t *node_ids; /* as in the request */
};

/* Placement figures for one node, to judge a plan. */
struct chain_table_node_stats {
    uint32_t node_id;
    uint32_t chains;     /* chains with a target on this node */
    uint32_t heads;      /* chains whose head is on this node */
    uint32_t peers;      /* other nodes sharing at least one chain with it */
    uint32_t min_shared; /* fewest chains shared with one other node (0 if some share none) */
    uint32_t max_shared; /* most chains shared with one other node */
};

/* The target id of target target_index (0-based) on disk disk_index of node_id,
 * by the convention above. */
uint64_t chain_table_target_id(uint32_t node_id, uint32_t disk_index, uint32_t target_index);

/* The node a target id of that convention lives on. */
uint32_t chain_table_target_node(uint64_t target_id);

/* Checks a request: node ids non-zero and distinct, at most CHAIN_TABLE_NODES_MAX;
 * disks, targets per disk and replicas in range; replicas <= node count; the number
 * of targets divisible by replicas; at most CHAIN_TABLE_CHAINS_MAX chains, their ids
 * within uint32. Returns CHAINFS_OK or CHAINFS_INVALID_ARGUMENT. */
int chain_table_request_validate(const struct chain_table_request *request);

/* Builds the plan for a valid request (see the top of this file). On success the
 * caller frees it with chain_table_plan_free. Returns CHAINFS_OK,
 * CHAINFS_INVALID_ARGUMENT (the plan is left empty) or CHAINFS_NO_MEMORY. */
int chain_table_generate(const struct chain_table_request *request, struct chain_table_plan *plan);

/* Frees what chain_table_generate allocated and empties the plan; safe on an empty
 * (zeroed or already freed) plan. */
void chain_table_plan_free(struct chain_table_plan *plan);

/* Writes the chains CSV: "ChainId,TargetId,...,TargetId" (one TargetId column per
 * replica), then one line per chain, head first. Returns CHAINFS_OK or CHAINFS_IO. */
int chain_table_plan_write_chains_csv(const struct chain_table_plan *plan, FILE *out);

/* Writes the chain-table CSV: "ChainId", then one chain id per line. Returns
 * CHAINFS_OK or CHAINFS_IO. */
int chain_table_plan_write_table_csv(const struct chain_table_plan *plan, FILE *out);

/* Fills stats[0 .. plan->node_count - 1], one per node in request order. Returns
 * CHAINFS_OK, CHAINFS_NO_MEMORY, or CHAINFS_INVALID_ARGUMENT when a target lies on
 * a node that is not in the plan. */
int chain_table_plan_node_stats(const struct chain_table_plan *plan,
                                struct chain_table_node_stats *stats);

#endif /* CHAINFS_MGMTD_CHAIN_TABLE_GENERATOR_H */
