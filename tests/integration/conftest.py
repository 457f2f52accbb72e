"""pytest fixtures that run real chainfs processes on loopback.

Every process is started in a fresh temporary directory, on a free port chosen by the
kernel (listen 127.0.0.1:0, address read back from the run directory), and stopped by
its pid at teardown even when the test failed. Teardown also fails the test if the
process did not stop cleanly or its log shows a sanitizer report.
"""
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def chainfs_binary():
    path = os.environ.get("CHAINFS_BINARY", str(REPO / "build-asan" / "src" / "cli" / "chainfs"))
    if not os.access(path, os.X_OK):
        pytest.fail("chainfs binary not found at %s (build first or set CHAINFS_BINARY)" % path)
    return path


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


class Daemon:
    """One `chainfs <subcommand>` process with its run directory and log."""

    def __init__(self, tmp_path, subcommand="node", name="node", settings=(), extra_args=()):
        self.run_dir = tmp_path / "run"
        self.log_path = tmp_path / ("%s.log" % name)
        self.name = name
        args = [chainfs_binary(), subcommand,
                "--set", "daemon.run_dir=%s" % self.run_dir,
                "--set", "daemon.name=%s" % name,
                "--set", "rpc.debug_methods=true"]
        for setting in settings:
            args += ["--set", setting]
        args += list(extra_args)
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
