"""The daemon scaffolding shared by every service: command line, configuration errors,
pid and address files, graceful stop on SIGTERM and SIGINT, and the local cluster
commands (chainfs up / status / down)."""
import json
import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import Daemon


def run(binary, *args, env=None, timeout=60):
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env=env)


def test_version_and_usage(binary):
    result = run(binary, "--version")
    assert result.returncode == 0 and result.stdout.startswith("chainfs ")
    result = run(binary)
    assert result.returncode == 2 and "usage" in result.stderr
    result = run(binary, "no-such-command")
    assert result.returncode == 2 and "unknown command 'no-such-command'" in result.stderr


def test_config_reference_documents_every_setting(binary):
    result = run(binary, "node", "--config-reference")
    assert result.returncode == 0
    for key in ("[daemon]", "run_dir =", "[rpc]", "listen = 127.0.0.1:0", "max_in_flight = 1024",
                "[log]", "level = info"):
        assert key in result.stdout


@pytest.mark.parametrize("content,expected", [
    ("[rpc]\nlisen = 1.2.3.4:5\n", ":2: unknown key 'lisen' in section [rpc]"),
    ("[rpc]\n\nio_threads = lots\n", ":3: [rpc] io_threads: expected an integer, got 'lots'"),
    ("[rpc]\nworker_threads = 0\n", ":2: [rpc] worker_threads = '0' is out of range"),
    ("[network]\nlisten = x\n", ":2: unknown section [network]"),
    ("[rpc\n", ":1: syntax error"),
])
def test_config_errors_name_file_line_and_key(binary, tmp_path, content, expected):
    path = tmp_path / "node.conf"
    path.write_text(content)
    result = run(binary, "node", "--config", str(path), "--set",
                 "daemon.run_dir=%s" % (tmp_path / "run"))
    assert result.returncode == 2
    assert str(path) + expected in result.stderr, result.stderr
    assert not (tmp_path / "run").exists(), "a bad config must not start anything"


def test_bad_override_and_log_level(binary, tmp_path):
    result = run(binary, "node", "--set", "rpc.nothing=1")
    assert result.returncode == 2 and "unknown setting rpc.nothing" in result.stderr
    result = run(binary, "node", "--set", "log.level=loud", "--set",
                 "daemon.run_dir=%s" % tmp_path)
    assert result.returncode == 2 and "[log] level" in result.stderr


def test_config_file_is_applied(binary, tmp_path):
    path = tmp_path / "node.conf"
    path.write_text("[rpc]\nworker_threads = 3\nio_threads = 2\n[log]\nlevel = debug\n")
    daemon = Daemon(tmp_path, extra_args=["--config", str(path)])
    try:
        assert daemon.address.startswith("127.0.0.1:")
        assert daemon.wait_for_log("(2 io threads, 3 workers)"), daemon.log_text()
    finally:
        assert daemon.stop() == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_is_graceful_and_cleans_run_dir(tmp_path, sig):
    daemon = Daemon(tmp_path)
    pid_file = daemon.run_dir / "node.pid"
    assert pid_file.read_text().strip() == str(daemon.process.pid)
    assert daemon.stop(sig) == 0
    assert not pid_file.exists()
    assert not (daemon.run_dir / "node.address").exists()
    assert "stopping" in daemon.log_path.read_text()
    daemon.assert_clean_log()


def test_second_instance_with_same_name_is_refused(binary, node):
    result = run(binary, "node", "--set", "daemon.run_dir=%s" % node.run_dir,
                 "--set", "daemon.name=node")
    assert result.returncode == 1
    assert "already running as pid %d" % node.process.pid in result.stderr


def test_stale_pid_file_is_replaced(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "node.pid").write_text("999999\n")  # no such process
    daemon = Daemon(tmp_path)
    try:
        assert (run_dir / "node.pid").read_text().strip() == str(daemon.process.pid)
    finally:
        assert daemon.stop() == 0


