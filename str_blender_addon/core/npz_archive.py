"""Read chosen arrays out of an untrusted ``.npz`` with bounded memory and no pickles.

numpy + stdlib only. ``np.load`` would inflate whatever member is asked for and trust the
shape an ``.npy`` header claims; here every member is checked *before* it is inflated:

1. the archive's directory: no encrypted members, only stored/deflated/bzip2/lzma members,
   no duplicate names, unknown members no larger than ``max_unknown_bytes``;
2. the member's ``.npy`` header (a few hundred bytes): magic, a plain numeric or unicode
   dtype (never ``object``), the shape;
3. the caller's expectation (``peek`` first, then ``read`` with the shape it expects) and the
   member's declared size, which must be exactly the header plus ``prod(shape) * itemsize``;
4. the CRC, verified by reading to the end of the member.

Every problem raises :class:`NpzArchiveError`, whose message names the file and the member.
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np

#: Members that are not asked for are never inflated, but a big one is still refused: motion
#: files carry no such payload, so it is a sign of a crafted or wrong file.
MAX_UNKNOWN_BYTES = 16 * 1024 * 1024
#: Upper bound on all inflated bytes of one archive (a 10-person, one-hour, 60 fps capture is
#: about 1.3 GB).
MAX_TOTAL_BYTES = 2 * 1024 ** 3
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)
_MAX_NPY_HEADER = 10_000


class NpzArchiveError(ValueError):
    """The archive or one of its members cannot be read safely (the message says which)."""


@dataclass(frozen=True)
class MemberHeader:
    """What a member's ``.npy`` header claims (read without inflating the data)."""

    key: str
    shape: tuple[int, ...]
    dtype: np.dtype
    declared_size: int          # uncompressed bytes according to the zip directory
    fortran_order: bool = False

    @property
    def data_bytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


