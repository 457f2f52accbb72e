"""The storage service as real processes: one mgmtd and three `chainfs storage` nodes
with 3-replica chains, driven through an independent Python codec of the storage
protocol (storage_wire.py). CRAQ writes and reads, identical replicas (chunk CRCs
compared on every target), serialized concurrent writers, stale chain versions, bad
requests that change nothing, exactly-once retries, and the loss and recovery of a
replica (SIGKILL, writes on the shortened chain, restart, sync, serving again)."""
import json
import random
import signal
import struct
import subprocess
import threading
import time

import pytest

import storage_wire as s
from conftest import Daemon, chainfs_binary
from test_mgmtd import wait_until

TICK_MS = 100
FAIL_MS = 2000
HEARTBEAT_MS = 100
CHUNK_SIZE = 1 << 20

# node id -> its targets; chain id -> targets, head first.
NODES = {1: [101, 102], 2: [201, 202], 3: [301, 302]}
CHAINS = {1: [101, 201, 301], 2: [202, 302, 102]}


def node_of(target):
    return target // 100


class StorageCluster:
    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        (tmp_path / "mgmtd").mkdir()
        self.mgmtd = Daemon(tmp_path / "mgmtd", subcommand="mgmtd", name="mgmtd",
                            settings=["mgmtd.node_id=1", "mgmtd.lease_length=1000ms",
                                      "mgmtd.tick_interval=%dms" % TICK_MS,
                                      "mgmtd.heartbeat_fail_interval=%dms" % FAIL_MS,
                                      "kv.backend=lmdb", "kv.lmdb_path=%s" % (tmp_path / "kv"),
                                      "kv.durability=nosync"])
        self.nodes = {}
        self.routing = {}  # chain id -> cluster.chain(), as write() last used it
        for node_id in NODES:
            self.start_node(node_id)

    def start_node(self, node_id):
        directory = self.tmp_path / ("storage-%d" % node_id)
        directory.mkdir(exist_ok=True)
        # A killed process leaves its address file: do not read the old port.
        stale = directory / "run" / ("storage-%d.address" % node_id)
        if stale.exists():
            stale.unlink()
        self.nodes[node_id] = Daemon(
            directory, subcommand="storage", name="storage-%d" % node_id,
            settings=["storage.node_id=%d" % node_id, "storage.mgmtd=%s" % self.mgmtd.address,
                      "storage.disks=%s" % (directory / "disk0"),
                      "storage.chunk_size_limit=1MiB", "storage.sync=false",
                      "storage.heartbeat_interval=%dms" % HEARTBEAT_MS,
                      "storage.heartbeat_fail_interval=%dms" % FAIL_MS,
                      "storage.routing_interval=200ms", "rpc.worker_threads=4"])
        return self.nodes[node_id]

    def address(self, target):
        return self.nodes[node_of(target)].address

    def admin(self, *args, expect=0):
        result = subprocess.run([chainfs_binary(), "admin", "--mgmtd", self.mgmtd.address, *args],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == expect, result.stdout + result.stderr
        return result

    def chains(self):
        lines = self.admin("--json", "list-chains").stdout.splitlines()
        return {c["chain_id"]: c for c in map(json.loads, lines)}

    def chain(self, chain_id):
        """(version, head target, [(target, public state)])"""
        chain = self.chains()[chain_id]
        targets = [(t["target_id"], t["public_state"]) for t in chain["targets"]]
        head = next(t for t, state in targets if state == "serving")
        return chain["version"], head, targets

    def explain(self):
        parts = [self.admin("list-chains").stdout, self.admin("list-targets").stdout]
        for daemon in [self.mgmtd, *self.nodes.values()]:
            parts.append("--- %s\n%s" % (daemon.name, "\n".join(daemon.log_text().splitlines()[-20:])))
        return "\n".join(parts)

    def stop(self):
        for daemon in [*self.nodes.values(), self.mgmtd]:
            if daemon.process.poll() is None:
                assert daemon.stop() == 0, daemon.log_text()
            daemon.assert_clean_log()


@pytest.fixture
def cluster(tmp_path):
    cluster = StorageCluster(tmp_path)
    try:
        # Node 1 through the admin tool by node id (once it registered), node 2 by
        # address, node 3 through the codec; creating twice answers "exists".
        wait_until(lambda: '"node_id":1,' in cluster.admin("--json", "list-nodes").stdout, 10,
                   "node 1 registered", cluster.explain)
        created = cluster.admin("create-targets", "--node", "1", "--ids", "101,102").stdout
        assert created == "target 101: created\ntarget 102: created\n"
        assert "target 102: exists" in cluster.admin("create-targets", "--node", "1", "--ids", "102").stdout
        assert "target 201: created" in cluster.admin(
            "create-targets", "--address", cluster.nodes[2].address, "--ids", "201,202").stdout
        assert "has 1 disks" in cluster.admin("create-targets", "--node", "1", "--ids", "103",
                                              "--disk", "1", expect=1).stderr
        assert "not a registered storage node" in cluster.admin(
            "create-targets", "--node", "9", "--ids", "901", expect=1).stderr
        for target in NODES[3]:
            assert s.create_target(cluster.nodes[3].address, target) == (s.OK, True)
        assert s.create_target(cluster.nodes[3].address, NODES[3][0]) == (s.OK, False)
        wait_until(lambda: len(cluster.admin("--json", "list-targets").stdout.splitlines()) == 6,
                   10, "targets registered", cluster.explain)
        chains = tmp_path / "chains.csv"
        chains.write_text("ChainId,TargetId,TargetId,TargetId\n" + "".join(
            "%d,%s\n" % (c, ",".join(map(str, t))) for c, t in CHAINS.items()))
        assert "2 chains created" in cluster.admin("upload-chains", str(chains)).stdout
        wait_until(lambda: all(state == "serving" for c in CHAINS for _, state in cluster.chain(c)[2]),
                   10, "chains serving", cluster.explain)
        yield cluster
    finally:
        cluster.stop()


def write(cluster, chain_id, chunk, offset, data, client_tag=None, timeout=20.0):
    """Writes through the head the routing names, following chain changes; returns the
    commit reply (version, length, crc)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        # Routing from the admin tool costs a process start: reuse it until it fails.
        if last is not None or chain_id not in cluster.routing:
            cluster.routing[chain_id] = cluster.chain(chain_id)
        version, head, _ = cluster.routing[chain_id]
        try:
            status, reply, _ = s.write(cluster.address(head), head, chain_id, version, chunk, offset,
                                       data, CHUNK_SIZE, client_tag)
        except OSError as error:
            status, reply = -1, str(error)
        if status == s.OK:
            return s.commit_reply(reply)
        last = (status, reply)
        time.sleep(0.05)
    raise AssertionError("write did not succeed: %r\n%s" % (last, cluster.explain()))


def remove(cluster, chain_id, inode, first, end, timeout=20.0):
    """REMOVE_CHUNKS through the head the routing names, following chain changes;
    returns the number of chunks the head removed."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        version, head, _ = cluster.chain(chain_id)
        status, reply = s.remove_chunks(cluster.address(head), head, chain_id, version, inode,
                                        first, end)
        if status == s.OK:
            return reply
        last = (status, reply)
        time.sleep(0.05)
    raise AssertionError("removal did not succeed: %r\n%s" % (last, cluster.explain()))


def replicas(cluster, chain_id, chunk=None):
    """{target: committed (version, chain version, length, crc)} per chunk, from DUMP on
    every target of the chain."""
    result = {}
    for target in CHAINS[chain_id]:
        records = s.dump_chunks(cluster.address(target), target)
        assert all(pending[0] == 0 for _, pending in records.values()), records
        result[target] = {cid: committed for cid, (committed, _) in records.items()}
    return result


def assert_identical(cluster, chain_id):
    dumps = replicas(cluster, chain_id)
    first = dumps[CHAINS[chain_id][0]]
    for target, records in dumps.items():
        # Versions and chain versions may differ after recovery; content may not.
        assert {c: (r[2], r[3]) for c, r in records.items()} == \
            {c: (r[2], r[3]) for c, r in first.items()}, (target, dumps)
    return first


def read(cluster, target, chain_id, chunk, offset, length, flags=0):
    status, results, reply = s.batch_read(cluster.address(target),
                                          [(target, chain_id, chunk, offset, length, flags)])
    assert status == s.OK, (status, reply)
    return results[0]


def read_once_routed(cluster, target, chain_id, chunk, offset, length, timeout=10):
    """Reads from a target that mgmtd just published serving. The node learns that
    from its next routing refresh, so until then it answers ROUTING_STALE; a client
    retries that after refreshing, and so does this."""
    deadline = time.monotonic() + timeout
    while True:
        result = read(cluster, target, chain_id, chunk, offset, length)
        if result[0] != s.ROUTING_STALE or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def test_write_read_replicas_identical(cluster):
    version, head, _ = cluster.chain(1)
    assert head == 101
    chunk = s.chunk_id(7, 0)
    data = bytes(range(256)) * 64  # 16 KiB
    assert write(cluster, 1, chunk, 0, data) == (1, len(data), s.wire.crc32c(data))
    tail_data = b"tail" * 1000
    v, length, crc = write(cluster, 1, chunk, len(data), tail_data)
    assert (v, length) == (2, len(data) + len(tail_data))
    whole = data + tail_data
    assert crc == s.wire.crc32c(whole)
    # Every serving replica answers the same bytes.
    for target in CHAINS[1]:
        status, length, chunk_version, chunk_length, crc, got = read(cluster, target, 1, chunk, 0,
                                                                     len(whole))
        assert (status, length, chunk_version, chunk_length) == (s.OK, len(whole), 2, len(whole))
        assert got == whole and crc == s.wire.crc32c(whole)
    # A batch across chunks and targets: data at fixed offsets, per-item statuses.
    write(cluster, 1, s.chunk_id(7, 1), 100, b"x" * 50)
    status, results, _ = s.batch_read(cluster.address(201), [
        (201, 1, chunk, 10, 20), (201, 1, s.chunk_id(7, 1), 0, 200),
        (201, 1, s.chunk_id(7, 9), 0, 10), (201, 1, chunk, len(whole) + 1, 10)])
    assert status == s.OK
    assert results[0][0] == s.OK and results[0][5] == whole[10:30]
    assert results[1][:2] == (s.OK, 150) and results[1][5] == b"\0" * 100 + b"x" * 50
    assert results[2][0] == s.NOT_FOUND
    assert results[3][:2] == (s.OK, 0)  # past the chunk's length: a hole, 0 bytes
    records = assert_identical(cluster, 1)
    assert records[chunk][2:] == (len(whole), s.wire.crc32c(whole))
    # Last chunk of inode 7, truncate, remove: all replicated.
    assert s.last_chunk(cluster.address(301), 301, 1, 7) == (s.OK, (True, 1, 150, 1, False))
    assert s.last_chunk(cluster.address(301), 301, 1, 8)[1][0] is False
    status, reply, _ = s.truncate(cluster.address(101), 101, 1, version, chunk, 100)
    assert status == s.OK and s.commit_reply(reply)[:2] == (3, 100)
    assert assert_identical(cluster, 1)[chunk][2:] == (100, s.wire.crc32c(whole[:100]))
    assert s.remove_chunks(cluster.address(101), 101, 1, version, 7, 1, 10) == (s.OK, 1)
    for target in CHAINS[1]:
        assert s.chunk_id(7, 1) not in s.dump_chunks(cluster.address(target), target)
    # Space info lists the node's targets.
    info = {t["target_id"]: t for t in s.space_info(cluster.address(101))}
    assert set(info) == {101, 102} and info[101]["chunks"] == 1 and info[101]["chain_id"] == 1


def test_concurrent_writers_to_one_chunk_are_serialized(cluster):
    chunk = s.chunk_id(9, 0)
    writers, per_writer = 6, 10
    errors, replies = [], []

    def run(number):
        try:
            for i in range(per_writer):
                data = bytes([number * 16 + i]) * 4096
                replies.append(write(cluster, 2, chunk, ((number + i) % 8) * 4096, data))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
    threads = [threading.Thread(target=run, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors[0]
    # Each write got its own version: serialized, none lost.
    assert sorted(r[0] for r in replies) == list(range(1, writers * per_writer + 1))
    records = assert_identical(cluster, 2)
    assert records[chunk][0] == writers * per_writer
    # Reads on every replica agree with the committed CRC.
    contents = set()
    for target in CHAINS[2]:
        result = read(cluster, target, 2, chunk, 0, 8 * 4096)
        assert result[0] == s.OK and s.wire.crc32c(result[5]) == records[chunk][3]
        contents.add(result[5])
    assert len(contents) == 1


def test_stale_versions_and_bad_requests_change_nothing(cluster):
    version, head, _ = cluster.chain(1)
    chunk = s.chunk_id(11, 0)
    write(cluster, 1, chunk, 0, b"a" * 1000)
    before = replicas(cluster, 1)
    address = cluster.address(head)
    cases = [
        # stale chain version, and a chain version from the future
        (s.write(address, head, 1, version - 1 if version > 1 else 999, chunk, 0, b"b" * 10)[0],
         s.ROUTING_STALE),
        (s.write(address, head, 1, version + 5, chunk, 0, b"b" * 10)[0], s.ROUTING_STALE),
        # a write sent to a replica that is not the head
        (s.write(cluster.address(201), 201, 1, version, chunk, 0, b"b" * 10)[0], s.ROUTING_STALE),
        # the wrong chain for the target, and a target this node does not have
        (s.write(address, head, 2, cluster.chain(2)[0], chunk, 0, b"b" * 10)[0], s.ROUTING_STALE),
        (s.write(address, 999, 1, version, chunk, 0, b"b" * 10)[0], s.NOT_FOUND),
        # offset beyond the chunk size, a chunk size over the limit, length != payload
        (s.write(address, head, 1, version, chunk, CHUNK_SIZE - 5, b"b" * 10)[0], s.INVALID_ARGUMENT),
        (s.write(address, head, 1, version, chunk, 0, b"b" * 10, chunk_size=2 * CHUNK_SIZE)[0],
         s.INVALID_ARGUMENT),
        (s.call(address, s.WRITE, s.write_message(head, 1, version, chunk, 0, 20, CHUNK_SIZE),
                b"b" * 10)[0], s.INVALID_ARGUMENT),
        # malformed bodies: truncated, trailing byte, bad update kind, empty batch
        (s.call(address, s.WRITE, s.write_message(head, 1, version, chunk, 0, 10, CHUNK_SIZE)[:-1],
                b"b" * 10)[0], s.MALFORMED),
        (s.call(address, s.WRITE, s.write_message(head, 1, version, chunk, 0, 10, CHUNK_SIZE) + b"\0",
                b"b" * 10)[0], s.MALFORMED),
        (s.call(address, s.BATCH_READ, b"\0\0\0\0")[0], s.MALFORMED),
        (s.call(address, s.BATCH_READ, b"\x05\0\0\0" + s.read_item(head, 1, chunk, 0, 10))[0],
         s.MALFORMED),
        (s.call(address, s.BATCH_READ, b"\x01\0\0\0" + s.read_item(head, 1, chunk, 0, 10, 0x80))[0],
         s.MALFORMED),
        (s.call(address, s.UPDATE, b"\0" * 40)[0], s.MALFORMED),
        (s.call(address, s.REMOVE_CHUNKS, b"\0" * 10)[0], s.MALFORMED),
        (s.remove_chunks(address, head, 1, version, 11, 5, 1)[0], s.INVALID_ARGUMENT),
        # a client's removal goes to the head only
        (s.remove_chunks(cluster.address(201), 201, 1, version, 11, 0, 9)[0], s.ROUTING_STALE),
        # forwarded removals: stale chain version, indexes not ascending, too many, trailer
        (s.remove_listed(cluster.address(201), 201, 1, version + 5, 11, [0])[0], s.ROUTING_STALE),
        (s.remove_listed(cluster.address(201), 201, 1, version, 11, [1, 0])[0], s.MALFORMED),
        (s.remove_listed(cluster.address(201), 201, 1, version, 11, [0, 0])[0], s.MALFORMED),
        (s.remove_listed(cluster.address(201), 201, 1, version, 11,
                         list(range(s.REMOVE_LISTED_MAX + 1)))[0], s.MALFORMED),
        (s.call(cluster.address(201), s.REMOVE_LISTED,
                s.remove_listed_message(201, 1, version, 11, [0]) + b"\0")[0], s.MALFORMED),
        (s.create_target(address, 0)[0], s.MALFORMED),
        (s.create_target(address, 555, disk=3)[0], s.INVALID_ARGUMENT),
        (s.truncate(address, head, 1, version, chunk, CHUNK_SIZE + 1)[0], s.INVALID_ARGUMENT),
    ]
    for number, (got, expected) in enumerate(cases):
        assert got == expected, "case %d: %d != %d" % (number, got, expected)
    # Reads of an unknown chunk, past the end, on a target that is not serving reads.
    assert read(cluster, head, 1, s.chunk_id(11, 5), 0, 10)[0] == s.NOT_FOUND
    # Past the chunk's length (but inside the chunk size) is a hole: 0 bytes.
    past_end = read(cluster, head, 1, chunk, 2000, 10)
    assert past_end[0] == s.OK and past_end[1] == 0, past_end
    assert read(cluster, head, 2, chunk, 0, 10)[0] == s.ROUTING_STALE
    assert replicas(cluster, 1) == before
    assert all(t["target_id"] != 555 for t in s.space_info(address))


def test_retried_write_is_applied_once(cluster):
    chunk = s.chunk_id(13, 0)
    client = b"client-0123456789"
    first = write(cluster, 1, chunk, 0, b"one" * 100, s.tag(client, 3, 10))
    # The same (client, channel, sequence): the stored reply, nothing applied.
    again = write(cluster, 1, chunk, 0, b"one" * 100, s.tag(client, 3, 10))
    assert again == first
    assert replicas(cluster, 1)[101][chunk][0] == first[0]
    # A newer sequence applies; an older one is refused; other channels are separate.
    second = write(cluster, 1, chunk, 300, b"two" * 10, s.tag(client, 3, 11))
    assert second[0] == first[0] + 1
    version, head, _ = cluster.chain(1)
    status, reply, _ = s.write(cluster.address(head), head, 1, version, chunk, 0, b"x",
                               CHUNK_SIZE, s.tag(client, 3, 10))
    assert status == s.INVALID_ARGUMENT, reply
    other = write(cluster, 1, chunk, 0, b"one" * 100, s.tag(client, 4, 10))
    assert other[0] == second[0] + 1
    assert_identical(cluster, 1)


def test_replica_killed_writes_continue_then_it_recovers(cluster):
    chunks = [s.chunk_id(21, i) for i in range(6)]
    contents = {}
    for i, chunk in enumerate(chunks):
        contents[chunk] = bytes([i + 1]) * (5000 + i)
        write(cluster, 1, chunk, 0, contents[chunk])
    victim = cluster.nodes[2]
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait()
    victim.log.close()

    # Writes continue: the head forwards around the dead middle once mgmtd moved it out.
    for i, chunk in enumerate(chunks[:3]):
        contents[chunk] = bytes([0x40 + i]) * (7000 + i)
        write(cluster, 1, chunk, 0, contents[chunk], timeout=FAIL_MS / 1000 + 15)
    wait_until(lambda: dict(cluster.chain(1)[2])[201] == "offline", FAIL_MS / 1000 + 10,
               "target 201 offline", cluster.explain)
    _, _, targets = cluster.chain(1)
    assert [t for t, _ in targets][-1] == 201
    # A new chunk and a removal while it is away: recovery must create and remove.
    contents[s.chunk_id(21, 9)] = b"new" * 999
    write(cluster, 1, s.chunk_id(21, 9), 0, contents[s.chunk_id(21, 9)])
    version, head, _ = cluster.chain(1)
    assert s.remove_chunks(cluster.address(head), head, 1, version, 21, 5, 6) == (s.OK, 1)
    del contents[chunks[5]]

    # Restart: it waits for offline (it is already), beats online, is synced, serves.
    restarted = cluster.start_node(2)
    assert restarted.wait_for_log("heartbeating", timeout=10), restarted.log_text()
    wait_until(lambda: all(state == "serving" for _, state in cluster.chain(1)[2]), 30,
               "chain 1 serving again", cluster.explain)
    records = assert_identical(cluster, 1)
    assert set(records) == set(contents)
    for chunk, data in contents.items():
        assert records[chunk][2:] == (len(data), s.wire.crc32c(data))
        result = read_once_routed(cluster, 201, 1, chunk, 0, len(data))
        assert result[0] == s.OK and result[5] == data
    # The predecessor counted what it sent.
    predecessor = {t["target_id"]: t for t in s.space_info(cluster.address(301))}[301]
    assert predecessor["sync_rounds_completed"] >= 1, predecessor
    assert predecessor["sync_chunks_transferred"] >= 4, predecessor
    assert predecessor["sync_chunks_removed"] >= 1, predecessor
    status = {t["target_id"]: t for t in map(
        json.loads, cluster.admin("--json", "storage-status").stdout.splitlines())}
    assert set(status) == {t for targets in NODES.values() for t in targets}
    assert status[301]["sync_chunks_transferred"] == predecessor["sync_chunks_transferred"]
    assert status[201]["public_state"] == "serving" and status[201]["local_state"] == "up-to-date"
    # Writes after recovery reach all three again.
    write(cluster, 1, chunks[0], 0, b"after" * 10)
    assert_identical(cluster, 1)


def test_forwarded_removal_removes_exactly_the_listed_chunks(cluster):
    """REMOVE_LISTED (what a predecessor forwards) removes the listed chunks the
    target has and no other, again and again (idempotent); the head's REMOVE_CHUNKS
    forwards the list of what it removed."""
    inode = 81
    for index in range(4):
        write(cluster, 1, s.chunk_id(inode, index), 0, bytes([index + 1]) * 100)
    version, _, targets = cluster.chain(1)
    tail = targets[-1][0]
    assert s.remove_listed(cluster.address(tail), tail, 1, version, inode, [1, 3, 7]) == (s.OK, 2)
    assert s.remove_listed(cluster.address(tail), tail, 1, version, inode, [1, 3, 7]) == (s.OK, 0)
    assert s.remove_listed(cluster.address(tail), tail, 1, version, inode, []) == (s.OK, 0)
    left = s.dump_chunks(cluster.address(tail), tail)
    assert sorted(c for c in left if c[:8] == s.chunk_id(inode, 0)[:8]) == \
        [s.chunk_id(inode, 0), s.chunk_id(inode, 2)]
    # The head removes 0..3 and forwards them; the tail removes the two it still has.
    version, head, _ = cluster.chain(1)
    assert s.remove_chunks(cluster.address(head), head, 1, version, inode, 0, 100) == (s.OK, 4)
    assert s.remove_chunks(cluster.address(head), head, 1, version, inode, 0, 100) == (s.OK, 0)
    records = assert_identical(cluster, 1)
    assert not any(c[:8] == s.chunk_id(inode, 0)[:8] for c in records)


def test_removal_waits_for_a_write_in_flight_and_times_out_unchanged(cluster):
    """A removal of a chunk whose write is in flight (the tail frozen) waits for the
    chunk lock instead of removing under the write; when its deadline passes while it
    waits, it removes nothing. Once the write committed, a removal goes through."""
    inode = 91
    chunk = s.chunk_id(inode, 0)
    write(cluster, 1, chunk, 0, b"first" * 100)
    version, head, targets = cluster.chain(1)
    tail = cluster.nodes[node_of(targets[-1][0])]
    result = {}
    tail.process.send_signal(signal.SIGSTOP)
    try:
        writer = threading.Thread(target=lambda: result.update(reply=s.write(
            cluster.address(head), head, 1, version, chunk, 0, b"second" * 100)))
        writer.start()
        wait_until(lambda: read(cluster, head, 1, chunk, 0, 600, s.READ_RELAXED)[5][:12] ==
                   b"second" * 2, 5, "pending version at the head")
        message = struct.pack("<QIQQQQ", head, 1, version, inode, 0, 10)
        remover = threading.Thread(target=lambda: result.update(removal=s.call(
            cluster.address(head), s.REMOVE_CHUNKS, message, timeout=30, timeout_us=300000)))
        remover.start()
        remover.join(timeout=0.8)
        assert remover.is_alive(), result  # waiting for the lock, past its deadline
    finally:
        tail.process.send_signal(signal.SIGCONT)
    writer.join(timeout=30)
    remover.join(timeout=30)
    status, reply, _ = result["removal"]
    assert status == s.TIMEOUT, (status, reply)
    assert result["reply"][0] == s.OK, result
    assert read(cluster, head, 1, chunk, 0, 600)[5] == b"second" * 100
    assert_identical(cluster, 1)
    assert remove(cluster, 1, inode, 0, 10) == 1
    records = assert_identical(cluster, 1)
    assert chunk not in records


def test_forwarded_update_version_rules_and_checksums(cluster):
    """UPDATE as a predecessor sends it, straight to the tail: stale versions are
    answered with the committed state, gaps and checksum mismatches are refused and
    leave the replica as it was."""
    chunk = s.chunk_id(31, 0)
    data = b"base" * 256
    committed = write(cluster, 1, chunk, 0, data)
    version, _, targets = cluster.chain(1)
    tail = targets[-1][0]
    before = replicas(cluster, 1)

    def update(update_version, payload, expected_crc, offset=0):
        message = s.update_message(tail, 1, version, chunk, s.UPDATE_WRITE, offset, len(payload),
                                   CHUNK_SIZE, update_version, version, expected_crc,
                                   len(data))
        return s.call(cluster.address(tail), s.UPDATE, message, payload)

    status, reply, _ = update(1, b"zzzz", 0)  # already committed: the committed state
    assert status == s.OK and s.commit_reply(reply) == committed
    assert update(3, b"zzzz", 0)[0] == s.INVALID_ARGUMENT  # out of order
    assert update(2, b"zzzz", 0x1234)[0] == s.CHECKSUM  # content differs from the predecessor's
    assert update(2, b"zzzz", 0, offset=CHUNK_SIZE)[0] == s.INVALID_ARGUMENT
    assert update(0, b"zzzz", 0)[0] == s.INVALID_ARGUMENT
    assert replicas(cluster, 1) == before


def test_reads_of_a_pending_version_say_not_committed(cluster):
    """While the tail is frozen a write stays pending at the head: a plain read there
    answers NOT_COMMITTED, a relaxed read returns the pending bytes; once the tail
    runs again the write commits everywhere."""
    chunk = s.chunk_id(41, 0)
    write(cluster, 1, chunk, 0, b"old" * 100)
    version, head, targets = cluster.chain(1)
    tail_node = cluster.nodes[node_of(targets[-1][0])]
    result = {}
    tail_node.process.send_signal(signal.SIGSTOP)
    try:
        writer = threading.Thread(target=lambda: result.update(reply=s.write(
            cluster.address(head), head, 1, version, chunk, 0, b"new" * 100)))
        writer.start()
        # The frozen tail must resume within half the failure interval, so waits are short.
        relaxed = wait_until(lambda: (lambda r: r if r[5] == b"new" * 100 else None)(
            read(cluster, head, 1, chunk, 0, 300, s.READ_RELAXED)), 0.6, "pending version at the head")
        assert relaxed[0] == s.OK and relaxed[2] == 2
        plain = read(cluster, head, 1, chunk, 0, 300)
        assert plain[0] == s.NOT_COMMITTED, plain
    finally:
        tail_node.process.send_signal(signal.SIGCONT)
    writer.join(timeout=20)
    status, reply, _ = result["reply"]
    assert status == s.OK, reply
    assert s.commit_reply(reply)[0] == 2
    assert read(cluster, head, 1, chunk, 0, 300)[5] == b"new" * 100
    assert_identical(cluster, 1)


def test_write_that_timed_out_downstream_is_completed_by_the_next(cluster):
    """A write whose forward outlives its deadline (the tail frozen) fails at the head,
    but the tail commits it once it runs again. The head keeps that version pending and
    the next write of the chunk first sends it down whole, so the replicas end equal.
    Before, the head dropped it: head and tail held different version-2 contents and
    every later write of the chunk failed with CHECKSUM (seen under load in the
    partition test: EBADMSG, replicas apart)."""
    chunk = s.chunk_id(43, 0)
    write(cluster, 1, chunk, 0, b"one" * 100)
    version, head, targets = cluster.chain(1)
    tail_node = cluster.nodes[node_of(targets[-1][0])]
    tail_node.process.send_signal(signal.SIGSTOP)
    try:
        message = s.write_message(head, 1, version, chunk, 0, 300, CHUNK_SIZE)
        status, _, _ = s.call(cluster.address(head), s.WRITE, message, b"two" * 100, timeout=10,
                              timeout_us=300000)
        assert status == s.TIMEOUT, status
    finally:
        tail_node.process.send_signal(signal.SIGCONT)
    tail = targets[-1][0]
    # the tail applies the forwarded write it finds on waking: committed there
    wait_until(lambda: read(cluster, tail, 1, chunk, 0, 300)[5] == b"two" * 100, 5,
               "the timed-out write committed at the tail")
    assert write(cluster, 1, chunk, 100, b"three")[0] >= 3
    expected = b"two" * 100
    expected = expected[:100] + b"three" + expected[105:]
    for target, _ in targets:
        assert read(cluster, target, 1, chunk, 0, 300)[5] == expected
    assert_identical(cluster, 1)


def test_write_in_flight_survives_the_loss_of_its_successor(cluster):
    """The middle replica dies holding a pending version while the tail is frozen: the
    head keeps forwarding the same update until the chain skips the dead replica, the
    write commits on the survivors, and the restarted replica drops its leftover and
    is recovered to the committed content."""
    chunk = s.chunk_id(51, 0)
    write(cluster, 1, chunk, 0, b"before" * 100)
    version, head, targets = cluster.chain(1)
    assert [t for t, _ in targets] == [101, 201, 301]
    tail, middle = cluster.nodes[3], cluster.nodes[2]
    result = {}
    tail.process.send_signal(signal.SIGSTOP)
    try:
        writer = threading.Thread(target=lambda: result.update(reply=s.write(
            cluster.address(head), head, 1, version, chunk, 0, b"during" * 100)))
        writer.start()
        # Wait until the middle has prepared it (its relaxed read shows the new bytes).
        wait_until(lambda: read(cluster, 201, 1, chunk, 0, 600, s.READ_RELAXED)[5] == b"during" * 100,
                   5, "pending version at the middle")
        middle.process.send_signal(signal.SIGKILL)
        middle.process.wait()
        middle.log.close()
    finally:
        tail.process.send_signal(signal.SIGCONT)
    writer.join(timeout=30)
    status, reply, _ = result["reply"]
    assert status == s.OK, reply
    assert s.commit_reply(reply)[0] == 2
    for target in (101, 301):
        assert read(cluster, target, 1, chunk, 0, 600)[5] == b"during" * 100
    cluster.start_node(2)
    wait_until(lambda: all(state == "serving" for _, state in cluster.chain(1)[2]), 30,
               "chain 1 serving again", cluster.explain)
    assert "dropped 1 unacknowledged pending versions" in cluster.nodes[2].log_text()
    assert_identical(cluster, 1)
    assert read_once_routed(cluster, 201, 1, chunk, 0, 600)[5] == b"during" * 100


def test_restarted_node_waits_until_its_targets_are_published_offline(cluster):
    """DESIGN §5: a storage service restarted before mgmtd noticed its death does not
    heartbeat until all its targets are published offline, so each goes through
    recovery instead of resuming with whatever it missed."""
    victim = cluster.nodes[2]
    version_at_kill = cluster.chain(1)[0]
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait()
    victim.log.close()
    restarted = cluster.start_node(2)  # at once: mgmtd still shows its targets serving
    assert restarted.wait_for_log("waiting until mgmtd takes this node's targets offline",
                                  timeout=10), restarted.log_text()
    # While mgmtd still shows the chain as it was at the kill (the kill not yet
    # noticed), the restarted node must not have beaten. The log is read before the
    # chain: a beat in it means the node saw 201 offline first, so the chain version
    # had moved on by then (offline, and through recovery to serving again, however
    # slow the polls under load). Checked at every poll (at least once: mgmtd needs
    # FAIL_MS to notice the kill).
    checks = 0
    deadline = time.monotonic() + FAIL_MS / 1000 + 10
    while True:
        log = restarted.log_text()
        version, _, targets = cluster.chain(1)
        if version != version_at_kill or dict(targets)[201] != "serving":
            break
        assert "heartbeating" not in log, log
        checks += 1
        assert time.monotonic() < deadline, "target 201 never left serving"
        time.sleep(0.05)
    assert checks > 0
    assert restarted.wait_for_log("heartbeating", timeout=10), restarted.log_text()
    wait_until(lambda: all(state == "serving" for _, state in cluster.chain(1)[2]), 30,
               "chain 1 serving again", cluster.explain)
    assert_identical(cluster, 1)


def race_removals_and_writes(cluster, chain_id, inode, chunks, seconds, rounds, seed):
    """Writers (to chunks 0..chunks-1 of inode, through the head routing names) and a
    remover (random tail ranges of the same chunks) run at once, bounded by seconds
    and rounds each. Returns the statuses that were neither OK nor a routing change."""
    stop_at = time.monotonic() + seconds
    unexpected = []

    def head():
        version, head_target, _ = cluster.routing.get(chain_id) or cluster.chain(chain_id)
        return version, head_target

    def writer(number):
        generator = random.Random(seed * 100 + number)
        for i in range(rounds):
            if time.monotonic() > stop_at:
                return
            version, target = head()
            chunk = s.chunk_id(inode, generator.randrange(chunks))
            data = bytes([generator.randrange(256)]) * generator.randrange(1, 9000)
            offset = generator.choice([0, 0, 4096, 20000])
            status, reply, _ = s.write(cluster.address(target), target, chain_id, version, chunk,
                                       offset, data, CHUNK_SIZE)
            if status not in (s.OK, s.ROUTING_STALE):
                unexpected.append(("write", status, reply))

    def remover():
        generator = random.Random(seed)
        for i in range(rounds):
            if time.monotonic() > stop_at:
                return
            version, target = head()
            first = generator.randrange(chunks)
            status, reply = s.remove_chunks(cluster.address(target), target, chain_id, version,
                                            inode, first, generator.choice([first + 1, chunks]))
            if status not in (s.OK, s.ROUTING_STALE):
                unexpected.append(("remove", status, reply))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    threads.append(threading.Thread(target=remover))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 60)
    assert not any(thread.is_alive() for thread in threads)
    return unexpected


def test_removals_racing_writes_leave_identical_replicas(cluster):
    """REMOVE_CHUNKS and writes of the same chunks serialize on the chunk locks at the
    head and reach every replica in that order, so the replicas end identical (without
    the locks the head removed a chunk whose write was in flight, and the successors
    committed it). Every request succeeds: a removal waits for a write in flight
    instead of answering BUSY."""
    cluster.routing[1] = cluster.chain(1)
    for round_number in range(3):
        unexpected = race_removals_and_writes(cluster, 1, 61 + round_number, 6, 2.0, 400,
                                              round_number + 1)
        assert not unexpected, unexpected[:5]
        assert_identical(cluster, 1)


def test_removals_racing_recovery_leave_identical_replicas(cluster):
    """A removal that runs on the recovering predecessor while it transfers the same
    chunks to a returning target: the transfer and the forwarded removal hold the
    same chunk lock, so the target never installs a chunk its predecessor removed
    (docs/reliability.md, "an extra chunk on a recovered tail")."""
    victim = cluster.nodes[2]
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait()
    victim.log.close()
    wait_until(lambda: dict(cluster.chain(1)[2])[201] == "offline", FAIL_MS / 1000 + 10,
               "target 201 offline", cluster.explain)
    # Chunks only the survivors have: recovery transfers every one of them.
    inode, chunks = 71, 200
    for index in range(chunks):
        write(cluster, 1, s.chunk_id(inode, index), 0, bytes([index % 251]) * (128 << 10))
    cluster.routing[1] = cluster.chain(1)

    def progress():
        info = {t["target_id"]: t for t in s.space_info(cluster.address(301))}[301]
        return info["sync_active"], info["sync_chunks_transferred"] + info["sync_chunks_removed"]
    _, baseline = progress()
    restarted = cluster.start_node(2)
    assert restarted.wait_for_log("heartbeating", timeout=10), restarted.log_text()
    # 301, now 201's predecessor, transfers the chunks in index order; remove the one
    # it is at (its progress counters say which), so removals meet the transfer of
    # the same chunk.
    version, head, _ = cluster.chain(1)
    stop_at = time.monotonic() + 20
    started = False
    raced = 0
    while time.monotonic() < stop_at:
        active, done = progress()
        started = started or active
        if started and (not active or done - baseline >= chunks):
            break
        if not active:
            time.sleep(0.002)
            continue
        index = done - baseline
        status, reply = s.remove_chunks(cluster.address(head), head, 1, version, inode, index,
                                        index + 2)
        if status == s.ROUTING_STALE:
            version, head, _ = cluster.chain(1)
            continue
        assert status == s.OK, reply
        raced += 1
    assert started and raced > 0, cluster.explain()
    remove(cluster, 1, inode, 0, chunks)
    unexpected = race_removals_and_writes(cluster, 1, inode + 1, 6, 1.0, 100, 7)
    assert not unexpected, unexpected[:5]
    wait_until(lambda: all(state == "serving" for _, state in cluster.chain(1)[2]), 30,
               "chain 1 serving again", cluster.explain)
    records = assert_identical(cluster, 1)
    assert not any(s.chunk_id(inode, index) in records for index in range(chunks))
