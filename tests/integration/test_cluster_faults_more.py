"""More fault scenarios of issue #8 on a whole local cluster (`chainfs up --fast`), each
with the verifying workload writing and reading through the FUSE mount throughout:

  * a meta server SIGKILLed: the mount fails over to the other one (reliability row 10);
  * the only mgmtd stopped (SIGTERM or SIGKILL) and restarted half a second later: the
    cluster should keep serving (row 9; fails today, strict xfail under -m chaos);
  * the storage service holding a chain's head killed and restarted, then two of the
    three storage services killed in turn, so that chains run on one replica, and
    both restarted (row 8; under -m chaos while it finds a replica difference).

At the end of each: the workload clean, every file as its log says, replicas identical
chunk by chunk, no sanitizer report in any service log. Measured times are printed (-s)."""
import glob
import os
import signal
import threading
import time

import pytest

import faults
from conftest import SANITIZER_MARKS
from test_cluster_faults import cluster, workload_on  # noqa: F401 (the fixture)
from workload import expected_from_log, verify_directory


def sanitizer_reports(cluster):
    """Service logs of the cluster (restarted ones included) that hold a sanitizer report."""
    found = []
    for path in glob.glob(os.path.join(cluster.directory, "log", "*")):
        with open(path, errors="replace") as file:
            text = file.read()
        found += ["%s: %s" % (os.path.basename(path), mark) for mark in SANITIZER_MARKS if mark in text]
    return found


def start_workload(cluster, tmp_path, duration, seed):
    workload = workload_on(cluster, tmp_path, duration=duration, seed=seed)
    runner = threading.Thread(target=workload.run, daemon=True)
    runner.start()
    return workload, runner


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


def finish(cluster, workload, runner, tmp_path, report):
    """Waits for the workload and checks everything the scenarios promise."""
    runner.join(timeout=120)
    assert not runner.is_alive(), "the workload did not finish"
    workload.close()
    print("\n%s\n%s" % (report, workload.summary()))
    assert workload.ok and not workload.in_doubt, workload.summary()
    cluster.wait_for(lambda states: all(s == "serving" for s in states.values()), 30,
                     "every target serving at the end")
    assert cluster.replica_differences() == []
    assert verify_directory(workload.root, expected_from_log(tmp_path / "workload.log")) == []
    assert sanitizer_reports(cluster) == []


def restart(cluster, victim, name):
    """Restarts a killed service of the cluster, its output in log/<name>.restarted.log.
    The new process is a child of the test: a thread reaps it when `chainfs down` stops
    it, or down would wait its whole timeout (about 25 s) for the zombie to go."""
    restarted = victim.restart(os.path.join(cluster.directory, "log", "%s.restarted.log" % name))
    threading.Thread(target=restarted.popen.wait, daemon=True).start()
    return restarted


def test_meta_server_killed_mount_fails_over(cluster, tmp_path):
    workload, runner = start_workload(cluster, tmp_path, duration=14.0, seed=41)
    time.sleep(3)
    victim = faults.ExternalProcess.from_pid_file(cluster.run_file("meta-1.pid"))
    victim.kill()
    killed_at = time.monotonic()
    ops_at_kill = workload.counts["write_ops"]
    # The first acknowledged write after the kill: the mount found the other server.
    wait_until(lambda: workload.counts["write_ops"] > ops_at_kill + 1, 30, "writes after the kill")
    resumed = time.monotonic() - killed_at
    time.sleep(4)
    ops_while_down = workload.counts["write_ops"] - ops_at_kill
    restarted = restart(cluster, victim, "meta-1")
    finish(cluster, workload, runner, tmp_path,
           "meta-1 killed: writes acknowledged again %.2f s after the kill, %d writes while it was "
           "down" % (resumed, ops_while_down))
    assert ops_while_down > 0
    assert restarted.alive()


# Expected to fail today, so kept out of the default suite (-m chaos runs it), see
# docs/reliability.md row 9. `chainfs up` runs one mgmtd listening on a port the kernel
# picks, and gives every service and the mount that address: a restarted mgmtd listens
# on another port, so nobody finds it, and after half the failure interval (1.5 s with
# --fast) the storage services exit and the meta servers stop serving. With SIGKILL
# the restarted mgmtd would also wait a whole lease length (10 s) before taking over,
# since the dead one did not release the lease.
LOCAL_MGMTD_RESTART_BROKEN = pytest.mark.xfail(
    strict=True, reason="a restarted local mgmtd listens on a new port the services never learn")


