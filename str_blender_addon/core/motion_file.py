"""Read and validate the motion file (docs/motion_file.md, schema 1.x) into a ``Motion``.

numpy + stdlib only. ``np.load(..., allow_pickle=False)``: a file with object arrays is refused.
Every problem raises :class:`MotionFileError` with a message the user can act on; nothing is
returned half-validated.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .skeleton import SMPL_JOINT_NAMES, SMPL_PARENTS

SUPPORTED_MAJOR = 1

#: key -> (shape template, dtype kind). Letters: P persons, F frames.
_ARRAY_SPEC: dict[str, tuple[tuple[Any, ...], str]] = {
    "timestamps": (("F",), "f"),
    "frame_indices": (("F",), "iu"),
    "track_ids": (("P",), "iu"),
    "valid": (("P", "F"), "b"),
    "global_orient": (("P", "F", 3), "f"),
    "body_pose": (("P", "F", 23, 3), "f"),
    "transl": (("P", "F", 3), "f"),
    "betas": (("P", 10), "f"),
    "rest_joints": (("P", 24, 3), "f"),
    "joints3d": (("P", "F", 24, 3), "f"),
    "contacts": (("P", "F", 4), "f"),
    "confidence": (("P", "F", 24), "f"),
    "cam_K": ((3, 3), "f"),
    "cam_R": (("F", 3, 3), "f"),
    "cam_t": (("F", 3), "f"),
}


class MotionFileError(ValueError):
    """The motion file is missing, corrupt, or does not follow the schema."""


@dataclass(frozen=True)
class Motion:
    """Validated content of a motion file (all arrays read-only, Y-up world, metres, seconds).

    P persons, F frames. Arrays keep the shapes of docs/motion_file.md. ``cam_K``/``cam_R``/
    ``cam_t`` are None when the source has no camera (AMASS files).
    """

    path: str
    header: dict
    timestamps: np.ndarray          # (F,) float64 seconds, strictly increasing
    frame_indices: np.ndarray       # (F,) int64
    track_ids: np.ndarray           # (P,) int64
    valid: np.ndarray               # (P,F) bool
    global_orient: np.ndarray       # (P,F,3)
    body_pose: np.ndarray           # (P,F,23,3)
    transl: np.ndarray              # (P,F,3)
    betas: np.ndarray               # (P,10)
    rest_joints: np.ndarray         # (P,24,3)
    joints3d: np.ndarray            # (P,F,24,3)
    contacts: np.ndarray            # (P,F,4)
    confidence: np.ndarray          # (P,F,24)
    cam_K: np.ndarray | None = None         # (3,3)
    cam_R: np.ndarray | None = None         # (F,3,3)
    cam_t: np.ndarray | None = None         # (F,3)
    source: str = "motion"                  # "motion" | "amass"
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def num_persons(self) -> int:
        return int(self.track_ids.shape[0])

    @property
    def num_frames(self) -> int:
        return int(self.timestamps.shape[0])

    @property
    def fps(self) -> float:
        """Nominal frame rate: the header's video fps, else its fps, else from timestamps."""
        video = self.header.get("video") or {}
        for value in (video.get("fps"), self.header.get("fps")):
            if isinstance(value, (int, float)) and np.isfinite(value) and value > 0:
                return float(value)
        if self.num_frames > 1:
            return float((self.num_frames - 1) / (self.timestamps[-1] - self.timestamps[0]))
        return 30.0

    @property
    def video_name(self) -> str:
        video = self.header.get("video") or {}
        name = video.get("name") or Path(self.path).stem
        return str(name)

    @property
    def video_path(self) -> str:
        video = self.header.get("video") or {}
        return str(video.get("path") or "")

    @property
    def video_size(self) -> tuple[int, int]:
        """(width, height) of the displayed video frame in pixels; (0, 0) if unknown."""
        video = self.header.get("video") or {}
        try:
            return int(video.get("width", 0)), int(video.get("height", 0))
        except (TypeError, ValueError):
            return 0, 0

    @property
    def camera_static(self) -> bool:
        cam = self.header.get("camera") or {}
        if "static" in cam:
            return bool(cam["static"])
        if self.cam_R is None or self.cam_t is None:
            return True
        return bool(np.allclose(self.cam_R, self.cam_R[:1], atol=1e-7)
                    and np.allclose(self.cam_t, self.cam_t[:1], atol=1e-7))

    def person_index(self, track_id: int) -> int:
        hits = np.nonzero(self.track_ids == int(track_id))[0]
        if hits.size == 0:
            raise MotionFileError(
                f"track id {track_id} is not in {self.path}; it has {self.track_ids.tolist()}")
        return int(hits[0])


