"""A verifying file workload for any directory: a local directory now, the chainfs FUSE
mount (and fault scenarios under it) later.

Writers create, overwrite, write at random offsets (unaligned, past the end: sparse),
append to, truncate, fsync and unlink files; each writer owns its own files, so the
acknowledged state of every file is well defined. An operation enters the log only
after its call returned successfully (an acknowledged write): the log names the path,
the offset, the length and the seed of the data (data is pattern(seed, length)), with
its CRC32 as a check. Readers run concurrently and check every read against the
states the file went through while the read ran: before the read, each state it can
have reached, and the operation in flight (acknowledged or not yet). Every byte read
must be that byte of one of those states: a write in flight may show old or new data
in any mix, never anything else (garbage, a torn page from elsewhere, zeros where data
was acknowledged, bytes lost). At the end every file is compared with the model.

A failed call (EIO, ENOSPC, a timeout of a failing cluster) is counted by errno and
retried (made idempotent: an append is retried as a write at the offset it had) until
it succeeds or `retry_for` runs out; then the file is "in doubt" between the states
before and after that operation, left alone by its writer and verified as such.

Bounded in operations and in time; deterministic in what each writer does (seeded per
writer); reports ops/s, bytes and errors. `expected_from_log()` rebuilds the expected
contents from a JSON-lines log alone, for checks after the process that wrote is gone.
"""
import errno
import json
import os
import random
import threading
import time
import zlib

BLOCK = 4096
ERROR_SAMPLES = 100


def pattern(seed, length):
    """The data of one write: deterministic in (seed, length)."""
    return random.Random(seed).randbytes(length)


class Op:
    """One operation on one file, and how it changes the file's model."""

    KINDS = ("create", "write", "append", "truncate", "unlink", "fsync")

    def __init__(self, kind, path, offset=0, length=0, seed=0):
        assert kind in self.KINDS
        self.kind, self.path, self.offset, self.length, self.seed = kind, path, offset, length, seed
        self._data = None

    def data(self):
        if self._data is None:
            self._data = pattern(self.seed, self.length) if self.kind in ("write", "append") else b""
        return self._data

    def record(self):
        """The log record: everything needed to redo it."""
        record = {"op": self.kind, "path": self.path}
        if self.kind in ("write", "append"):
            record.update(offset=self.offset, length=self.length, seed=self.seed,
                          crc=zlib.crc32(self.data()))
        elif self.kind == "truncate":
            record["length"] = self.length
        return record

    @classmethod
    def from_record(cls, record):
        op = cls(record["op"], record["path"], record.get("offset", 0), record.get("length", 0),
                 record.get("seed", 0))
        if "crc" in record and zlib.crc32(op.data()) != record["crc"]:
            raise ValueError("log record does not match its data: %r" % record)
        return op

    def passes_through(self, state, start=0, end=None):
        """The states a reader may see while this op runs, ending with its result. A
        shrinking truncate (and an O_TRUNC create) can show the bytes it drops as zeros
        first: Linux zeroes the partial page at the new end while a concurrent read
        that already sampled the old size copies it (seen on ext4 in the long chaos run)."""
        after = self.apply(state, start, end)
        size, data = state
        if self.kind in ("truncate", "create") and size is not None and after[0] < size:
            kept = len(after[1])
            return [(size, data[:kept] + bytes(len(data) - kept)), after]
        return [after]

    def apply(self, state, start=0, end=None):
        """The state after this op, given the state before. A state is (size, data):
        size None for an absent file, data the file's bytes in [start, end) (end None:
        the whole file)."""
        size, data = state
        if self.kind == "fsync":
            return state
        if self.kind == "unlink":
            return (None, b"")
        if self.kind == "create":
            return (0, b"")
        if size is None:
            raise ValueError("%s on an absent file %s" % (self.kind, self.path))

        def clip(n):
            return max(0, (n if end is None else min(n, end)) - start)
        if self.kind == "truncate":
            new_size = self.length
            kept = data[:clip(new_size)]
            return (new_size, kept + bytes(clip(new_size) - len(kept)))
        offset = self.offset  # write and append (an append's offset is the size it met)
        new_size = max(size, offset + self.length)
        buffer = bytearray(data) + bytes(clip(new_size) - len(data))
        low, high = max(offset, start), offset + self.length if end is None else min(offset + self.length, end)
        if low < high:
            buffer[low - start:high - start] = self.data()[low - offset:high - offset]
        return (new_size, bytes(buffer))