@pytest.mark.chaos
@LOCAL_MGMTD_RESTART_BROKEN
@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGKILL])
def test_mgmtd_restarted_cluster_keeps_serving(cluster, tmp_path, signal_number):
    workload, runner = start_workload(cluster, tmp_path, duration=14.0, seed=42)
    time.sleep(3)
    victim = faults.ExternalProcess.from_pid_file(cluster.run_file("mgmtd-1.pid"))
    os.kill(victim.pid, signal_number)
    killed_at = time.monotonic()
    ops_at_kill = workload.counts["write_ops"]
    wait_until(lambda: not victim.alive(), 10, "mgmtd gone")
    # Services stop serving once mgmtd has been silent for half the failure interval
    # (1.5 s with --fast): it must be back before that.
    time.sleep(max(0.0, 0.5 - (time.monotonic() - killed_at)))
    restarted = restart(cluster, victim, "mgmtd-1")
    restarted_at = time.monotonic()
    wait_until(lambda: _answers(cluster), 30, "the restarted mgmtd answering")
    answering = time.monotonic() - restarted_at
    ops_while_down = workload.counts["write_ops"] - ops_at_kill
    finish(cluster, workload, runner, tmp_path,
           "mgmtd stopped (signal %d), restarted %.2f s later, answered %.2f s after its restart; "
           "%d writes acknowledged from the stop until it answered" % (
               signal_number, restarted_at - killed_at, answering, ops_while_down))
    assert ops_while_down > 0
    assert restarted.alive()
    for name in ("meta-1", "meta-2", "storage-1", "storage-2", "storage-3"):
        assert faults.ExternalProcess.from_pid_file(cluster.run_file(name + ".pid")).alive(), name


def _answers(cluster):
    try:
        cluster.target_states()
        return True
    except AssertionError:
        return False


def storage_of_node(node_id):
    return "storage-%d" % (node_id - 10)


def kill_storage(cluster, name):
    """SIGKILLs a storage service and waits until mgmtd publishes its targets offline.
    Returns (the process, its targets, seconds until offline)."""
    node_id = int(name.split("-")[1]) + 10
    targets = [t["target_id"] for t in cluster.admin_lines("list-targets") if t["node_id"] == node_id]
    assert targets
    victim = faults.ExternalProcess.from_pid_file(cluster.run_file(name + ".pid"))
    victim.kill()
    killed_at = time.monotonic()
    cluster.wait_for(lambda states: all(states[t] in ("offline", "lastsrv") for t in targets), 30,
                     "%s's targets offline" % name)
    return victim, targets, time.monotonic() - killed_at


def restart_storage(cluster, victim, name):
    restarted = restart(cluster, victim, name)
    restarted_at = time.monotonic()
    cluster.wait_for(lambda states: all(s == "serving" for s in states.values()), 60,
                     "every target serving after %s restarted" % name)
    return restarted, time.monotonic() - restarted_at


# Under -m chaos, not the default suite, until the replica difference it found in one of
# three runs is fixed (docs/reliability.md, row 8 and "Open: an extra chunk ...").
@pytest.mark.chaos
def test_chain_head_then_two_of_three_storage_services_killed(cluster, tmp_path):
    workload, runner = start_workload(cluster, tmp_path, duration=30.0, seed=43)
    time.sleep(3)
    first_chain = cluster.admin_lines("list-chains")[0]
    head_target = first_chain["targets"][0]["target_id"]
    head_node = next(t["node_id"] for t in cluster.admin_lines("list-targets")
                     if t["target_id"] == head_target)
    head = storage_of_node(head_node)
    victim, _, head_detected = kill_storage(cluster, head)
    _, head_recovered = restart_storage(cluster, victim, head)

    others = [name for name in ("storage-1", "storage-2", "storage-3") if name != head]
    ops_before = workload.counts["write_ops"]
    first, _, first_detected = kill_storage(cluster, others[0])
    second, _, second_detected = kill_storage(cluster, others[1])
    ops_at_one_replica = workload.counts["write_ops"]
    time.sleep(2)  # writes go on with a single replica per chain
    ops_on_one_replica = workload.counts["write_ops"] - ops_at_one_replica
    states_on_one_replica = cluster.target_states()
    first_restarted = restart(cluster, first, others[0])
    _, both_recovered = restart_storage(cluster, second, others[1])
    ops_while_two_down = workload.counts["write_ops"] - ops_before
    finish(cluster, workload, runner, tmp_path,
           "head (%s) killed: offline after %.2f s, serving %.2f s after restart; then %s and %s "
           "killed: offline after %.2f s and %.2f s, %d writes on one replica in 2 s (states %s), "
           "all serving %.2f s after both restarted, %d writes during that phase" % (
               head, head_detected, head_recovered, others[0], others[1], first_detected,
               second_detected, ops_on_one_replica, states_on_one_replica, both_recovered,
               ops_while_two_down))
    assert ops_on_one_replica > 0
    assert first_restarted.alive()