def read_motion_file(path: str | Path) -> Motion:
    """Load and validate a motion file (schema 1.x). Raises MotionFileError."""
    p = Path(path)
    if not p.is_file():
        raise MotionFileError(f"motion file not found: {p}")
    arrays = _load_npz(p)
    header = _parse_header(arrays, p)
    _check_keys(arrays, p)
    n_persons = int(arrays["track_ids"].shape[0]) if arrays["track_ids"].ndim == 1 else -1
    n_frames = int(arrays["timestamps"].shape[0]) if arrays["timestamps"].ndim == 1 else -1
    if n_persons < 0 or n_frames < 0:
        raise MotionFileError(f"{p.name}: 'track_ids' and 'timestamps' must be 1-D arrays")
    if n_frames < 1:
        raise MotionFileError(f"{p.name}: the file holds no frames")
    dims = {"P": n_persons, "F": n_frames}
    for key, (template, kinds) in _ARRAY_SPEC.items():
        _check_array(p, key, arrays[key], tuple(dims.get(t, t) for t in template), kinds)
    _check_header_consistency(p, header, n_persons, n_frames)
    ts = arrays["timestamps"].astype(np.float64)
    if n_frames > 1 and not np.all(np.diff(ts) > 0):
        bad = int(np.argmin(np.diff(ts)))
        raise MotionFileError(
            f"{p.name}: timestamps must be strictly increasing (frame {bad + 1} at "
            f"{ts[bad + 1]:.6f} s is not after frame {bad} at {ts[bad]:.6f} s); "
            "re-export the file")
    contacts = arrays["contacts"]
    if contacts.size and (contacts.min() < -1e-3 or contacts.max() > 1 + 1e-3):
        raise MotionFileError(f"{p.name}: 'contacts' must lie in [0, 1]")
    k = arrays["cam_K"]
    if not (k[0, 0] > 0 and k[1, 1] > 0 and k[2, 2] != 0):
        raise MotionFileError(f"{p.name}: 'cam_K' is not a valid intrinsics matrix (fx, fy > 0)")
    uniq = np.unique(arrays["track_ids"])
    if uniq.size != n_persons:
        raise MotionFileError(f"{p.name}: duplicate track ids {arrays['track_ids'].tolist()}")
    warnings = tuple(str(w) for w in header.get("warnings", []) if isinstance(w, str))
    return Motion(
        path=str(p.resolve()),
        header=header,
        timestamps=_ro(ts),
        frame_indices=_ro(arrays["frame_indices"].astype(np.int64)),
        track_ids=_ro(arrays["track_ids"].astype(np.int64)),
        valid=_ro(arrays["valid"].astype(bool)),
        global_orient=_ro(arrays["global_orient"]),
        body_pose=_ro(arrays["body_pose"]),
        transl=_ro(arrays["transl"]),
        betas=_ro(arrays["betas"]),
        rest_joints=_ro(arrays["rest_joints"]),
        joints3d=_ro(arrays["joints3d"]),
        contacts=_ro(np.clip(arrays["contacts"], 0.0, 1.0)),
        confidence=_ro(arrays["confidence"]),
        cam_K=_ro(arrays["cam_K"]),
        cam_R=_ro(arrays["cam_R"]),
        cam_t=_ro(arrays["cam_t"]),
        source="motion",
        warnings=warnings,
    )


