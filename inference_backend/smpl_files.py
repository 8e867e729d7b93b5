"""Reading the user's SMPL model files safely, and writing synthetic SMPL-format files for tests.

SMPL files are licensed: never shipped, never downloaded. Formats accepted:
- ``.npz`` (``np.load(allow_pickle=False)``): keys v_template (6890,3), shapedirs (6890,3,S),
  posedirs (6890,3,207), J_regressor (24,6890), weights (6890,24), kintree_table (2,24), f (13776,3).
- ``.pkl`` (the official Python-2 pickles) through the backend's restricted unpickler
  (``safe_pickle.RestrictedUnpickler``): only numpy
  array/dtype reconstruction and scipy.sparse matrices (rebuilt from their arrays) are allowed;
  chumpy objects map to an inert stub whose array ``x`` is kept. Anything else (``os.system``,
  ``builtins.eval``, ...) raises :class:`SmplFileError` before it can be called.
Extra regressors (TCMR/SPIN data): ``J_regressor_extra.npy`` (9,6890), ``J_regressor_h36m.npy``
(17,6890), ``smpl_mean_params.npz`` -- all optional, all loaded without pickle.
"""

from __future__ import annotations

import io
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .atomic_io import atomic_write
from .safe_pickle import NUMPY_GLOBALS, RestrictedUnpickler
from .smpl_constants import SMPL_PARENTS, SMPL_TEMPLATE_REST_JOINTS

NUM_VERTICES = 6890
NUM_FACES = 13776
NUM_JOINTS = 24
POSE_BASIS = 207
REQUIRED_KEYS: tuple[str, ...] = (
    "v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f",
)
GENDER_FILES = {"neutral": "SMPL_NEUTRAL", "male": "SMPL_MALE", "female": "SMPL_FEMALE"}


class SmplFileError(ValueError):
    """An SMPL file that is missing, unsafe or malformed."""


class _ChumpyStub:
    """Inert stand-in for chumpy objects: keeps the pickled state (its ndarray is ``x``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        self.state = dict(state) if isinstance(state, dict) else {"state": state}

    def to_array(self) -> np.ndarray:
        if "x" not in self.state:
            raise SmplFileError("a chumpy object in the SMPL file has no array 'x'")
        return np.asarray(self.state["x"])


class _SparseStub:
    """Collects a pickled scipy.sparse matrix's state; rebuilt with scipy's constructor."""

    fmt = "csc"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        self.state = dict(state) if isinstance(state, dict) else {}

    def to_array(self) -> np.ndarray:
        import scipy.sparse as sp

        s = self.state
        shape = s.get("_shape", s.get("shape"))
        try:
            ctor = {"csc": sp.csc_matrix, "csr": sp.csr_matrix}[self.fmt]
            return np.asarray(ctor((s["data"], s["indices"], s["indptr"]), shape=shape).todense())
        except (KeyError, ValueError, TypeError) as exc:
            raise SmplFileError(f"cannot rebuild a sparse matrix from the SMPL file: {exc}") from exc


class _CsrStub(_SparseStub):
    fmt = "csr"


def _reconstructor(cls: type, base: type, state: Any) -> Any:
    """Safe copy_reg._reconstructor: only for the allowed (stub/numpy) classes."""
    if cls in (_ChumpyStub, _SparseStub, _CsrStub):
        return cls()
    raise SmplFileError(f"refused to load: the file rebuilds an unexpected object {cls!r}")


#: The globals an SMPL pickle needs besides numpy's (``safe_pickle.NUMPY_GLOBALS``).
_SMPL_GLOBALS: dict[tuple[str, str], Any] = {
    **NUMPY_GLOBALS,
    ("copy_reg", "_reconstructor"): _reconstructor,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("__builtin__", "object"): object,
    ("builtins", "object"): object,
}


def _stub_for(module: str, name: str) -> type | None:
    """chumpy's classes and scipy.sparse matrices (whatever their submodule) -> inert stubs."""
    if module.startswith("chumpy"):
        return _ChumpyStub
    if module.startswith("scipy.sparse"):
        return {"csc_matrix": _SparseStub, "csr_matrix": _CsrStub}.get(name)
    return None