def check_read(got, states):
    """None if `got` (bytes read, or None for "no such file") is possible given the
    candidate states [(size, data of the range)], else what is wrong with it. Any mix,
    byte by byte, of the candidates is possible; nothing else is."""
    if got is None:
        return None if any(size is None for size, _ in states) else "file missing, but it always existed"
    present = [data for size, data in states if size is not None]
    if not present:
        return "file exists (%d bytes read), but it never did" % len(got)
    if any(got == data for data in present):
        return None
    shortest, longest = min(map(len, present)), max(map(len, present))
    if not shortest <= len(got) <= longest:
        return "read %d bytes, expected between %d and %d" % (len(got), shortest, longest)
    for block in range(0, len(got), BLOCK):
        piece = got[block:block + BLOCK]
        if any(data[block:block + len(piece)] == piece for data in present):
            continue
        for index in range(block, block + len(piece)):
            if not any(len(data) > index and data[index] == got[index] for data in present):
                expected = sorted({data[index] for data in present if len(data) > index})
                return "byte %d of the range is %d, expected one of %s" % (index, got[index], expected)
    return None


class FileModel:
    """What one file must contain: acknowledged ops, the op in flight, a full copy."""

    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.state = (None, b"")  # (size, whole content)
        self.history = []  # acknowledged ops, in order
        self.in_flight = None
        self.in_doubt = None  # the op whose outcome is unknown after retries ran out

    def begin(self, op):
        with self.lock:
            self.in_flight = op

    def acknowledge(self, op):
        with self.lock:
            self.state = op.apply(self.state)
            self.history.append(op)
            self.in_flight = None

    def give_up(self, op):
        with self.lock:
            self.in_doubt, self.in_flight = op, None

    def snapshot(self, start, end):
        """(version, the state restricted to [start, end)) for a reader about to read."""
        with self.lock:
            size, content = self.state
            return len(self.history), (size, content[start:end])

    def candidates(self, version, base, start, end):
        """Every state the range can have shown since `version`, first the base."""
        with self.lock:
            ops = self.history[version:] + [op for op in (self.in_flight, self.in_doubt) if op]
        states = [base]
        for op in ops:
            states.extend(op.passes_through(states[-1], start, end))
        return states


