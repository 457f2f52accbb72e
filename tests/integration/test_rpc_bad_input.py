"""Bad input on the RPC port: each malformed frame gets an error reply or a closed
connection with a log line, and the server keeps serving everybody else."""
import socket
import struct
import time

import pytest

from conftest import Daemon

import chainfs_wire as wire


def healthy(address):
    """A fresh connection still gets a health reply."""
    with wire.connect(address) as sock:
        sock.sendall(wire.frame(1, wire.SYSTEM_SERVICE, wire.HEALTH))
        _, status, message, _ = wire.read_reply(sock)
        return status == wire.OK and b"node" in message


def test_valid_echo_round_trip(node):
    with wire.connect(node.address) as sock:
        sock.sendall(wire.frame(7, wire.SYSTEM_SERVICE, wire.ECHO, b"abc", payload=b"xyz" * 1000,
                                flags=wire.FLAG_PAYLOAD_CRC))
        request_id, status, message, payload = wire.read_reply(sock)
    assert (request_id, status, message, payload) == (7, wire.OK, b"abc", b"xyz" * 1000)


CLOSING_CASES = [
    ("wrong magic", dict(magic=0xDEADBEEF), "bad magic"),
    ("wrong version", dict(version=9), "unsupported protocol version"),
    ("wrong checksum", dict(corrupt_crc=True), "frame checksum mismatch"),
    ("unknown flags", dict(flags=0x40), "unknown flags"),
    ("body shorter than envelope", dict(body_length=8), "body shorter than the envelope"),
    ("oversized body", dict(body_length=0x7FFFFFFF), "body larger than the connection limit"),
    ("oversized payload", dict(payload_length=0xFFFFFFFF), "payload larger than the connection limit"),
    ("reply sent to a server", dict(flags=wire.FLAG_REPLY), "sent a reply to a server"),
]


@pytest.mark.parametrize("name,options,log_line", CLOSING_CASES, ids=[c[0] for c in CLOSING_CASES])
def test_malformed_frame_closes_connection_and_logs(node, name, options, log_line):
    with wire.connect(node.address) as bystander:
        with wire.connect(node.address) as sock:
            sock.sendall(wire.frame(1, wire.SYSTEM_SERVICE, wire.HEALTH, **options))
            assert wire.closed_by_peer(sock), "connection stayed open after " + name
        assert node.wait_for_log(log_line), node.log_text()
        # Another connection, opened before, is unaffected.
        bystander.sendall(wire.frame(2, wire.SYSTEM_SERVICE, wire.HEALTH))
        assert wire.read_reply(bystander)[1] == wire.OK
    assert healthy(node.address)


def test_unknown_service_and_method_get_error_replies_and_connection_stays(node):
    with wire.connect(node.address) as sock:
        sock.sendall(wire.frame(1, 4242, 1))
        request_id, status, message, _ = wire.read_reply(sock)
        assert (request_id, status) == (1, wire.UNKNOWN_SERVICE)
        assert wire.error_text(message) == "unknown service 4242"
        sock.sendall(wire.frame(2, wire.SYSTEM_SERVICE, 999))
        request_id, status, message, _ = wire.read_reply(sock)
        assert (request_id, status) == (2, wire.UNKNOWN_METHOD)
        assert "unknown method 999" in wire.error_text(message)
        # Malformed body of a known method: an error reply, not a crash.
        sock.sendall(wire.frame(3, wire.SYSTEM_SERVICE, wire.SOURCE, b"\x01"))
        assert wire.read_reply(sock)[1] == wire.MALFORMED
        sock.sendall(wire.frame(4, wire.SYSTEM_SERVICE, wire.ECHO, b"still here"))
        assert wire.read_reply(sock)[:3] == (4, wire.OK, b"still here")


def test_payload_checksum_mismatch_is_refused(node):
    with wire.connect(node.address) as sock:
        sock.sendall(wire.frame(5, wire.SYSTEM_SERVICE, wire.SINK, payload=b"p" * 5000,
                                flags=wire.FLAG_PAYLOAD_CRC, payload_crc=12345))
        request_id, status, message, _ = wire.read_reply(sock)
        assert (request_id, status) == (5, wire.CHECKSUM)
        assert "checksum" in wire.error_text(message)


def test_truncated_frame_then_disconnect(node):
    data = wire.frame(1, wire.SYSTEM_SERVICE, wire.ECHO, b"m" * 100, payload=b"q" * 100000)
    for cut in (3, wire.HEADER_SIZE + 10, len(data) - 50000):
        with wire.connect(node.address) as sock:
            sock.sendall(data[:cut])
        assert node.wait_for_log("closed in the middle of a frame"), node.log_text()
    assert healthy(node.address)


def test_garbage_after_a_valid_frame(node):
    with wire.connect(node.address) as sock:
        sock.sendall(wire.frame(1, wire.SYSTEM_SERVICE, wire.ECHO, b"first") + b"\x00garbage" * 10)
        assert wire.read_reply(sock)[:3] == (1, wire.OK, b"first")
        assert wire.closed_by_peer(sock)
    assert node.wait_for_log("bad magic")
    assert healthy(node.address)


def test_client_disconnects_while_request_runs(node):
    with wire.connect(node.address) as sock:
        sock.sendall(wire.frame(1, wire.SYSTEM_SERVICE, wire.SLEEP, struct.pack("<I", 300)))
    time.sleep(0.5)  # the worker finishes and replies to a closed connection
    assert healthy(node.address)


def test_random_bytes_never_crash_the_server(node):
    import random
    rng = random.Random(20261129)
    for _ in range(40):
        with wire.connect(node.address) as sock:
            try:
                sock.sendall(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 3000))))
            except (BrokenPipeError, ConnectionResetError):
                pass
    assert healthy(node.address)


def test_many_requests_pipelined_on_one_connection(node):
    with wire.connect(node.address) as sock:
        sock.sendall(b"".join(wire.frame(i, wire.SYSTEM_SERVICE, wire.ECHO, b"%d" % i)
                              for i in range(1, 501)))
        seen = {}
        for _ in range(500):
            request_id, status, message, _ = wire.read_reply(sock)
            assert status == wire.OK
            seen[request_id] = message
    assert seen == {i: b"%d" % i for i in range(1, 501)}


def resident_mib(pid):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0


def test_client_that_never_reads_cannot_grow_server_memory(tmp_path):
    """Regression: the server kept reading requests from a client that never read its
    replies, holding every request and reply; memory grew without bound."""
    daemon = Daemon(tmp_path, settings=["rpc.max_in_flight=16"])
    try:
        before = resident_mib(daemon.process.pid)
        with wire.connect(daemon.address) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(0.5)
            payload = b"p" * (1 << 20)
            sent = 0
            deadline = time.monotonic() + 20
            try:
                while sent < 300 and time.monotonic() < deadline:
                    sock.sendall(wire.frame(sent + 1, wire.SYSTEM_SERVICE, wire.ECHO, payload=payload))
                    sent += 1
            except socket.timeout:
                pass  # the server stopped reading: back-pressure reached us
            grown = resident_mib(daemon.process.pid) - before
            assert grown < 120, "server grew by %.0f MiB after %d requests" % (grown, sent)
            assert sent < 300, "the server never pushed back"
        assert healthy(daemon.address)
    finally:
        assert daemon.stop() == 0
        daemon.assert_clean_log()
