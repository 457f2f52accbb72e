"""`chainfs bench fuse` (issue #7 item 5), small: a 32 MiB file, 200 files, 2 s of
random reads. The benchmark starts its own `chainfs up` cluster under /var/tmp and must
print every figure through the mount beside the local-disk figure, and leave no mount
and no directory behind. Bad options are refused before anything starts.

Needs root, /dev/fuse and fio (skipped otherwise).
"""
import glob
import json
import os
import shutil
import subprocess

import pytest

from conftest import chainfs_binary

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not os.path.exists("/dev/fuse") or shutil.which("fio") is None,
    reason="needs root, /dev/fuse and fio")

FIGURES = {"seq_write_1m", "seq_read_1m", "randread_4k_depth32x2", "create_4threads",
           "stat_4threads", "unlink_4threads"}
KEYS = {"bench", "figure", "value", "unit", "limit", "limit_value", "ratio"}


def bench_directories():
    return set(glob.glob("/var/tmp/chainfs-bench-fuse-*"))


def bench_mounts():
    with open("/proc/mounts") as mounts:
        return {line.split()[1] for line in mounts if "chainfs-bench-fuse-" in line}


def test_small_run_prints_every_figure_beside_the_local_disk_and_cleans_up():
    directories_before, mounts_before = bench_directories(), bench_mounts()
    result = subprocess.run([chainfs_binary(), "bench", "fuse", "--json", "--size", "32MiB",
                             "--files", "200", "--seconds", "2"],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert {line["figure"] for line in lines} == FIGURES, result.stdout
    for line in lines:
        assert set(line) == KEYS, line
        assert line["bench"] == "fuse"
        assert line["value"] > 0 and line["limit_value"] > 0, line
        assert line["limit"].startswith("local_disk_"), line
        assert line["ratio"] == pytest.approx(line["value"] / line["limit_value"], rel=0.01)
    assert bench_mounts() - mounts_before == set()
    assert bench_directories() - directories_before == set()


@pytest.mark.parametrize("arguments", [["--size", "0"], ["--size", "12X"], ["--files", "-1"],
                                       ["--seconds", "0"], ["extra"]])
def test_bad_options_are_refused_before_anything_starts(arguments):
    directories_before = bench_directories()
    result = subprocess.run([chainfs_binary(), "bench", "fuse", *arguments],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "usage: chainfs bench fuse" in result.stderr
    assert bench_directories() - directories_before == set()
