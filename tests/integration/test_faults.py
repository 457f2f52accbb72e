"""The fault helpers (faults.py) on what runs today: `chainfs node` daemons killed,
frozen and restarted, hosts cut off; a disk that fills up under the verifying workload
(writes fail with ENOSPC, nothing acknowledged is damaged, writing resumes once space is
freed); and the chaos driver, short here and long under `-m chaos`."""
import subprocess
import threading
import time

import pytest

import faults
from conftest import Daemon
from workload import Workload


def answers(binary, address, host=None, timeout=10):
    command = [binary, "ping", address]
    result = host.run(command, timeout=timeout) if host else subprocess.run(
        command, capture_output=True, text=True, timeout=timeout)
    return result.returncode == 0


def test_kill_and_restart(tmp_path, binary):
    daemon = Daemon(tmp_path, name="victim")
    daemon_running = Daemon(tmp_path, name="other")
    try:
        first_pid, first_address = daemon.process.pid, daemon.address
        faults.kill(daemon)
        assert daemon.process.returncode == -9
        assert not answers(binary, first_address)
        with pytest.raises(ValueError):
            faults.restart(daemon_running)  # still running: refused
        daemon = faults.restart(daemon)
        assert daemon.process.pid != first_pid
        assert answers(binary, daemon.address)
        assert daemon.log_text().count("ready: pid") == 2  # one log across restarts
    finally:
        assert daemon_running.stop() == 0
        assert daemon.stop() == 0
        daemon.assert_clean_log()


def test_external_process_is_killed_and_restarted_from_proc(tmp_path, binary):
    """A service started by someone else, known only by its pid file."""
    daemon = Daemon(tmp_path, name="external")
    restarted = None
    try:
        process = faults.ExternalProcess.from_pid_file(daemon.run_dir / "external.pid")
        assert process.executable == binary and process.arguments[1] == "node"
        process.kill()
        assert not process.alive() and daemon.process.wait(timeout=10) == -9  # reaped: a zombie holds the pid file
        (daemon.run_dir / "external.address").unlink()
        restarted = process.restart(tmp_path / "external-restarted.log")
        address_file = daemon.run_dir / "external.address"
        deadline = time.monotonic() + 20
        while not address_file.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert restarted.alive() and restarted.pid != process.pid
        assert answers(binary, address_file.read_text().strip())
        with pytest.raises(ValueError):
            restarted.restart(tmp_path / "x.log")
    finally:
        if restarted is not None:
            assert restarted.stop_restarted() == 0
        daemon.log.close()


def test_pause_and_resume(tmp_path, binary):
    daemon = Daemon(tmp_path)
    try:
        faults.pause(daemon)
        started = time.monotonic()
        assert not answers(binary, daemon.address)  # silence: ping times out
        assert time.monotonic() - started > 2.0
        faults.resume(daemon)
        assert answers(binary, daemon.address)
    finally:
        faults.resume(daemon)
        assert daemon.stop() == 0


@pytest.fixture
def small_filesystem():
    try:
        filesystem = faults.SmallFilesystem(8 << 20)
    except OSError as error:
        pytest.skip("cannot mount a small file system here: %s" % error)
    yield filesystem
    filesystem.close()


def test_disk_full_under_the_workload(small_filesystem):
    """Writes fail with ENOSPC while the disk is full, the acknowledged data stays
    intact, and writing resumes when space comes back: every op completes."""
    fs = small_filesystem
    workload = Workload(fs.path + "/data", writers=2, readers=1, files_per_writer=2,
                        max_file_size=512 << 10, max_write=64 << 10, ops_per_writer=150,
                        duration=20.0, seed=4, retry_for=15.0)
    runner = threading.Thread(target=workload.run, daemon=True)
    fs.fill(leave=256 << 10)
    runner.start()
    deadline = time.monotonic() + 10
    while not workload.errors.get("ENOSPC") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert workload.errors.get("ENOSPC"), workload.summary()
    time.sleep(0.3)
    fs.free()
    runner.join(timeout=60)
    assert not runner.is_alive()
    print("\n" + workload.summary())
    assert workload.ok and not workload.in_doubt, workload.summary()
    assert workload.counts["write_ops"] == 2 * 150


