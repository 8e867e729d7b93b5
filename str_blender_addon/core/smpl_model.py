"""Load the user's SMPL model files safely and shape them (numpy only).

Supported: ``SMPL_{NEUTRAL,MALE,FEMALE}.npz`` (read with ``allow_pickle=False``) and the
official ``.pkl`` files (``basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl``, ``basicmodel_m_...``,
``basicModel_f_...``, ``SMPL_NEUTRAL.pkl`` ...). Pickles are only ever read through
:class:`RestrictedUnpickler`: an allow-list of numpy reconstruct functions, with chumpy arrays
and scipy sparse matrices mapped to inert stubs that yield numpy arrays (scipy and chumpy need
not be installed). Anything else in the pickle is refused before it can run.

Shapes: V = 6890 vertices. v_template (V,3), shapedirs (V,3,B), posedirs (V,3,207),
J_regressor (24,V), weights (V,24), kintree_table (2,24), faces (13776,3). Y-up, metres.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MAX_PICKLE_BYTES = 512 * 1024 * 1024

_GENDER_FILES: dict[str, tuple[str, ...]] = {
    "neutral": ("SMPL_NEUTRAL.npz", "SMPL_NEUTRAL.pkl", "basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl",
                "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"),
    "male": ("SMPL_MALE.npz", "SMPL_MALE.pkl", "basicmodel_m_lbs_10_207_0_v1.1.0.pkl",
             "basicModel_m_lbs_10_207_0_v1.0.0.pkl", "basicmodel_m_lbs_10_207_0_v1.0.0.pkl"),
    "female": ("SMPL_FEMALE.npz", "SMPL_FEMALE.pkl", "basicmodel_f_lbs_10_207_0_v1.1.0.pkl",
               "basicModel_f_lbs_10_207_0_v1.0.0.pkl", "basicmodel_f_lbs_10_207_0_v1.0.0.pkl"),
}


class SmplLoadError(ValueError):
    """The SMPL model files are missing, malformed or unsafe."""


@dataclass(frozen=True)
class SmplModel:
    """SMPL body model arrays (float64; faces int64). See module docstring for shapes."""

    v_template: np.ndarray
    shapedirs: np.ndarray
    posedirs: np.ndarray
    j_regressor: np.ndarray
    weights: np.ndarray
    kintree_table: np.ndarray
    faces: np.ndarray
    path: str = ""

    def shaped_vertices(self, betas: np.ndarray | None = None) -> np.ndarray:
        """Rest (T-pose) vertices (V,3) for shape ``betas`` (<= B,): v_template + shapedirs@b."""
        v = self.v_template.copy()
        if betas is not None:
            b = np.asarray(betas, np.float64).ravel()
            n = min(b.size, self.shapedirs.shape[2])
            v += self.shapedirs[:, :, :n] @ b[:n]
        return v

    def rest_joints(self, betas: np.ndarray | None = None) -> np.ndarray:
        """Rest joints (24,3) = J_regressor @ shaped vertices."""
        return self.j_regressor @ self.shaped_vertices(betas)


def find_model_file(smpl_dir: str | Path, gender: str = "neutral") -> Path:
    """Locate the model file for ``gender`` in ``smpl_dir`` (or its ``smpl/`` subfolder),
    falling back to the neutral model. Raises SmplLoadError listing what was looked for."""
    root = Path(smpl_dir)
    if not root.is_dir():
        raise SmplLoadError(f"SMPL folder not found: {root}")
    gender = gender if gender in _GENDER_FILES else "neutral"
    order = list(_GENDER_FILES[gender]) + (
        list(_GENDER_FILES["neutral"]) if gender != "neutral" else [])
    for folder in (root, root / "smpl", root / "SMPL"):
        for name in order:
            if (folder / name).is_file():
                return folder / name
    raise SmplLoadError(
        f"no SMPL model in {root}: expected one of {', '.join(order[:4])} (download the SMPL "
        "model from smpl.is.tue.mpg.de and point the add-on to its folder)")


def load_smpl_model(smpl_dir_or_file: str | Path, gender: str = "neutral") -> SmplModel:
    """Load an SMPL model from a folder (see :func:`find_model_file`) or a file path."""
    p = Path(smpl_dir_or_file)
    path = p if p.is_file() else find_model_file(p, gender)
    if path.suffix.lower() == ".npz":
        data = _load_npz(path)
    elif path.suffix.lower() == ".pkl":
        data = load_pickle_restricted(path)
    else:
        raise SmplLoadError(f"{path.name}: SMPL models are .npz or .pkl files")
    if not isinstance(data, dict):
        raise SmplLoadError(f"{path.name} does not contain an SMPL model dictionary")
    return _to_model(data, path)


def _load_npz(path: Path) -> dict[str, Any]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except ValueError as exc:
        raise SmplLoadError(
            f"{path.name} contains pickled objects, which are refused for safety; use the .pkl "
            "file from the SMPL website or a plain-array .npz") from exc
    except Exception as exc:  # zipfile.BadZipFile, OSError, zlib.error ...
        raise SmplLoadError(f"{path.name} is not a readable .npz ({exc})") from exc


def _to_model(data: dict[str, Any], path: Path) -> SmplModel:
    def get(key: str, *alts: str) -> np.ndarray:
        for k in (key, *alts):
            if k in data:
                return np.asarray(_as_array(data[k]))
        raise SmplLoadError(f"{path.name} is missing '{key}'; is it an SMPL model file?")

    v_template = get("v_template").astype(np.float64)
    n_verts = v_template.shape[0]
    shapedirs = get("shapedirs").astype(np.float64)
    posedirs = get("posedirs").astype(np.float64)
    j_reg = get("J_regressor").astype(np.float64)
    weights = get("weights").astype(np.float64)
    kintree = get("kintree_table").astype(np.int64)
    faces = get("f", "faces").astype(np.int64)
    checks = (
        ("v_template", v_template.shape, v_template.ndim == 2 and v_template.shape[1] == 3),
        ("shapedirs", shapedirs.shape, shapedirs.ndim == 3 and shapedirs.shape[:2] == (n_verts, 3)),
        ("J_regressor", j_reg.shape, j_reg.shape == (24, n_verts)),
        ("weights", weights.shape, weights.shape == (n_verts, 24)),
        ("kintree_table", kintree.shape, kintree.shape == (2, 24)),
        ("f", faces.shape, faces.ndim == 2 and faces.shape[1] == 3
         and (faces.size == 0 or (faces.min() >= 0 and faces.max() < n_verts))),
    )
    for key, shape, ok in checks:
        if not ok:
            raise SmplLoadError(f"{path.name}: '{key}' has unexpected shape {shape}")
    for key, a in (("v_template", v_template), ("shapedirs", shapedirs), ("J_regressor", j_reg),
                   ("weights", weights)):
        if not np.all(np.isfinite(a)):
            raise SmplLoadError(f"{path.name}: '{key}' contains NaN/inf")
    return SmplModel(v_template, shapedirs, posedirs, j_reg, weights, kintree, faces, str(path))


# --------------------------------------------------------------------------- safe unpickling


class _ChumpyStub:
    """Stands in for any chumpy class; keeps only the array value ('x')."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def to_array(self) -> np.ndarray:
        state = self.state
        if isinstance(state, dict):
            for key in ("x", "a", "_x"):
                if key in state:
                    return np.asarray(_as_array(state[key]))
            for value in state.values():
                if isinstance(value, np.ndarray):
                    return value
        if isinstance(state, np.ndarray):
            return state
        raise SmplLoadError("a chumpy array in the SMPL file holds no data")


