"""Read and validate the motion file (docs/motion_file.md, schema 1.x) into a ``Motion``.

numpy + stdlib only. The archive is read member by member with size checks before inflating
(``npz_archive``); a file with object arrays (pickles) is refused. Every problem raises
:class:`MotionFileError` naming the file and the field, with a message the user can act on;
nothing is returned half-validated.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .npz_archive import NpzArchive, NpzArchiveError
from .skeleton import SMPL_JOINT_NAMES, SMPL_PARENTS

SUPPORTED_MAJOR = 1
#: Beyond these the file is refused before any array is inflated (Blender's frame range ends
#: at 1,048,574; 1000 people is far more than any tracker keeps).
MAX_FRAMES = 1_048_574
MAX_PERSONS = 1000

#: key -> (shape template, dtype kind). Letters: P persons, F frames.
#: How each ``camera.focal_source`` (docs/motion_file.md) reads after "lens N° wide".
_LENS_SOURCE_WORDS: dict[str, str] = {
    "override": " (as given)",
    "camera_rotation": ", measured from the camera's turning",
    "vanishing_points": ", measured from the background's straight edges",
    "estimated": ", estimated from the people's perspective",
    "prior": " assumed (not measurable from this video: see the warning)",
}

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

    @property
    def lens_summary(self) -> str:
        """One line for the user: the horizontal field of view the capture solved with and
        where it came from (``camera.focal_source``); "" when the file has no camera."""
        cam = self.header.get("camera") or {}
        try:
            fov = float(cam["fov_x_deg"])
        except (KeyError, TypeError, ValueError):
            return ""
        if not math.isfinite(fov):
            return ""
        how = _LENS_SOURCE_WORDS.get(str(cam.get("focal_source", "")), "")
        return f"lens {fov:.0f}° wide{how}"

    def person_index(self, track_id: int) -> int:
        hits = np.nonzero(self.track_ids == int(track_id))[0]
        if hits.size == 0:
            raise MotionFileError(
                f"track id {track_id} is not in {self.path}; it has {self.track_ids.tolist()}")
        return int(hits[0])


def read_motion_file(path: str | Path) -> Motion:
    """Load and validate a motion file (schema 1.x). Raises only MotionFileError.

    Only the members the schema defines are inflated, each after its ``.npy`` header's shape
    and dtype and its size in the archive were checked against the JSON header's
    ``num_persons``/``num_frames`` (see ``npz_archive``); then types, shapes, finiteness and
    plausible ranges are checked (``_check_ranges``).
    """
    p = Path(path)
    if not p.is_file():
        raise MotionFileError(f"motion file not found: {p}")
    try:
        with NpzArchive(p, known=("header", *_ARRAY_SPEC)) as npz:
            header = _read_header(npz, p)
            arrays = _read_arrays(npz, p, header)
    except NpzArchiveError as exc:
        raise MotionFileError(str(exc)) from exc
    except MemoryError as exc:
        raise MotionFileError(f"{p.name} is too large to read into memory") from exc
    n_persons = int(arrays["track_ids"].shape[0])
    n_frames = int(arrays["timestamps"].shape[0])
    _check_ranges(p, arrays)
    ts = arrays["timestamps"].astype(np.float64)
    if n_frames > 1 and not np.all(np.diff(ts) > 0):
        bad = int(np.argmin(np.diff(ts)))
        raise MotionFileError(
            f"{p.name}: timestamps must be strictly increasing (frame {bad + 1} at "
            f"{ts[bad + 1]:.6f} s is not after frame {bad} at {ts[bad]:.6f} s); "
            "re-export the file")
    uniq = np.unique(arrays["track_ids"])
    if uniq.size != n_persons:
        raise MotionFileError(f"{p.name}: duplicate track ids {arrays['track_ids'].tolist()}")
    warnings = tuple(header.get("warnings", ()))
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
        confidence=_ro(np.clip(arrays["confidence"], 0.0, 1.0)),
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


def _load_npz(p: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The members ``keys`` that ``p`` holds (any shape, numeric or text; never pickles), read
    with the archive checks of ``npz_archive``. Raises MotionFileError."""
    try:
        with NpzArchive(p, known=keys) as npz:
            return {key: npz.read(key) for key in keys if key in npz.keys}
    except NpzArchiveError as exc:
        raise MotionFileError(str(exc)) from exc
    except MemoryError as exc:
        raise MotionFileError(f"{p.name} is too large to read into memory") from exc


