"""Network partitions between real processes on separate hosts (network namespaces on a
bridge, netns.py): a cut-off daemon stops answering and answers again once healed; a
cut-off primary mgmtd loses its role to another within the lease time, clients that
follow the primary keep working, and after healing the old one is a follower.

The mgmtd cluster keeps its KV store in PostgreSQL on a host of its own: a shared LMDB
file (or PostgreSQL on a unix socket) is reachable whatever the network does, so a
partitioned primary would keep renewing its lease and nothing would move (see
docs/reliability.md). Measured times are printed (run with -s to see them).
"""
import os
import shutil
import subprocess
import tempfile
import threading
import time

import pytest

import mgmtd_wire as m
from conftest import REPO, Daemon, chainfs_binary

LEASE_S = 1.0
TICK_S = 0.1
FAIL_S = 2.0  # node failure interval: a client that resolves the new primary in time never misses it
# libpq waits on a dead TCP peer for minutes unless told otherwise; the KV store of a
# real deployment needs the same settings (see docs/reliability.md).
PG_TIMEOUTS = ("connect_timeout=2 tcp_user_timeout=1000 keepalives=1 keepalives_idle=1 "
               "keepalives_interval=1 keepalives_count=2")


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


def ping(binary, address, host=None):
    """`chainfs ping` from `host` (None: the test process); (exit code, seconds)."""
    command = [binary, "ping", address]
    started = time.monotonic()
    if host is None:
        result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    else:
        result = host.run(command)
    return result.returncode, time.monotonic() - started


def test_cut_off_node_stops_answering_until_healed(network, tmp_path, binary):
    server, client = network.add_host("server"), network.add_host("client")
    node = Daemon(tmp_path, host=server)
    try:
        assert node.address.startswith(server.address + ":")
        assert ping(binary, node.address, client)[0] == 0
        assert ping(binary, node.address)[0] == 0  # from the test process too
        server.partition()
        code, took = ping(binary, node.address, client)
        print("\nping of a cut-off host failed after %.2f s" % took)
        assert code != 0
        assert not network.wait_reachable(server, timeout=0.5)  # nor from the test process
        # Its own host still reaches it: only the network is cut.
        assert ping(binary, node.address, server)[0] == 0
        server.heal()
        healed_at = time.monotonic()
        wait_until(lambda: ping(binary, node.address, client)[0] == 0, 10, "ping after healing")
        print("ping answered again %.2f s after healing" % (time.monotonic() - healed_at))
    finally:
        assert node.stop() == 0
        node.assert_clean_log()


@pytest.fixture
def postgres_host(network):
    """PostgreSQL on a host of its own, listening on that host's address."""
    host = network.add_host("kv")
    directory = tempfile.mkdtemp(prefix="chainfs-partition-pg-")
    os.chmod(directory, 0o755)  # the server runs as the postgres user
    script = str(REPO / "scripts" / "pg-test-cluster.sh")
    started = host.run([script, "start", directory + "/cluster"], timeout=120,
                       env=dict(os.environ, PG_LISTEN=host.address))
    assert started.returncode == 0, started.stderr
    yield "host=%s port=5432 user=postgres dbname=postgres %s" % (host.address, PG_TIMEOUTS)
    subprocess.run([script, "stop", directory + "/cluster"], capture_output=True, timeout=120)
    shutil.rmtree(directory, ignore_errors=True)


class PrimaryFollower:
    """A client that follows the primary mgmtd, as every service does: it heartbeats
    for three storage nodes every 100 ms to the primary it knows, and when that fails
    asks each mgmtd in turn which one is primary now, ignoring answers that name the
    primary that just failed (followers name it until its lease runs out). Short
    timeouts matter: a call to a cut-off host hangs until its timeout."""

    def __init__(self, addresses):
        self.addresses = addresses
        self.primary = None  # (address, epoch)
        self.failed = None  # the (address, epoch) whose last heartbeat failed
        self.beats = []  # (monotonic time, primary address, status)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _resolve(self):
        """The primary most mgmtd name, other than one that just failed us."""
        for address in self.addresses:
            try:
                _, primary, epoch = m.get_primary(address, timeout=0.3)
            except (OSError, AssertionError):
                continue
            if epoch and primary and (primary, epoch) != self.failed:
                return primary, epoch
        return None

    def _beat(self):
        primary, _ = self.primary
        for node_id in (11, 12, 13):
            message = m.heartbeat_message(node_id, "127.0.0.1:%d" % (20000 + node_id),
                                          [(node_id * 100 + 1, 0, m.UP_TO_DATE, 1 << 20, 1 << 30)])
            try:
                status, _ = m.call(primary, m.HEARTBEAT, message, timeout=0.5)
            except OSError:
                status = -1
            if status != 0:
                return status
        return 0

    def _run(self):
        deadline = time.monotonic() + 120  # bounded whatever the test does
        while not self.stopping.is_set() and time.monotonic() < deadline:
            if self.primary is None:
                self.primary = self._resolve()
            if self.primary is not None:
                status = self._beat()
                self.beats.append((time.monotonic(), self.primary[0], status))
                if status != 0:
                    self.failed, self.primary = self.primary, None
                    self.stopping.wait(0.01)
                    continue  # resolve again at once, not after a full beat interval
            self.stopping.wait(0.1)

    def last_success(self, primary):
        times = [t for t, p, s in self.beats if p == primary and s == 0]
        return times[-1] if times else None

    def stop(self):
        self.stopping.set()
        self.thread.join()


