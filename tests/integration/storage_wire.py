"""Python side of the storage protocol (src/storage/storage_protocol.h) for tests: an
independent codec, so the C encoders and decoders are checked against a second
reading of the header, not against themselves."""
import itertools
import struct

import chainfs_wire as wire

STORAGE_SERVICE = 2
(WRITE, UPDATE, BATCH_READ, QUERY_LAST_CHUNK, REMOVE_CHUNKS, TRUNCATE_CHUNK, SPACE_INFO,
 DUMP_CHUNKS, CREATE_TARGET, SYNC_DONE, REMOVE_LISTED) = range(1, 12)
REMOVE_LISTED_MAX = 1024
UPDATE_WRITE, UPDATE_TRUNCATE, UPDATE_REPLACE, UPDATE_REMOVE = 1, 2, 3, 4
READ_RELAXED = 1

OK, INVALID_ARGUMENT, NOT_FOUND, EXISTS = 0, 1, 2, 3
TIMEOUT = 6
MALFORMED, BUSY, CHECKSUM = 10, 14, 17
ROUTING_STALE, NOT_COMMITTED = 33, 34

_ids = itertools.count(1)


def chunk_id(inode, index):
    return struct.pack(">QQ", inode, index)


def tag(client_id=b"", channel=0, sequence=0):
    return client_id.ljust(16, b"\0")[:16] + struct.pack("<IQ", channel, sequence)


def call(address, method, message=b"", payload=b"", timeout=10.0, timeout_us=0):
    """One call; returns (status, reply message, reply payload)."""
    with wire.connect(address, timeout=timeout) as sock:
        request_id = next(_ids)
        data = wire.frame(request_id, STORAGE_SERVICE, method, message, payload)
        if timeout_us:
            # The envelope's timeout field sits at header (24) + 16.
            data = rewrite_timeout(data, timeout_us)
        sock.sendall(data)
        got_id, status, reply, reply_payload = wire.read_reply(sock)
        assert got_id == request_id
        return status, reply, reply_payload


def rewrite_timeout(data, timeout_us):
    header, body = data[:24], data[24:]
    body = body[:16] + struct.pack("<Q", timeout_us) + body[24:]
    magic, version, flags, body_length, payload_length, payload_crc, _ = struct.unpack(
        "<IHHIIII", header)
    envelope_and_message = body[:body_length]
    crc = wire.crc32c(header[:20] + envelope_and_message)
    return header[:20] + struct.pack("<I", crc) + body


def write_message(target, chain, chain_version, chunk, offset, length, chunk_size, client_tag=None):
    return (struct.pack("<QIQ", target, chain, chain_version) + chunk +
            struct.pack("<QII", offset, length, chunk_size) + (client_tag or tag()))


def commit_reply(message):
    """(version, length, crc)"""
    assert len(message) == 20, message
    return struct.unpack("<QQI", message)


def write(address, target, chain, chain_version, chunk, offset, data, chunk_size=1 << 20,
          client_tag=None):
    return call(address, WRITE, write_message(target, chain, chain_version, chunk, offset,
                                              len(data), chunk_size, client_tag), data)


def truncate(address, target, chain, chain_version, chunk, length, chunk_size=1 << 20):
    message = struct.pack("<QIQ", target, chain, chain_version) + chunk + struct.pack(
        "<QI", length, chunk_size)
    return call(address, TRUNCATE_CHUNK, message)


def read_item(target, chain, chunk, offset, length, flags=0):
    return struct.pack("<QI", target, chain) + chunk + struct.pack("<QIB", offset, length, flags)