def _read_header(npz: NpzArchive, p: Path) -> dict:
    if "header" not in npz.keys:
        names = set(npz.member_names)
        if {"poses.npy", "trans.npy"} <= names:
            raise MotionFileError(
                f"{p.name} looks like an AMASS file (poses/trans); use File > Import > AMASS")
        raise MotionFileError(f"{p.name} has no 'header': it is not an STR Mocap motion file")
    head = npz.peek("header")
    if head.dtype.kind != "U" or head.shape != ():
        raise MotionFileError(f"{p.name}: 'header' must be a single JSON string")
    if head.data_bytes > _MAX_HEADER_BYTES:
        raise MotionFileError(
            f"{p.name}: 'header' is {head.data_bytes / 1e6:.1f} MB; a motion-file header is a "
            "few kB, so the file is refused")
    raw = npz.read("header", (), "U")
    try:
        header = json.loads(str(raw))
    except json.JSONDecodeError as exc:
        raise MotionFileError(f"{p.name}: header is not valid JSON ({exc})") from exc
    except RecursionError as exc:
        raise MotionFileError(f"{p.name}: header is nested too deeply to be a motion-file "
                              "header") from exc
    if not isinstance(header, dict):
        raise MotionFileError(
            f"{p.name}: header must be a JSON object, not a {type(header).__name__}")
    version = header.get("schema_version")
    if not isinstance(version, str) or not _is_version(version):
        raise MotionFileError(
            f"{p.name}: header has no valid 'schema_version' (expected 'MAJOR.MINOR', got "
            f"{version!r})"[:300])
    major = int(version.split(".")[0])
    if major != SUPPORTED_MAJOR:
        raise MotionFileError(
            f"{p.name} uses motion-file schema {version}, this add-on reads {SUPPORTED_MAJOR}.x: "
            + ("update the add-on" if major > SUPPORTED_MAJOR else "re-export with a current "
               "backend"))
    _check_header_fields(p, header)
    names = header.get("joint_names")
    if names is not None and tuple(names) != SMPL_JOINT_NAMES:
        raise MotionFileError(f"{p.name}: joint_names are not the 24 SMPL joints in SMPL order")
    parents = header.get("parents")
    if parents is not None and tuple(parents) != SMPL_PARENTS:
        raise MotionFileError(f"{p.name}: parents do not match the SMPL kinematic tree")
    return header


#: header field -> (allowed JSON types, what to say). Absent fields are fine (defaults apply).
_NUMBER = (int, float)
_HEADER_FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    "fps": (_NUMBER, "a number"),
    "num_persons": ((int,), "an integer"),
    "num_frames": ((int,), "an integer"),
    "joint_names": ((list,), "a list of the 24 SMPL joint names"),
    "parents": ((list,), "a list of 24 parent indices"),
    "gender": ((str,), "a string"),
    "video": ((dict,), "an object"),
    "camera": ((dict,), "an object"),
    "warnings": ((list,), "a list of strings"),
    "smoothing": ((str,), "a string"),
}
_VIDEO_FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    "name": ((str,), "a string"), "path": ((str,), "a string"),
    "width": ((int,), "an integer"), "height": ((int,), "an integer"),
    "fps": (_NUMBER, "a number"), "rotation": (_NUMBER, "a number"),
}
_MAX_HEADER_BYTES = 16 * 1024 * 1024
_MAX_FPS = 1000.0
_MAX_VIDEO_SIDE = 100_000


def _check_fields(p: Path, owner: dict, spec: dict, prefix: str) -> None:
    for key, (types, what) in spec.items():
        if key not in owner:
            continue
        value = owner[key]
        if isinstance(value, bool) or not isinstance(value, types):
            raise MotionFileError(
                f"{p.name}: header field '{prefix}{key}' must be {what}, got "
                f"{type(value).__name__}")


def _check_header_fields(p: Path, header: dict) -> None:
    """Types of the header fields the add-on uses, and their plausible ranges."""
    _check_fields(p, header, _HEADER_FIELDS, "")
    video = header.get("video", {})
    _check_fields(p, video, _VIDEO_FIELDS, "video.")
    for owner, prefix in ((header, ""), (video, "video.")):
        fps = owner.get("fps")
        if fps is not None and not (math.isfinite(fps) and 0 < fps <= _MAX_FPS):
            raise MotionFileError(
                f"{p.name}: header field '{prefix}fps' must be in (0, {_MAX_FPS:g}], got {fps}")
    for side in ("width", "height"):
        value = video.get(side, 0)
        if not 0 <= value <= _MAX_VIDEO_SIDE:
            raise MotionFileError(
                f"{p.name}: header field 'video.{side}' must be 0..{_MAX_VIDEO_SIDE}, got {value}")
    if "static" in header.get("camera", {}) and not isinstance(header["camera"]["static"], bool):
        raise MotionFileError(f"{p.name}: header field 'camera.static' must be true or false")
    if not all(isinstance(w, str) for w in header.get("warnings", ())):
        raise MotionFileError(f"{p.name}: header field 'warnings' must be a list of strings")
    for key in ("joint_names", "parents"):
        if key not in header:
            continue
        items = header[key]
        kind = str if key == "joint_names" else int
        if len(items) != 24 or not all(isinstance(x, kind) and not isinstance(x, bool)
                                       for x in items):
            raise MotionFileError(f"{p.name}: header field '{key}' must be "
                                  f"{_HEADER_FIELDS[key][1]}")


