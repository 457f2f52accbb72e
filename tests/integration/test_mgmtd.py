"""The cluster manager as real processes: three mgmtd sharing one KV store (LMDB, and
PostgreSQL), primary election and failover after kill -9, fencing of a frozen primary,
failure detection from heartbeats, chain state changes end to end, and bad requests
that change nothing. Storage nodes are played by the test (mgmtd_wire.heartbeat)."""
import json
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

import mgmtd_wire as m
from conftest import REPO, Daemon, chainfs_binary

LEASE_S = 1.0
TICK_S = 0.1
FAIL_S = 1.5


@pytest.fixture(scope="module")
def postgres():
    # Directly under /tmp: the server runs as the postgres user, which cannot enter
    # pytest's private temporary directories.
    directory = tempfile.mkdtemp(prefix="chainfs-mgmtd-pg-")
    os.chmod(directory, 0o755)
    script = str(REPO / "scripts" / "pg-test-cluster.sh")
    started = subprocess.run([script, "start", directory + "/cluster"], capture_output=True, text=True)
    assert started.returncode == 0, started.stderr
    yield started.stdout.strip()
    subprocess.run([script, "stop", directory + "/cluster"], check=False, capture_output=True)
    shutil.rmtree(directory, ignore_errors=True)


class Cluster:
    def __init__(self, tmp_path, kv_settings, count=3):
        self.tmp_path = tmp_path
        self.mgmtds = []
        for node_id in range(1, count + 1):
            self.mgmtds.append(Daemon(tmp_path, subcommand="mgmtd", name="mgmtd-%d" % node_id,
                                      settings=["mgmtd.node_id=%d" % node_id,
                                                "mgmtd.lease_length=%dms" % (LEASE_S * 1000),
                                                "mgmtd.tick_interval=%dms" % (TICK_S * 1000),
                                                "mgmtd.heartbeat_fail_interval=%dms" % (FAIL_S * 1000),
                                                *kv_settings]))
        self.addresses = ",".join(d.address for d in self.mgmtds)

    def alive(self):
        return [d for d in self.mgmtds if d.process.poll() is None]

    def admin(self, *args, expect=0):
        result = subprocess.run([chainfs_binary(), "admin", "--mgmtd", self.addresses, *args],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == expect, result.stdout + result.stderr
        return result

    def status(self):
        return json.loads(self.admin("--json", "status").stdout)

    def chains(self):
        lines = self.admin("--json", "list-chains").stdout.splitlines()
        return {c["chain_id"]: c for c in map(json.loads, lines)}

    def wait_for_primary(self, timeout=10.0, other_than=None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for daemon in self.alive():
                if daemon.address == other_than:
                    continue  # it may be frozen: ask the others
                try:
                    node_id, address, epoch = m.get_primary(daemon.address, timeout=1.0)
                except OSError:
                    continue
                if epoch and address != other_than and any(d.address == address for d in self.alive()):
                    return address, epoch
            time.sleep(0.05)
        raise AssertionError("no primary within %ss" % timeout)

    def stop(self):
        for daemon in self.mgmtds:
            if daemon.process.poll() is None:
                assert daemon.stop() == 0, daemon.log_text()
            daemon.assert_clean_log()


@pytest.fixture(params=["lmdb", "postgres"])
def cluster(request, tmp_path):
    if request.param == "lmdb":
        settings = ["kv.backend=lmdb", "kv.lmdb_path=%s" % (tmp_path / "kv"), "kv.durability=nosync"]
    else:
        table = "mgmtd_%d" % (abs(hash(request.node.name)) % 10**8)
        settings = ["kv.backend=postgres", "kv.postgres_conninfo=%s" % request.getfixturevalue("postgres"),
                    "kv.postgres_table=%s" % table]
    cluster = Cluster(tmp_path, settings)
    yield cluster
    cluster.stop()


class StorageNodes:
    """Heartbeats for fake storage nodes from a background thread, every 100 ms, to
    whichever mgmtd is primary. local_states[target] can be changed by the test."""

    def __init__(self, cluster, nodes):
        self.cluster = cluster
        self.nodes = nodes  # node id -> list of target ids
        self.local_states = {t: m.UP_TO_DATE for targets in nodes.values() for t in targets}
        self.silent = set()
        self.errors = []  # (time, node, status, reply) of failed heartbeats, for reports
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _beat(self, primary):
        for node_id, targets in self.nodes.items():
            if node_id in self.silent:
                continue
            reported = [(t, i, self.local_states[t], 1 << 20, 1 << 30) for i, t in enumerate(targets)]
            try:
                status, reply = m.heartbeat(primary, node_id, "127.0.0.1:%d" % (20000 + node_id), reported)
            except OSError as error:
                status, reply = -1, str(error).encode()
            if status != 0:
                self.errors.append((time.monotonic(), node_id, status, reply[:120]))

    def _run(self):
        deadline = time.monotonic() + 120  # bounded, whatever the test does
        while not self.stopping.is_set() and time.monotonic() < deadline:
            try:
                primary, _ = self.cluster.wait_for_primary(timeout=5)
                self._beat(primary)
            except (OSError, ConnectionError, AssertionError):
                pass
            self.stopping.wait(0.1)

    def stop(self):
        self.stopping.set()
        self.thread.join()


def wait_until(predicate, timeout, what, explain=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out after %ss waiting for %s%s" % (
        timeout, what, "\n" + explain() if explain else ""))


def explain_cluster(cluster, storage):
    """What to look at when a wait times out: chains, nodes, heartbeat errors, logs."""
    def explain():
        parts = [cluster.admin("list-chains").stdout, cluster.admin("list-nodes").stdout,
                 "heartbeat errors: %r" % storage.errors[-10:]]
        for daemon in cluster.mgmtds:
            parts.append("--- %s\n%s" % (daemon.name, "\n".join(daemon.log_text().splitlines()[-15:])))
        return "\n".join(parts)
    return explain


def setup_chains(cluster, tmp_path):
    storage = StorageNodes(cluster, {11: [1101, 1102], 12: [1201, 1202], 13: [1301, 1302]})
    wait_until(lambda: cluster.status()["targets"] == 6, 10, "targets registered")
    chains = tmp_path / "chains.csv"
    chains.write_text("ChainId,TargetId,TargetId,TargetId\n1,1101,1201,1301\n2,1202,1302,1102\n")
    assert "2 chains created" in cluster.admin("upload-chains", str(chains)).stdout
    table = tmp_path / "table.csv"
    table.write_text("ChainId\n1\n2\n")
    assert "version 1" in cluster.admin("upload-chain-table", "1", str(table)).stdout
    return storage


def test_one_primary_then_failover_after_kill(cluster, tmp_path):
    primary, epoch = cluster.wait_for_primary()
    # Every mgmtd names the same primary.
    assert {m.get_primary(d.address)[1] for d in cluster.mgmtds} == {primary}
    storage = setup_chains(cluster, tmp_path)
    try:
        before = cluster.chains()
        victim = next(d for d in cluster.mgmtds if d.address == primary)
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait()
        killed_at = time.monotonic()
        new_primary, new_epoch = cluster.wait_for_primary(other_than=primary, timeout=10)
        took = time.monotonic() - killed_at
        assert new_epoch > epoch
        # Lease length plus one renewal interval, plus slack for a loaded 2-core machine.
        assert took < LEASE_S + TICK_S + 1.5, "takeover took %.2fs" % took
        after = cluster.chains()
        assert {c: [t["target_id"] for t in v["targets"]] for c, v in after.items()} == \
            {c: [t["target_id"] for t in v["targets"]] for c, v in before.items()}
        assert cluster.status()["nodes_up"] == 3  # heartbeats followed the new primary
    finally:
        storage.stop()


def test_frozen_primary_is_fenced(cluster, tmp_path):
    primary, epoch = cluster.wait_for_primary()
    victim = next(d for d in cluster.mgmtds if d.address == primary)
    victim.process.send_signal(signal.SIGSTOP)
    try:
        new_primary, new_epoch = cluster.wait_for_primary(other_than=primary, timeout=10)
    finally:
        victim.process.send_signal(signal.SIGCONT)
    # The old primary wakes up believing nothing; it must neither accept changes nor
    # commit any: its writes are fenced by the lease record.
    status, reply = m.heartbeat(primary, 99, "127.0.0.1:9", [(9901, 0, m.UP_TO_DATE, 0, 0)])
    assert status == m.NOT_PRIMARY, reply
    assert victim.wait_for_log("no longer the primary"), victim.log_text()
    assert m.get_primary(primary)[1] == new_primary
    assert all(t["target_id"] != 9901 for t in map(
        json.loads, cluster.admin("--json", "list-targets").stdout.splitlines()))


def test_heartbeat_loss_and_return_drive_the_chain_states(cluster, tmp_path):
    cluster.wait_for_primary()
    storage = setup_chains(cluster, tmp_path)
    try:
        versions = [cluster.status()["routing_version"]]
        chain = cluster.chains()[1]
        assert [t["public_state"] for t in chain["targets"]] == ["serving"] * 3
        # Node 12 (middle of chain 1) stops heartbeating.
        storage.silent.add(12)
        silent_at = time.monotonic()

        def middle_offline():
            c = cluster.chains()[1]
            return c if c["targets"][-1] == {"target_id": 1201, "public_state": "offline"} else None
        chain = wait_until(middle_offline, FAIL_S + 5, "target 1201 offline at the tail",
                           explain_cluster(cluster, storage))
        assert time.monotonic() - silent_at >= FAIL_S * 0.9
        assert [t["target_id"] for t in chain["targets"]] == [1101, 1301, 1201]
        assert chain["version"] > 1
        nodes = {n["node_id"]: n for n in map(json.loads, cluster.admin("--json", "list-nodes").stdout.splitlines())}
        assert nodes[12]["alive"] is False and nodes[11]["alive"] is True
        versions.append(cluster.status()["routing_version"])

        # It comes back not yet recovered (online): waiting -> syncing behind the serving ones.
        storage.local_states.update({1201: m.ONLINE, 1202: m.ONLINE})
        storage.silent.discard(12)
        wait_until(lambda: cluster.chains()[1]["targets"][-1]["public_state"] == "syncing", 10,
                   "target 1201 syncing", explain_cluster(cluster, storage))
        versions.append(cluster.status()["routing_version"])
        # Recovery done: it reports up-to-date and serves again.
        storage.local_states.update({1201: m.UP_TO_DATE, 1202: m.UP_TO_DATE})
        wait_until(lambda: all(t["public_state"] == "serving" for t in cluster.chains()[1]["targets"]),
                   10, "chain 1 serving again", explain_cluster(cluster, storage))
        versions.append(cluster.status()["routing_version"])
        assert versions == sorted(versions) and len(set(versions)) == len(versions)
    finally:
        storage.stop()


def test_bad_requests_are_refused_and_change_nothing(cluster, tmp_path):
    primary, _ = cluster.wait_for_primary()
    storage = setup_chains(cluster, tmp_path)
    try:
        def definitions():
            # Membership, not order: heartbeat hiccups may legitimately reorder chains.
            chains = {c: sorted(t["target_id"] for t in v["targets"]) for c, v in cluster.chains().items()}
            targets = sorted((t["target_id"], t["node_id"], t["chain_id"]) for t in map(
                json.loads, cluster.admin("--json", "list-targets").stdout.splitlines()))
            tables = cluster.admin("--json", "list-chain-tables").stdout
            return chains, targets, tables
        before = definitions()
        bad = tmp_path / "bad.csv"
        bad.write_text("3,9999\n")
        result = cluster.admin("upload-chains", str(bad), expect=1)
        assert "target 9999 does not exist" in result.stderr
        bad.write_text("4,1101,1102\n")  # 1101 is in chain 1 already
        assert "already in chain 1" in cluster.admin("upload-chains", str(bad), expect=1).stderr
        bad.write_text("5,1101,1101\n")
        assert "twice" in cluster.admin("upload-chains", str(bad), expect=1).stderr
        bad.write_text("1,1301,1201\n")  # redefining chain 1
        assert "already exists with other targets" in cluster.admin("upload-chains", str(bad), expect=1).stderr
        bad.write_text("ChainId,Targets\n6,abc\n")
        result = cluster.admin("upload-chains", str(bad), expect=2)
        assert "bad.csv:2: cannot read '6,abc'" in result.stderr
        bad.write_text("1\n77\n")
        assert "chain 77 does not exist" in cluster.admin("upload-chain-table", "1", str(bad), expect=1).stderr
        assert "already initialised" not in cluster.admin("init-cluster").stderr
        assert "already initialised" in cluster.admin("init-cluster", expect=1).stderr
        assert "power of two" in cluster.admin("init-cluster", "--force", "--chunk-size", "3000", expect=1).stderr
        for _ in range(5):  # a loaded machine may move the lease meanwhile
            status, reply = m.heartbeat(primary, 12, "127.0.0.1:1", [(1101, 0, m.UP_TO_DATE, 0, 0)])
            if status != 26:  # NOT_PRIMARY
                break
            primary, _ = cluster.wait_for_primary()
        assert status != 0 and b"belongs to node 11" in reply
        status, _ = m.call(primary, m.HEARTBEAT, b"\x01\x02")
        assert status == 10  # MALFORMED
        # A chain table too large for one KV value is refused with its limit.
        too_many = 24577
        status, reply = m.call(primary, 5, struct.pack("<II", 1, too_many) + b"\x01\x00\x00\x00" * too_many)
        assert status != 0 and b"at most 24576 chains" in reply, reply
        # Nothing that was refused left a trace (heartbeats may still move versions).
        assert definitions() == before
    finally:
        storage.stop()


@pytest.fixture
def lmdb_cluster(tmp_path):
    cluster = Cluster(tmp_path, ["kv.backend=lmdb", "kv.lmdb_path=%s" % (tmp_path / "kv"),
                                 "kv.durability=nosync"])
    yield cluster
    cluster.stop()


def public_states(cluster, chain_id):
    return [(t["target_id"], t["public_state"]) for t in cluster.chains()[chain_id]["targets"]]


def test_operator_holds_a_target_offline_and_disables_a_node(lmdb_cluster, tmp_path):
    cluster = lmdb_cluster
    primary, _ = cluster.wait_for_primary()
    storage = setup_chains(cluster, tmp_path)
    explain = explain_cluster(cluster, storage)
    try:
        assert "done" in cluster.admin("offline-target", "1301").stdout
        wait_until(lambda: public_states(cluster, 1)[-1] == (1301, "offline"), 10,
                   "1301 held offline although its heartbeats say up-to-date", explain)
        time.sleep(5 * TICK_S)
        assert public_states(cluster, 1)[-1] == (1301, "offline")
        # Released, it comes back like any returning target: online, then recovered.
        storage.local_states[1301] = m.ONLINE
        cluster.admin("online-target", "1301")
        wait_until(lambda: public_states(cluster, 1)[-1] == (1301, "syncing"), 10, "1301 syncing", explain)
        storage.local_states[1301] = m.UP_TO_DATE
        wait_until(lambda: public_states(cluster, 1)[-1] == (1301, "serving"), 10, "1301 serving", explain)
        assert "does not exist" in cluster.admin("offline-target", "424242", expect=1).stderr

        cluster.admin("disable-node", "13")
        nodes = {n["node_id"]: n for n in map(json.loads, cluster.admin("--json", "list-nodes").stdout.splitlines())}
        assert nodes[13]["enabled"] is False and nodes[13]["alive"] is False
        wait_until(lambda: any(e[1] == 13 and e[2] == 21 for e in storage.errors), 5,
                   "heartbeats of the disabled node refused", explain)
        wait_until(lambda: (1301, "offline") in public_states(cluster, 1), 10, "1301 offline", explain)
        cluster.admin("enable-node", "13")
        wait_until(lambda: {n["node_id"]: n["alive"] for n in map(
            json.loads, cluster.admin("--json", "list-nodes").stdout.splitlines())}[13], 10,
            "node 13 alive again", explain)
        assert "does not exist" in cluster.admin("disable-node", "77", expect=1).stderr
    finally:
        storage.stop()


def test_configs_are_versioned_per_node_type(lmdb_cluster, tmp_path):
    cluster = lmdb_cluster
    primary, _ = cluster.wait_for_primary()
    first = tmp_path / "meta1.ini"
    first.write_text("[rpc]\nworker_threads = 8\n")
    second = tmp_path / "meta2.ini"
    second.write_text("[rpc]\nworker_threads = 16\n")
    assert "meta config version 1 stored" in cluster.admin("set-config", "meta", str(first)).stdout
    assert "meta config version 2 stored" in cluster.admin("set-config", "meta", str(second)).stdout
    assert "worker_threads = 16" in cluster.admin("get-config", "meta").stdout
    assert "worker_threads = 8" in cluster.admin("get-config", "meta", "1").stdout
    assert "no config stored for storage" in cluster.admin("get-config", "storage", expect=1).stderr
    broken = tmp_path / "broken.ini"
    broken.write_text("[rpc\nx = 1\n")
    assert "line 1: syntax error" in cluster.admin("set-config", "meta", str(broken), expect=1).stderr
    assert "unknown node type" in cluster.admin("set-config", "mgmtd", str(first), expect=2).stderr
    # A heartbeat reply carries the newest config version of the node's type.
    status, reply = m.call(primary, m.HEARTBEAT, m.heartbeat_message(21, "127.0.0.1:2", [], node_type=2))
    assert status == 0
    routing_version, config_version = struct.unpack("<QQ", reply)
    assert config_version == 2


def test_node_applies_cluster_config_live(lmdb_cluster, tmp_path):
    """A member fetches its type's config when a heartbeat announces a new version:
    [log] level applies at once; bad text is refused and changes nothing; --set
    overrides keep precedence over the cluster config."""
    cluster = lmdb_cluster
    cluster.wait_for_primary()
    node = Daemon(tmp_path, subcommand="node", name="member",
                  settings=["node.mgmtd=%s" % cluster.addresses, "node.node_id=40",
                            "node.type=client", "node.heartbeat_interval=100ms",
                            "node.heartbeat_fail_interval=%dms" % (FAIL_S * 1000),
                            "rpc.max_in_flight=64"])
    try:
        config = tmp_path / "client.ini"
        config.write_text("[log]\nlevel = debug\n[rpc]\nmax_in_flight = 128\nworker_threads = 6\n")
        cluster.admin("set-config", "client", str(config))
        # max_in_flight is pinned by --set, so only level and worker_threads change.
        assert node.wait_for_log("cluster config version 1 applied; 2 setting(s) changed: "
                          "log.level, rpc.worker_threads", timeout=10)
        broken = tmp_path / "broken.ini"
        broken.write_text("[rpc]\nworker_threads = many\n")
        cluster.admin("set-config", "client", str(broken))
        assert node.wait_for_log("cluster config version 2 not applied: cluster config v2:2: "
                          "[rpc] worker_threads: expected an integer", timeout=10)
        config.write_text("[log]\nlevel = info\n")
        cluster.admin("set-config", "client", str(config))
        assert node.wait_for_log("cluster config version 3 applied", timeout=10)
        assert node.process.poll() is None
    finally:
        assert node.stop() == 0
        node.assert_clean_log()


def test_heartbeats_of_an_older_process_are_refused(lmdb_cluster):
    """After a partition heals the kernel may deliver heartbeats a dead process sent:
    mgmtd refuses those older than the newest process it heard from."""
    cluster = lmdb_cluster
    def beat(incarnation, state=m.UP_TO_DATE):
        message = m.heartbeat_message(61, "127.0.0.1:6", [(6101, 0, state, 0, 1 << 30)])
        if incarnation is not None:
            message += struct.pack("<Q", incarnation)
        for _ in range(5):
            status, reply = m.call(cluster.wait_for_primary()[0], m.HEARTBEAT, message)
            if status != 26:  # NOT_PRIMARY: the lease moved on a loaded machine
                break
        return status, reply
    assert beat(2000)[0] == 0
    status, reply = beat(1000, m.ONLINE)
    assert status != 0 and b"older process of node 61" in reply, reply
    assert beat(2000)[0] == 0
    assert beat(None)[0] == 0  # senders without an incarnation are not judged
    assert beat(3000, m.ONLINE)[0] == 0
    assert beat(2000)[0] != 0
    targets = {t["target_id"]: t for t in map(json.loads, cluster.admin("--json", "list-targets").stdout.splitlines())}
    assert targets[6101]["local_state"] == "online"


def test_client_sessions_live_and_die(lmdb_cluster):
    cluster = lmdb_cluster
    primary, _ = cluster.wait_for_primary()
    message = m.wire_string("client-7f3a") + m.wire_string("host-a pid 42")
    for _ in range(3):
        assert m.call(primary, 11, message)[0] == 0
        time.sleep(0.2)
    sessions = [json.loads(l) for l in cluster.admin("--json", "list-client-sessions").stdout.splitlines()]
    assert sessions == [{"client_id": "client-7f3a", "alive": True, "description": "host-a pid 42"}]
    # It stops extending: dead after the failure interval.
    wait_until(lambda: not json.loads(cluster.admin("--json", "list-client-sessions").stdout)["alive"],
               FAIL_S + 5, "session marked dead")
    assert m.call(primary, 11, m.wire_string("") + m.wire_string("x"))[0] == 10  # MALFORMED


def test_generated_chain_table_uploads(lmdb_cluster, tmp_path):
    cluster = lmdb_cluster
    cluster.wait_for_primary()
    chains, table = tmp_path / "chains.csv", tmp_path / "table.csv"
    result = cluster.admin("gen-chain-table", "--nodes", "31,32,33,34", "--disks", "1",
                           "--targets-per-disk", "3", "--replicas", "3", "--chains-out", str(chains),
                           "--table-out", str(table))
    assert "4 chains of 3 replicas over 4 nodes" in result.stdout
    rows = [line.split(",") for line in chains.read_text().splitlines()[1:]]
    assert all(len({int(t) // 1000000 for t in row[1:]}) == 3 for row in rows)  # distinct nodes
    nodes = {n: [n * 1000000 + 1 + i for i in range(3)] for n in (31, 32, 33, 34)}
    storage = StorageNodes(cluster, nodes)
    try:
        wait_until(lambda: cluster.status()["targets"] == 12, 10, "targets registered")
        assert "4 chains created" in cluster.admin("upload-chains", str(chains)).stdout
        assert "version 1" in cluster.admin("upload-chain-table", "1", str(table)).stdout
        assert cluster.status()["chains_healthy"] == 4
    finally:
        storage.stop()
    bad = cluster.admin("gen-chain-table", "--nodes", "31,32", "--disks", "1", "--targets-per-disk",
                        "3", "--replicas", "3", "--chains-out", str(chains), "--table-out", str(table),
                        expect=2)
    assert "impossible layout" in bad.stderr


@pytest.mark.parametrize("backend", ["lmdb", "postgres"])
def test_busy_heartbeats_never_look_silent(request, tmp_path, backend):
    """Regression: a heartbeat that landed while the failure sweep ran made the node's
    last-heard time later than the sweep's clock, the unsigned difference wrapped, and
    a node beating many times a second was declared failed."""
    if backend == "lmdb":
        settings = ["kv.lmdb_path=%s" % (tmp_path / "kv"), "kv.durability=nosync"]
    else:
        settings = ["kv.backend=postgres", "kv.postgres_table=busy_%d" % os.getpid(),
                    "kv.postgres_conninfo=%s" % request.getfixturevalue("postgres")]
    daemon = Daemon(tmp_path, subcommand="mgmtd", name="mgmtd-1",
                    settings=["mgmtd.tick_interval=20ms", "mgmtd.lease_length=1s",
                              "mgmtd.heartbeat_fail_interval=60s", *settings])
    try:
        wait_until(lambda: m.get_primary(daemon.address)[2], 10, "primary")
        deadline = time.monotonic() + 3
        beats = 0
        while time.monotonic() < deadline:
            status, _ = m.heartbeat(daemon.address, 11, "127.0.0.1:1", [(1101, 0, m.UP_TO_DATE, 1, 2)])
            assert status == 0
            beats += 1
        assert beats > 50
        assert "marking it failed" not in daemon.log_text()
    finally:
        assert daemon.stop() == 0
        daemon.assert_clean_log()


@pytest.mark.parametrize("setting,message", [
    ("kv.backend=foundationdb", "[kv] backend: expected lmdb or postgres"),
    ("kv.durability=maybe", "[kv] durability: expected sync or nosync"),
    ("kv.backend=postgres", "needs postgres_conninfo"),
])
def test_bad_kv_settings_stop_mgmtd_at_start(tmp_path, setting, message):
    result = subprocess.run([chainfs_binary(), "mgmtd", "--set", "daemon.run_dir=%s" % tmp_path,
                             "--set", "kv.lmdb_path=%s" % (tmp_path / "kv"), "--set", setting],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert message in result.stderr, result.stderr
    assert not (tmp_path / "mgmtd.pid").exists() and not (tmp_path / "mgmtd.address").exists()


def test_small_space_changes_do_not_rewrite_targets(lmdb_cluster):
    """Heartbeats carry space usage that moves at every beat; only moves of more than
    1/256 of the capacity (at least 1 MiB) are stored, so beats do not keep rewriting
    the target records that the sweeps read."""
    cluster = lmdb_cluster
    primary, _ = cluster.wait_for_primary()
    capacity = 1 << 30
    assert m.heartbeat(primary, 41, "127.0.0.1:4", [(4101, 0, m.UP_TO_DATE, 0, capacity)])[0] == 0

    def used():
        targets = map(json.loads, cluster.admin("--json", "list-targets").stdout.splitlines())
        return next(t["used_bytes"] for t in targets if t["target_id"] == 4101)
    for step in range(1, 20):  # +4 KiB per beat: below the threshold
        assert m.heartbeat(primary, 41, "127.0.0.1:4", [(4101, 0, m.UP_TO_DATE, step * 4096, capacity)])[0] == 0
    assert used() == 0
    big = capacity // 256 + 1
    assert m.heartbeat(primary, 41, "127.0.0.1:4", [(4101, 0, m.UP_TO_DATE, big, capacity)])[0] == 0
    assert used() == big


def test_unregister_node_only_when_down_and_out_of_chains(lmdb_cluster, tmp_path):
    cluster = lmdb_cluster
    primary, _ = cluster.wait_for_primary()
    for node in (51, 52):
        status, _ = m.heartbeat(primary, node, "127.0.0.1:5", [(node * 100 + 1, 0, m.UP_TO_DATE, 0, 1 << 30)])
        assert status == 0
    chains = tmp_path / "one.csv"
    chains.write_text("9,5201\n")
    cluster.admin("upload-chains", str(chains))
    # Node 51 keeps beating while it must count as up: on a loaded machine one admin
    # command can outlast FAIL_S.
    beating = threading.Event()
    beating.set()
    def beat():
        while beating.is_set():
            m.heartbeat(primary, 51, "127.0.0.1:5", [(5101, 0, m.UP_TO_DATE, 0, 1 << 30)])
            time.sleep(0.1)
    beater = threading.Thread(target=beat)
    beater.start()
    try:
        time.sleep(0.3)
        assert "is up" in cluster.admin("unregister-node", "51", expect=1).stderr
    finally:
        beating.clear()
        beater.join()
    cluster.admin("disable-node", "51")
    cluster.admin("disable-node", "52")
    assert "is in chain 9" in cluster.admin("unregister-node", "52", expect=1).stderr
    assert "done" in cluster.admin("unregister-node", "51").stdout
    nodes = [json.loads(l)["node_id"] for l in cluster.admin("--json", "list-nodes").stdout.splitlines()]
    targets = [json.loads(l)["target_id"] for l in cluster.admin("--json", "list-targets").stdout.splitlines()]
    assert 51 not in nodes and 52 in nodes
    assert 5101 not in targets and 5201 in targets
    assert "does not exist" in cluster.admin("unregister-node", "51", expect=1).stderr
