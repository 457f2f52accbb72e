"""Writes a seed corpus of valid chainfs frames (and a few near misses) for the
libFuzzer targets: random inputs almost never carry a correct CRC32C, so without
valid seeds the fuzzer would not get past the checksum check."""
import os
import struct
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import chainfs_wire as wire  # noqa: E402
import storage_wire  # noqa: E402


def seeds():
    yield wire.frame(2, 0, wire.HEALTH)
    yield wire.frame(4, 0, wire.ECHO, b"message", payload=b"p" * 300)
    yield wire.frame(6, 0, wire.ECHO, b"", payload=b"x" * 20000, flags=wire.FLAG_PAYLOAD_CRC)
    yield wire.frame(3, 0, wire.SINK, payload=b"discarded" * 10)
    yield wire.frame(8, 0, wire.SOURCE, struct.pack("<I", 4096))
    yield wire.frame(10, 7, 9, b"\x05\x00\x00\x00hello") + wire.frame(12, 7, 9, b"\x00")
    yield wire.frame(1, 0, wire.HEALTH, corrupt_crc=True)
    yield wire.frame(2, 0, wire.ECHO, b"abc", payload=b"12345")[:-2]
    # fuzz_storage_decoders: selector byte (0: REMOVE_LISTED, 1: REMOVE_CHUNKS), body.
    yield b"\x00" + storage_wire.remove_listed_message(7, 1, 3, 42, [0, 1, 5, 1 << 40])
    yield b"\x01" + struct.pack("<QIQQQQ", 7, 1, 3, 42, 0, 1 << 64 - 1)


def main(directory):
    os.makedirs(directory, exist_ok=True)
    for index, data in enumerate(seeds()):
        with open(os.path.join(directory, "seed-%02d" % index), "wb") as handle:
            handle.write(data)


if __name__ == "__main__":
    main(sys.argv[1])
