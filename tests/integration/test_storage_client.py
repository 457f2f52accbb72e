"""The storage client (src/client/storage_client.h) against real processes: one mgmtd
and three `chainfs storage` nodes with two 3-replica chains (the cluster fixture of
test_storage.py), driven by `chainfs storage-tool`. Many chunks written and read back
with self-describing content; concurrent writers and readers with no torn or stale
read; a writer that keeps going while an operator takes a target offline (the chain
version changes under it); reads and writes that keep succeeding while a storage
process is killed; inspection (dump CRCs identical on every replica, last chunk,
remove)."""
import json
import signal
import subprocess
import time

import pytest

from conftest import chainfs_binary
from test_storage import CHAINS, cluster, wait_until  # noqa: F401 (fixture)

CHUNK = "1M"


def tool(cluster, *args, expect=0, timeout=120):
    result = subprocess.run([chainfs_binary(), "storage-tool", "--mgmtd", cluster.mgmtd.address, *args],
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == expect, "storage-tool %s -> %d\n%s%s" % (
        " ".join(args), result.returncode, result.stdout, result.stderr)
    return result


def tool_json(cluster, *args, expect=0, timeout=120):
    return json.loads(tool(cluster, *args, expect=expect, timeout=timeout).stdout.splitlines()[-1])


def start_stress(cluster, seconds, *args):
    return subprocess.Popen([chainfs_binary(), "storage-tool", "--mgmtd", cluster.mgmtd.address, "stress",
                             "--chains", "1,2", "--chunk-size", CHUNK, "--seconds", str(seconds), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_stress(process, timeout=120):
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        raise AssertionError("stress did not finish:\n" + stderr)
    assert stdout.strip(), "stress printed nothing (exit %s):\n%s" % (process.returncode, stderr)
    result = json.loads(stdout.splitlines()[-1])
    return process.returncode, result, stderr


def dump_crcs(cluster, target):
    lines = tool(cluster, "dump", "--target", str(target)).stdout.splitlines()
    return {(r["inode"], r["index"]): (r["version"], r["length"], r["crc"]) for r in map(json.loads, lines)}


def test_many_chunks_round_trip_and_replicas_identical(cluster):
    common = ["--chains", "1,2", "--inode", "7", "--chunks", "48", "--chunk-size", CHUNK]
    written = tool_json(cluster, "write", *common, "--length", "300000", "--generation", "3")
    assert written["written"] == 48 and written["failed"] == 0
    verified = tool_json(cluster, "verify", *common, "--length", "300000", "--generation", "3")
    assert verified == {"verified": 48, "mismatched": 0, "failed": 0, "first_error": "OK"}
    # Another generation over it, then the old one no longer verifies.
    tool_json(cluster, "write", *common, "--length", "300000", "--generation", "4")
    stale = tool_json(cluster, "verify", *common, "--length", "300000", "--generation", "3", expect=1)
    assert stale["mismatched"] == 48
    # Reading past the written length: short reads (not errors) at every chunk's end.
    short = tool_json(cluster, "verify", *common, "--length", "400000", "--generation", "4", expect=1)
    assert short["mismatched"] == 48 and short["failed"] == 0, short
    # Every replica of a chain holds the same chunks with the same CRCs.
    for chain, targets in CHAINS.items():
        dumps = [dump_crcs(cluster, target) for target in targets]
        assert len(dumps[0]) == 24, dumps[0]
        assert all(d == dumps[0] for d in dumps[1:]), "replicas of chain %d differ" % chain
    last = tool_json(cluster, "last-chunk", "--chains", "1", "--inode", "7")
    assert last == {"found": True, "index": 46, "length": 300000}
    assert tool_json(cluster, "remove", "--chains", "1", "--inode", "7", "--first", "40", "--end", "48") == \
        {"removed": 4}
    assert tool_json(cluster, "last-chunk", "--chains", "1", "--inode", "7")["index"] == 38
    space = [json.loads(line) for line in tool(cluster, "space").stdout.splitlines()]
    assert sorted(t["target"] for t in space) == [101, 102, 201, 202, 301, 302]


def test_concurrent_writers_and_readers_see_no_torn_or_stale_chunk(cluster):
    code, result, stderr = finish_stress(start_stress(
        cluster, 4, "--inode", "8", "--chunks", "24", "--length", "200000", "--writers", "3",
        "--readers", "3"))
    assert code == 0 and result["torn"] == 0 and result["stale"] == 0, (result, stderr)
    assert result["final_mismatches"] == 0
    assert result["write_failures"] == 0 and result["read_failures"] == 0, (result, stderr)
    assert result["writes"] > 24 and result["reads"] > 24, result
    assert result["read_requests"] < result["read_items"], result  # batched: 4 reads per call


def test_writer_follows_a_chain_version_change(cluster):
    version_before = cluster.chain(1)[0]
    stress = start_stress(cluster, 6, "--inode", "9", "--chunks", "16", "--length", "100000",
                          "--writers", "2", "--readers", "2")
    time.sleep(1.5)
    assert "done" in cluster.admin("offline-target", "201").stdout
    wait_until(lambda: dict(cluster.chain(1)[2])[201] == "offline", 10, "target 201 offline",
               cluster.explain)
    assert cluster.chain(1)[0] > version_before
    time.sleep(1.0)
    cluster.admin("online-target", "201")
    code, result, stderr = finish_stress(stress)
    assert code == 0 and result["torn"] == 0 and result["stale"] == 0, (result, stderr)
    assert result["final_mismatches"] == 0
    # The client retried through the change: nothing failed for good.
    assert result["write_failures"] == 0 and result["read_failures"] == 0, (result, stderr)
    assert result["retries"] > 0 and result["routing_refreshes"] > 0, result


def test_reads_and_writes_survive_a_killed_storage_process(cluster):
    common = ["--chains", "1,2", "--inode", "10", "--chunks", "24", "--chunk-size", CHUNK,
              "--length", "150000"]
    assert tool_json(cluster, "write", *common)["written"] == 24
    stress = start_stress(cluster, 6, "--inode", "11", "--chunks", "16", "--length", "100000",
                          "--writers", "2", "--readers", "2")
    time.sleep(1.0)
    cluster.nodes[2].process.send_signal(signal.SIGKILL)
    cluster.nodes[2].process.wait(timeout=10)
    # While mgmtd has not yet noticed, and after: reads of every chunk succeed.
    for _ in range(3):
        assert tool_json(cluster, "verify", *common)["verified"] == 24
    wait_until(lambda: dict(cluster.chain(1)[2])[201] == "offline", 15, "target 201 offline",
               cluster.explain)
    assert tool_json(cluster, "verify", *common)["verified"] == 24
    code, result, stderr = finish_stress(stress)
    assert code == 0 and result["torn"] == 0 and result["stale"] == 0, (result, stderr)
    assert result["final_mismatches"] == 0
    assert result["write_failures"] == 0 and result["read_failures"] == 0, (result, stderr)
    cluster.nodes[2].log.close()
    del cluster.nodes[2]  # killed on purpose: no clean stop to check


def test_bad_requests_fail_cleanly(cluster):
    result = tool(cluster, "write", "--chains", "1", "--chunks", "1", "--chunk-size", "64K",
                  "--length", "100K", expect=2)
    assert "usage" in result.stderr
    missing = tool_json(cluster, "verify", "--chains", "77", "--inode", "12", "--chunks", "2",
                        "--chunk-size", CHUNK, "--length", "4096", expect=1)
    assert missing["failed"] == 2 and missing["first_error"] == "NOT_FOUND"
    holes = tool_json(cluster, "verify", "--chains", "1", "--inode", "13", "--chunks", "2",
                      "--chunk-size", CHUNK, "--length", "4096", expect=1)
    assert holes["mismatched"] == 2 and holes["failed"] == 0  # holes read as zeros, not errors


def test_bench_storage_prints_json_figures_with_limits(tmp_path):
    result = subprocess.run([chainfs_binary(), "bench", "storage", "--json", "--seconds", "1",
                             "--chunks-per-thread", "2", "--dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    figures = {f["figure"]: f for f in map(json.loads, result.stdout.splitlines())}
    assert set(figures) == {"write_1MiB_3replica", "write_1MiB_1replica", "read_1MiB_1replica",
                            "read_1MiB_3replica", "randread_4KiB_qd64_1replica"}, result.stdout
    for figure in figures.values():
        assert set(figure) == {"bench", "figure", "value", "unit", "limit", "limit_value", "ratio"}
        assert figure["bench"] == "storage" and figure["value"] > 0 and figure["limit_value"] > 0
        assert figure["ratio"] == pytest.approx(figure["value"] / figure["limit_value"], rel=0.01, abs=1e-3)
    assert "ios failed" not in result.stderr, result.stderr
    assert list(tmp_path.iterdir()) == [], "the benchmark left its directory behind"
