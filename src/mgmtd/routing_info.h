/*
 * routing_info.h - the versioned snapshot of the cluster that services and clients
 * route by: nodes, targets, chains and chain tables (every version).
 *
 * Encoding: u64 version, then four lists, each a u32 count followed by records
 * (cluster_records.h): nodes, targets, chains, chain tables. A node's liveness as
 * judged by the primary is node_record.alive.
 */
#ifndef CHAINFS_MGMTD_ROUTING_INFO_H
#define CHAINFS_MGMTD_ROUTING_INFO_H

#include <stddef.h>
#include <stdint.h>

#include "mgmtd/cluster_records.h"

struct kv_transaction;

struct routing_info {
    uint64_t version;
    struct node_record *nodes;
    size_t node_count;
    struct target_record *targets;
    size_t target_count;
    struct chain_record *chains;
    size_t chain_count;
    struct chain_table_record *tables;
    size_t table_count;
};

/* Reads the whole routing info from the store in one transaction. */
int routing_info_load(struct kv_transaction *transaction, struct routing_info *info);

void routing_info_encode(struct wire_writer *writer, const struct routing_info *info);

/* Returns 0 or CHAINFS_MALFORMED; on failure info is left empty. */
int routing_info_decode(struct wire_reader *reader, struct routing_info *info);

void routing_info_free(struct routing_info *info);

/* Lookups (NULL when absent). */
const struct target_record *routing_info_target(const struct routing_info *info, uint64_t target_id);
const struct node_record *routing_info_node(const struct routing_info *info, uint32_t node_id);
const struct chain_record *routing_info_chain(const struct routing_info *info, uint32_t chain_id);

/* Reads / bumps the routing version (SING routing-version). */
int routing_version_read(struct kv_transaction *transaction, uint64_t *version);
int routing_version_bump(struct kv_transaction *transaction);
/* routing_version_read without a read conflict. */
int routing_version_read_snapshot(struct kv_transaction *transaction, uint64_t *version);

#endif /* CHAINFS_MGMTD_ROUTING_INFO_H */
