"""Fault scenarios of issue #8 on a whole local cluster (`chainfs up --fast`: mgmtd, two
meta servers, three storage services, the FUSE mount), with the verifying workload
writing and reading through the mount throughout: a storage service SIGKILLed mid-write
and restarted (detection, recovery, replicas compared chunk by chunk), and the whole
cluster stopped and started again (everything the log says was acknowledged is there).

They run in the default suite (about a minute each); they skip where
the binary has no FUSE mount yet. Measured times are printed (-s)."""
import json
import os
import subprocess
import threading
import time

import pytest

import faults
from workload import Workload, expected_from_log, verify_directory


class LocalCluster:
    """`chainfs up --fast [--mgmtd N]` in a directory of its own; down() at teardown."""

    def __init__(self, binary, directory, mgmtd_count=1):
        self.binary, self.directory = binary, str(directory)
        self.mgmtd_count = mgmtd_count
        self.mountpoint = os.path.join(self.directory, "mnt")

    def chainfs(self, *args, timeout=180, expect=0):
        result = subprocess.run([self.binary, *args], capture_output=True, text=True, timeout=timeout,
                                stdin=subprocess.DEVNULL)
        assert expect is None or result.returncode == expect, result.stdout + result.stderr
        return result

    def up(self):
        started = time.monotonic()
        self.chainfs("up", "--dir", self.directory, "--fast", "--mgmtd", str(self.mgmtd_count))
        assert os.path.ismount(self.mountpoint)
        return time.monotonic() - started

    def down(self):
        return self.chainfs("down", "--dir", self.directory, expect=None)

    def run_file(self, name):
        return os.path.join(self.directory, "run", name)

    def mgmtd_addresses(self):
        """Every mgmtd's pinned address, mgmtd-1 first (run/mgmtd-addresses)."""
        with open(self.run_file("mgmtd-addresses")) as file:
            return [line.strip() for line in file if line.strip()]

    def mgmtd(self):
        """"host:port,host:port..." of every mgmtd: tools find the primary among them."""
        return ",".join(self.mgmtd_addresses())

    def primary_mgmtd(self):
        """The name (mgmtd-N) that `chainfs status` shows holding the lease, or None."""
        result = self.chainfs("status", "--dir", self.directory, expect=None)
        names = [line.split()[0] for line in result.stdout.splitlines()
                 if line.strip().startswith("mgmtd-") and line.rstrip().endswith(", primary")]
        return names[0] if len(names) == 1 else None

    def admin_lines(self, *args):
        result = self.chainfs("admin", "--mgmtd", self.mgmtd(), "--json", *args)
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]

    def target_states(self):
        """{target id: public state} over every chain."""
        return {t["target_id"]: t["public_state"] for chain in self.admin_lines("list-chains")
                for t in chain["targets"]}

    def wait_for(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.target_states()):
                return
            time.sleep(0.1)
        raise AssertionError("timed out after %ss waiting for %s: %s" % (timeout, what, self.target_states()))

    def replica_differences(self):
        """Chunks (inode, index, length, crc) that differ between replicas of a chain."""
        problems = []
        for chain in self.admin_lines("list-chains"):
            dumps = {}
            for target in chain["targets"]:
                result = self.chainfs("storage-tool", "--mgmtd", self.mgmtd(), "dump", "--target",
                                      str(target["target_id"]))
                dumps[target["target_id"]] = {
                    (c["inode"], c["index"]): (c["length"], c["crc"], c["pending_version"])
                    for c in map(json.loads, result.stdout.splitlines())}
            first_id, first = next(iter(dumps.items()))
            for target_id, chunks in dumps.items():
                if chunks != first:
                    keys = {k for k in set(chunks) | set(first) if chunks.get(k) != first.get(k)}
                    problems.append("chain %d: targets %d and %d differ in %d chunks, e.g. %s" % (
                        chain["chain_id"], first_id, target_id, len(keys), sorted(keys)[:3]))
        return problems


@pytest.fixture
def cluster(binary, tmp_path, request):
    """A local cluster, up; indirect parametrization gives its mgmtd count (default 1)."""
    usage = subprocess.run([binary], capture_output=True, text=True).stderr
    if " mount " not in usage or " storage " not in usage:
        pytest.skip("this chainfs has no FUSE mount or storage service yet")
    local = LocalCluster(binary, tmp_path / "cluster", getattr(request, "param", 1))
    local.up()
    yield local
    down = local.down()
    assert not os.path.ismount(local.mountpoint), down.stdout + down.stderr


def workload_on(cluster, tmp_path, duration, seed):
    return Workload(os.path.join(cluster.mountpoint, "work"), writers=3, readers=2, files_per_writer=3,
                    max_file_size=3 << 20, max_write=512 << 10, ops_per_writer=10**6, duration=duration,
                    seed=seed, retry_for=30.0, log_path=tmp_path / "workload.log")


def test_storage_service_killed_mid_write_recovers(cluster, tmp_path):
    workload = workload_on(cluster, tmp_path, duration=25.0, seed=21)
    runner = threading.Thread(target=workload.run, daemon=True)
    runner.start()
    time.sleep(4)
    victim = faults.ExternalProcess.from_pid_file(cluster.run_file("storage-2.pid"))
    victim_targets = [t["target_id"] for t in cluster.admin_lines("list-targets") if t["node_id"] == 12]
    assert victim_targets
    victim.kill()
    killed_at = time.monotonic()
    writes_at_kill = workload.counts["write_ops"]
    cluster.wait_for(lambda states: all(states[t] in ("offline", "lastsrv") for t in victim_targets), 30,
                     "the killed service's targets offline")
    detected = time.monotonic() - killed_at
    time.sleep(3)  # writes go on over the shortened chains
    writes_while_down = workload.counts["write_ops"] - writes_at_kill
    restarted = victim.restart(os.path.join(cluster.directory, "log", "storage-2.restarted.log"))
    restarted_at = time.monotonic()
    cluster.wait_for(lambda states: all(s == "serving" for s in states.values()), 60,
                     "every target serving again")
    recovered = time.monotonic() - restarted_at
    runner.join(timeout=120)
    workload.close()
    print("\nstorage service killed: targets offline after %.2f s, %d writes acknowledged while it was "
          "down, serving again %.2f s after its restart\n%s" % (detected, writes_while_down, recovered,
                                                                workload.summary()))
    assert workload.ok and not workload.in_doubt, workload.summary()
    assert writes_while_down > 0
    assert cluster.replica_differences() == []
    assert verify_directory(workload.root, expected_from_log(tmp_path / "workload.log")) == []
    assert restarted.alive()


def test_whole_cluster_restart_keeps_everything(cluster, tmp_path):
    workload = workload_on(cluster, tmp_path, duration=8.0, seed=22).run()
    workload.close()
    assert workload.ok, workload.summary()
    down = cluster.down()
    assert down.returncode == 0, down.stdout + down.stderr
    took = cluster.up()
    print("\nwhole cluster down and up again in %.1f s\n%s" % (took, workload.summary()))
    assert verify_directory(workload.root, expected_from_log(tmp_path / "workload.log")) == []
    assert cluster.replica_differences() == []
