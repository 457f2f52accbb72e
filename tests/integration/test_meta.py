"""The metadata service as real processes: one mgmtd and two meta servers sharing one
KV store (LMDB, and PostgreSQL when CHAINFS_TEST_PG_CONNINFO is set), driven through
`chainfs meta-tool` (the meta client). Operations through either server see one
namespace; a request resent with the same request id after a lost reply is applied
once, also when the retry reaches the other server; permission errors arrive as the
errno of a local file system; concurrent creates from both servers into one
directory all succeed with unique ids; a killed server is failed over."""
import json
import os
import signal
import subprocess
import time
import uuid

import pytest

import mgmtd_wire
from conftest import Daemon, chainfs_binary

FAIL_MS = 1500
BEAT_MS = 200

EACCES, EPERM, EEXIST, ENOENT, ENOTEMPTY, ENOTDIR, EISDIR = 13, 1, 17, 2, 39, 20, 21


def backends():
    rows = ["lmdb"]
    rows.append(pytest.param("postgres", marks=pytest.mark.skipif(
        not os.environ.get("CHAINFS_TEST_PG_CONNINFO"), reason="CHAINFS_TEST_PG_CONNINFO unset")))
    return rows


class MetaCluster:
    def __init__(self, tmp_path, backend):
        if backend == "lmdb":
            kv = ["kv.backend=lmdb", "kv.lmdb_path=%s" % (tmp_path / "meta-kv"), "kv.durability=nosync"]
            self.check_args = ["--lmdb", str(tmp_path / "meta-kv")]
        else:
            table = "meta_test_%s" % uuid.uuid4().hex[:12]
            self.check_args = ["--postgres", os.environ["CHAINFS_TEST_PG_CONNINFO"], "--table", table]
            kv = ["kv.backend=postgres", "kv.postgres_conninfo=%s" % os.environ["CHAINFS_TEST_PG_CONNINFO"],
                  "kv.postgres_table=%s" % table]
        self.daemons = []
        self.mgmtd = self._start(tmp_path, "mgmtd", "mgmtd-1", [
            "mgmtd.node_id=1", "mgmtd.lease_length=1000ms", "mgmtd.tick_interval=100ms",
            "mgmtd.heartbeat_fail_interval=%dms" % FAIL_MS,
            "kv.backend=lmdb", "kv.lmdb_path=%s" % (tmp_path / "mgmtd-kv"), "kv.durability=nosync"])
        self.metas = [self._start(tmp_path, "meta", "meta-%d" % node_id, [
            "meta.node_id=%d" % node_id, "meta.mgmtd=%s" % self.mgmtd.address,
            "meta.heartbeat_interval=%dms" % BEAT_MS, "meta.heartbeat_fail_interval=%dms" % FAIL_MS,
            "meta.gc_interval=200ms", *kv]) for node_id in (10, 11)]

    def _start(self, tmp_path, subcommand, name, settings):
        daemon = Daemon(tmp_path, subcommand=subcommand, name=name, settings=settings)
        self.daemons.append(daemon)
        return daemon

    def servers(self, *indexes):
        return ",".join(self.metas[i].address for i in (indexes or range(len(self.metas))))

    def tool(self, *args, servers=None, uid=0, gid=0, client_id=None, request_id=None, repeat=1):
        command = [chainfs_binary(), "meta-tool", "--servers", servers or self.servers(),
                   "--uid", str(uid), "--gid", str(gid)]
        if client_id:
            command += ["--client-id", client_id]
        if request_id:
            command += ["--request-id", str(request_id), "--repeat", str(repeat)]
        result = subprocess.run(command + [str(a) for a in args], capture_output=True, text=True,
                                timeout=60)
        assert result.returncode in (0, 1), result.stdout + result.stderr
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        assert lines, result.stderr
        return lines if request_id else lines[-1]

    def stop(self):
        for daemon in reversed(self.daemons):
            code = daemon.stop()
            daemon.assert_clean_log()
            assert code in (0, -signal.SIGKILL), "%s exited with %s" % (daemon.name, code)


