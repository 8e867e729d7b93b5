"""Load VIBE/TCMR ``*_db.pt`` files (joblib pickles) without running arbitrary code.

A joblib file is a pickle stream in which every numpy array is replaced by a small
``joblib.numpy_pickle.NumpyArrayWrapper`` object (subclass, shape, order, dtype, ...); right after
the wrapper's BUILD opcode the raw array bytes follow in the same stream (joblib >= 1.2 first
writes one byte holding a padding length, then that many padding bytes, for alignment). Arrays of
Python objects are written as a nested pickle stream instead. The whole stream may be compressed
(zlib, gzip, bz2, xz, lzma; detected by magic prefix).

:class:`JoblibUnpickler` is the backend's one restricted unpickler
(``inference_backend.safe_pickle``) with an allow-list of numpy reconstruction helpers, plain
containers and an inert stand-in for joblib's wrapper class; any other global (``os.system``, ``builtins.eval``, ...) raises :class:`UnsafePickleError` before it
can be called. joblib itself is not needed to read files (it is only used in tests to write them).
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import pickle
import zlib
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..safe_pickle import NUMPY_GLOBALS, RestrictedUnpickler


class UnsafePickleError(pickle.UnpicklingError):
    """The file references a Python global outside the allow-list (possibly malicious)."""


class _ArrayWrapperStandIn:
    """Inert replacement for ``joblib.numpy_pickle.NumpyArrayWrapper``: only holds state."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict):
            raise UnsafePickleError("malformed joblib array wrapper state")
        self.__dict__.update(state)


#: (module, name) -> object. Everything here only builds plain data.
_ALLOWED: dict[tuple[str, str], Any] = {
    **NUMPY_GLOBALS,
    ("collections", "OrderedDict"): dict,
    ("builtins", "dict"): dict,
    ("builtins", "list"): list,
    ("builtins", "tuple"): tuple,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "bytearray"): bytearray,
    ("builtins", "slice"): slice,
    ("builtins", "complex"): complex,
    ("joblib.numpy_pickle", "NumpyArrayWrapper"): _ArrayWrapperStandIn,
    ("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper"): _ArrayWrapperStandIn,
}


def _refuse(module: str, name: str) -> UnsafePickleError:
    return UnsafePickleError(
        f"refusing to load '{module}.{name}': this database file references code that is "
        "not a numpy array; it may be malicious. Only VIBE/TCMR-style dicts of numpy "
        "arrays are accepted."
    )


_MAX_ARRAY_BYTES = 1 << 40


class JoblibUnpickler(RestrictedUnpickler):
    """The backend's restricted unpickler (``inference_backend.safe_pickle``) with the
    database allow-list, reading joblib's inline arrays after their wrappers (see module doc)."""

    dispatch = RestrictedUnpickler.dispatch.copy()

    def __init__(self, file: BinaryIO) -> None:
        super().__init__(file, _ALLOWED, _refuse)
        self._raw = file

    def load_build(self) -> None:
        pickle._Unpickler.load_build(self)  # type: ignore[attr-defined]
        top = self.stack[-1]  # type: ignore[attr-defined]
        if isinstance(top, _ArrayWrapperStandIn):
            self.stack[-1] = self._read_wrapped_array(top)  # type: ignore[attr-defined]

    dispatch[pickle.BUILD[0]] = load_build  # type: ignore[assignment]

    def _read_wrapped_array(self, wrapper: _ArrayWrapperStandIn) -> np.ndarray:
        state = wrapper.__dict__
        dtype = state.get("dtype")
        shape = state.get("shape")
        order = state.get("order", "C")
        if not isinstance(dtype, np.dtype) or not isinstance(shape, tuple):
            raise UnsafePickleError("malformed joblib array wrapper (dtype/shape)")
        if dtype.hasobject:
            inner = JoblibUnpickler(self._raw)
            array = inner.load()
            if not isinstance(array, np.ndarray):
                raise UnsafePickleError("joblib object array did not decode to an array")
            return array
        if state.get("numpy_array_alignment_bytes") is not None:
            pad = self._raw.read(1)
            if len(pad) != 1:
                raise pickle.UnpicklingError("truncated joblib file (padding byte)")
            if pad[0]:
                self._raw.read(pad[0])
        count = int(np.prod([int(s) for s in shape], dtype=np.int64)) if shape else 1
        nbytes = count * dtype.itemsize
        if count < 0 or nbytes > _MAX_ARRAY_BYTES:
            raise UnsafePickleError(f"implausible array size {shape} {dtype}")
        data = _read_exact(self._raw, nbytes)
        array = np.frombuffer(data, dtype=dtype, count=count).copy()
        if order == "F":
            array = array.reshape(shape[::-1]).transpose()
        else:
            array = array.reshape(shape)
        if not array.dtype.isnative:
            array = array.astype(array.dtype.newbyteorder("="))
        return array


def _read_exact(fh: BinaryIO, size: int) -> bytes:
    chunks = []
    remaining = size
    while remaining > 0:
        chunk = fh.read(min(remaining, 1 << 26))
        if not chunk:
            raise pickle.UnpicklingError("truncated joblib file (array data)")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


class _ZlibStream(io.RawIOBase):
    """Streaming reader of a raw zlib stream (joblib's ``compress='zlib'``)."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self._dec = zlib.decompressobj()
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            raw = self._fh.read(1 << 20)
            if not raw:
                self._buf = self._dec.flush()
                if not self._buf:
                    return 0
                break
            self._buf = self._dec.decompress(raw)
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def _open_decompressed(path: Path) -> BinaryIO:
    fh = open(path, "rb")  # noqa: SIM115 - closed by the caller through the returned stream
    head = fh.read(6)
    fh.seek(0)
    if head.startswith(b"ZF"):
        fh.close()
        raise pickle.UnpicklingError(
            f"{path}: joblib < 0.9.3 'ZF' files are not supported; re-save it with a current joblib"
        )
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=fh)  # type: ignore[return-value]
    if head.startswith(b"BZ"):
        return bz2.BZ2File(fh)  # type: ignore[return-value]
    if head.startswith(b"\xfd7zXZ") or head.startswith(b"\x5d\x00"):
        return lzma.LZMAFile(fh)  # type: ignore[return-value]
    if head.startswith(b"\x04\x22\x4d\x18"):
        fh.close()
        raise pickle.UnpicklingError(f"{path}: lz4-compressed joblib files are not supported")
    if head.startswith(b"\x78"):
        return io.BufferedReader(_ZlibStream(fh))  # type: ignore[return-value]
    return fh


def safe_load_pickle(path: str | Path) -> Any:
    """Load a (joblib or plain) pickle of numpy data with the restricted unpickler.

    Raises:
        UnsafePickleError: the file references a global outside the allow-list.
        pickle.UnpicklingError: the file is truncated or not a pickle.
    """
    path = Path(path)
    stream = _open_decompressed(path)
    try:
        return JoblibUnpickler(stream).load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
            AttributeError, zlib.error, OSError, lzma.LZMAError) as exc:
        raise pickle.UnpicklingError(f"{path}: not a readable database pickle ({exc})") from exc
    finally:
        stream.close()
