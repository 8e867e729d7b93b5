"""Readers for the VIBE/TCMR preprocessed databases and the windowed training/eval datasets.

Database = dict of per-frame numpy arrays (frames of all videos concatenated; facts §4.1),
stored as ``{dataset}_{set}_db.pt`` (joblib pickle, read with the restricted unpickler of
:mod:`.safe_pickle`), ``{dataset}_{set}_db.npz`` (what our tools write; read with
``allow_pickle=False``) or InstaVariety's ``insta_{set}_db.h5`` (needs the optional ``h5py``).

A window sample (all arrays per frame, T = 16):
    features (T, 2048) float32 · kp_2d (T, 49, 3) keypoints normalised to [-1, 1] with TCMR's
    1.2 bbox scale, confidence last · kp_3d (T, J, 3) metres (J = 49 in training; 14 common or
    17 mpii3d_test in evaluation) · theta (T, 85) [cam (1, 0, 0), pose aa 72, betas 10] ·
    w_3d, w_smpl (T,) label masks · valid (T,) frames to score · index (T,) database rows.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic_io import atomic_write
from .joint_formats import convert_kps
from .safe_pickle import UnsafePickleError, safe_load_pickle
from .windows import WindowSpec, split_into_chunks, stride_from_overlap, window_indices

#: Datasets with 3D labels and the ones with 2D keypoints only.
DATASETS_3D: tuple[str, ...] = ("3dpw", "mpii3d", "h36m")
DATASETS_2D: tuple[str, ...] = ("insta", "posetrack", "pennaction")
#: Key holding the per-frame sequence name; every per-frame array has the same length.
VID_KEY = "vid_name"
KP_BBOX_SCALE = 1.2
CROP_SIZE = 224


class DatabaseError(ValueError):
    """A database file is missing, unreadable, unsafe or inconsistent (message says which)."""


#: The file names TCMR's own scripts use when the plain ``{dataset}_{split}_db`` is absent
#: (TCMR lib/dataset/_dataset_3d.py and evaluate.py), most common first. A config's explicit
#: ``file`` always wins.
TCMR_DB_NAMES: dict[tuple[str, str], tuple[str, ...]] = {
    ("mpii3d", "val"): ("mpii3d_val_scale12_db.pt",),
    ("mpii3d", "test"): ("mpii3d_val_scale12_db.pt",),  # TCMR evaluates MPI-INF on its val set
    ("mpii3d", "train"): ("mpii3d_train_scale12_db.pt", "mpii3d_train_scale12_occ_db.pt"),
    ("h36m", "test"): ("h36m_test_25fps_nosmpl_db.pt", "h36m_test_front_25fps_tight_nosmpl_db.pt",
                       "h36m_test_25fps_db.pt"),
    ("h36m", "val"): ("h36m_test_front_25fps_tight_db.pt",),
    ("h36m", "train"): ("h36m_train_25fps_db.pt", "h36m_train_25fps_occ_db.pt"),
    ("3dpw", "train"): ("3dpw_train_occ_db.pt",),
}


def db_candidates(db_dir: Path, dataset: str, split: str, file: str | None = None) -> list[Path]:
    """Files tried for a dataset/split, in order: the explicit ``file``; else
    ``{dataset}_{split}_db.(npz|pt|h5)`` and then TCMR's names (:data:`TCMR_DB_NAMES`)."""
    if file:
        return [db_dir / file]
    stem = f"{dataset}_{split}_db"
    plain = [db_dir / f"{stem}{ext}" for ext in (".npz", ".pt", ".h5")]
    return plain + [db_dir / name for name in TCMR_DB_NAMES.get((dataset, split), ())]


def find_db(db_dir: Path, dataset: str, split: str, file: str | None = None) -> Path:
    cands = db_candidates(Path(db_dir), dataset, split, file)
    for path in cands:
        if path.is_file():
            return path
    names = ", ".join(p.name for p in cands)
    raise DatabaseError(
        f"no database for {dataset}/{split} in {db_dir} (looked for {names}); prepare it with "
        "TCMR/VIBE's preprocessing or `python -m inference_backend precompute-features`"
    )


