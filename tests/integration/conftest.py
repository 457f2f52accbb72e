"""pytest fixtures that run real chainfs processes on loopback.

Every process is started in a fresh temporary directory, on a free port chosen by the
kernel (listen 127.0.0.1:0, address read back from the run directory), and stopped by
its pid at teardown even when the test failed. Teardown also fails the test if the
process did not stop cleanly or its log shows a sanitizer report.

A Daemon can also run inside a host of a `network` (netns.py: network namespaces as
machines on a bridge); it then listens on that host's address instead of loopback.
Tests marked `chaos` (long randomized fault runs) only run when selected with -m.
"""
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

import netns

REPO = Path(__file__).resolve().parents[2]


def chainfs_binary():
    path = os.environ.get("CHAINFS_BINARY", str(REPO / "build-asan" / "src" / "cli" / "chainfs"))
    if not os.access(path, os.X_OK):
        pytest.fail("chainfs binary not found at %s (build first or set CHAINFS_BINARY)" % path)
    return path


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


class Daemon:
    """One `chainfs <subcommand>` process with its run directory and log."""

    def __init__(self, tmp_path, subcommand="node", name="node", settings=(), extra_args=(),
                 host=None):
        # What it was started with, so faults.restart() can start it again.
        self.spawn = dict(tmp_path=tmp_path, subcommand=subcommand, name=name,
                          settings=tuple(settings), extra_args=tuple(extra_args), host=host)
        self.run_dir = tmp_path / "run"
        self.log_path = tmp_path / ("%s.log" % name)
        self.name = name
        self.host = host
        args = [chainfs_binary(), subcommand,
                "--set", "daemon.run_dir=%s" % self.run_dir,
                "--set", "daemon.name=%s" % name,
                "--set", "rpc.debug_methods=true"]
        if host is not None:  # before the caller's settings, which may override it
            args += ["--set", "rpc.listen=%s:0" % host.address]
        for setting in settings:
            args += ["--set", setting]
        args += list(extra_args)
        if host is not None:
            args = host.command(args)
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.log,
                                        stderr=subprocess.STDOUT)
        self.address = self._wait_for_address()

    def _wait_for_address(self, timeout=20.0):
        path = self.run_dir / ("%s.address" % self.name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError("%s exited with %s:\n%s" % (
                    self.name, self.process.returncode, self.log_text()))
            if path.exists():
                return path.read_text().strip()
            time.sleep(0.02)
        raise AssertionError("%s published no address within %ss" % (self.name, timeout))

    def log_text(self):
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log_text():
                return True
            time.sleep(0.02)
        return False

    def stop(self, sig=signal.SIGTERM, timeout=20.0):
        """Stops the process by pid; returns its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError("%s did not stop within %ss" % (self.name, timeout))
        self.log.close()
        return self.process.returncode

    def assert_clean_log(self):
        text = self.log_text() if not self.log.closed else self.log_path.read_text(errors="replace")
        for mark in SANITIZER_MARKS:
            assert mark not in text, "sanitizer report in %s log:\n%s" % (self.name, text)


@pytest.fixture
def node(tmp_path):
    daemon = Daemon(tmp_path)
    yield daemon
    code = daemon.stop()
    daemon.assert_clean_log()
    assert code == 0, "node exited with %s:\n%s" % (code, daemon.log_path.read_text())


@pytest.fixture
def binary():
    return chainfs_binary()


@pytest.fixture
def network():
    """A private network of namespaces (netns.Network); the test adds hosts. Skips
    where namespaces cannot be made; teardown checks that nothing of it is left.
    Request it before any Daemon fixture that runs in it, so it is torn down last."""
    available, why = netns.network_available()
    if not available:
        pytest.skip(why)
    net = netns.Network()
    yield net
    net.close()
    assert net.leftovers() == [], "network namespaces left behind: %s" % net.leftovers()


def pytest_configure(config):
    config.addinivalue_line("markers", "chaos: long randomized fault runs; run with -m chaos")


def pytest_collection_modifyitems(config, items):
    """Long chaos runs are left out unless a -m expression names them."""
    if "chaos" in (config.getoption("markexpr") or ""):
        return
    kept = [item for item in items if item.get_closest_marker("chaos") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept
