"""The backend's one restricted unpickler: pickles of plain numpy data, never code.

Pickles the backend must read come from elsewhere (the official SMPL ``.pkl`` files, VIBE/TCMR
``*_db.pt`` joblib databases), so they are untrusted. :class:`RestrictedUnpickler` resolves a
global only through an explicit allow-list (plus an optional resolver for whole module
families, e.g. chumpy's classes mapped to an inert stand-in); any other global (``os.system``,
``builtins.eval``, ...) raises the caller's error before it can be called. It is the
pure-Python unpickler, so subclasses can hook opcodes (``train/safe_pickle`` reads joblib's
inline arrays that way).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO

import numpy as np


def _reconstruct(*args: Any) -> np.ndarray:
    return np.core.multiarray._reconstruct(*args)  # type: ignore[attr-defined]


def _scalar(*args: Any) -> Any:
    return np.core.multiarray.scalar(*args)  # type: ignore[attr-defined]


def _encode(text: str, encoding: str = "latin1") -> bytes:
    return text.encode(encoding)


#: What a pickle of numpy arrays and scalars needs (numpy 1.x and 2.x module names; protocol-2
#: pickles store bytes as latin-1 text + ``_codecs.encode``). Everything here builds plain data.
NUMPY_GLOBALS: Mapping[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _encode,
}

Refusal = Callable[[str, str], Exception]
Resolver = Callable[[str, str], Any]


class RestrictedUnpickler(pickle._Unpickler):  # type: ignore[name-defined,misc]
    """Unpickler whose ``find_class`` returns only ``allowed[(module, name)]`` or what
    ``resolve(module, name)`` returns (None: not allowed); otherwise it raises
    ``refuse(module, name)``. ``encoding`` as for :class:`pickle.Unpickler` ("latin1" reads
    Python-2 pickles of numpy arrays)."""

    dispatch = pickle._Unpickler.dispatch.copy()  # type: ignore[attr-defined]

    def __init__(self, file: BinaryIO, allowed: Mapping[tuple[str, str], Any],
                 refuse: Refusal, resolve: Resolver | None = None,
                 encoding: str = "ASCII") -> None:
        super().__init__(file, encoding=encoding)
        self._allowed = allowed
        self._refuse = refuse
        self._resolve = resolve

    def find_class(self, module: str, name: str) -> Any:
        found = self._allowed.get((module, name))
        if found is None and self._resolve is not None:
            found = self._resolve(module, name)
        if found is None:
            raise self._refuse(module, name)
        return found
