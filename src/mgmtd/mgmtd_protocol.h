/*
 * mgmtd_protocol.h - the cluster manager's RPC methods and their messages.
 *
 * All integers little-endian (common/wire.h); strings and lists length-prefixed.
 *
 *   GET_PRIMARY      -> u32 node id, string address, u64 epoch (0: no primary yet)
 *   HEARTBEAT        u32 node id, u8 node type, string address, u32 target count,
 *                    per target: u64 target id, u32 disk index, u8 local state,
 *                    u64 used bytes, u64 capacity bytes
 *                    -> u64 routing version
 *   GET_ROUTING_INFO u64 version the caller has (0: none)
 *                    -> u64 current version, bool included, then if included the
 *                       routing info (routing_info.h); included unless the caller's
 *                       version is current
 *   SET_CHAINS       u32 count, per chain: u32 chain id, u8 n, n x u64 target id
 *                    -> u32 chains created
 *   SET_CHAIN_TABLE  u32 table id, u32 count, count x u32 chain id -> u32 new version
 *   INIT_CLUSTER     u32 chunk size, u32 stripe size, u32 default table id, bool force
 *                    -> empty
 *
 * Every method but GET_PRIMARY and GET_ROUTING_INFO changes state and is answered
 * only by the primary; the others answer CHAINFS_NOT_PRIMARY and the caller asks
 * GET_PRIMARY where to go.
 */
#ifndef CHAINFS_MGMTD_MGMTD_PROTOCOL_H
#define CHAINFS_MGMTD_MGMTD_PROTOCOL_H

#define MGMTD_SERVICE_ID 1

enum mgmtd_method {
    MGMTD_METHOD_GET_PRIMARY = 1,
    MGMTD_METHOD_HEARTBEAT = 2,
    MGMTD_METHOD_GET_ROUTING_INFO = 3,
    MGMTD_METHOD_SET_CHAINS = 4,
    MGMTD_METHOD_SET_CHAIN_TABLE = 5,
    MGMTD_METHOD_INIT_CLUSTER = 6,
};

#endif /* CHAINFS_MGMTD_MGMTD_PROTOCOL_H */
