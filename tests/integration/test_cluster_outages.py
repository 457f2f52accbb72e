"""Outages of issue #8 on a whole local cluster (`chainfs up --fast`), with the verifying
workload writing and reading through the FUSE mount throughout:

  * every storage service killed, one after another, so that each chain ends on its
    last serving target (lastsrv), then all restarted, the last one to die last: no
    chain may serve again before the target that has its newest data is back, and
    nothing acknowledged may be lost (reliability row 8, the lastsrv step);
  * a storage target's disk filled up under the workload: writes fail with ENOSPC,
    nothing acknowledged is damaged, writing resumes once space is freed (row 12).

At the end of each: the workload clean, every file as its log says, replicas identical
chunk by chunk, no sanitizer report in any service log. Measured times are printed (-s)."""
import errno
import os
import threading
import time

import pytest

import faults
from test_cluster_faults import LocalCluster, cluster, workload_on  # noqa: F401 (the fixture)
from test_cluster_faults_more import finish, kill_storage, restart, start_workload

STORAGE = ("storage-1", "storage-2", "storage-3")
FREEZE_MAX = 0.8  # seconds; `chainfs up --fast` fails a node after 6 s without heartbeats


def test_every_storage_service_killed_then_back_lastsrv(cluster, tmp_path):
    workload, runner = start_workload(cluster, tmp_path, duration=50.0, seed=47)
    time.sleep(3)
    ops_at_first_kill = workload.counts["write_ops"]
    victims, detected = {}, []
    for name in STORAGE:
        victims[name], _, seconds = kill_storage(cluster, name)
        detected.append(seconds)
    states = cluster.target_states()
    # Every chain kept exactly one target as its last serving one: the last to die.
    last_node = [t["target_id"] for t in cluster.admin_lines("list-targets") if t["node_id"] == 13]
    assert all(states[t] == "lastsrv" for t in last_node), states
    assert sorted(set(states.values())) == ["lastsrv", "offline"], states
    ops_at_outage = workload.counts["write_ops"]
    time.sleep(2)  # nothing can be written now; the workload's calls fail and are retried
    # The first two come back: their chains must wait for the lastsrv target.
    restarted = [restart(cluster, victims[name], name) for name in STORAGE[:2]]
    time.sleep(3)
    states = cluster.target_states()
    assert not any(s == "serving" for s in states.values()), states
    back_at = time.monotonic()
    restarted.append(restart(cluster, victims[STORAGE[2]], STORAGE[2]))
    cluster.wait_for(lambda s: all(v == "serving" for v in s.values()), 60,
                     "every target serving after the lastsrv node came back")
    recovered = time.monotonic() - back_at
    ops_at_recovery = workload.counts["write_ops"]
    finish(cluster, workload, runner, tmp_path,
           "storage services killed in turn: offline after %s s; %d writes acknowledged before "
           "the outage, %d during it; every target serving %.2f s after the lastsrv node's "
           "restart" % (", ".join("%.2f" % d for d in detected), ops_at_outage - ops_at_first_kill,
                        ops_at_recovery - ops_at_outage, recovered))
    assert workload.counts["write_ops"] > ops_at_recovery, "no writes after the recovery"
    assert all(process.alive() for process in restarted)


def write_until_no_space(path, limit_bytes, limit_seconds):
    """Writes 1 MiB blocks to path until a write fails with ENOSPC; returns
    (bytes written, the errno that stopped it or None)."""
    block = os.urandom(1 << 20)
    written, deadline = 0, time.monotonic() + limit_seconds
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        while written < limit_bytes and time.monotonic() < deadline:
            try:
                os.pwrite(fd, block, written)
            except OSError as error:
                return written, error.errno
            written += len(block)
    finally:
        try:
            os.close(fd)
        except OSError:
            pass
    return written, None


