"""The cluster manager as real processes: three mgmtd sharing one KV store (LMDB, and
PostgreSQL), primary election and failover after kill -9, fencing of a frozen primary,
failure detection from heartbeats, chain state changes end to end, and bad requests
that change nothing. Storage nodes are played by the test (mgmtd_wire.heartbeat)."""
import json
import os
import shutil
import signal
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
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _beat(self, primary):
        for node_id, targets in self.nodes.items():
            if node_id in self.silent:
                continue
            reported = [(t, i, self.local_states[t], 1 << 20, 1 << 30) for i, t in enumerate(targets)]
            status, _ = m.heartbeat(primary, node_id, "127.0.0.1:%d" % (20000 + node_id), reported)
            if status != 0:
                raise ConnectionError("heartbeat status %d" % status)

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


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


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
        chain = wait_until(middle_offline, FAIL_S + 5, "target 1201 offline at the tail")
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
                   "target 1201 syncing")
        versions.append(cluster.status()["routing_version"])
        # Recovery done: it reports up-to-date and serves again.
        storage.local_states.update({1201: m.UP_TO_DATE, 1202: m.UP_TO_DATE})
        wait_until(lambda: all(t["public_state"] == "serving" for t in cluster.chains()[1]["targets"]),
                   10, "chain 1 serving again")
        versions.append(cluster.status()["routing_version"])
        assert versions == sorted(versions) and len(set(versions)) == len(versions)
    finally:
        storage.stop()


def test_bad_requests_are_refused_and_change_nothing(cluster, tmp_path):
    primary, _ = cluster.wait_for_primary()
    storage = setup_chains(cluster, tmp_path)
    try:
        version = cluster.status()["routing_version"]
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
        status, reply = m.heartbeat(primary, 12, "127.0.0.1:1", [(1101, 0, m.UP_TO_DATE, 0, 0)])
        assert status != 0 and b"belongs to node 11" in reply
        status, _ = m.call(primary, m.HEARTBEAT, b"\x01\x02")
        assert status == 10  # MALFORMED
        # init-cluster --force is the one change made above.
        assert cluster.status()["routing_version"] == version + 1
        assert len(cluster.chains()) == 2
    finally:
        storage.stop()
