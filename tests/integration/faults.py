"""Faults for tests: processes killed, frozen and restarted, hosts cut off and healed,
a disk that fills up, and a chaos driver that injects them at random while a workload
runs.

A fault is a pair (name, inject) where inject() breaks something and returns the
callable that repairs it (or None when there is nothing to repair). The driver picks
faults with its own seeded random generator, holds each for a random time, repairs it,
waits, and so on until its duration or fault count runs out; every injection and
repair is logged with its time so a failure can be matched with what was going on.
"""
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from conftest import Daemon


def kill(daemon):
    """SIGKILL: the process dies at once, with whatever it had in flight. Reaped here,
    so its pid file names a dead process (a restart may then claim it)."""
    if daemon.process.poll() is None:
        daemon.process.send_signal(signal.SIGKILL)
    daemon.process.wait(timeout=30)
    daemon.log.close()


def pause(daemon):
    """SIGSTOP: the process stops but keeps its sockets; peers see silence."""
    daemon.process.send_signal(signal.SIGSTOP)


def resume(daemon):
    daemon.process.send_signal(signal.SIGCONT)


def restart(daemon):
    """A new Daemon started exactly as `daemon` was (same name, run directory, log file,
    settings, host), after `daemon` is gone. Returns the new one."""
    if daemon.process.poll() is None:
        raise ValueError("%s is still running (pid %d)" % (daemon.name, daemon.process.pid))
    if not daemon.log.closed:
        daemon.log.close()
    # A killed daemon leaves its address file; the new one must be waited for, not it.
    address_file = daemon.run_dir / ("%s.address" % daemon.name)
    if address_file.exists():
        address_file.unlink()
    return Daemon(**daemon.spawn)