def _read_arrays(npz: NpzArchive, p: Path, header: dict) -> dict[str, np.ndarray]:
    """Check every member's shape, dtype and size against P and F *before* inflating any."""
    missing = [k for k in _ARRAY_SPEC if k not in npz.keys]
    if missing:
        raise MotionFileError(
            f"{p.name} is missing arrays {missing}; it was written by an incompatible tool")
    heads = {key: npz.peek(key) for key in _ARRAY_SPEC}
    if len(heads["track_ids"].shape) != 1 or len(heads["timestamps"].shape) != 1:
        raise MotionFileError(f"{p.name}: 'track_ids' and 'timestamps' must be 1-D arrays")
    n_persons, n_frames = heads["track_ids"].shape[0], heads["timestamps"].shape[0]
    _check_header_consistency(p, header, n_persons, n_frames)
    if n_frames < 1:
        raise MotionFileError(f"{p.name}: the file holds no frames")
    if n_frames > MAX_FRAMES or n_persons > MAX_PERSONS:
        raise MotionFileError(
            f"{p.name} claims {n_persons} persons x {n_frames} frames; at most {MAX_PERSONS} "
            f"persons and {MAX_FRAMES} frames are supported")
    dims = {"P": n_persons, "F": n_frames}
    arrays: dict[str, np.ndarray] = {}
    for key, (template, kinds) in _ARRAY_SPEC.items():
        shape = tuple(dims.get(t, t) for t in template)
        head = heads[key]
        if head.shape != shape:
            raise MotionFileError(f"{p.name}: '{key}' has shape {head.shape}, expected {shape}")
        if head.dtype.kind not in kinds:
            raise MotionFileError(
                f"{p.name}: '{key}' has dtype {head.dtype}, expected kind {kinds!r}")
    for key, (_template, kinds) in _ARRAY_SPEC.items():
        arrays[key] = npz.read(key, heads[key].shape, kinds)
        _check_array(p, key, arrays[key])
    return arrays


def _is_version(v: str) -> bool:
    parts = v.split(".")
    return len(parts) == 2 and all(x.isdigit() for x in parts)


def _check_array(p: Path, key: str, a: np.ndarray) -> None:
    if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
        bad = np.argwhere(~np.isfinite(a))[0].tolist()
        raise MotionFileError(f"{p.name}: '{key}' contains NaN/inf (first at index {bad})")


#: key -> (lowest, highest) plausible value of every element. Metres for positions (a 10 km
#: square is far beyond any video), radians for axis-angle rotations (whole turns may be
#: unwrapped for continuity, but not thousands), seconds for time (28 hours).
_RANGES: dict[str, tuple[float, float]] = {
    "timestamps": (-1e-3, 1e5),
    "frame_indices": (0, 2**31 - 1),
    "track_ids": (0, 2**31 - 1),
    "global_orient": (-100.0, 100.0),
    "body_pose": (-100.0, 100.0),
    "transl": (-1e4, 1e4),
    "joints3d": (-1e4, 1e4),
    "rest_joints": (-10.0, 10.0),
    "betas": (-100.0, 100.0),
    "contacts": (-1e-3, 1 + 1e-3),
    "confidence": (-1e-3, 1 + 1e-3),
    "cam_K": (-1e7, 1e7),
    "cam_t": (-1e4, 1e4),
}
_ROTATION_TOL = 1e-3


def check_range(p: Path, key: str, a: np.ndarray, low: float, high: float) -> None:
    """MotionFileError naming the first element of ``a`` outside [low, high]."""
    if a.size and (a.min() < low or a.max() > high):
        bad = np.argwhere((a < low) | (a > high))[0].tolist()
        value = a[tuple(bad)]
        raise MotionFileError(
            f"{p.name}: '{key}' must lie in [{low:g}, {high:g}]; index {bad} is {value:.6g}"
            " (the file is corrupt or was not written by this kind of tool)")


def _check_ranges(p: Path, arrays: dict[str, np.ndarray]) -> None:
    """Plausible magnitudes, probabilities in [0, 1], a valid camera (raises MotionFileError)."""
    for key, (low, high) in _RANGES.items():
        check_range(p, key, arrays[key], low, high)
    k = arrays["cam_K"]
    if not (k[0, 0] > 0 and k[1, 1] > 0 and k[2, 2] != 0):
        raise MotionFileError(f"{p.name}: 'cam_K' is not a valid intrinsics matrix (fx, fy > 0)")
    r = arrays["cam_R"].astype(np.float64)
    error = np.abs(r @ np.swapaxes(r, -1, -2) - np.eye(3)).max(axis=(-2, -1))
    det = np.linalg.det(r)
    bad = np.nonzero((error > _ROTATION_TOL) | (np.abs(det - 1.0) > _ROTATION_TOL))[0]
    if bad.size:
        f = int(bad[0])
        raise MotionFileError(
            f"{p.name}: 'cam_R' at frame {f} is not a rotation matrix (|R R^T - I| = "
            f"{error[f]:.3g}, det = {det[f]:.3g})")


def _check_header_consistency(p: Path, header: dict, n_persons: int, n_frames: int) -> None:
    for key, array, value in (("num_persons", "track_ids", n_persons),
                              ("num_frames", "timestamps", n_frames)):
        if key in header and header[key] != value:
            raise MotionFileError(
                f"{p.name}: header {key}={header[key]} but the arrays hold {value} "
                f"(shape of '{array}')")
