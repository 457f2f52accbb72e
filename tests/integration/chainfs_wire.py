"""Independent Python encoder/decoder of chainfs RPC frames, for process-level tests.

It re-implements the layout documented in src/net/frame.h (and CRC32C bit by bit) so
that tests check the C implementation against a second reading of the spec, and can
build frames that are wrong on purpose.
"""
import socket
import struct

MAGIC = 0x52534643
VERSION = 1
HEADER_SIZE = 24
ENVELOPE_SIZE = 32
FLAG_REPLY = 1
FLAG_PAYLOAD_CRC = 2

SYSTEM_SERVICE = 0
HEALTH, ECHO, SINK, SOURCE, SLEEP = 1, 2, 3, 4, 5

# Status numbers from include/chainfs/error.h
OK, MALFORMED, UNKNOWN_SERVICE, UNKNOWN_METHOD, CHECKSUM = 0, 10, 11, 12, 17

_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _TABLE.append(_c)


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def envelope(request_id, service, method, status=0, timeout_us=0, trace_id=0):
    return struct.pack("<QHHIQQ", request_id, service, method, status, timeout_us, trace_id)


def frame(request_id, service, method, message=b"", payload=b"", flags=0,
          payload_crc=None, version=VERSION, magic=MAGIC, corrupt_crc=False,
          body_length=None, payload_length=None):
    body = envelope(request_id, service, method) + message
    if payload_crc is None:
        payload_crc = crc32c(payload) if flags & FLAG_PAYLOAD_CRC else 0
    header = struct.pack("<IHHIII", magic, version, flags,
                         len(body) if body_length is None else body_length,
                         len(payload) if payload_length is None else payload_length,
                         payload_crc)
    crc = crc32c(header + body)
    if corrupt_crc:
        crc ^= 1
    return header + struct.pack("<I", crc) + body + payload


def recv_exact(sock, length):
    data = b""
    while len(data) < length:
        chunk = sock.recv(length - len(data))
        if not chunk:
            raise ConnectionError("closed after %d of %d bytes" % (len(data), length))
        data += chunk
    return data


def read_reply(sock):
    """Returns (request_id, status, message, payload) of the next frame."""
    header = recv_exact(sock, HEADER_SIZE)
    magic, version, flags, body_length, payload_length, payload_crc, crc = struct.unpack(
        "<IHHIIII", header)
    assert magic == MAGIC and version == VERSION
    assert flags & FLAG_REPLY
    body = recv_exact(sock, body_length)
    assert crc32c(header[:20] + body) == crc, "reply checksum"
    payload = recv_exact(sock, payload_length) if payload_length else b""
    request_id, _service, _method, status, _timeout, _trace = struct.unpack(
        "<QHHIQQ", body[:ENVELOPE_SIZE])
    return request_id, status, body[ENVELOPE_SIZE:], payload


def error_text(message):
    """Decodes the wire string that error replies carry."""
    (length,) = struct.unpack("<I", message[:4])
    return message[4:4 + length].decode()


def connect(address, timeout=5.0):
    host, port = address.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    return sock


def closed_by_peer(sock, timeout=5.0):
    """True when the peer closed the connection (EOF or reset) within timeout."""
    sock.settimeout(timeout)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