def test_target_disk_full_writes_fail_with_enospc_then_resume(binary, tmp_path):
    local = LocalCluster(binary, tmp_path / "cluster")
    os.makedirs(os.path.join(local.directory, "storage-2"))
    disk = faults.SmallFilesystem(768 << 20, kind="ext4")
    try:
        os.symlink(disk.path, os.path.join(local.directory, "storage-2", "disk0"))
        local.up()
        try:
            _disk_full_scenario(local, disk, tmp_path)
        finally:
            down = local.down()
            assert not os.path.ismount(local.mountpoint), down.stdout + down.stderr
    finally:
        disk.close()


def _disk_full_scenario(cluster, disk, tmp_path):
    workload, runner = start_workload(cluster, tmp_path, duration=25.0, seed=53)
    time.sleep(3)
    disk.fill(leave=0)
    filled_at = time.monotonic()
    filler = os.path.join(cluster.mountpoint, "filler")
    written, error = write_until_no_space(filler, 1 << 30, 30)
    refused_after = time.monotonic() - filled_at
    assert error == errno.ENOSPC, (written, error and errno.errorcode.get(error, error))
    # Still refused a moment later: nothing got written behind the client's back.
    assert write_until_no_space(filler + "-2", 4 << 20, 10)[1] == errno.ENOSPC
    states_when_full = cluster.target_states()
    assert all(s == "serving" for s in states_when_full.values()), states_when_full
    disk.free()
    freed_at = time.monotonic()
    resumed, error = write_until_no_space(filler + "-3", 8 << 20, 30)
    assert (resumed, error) == (8 << 20, None)
    resumed_after = time.monotonic() - freed_at
    for name in ("filler", "filler-2", "filler-3"):
        os.unlink(os.path.join(cluster.mountpoint, name))
    finish(cluster, workload, runner, tmp_path,
           "disk of storage-2 filled: %d MiB more went in, then ENOSPC %.2f s after the fill; "
           "8 MiB written %.2f s after the space was freed; errors seen by the workload: %s" % (
               written >> 20, refused_after, resumed_after, workload.errors))


def service_fault(cluster, name, kind):
    """A ChaosDriver fault on a service of the local cluster, found by its pid file at
    injection time (it may have been restarted before): SIGKILL, repaired by a restart;
    or SIGSTOP for at most FREEZE_MAX seconds, well under half the failure interval (a
    stall the cluster rides out; a longer freeze is a failure the partition scenarios
    cover: the service stops itself on waking)."""
    def inject():
        process = faults.ExternalProcess.from_pid_file(cluster.run_file(name + ".pid"))
        if kind == "kill":
            process.kill()
            return lambda: restart(cluster, process, name)
        process.pause()
        thaw = threading.Timer(FREEZE_MAX, process.resume)
        thaw.start()

        def repair():
            thaw.cancel()
            process.resume()
        return repair
    return ("%s %s" % (kind, name), inject)


def cluster_chaos_run(cluster, tmp_path, duration, seed):
    catalogue = [service_fault(cluster, name, kind) for name in STORAGE for kind in ("kill", "pause")]
    catalogue += [service_fault(cluster, name, "kill") for name in ("meta-1", "meta-2")]
    workload, runner = start_workload(cluster, tmp_path, duration=duration, seed=seed)
    # One fault at a time; a killed storage service is down 1-4 s, so the next one may
    # come before its targets finished recovering: chains go down to one replica.
    driver = faults.ChaosDriver(catalogue, duration=duration - 5, seed=seed, hold=(1.0, 4.0),
                                gap=(0.5, 2.0)).start()
    driver.join()
    assert driver.errors == [] and driver.active == [], driver.report()
    finish(cluster, workload, runner, tmp_path,
           "chaos over the whole cluster for %.0f s (seed %d): %d faults\n%s" % (
               duration, seed, len(driver.injected()), driver.report()))
    assert len(driver.injected()) >= 3


def test_short_chaos_over_the_whole_cluster(cluster, tmp_path):
    cluster_chaos_run(cluster, tmp_path, duration=30.0, seed=5)


@pytest.mark.chaos
def test_long_chaos_over_the_whole_cluster(cluster, tmp_path):
    cluster_chaos_run(cluster, tmp_path, duration=180.0, seed=6)