def _ro(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


def _load_npz(p: Path) -> dict[str, np.ndarray]:
    if not zipfile.is_zipfile(p):
        raise MotionFileError(
            f"{p.name} is not an .npz archive: the file is truncated or corrupt, or another "
            "file type; re-run the capture or copy the file again")
    try:
        with np.load(p, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise MotionFileError(
                f"{p.name} contains Python objects (pickled data); motion files never do, so it "
                "is refused for safety. Re-export it with STR Mocap.") from exc
        raise MotionFileError(f"{p.name} is not a readable motion file (.npz): {exc}") from exc
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError) as exc:
        raise MotionFileError(
            f"{p.name} is truncated or corrupt ({type(exc).__name__}: {exc}); re-run the capture "
            "or copy the file again") from exc


def _parse_header(arrays: dict[str, np.ndarray], p: Path) -> dict:
    if "header" not in arrays:
        if "poses" in arrays and "trans" in arrays:
            raise MotionFileError(
                f"{p.name} looks like an AMASS file (poses/trans); use File > Import > AMASS")
        raise MotionFileError(f"{p.name} has no 'header': it is not an STR Mocap motion file")
    raw = arrays["header"]
    if raw.dtype.kind != "U" or raw.shape != ():
        raise MotionFileError(f"{p.name}: 'header' must be a single JSON string")
    try:
        header = json.loads(str(raw))
    except json.JSONDecodeError as exc:
        raise MotionFileError(f"{p.name}: header is not valid JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise MotionFileError(f"{p.name}: header must be a JSON object")
    version = header.get("schema_version")
    if not isinstance(version, str) or not _is_version(version):
        raise MotionFileError(
            f"{p.name}: header has no valid 'schema_version' (expected 'MAJOR.MINOR', got "
            f"{version!r})")
    major = int(version.split(".")[0])
    if major != SUPPORTED_MAJOR:
        raise MotionFileError(
            f"{p.name} uses motion-file schema {version}, this add-on reads {SUPPORTED_MAJOR}.x: "
            + ("update the add-on" if major > SUPPORTED_MAJOR else "re-export with a current "
               "backend"))
    names = header.get("joint_names")
    if names is not None and tuple(names) != SMPL_JOINT_NAMES:
        raise MotionFileError(f"{p.name}: joint_names are not the 24 SMPL joints in SMPL order")
    parents = header.get("parents")
    if parents is not None and tuple(parents) != SMPL_PARENTS:
        raise MotionFileError(f"{p.name}: parents do not match the SMPL kinematic tree")
    return header


def _is_version(v: str) -> bool:
    parts = v.split(".")
    return len(parts) == 2 and all(x.isdigit() for x in parts)


def _check_keys(arrays: dict[str, np.ndarray], p: Path) -> None:
    missing = [k for k in _ARRAY_SPEC if k not in arrays]
    if missing:
        raise MotionFileError(
            f"{p.name} is missing arrays {missing}; it was written by an incompatible tool")


def _check_array(p: Path, key: str, a: np.ndarray, shape: tuple[int, ...], kinds: str) -> None:
    if a.shape != shape:
        raise MotionFileError(f"{p.name}: '{key}' has shape {a.shape}, expected {shape}")
    if a.dtype.kind not in kinds:
        raise MotionFileError(f"{p.name}: '{key}' has dtype {a.dtype}, expected kind {kinds!r}")
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        bad = np.argwhere(~np.isfinite(a))[0].tolist()
        raise MotionFileError(f"{p.name}: '{key}' contains NaN/inf (first at index {bad})")


def _check_header_consistency(p: Path, header: dict, n_persons: int, n_frames: int) -> None:
    for key, value in (("num_persons", n_persons), ("num_frames", n_frames)):
        if key in header and header[key] != value:
            raise MotionFileError(
                f"{p.name}: header {key}={header[key]} but the arrays hold {value}")