class _SparseStub:
    """Stands in for scipy.sparse csc/csr/coo matrices; rebuilds a dense numpy array."""

    format_hint = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: dict = {}

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise SmplLoadError("unexpected sparse-matrix state in the SMPL file")
        self.state = state

    def to_array(self) -> np.ndarray:
        s = self.state
        shape = s.get("_shape", s.get("shape"))
        if shape is None or len(shape) != 2:
            raise SmplLoadError("sparse matrix in the SMPL file has no shape")
        rows, cols = int(shape[0]), int(shape[1])
        fmt = str(s.get("format", self.format_hint) or self.format_hint)
        dense = np.zeros((rows, cols), np.float64)
        data = np.asarray(s.get("data"), np.float64)
        if fmt in ("csc", "csr"):
            indices = np.asarray(s["indices"], np.int64)
            indptr = np.asarray(s["indptr"], np.int64)
            major = cols if fmt == "csc" else rows
            if indptr.shape != (major + 1,) or indices.shape != data.shape:
                raise SmplLoadError("corrupt sparse matrix in the SMPL file")
            counts = np.diff(indptr)
            outer = np.repeat(np.arange(major), counts)
            if fmt == "csc":
                np.add.at(dense, (indices, outer), data)
            else:
                np.add.at(dense, (outer, indices), data)
        elif fmt == "coo":
            row = np.asarray(s.get("row", s.get("coords", [[]])[0]), np.int64)
            col = np.asarray(s.get("col", s.get("coords", [[], []])[1]), np.int64)
            np.add.at(dense, (row, col), data)
        else:
            raise SmplLoadError(f"unsupported sparse format {fmt!r} in the SMPL file")
        return dense