def test_disk_full_gives_up_and_leaves_the_file_in_doubt(small_filesystem):
    fs = small_filesystem
    fs.fill(leave=0)
    workload = Workload(fs.path + "/data", writers=1, readers=0, files_per_writer=1,
                        max_file_size=256 << 10, ops_per_writer=50, duration=3.0, seed=9,
                        retry_for=0.3).run()
    assert workload.errors.get("ENOSPC")
    assert workload.ok, workload.summary()  # in doubt is not wrong
    assert workload.in_doubt == ["w0-f0"]


def test_loop_mounted_ext4_fills_up():
    try:
        fs = faults.SmallFilesystem(16 << 20, kind="ext4")
    except OSError as error:
        pytest.skip("cannot loop-mount ext4 here: %s" % error)
    with fs:
        assert fs.free_bytes() > 8 << 20
        fs.fill(leave=64 << 10)
        assert fs.free_bytes() < 1 << 20
        with pytest.raises(OSError) as raised:
            with open(fs.path + "/big", "wb") as file:
                file.write(b"x" * (4 << 20))
                file.flush()
        assert raised.value.errno == 28  # ENOSPC
        fs.free()
        assert fs.free_bytes() > 8 << 20
    assert not fs.mounted


def test_chaos_driver_is_seeded_logs_and_repairs():
    broken = []
    catalogue = [("a", lambda: broken.append("a") or (lambda: broken.remove("a"))),
                 ("b", lambda: broken.append("b") or (lambda: broken.remove("b"))),
                 ("fails", lambda: 1 / 0)]
    first = faults.ChaosDriver(catalogue, duration=5, seed=3, hold=(0, 0.01), gap=(0, 0.01),
                               max_faults=20).run()
    second = faults.ChaosDriver(catalogue, duration=5, seed=3, hold=(0, 0.01), gap=(0, 0.01),
                                max_faults=20).run()
    assert first.injected() == second.injected() and len(first.injected()) + len(first.errors) == 20
    assert broken == [] and first.active == []
    assert {name for name, _, _ in first.errors} == {"fails"}
    with pytest.raises(ValueError):
        faults.ChaosDriver([], duration=1)
    # Stopped early, it still repairs what it broke.
    driver = faults.ChaosDriver(catalogue[:1], duration=30, hold=(10, 10)).start()
    time.sleep(0.2)
    driver.stop()
    driver.join(timeout=5)
    assert broken == [] and "repaired" in driver.report()


def chaos_run(network, tmp_path, binary, duration, seed):
    """Three `chainfs node` daemons on hosts of their own, a workload on a local
    directory, and random kills, freezes and partitions of the daemons meanwhile."""
    hosts = [network.add_host("n%d" % i) for i in range(3)]
    daemons = faults.Daemons([Daemon(tmp_path, name="node-%d" % i, host=h) for i, h in enumerate(hosts)])
    try:
        catalogue = []
        for i, host in enumerate(hosts):
            catalogue += [faults.kill_fault(daemons, "node-%d" % i), faults.pause_fault(daemons, "node-%d" % i),
                          faults.partition_fault(host)]
        workload = Workload(tmp_path / "data", writers=2, readers=2, ops_per_writer=10**6,
                            max_file_size=256 << 10, max_write=64 << 10, duration=duration, seed=seed)
        driver = faults.ChaosDriver(catalogue, duration=duration, seed=seed, hold=(0.1, 0.5),
                                    gap=(0.05, 0.3)).start()
        workload.run()
        driver.join()
        print("\n" + driver.report() + "\n" + workload.summary())
        assert driver.errors == [] and driver.active == []
        assert workload.ok, workload.summary()
        assert len(driver.injected()) >= 2
        # Everything repaired: every daemon (restarted or not) answers from another host.
        for i, daemon in enumerate(daemons.all()):
            assert answers(binary, daemon.address, hosts[(i + 1) % 3]), daemon.log_text()
    finally:
        codes = daemons.stop_all()
        for daemon in daemons.all():
            daemon.assert_clean_log()
    assert set(codes.values()) == {0}, codes


def test_short_chaos_run(network, tmp_path, binary):
    chaos_run(network, tmp_path, binary, duration=3.0, seed=1)


@pytest.mark.chaos
def test_long_chaos_run(network, tmp_path, binary):
    chaos_run(network, tmp_path, binary, duration=60.0, seed=2)