def batch_read(address, items):
    """items: list of (target, chain, chunk, offset, length[, flags]). Returns
    (status, [(status, length, version, chunk_length, crc, data)], raw reply)."""
    message = struct.pack("<I", len(items)) + b"".join(read_item(*item) for item in items)
    status, reply, payload = call(address, BATCH_READ, message)
    if status != OK:
        return status, [], reply
    (count,) = struct.unpack("<I", reply[:4])
    assert count == len(items) and len(reply) == 4 + 28 * count
    results, offset = [], 0
    for i in range(count):
        item_status, length, version, chunk_length, crc = struct.unpack(
            "<IIQQI", reply[4 + 28 * i:32 + 28 * i])
        requested = items[i][4]
        results.append((item_status, length, version, chunk_length, crc,
                        payload[offset:offset + length]))
        offset += requested
    assert len(payload) == offset
    return status, results, reply


def last_chunk(address, target, chain, inode):
    status, reply, _ = call(address, QUERY_LAST_CHUNK, struct.pack("<QIQ", target, chain, inode))
    if status != OK:
        return status, None
    found, index, length, version, pending = struct.unpack("<?QQQ?", reply)
    return status, (found, index, length, version, pending)


def remove_chunks(address, target, chain, chain_version, inode, first, end):
    status, reply, _ = call(address, REMOVE_CHUNKS, struct.pack(
        "<QIQQQQ", target, chain, chain_version, inode, first, end))
    return status, struct.unpack("<Q", reply)[0] if status == OK else reply


def remove_listed_message(target, chain, chain_version, inode, indexes):
    return struct.pack("<QIQQI", target, chain, chain_version, inode, len(indexes)) + b"".join(
        struct.pack("<Q", index) for index in indexes)


def remove_listed(address, target, chain, chain_version, inode, indexes):
    """What a predecessor forwards: remove exactly these chunk indexes (ascending)."""
    status, reply, _ = call(address, REMOVE_LISTED,
                            remove_listed_message(target, chain, chain_version, inode, indexes))
    return status, struct.unpack("<Q", reply)[0] if status == OK else reply


TARGET_INFO = struct.Struct("<QIIBBQQQQ?QQQQ")
TARGET_INFO_FIELDS = ("target_id", "disk_index", "chain_id", "local_state", "public_state",
                      "used_bytes", "capacity_bytes", "chunks", "pending_chunks", "sync_active",
                      "sync_chunks_transferred", "sync_chunks_removed", "sync_bytes_transferred",
                      "sync_rounds_completed")


def space_info(address):
    status, reply, _ = call(address, SPACE_INFO)
    assert status == OK, (status, reply)
    (count,) = struct.unpack("<I", reply[:4])
    assert len(reply) == 4 + count * TARGET_INFO.size
    return [dict(zip(TARGET_INFO_FIELDS, TARGET_INFO.unpack_from(reply, 4 + i * TARGET_INFO.size)))
            for i in range(count)]


RECORD = struct.Struct("<16sQQQIQQQI")


def dump_chunks(address, target, page=1000):
    """All chunk records of a target: {chunk id: (committed (v, chain v, len, crc),
    pending (...))}."""
    records, after = {}, None
    for _ in range(100000):
        message = struct.pack("<Q?", target, after is not None) + (after or b"\0" * 16) + \
            struct.pack("<I", page)
        status, reply, _ = call(address, DUMP_CHUNKS, message)
        assert status == OK, (status, reply)
        (count,) = struct.unpack("<I", reply[:4])
        assert len(reply) == 4 + count * RECORD.size + 1
        for i in range(count):
            fields = RECORD.unpack_from(reply, 4 + i * RECORD.size)
            records[fields[0]] = (fields[1:5], fields[5:9])
            after = fields[0]
        if not reply[-1]:
            return records
    raise AssertionError("dump did not end")


def create_target(address, target, disk=0):
    status, reply, _ = call(address, CREATE_TARGET, struct.pack("<QI", target, disk))
    return status, (reply[0] == 1) if status == OK else reply


def update_message(target, chain, chain_version, chunk, kind, offset, length, chunk_size,
                   update_version, chunk_chain_version, expected_crc, expected_length):
    return (struct.pack("<QIQ", target, chain, chain_version) + chunk +
            struct.pack("<BQIIQQIQ", kind, offset, length, chunk_size, update_version,
                        chunk_chain_version, expected_crc, expected_length) + tag())
