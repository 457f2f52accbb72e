"""Network namespaces as hosts, for tests that need several machines on one machine.

A Network is one test's private LAN: a "switch" namespace holding a bridge, and per
host a namespace with loopback up and a veth pair whose outer end is a port of the
bridge, with its own address in a /24 chosen for this run (10.213.X.0/24, X free on
this machine). The test process itself reaches every host through one more veth pair
whose inner end is in the root namespace (the "observer" address .254), so Python
clients and `chainfs admin` work unchanged.

Cutting a host off takes its bridge port down: packets to and from it vanish, as when
a cable is pulled, so peers see timeouts rather than prompt refusals (the host keeps
its address and its own loopback). Healing brings the port up again.

Everything is named with a per-run prefix (chainfs-nt-<pid>-<n>-...), so concurrent
runs never touch each other. close() deletes what it created even after failures (the
switch namespace takes the bridge, every veth and the observer end with it); and a
new Network first removes namespaces of its own prefix left by runs whose process is
gone (a test run killed before its teardown).

Needs root and iproute2; `network_available()` says whether both are there.
"""
import fcntl
import ipaddress
import itertools
import os
import signal
import socket
import subprocess
import time

PREFIX = "chainfs-nt-"
SUBNET_BASE = "10.213"
OBSERVER_HOST = 254
LOCK_PATH = "/tmp/chainfs-netns.lock"  # serializes the choice of a free subnet

_sequence = itertools.count(1)


def ip(*args, check=True, namespace=None):
    """Runs one `ip` command (in `namespace` when given); returns its stdout."""
    command = ["ip"] + (["-n", namespace] if namespace else []) + list(args)
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(command), result.stderr.strip()))
    return result.stdout


def namespaces():
    """Names of all named network namespaces on this machine."""
    return [line.split()[0] for line in ip("netns", "list").splitlines() if line.strip()]


def network_available():
    """(True, "") when namespaces can be created here, else (False, why)."""
    if os.geteuid() != 0:
        return False, "network namespaces need root"
    probe = "%sprobe-%d" % (PREFIX, os.getpid())
    try:
        ip("netns", "add", probe)
    except (OSError, RuntimeError) as error:
        return False, "cannot create a network namespace: %s" % error
    ip("netns", "delete", probe, check=False)
    return True, ""


def _owner_alive(name):
    """Whether the test process that created namespace `name` still runs."""
    try:
        pid = int(name[len(PREFIX):].split("-", 1)[0])
    except ValueError:
        return True  # not a name we made this way: leave it alone
    return os.path.exists("/proc/%d" % pid)


def remove_stale():
    """Deletes namespaces of our prefix whose creating test process is gone, after
    SIGKILLing what still runs inside them (processes the harness started there: no
    one else can have entered a namespace private to a dead test run). Returns the
    names removed."""
    removed = []
    for name in namespaces():
        if not name.startswith(PREFIX) or _owner_alive(name):
            continue
        for pid in ip("netns", "pids", name, check=False).split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        ip("netns", "delete", name, check=False)
        removed.append(name)
    return removed


def _used_subnets():
    """Third octets of 10.213.X.0/24 that have an address or route in the root namespace."""
    used = set()
    text = ip("-4", "-o", "addr", "show") + ip("-4", "route", "show", "table", "all")
    for word in text.split():
        if word.startswith(SUBNET_BASE + "."):
            parts = word.split("/")[0].split(".")
            if len(parts) == 4 and parts[2].isdigit():
                used.add(int(parts[2]))
    return used


class Host:
    """One namespace standing for one machine, with one address on the Network."""

    def __init__(self, network, name, index):
        self.network = network
        self.name = name
        self.namespace = "%s-%s" % (network.prefix, name)
        self.port = "p%d" % index  # its bridge port, in the switch namespace
        self.address = "%s.%d" % (network.subnet_prefix, index + 1)
        self.cut = False

    def command(self, args):
        """`args` wrapped to run inside this host (exec'd: the pid is the command's)."""
        return ["ip", "netns", "exec", self.namespace] + [str(a) for a in args]

    def run(self, args, timeout=30, **kwargs):
        """Runs a command inside this host to completion (subprocess.run arguments)."""
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        return subprocess.run(self.command(args), timeout=timeout, stdin=subprocess.DEVNULL, **kwargs)

    def popen(self, args, **kwargs):
        """Starts a command inside this host (subprocess.Popen arguments)."""
        return subprocess.Popen(self.command(args), **kwargs)

    def partition(self):
        """Cuts this host off from every other host and from the test process."""
        ip("link", "set", self.port, "down", namespace=self.network.switch)
        self.cut = True

    def heal(self):
        """Connects this host again."""
        ip("link", "set", self.port, "up", namespace=self.network.switch)
        self.cut = False

    def __repr__(self):
        return "Host(%s %s%s)" % (self.name, self.address, ", cut off" if self.cut else "")