def read_range(path, start, length):
    """Bytes of `path` in [start, start + length) (short at the end), None if absent."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        chunks = []
        while length > 0:
            chunk = os.pread(fd, length, start)
            if not chunk:
                break
            chunks.append(chunk)
            start += len(chunk)
            length -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


class Workload:
    """Run with run(); read the result with summary() / ok / failures."""

    def __init__(self, root, writers=4, readers=2, files_per_writer=4, max_file_size=1 << 20,
                 max_write=256 << 10, ops_per_writer=200, duration=10.0, seed=1, retry_for=None,
                 log_path=None, kinds=Op.KINDS):
        self.root = str(root)
        # Which operations writers use besides writes (and creating absent files).
        unknown = set(kinds) - set(Op.KINDS)
        if unknown:
            raise ValueError("unknown operation kinds %s" % sorted(unknown))
        self.kinds = frozenset(kinds)
        self.writers, self.readers = writers, readers
        self.files_per_writer = files_per_writer
        self.max_file_size, self.max_write = max_file_size, max_write
        self.ops_per_writer, self.duration, self.seed = ops_per_writer, duration, seed
        self.retry_for = duration if retry_for is None else retry_for
        self.models = {}
        for writer in range(writers):
            for index in range(files_per_writer):
                path = "w%d-f%d" % (writer, index)
                self.models[path] = FileModel(path)
        self.log = []  # acknowledged ops' records, in acknowledgement order
        self.log_file = open(log_path, "a") if log_path else None
        self.log_lock = threading.Lock()
        self.failures = []  # verification failures: dicts
        self.errors = {}  # errno name -> count of failed calls
        self.error_samples = []  # the first failed calls, with what they tried
        self.counts = {"write_ops": 0, "write_bytes": 0, "reads": 0, "read_bytes": 0}
        self.stats_lock = threading.Lock()
        self.elapsed = 0.0
        self.started = time.monotonic()
        self.stop_event = threading.Event()

    # --- writers ---------------------------------------------------------------

    def _next_op(self, rng, model):
        size = model.state[0]
        if size is None:
            return Op("create", model.path)
        roll = rng.random()
        seed = rng.getrandbits(63)
        # A kind left out of self.kinds falls through to the next one (write at last).
        if roll < 0.05 and "unlink" in self.kinds:
            return Op("unlink", model.path)
        if roll < 0.10 and "fsync" in self.kinds:
            return Op("fsync", model.path)
        if roll < 0.20 and "truncate" in self.kinds:
            return Op("truncate", model.path, length=rng.randrange(self.max_file_size + 1))
        length = rng.choice((rng.randint(1, 64), rng.randint(1, BLOCK * 2),
                             rng.randint(1, self.max_write)))
        if roll < 0.45 and size + length <= self.max_file_size and "append" in self.kinds:
            return Op("append", model.path, size, length, seed)
        if roll < 0.55 and "create" in self.kinds:  # overwrite from the start (O_TRUNC and a fresh write come as two ops)
            return Op("create", model.path)
        gap = rng.choice((0, 0, 0, rng.randint(1, self.max_write)))  # sometimes past the end: sparse
        offset = min(rng.randrange(size + gap + 1), self.max_file_size - 1)
        length = max(1, min(length, self.max_file_size - offset))
        return Op("write", model.path, offset, length, seed)

    def _perform(self, op, attempt):
        path = os.path.join(self.root, op.path)
        if op.kind == "create":
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
        elif op.kind == "unlink":
            try:
                os.unlink(path)
            except FileNotFoundError:
                if attempt == 0:
                    raise
        elif op.kind == "truncate":
            os.truncate(path, op.length)
        elif op.kind == "fsync":
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        else:
            # A first append goes through O_APPEND; a retry writes at the offset the
            # append had, so it is applied once whatever the failed attempt left.
            append = op.kind == "append" and attempt == 0
            fd = os.open(path, os.O_WRONLY | (os.O_APPEND if append else 0))
            try:
                data, done = memoryview(op.data()), 0
                while done < len(data):
                    if append:
                        written = os.write(fd, data[done:])
                    else:
                        written = os.pwrite(fd, data[done:], op.offset + done)
                    if written <= 0:
                        raise OSError(errno.EIO, "write returned %d" % written)
                    done += written
            finally:
                os.close(fd)

    def _count_error(self, error, what):
        """Counts a failed call by errno; the first ERROR_SAMPLES are kept with what
        was tried (op, path, offset, length), for diagnosis."""
        name = errno.errorcode.get(error.errno, str(error.errno)) if error.errno else type(error).__name__
        with self.stats_lock:
            self.errors[name] = self.errors.get(name, 0) + 1
            if len(self.error_samples) < ERROR_SAMPLES:
                self.error_samples.append(dict(what, error=name, t=round(time.monotonic() - self.started, 3)))

    def _execute(self, model, op, deadline):
        """Performs `op` until it succeeds; False if it could not before the retry deadline."""
        model.begin(op)
        give_up_at = time.monotonic() + self.retry_for
        attempt = 0
        while True:
            try:
                self._perform(op, attempt)
                break
            except OSError as error:
                self._count_error(error, dict(op=op.kind, path=op.path, offset=op.offset,
                                              length=op.length, attempt=attempt))
                attempt += 1
                if time.monotonic() >= min(give_up_at, deadline + self.retry_for):
                    model.give_up(op)
                    return False
                time.sleep(min(0.5, 0.01 * 2 ** min(attempt, 6)))
        model.acknowledge(op)
        record = dict(op.record(), t=round(time.monotonic() - self.started, 6))
        with self.log_lock:
            self.log.append(record)
            if self.log_file:
                self.log_file.write(json.dumps(record) + "\n")
                self.log_file.flush()
        with self.stats_lock:
            self.counts["write_ops"] += 1
            self.counts["write_bytes"] += op.length if op.kind in ("write", "append") else 0
        return True

    def _writer(self, index, deadline):
        rng = random.Random(self.seed * 1000003 + index)
        mine = [self.models["w%d-f%d" % (index, f)] for f in range(self.files_per_writer)]
        for _ in range(self.ops_per_writer):
            if time.monotonic() >= deadline or self.stop_event.is_set():
                return
            usable = [model for model in mine if model.in_doubt is None]
            if not usable:
                return
            model = rng.choice(usable)
            self._execute(model, self._next_op(rng, model), deadline)

    # --- readers ---------------------------------------------------------------

    def _check(self, model, start, length, where, errors_fail=False):
        """Reads [start, start + length) of the file and checks it; True if good. A
        failed read is counted; it is a failure only with errors_fail (the final
        verify: a file that cannot be read is not verified)."""
        end = start + length
        version, base = model.snapshot(start, end)
        try:
            got = read_range(os.path.join(self.root, model.path), start, length)
        except OSError as error:
            self._count_error(error, dict(op="read", path=model.path, offset=start, length=length))
            if errors_fail:
                with self.stats_lock:
                    self.failures.append({"where": where, "path": model.path, "offset": start,
                                          "length": length, "problem": "cannot read: %s" % error})
            return not errors_fail
        states = model.candidates(version, base, start, end)
        problem = check_read(got, states)
        with self.stats_lock:
            self.counts["reads"] += 1
            self.counts["read_bytes"] += len(got or b"")
        if problem:
            with self.stats_lock:
                self.failures.append({"where": where, "path": model.path, "offset": start,
                                      "length": length, "problem": problem,
                                      "states": len(states)})
            return False
        return True

    def _reader(self, index, done, deadline, max_reads):
        rng = random.Random(self.seed * 1000003 + 500000 + index)
        models = sorted(self.models.values(), key=lambda model: model.path)
        for _ in range(max_reads):
            if done.is_set() or time.monotonic() >= deadline:
                return
            model = rng.choice(models)
            if rng.random() < 0.3:
                start, length = 0, self.max_file_size + 1
            else:
                start = rng.randrange(self.max_file_size)
                length = rng.randint(1, self.max_write)
            self._check(model, start, length, "reader %d" % index)

    # --- running -----------------------------------------------------------------

    def run(self, verify=True, max_reads=1000000):
        """Runs writers and readers to their bounds, then (verify) checks every file."""
        os.makedirs(self.root, exist_ok=True)
        self.started = time.monotonic()
        deadline = self.started + self.duration
        done = threading.Event()
        writers = [threading.Thread(target=self._writer, args=(i, deadline), daemon=True)
                   for i in range(self.writers)]
        readers = [threading.Thread(target=self._reader, args=(i, done, deadline, max_reads), daemon=True)
                   for i in range(self.readers)]
        for thread in writers + readers:
            thread.start()
        for thread in writers:
            thread.join(timeout=max(0.0, deadline - time.monotonic()) + self.retry_for + 30)
        done.set()
        for thread in readers:
            thread.join(timeout=30)
        self.elapsed = time.monotonic() - self.started
        if any(thread.is_alive() for thread in writers + readers):
            self.failures.append({"where": "run", "problem": "a worker thread did not finish in time"})
        if verify:
            self.verify()
        return self

    def check_all(self, readers=2, reads=200, seed_offset=0):
        """Readers alone (no writers), `reads` each: checks ranges while nothing moves."""
        done = threading.Event()
        threads = [threading.Thread(target=self._reader,
                                    args=(100 + seed_offset + i, done, time.monotonic() + 60, reads))
                   for i in range(readers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return self

    def verify(self):
        """Every file checked whole against its model (or its op in doubt); also no
        file in the directory that the workload did not make. Returns the failures."""
        for model in self.models.values():
            self._check(model, 0, self.max_file_size + 1, "final verify", errors_fail=True)
        unknown = sorted(set(os.listdir(self.root)) - set(self.models))
        if unknown:
            self.failures.append({"where": "final verify", "problem": "unexpected files %s" % unknown[:10]})
        return self.failures

    def stop(self):
        """Asks the writers to stop after their current operation."""
        self.stop_event.set()

    def close(self):
        if self.log_file:
            self.log_file.close()
            self.log_file = None

    @property
    def ok(self):
        return not self.failures

    @property
    def in_doubt(self):
        return sorted(model.path for model in self.models.values() if model.in_doubt)

    def summary(self):
        seconds = max(self.elapsed, 1e-9)
        text = ("workload: %d writes (%.1f MiB) %.0f ops/s, %d reads (%.1f MiB) %.0f reads/s in %.2f s; "
                "errors %s; %d verification failures; in doubt %s" % (
                    self.counts["write_ops"], self.counts["write_bytes"] / 2**20,
                    self.counts["write_ops"] / seconds, self.counts["reads"],
                    self.counts["read_bytes"] / 2**20, self.counts["reads"] / seconds, seconds,
                    self.errors or "none", len(self.failures), self.in_doubt or "none"))
        for failure in self.failures[:5]:
            text += "\n  %r" % failure
        for sample in self.error_samples[:5]:
            text += "\n  error: %r" % sample
        return text


def expected_from_log(log_path):
    """{path: bytes, or None if absent} rebuilt from a workload's JSON-lines log alone."""
    states = {}
    with open(log_path) as log:
        for line in log:
            op = Op.from_record(json.loads(line))
            states[op.path] = op.apply(states.get(op.path, (None, b"")))
    return {path: (None if size is None else data) for path, (size, data) in states.items()}