def _load_h5(path: Path) -> dict[str, np.ndarray]:
    try:
        import h5py  # type: ignore[import-not-found]
    except ImportError as exc:
        raise DatabaseError(
            f"{path}: reading InstaVariety .h5 databases needs the package h5py (part of the "
            "training extra: pip install 'str-mocap[train]', or pip install h5py)"
        ) from exc
    with h5py.File(path, "r") as fh:
        out = {k: np.asarray(fh[k]) for k in fh.keys()}
    if VID_KEY in out and out[VID_KEY].dtype.kind == "S":
        out[VID_KEY] = out[VID_KEY].astype(str)
    return out


def load_db(path: str | Path) -> dict[str, np.ndarray]:
    """Load a database file safely and check it is a dict of equally long arrays."""
    path = Path(path)
    if not path.is_file():
        raise DatabaseError(f"database file not found: {path}")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                db: Any = {k: npz[k] for k in npz.files}
        elif path.suffix == ".h5":
            db = _load_h5(path)
        else:
            db = safe_load_pickle(path)
    except UnsafePickleError as exc:
        raise DatabaseError(f"{path}: {exc}") from exc
    except (pickle.UnpicklingError, ValueError, OSError) as exc:
        raise DatabaseError(f"{path}: cannot read database ({exc})") from exc
    if not isinstance(db, dict) or not db:
        raise DatabaseError(f"{path}: expected a dict of numpy arrays, got {type(db).__name__}")
    db = {str(k): np.asarray(v) for k, v in db.items()}
    for key in (VID_KEY, "features"):
        if key not in db:
            raise DatabaseError(f"{path}: missing key '{key}' (keys: {sorted(db)})")
    n = len(db[VID_KEY])
    for key, value in db.items():
        if value.ndim and len(value) != n and key not in ("meta",):
            raise DatabaseError(f"{path}: key '{key}' has {len(value)} rows, expected {n}")
    return db


