/*
 * mgmtd_keys.h - where the cluster manager keeps its state in the KV store.
 *
 * Every kind of record has its own 4-byte prefix (DESIGN §4) so that it is one
 * contiguous range; ids are big-endian after the prefix so that ranges list in id
 * order. Singletons share the prefix "SING".
 *
 *   SING mgmtd-lease-holder    lease holder: u64 epoch, u32 node id, string address
 *   SING mgmtd-lease-renewal   u64 renewal counter of the current primary
 *   SING routing-version       u64 version of the routing info
 *   SING cluster               cluster settings written by init-cluster
 *   NODE <u32 node id>         a registered node
 *   TGIF <u64 target id>       a target: its node, disk, states, space
 *   CHIF <u32 chain id>        a chain: version, ordered targets with public states
 *   CHIT <u32 table id><u32 version>   a chain table version: its chain ids
 *   CONF <u8 node type><u64 version>   a config text for a node type
 *   CLSE <client id>           a client session
 */
#ifndef CHAINFS_MGMTD_MGMTD_KEYS_H
#define CHAINFS_MGMTD_MGMTD_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define MGMTD_KEY_LEASE_HOLDER "SINGmgmtd-lease-holder"
#define MGMTD_KEY_LEASE_HOLDER_LENGTH (sizeof(MGMTD_KEY_LEASE_HOLDER) - 1)
#define MGMTD_KEY_LEASE_RENEWAL "SINGmgmtd-lease-renewal"
#define MGMTD_KEY_LEASE_RENEWAL_LENGTH (sizeof(MGMTD_KEY_LEASE_RENEWAL) - 1)
#define MGMTD_KEY_ROUTING_VERSION "SINGrouting-version"
#define MGMTD_KEY_ROUTING_VERSION_LENGTH (sizeof(MGMTD_KEY_ROUTING_VERSION) - 1)
#define MGMTD_KEY_CLUSTER "SINGcluster"
#define MGMTD_KEY_CLUSTER_LENGTH (sizeof(MGMTD_KEY_CLUSTER) - 1)

#define MGMTD_KEY_MAX 80 /* the longest: CLSE + a 64-byte client id */

/* Each builder writes the key into out[MGMTD_KEY_MAX] and returns its length. */
size_t mgmtd_key_node(uint8_t *out, uint32_t node_id);
size_t mgmtd_key_node_incarnation(uint8_t *out, uint32_t node_id);
size_t mgmtd_key_target(uint8_t *out, uint64_t target_id);
size_t mgmtd_key_chain(uint8_t *out, uint32_t chain_id);
size_t mgmtd_key_chain_table(uint8_t *out, uint32_t table_id, uint32_t version);

size_t mgmtd_key_config(uint8_t *out, uint8_t node_type, uint64_t version);
size_t mgmtd_key_client_session(uint8_t *out, const char *client_id);

/* The range [begin, end) of every record with a prefix ("NODE", "TGIF", ...). */
void mgmtd_key_prefix_range(const char prefix[4], uint8_t begin[4], uint8_t end[4]);

#endif /* CHAINFS_MGMTD_MGMTD_KEYS_H */