def verify_directory(root, expected):
    """Problems (list of strings) of `root` against {path: bytes or None}."""
    problems = []
    for path, content in sorted(expected.items()):
        try:
            got = read_range(os.path.join(str(root), path), 0, (len(content) if content else 0) + 1)
        except OSError as error:
            problems.append("%s: cannot read: %s" % (path, error))
            continue
        if got != content:
            problems.append("%s: %s" % (path, check_read(got, [(None if content is None else len(content),
                                                                 content or b"")]) or "differs"))
    return problems


def main(argv=None):
    """Command line: run the workload on a directory (e.g. a FUSE mount), or check a
    directory against a log a run left. Exit status 1 on any verification failure."""
    import argparse
    parser = argparse.ArgumentParser(description="verifying file workload")
    parser.add_argument("directory")
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--readers", type=int, default=2)
    parser.add_argument("--files-per-writer", type=int, default=4)
    parser.add_argument("--max-file-size", type=int, default=1 << 20)
    parser.add_argument("--max-write", type=int, default=256 << 10)
    parser.add_argument("--ops-per-writer", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kinds", default=",".join(Op.KINDS),
                        help="operations besides writes, comma-separated (default: all)")
    parser.add_argument("--log", help="append acknowledged operations to this JSON-lines file")
    parser.add_argument("--verify-log", metavar="LOG", help="only check DIRECTORY against LOG")
    args = parser.parse_args(argv)
    if args.verify_log:
        problems = verify_directory(args.directory, expected_from_log(args.verify_log))
        print("\n".join(problems) or "all files as the log says")
        return 1 if problems else 0
    workload = Workload(args.directory, writers=args.writers, readers=args.readers,
                        files_per_writer=args.files_per_writer, max_file_size=args.max_file_size,
                        max_write=args.max_write, ops_per_writer=args.ops_per_writer,
                        duration=args.duration, seed=args.seed, log_path=args.log,
                        kinds=[k for k in args.kinds.split(",") if k]).run()
    workload.close()
    print(workload.summary())
    return 0 if workload.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
