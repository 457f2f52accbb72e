"""A storage host cut off from the cluster, with the whole cluster as separate hosts
(netns.py): mgmtd and a meta server on host "ctl", three storage services on hosts
s1-s3, and the FUSE mount in the test's own namespace (reaching them all over the
bridge) with the verifying workload running through it.

Expected (DESIGN §5): the cut-off service stops serving (exits) within half the
failure interval; mgmtd marks its targets offline after the failure interval and the
chains go on without them; writes continue; after healing, the service is started
again, its targets recover and serve; nothing acknowledged is lost and the replicas
of every chain are identical. It runs in the default suite (about a minute);
skips where the binary has no storage service or FUSE mount yet. Prints its times."""
import os
import signal
import subprocess
import threading
import time

import pytest

import faults
from conftest import Daemon
from test_cluster_faults import LocalCluster
from workload import Workload, expected_from_log, verify_directory

FAIL_MS = 3000
HEARTBEAT_MS = 200
NODES = (11, 12, 13)


def log_time(daemon, text):
    """Wall-clock time (seconds since the epoch) of the first log line holding text."""
    from datetime import datetime, timezone
    line = next(line for line in daemon.log_text().splitlines() if text in line)
    stamp = datetime.strptime(line.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ")
    return stamp.replace(tzinfo=timezone.utc).timestamp()


class NamespacedCluster(LocalCluster):
    """The services of a cluster as Daemons on hosts of a network; the LocalCluster
    helpers (admin, target states, replica comparison) work on it unchanged."""

    def __init__(self, binary, network, tmp_path):
        super().__init__(binary, tmp_path)
        self.network, self.tmp_path = network, tmp_path
        self.mountpoint = str(tmp_path / "mnt")
        self.mount = None
        self.storage = {}
        control = network.add_host("ctl")
        kv = ["kv.backend=lmdb", "kv.lmdb_path=%s" % (tmp_path / "kv"), "kv.durability=nosync"]
        self.mgmtd_daemon = Daemon(tmp_path, subcommand="mgmtd", name="mgmtd-1", host=control, settings=[
            "mgmtd.node_id=1", "mgmtd.lease_length=1000ms", "mgmtd.tick_interval=100ms",
            "mgmtd.heartbeat_fail_interval=%dms" % FAIL_MS, *kv])
        self.chainfs("admin", "--mgmtd", self.mgmtd(), "init-cluster", "--chunk-size", str(1 << 20))
        self.meta = Daemon(tmp_path, subcommand="meta", name="meta-1", host=control, settings=[
            "meta.node_id=51", "meta.mgmtd=%s" % self.mgmtd(), "meta.heartbeat_interval=%dms" % HEARTBEAT_MS,
            "meta.heartbeat_fail_interval=%dms" % FAIL_MS, "meta.gc_interval=200ms", *kv])
        for index, node_id in enumerate(NODES, 1):
            host = network.add_host("s%d" % index)
            (tmp_path / ("storage-%d" % node_id)).mkdir()
            self.storage[node_id] = Daemon(tmp_path, subcommand="storage", name="storage-%d" % node_id,
                                           host=host, settings=[
                "storage.node_id=%d" % node_id, "storage.mgmtd=%s" % self.mgmtd(),
                "storage.disks=%s" % (tmp_path / ("storage-%d" % node_id) / "disk0"),
                "storage.sync=false", "storage.heartbeat_interval=%dms" % HEARTBEAT_MS,
                "storage.heartbeat_fail_interval=%dms" % FAIL_MS, "storage.routing_interval=200ms"])

    def mgmtd(self):
        return self.mgmtd_daemon.address

    def create_chains(self):
        import storage_wire  # lands with the storage service
        chains, table = self.tmp_path / "chains.csv", self.tmp_path / "table.csv"
        self.chainfs("admin", "gen-chain-table", "--nodes", ",".join(map(str, NODES)), "--disks", "1",
                     "--targets-per-disk", "2", "--replicas", "3", "--chains-out", str(chains),
                     "--table-out", str(table))
        targets = sorted({int(t) for line in chains.read_text().splitlines()[1:] for t in line.split(",")[1:]})
        for target in targets:
            status, _ = storage_wire.create_target(self.storage[target // 1000000].address, target)
            assert status == storage_wire.OK, (target, status)
        deadline = time.monotonic() + 20
        while len(self.admin_lines("list-targets")) < len(targets) and time.monotonic() < deadline:
            time.sleep(0.1)
        self.chainfs("admin", "--mgmtd", self.mgmtd(), "upload-chains", str(chains))
        self.chainfs("admin", "--mgmtd", self.mgmtd(), "upload-chain-table", "1", str(table))
        self.wait_for(lambda states: states and all(s == "serving" for s in states.values()), 30,
                      "every chain serving")

    def start_mount(self):
        os.makedirs(self.mountpoint, exist_ok=True)
        log = open(self.tmp_path / "mount.log", "ab")
        self.mount = subprocess.Popen([self.binary, "mount", "--mgmtd", self.mgmtd(), "--client-id",
                                       "partition-test-%d" % os.getpid(), "--length-report-ms", "200",
                                       "--session-interval-ms", "500", "--io-timeout-ms", "10000",
                                       self.mountpoint],
                                      stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 20
        while not os.path.ismount(self.mountpoint):
            assert self.mount.poll() is None and time.monotonic() < deadline, \
                (self.tmp_path / "mount.log").read_text()
            time.sleep(0.05)

    def stop(self):
        """Unmounts (SIGTERM to the mount), then stops every service; exit codes."""
        codes = {}
        if self.mount is not None and self.mount.poll() is None:
            self.mount.send_signal(signal.SIGTERM)
            codes["mount"] = self.mount.wait(timeout=30)
        if os.path.ismount(self.mountpoint):
            subprocess.run(["umount", "-l", self.mountpoint], capture_output=True)
        for daemon in [*self.storage.values(), self.meta, self.mgmtd_daemon]:
            if not daemon.log.closed:
                codes[daemon.name] = daemon.stop()
        return codes


@pytest.fixture
def namespaced_cluster(network, binary, tmp_path):
    usage = subprocess.run([binary], capture_output=True, text=True).stderr
    if " mount " not in usage or " storage " not in usage:
        pytest.skip("this chainfs has no FUSE mount or storage service yet")
    cluster = None
    try:
        cluster = NamespacedCluster(binary, network, tmp_path)
        cluster.create_chains()
        cluster.start_mount()
        yield cluster
    finally:
        if cluster is not None:
            codes = cluster.stop()
            assert set(codes.values()) <= {0}, codes


def test_storage_host_cut_off_stops_serving_and_recovers_after_healing(namespaced_cluster, tmp_path):
    cluster = namespaced_cluster
    victim = cluster.storage[12]
    victim_targets = [t["target_id"] for t in cluster.admin_lines("list-targets") if t["node_id"] == 12]
    workload = Workload(os.path.join(cluster.mountpoint, "work"), writers=3, readers=2, files_per_writer=3,
                        max_file_size=3 << 20, max_write=512 << 10, ops_per_writer=10**6, duration=35.0,
                        seed=31, retry_for=30.0, log_path=tmp_path / "workload.log")
    runner = threading.Thread(target=workload.run, daemon=True)
    runner.start()
    time.sleep(4)
    victim.host.partition()
    cut_at, cut_wall = time.monotonic(), time.time()
    writes_at_cut = workload.counts["write_ops"]
    # It stops serving when it gives up on mgmtd (its log says when); exiting takes longer
    # while calls to peers it can no longer reach run into their timeouts.
    assert victim.wait_for_log("lost contact with mgmtd", timeout=FAIL_MS / 1000 * 3), victim.log_text()
    stopped = log_time(victim, "lost contact with mgmtd") - cut_wall
    cluster.wait_for(lambda states: all(states[t] in ("offline", "lastsrv") for t in victim_targets), 30,
                     "the cut-off service's targets offline")
    # From mgmtd's log: polling from here lags behind a busy workload.
    offline = log_time(cluster.mgmtd_daemon, "node 12 (storage at") - cut_wall
    deadline = cut_at + 30
    while victim.process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    exited = time.monotonic() - cut_at
    assert victim.process.poll() == 0, "the cut-off service still runs after %.1f s" % exited
    # Writes go on over the shortened chains while the host is still cut off (a writer
    # whose call was in flight to it resumes after that call's timeout).
    deadline = time.monotonic() + 20
    while workload.counts["write_ops"] == writes_at_cut and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1)
    writes_while_cut = workload.counts["write_ops"] - writes_at_cut
    victim.host.heal()
    victim.stop()
    cluster.storage[12] = faults.restart(victim)
    healed_at = time.monotonic()
    cluster.wait_for(lambda states: all(s == "serving" for s in states.values()), 60,
                     "every target serving again")
    recovered = time.monotonic() - healed_at
    runner.join(timeout=120)
    workload.close()
    print("\nstorage host cut off: the service stopped serving after %.2f s (failure interval %.1f s) "
          "and exited after %.2f s, its targets were offline after %.2f s, %d writes acknowledged "
          "meanwhile; serving again %.2f s after healing and restart\n%s" % (
              stopped, FAIL_MS / 1000, exited, offline, writes_while_cut, recovered, workload.summary()))
    assert stopped <= FAIL_MS / 1000 / 2 + 1.5, "stopped serving only after %.2f s" % stopped
    assert writes_while_cut > 0
    assert workload.ok and not workload.in_doubt, workload.summary()
    assert cluster.replica_differences() == []
    assert verify_directory(workload.root, expected_from_log(tmp_path / "workload.log")) == []