def _refuse(module: str, name: str) -> SmplFileError:
    return SmplFileError(
        f"refused to load: the file asks for {module}.{name}, which an SMPL model file never "
        "needs (the file may be malicious or not an SMPL model)"
    )


def _plain(value: Any) -> Any:
    if isinstance(value, _ChumpyStub | _SparseStub):
        return value.to_array()
    return value


def restricted_load_pickle(data: bytes) -> dict[str, Any]:
    """Unpickle SMPL-file bytes with the allow-list; returns a dict of plain numpy values."""
    try:
        obj = RestrictedUnpickler(io.BytesIO(data), _SMPL_GLOBALS, _refuse, _stub_for,
                                  encoding="latin1").load()
    except SmplFileError:
        raise
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError,
            ValueError, IndexError) as exc:
        raise SmplFileError(f"not a readable SMPL pickle: {exc}") from exc
    if not isinstance(obj, dict):
        raise SmplFileError(f"an SMPL pickle holds a dict, this one holds {type(obj).__name__}")
    return {str(k): _plain(v) for k, v in obj.items()}


def load_smpl_data(path: Path | str) -> dict[str, np.ndarray]:
    """Read and validate an SMPL model file (.npz or .pkl) -> dict of float/int numpy arrays."""
    p = Path(path)
    if not p.is_file():
        raise SmplFileError(f"SMPL model file not found: {p}")
    if p.suffix == ".npz":
        try:
            with np.load(p, allow_pickle=False) as z:
                raw: dict[str, Any] = {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise SmplFileError(f"cannot read {p} as an SMPL .npz (no pickles allowed): {exc}") from exc
    elif p.suffix == ".pkl":
        try:
            raw = restricted_load_pickle(p.read_bytes())
        except SmplFileError as exc:
            raise SmplFileError(f"{p}: {exc}") from exc
    else:
        raise SmplFileError(f"unsupported SMPL file type {p.suffix!r} (use .pkl or .npz): {p}")
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise SmplFileError(f"{p} is not an SMPL model: missing {missing}")
    out = {k: np.asarray(_plain(raw[k])) for k in REQUIRED_KEYS}
    expected = {
        "v_template": (NUM_VERTICES, 3), "J_regressor": (NUM_JOINTS, NUM_VERTICES),
        "weights": (NUM_VERTICES, NUM_JOINTS), "kintree_table": (2, NUM_JOINTS),
    }
    for key, shape in expected.items():
        if out[key].shape != shape:
            raise SmplFileError(f"{p}: '{key}' has shape {out[key].shape}, expected {shape}")
    if out["shapedirs"].ndim != 3 or out["shapedirs"].shape[:2] != (NUM_VERTICES, 3):
        raise SmplFileError(f"{p}: 'shapedirs' has shape {out['shapedirs'].shape}")
    if out["posedirs"].shape != (NUM_VERTICES, 3, POSE_BASIS):
        raise SmplFileError(f"{p}: 'posedirs' has shape {out['posedirs'].shape}")
    if out["f"].ndim != 2 or out["f"].shape[1] != 3:
        raise SmplFileError(f"{p}: 'f' has shape {out['f'].shape}")
    for key in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights"):
        out[key] = out[key].astype(np.float32)
    out["f"] = out["f"].astype(np.int64)
    out["kintree_table"] = out["kintree_table"].astype(np.int64)
    return out


@dataclass(frozen=True)
class SmplFiles:
    """Paths found in the user's SMPL folder (None when absent)."""

    model: Path | None
    j_regressor_extra: Path | None
    j_regressor_h36m: Path | None
    mean_params: Path | None


def find_smpl_files(smpl_dir: Path | str | None, gender: str = "neutral") -> SmplFiles:
    """Look for SMPL_<GENDER>.pkl/.npz (also basicModel_neutral_lbs_10_207_0_v1.0.0.pkl) and the
    optional TCMR/SPIN extras in ``smpl_dir``; a missing folder is an error, missing files are not."""
    if smpl_dir is None:
        return SmplFiles(None, None, None, None)
    d = Path(smpl_dir)
    if not d.is_dir():
        raise SmplFileError(f"SMPL folder not found: {d}")
    stem = GENDER_FILES.get(gender.lower())
    if stem is None:
        raise SmplFileError(f"unknown gender {gender!r}; use one of {sorted(GENDER_FILES)}")
    names = [f"{stem}.npz", f"{stem}.pkl", f"{stem.lower()}.npz", f"{stem.lower()}.pkl"]
    if gender == "neutral":
        names.append("basicModel_neutral_lbs_10_207_0_v1.0.0.pkl")
    model = next((d / n for n in names if (d / n).is_file()), None)

    def opt(name: str) -> Path | None:
        return d / name if (d / name).is_file() else None

    return SmplFiles(model, opt("J_regressor_extra.npy"), opt("J_regressor_h36m.npy"),
                     opt("smpl_mean_params.npz"))


def load_regressor(path: Path, rows: int) -> np.ndarray:
    """A (rows, 6890) joint regressor saved with np.save (no pickle)."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise SmplFileError(f"cannot read regressor {path}: {exc}") from exc
    if arr.shape != (rows, NUM_VERTICES):
        raise SmplFileError(f"{path}: shape {arr.shape}, expected ({rows}, {NUM_VERTICES})")
    return arr.astype(np.float32)


def synthetic_smpl_arrays(seed: int = 0, num_betas: int = 10) -> dict[str, np.ndarray]:
    """A synthetic model with SMPL's shapes: vertices clustered around the template joints
    (so J_regressor @ v_template reproduces ``SMPL_TEMPLATE_REST_JOINTS`` exactly), one-hot
    skinning weights, small random shape/pose blend shapes and random valid faces."""
    rng = np.random.default_rng(seed)
    owner = np.arange(NUM_VERTICES) % NUM_JOINTS
    offsets = rng.normal(0.0, 0.03, (NUM_VERTICES, 3)).astype(np.float32)
    for j in range(NUM_JOINTS):  # zero-mean offsets per cluster -> exact joint regression
        offsets[owner == j] -= offsets[owner == j].mean(axis=0)
    v_template = SMPL_TEMPLATE_REST_JOINTS[owner] + offsets
    j_reg = np.zeros((NUM_JOINTS, NUM_VERTICES), np.float32)
    counts = np.bincount(owner, minlength=NUM_JOINTS)
    j_reg[owner, np.arange(NUM_VERTICES)] = 1.0 / counts[owner]
    weights = np.zeros((NUM_VERTICES, NUM_JOINTS), np.float32)
    weights[np.arange(NUM_VERTICES), owner] = 1.0
    kintree = np.array([[4294967295 if p < 0 else p for p in SMPL_PARENTS], list(range(NUM_JOINTS))],
                       np.int64)
    return {
        "v_template": v_template.astype(np.float32),
        "shapedirs": rng.normal(0.0, 0.005, (NUM_VERTICES, 3, num_betas)).astype(np.float32),
        "posedirs": rng.normal(0.0, 0.001, (NUM_VERTICES, 3, POSE_BASIS)).astype(np.float32),
        "J_regressor": j_reg,
        "weights": weights,
        "kintree_table": kintree,
        "f": rng.integers(0, NUM_VERTICES, (NUM_FACES, 3)).astype(np.int64),
    }


def _atomic_bytes(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as fh:
        write(fh)


def make_synthetic_smpl(path: Path | str, seed: int = 0) -> Path:
    """Write a synthetic SMPL-format model (.npz, or .pkl as a plain-numpy pickle) for tests."""
    p = Path(path)
    arrays = synthetic_smpl_arrays(seed)
    if p.suffix == ".npz":
        _atomic_bytes(p, lambda fh: np.savez(fh, **arrays))
    elif p.suffix == ".pkl":
        _atomic_bytes(p, lambda fh: pickle.dump(arrays, fh, protocol=2))
    else:
        raise SmplFileError(f"synthetic SMPL path must end in .npz or .pkl: {p}")
    return p
