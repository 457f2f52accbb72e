"""The metadata service with the real storage service: one mgmtd, three storage nodes
with two 3-replica chains in chain table 1 (the cluster of test_storage.py) and one
meta server. Chunks of files are written with `chainfs storage-tool`; fsync of length
takes the end of the file's last chunk; statfs reports the targets' space; after
unlink and after a recursive remove, GC deletes every chunk on every replica and then
the inodes."""
import json
import subprocess

import pytest

from conftest import Daemon, chainfs_binary
from test_storage import CHAINS, FAIL_MS, cluster, wait_until  # noqa: F401 (fixture)

MiB = 1 << 20


@pytest.fixture
def meta(cluster, tmp_path):
    table = tmp_path / "table.csv"
    table.write_text("ChainId\n" + "".join("%d\n" % c for c in CHAINS))
    cluster.admin("upload-chain-table", "1", str(table))
    (tmp_path / "meta").mkdir()
    daemon = Daemon(tmp_path / "meta", subcommand="meta", name="meta-10", settings=[
        "meta.node_id=10", "meta.mgmtd=%s" % cluster.mgmtd.address,
        "meta.heartbeat_interval=100ms", "meta.heartbeat_fail_interval=%dms" % FAIL_MS,
        "meta.gc_interval=100ms", "meta.default_stripe=2",
        "kv.backend=lmdb", "kv.lmdb_path=%s" % (tmp_path / "meta-kv"), "kv.durability=nosync"])
    yield daemon
    assert daemon.stop() == 0, daemon.log_text()
    daemon.assert_clean_log()


def meta_tool(meta, *args):
    result = subprocess.run([chainfs_binary(), "meta-tool", "--servers", meta.address, *map(str, args)],
                            capture_output=True, text=True, timeout=60)
    assert result.stdout, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def storage_tool(cluster, *args):
    result = subprocess.run([chainfs_binary(), "storage-tool", "--mgmtd", cluster.mgmtd.address,
                             *map(str, args)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def write_file(cluster, inode, chunks, length):
    """Chunks 0..chunks-1 of the file over both chains, each length bytes long (a sparse
    file whose data ends length bytes into its last chunk)."""
    storage_tool(cluster, "write", "--chains", "1,2", "--inode", inode, "--chunk-size", "1M",
                 "--chunks", chunks, "--length", length)


def chunks_of(cluster, inode):
    count = 0
    for targets in CHAINS.values():
        for target in targets:
            for line in storage_tool(cluster, "dump", "--target", target).splitlines():
                count += json.loads(line)["inode"] == inode
    return count


def test_lengths_statfs_and_gc_with_real_storage(cluster, meta):
    created = meta_tool(meta, "create", "/big", "644")
    assert created["status"] == 0, created
    inode = created["inode"]["id"]
    assert created["inode"]["table_version"] == 1  # pinned: a new table upload will not move it
    write_file(cluster, inode, 9, 12345)
    assert chunks_of(cluster, inode) == 9 * 3  # three replicas
    synced = meta_tool(meta, "sync", "/big")
    assert synced["status"] == 0, synced
    assert synced["inode"]["length"] == 8 * MiB + 12345
    space = meta_tool(meta, "statfs")
    assert space["status"] == 0 and space["capacity"] > 0, space
    # unlink: GC deletes every chunk on every replica, then the inode
    assert meta_tool(meta, "unlink", "/big")["status"] == 0
    wait_until(lambda: chunks_of(cluster, inode) == 0, 20, "chunks of the unlinked file deleted",
               cluster.explain)
    wait_until(lambda: meta_tool(meta, "stat-id", inode)["errno"] == 2, 10, "inode deleted")
    # recursive remove of a tree of striped files
    assert meta_tool(meta, "mkdirs", "/tree/sub", "755")["status"] == 0
    inodes = [meta_tool(meta, "create", path, "644")["inode"]["id"] for path in ("/tree/a", "/tree/sub/b")]
    for number in inodes:
        write_file(cluster, number, 4, 1000)
    assert sum(chunks_of(cluster, number) for number in inodes) == 2 * 4 * 3
    assert meta_tool(meta, "rmr", "/tree")["removed"] == 4
    wait_until(lambda: sum(chunks_of(cluster, number) for number in inodes) == 0, 20,
               "chunks of the removed tree deleted", cluster.explain)
