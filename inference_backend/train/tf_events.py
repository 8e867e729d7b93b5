"""Minimal TensorBoard event-file writer (scalars only), no tensorflow/tensorboard needed.

An event file is a sequence of TFRecords: ``uint64 length | uint32 masked_crc32c(length) |
data | uint32 masked_crc32c(data)`` (little endian), masked_crc = ((c >> 15) | (c << 17)) +
0xa282ead8. Each record's data is a serialized ``Event`` protobuf: wall_time (field 1, double),
step (2, int64), file_version (3, string, first record "brain.Event:2"), summary (5, message).
``Summary`` = repeated ``Value`` (field 1) with tag (1, string) and simple_value (2, float).
"""

from __future__ import annotations

import socket
import struct
import time
from pathlib import Path


def _crc32c_table() -> list[int]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli); crc32c(b"123456789") == 0xE3069283."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _len_field(field: int, payload: bytes) -> bytes:
    return _varint((field << 3) | 2) + _varint(len(payload)) + payload


def encode_event(
    wall_time: float, step: int, *, file_version: str | None = None,
    scalars: dict[str, float] | None = None,
) -> bytes:
    """Serialized ``Event`` protobuf."""
    msg = _varint((1 << 3) | 1) + struct.pack("<d", wall_time)
    msg += _varint((2 << 3) | 0) + _varint(int(step))
    if file_version is not None:
        msg += _len_field(3, file_version.encode())
    if scalars:
        summary = b""
        for tag, value in scalars.items():
            val = _len_field(1, tag.encode()) + _varint((2 << 3) | 5) + struct.pack("<f", value)
            summary += _len_field(1, val)
        msg += _len_field(5, summary)
    return msg


def encode_record(data: bytes) -> bytes:
    header = struct.pack("<Q", len(data))
    return (
        header + struct.pack("<I", masked_crc32c(header)) + data
        + struct.pack("<I", masked_crc32c(data))
    )


def read_records(path: Path) -> list[bytes]:
    """Read back the records of an event file, verifying both CRCs (used by tests/tools)."""
    raw = Path(path).read_bytes()
    out = []
    pos = 0
    while pos < len(raw):
        header = raw[pos : pos + 8]
        (length,) = struct.unpack("<Q", header)
        (crc_len,) = struct.unpack("<I", raw[pos + 8 : pos + 12])
        data = raw[pos + 12 : pos + 12 + length]
        (crc_data,) = struct.unpack("<I", raw[pos + 12 + length : pos + 16 + length])
        if crc_len != masked_crc32c(header) or crc_data != masked_crc32c(data):
            raise ValueError(f"{path}: corrupt record at byte {pos}")
        out.append(data)
        pos += 16 + length
    return out


class EventWriter:
    """Appends scalar events to ``<logdir>/events.out.tfevents.<time>.<host>``."""

    def __init__(self, logdir: Path) -> None:
        logdir.mkdir(parents=True, exist_ok=True)
        now = time.time()
        self.path = logdir / f"events.out.tfevents.{int(now)}.{socket.gethostname()}"
        self._fh = open(self.path, "ab")  # noqa: SIM115 - closed in close()
        self._fh.write(encode_record(encode_event(now, 0, file_version="brain.Event:2")))
        self._fh.flush()

    def add_scalars(self, step: int, scalars: dict[str, float]) -> None:
        self._fh.write(encode_record(encode_event(time.time(), step, scalars=scalars)))
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()