class ExternalProcess:
    """A process someone else started (the services of `chainfs up`, say), known by its
    pid: killed, frozen and restarted with the same executable, arguments, environment
    and working directory, read from /proc before it dies. A restarted one is a child
    of the test; stop_restarted() (or the cluster's own stop, by pid file) ends it."""

    def __init__(self, pid):
        self.pid = pid
        self.executable = os.readlink("/proc/%d/exe" % pid)
        with open("/proc/%d/cmdline" % pid, "rb") as file:
            self.arguments = [part.decode() for part in file.read().split(b"\0")[:-1]]
        with open("/proc/%d/environ" % pid, "rb") as file:
            self.environment = dict(part.decode(errors="replace").split("=", 1)
                                    for part in file.read().split(b"\0") if b"=" in part)
        self.directory = os.readlink("/proc/%d/cwd" % pid)
        self.popen = None  # set when this test started it

    @classmethod
    def from_pid_file(cls, path):
        with open(path) as file:
            return cls(int(file.read().strip()))

    def alive(self):
        """Running (or stopped), not dead and not a zombie."""
        try:
            with open("/proc/%d/stat" % self.pid) as file:
                return file.read().rsplit(")", 1)[1].split()[0] != "Z"
        except FileNotFoundError:
            return False

    def kill(self, timeout=10.0):
        os.kill(self.pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                raise AssertionError("pid %d survived SIGKILL for %ss" % (self.pid, timeout))
            time.sleep(0.01)
        if self.popen is not None:
            self.popen.wait(timeout=timeout)

    def pause(self):
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.pid, signal.SIGCONT)

    def restart(self, log_path):
        """The same command again (after this one died), output appended to log_path.
        Returns the new ExternalProcess."""
        if self.alive():
            raise ValueError("pid %d is still running" % self.pid)
        with open(log_path, "ab") as log:
            popen = subprocess.Popen(self.arguments, executable=self.executable, env=self.environment,
                                     cwd=self.directory, stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        restarted = ExternalProcess(popen.pid)
        restarted.popen = popen
        return restarted

    def stop_restarted(self, timeout=20.0):
        """SIGTERM to a process this test restarted, and its exit code."""
        if self.popen is None:
            raise ValueError("pid %d was not started by this test" % self.pid)
        if self.popen.poll() is None:
            self.popen.terminate()
            self.popen.wait(timeout=timeout)
        return self.popen.returncode


class Daemons:
    """A mutable set of daemons that faults replace when they restart one, so tests and
    faults always see the current process of each name."""

    def __init__(self, daemons):
        self.by_name = {d.name: d for d in daemons}
        self.lock = threading.Lock()

    def __getitem__(self, name):
        with self.lock:
            return self.by_name[name]

    def replace(self, daemon):
        with self.lock:
            self.by_name[daemon.name] = daemon

    def all(self):
        with self.lock:
            return list(self.by_name.values())

    def stop_all(self):
        """Stops every daemon (a paused one is continued first); returns exit codes."""
        codes = {}
        for daemon in self.all():
            if daemon.process.poll() is None:
                resume(daemon)
            codes[daemon.name] = daemon.stop() if not daemon.log.closed else daemon.process.returncode
        return codes


def kill_fault(daemons, name):
    """SIGKILL the daemon `name`; the repair restarts it."""
    def inject():
        kill(daemons[name])

        def repair():
            daemons.replace(restart(daemons[name]))
        return repair
    return ("kill %s" % name, inject)


def pause_fault(daemons, name):
    """SIGSTOP the daemon `name`; the repair continues it."""
    def inject():
        daemon = daemons[name]
        pause(daemon)
        return lambda: resume(daemon)
    return ("pause %s" % name, inject)


def partition_fault(host):
    """Cut `host` off the network; the repair heals it."""
    def inject():
        host.partition()
        return host.heal
    return ("partition %s" % host.name, inject)


class SmallFilesystem:
    """A small file system mounted at a new directory, to run a disk full: tmpfs with a
    size limit, or ext4 in a loop-mounted image file (real block allocation, O_DIRECT).
    fill() takes all the free space but `leave` bytes with a filler file; free() gives it
    back. Needs root (mount); close() unmounts and removes everything it made."""

    def __init__(self, size, kind="tmpfs"):
        self.base = tempfile.mkdtemp(prefix="chainfs-smallfs-")
        self.path = os.path.join(self.base, "mnt")
        self.image = None
        self.filler = None
        os.mkdir(self.path)
        try:
            if kind == "tmpfs":
                self._mount(["-t", "tmpfs", "-o", "size=%d" % size, "tmpfs", self.path])
            elif kind == "ext4":
                self.image = os.path.join(self.base, "image")
                with open(self.image, "wb") as image:
                    image.truncate(size)
                made = subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", self.image],
                                      capture_output=True, text=True, timeout=60)
                if made.returncode != 0:
                    raise OSError("mkfs.ext4 failed: %s" % made.stderr.strip())
                self._mount(["-o", "loop", self.image, self.path])
            else:
                raise ValueError("kind must be tmpfs or ext4")
        except BaseException:
            shutil.rmtree(self.base, ignore_errors=True)
            raise
        self.mounted = True

    def _mount(self, args):
        result = subprocess.run(["mount"] + args, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise OSError("mount %s failed: %s" % (" ".join(args), result.stderr.strip()))

    def free_bytes(self):
        stat = os.statvfs(self.path)
        return stat.f_bavail * stat.f_frsize

    def fill(self, leave=0):
        """Occupies the free space but `leave` bytes (rounded to blocks)."""
        self.free()
        self.filler = os.path.join(self.path, ".filler")
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            block = os.statvfs(self.path).f_frsize
            wanted = max(0, self.free_bytes() - leave) // block * block
            while wanted >= block:  # metadata may take some: shrink until it fits
                try:
                    os.posix_fallocate(fd, 0, wanted)
                    break
                except OSError:
                    wanted -= max(block, wanted // 64)
        finally:
            os.close(fd)

    def free(self):
        """Removes the filler: the space is back."""
        if self.filler and os.path.exists(self.filler):
            os.unlink(self.filler)
        self.filler = None

    def close(self):
        if self.mounted:
            result = subprocess.run(["umount", self.path], capture_output=True, text=True, timeout=60)
            if result.returncode != 0:  # something still uses it: detach, do not leak
                subprocess.run(["umount", "-l", self.path], capture_output=True, timeout=60)
            self.mounted = False
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ChaosDriver:
    """Injects random faults from `faults` [(name, inject)] for `duration` seconds (and
    at most `max_faults`), one at a time, each held for a time in `hold` (seconds, a
    (low, high) range) and followed by a pause in `gap`. Seeded: the same seed picks
    the same faults with the same timings. run() blocks; start()/join() run it on a
    thread beside a workload. `log` holds (seconds since start, event, fault name,
    detail) for every injection, repair and error; `active` the repairs not yet done."""

    def __init__(self, faults, duration, seed=1, hold=(0.2, 1.0), gap=(0.1, 0.5), max_faults=1000):
        if not faults:
            raise ValueError("a chaos driver needs at least one fault")
        self.faults, self.duration, self.seed = list(faults), duration, seed
        self.hold, self.gap, self.max_faults = hold, gap, max_faults
        self.log = []
        self.errors = []
        self.active = []
        self.stopping = threading.Event()
        self.thread = None

    def _note(self, event, name, detail=""):
        self.log.append((round(time.monotonic() - self.started, 3), event, name, detail))

    def _repair_all(self):
        while self.active:
            name, repair = self.active.pop()
            try:
                repair()
                self._note("repaired", name)
            except Exception as error:  # noqa: BLE001 - logged and reported, never hidden
                self.errors.append((name, "repair", repr(error)))
                self._note("repair failed", name, repr(error))

    def run(self):
        rng = random.Random(self.seed)
        self.started = time.monotonic()
        deadline = self.started + self.duration
        injected = 0
        try:
            while injected < self.max_faults and time.monotonic() < deadline:
                name, inject = rng.choice(self.faults)
                hold, gap = rng.uniform(*self.hold), rng.uniform(*self.gap)
                try:
                    repair = inject()
                    self._note("injected", name)
                except Exception as error:  # noqa: BLE001
                    self.errors.append((name, "inject", repr(error)))
                    self._note("inject failed", name, repr(error))
                    repair = None
                injected += 1
                if repair is not None:
                    self.active.append((name, repair))
                if self.stopping.wait(max(0.0, min(hold, deadline - time.monotonic()))):
                    break
                self._repair_all()
                if self.stopping.wait(max(0.0, min(gap, deadline - time.monotonic()))):
                    break
        finally:
            self._repair_all()
        return self

    def start(self):
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.stopping.set()

    def join(self, timeout=None):
        self.thread.join(timeout=self.duration + 60 if timeout is None else timeout)
        if self.thread.is_alive():
            raise AssertionError("chaos driver did not finish")
        return self

    def injected(self):
        return [name for _, event, name, _ in self.log if event == "injected"]

    def report(self):
        return "\n".join("%8.3f s  %-14s %s %s" % entry for entry in self.log)