def admin_status(addresses):
    import json
    result = subprocess.run([chainfs_binary(), "admin", "--mgmtd", ",".join(addresses), "--json", "status"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def primary_seen_by(address, timeout=0.5):
    try:
        return m.get_primary(address, timeout=timeout)[1:]
    except (OSError, AssertionError):
        return None


def test_partitioned_primary_mgmtd_is_replaced_and_rejoins_as_follower(network, postgres_host, tmp_path):
    hosts = [network.add_host("mgmtd-%d" % i) for i in (1, 2, 3)]
    settings = ["mgmtd.lease_length=%dms" % (LEASE_S * 1000), "mgmtd.tick_interval=%dms" % (TICK_S * 1000),
                "mgmtd.heartbeat_fail_interval=%dms" % (FAIL_S * 1000), "kv.backend=postgres",
                "kv.postgres_conninfo=%s" % postgres_host, "kv.postgres_table=partition_%d" % os.getpid()]
    mgmtds = []
    follower = None
    try:
        for index, host in enumerate(hosts, 1):
            mgmtds.append(Daemon(tmp_path, subcommand="mgmtd", name="mgmtd-%d" % index, host=host,
                                 settings=["mgmtd.node_id=%d" % index, *settings]))
        addresses = [d.address for d in mgmtds]
        primary, epoch = wait_until(lambda: primary_seen_by(addresses[0]), 15, "a primary")[0:2]
        wait_until(lambda: all(primary_seen_by(a) == (primary, epoch) for a in addresses), 10,
                   "every mgmtd naming the same primary")
        follower = PrimaryFollower(addresses)
        wait_until(lambda: follower.last_success(primary), 10, "heartbeats to the primary")
        wait_until(lambda: admin_status(addresses)["nodes_up"] == 3, 10, "three nodes up")

        victim = next(d for d in mgmtds if d.address == primary)
        others = [a for a in addresses if a != primary]
        victim.host.partition()
        cut_at = time.monotonic()

        def new_primary():
            seen = [primary_seen_by(a) for a in others]
            return seen[0] if seen[0] and seen[0][0] != primary and seen[0] == seen[1] else None
        new_address, new_epoch = wait_until(new_primary, 15, "another mgmtd taking over")
        takeover = time.monotonic() - cut_at
        assert new_epoch > epoch
        resumed = wait_until(lambda: follower.last_success(new_address), 10,
                             "heartbeats to the new primary") - cut_at
        # The nodes never looked failed: the follower found the new primary in time.
        status = admin_status(others)
        assert status["nodes_up"] == 3, status
        print("\npartitioned primary: takeover after %.2f s (lease %.1f s), heartbeats resumed "
              "after %.2f s" % (takeover, LEASE_S, resumed))
        # Lease length plus a tick, plus slack for a loaded 2-core machine.
        assert takeover < LEASE_S + TICK_S + 2.0, "takeover took %.2f s" % takeover
        assert resumed < FAIL_S, "heartbeats resumed only after %.2f s" % resumed

        victim.host.heal()
        healed_at = time.monotonic()
        wait_until(lambda: primary_seen_by(primary) == (new_address, new_epoch), 20,
                   "the old primary naming the new one")
        rejoin = time.monotonic() - healed_at
        print("old primary follows the new one %.2f s after healing" % rejoin)
        assert victim.process.poll() is None, victim.log_text()
        assert all(primary_seen_by(a) == (new_address, new_epoch) for a in addresses)
        # Heartbeats sent to the old primary are refused: it does not act as primary.
        status, _ = m.heartbeat(primary, 11, "127.0.0.1:20011", [(1101, 0, m.UP_TO_DATE, 1 << 20, 1 << 30)])
        assert status == m.NOT_PRIMARY
        assert admin_status(addresses)["nodes_up"] == 3
    finally:
        if follower is not None:
            follower.stop()
        for daemon in mgmtds:
            assert daemon.stop() == 0, daemon.log_text()
            daemon.assert_clean_log()