def test_pid_file_of_an_unreaped_killed_process_is_replaced(tmp_path):
    """A SIGKILLed daemon whose parent has not reaped it yet (a zombie) holds no port or
    file: the restarted one must not refuse to start as "already running"."""
    first = Daemon(tmp_path)
    first.process.kill()
    deadline = time.monotonic() + 10
    while open("/proc/%d/stat" % first.process.pid).read().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline, "the killed daemon never became a zombie"
        time.sleep(0.01)
    (tmp_path / "run" / "node.address").unlink()
    try:
        second = Daemon(tmp_path)  # raises if it exited ("already running")
        try:
            assert (tmp_path / "run" / "node.pid").read_text().strip() == str(second.process.pid)
        finally:
            assert second.stop() == 0
    finally:
        first.process.wait()


def test_ping(binary, node):
    result = run(binary, "ping", node.address)
    assert result.returncode == 0 and "node" in result.stdout
    result = run(binary, "ping", "127.0.0.1:1")
    assert result.returncode == 1 and "cannot connect" in result.stderr


def test_local_cluster_up_status_down(binary, tmp_path):
    cluster = tmp_path / "cluster"
    up = run(binary, "up", "--dir", str(cluster))
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "mgmtd-1    started" in up.stdout
        assert "cluster    initialised" in up.stdout
        # the whole cluster, mounted (tests/integration/test_fuse.py works through it)
        assert "chainfs is mounted at %s" % (cluster / "mnt") in up.stdout, up.stdout
        assert os.path.ismount(cluster / "mnt")
        again = run(binary, "up", "--dir", str(cluster))
        assert again.returncode == 0 and "already running" in again.stdout
        assert "already initialised" in again.stdout
        status = run(binary, "status", "--dir", str(cluster))
        assert status.returncode == 0 and " up " in status.stdout and "mgmtd" in status.stdout
        address = (cluster / "run" / "mgmtd-1.address").read_text().strip()
        admin = run(binary, "admin", "--mgmtd", address, "status")
        assert admin.returncode == 0 and "primary mgmtd:   node 1" in admin.stdout
    finally:
        down = run(binary, "down", "--dir", str(cluster))
    assert down.returncode == 0 and "stopped" in down.stdout
    assert not os.path.ismount(cluster / "mnt")
    status = run(binary, "status", "--dir", str(cluster))
    assert status.returncode == 1 and "nothing running" in status.stdout
    # A second up after a clean down reuses the data and takes the released lease at once.
    again = run(binary, "up", "--dir", str(cluster))
    try:
        assert again.returncode == 0 and "already initialised" in again.stdout, again.stdout + again.stderr
    finally:
        assert run(binary, "down", "--dir", str(cluster)).returncode == 0
    log = (cluster / "log" / "mgmtd-1.log").read_text()
    assert "released the primary lease" in log and "AddressSanitizer" not in log


def test_bench_rpc_prints_json_figures_with_limits(binary):
    result = run(binary, "bench", "rpc", "--json", "--seconds", "0.3", timeout=120)
    assert result.returncode == 0, result.stderr
    figures = [json.loads(line) for line in result.stdout.splitlines()]
    names = {figure["figure"] for figure in figures}
    assert {"small_rate_depth1", "small_rate_depth64", "small_p50_depth1",
            "bulk_write_1MiB", "bulk_read_1MiB"} <= names
    for figure in figures:
        assert set(figure) == {"bench", "figure", "value", "unit", "limit", "limit_value", "ratio"}
        assert figure["bench"] == "rpc" and figure["value"] > 0
        if figure["limit"] is not None:
            assert figure["limit_value"] > 0
            assert abs(figure["ratio"] - figure["value"] / figure["limit_value"]) < 1e-3 * figure["ratio"] + 1e-4
    bulk = [f for f in figures if f["figure"].startswith("bulk")]
    assert all(f["limit"] == "iperf3_loopback_1stream" for f in bulk)


