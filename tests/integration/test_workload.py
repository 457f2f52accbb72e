"""The verifying workload (workload.py) on a local directory: its model and read checker
row by row, a clean run that verifies, determinism, and that it does detect damage done
behind its back (a flipped byte, a lost tail, garbage seen by readers, a stray file)."""
import hashlib
import os
import random

import pytest

from workload import Op, Workload, check_read, expected_from_log, verify_directory

OLD, NEW = b"AAAA", b"BBBB"


@pytest.mark.parametrize("got,states,good", [
    (b"AAAA", [(4, OLD)], True),
    (b"AAAB", [(4, OLD)], False),                       # garbage
    (b"ABAB", [(4, OLD), (4, NEW)], True),              # in-flight write: any mix of old and new
    (b"ABCB", [(4, OLD), (4, NEW)], False),             # but nothing else
    (b"AA", [(4, OLD), (2, b"AA")], True),              # truncate in flight
    (b"A", [(4, OLD), (2, b"AA")], False),              # shorter than any state
    (b"AAAAA", [(4, OLD)], False),                      # longer than any state
    (None, [(4, OLD)], False),                          # missing file
    (None, [(4, OLD), (None, b"")], True),              # unlink in flight
    (b"", [(None, b"")], False),                        # a file that never existed
    (b"AA\0\0", [(2, b"AA"), (4, b"AA\0\0")], True),    # hole reads as zeros
    (b"AA\0\1", [(2, b"AA"), (4, b"AA\0\0")], False),
    (b"B" * 5000 + b"A", [(5001, b"A" * 5001), (5001, b"B" * 5001)], True),  # mix across blocks
])
def test_check_read(got, states, good):
    assert (check_read(got, states) is None) == good, check_read(got, states)


def apply_all(ops, start=0, end=None):
    state = (None, b"")
    for op in ops:
        state = op.apply(state, start, end)
    return state


def test_op_model_rows():
    path = "f"
    assert apply_all([Op("create", path)]) == (0, b"")
    written = Op("write", path, 3, 4, seed=7)
    size, data = apply_all([Op("create", path), written])
    assert size == 7 and data == b"\0\0\0" + written.data()  # sparse: the hole is zeros
    size, data = apply_all([Op("create", path), written, Op("truncate", path, length=5)])
    assert (size, data) == (5, (b"\0\0\0" + written.data())[:5])
    size, data = apply_all([Op("create", path), Op("truncate", path, length=3), Op("truncate", path, length=6)])
    assert (size, data) == (6, bytes(6))
    assert apply_all([Op("create", path), written, Op("unlink", path)]) == (None, b"")
    with pytest.raises(ValueError):
        apply_all([Op("write", path, 0, 1, 1)])  # on an absent file
    # While a truncate shrinks a file, a reader may see the dropped bytes as zeros.
    assert Op("truncate", path, length=1).passes_through((4, b"abcd")) == [(4, b"a\0\0\0"), (1, b"a")]
    assert Op("truncate", path, length=1).passes_through((4, b"cd"), 2, 4) == [(4, b"\0\0"), (1, b"")]
    assert Op("truncate", path, length=6).passes_through((4, b"abcd")) == [(6, b"abcd\0\0")]
    assert Op("create", path).passes_through((2, b"ab")) == [(2, b"\0\0"), (0, b"")]


def test_range_model_matches_whole_file_model():
    """Applying ops to a range gives the range of the whole-file result (random ops)."""
    rng = random.Random(5)
    for _ in range(300):
        ops, size = [Op("create", "f")], 0
        for _ in range(rng.randint(1, 8)):
            kind = rng.choice(("write", "append", "truncate", "fsync"))
            if kind == "truncate":
                ops.append(Op(kind, "f", length=rng.randrange(200)))
            elif kind == "fsync":
                ops.append(Op(kind, "f"))
            else:
                offset = size if kind == "append" else rng.randrange(150)
                ops.append(Op(kind, "f", offset, rng.randint(1, 50), rng.getrandbits(32)))
            size = apply_all(ops)[0]
        start = rng.randrange(200)
        end = start + rng.randint(0, 100)
        whole_size, whole = apply_all(ops)
        assert apply_all(ops, start, end) == (whole_size, whole[start:end])


def small_workload(directory, **overrides):
    settings = dict(writers=3, readers=2, files_per_writer=3, max_file_size=256 << 10,
                    max_write=64 << 10, ops_per_writer=120, duration=20.0, seed=11)
    settings.update(overrides)
    return Workload(directory, **settings)


def digest(directory):
    result = hashlib.sha256()
    for name in sorted(os.listdir(directory)):
        result.update(name.encode() + b"\0")
        with open(os.path.join(directory, name), "rb") as file:
            result.update(hashlib.sha256(file.read()).digest())
    return result.hexdigest()


def test_clean_run_verifies_and_log_rebuilds_it(tmp_path):
    log = tmp_path / "log.jsonl"
    workload = small_workload(tmp_path / "data", log_path=log).run()
    workload.close()
    print("\n" + workload.summary())
    assert workload.ok, workload.summary()
    assert workload.counts["write_ops"] == 3 * 120  # each writer did all of its ops
    assert workload.counts["reads"] > 10 and not workload.errors
    kinds = {record["op"] for record in workload.log}
    assert kinds == set(Op.KINDS), kinds
    assert verify_directory(tmp_path / "data", expected_from_log(log)) == []


