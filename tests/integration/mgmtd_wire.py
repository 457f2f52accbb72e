"""Python side of the mgmtd protocol (src/mgmtd/mgmtd_protocol.h) for tests: lets a test
act as a storage node that heartbeats with targets whose local state it controls."""
import itertools
import struct

import chainfs_wire as wire

MGMTD_SERVICE = 1
GET_PRIMARY, HEARTBEAT, GET_ROUTING_INFO, SET_CHAINS, SET_CHAIN_TABLE, INIT_CLUSTER = 1, 2, 3, 4, 5, 6
NODE_STORAGE = 3
UP_TO_DATE, ONLINE, OFFLINE = 1, 2, 3
NOT_PRIMARY = 26

_ids = itertools.count(1)


def wire_string(text):
    data = text.encode()
    return struct.pack("<I", len(data)) + data


def call(address, method, message=b"", timeout=5.0):
    """One call; returns (status, reply message)."""
    with wire.connect(address, timeout=timeout) as sock:
        request_id = next(_ids)
        sock.sendall(wire.frame(request_id, MGMTD_SERVICE, method, message))
        got_id, status, reply, _ = wire.read_reply(sock)
        assert got_id == request_id
        return status, reply


def get_primary(address, timeout=5.0):
    status, reply = call(address, GET_PRIMARY, timeout=timeout)
    assert status == 0
    node_id, length = struct.unpack("<II", reply[:8])
    primary = reply[8:8 + length].decode()
    (epoch,) = struct.unpack("<Q", reply[8 + length:16 + length])
    return node_id, primary, epoch


def heartbeat_message(node_id, address, targets, node_type=NODE_STORAGE):
    """targets: list of (target_id, disk, local_state, used, capacity)."""
    message = struct.pack("<IB", node_id, node_type) + wire_string(address)
    message += struct.pack("<I", len(targets))
    for target_id, disk, local, used, capacity in targets:
        message += struct.pack("<QIBQQ", target_id, disk, local, used, capacity)
    return message


def heartbeat(address, node_id, node_address, targets):
    return call(address, HEARTBEAT, heartbeat_message(node_id, node_address, targets))