def save_db_npz(path: str | Path, db: dict[str, np.ndarray]) -> Path:
    """Atomically write a database as ``.npz`` (no pickles; strings as unicode arrays)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for key, value in db.items():
        arr = np.asarray(value)
        if arr.dtype == object:
            arr = arr.astype(str)
        arrays[key] = arr
    with atomic_write(path) as fh:
        np.savez(fh, **arrays)
    return path


def normalise_keypoints(kp: np.ndarray, bbox: np.ndarray, scale: float = KP_BBOX_SCALE) -> np.ndarray:
    """Pixels -> [-1, 1] crop coordinates as TCMR: affine crop of a square of side
    bbox (w, h) x scale at (cx, cy) to 224, then 2 x / 224 - 1. kp (N, J, 3); bbox (N, 4)
    [cx, cy, w, h]. Confidence copied."""
    out = kp.astype(np.float32).copy()
    cx, cy, w, h = (bbox[:, i : i + 1].astype(np.float32) for i in range(4))
    out[..., 0] = 2.0 * (kp[..., 0] - cx) / (scale * w)
    out[..., 1] = 2.0 * (kp[..., 1] - cy) / (scale * h)
    return out


def pixels_from_normalised(kp: np.ndarray, bbox: np.ndarray, scale: float = KP_BBOX_SCALE) -> np.ndarray:
    """Inverse of :func:`normalise_keypoints` (used by the synthetic database)."""
    out = kp.astype(np.float32).copy()
    cx, cy, w, h = (bbox[:, i : i + 1].astype(np.float32) for i in range(4))
    out[..., 0] = kp[..., 0] * scale * w / 2.0 + cx
    out[..., 1] = kp[..., 1] * scale * h / 2.0 + cy
    return out


@dataclass(frozen=True)
class DatasetSpec:
    """One database in a training/eval mix.

    name: 3dpw | mpii3d | h36m | insta | posetrack | pennaction. split: train | val | test.
    file: explicit file name inside the db dir (e.g. ``h36m_train_25fps_occ_db.pt``).
    overlap: window overlap (TCMR TRAIN.OVERLAP true -> 15/16, stride 1).
    has_smpl: whether the SMPL labels are used (H36M NeuralAnnot fits; False under TCMR's
    ``repr_table4_3dpw_model``). Ignored for 3DPW (always) and MPI-INF-3DHP (never).
    """

    name: str
    split: str = "train"
    file: str | None = None
    overlap: float = 15 / 16
    has_smpl: bool = True

    def __post_init__(self) -> None:
        if self.name not in DATASETS_3D + DATASETS_2D:
            raise ValueError(f"unknown dataset '{self.name}'")


class WindowDataset:
    """Windows of one database with TCMR's per-dataset label conversion and masks.

    Training windows (``is_train``) return 49-joint 3D labels; evaluation windows return the
    evaluation joints (3DPW/H36M: common-14; MPI-INF-3DHP: mpii3d_test-17) and ``valid``.
    """

    def __init__(
        self, db: dict[str, np.ndarray], spec: DatasetSpec, *, seqlen: int = 16,
        is_train: bool = True, match_vibe: bool = False,
    ) -> None:
        self.spec = spec
        self.seqlen = seqlen
        self.is_train = is_train
        if not is_train and spec.name == "3dpw" and "valid" in db:
            keep = np.asarray(db["valid"]).reshape(-1).astype(bool)
            db = {k: (v[keep] if v.ndim and len(v) == len(keep) else v) for k, v in db.items()}
        self.db = db
        stride = stride_from_overlap(seqlen, spec.overlap) if is_train else 1
        self.windows = split_into_chunks(
            db[VID_KEY], WindowSpec(seqlen, stride, is_train=is_train, match_vibe=match_vibe)
        )
        self._prepare()

    # Per-frame label arrays are converted once for the whole database.
    def _prepare(self) -> None:
        db, name, n = self.db, self.spec.name, len(self.db[VID_KEY])
        self.features = db["features"].astype(np.float32, copy=False)
        kp2d = db.get("joints2D")
        if kp2d is None:
            kp2d = np.zeros((n, 49, 3), np.float32)
        elif kp2d.shape[1] == 14:
            kp2d = convert_kps(kp2d, "common", "spin")
        elif kp2d.shape[1] == 25 and name == "insta":
            kp2d = convert_kps(kp2d, "insta", "spin")
        if kp2d.shape[1] != 49:
            raise DatabaseError(f"{name}: unsupported joints2D shape {kp2d.shape}")
        if name == "insta":  # already in 224-crop pixels
            kp = kp2d.astype(np.float32).copy()
            kp[..., :2] = 2.0 * kp[..., :2] / CROP_SIZE - 1.0
        else:
            if "bbox" not in db:
                raise DatabaseError(f"{name}: database has no 'bbox' to normalise keypoints")
            kp = normalise_keypoints(kp2d, db["bbox"])
        self.kp_2d = kp

        if name in DATASETS_2D:
            self.kp_3d = np.zeros((n, 49, 3), np.float32)
            w3d = w_smpl = 0.0
        else:
            j3d = db["joints3D"].astype(np.float32)
            if self.is_train:
                if j3d.shape[1] == 14:
                    j3d = convert_kps(j3d, "common", "spin")
            elif name == "mpii3d":
                j3d = convert_kps(j3d, "spin", "mpii3d_test") if j3d.shape[1] == 49 else j3d
            elif j3d.shape[1] == 49:
                j3d = convert_kps(j3d, "spin", "common")
            self.kp_3d = j3d[..., :3]
            w3d = 1.0
            if name == "3dpw":
                w_smpl = 1.0
            elif name == "h36m":
                w_smpl = 1.0 if (self.spec.has_smpl and "pose" in db) else 0.0
            else:
                w_smpl = 0.0
        pose = db["pose"].astype(np.float32) if (w_smpl and "pose" in db) else np.zeros((n, 72), np.float32)
        shape = db["shape"].astype(np.float32) if (w_smpl and "shape" in db) else np.zeros((n, 10), np.float32)
        cam = np.tile(np.array([1.0, 0.0, 0.0], np.float32), (n, 1))
        self.theta = np.concatenate([cam, pose, shape], axis=1)
        self.w_3d = np.full(n, w3d, np.float32)
        self.w_smpl = np.full(n, w_smpl, np.float32)
        if "valid_i" in db:
            self.valid = np.asarray(db["valid_i"]).reshape(-1).astype(np.float32)
        else:
            self.valid = np.ones(n, np.float32)

    def __len__(self) -> int:
        return len(self.windows)

    def indices(self, i: int) -> np.ndarray:
        start, end = self.windows[i]
        return window_indices(start, end, self.seqlen)

    def _take(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        """Every label array indexed by frame indices ``idx`` (any shape, e.g. (T,) or (B, T))."""
        return {
            "features": self.features[idx],
            "kp_2d": self.kp_2d[idx],
            "kp_3d": self.kp_3d[idx],
            "theta": self.theta[idx],
            "w_3d": self.w_3d[idx],
            "w_smpl": self.w_smpl[idx],
            "valid": self.valid[idx],
            "index": idx,
        }

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        return self._take(self.indices(i))

    def gather(self, items: list[int]) -> dict[str, np.ndarray]:
        """Stack several windows: every array gets a leading batch axis (B, T, ...)."""
        idx = np.stack([self.indices(i) for i in items]) if items else np.zeros((0, self.seqlen), np.int64)
        return self._take(idx)


class ConcatWindows:
    """Several :class:`WindowDataset` seen as one (TCMR's ConcatDataset)."""

    def __init__(self, parts: list[WindowDataset]) -> None:
        if not parts:
            raise DatabaseError("empty dataset list")
        self.parts = parts
        self.offsets = np.cumsum([0] + [len(p) for p in parts])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def gather(self, items: list[int]) -> dict[str, np.ndarray]:
        if not items:  # a rank's empty share: arrays with 0 rows and the right trailing shapes
            return self.parts[0].gather([])
        items_arr = np.asarray(items, dtype=np.int64)
        which = np.searchsorted(self.offsets, items_arr, side="right") - 1
        chunks: list[dict[str, np.ndarray]] = []
        order: list[np.ndarray] = []
        for p, part in enumerate(self.parts):
            sel = np.nonzero(which == p)[0]
            if sel.size:
                chunks.append(part.gather([int(i - self.offsets[p]) for i in items_arr[sel]]))
                order.append(sel)
        perm = np.argsort(np.concatenate(order))
        return {k: np.concatenate([c[k] for c in chunks])[perm] for k in chunks[0]}


def build_windows(
    db_dir: Path, specs: list[DatasetSpec], *, seqlen: int, is_train: bool,
    match_vibe: bool = False,
) -> ConcatWindows:
    parts = []
    for spec in specs:
        db = load_db(find_db(db_dir, spec.name, spec.split, spec.file))
        parts.append(WindowDataset(db, spec, seqlen=seqlen, is_train=is_train, match_vibe=match_vibe))
    return ConcatWindows(parts)


class ShuffledBatches:
    """Endless shuffled batches of window indices of one dataset, re-shuffled each time it is
    exhausted (TCMR re-creates the DataLoader iterator), split over torchrun processes.

    Deterministic, world-size independent and checkpointable: the permutation of pass p is
    drawn from ``np.random.default_rng([seed, p])`` (the same on every rank); each step takes the
    next ``batch`` elements of it -- the *global* batch, exactly what one process would take --
    and rank r keeps elements r, r + world, ... of that global batch. So the union over ranks is
    the one-process batch for any world size (shares differ by at most one window).
    ``state()`` / ``load_state()`` = (pass, position) in global units. An incomplete last batch
    is kept (drop_last False); a rank may then get no window (the trainer handles that).
    """

    def __init__(self, n: int, batch: int, seed: int, rank: int = 0, world: int = 1) -> None:
        if n <= 0:
            raise DatabaseError("dataset has no windows (are all videos shorter than T?)")
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} outside world size {world}")
        self.n, self.batch, self.seed, self.rank, self.world = n, batch, seed, rank, world
        self.pass_index = 0
        self.position = 0
        self._perm = self._permutation(0)

    def _permutation(self, p: int) -> np.ndarray:
        return np.random.default_rng([self.seed, p]).permutation(self.n)

    def next_global(self) -> list[int]:
        """The next global batch (every rank computes the same list)."""
        if self.position >= len(self._perm):
            self.pass_index += 1
            self.position = 0
            self._perm = self._permutation(self.pass_index)
        out = self._perm[self.position : self.position + self.batch]
        self.position += self.batch
        return [int(i) for i in out]

    def next(self) -> list[int]:
        """This rank's share of the next global batch."""
        return self.next_global()[self.rank :: self.world]

    def state(self) -> list[int]:
        return [self.pass_index, self.position]

    def load_state(self, state: list[int]) -> None:
        self.pass_index, self.position = int(state[0]), int(state[1])
        self._perm = self._permutation(self.pass_index)