def dead_or_zombie(pid):
    try:
        with open("/proc/%d/stat" % pid) as file:
            return file.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def small_cluster_up(binary, cluster, *extra):
    return run(binary, "up", "--dir", str(cluster), "--fast", "--storage", "1", "--replicas", "1",
               "--targets", "1", *extra, timeout=120)


def pinned(cluster):
    return (cluster / "run" / "mgmtd-addresses").read_text().split()


def test_local_cluster_pins_mgmtd_ports_across_ups(binary, tmp_path):
    """`up --mgmtd 2` chooses two ports once; a second `up` after `down` listens on the same
    ones (services and mounts are given these addresses), status names the primary."""
    cluster = tmp_path / "cluster"
    first = small_cluster_up(binary, cluster, "--mgmtd", "2")
    try:
        assert first.returncode == 0, first.stdout + first.stderr
        addresses = pinned(cluster)
        assert len(addresses) == 2 and all(a.startswith("127.0.0.1:") for a in addresses)
        for index, address in enumerate(addresses):
            assert (cluster / "run" / ("mgmtd-%d.address" % (index + 1))).read_text().strip() == address
        assert "CHAINFS_MGMTD=%s" % ",".join(addresses) in first.stdout
        status = run(binary, "status", "--dir", str(cluster))
        assert status.returncode == 0, status.stdout
        assert sum(line.rstrip().endswith(", primary") for line in status.stdout.splitlines()) == 1
        # `up` is also the restart helper: a killed mgmtd comes back on its pinned port,
        # the rest is left running.
        pid = int((cluster / "run" / "mgmtd-2.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while not dead_or_zombie(pid):
            assert time.monotonic() < deadline, "mgmtd-2 survived SIGKILL"
            time.sleep(0.01)
        again = small_cluster_up(binary, cluster)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "mgmtd-2    started: pid" in again.stdout and "mgmtd-1    already running" in again.stdout
        assert (cluster / "run" / "mgmtd-2.address").read_text().strip() == addresses[1]
        # The count of a running cluster cannot change: its services know only these two.
        changed = small_cluster_up(binary, cluster, "--mgmtd", "3")
        assert changed.returncode == 1 and "runs with 2 mgmtd" in changed.stderr, changed.stderr
        assert pinned(cluster) == addresses
    finally:
        down = run(binary, "down", "--dir", str(cluster))
    assert down.returncode == 0 and "mgmtd-2    stopped" in down.stdout, down.stdout
    second = small_cluster_up(binary, cluster)  # no --mgmtd: as the last up
    try:
        assert second.returncode == 0, second.stdout + second.stderr
        assert "2 mgmtd" in second.stdout and pinned(cluster) == addresses
        for index, address in enumerate(addresses):
            assert "mgmtd-%d    started: pid" % (index + 1) in second.stdout
            assert (cluster / "run" / ("mgmtd-%d.address" % (index + 1))).read_text().strip() == address
    finally:
        assert run(binary, "down", "--dir", str(cluster)).returncode == 0


def test_local_cluster_refuses_a_taken_pinned_port(binary, tmp_path):
    """A pinned port that another process holds at a later `up`: a clear error naming it
    and the record, and nothing started."""
    cluster = tmp_path / "cluster"
    (cluster / "run").mkdir(parents=True)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        (cluster / "run" / "mgmtd-addresses").write_text("127.0.0.1:%d\n" % port)
        up = small_cluster_up(binary, cluster)
    assert up.returncode == 1, up.stdout + up.stderr
    assert "mgmtd-1's port 127.0.0.1:%d" % port in up.stderr and "in use" in up.stderr
    assert "mgmtd-addresses" in up.stderr
    assert not list((cluster / "run").glob("*.pid"))
    # A record that is not a list of addresses is refused, not overwritten.
    (cluster / "run" / "mgmtd-addresses").write_text("localhost:99999\n")
    up = small_cluster_up(binary, cluster)
    assert up.returncode == 1 and "line 1 is not" in up.stderr, up.stderr
    assert (cluster / "run" / "mgmtd-addresses").read_text() == "localhost:99999\n"
    assert not list((cluster / "run").glob("*.pid"))