@pytest.fixture(params=backends())
def cluster(request, tmp_path):
    cluster = MetaCluster(tmp_path, request.param)
    yield cluster
    cluster.stop()


def ok(result):
    assert result["status"] == 0, result
    return result


def test_both_servers_serve_one_namespace(cluster):
    a, b = cluster.servers(0), cluster.servers(1)
    ok(cluster.tool("mkdir", "/d", "755", servers=a))
    created = ok(cluster.tool("create", "/d/f", "644", servers=b))["inode"]
    assert ok(cluster.tool("stat", "/d/f", servers=a))["inode"]["id"] == created["id"]
    ok(cluster.tool("rename", "/d/f", "/d/g", servers=a))
    names = [e["name"] for e in ok(cluster.tool("ls", "/d", servers=b))["entries"]]
    assert names == ["g"]
    ok(cluster.tool("symlink", "/d", "/link", servers=b))
    assert ok(cluster.tool("realpath", "/link/g", servers=a))["path"] == "/d/g"
    assert ok(cluster.tool("readlink", "/link", servers=a))["path"] == "/d"
    ok(cluster.tool("mkdirs", "/d/x/y/z", "755", servers=b))
    assert ok(cluster.tool("stat", "/d/x/y/z", servers=a))["inode"]["type"] == 2
    assert ok(cluster.tool("rmr", "/d", servers=a))["removed"] == 5
    assert cluster.tool("stat", "/d", servers=b)["errno"] == ENOENT


def test_resent_requests_are_applied_once(cluster):
    a, b = cluster.servers(0), cluster.servers(1)
    ok(cluster.tool("mkdir", "/r", "755"))
    # the same request id twice to one server: the second answer is the recorded one
    first, second = cluster.tool("create-excl", "/r/f", "644", servers=a, client_id="c1",
                                 request_id=101, repeat=2)
    assert first["status"] == 0 and second["status"] == 0
    assert first["inode"]["id"] == second["inode"]["id"]
    # ... and to the other server (the reply was lost on the way back from the first)
    third = cluster.tool("create-excl", "/r/f", "644", servers=b, client_id="c1", request_id=101)[0]
    assert third["status"] == 0 and third["inode"]["id"] == first["inode"]["id"]
    # a new request id is a new request
    assert cluster.tool("create-excl", "/r/f", "644", client_id="c1", request_id=102)[0]["errno"] == EEXIST
    # applied once: a second rename would fail with ENOENT, a second unlink too
    for request_id, op, args in ((201, "rename", ["/r/f", "/r/g"]), (202, "unlink", ["/r/g"])):
        results = cluster.tool(op, *args, servers=a, client_id="c1", request_id=request_id, repeat=2)
        assert [r["status"] for r in results] == [0, 0], results
    assert cluster.tool("stat", "/r/g")["errno"] == ENOENT
    # a resent request id of another kind of operation is answered from its record
    # (the id, not the operation, identifies a request)
    assert cluster.tool("unlink", "/r/none", client_id="c1", request_id=201)[0]["status"] == 0
    ok(cluster.tool("mkdirs", "/r/t/u", "755"))
    ok(cluster.tool("create", "/r/t/u/file", "644"))
    results = cluster.tool("rmr", "/r/t", servers=b, client_id="c1", request_id=300, repeat=2)
    assert [r.get("removed") for r in results] == [3, 3], results
    retried = cluster.tool("rmr", "/r/t", servers=a, client_id="c1", request_id=300)[0]
    assert retried["removed"] == 3
    assert cluster.tool("rmr", "/r/t", client_id="c1", request_id=301)[0]["errno"] == ENOENT


