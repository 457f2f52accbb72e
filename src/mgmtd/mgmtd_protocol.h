/*
 * mgmtd_protocol.h - the cluster manager's RPC methods and their messages.
 *
 * All integers little-endian (common/wire.h); strings and lists length-prefixed.
 *
 *   GET_PRIMARY      -> u32 node id, string address, u64 epoch (0: no primary yet)
 *   HEARTBEAT        u32 node id, u8 node type, string address, u32 target count,
 *                    per target: u64 target id, u32 disk index, u8 local state,
 *                    u64 used bytes, u64 capacity bytes, then optionally u64
 *                    incarnation of the sending process (start time; heartbeats
 *                    of an older process than the newest seen are refused)
 *                    -> u64 routing version, u64 newest config version for the
 *                       node's type (0: none)
 *   GET_ROUTING_INFO u64 version the caller has (0: none)
 *                    -> u64 current version, bool included, then if included the
 *                       routing info (routing_info.h); included unless the caller's
 *                       version is current
 *   SET_CHAINS       u32 count, per chain: u32 chain id, u8 n, n x u64 target id
 *                    -> u32 chains created
 *   SET_CHAIN_TABLE  u32 table id, u32 count, count x u32 chain id -> u32 new version
 *   INIT_CLUSTER     u32 chunk size, u32 stripe size, u32 default table id, bool force
 *                    -> empty
 *   SET_TARGET_OFFLINE u64 target id, bool offline -> empty (held offline by hand, or
 *                    released back to what heartbeats report)
 *   SET_NODE_ENABLED u32 node id, bool enabled -> empty (a disabled node counts as
 *                    failed: its heartbeats are refused and its targets are offline)
 *   SET_CONFIG       u8 node type, string INI text -> u64 new version
 *   GET_CONFIG       u8 node type, u64 version (0: newest) -> u64 version, string text
 *   EXTEND_CLIENT_SESSION string client id, string description -> empty
 *   LIST_CLIENT_SESSIONS -> u32 count, client session records (cluster_records.h)
 *   UNREGISTER_NODE  u32 node id -> empty (removes a node that is down and whose
 *                    targets are in no chain, with those targets)
 *
 * Every method but GET_PRIMARY and GET_ROUTING_INFO changes state and is answered
 * only by the primary; the others answer CHAINFS_NOT_PRIMARY and the caller asks
 * GET_PRIMARY where to go.
 */
#ifndef CHAINFS_MGMTD_MGMTD_PROTOCOL_H
#define CHAINFS_MGMTD_MGMTD_PROTOCOL_H

#define MGMTD_SERVICE_ID 1

/* The largest config text SET_CONFIG accepts (a KV value must hold it). */
#define MGMTD_CONFIG_TEXT_MAX 60000

enum mgmtd_method {
    MGMTD_METHOD_GET_PRIMARY = 1,
    MGMTD_METHOD_HEARTBEAT = 2,
    MGMTD_METHOD_GET_ROUTING_INFO = 3,
    MGMTD_METHOD_SET_CHAINS = 4,
    MGMTD_METHOD_SET_CHAIN_TABLE = 5,
    MGMTD_METHOD_INIT_CLUSTER = 6,
    MGMTD_METHOD_SET_TARGET_OFFLINE = 7,
    MGMTD_METHOD_SET_NODE_ENABLED = 8,
    MGMTD_METHOD_SET_CONFIG = 9,
    MGMTD_METHOD_GET_CONFIG = 10,
    MGMTD_METHOD_EXTEND_CLIENT_SESSION = 11,
    MGMTD_METHOD_LIST_CLIENT_SESSIONS = 12,
    MGMTD_METHOD_UNREGISTER_NODE = 13,
};

#endif /* CHAINFS_MGMTD_MGMTD_PROTOCOL_H */