class NpzArchive:
    """An open ``.npz``; ``keys`` are member names without ``.npy``. Use as a context manager.

    ``known`` are the keys the caller may ask for; other members are never inflated and are
    refused when larger than ``max_unknown_bytes``.
    """

    def __init__(self, path: Path | str, known: tuple[str, ...],
                 max_unknown_bytes: int = MAX_UNKNOWN_BYTES,
                 max_total_bytes: int = MAX_TOTAL_BYTES) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self._max_total = max_total_bytes
        self._inflated = 0
        try:
            self._zip = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise NpzArchiveError(
                f"{self.name} is not an .npz archive (truncated or corrupt, or another file "
                f"type: {exc}); re-run the capture or copy the file again") from exc
        try:
            self._members = self._check_directory(known, max_unknown_bytes)
        except BaseException:
            self._zip.close()
            raise

    def __enter__(self) -> NpzArchive:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(self._members)

    def _check_directory(self, known: tuple[str, ...], max_unknown: int
                         ) -> dict[str, zipfile.ZipInfo]:
        members: dict[str, zipfile.ZipInfo] = {}
        seen: set[str] = set()
        for info in self._zip.infolist():
            if info.filename in seen:
                raise NpzArchiveError(f"{self.name}: member '{info.filename}' appears twice")
            seen.add(info.filename)
            key = info.filename[:-4] if info.filename.endswith(".npy") else None
            if key is None or key not in known:
                if info.file_size > max_unknown:
                    raise NpzArchiveError(
                        f"{self.name}: unexpected member '{info.filename}' of "
                        f"{info.file_size / 1e6:.1f} MB; this is not a file the reader "
                        "understands, so it is refused")
                if key is not None and self._holds_objects(info):
                    raise NpzArchiveError(
                        f"{self.name}: member '{info.filename}' contains Python objects "
                        "(pickled data); motion files never do, so the file is refused for "
                        "safety")
                continue
            if info.flag_bits & 0x1:
                raise NpzArchiveError(
                    f"{self.name}: member '{info.filename}' is encrypted; motion files never "
                    "are")
            if info.compress_type not in _METHODS:
                raise NpzArchiveError(
                    f"{self.name}: member '{info.filename}' uses compression method "
                    f"{info.compress_type}, which is not supported (stored or deflate)")
            members[key] = info
        return members

    def _holds_objects(self, info: zipfile.ZipInfo) -> bool:
        """True when an (unread) ``.npy`` member's header declares an object dtype."""
        if info.flag_bits & 0x1 or info.compress_type not in _METHODS:
            return False
        try:
            with self._zip.open(info) as fp:
                _read_npy_header(fp)
        except NpzArchiveError as exc:
            return "Python objects" in str(exc)
        except Exception:  # noqa: BLE001 - an unreadable unknown member is simply not used
            return False
        return False

    @property
    def member_names(self) -> tuple[str, ...]:
        """Every member name in the archive (read or not)."""
        return tuple(self._zip.namelist())

    def peek(self, key: str) -> MemberHeader:
        """The member's dtype and shape from its ``.npy`` header (inflates a few hundred bytes)."""
        info = self._info(key)
        try:
            with self._zip.open(info) as fp:
                shape, dtype, fortran = _read_npy_header(fp)
        except NpzArchiveError as exc:
            raise NpzArchiveError(f"{self.name}: member '{info.filename}' {exc}") from None
        except Exception as exc:  # noqa: BLE001 - any failure on untrusted bytes is a bad file
            raise NpzArchiveError(
                f"{self.name}: member '{info.filename}' cannot be read "
                f"({type(exc).__name__}: {exc})") from exc
        return MemberHeader(key, shape, dtype, info.file_size, fortran)

    def read(self, key: str, shape: tuple[int, ...] | None = None,
             kinds: str | None = None) -> np.ndarray:
        """Inflate the member after checking its header against ``shape`` / dtype ``kinds``
        (either may be None = any) and its declared size against the header."""
        head = self.peek(key)
        where = f"{self.name}: '{key}'"
        if shape is not None and head.shape != tuple(shape):
            raise NpzArchiveError(f"{where} has shape {head.shape}, expected {tuple(shape)}")
        if kinds is not None and head.dtype.kind not in kinds:
            raise NpzArchiveError(
                f"{where} has dtype {head.dtype}, expected kind {kinds!r}")
        info = self._info(key)
        if not head.data_bytes <= info.file_size <= head.data_bytes + _MAX_NPY_HEADER + 16:
            raise NpzArchiveError(
                f"{where}: the archive says the member holds {info.file_size} bytes but its "
                f"shape {head.shape} needs {head.data_bytes}; the file is corrupt or crafted")
        if self._inflated + info.file_size > self._max_total:
            raise NpzArchiveError(
                f"{self.name} holds more than {self._max_total / 1e9:.1f} GB of arrays, more "
                "than any capture needs; it is refused")
        self._inflated += info.file_size
        try:
            with self._zip.open(info) as fp:
                _read_npy_header(fp)
                array = _read_data(fp, head)
                if fp.read(1):
                    raise NpzArchiveError("has bytes after its data")
        except NpzArchiveError as exc:
            raise NpzArchiveError(f"{where} {exc}") from None
        except Exception as exc:  # noqa: BLE001 - any failure on untrusted bytes is a bad file
            raise NpzArchiveError(
                f"{where} is truncated or corrupt ({type(exc).__name__}: {exc}); re-run the "
                "capture or copy the file again") from exc
        return array

    def _info(self, key: str) -> zipfile.ZipInfo:
        try:
            return self._members[key]
        except KeyError:
            raise NpzArchiveError(f"{self.name} has no array '{key}'") from None


def _read_npy_header(fp) -> tuple[tuple[int, ...], np.dtype, bool]:  # type: ignore[no-untyped-def]
    try:
        version = np.lib.format.read_magic(fp)
    except ValueError as exc:
        raise NpzArchiveError("is not a NumPy .npy array") from exc
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(
            fp, max_header_size=_MAX_NPY_HEADER)
    elif version in ((2, 0), (3, 0)):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(
            fp, max_header_size=_MAX_NPY_HEADER)
    else:
        raise NpzArchiveError(f"has an unknown .npy version {version}")
    if dtype.hasobject or dtype.kind not in "biufUS" or dtype.fields is not None:
        raise NpzArchiveError(
            f"holds Python objects or records (dtype {dtype}); motion files never do, so it "
            "is refused for safety")
    return tuple(int(n) for n in shape), dtype, bool(fortran)


def _read_data(fp, head: MemberHeader) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Read exactly ``head.data_bytes`` (already checked against the declared size)."""
    buffer = bytearray(head.data_bytes)
    filled = 0
    while filled < len(buffer):
        chunk = fp.read(min(len(buffer) - filled, 1 << 20))
        if not chunk:
            raise NpzArchiveError(f"ends after {filled} of {len(buffer)} bytes (truncated)")
        buffer[filled:filled + len(chunk)] = chunk
        filled += len(chunk)
    order = "F" if head.fortran_order else "C"
    array = np.frombuffer(buffer, dtype=head.dtype).reshape(head.shape, order=order)
    return array if head.dtype.isnative else array.astype(head.dtype.newbyteorder("="))
