"""More fault scenarios of issue #8 on a whole local cluster (`chainfs up --fast`), each
with the verifying workload writing and reading through the FUSE mount throughout:

  * a meta server SIGKILLed: the mount fails over to the other one (reliability row 10);
  * the primary of three mgmtd SIGKILLed (another takes over, the killed one is
    restarted), and the only mgmtd stopped (SIGTERM) and restarted at once on its
    pinned port (under -m chaos: the restart must beat half the failure interval,
    which a saturated machine can miss): the cluster keeps serving (row 9);
  * the storage service holding a chain's head killed and restarted, then two of the
    three storage services killed in turn, so that chains run on one replica, and
    both restarted (row 8).

At the end of each: the workload clean, every file as its log says, replicas identical
chunk by chunk, no sanitizer report in any service log. Measured times are printed (-s)."""
import datetime
import glob
import json
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


def acknowledged_times(log_path):
    """Times (s since the workload started) of every acknowledged write in its log."""
    times = []
    with open(log_path) as file:
        for line in file:
            record = json.loads(line)
            if record.get("op") in ("create", "write", "append", "truncate", "unlink") and "t" in record:
                times.append(record["t"])
    return sorted(times)


def longest_pause(times, start, end):
    """The longest time without an acknowledged write within [start, end]."""
    inside = [start] + [t for t in times if start < t < end] + [end]
    return max(b - a for a, b in zip(inside, inside[1:]))


def primary_since(cluster, name):
    """When (time.time()) the logs of name (a restarted one's included) say it last
    became the primary, or None."""
    found = None
    for path in glob.glob(os.path.join(cluster.directory, "log", name + ".*log")):
        with open(path, errors="replace") as file:
            for line in file:
                if "is now the primary mgmtd" in line:
                    stamp = datetime.datetime.strptime(line.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ")
                    stamp = stamp.replace(tzinfo=datetime.timezone.utc).timestamp()
                    found = stamp if found is None else max(found, stamp)
    return found


# Reliability row 9. `chainfs up` pins every mgmtd's port (run/mgmtd-addresses), so a
# restarted mgmtd is found where the services and the mount look for it. With --fast a
# member stops serving after 3 s (half the failure interval) without a heartbeat
# (storage exits), and the lease is 1 s, so a follower takes over from a SIGKILLed
# primary well within that. SIGTERM: the only mgmtd stops (releasing the lease) and is
# restarted at once with its own command line, as a supervisor would. SIGKILL: the
# primary of three is killed and another takes over; the killed one is restarted and
# follows.
@pytest.mark.parametrize("signal_number, cluster", [
    # Under -m chaos: a lone mgmtd must be exec'd, listening and primary again within the
    # 3 s; under the sanitizers on a saturated 2-core machine one took 5.4 s (1 of 3 runs).
    pytest.param(signal.SIGTERM, 1, id="SIGTERM-1-mgmtd", marks=pytest.mark.chaos),
    pytest.param(signal.SIGKILL, 3, id="SIGKILL-primary-of-3"),
], indirect=["cluster"])
def test_mgmtd_restarted_cluster_keeps_serving(cluster, tmp_path, signal_number):
    workload, runner = start_workload(cluster, tmp_path, duration=14.0, seed=42)
    time.sleep(3)
    name = cluster.primary_mgmtd()
    assert name is not None, "no mgmtd shows as primary"
    victim = faults.ExternalProcess.from_pid_file(cluster.run_file(name + ".pid"))
    os.kill(victim.pid, signal_number)
    killed_at, killed_wall = time.monotonic(), time.time()
    killed_in_workload = killed_at - workload.started
    wait_until(lambda: not victim.alive(), 10, "mgmtd gone")
    restarted = restart(cluster, victim, name)
    restarted_at = time.monotonic()
    wait_until(lambda: _answers(cluster), 30, "a primary mgmtd answering")
    wait_until(lambda: cluster.primary_mgmtd() is not None, 30, "a primary mgmtd")
    primary = cluster.primary_mgmtd()
    took_over = primary_since(cluster, primary) - killed_wall
    assert took_over > 0, "the primary's takeover predates the stop"
    ops_at_kill = workload.counts["write_ops"]
    finish(cluster, workload, runner, tmp_path, "")
    times = acknowledged_times(tmp_path / "workload.log")
    ops_after_kill = sum(1 for t in times if t > killed_in_workload)
    paused = longest_pause(times, killed_in_workload, killed_in_workload + 5)
    usual = longest_pause(times, 1.0, killed_in_workload)
    print("%s (of %d mgmtd) stopped by signal %d, restarted %.2f s later; %s primary %.2f s after "
          "the stop; longest time without an acknowledged write: %.2f s in the 5 s after the stop "
          "(%.2f s before it); %d writes acknowledged after the stop" % (
              name, cluster.mgmtd_count, signal_number, restarted_at - killed_at, primary, took_over,
              paused, usual, ops_after_kill))
    assert ops_after_kill > 0 and ops_at_kill > 0
    assert took_over < 3.0, "the new primary came after members stop serving"
    assert restarted.alive()
    assert faults.ExternalProcess.from_pid_file(cluster.run_file(name + ".pid")).pid == restarted.pid
    with open(cluster.run_file(name + ".address")) as file:
        assert file.read().strip() == cluster.mgmtd_addresses()[int(name.split("-")[1]) - 1]
    for service in ("meta-1", "meta-2", "storage-1", "storage-2", "storage-3"):
        assert faults.ExternalProcess.from_pid_file(cluster.run_file(service + ".pid")).alive(), service
        with open(os.path.join(cluster.directory, "log", service + ".log"), errors="replace") as file:
            assert "it stops serving" not in file.read(), service


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


def test_chain_head_then_two_of_three_storage_services_killed(cluster, tmp_path):
    workload, runner = start_workload(cluster, tmp_path, duration=45.0, seed=43)
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