def test_permission_errors_are_errnos(cluster):
    ok(cluster.tool("mkdir", "/home", "755"))
    ok(cluster.tool("mkdir", "/tmp", "1777"))
    assert cluster.tool("mkdir", "/home/x", "755", uid=1000, gid=1000)["errno"] == EACCES
    ok(cluster.tool("mkdir", "/tmp/alice", "700", uid=1000, gid=1000))
    assert cluster.tool("create", "/tmp/alice/f", "644", uid=1001, gid=1001)["errno"] == EACCES
    assert cluster.tool("stat", "/tmp/alice/f", uid=1001, gid=1001)["errno"] == EACCES
    ok(cluster.tool("create", "/tmp/alices", "644", uid=1000, gid=1000))
    # the sticky bit: bob may write /tmp but not remove alice's file
    assert cluster.tool("unlink", "/tmp/alices", uid=1001, gid=1001)["errno"] == EPERM
    assert cluster.tool("chmod", "777", "/tmp/alices", uid=1001, gid=1001)["errno"] == EPERM
    assert cluster.tool("rmdir", "/tmp")["errno"] == ENOTEMPTY
    assert cluster.tool("unlink", "/home")["errno"] == EISDIR
    assert cluster.tool("create", "/tmp/alices/x", "644")["errno"] == ENOTDIR
    assert cluster.tool("set-layout", "/home", 1 << 20, 2, 1, uid=1000)["errno"] == EPERM
    # nothing of that changed anything
    assert [e["name"] for e in ok(cluster.tool("ls", "/tmp"))["entries"]] == ["alice", "alices"]


def test_concurrent_creates_from_both_servers(cluster):
    ok(cluster.tool("mkdir", "/shared", "777"))
    count = 150
    processes = [subprocess.Popen([chainfs_binary(), "meta-tool", "--servers", cluster.servers(i),
                                   "create-many", "/shared", "s%d-" % i, str(count)],
                                  stdout=subprocess.PIPE, text=True) for i in (0, 1)]
    results = [json.loads(p.communicate(timeout=120)[0]) for p in processes]
    ids = []
    for result in results:
        assert result["status"] == 0 and result["created"] == count, result
        ids += result["ids"]
    assert len(set(ids)) == 2 * count
    listed = ok(cluster.tool("ls", "/shared"))["entries"]
    assert len(listed) == 2 * count
    assert sorted(e["id"] for e in listed) == sorted(ids)


def test_random_concurrent_changes_leave_a_consistent_namespace(cluster):
    """8 client threads (4 per server) doing random create/mkdir/unlink/rmdir/link/
    rename/exchange in a small tree, then the offline checker: entries point to
    inodes, nlink counts entries, directories reach the root without cycles, every
    unlinked file is in the GC queue."""
    ok(cluster.tool("mkdir", "/s", "755"))
    processes = [subprocess.Popen([chainfs_binary(), "meta-tool", "--servers", cluster.servers(i),
                                   "stress", "/s", "4", "4"], stdout=subprocess.PIPE, text=True)
                 for i in (0, 1)]
    for process in processes:
        result = json.loads(process.communicate(timeout=120)[0])
        assert result["unexpected"] == 0, result
        assert result["succeeded"] > 20, result
    check = subprocess.run([chainfs_binary(), "meta-check", *cluster.check_args],
                           capture_output=True, text=True, timeout=120)
    report = json.loads(check.stdout)
    assert check.returncode == 0 and report["problem_count"] == 0, report
    assert report["entries"] > 1


def test_client_fails_over_when_a_server_dies(cluster):
    ok(cluster.tool("mkdir", "/f", "755"))
    both = cluster.servers(0, 1)
    cluster.metas[0].stop(sig=signal.SIGKILL)
    start = time.monotonic()
    for i in range(5):
        ok(cluster.tool("create", "/f/after%d" % i, "644", servers=both))
    assert time.monotonic() - start < 30
    assert len(ok(cluster.tool("ls", "/f", servers=both))["entries"]) == 5