def _sparse_class(fmt: str) -> type:
    return type(f"_Sparse_{fmt}", (_SparseStub,), {"format_hint": fmt})


_SPARSE_STUBS = {name: _sparse_class(name[:3]) for name in ("csc_matrix", "csr_matrix",
                                                             "coo_matrix")}


def _safe_reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """Replacement for copyreg._reconstructor that only builds our inert stubs."""
    if isinstance(cls, type) and issubclass(cls, (_ChumpyStub, _SparseStub)):
        return cls()
    raise SmplLoadError(f"refused to reconstruct {cls!r} from the SMPL pickle")


def _safe_latin1_encode(text: Any, encoding: str = "latin1", errors: str = "strict") -> bytes:
    """Python 3 protocol-2 pickles store bytes as ``_codecs.encode(str, 'latin1')``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise SmplLoadError("refused an unexpected codecs call in the SMPL pickle")
    return text.encode("latin1", errors="strict")


_SAFE_BUILTINS: dict[str, type] = {"object": object, "set": set, "frozenset": frozenset}

_NUMPY_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
}


def _multiarray() -> Any:
    """numpy's multiarray module under its numpy 2 name, or its numpy 1 name."""
    import importlib

    try:
        return importlib.import_module("numpy._core.multiarray")
    except ImportError:
        return importlib.import_module("numpy.core.multiarray")


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only allow-listed globals (see module docstring)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _NUMPY_ALLOWED:
            if name in ("_reconstruct", "scalar"):
                return getattr(_multiarray(), name)
            return getattr(np, name)
        if (module, name) in (("copy_reg", "_reconstructor"), ("copyreg", "_reconstructor")):
            return _safe_reconstructor
        if module in ("__builtin__", "builtins") and name in _SAFE_BUILTINS:
            return _SAFE_BUILTINS[name]
        if (module, name) == ("_codecs", "encode"):
            return _safe_latin1_encode
        if module == "chumpy" or module.startswith("chumpy."):
            return _ChumpyStub
        if module.startswith("scipy.sparse") and name in _SPARSE_STUBS:
            return _SPARSE_STUBS[name]
        raise SmplLoadError(
            f"refused to load '{module}.{name}' from the pickle: SMPL files only contain numpy, "
            "chumpy and scipy.sparse arrays. The file is not a genuine SMPL model.")


def load_pickle_restricted(path: str | Path) -> Any:
    """Unpickle ``path`` with :class:`RestrictedUnpickler` (latin1 for Python-2 pickles) and
    turn chumpy/scipy stubs into numpy arrays."""
    p = Path(path)
    size = p.stat().st_size
    if size > MAX_PICKLE_BYTES:
        raise SmplLoadError(f"{p.name} is {size} bytes: too large for an SMPL model")
    raw = p.read_bytes()
    try:
        obj = RestrictedUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except SmplLoadError:
        raise
    except Exception as exc:
        raise SmplLoadError(f"{p.name} is not a readable SMPL pickle ({exc})") from exc
    if isinstance(obj, dict):
        return {str(k): _as_array(v) if isinstance(v, (_ChumpyStub, _SparseStub)) else v
                for k, v in obj.items()}
    return obj


def _as_array(value: Any) -> Any:
    if isinstance(value, (_ChumpyStub, _SparseStub)):
        return value.to_array()
    return value