class Network:
    """A bridge and its hosts; use as a context manager or call close()."""

    def __init__(self):
        self.prefix = "%s%d-%d" % (PREFIX, os.getpid(), next(_sequence))
        self.switch = self.prefix + "-sw"
        self.hosts = {}
        self.created = []  # namespace names, for close()
        # Interface names are at most 15 bytes: pid and sequence in hex fit.
        self.observer_link = ("cfo%x-%x" % (os.getpid(), next(_sequence)))[:15]
        remove_stale()
        with open(LOCK_PATH, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # two runs must not pick the same subnet
            try:
                self._create_switch()
            except Exception:
                self.close()
                raise

    def _create_switch(self):
        used = _used_subnets()
        start = os.getpid() % 250 + 1
        free = [x for x in list(range(start, 251)) + list(range(1, start)) if x not in used]
        if not free:
            raise RuntimeError("no free %s.X.0/24 subnet for a test network" % SUBNET_BASE)
        self.subnet_prefix = "%s.%d" % (SUBNET_BASE, free[0])
        self.subnet = ipaddress.ip_network(self.subnet_prefix + ".0/24")
        ip("netns", "add", self.switch)
        self.created.append(self.switch)
        ip("link", "set", "lo", "up", namespace=self.switch)
        ip("link", "add", "br0", "type", "bridge", namespace=self.switch)
        ip("link", "set", "br0", "up", namespace=self.switch)
        # The observer: root-namespace end with .254, the other end a bridge port.
        ip("link", "add", self.observer_link, "type", "veth", "peer", "name", "obs",
           "netns", self.switch)
        ip("link", "set", "obs", "master", "br0", "up", namespace=self.switch)
        ip("addr", "add", "%s.%d/24" % (self.subnet_prefix, OBSERVER_HOST), "dev", self.observer_link)
        ip("link", "set", self.observer_link, "up")
        self.observer_address = "%s.%d" % (self.subnet_prefix, OBSERVER_HOST)

    def add_host(self, name):
        """A new host named `name` (letters, digits, '-'), connected to the bridge."""
        if name in self.hosts:
            raise ValueError("host %s exists" % name)
        if len(self.hosts) >= OBSERVER_HOST - 2:
            raise ValueError("too many hosts on one test network")
        host = Host(self, name, len(self.hosts) + 1)
        ip("netns", "add", host.namespace)
        self.created.append(host.namespace)
        ip("link", "set", "lo", "up", namespace=host.namespace)
        ip("link", "add", host.port, "type", "veth", "peer", "name", "eth0", "netns",
           host.namespace, namespace=self.switch)
        ip("link", "set", host.port, "master", "br0", "up", namespace=self.switch)
        ip("addr", "add", "%s/24" % host.address, "dev", "eth0", namespace=host.namespace)
        ip("link", "set", "eth0", "up", namespace=host.namespace)
        self.hosts[name] = host
        return host

    def wait_reachable(self, host, timeout=5.0):
        """Waits until `host` answers a TCP connection attempt from the test process
        (refused counts as answered: the address is up and the path works)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((host.address, 9), timeout=0.5):
                    return True
            except ConnectionRefusedError:
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def close(self):
        """Deletes every namespace this network created (hosts first, then the switch,
        which takes the bridge and every veth, the observer's included, with it).
        Processes still inside a host are the caller's to stop before."""
        errors = []
        for name in reversed(self.created):
            result = subprocess.run(["ip", "netns", "delete", name], capture_output=True, text=True)
            if result.returncode != 0 and name in namespaces():
                errors.append("%s: %s" % (name, result.stderr.strip()))
        self.created = []
        # The observer end goes with its peer; check rather than trust.
        if ip("link", "show", self.observer_link, check=False).strip():
            ip("link", "delete", self.observer_link, check=False)
        if errors:
            raise RuntimeError("network teardown left: " + "; ".join(errors))

    def leftovers(self):
        """Namespaces and links of this network that still exist (empty after close)."""
        left = [n for n in namespaces() if n.startswith(self.prefix + "-")]
        if ip("link", "show", self.observer_link, check=False).strip():
            left.append(self.observer_link)
        return left

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