def test_same_seed_same_files(tmp_path):
    first = digest(small_workload(tmp_path / "a", readers=0).run().root)
    second = digest(small_workload(tmp_path / "b", readers=3).run().root)
    other = digest(small_workload(tmp_path / "c", readers=0, seed=12).run().root)
    assert first == second != other


def biggest_file(directory):
    files = [os.path.join(directory, n) for n in os.listdir(directory)]
    return max(files, key=os.path.getsize)


def test_flipped_byte_is_detected(tmp_path):
    workload = small_workload(tmp_path / "data", readers=0, log_path=tmp_path / "log").run()
    workload.close()
    assert workload.ok, workload.summary()
    victim = biggest_file(workload.root)
    with open(victim, "r+b") as file:
        file.seek(os.path.getsize(victim) // 2)
        byte = file.read(1)
        file.seek(-1, os.SEEK_CUR)
        file.write(bytes([byte[0] ^ 0x01]))
    failures = workload.verify()
    assert len(failures) == 1 and failures[0]["path"] == os.path.basename(victim), failures
    assert "byte" in failures[0]["problem"]
    problems = verify_directory(workload.root, expected_from_log(tmp_path / "log"))
    assert len(problems) == 1 and os.path.basename(victim) in problems[0]


def test_lost_tail_and_stray_file_are_detected(tmp_path):
    workload = small_workload(tmp_path / "data", readers=0).run()
    assert workload.ok, workload.summary()
    victim = biggest_file(workload.root)
    os.truncate(victim, os.path.getsize(victim) - 1)
    (tmp_path / "data" / "stray").write_bytes(b"x")
    problems = [f["problem"] for f in workload.verify()]
    assert any("read" in p and "bytes" in p for p in problems), problems
    assert any("unexpected files ['stray']" in p for p in problems), problems


def test_unreadable_file_fails_the_final_verify(tmp_path):
    workload = small_workload(tmp_path / "data", readers=0).run()
    assert workload.ok
    victim = biggest_file(workload.root)
    os.unlink(victim)
    os.mkdir(victim)  # open works, read fails (EISDIR)
    failures = workload.verify()
    assert [f["problem"] for f in failures] == ["cannot read: [Errno 21] Is a directory"], failures
    assert workload.errors == {"EISDIR": 1}
    assert workload.error_samples[0]["op"] == "read"


def test_readers_detect_garbage(tmp_path):
    workload = small_workload(tmp_path / "data", readers=0).run()
    assert workload.ok
    for name in os.listdir(workload.root):
        path = os.path.join(workload.root, name)
        data = open(path, "rb").read()
        open(path, "wb").write(bytes(b ^ 0xFF for b in data))
    workload.check_all(readers=2, reads=50)
    reader_failures = [f for f in workload.failures if f["where"].startswith("reader")]
    assert len(reader_failures) > 10, workload.summary()


def test_bad_settings_and_bounds(tmp_path):
    # A time bound stops writers before their op count.
    workload = small_workload(tmp_path / "data", ops_per_writer=10**6, duration=0.5).run()
    assert workload.ok and workload.elapsed < 10 and workload.counts["write_ops"] < 3 * 10**6
    with pytest.raises(ValueError):
        Workload(tmp_path / "x", kinds=["write", "chmod"])
    only = small_workload(tmp_path / "only", readers=0, kinds=["write", "fsync"]).run()
    assert only.ok and {r["op"] for r in only.log} == {"create", "write", "fsync"}
    with pytest.raises(ValueError):
        Op.from_record({"op": "write", "path": "f", "offset": 0, "length": 3, "seed": 1, "crc": 0})


def test_readers_really_race_the_writers(tmp_path, monkeypatch):
    """The checks above would pass trivially if readers never overlapped a write. With
    a model that forgets the op in flight, reads during writes must fail: they do
    happen, and the in-flight allowance is what makes them pass."""
    import workload as module

    def without_in_flight(self, version, base, start, end):
        with self.lock:
            ops = self.history[version:]
        states = [base]
        for op in ops:
            states.append(op.apply(states[-1], start, end))
        return states
    monkeypatch.setattr(module.FileModel, "candidates", without_in_flight)
    workload = small_workload(tmp_path / "data", readers=3, files_per_writer=1,
                              ops_per_writer=300).run(verify=False)
    assert any(f["where"].startswith("reader") for f in workload.failures), workload.summary()


def test_command_line(tmp_path):
    import subprocess
    import sys
    script = os.path.join(os.path.dirname(__file__), "workload.py")
    data, log = tmp_path / "data", tmp_path / "log"
    run = subprocess.run([sys.executable, script, str(data), "--writers", "2", "--ops-per-writer", "50",
                          "--max-file-size", "65536", "--log", str(log)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0 and "0 verification failures" in run.stdout, run.stdout + run.stderr
    check = [sys.executable, script, str(data), "--verify-log", str(log)]
    assert subprocess.run(check, capture_output=True, timeout=120).returncode == 0
    victim = biggest_file(data)
    os.truncate(victim, 0)
    result = subprocess.run(check, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and os.path.basename(victim) in result.stdout