def test_client_rides_out_every_server_down_for_a_moment(cluster, tmp_path):
    """Both servers gone (two crashes in a row, a rolling restart): a call waits for
    one to come back, within the call timeout, instead of failing with ECONNREFUSED
    (seen through the mount in the whole-cluster chaos run)."""
    ok(cluster.tool("mkdir", "/r", "755"))
    both = cluster.servers(0, 1)
    first = cluster.metas[0]
    for meta in cluster.metas:
        meta.stop(sig=signal.SIGKILL)
    started = time.monotonic()
    creating = subprocess.Popen([chainfs_binary(), "meta-tool", "--servers", both, "create", "/r/x",
                                 "644"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    assert creating.poll() is None, creating.communicate()
    (tmp_path / "back").mkdir()
    back = Daemon(tmp_path / "back", subcommand="meta", name=first.name,
                  settings=list(first.spawn["settings"]) + ["rpc.listen=%s" % first.address])
    cluster.daemons.append(back)
    out, err = creating.communicate(timeout=30)
    assert creating.returncode == 0, out + err
    assert json.loads(out.splitlines()[-1])["status"] == 0
    assert 1.5 <= time.monotonic() - started < 10


def test_meta_servers_register_with_mgmtd(cluster):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        result = subprocess.run([chainfs_binary(), "admin", "--mgmtd", cluster.mgmtd.address,
                                 "--json", "list-nodes"], capture_output=True, text=True, timeout=30)
        if result.returncode == 0:
            nodes = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
            metas = [n for n in nodes if n.get("type") == "meta" and n.get("alive")]
            if len(metas) == 2:
                return
        time.sleep(0.2)
    pytest.fail("meta nodes not registered: %s %s" % (result.stdout, result.stderr))


def test_meta_servers_apply_the_cluster_config(cluster, tmp_path):
    config = tmp_path / "meta.ini"
    config.write_text("[log]\nlevel = warn\n[meta]\ngc_interval = 300ms\n")
    subprocess.run([chainfs_binary(), "admin", "--mgmtd", cluster.mgmtd.address, "set-config",
                    "meta", str(config)], check=True, capture_output=True, timeout=30)
    for meta in cluster.metas:
        # gc_interval is pinned by --set in the fixture: only the level changes.
        assert meta.wait_for_log("cluster config version 1 applied; 1 setting(s) changed: "
                                 "log.level", timeout=10), meta.log_text()


def test_sessions_of_dead_clients_are_pruned(cluster):
    """A write session whose client mgmtd declares dead (it stopped extending its
    client session) is pruned by meta: its length reports then fail with ENOENT. A
    client mgmtd never heard of is not judged dead."""
    status, _ = mgmtd_wire.call(cluster.mgmtd.address, 11, mgmtd_wire.wire_string("dying") +
                                mgmtd_wire.wire_string("test client"))
    assert status == 0
    for name, client, session in (("/a", "dying", 5), ("/b", "unknown", 6)):
        ok(cluster.tool("create", name, "644"))
        assert cluster.tool("open-write", name, session, client_id=client, request_id=1)[0]["status"] == 0
        assert ok(cluster.tool("report", name, session, 100))["inode"]["length"] == 100
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and cluster.tool("report", "/a", 5, 200)["errno"] != ENOENT:
        time.sleep(0.3)
    assert cluster.tool("report", "/a", 5, 200)["errno"] == ENOENT
    assert ok(cluster.tool("report", "/b", 6, 300))["inode"]["length"] == 300


def test_meta_benchmark_prints_figures_beside_the_kv_limit():
    result = subprocess.run([chainfs_binary(), "bench", "meta", "--json", "--threads", "2",
                             "--files", "20"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    figures = [json.loads(line) for line in result.stdout.splitlines()]
    assert [f["figure"] for f in figures] == ["create_private_2threads", "stat_private_2threads",
                                              "unlink_private_2threads", "create_shared_2threads"]
    for figure in figures:
        assert figure["value"] > 0 and figure["limit_value"] > 0
        assert figure["limit"] == "lmdb_nosync_read_write_txn_rate"