class MixedBatches:
    """Batches of 2D-only windows first, then 3D windows (TCMR; DATA_2D_RATIO 0.6 with batch
    32 -> 19 + 13). With no 2D datasets every sample is 3D.

    ``batch_size`` is the GLOBAL batch: the 2D/3D split is made on it (int(32 x 0.6) = 19 2D +
    13 3D, as one TCMR process) and each of the two global sub-batches is then shared over the
    ``world`` processes (rank r takes every world-th window), so the global mix and the global
    batch are exactly TCMR's for any number of processes (2 processes: 10 + 7 and 9 + 6)."""

    def __init__(
        self, data_2d: ConcatWindows | None, data_3d: ConcatWindows, *, batch_size: int,
        ratio_2d: float, seed: int, rank: int = 0, world: int = 1,
    ) -> None:
        n2d = int(batch_size * ratio_2d) if data_2d is not None else 0
        if batch_size - n2d < 1:
            raise ValueError(f"batch_size {batch_size} with ratio_2d {ratio_2d} leaves no 3D window")
        self.data_2d, self.data_3d = data_2d, data_3d
        self.n_2d = n2d
        self.n_3d = batch_size - n2d
        self.it_2d = ShuffledBatches(len(data_2d), n2d, seed, rank, world) if data_2d and n2d else None
        self.it_3d = ShuffledBatches(len(data_3d), batch_size - n2d, seed + 1, rank, world)

    def next(self) -> tuple[dict[str, np.ndarray], int]:
        """(this rank's batch arrays (B, T, ...), number of its leading 2D-only samples).
        B may be 0 on some ranks when a dataset pass ends with fewer windows than processes."""
        b3 = self.data_3d.gather(self.it_3d.next())
        if self.it_2d is None or self.data_2d is None:
            return b3, 0
        b2 = self.data_2d.gather(self.it_2d.next())
        return {k: np.concatenate([b2[k], b3[k]]) for k in b3}, len(b2["features"])

    def state(self) -> dict[str, list[int]]:
        out = {"3d": self.it_3d.state()}
        if self.it_2d is not None:
            out["2d"] = self.it_2d.state()
        return out

    def load_state(self, state: dict[str, list[int]]) -> None:
        self.it_3d.load_state(state["3d"])
        if self.it_2d is not None and "2d" in state:
            self.it_2d.load_state(state["2d"])
