"""The motion-file writer and backend-side reader (docs/motion_file.md is the contract).

``write_motion_file`` validates every array (shape, dtype, finite values, ranges) before anything
touches the disk, then writes atomically: ``np.savez`` into a temp file in the destination folder,
``os.replace`` onto the target; on any failure the temp file is removed and the target untouched.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from .atomic_io import atomic_write
from .errors import CaptureError, ExitCode
from .motion_types import SceneSolution, VideoInfo
from .smpl_constants import NUM_JOINTS, SMPL_JOINT_NAMES, SMPL_PARENTS

SCHEMA_VERSION = "1.0"
PRODUCER = "str-mocap 0.1.0"

ARRAY_KEYS: tuple[str, ...] = (
    "timestamps", "frame_indices", "track_ids", "valid", "global_orient", "body_pose", "transl",
    "betas", "rest_joints", "joints3d", "contacts", "confidence", "cam_K", "cam_R", "cam_t",
)


class MotionFileError(ValueError):
    """The arrays or header do not satisfy the motion-file contract."""


def check_output_writable(path: Path) -> None:
    """Fail early (before a long capture) if ``path`` cannot be written atomically."""
    path = Path(path)
    folder = path.parent
    if path.is_dir():
        raise CaptureError(ExitCode.OUTPUT_NOT_WRITABLE, f"output path is a folder: {path}")
    if not folder.is_dir():
        raise CaptureError(
            ExitCode.OUTPUT_NOT_WRITABLE, f"output folder does not exist: {folder}"
        )
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise CaptureError(
            ExitCode.OUTPUT_NOT_WRITABLE, f"cannot write to {folder}: {exc.strerror or exc}"
        ) from exc


def fov_y_deg(K: np.ndarray, height: int) -> float:
    """Vertical field of view in degrees of intrinsics K for an image ``height`` pixels tall."""
    return float(math.degrees(2.0 * math.atan2(height / 2.0, float(K[1, 1]))))


def camera_height(R: np.ndarray, t: np.ndarray) -> float:
    """Height (world y, metres) of the camera centre C = -R^T t at the first frame."""
    centre = -R[0].T @ t[0]
    return float(centre[1])


def _person_height(rest_joints: np.ndarray, info: Mapping[str, Any]) -> float:
    if "height_m" in info:
        return float(info["height_m"])
    # head joint to the lowest foot joint, plus the crown above the head joint and the sole
    # below the ankle/foot joints (about 0.17 m on the SMPL template).
    span = float(rest_joints[15, 1] - min(rest_joints[[7, 8, 10, 11], 1]))
    return round(span + 0.17, 3)


def build_arrays(
    solution: SceneSolution, timestamps: np.ndarray, frame_indices: np.ndarray
) -> dict[str, np.ndarray]:
    """Stack a SceneSolution into the file's arrays with the contract's dtypes."""
    F = int(len(timestamps))
    persons = solution.persons
    P = len(persons)

    def stack(name: str, shape: tuple[int, ...], dtype: Any = np.float32) -> np.ndarray:
        if P == 0:
            return np.zeros((0, *shape), dtype)
        return np.stack([np.asarray(getattr(p, name), dtype) for p in persons]).reshape(P, *shape)

    cam = solution.camera
    cam_R = np.asarray(cam.R, np.float32)
    cam_t = np.asarray(cam.t, np.float32)
    if cam_R.shape == (3, 3):
        cam_R = np.repeat(cam_R[None], F, axis=0)
    if cam_t.shape == (3,):
        cam_t = np.repeat(cam_t[None], F, axis=0)
    try:
        return {
            "timestamps": np.asarray(timestamps, np.float64).reshape(F),
            "frame_indices": np.asarray(frame_indices, np.int64).reshape(F),
            "track_ids": np.array([p.track_id for p in persons], np.int64),
            "valid": stack("valid", (F,), bool),
            "global_orient": stack("global_orient", (F, 3)),
            "body_pose": stack("body_pose", (F, 23, 3)),
            "transl": stack("transl", (F, 3)),
            "betas": stack("betas", (10,)),
            "rest_joints": stack("rest_joints", (NUM_JOINTS, 3)),
            "joints3d": stack("joints3d", (F, NUM_JOINTS, 3)),
            "contacts": stack("contacts", (F, 4)),
            "confidence": stack("confidence", (F, NUM_JOINTS)),
            "cam_K": np.asarray(cam.K, np.float32).reshape(3, 3),
            "cam_R": cam_R.reshape(F, 3, 3),
            "cam_t": cam_t.reshape(F, 3),
        }
    except ValueError as exc:
        raise MotionFileError(f"solution arrays have the wrong shape for {F} frames: {exc}") from exc


def expected_shapes(P: int, F: int) -> dict[str, tuple[tuple[int, ...], Any]]:
    """Contract shape and dtype of every array key for P persons and F frames."""
    f32 = np.dtype(np.float32)
    return {
        "timestamps": ((F,), np.dtype(np.float64)),
        "frame_indices": ((F,), np.dtype(np.int64)),
        "track_ids": ((P,), np.dtype(np.int64)),
        "valid": ((P, F), np.dtype(bool)),
        "global_orient": ((P, F, 3), f32),
        "body_pose": ((P, F, 23, 3), f32),
        "transl": ((P, F, 3), f32),
        "betas": ((P, 10), f32),
        "rest_joints": ((P, NUM_JOINTS, 3), f32),
        "joints3d": ((P, F, NUM_JOINTS, 3), f32),
        "contacts": ((P, F, 4), f32),
        "confidence": ((P, F, NUM_JOINTS), f32),
        "cam_K": ((3, 3), f32),
        "cam_R": ((F, 3, 3), f32),
        "cam_t": ((F, 3), f32),
    }


def validate_arrays(arrays: Mapping[str, np.ndarray]) -> None:
    """Raise MotionFileError unless the arrays satisfy the contract exactly."""
    missing = [k for k in ARRAY_KEYS if k not in arrays]
    if missing:
        raise MotionFileError(f"missing arrays: {', '.join(missing)}")
    F = int(arrays["timestamps"].shape[0]) if arrays["timestamps"].ndim == 1 else -1
    P = int(arrays["track_ids"].shape[0]) if arrays["track_ids"].ndim == 1 else -1
    if F < 1 or P < 0:
        raise MotionFileError("timestamps must be (F,) with F >= 1 and track_ids (P,)")
    for key, (shape, dtype) in expected_shapes(P, F).items():
        arr = arrays[key]
        if arr.shape != shape:
            raise MotionFileError(f"{key} has shape {arr.shape}, expected {shape}")
        if arr.dtype != dtype:
            raise MotionFileError(f"{key} has dtype {arr.dtype}, expected {dtype}")
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise MotionFileError(f"{key} contains NaN or infinite values")
    if F > 1 and not np.all(np.diff(arrays["timestamps"]) > 0):
        raise MotionFileError("timestamps must be strictly increasing")
    if len(set(arrays["track_ids"].tolist())) != P:
        raise MotionFileError("track_ids must be unique")
    for key in ("contacts", "confidence"):
        a = arrays[key]
        if a.size and (a.min() < 0.0 or a.max() > 1.0):
            raise MotionFileError(f"{key} must lie in [0, 1]")


def build_header(
    arrays: Mapping[str, np.ndarray],
    solution: SceneSolution,
    video: VideoInfo,
    extras: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON header of docs/motion_file.md; ``extras`` entries override or extend it
    (e.g. ``solver``, ``smoothing``, ``warnings``)."""
    extras = dict(extras or {})
    timestamps = arrays["timestamps"]
    valid = arrays["valid"]
    persons = []
    for p, person in enumerate(solution.persons):
        frames = np.flatnonzero(valid[p])
        persons.append({
            "track_id": int(person.track_id),
            "first_frame": int(frames[0]) if frames.size else 0,
            "last_frame": int(frames[-1]) if frames.size else 0,
            "height_m": _person_height(arrays["rest_joints"][p], person.info),
            # "given" (--height) or "estimated" (monocular: the detector's generic body size)
            "height_source": str(person.info.get("height_source", "estimated")),
        })
    cam = solution.camera
    camera: dict[str, Any] = {
        "model": "pinhole_opencv",
        "static": bool(cam.static),
        "fov_y_deg": round(fov_y_deg(arrays["cam_K"], video.height), 4),
        "height_m": round(camera_height(arrays["cam_R"], arrays["cam_t"]), 4),
    }
    camera.update({k: v for k, v in cam.info.items() if k not in camera})
    header: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "producer": PRODUCER,
        "created": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "units": "m",
        "up_axis": "Y",
        "world": "gravity-aligned, Y up, ground at y=0",
        "fps": float(video.fps),
        "num_persons": len(solution.persons),
        "num_frames": int(timestamps.shape[0]),
        "joint_names": list(SMPL_JOINT_NAMES),
        "parents": list(SMPL_PARENTS),
        "gender": "neutral",
        "video": {
            "name": Path(video.path).name,
            "path": str(video.path),
            "width": int(video.width),
            "height": int(video.height),
            "rotation": int(video.rotation),
            "fps": float(video.fps),
            "num_frames": int(video.num_frames),
            "duration": float(video.duration),
            "start_time": float(timestamps[0]),
            "end_time": float(timestamps[-1]),
        },
        "camera": camera,
        "solver": {"name": "default", "version": "0.1.0", "models": {}},
        "smoothing": "medium",
        "persons": persons,
        "warnings": list(solution.warnings),
    }
    extra_warnings = list(extras.pop("warnings", []))
    header.update(extras)
    header["warnings"] = list(dict.fromkeys(extra_warnings + header["warnings"]))
    return header


def write_arrays_atomic(
    path: Path, arrays: Mapping[str, np.ndarray], header: Mapping,
    before_replace: Callable[[], None] | None = None,
) -> None:
    """``np.savez`` arrays + the JSON header into ``path`` via a temp file and ``os.replace``.

    ``before_replace`` may raise (a cancellation) to abandon the write with ``path`` untouched.
    """
    path = Path(path)
    try:
        header_text = json.dumps(header, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise MotionFileError(f"header is not plain JSON: {exc}") from exc
    payload = {"header": np.array(header_text), **arrays}
    try:
        with atomic_write(path, fsync=True, before_replace=before_replace) as handle:
            save_npz(handle, payload)
    except OSError as exc:
        raise CaptureError(
            ExitCode.OUTPUT_NOT_WRITABLE, f"writing {path} failed: {exc.strerror or exc}"
        ) from exc


def save_npz(handle: BinaryIO, arrays: Mapping[str, np.ndarray]) -> None:
    """What ``np.savez(handle, **arrays)`` writes (stored, zip64, no pickles), but the archive is
    closed even when a write fails: numpy leaves it open, and its ``ZipFile.__del__`` later
    prints 'Exception ignored ... seek of closed file' after a disk-full error."""
    with zipfile.ZipFile(handle, mode="w", compression=zipfile.ZIP_STORED,
                         allowZip64=True) as archive:
        for key, value in arrays.items():
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)


def write_motion_file(
    path: Path | str,
    solution: SceneSolution,
    video: VideoInfo,
    timestamps: np.ndarray,
    frame_indices: np.ndarray,
    extras: Mapping[str, Any] | None = None,
    before_replace: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Validate and atomically write the motion file; returns the header that was written.

    ``before_replace`` runs once the file is complete, just before it replaces ``path``; if it
    raises, nothing at ``path`` changes (see ``atomic_io.atomic_write``).
    """
    arrays = build_arrays(solution, timestamps, frame_indices)
    validate_arrays(arrays)
    header = build_header(arrays, solution, video, extras)
    write_arrays_atomic(Path(path), arrays, header, before_replace)
    return header


@dataclass(frozen=True)
class MotionFile:
    """A motion file read back: the parsed header and every contract array."""

    header: dict[str, Any]
    arrays: dict[str, np.ndarray]

    def __getitem__(self, key: str) -> np.ndarray:
        return self.arrays[key]


#: A motion-file header is a few kB; beyond these the file is refused before anything else is
#: inflated (P persons, F frames; Blender's frame range ends at 1,048,574).
_MAX_HEADER_BYTES = 16 * 1024 * 1024
_MAX_PERSONS, _MAX_FRAMES = 1000, 1_048_574


def read_motion_file(path: Path | str) -> MotionFile:
    """Read and validate a motion file (``allow_pickle=False``); refuses another major version.

    Raises only MotionFileError (its message names the file). The header is read first; every
    array member's ``.npy`` header and archive size are checked against the header's
    ``num_persons``/``num_frames`` before anything is inflated, and members the schema does not
    define are never read.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            header = _read_header(archive, path)
            P, F = (_header_count(header, key, path, limit) for key, limit in
                    (("num_persons", _MAX_PERSONS), ("num_frames", _MAX_FRAMES)))
            for key, (shape, dtype) in expected_shapes(P, F).items():
                _check_member(archive, key, shape, dtype, path)
        with np.load(path, allow_pickle=False) as data:
            contents = {k: data[k] for k in ARRAY_KEYS}
        validate_arrays(contents)
    except MotionFileError as exc:
        text = str(exc)
        raise MotionFileError(text if path.name in text else f"{path.name}: {text}") from exc
    except Exception as exc:  # noqa: BLE001 - any failure on untrusted bytes is a bad file
        raise MotionFileError(
            f"{path.name} is not a readable motion file ({type(exc).__name__}: {exc})"[:500]
        ) from exc
    return MotionFile(header=header, arrays=contents)


def _npy_header(archive: zipfile.ZipFile, member: str) -> tuple[tuple[int, ...], np.dtype]:
    with archive.open(member) as fp:
        version = np.lib.format.read_magic(fp)
        read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                else np.lib.format.read_array_header_2_0)
        shape, _fortran, dtype = read(fp)
    return tuple(shape), dtype


def _read_header(archive: zipfile.ZipFile, path: Path) -> dict[str, Any]:
    names = set(archive.namelist())
    if "header.npy" not in names:
        raise MotionFileError(f"{path.name} has no header: it is not an STR Mocap motion file")
    if archive.getinfo("header.npy").file_size > _MAX_HEADER_BYTES:
        raise MotionFileError(f"{path.name}: the header is too large to be a motion-file header")
    shape, dtype = _npy_header(archive, "header.npy")
    if shape != () or dtype.kind != "U":
        raise MotionFileError(f"{path.name}: 'header' must be a single JSON string")
    with archive.open("header.npy") as fp:
        text = str(np.lib.format.read_array(fp, allow_pickle=False))
    try:
        header = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MotionFileError(f"{path.name}: the header is not valid JSON ({exc})") from exc
    except RecursionError as exc:
        raise MotionFileError(f"{path.name}: the header is nested too deeply") from exc
    if not isinstance(header, dict):
        raise MotionFileError(
            f"{path.name}: the header must be a JSON object, not a {type(header).__name__}")
    version = str(header.get("schema_version", ""))
    if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise MotionFileError(
            f"{path.name} has schema version {version!r}; this backend reads {SCHEMA_VERSION}"
        )
    fps = header.get("fps", 30.0)
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 0 < fps <= 1000:
        raise MotionFileError(f"{path.name}: header field 'fps' must be a number in (0, 1000]")
    if not isinstance(header.get("gender", "neutral"), str):
        raise MotionFileError(f"{path.name}: header field 'gender' must be a string")
    return header


def _header_count(header: dict[str, Any], key: str, path: Path, limit: int) -> int:
    value = header.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise MotionFileError(
            f"{path.name}: header field '{key}' must be an integer in 0..{limit}, got {value!r}"
            [:300])
    return value


def _check_member(archive: zipfile.ZipFile, key: str, shape: tuple[int, ...], dtype: np.dtype,
                  path: Path) -> None:
    """Shape, dtype and archive size of one array member, from its ``.npy`` header only."""
    member = f"{key}.npy"
    if member not in archive.namelist():
        raise MotionFileError(f"{path.name} is missing the array '{key}'")
    found_shape, found_dtype = _npy_header(archive, member)
    if found_shape != shape or found_dtype != dtype:
        raise MotionFileError(
            f"{path.name}: '{key}' is {found_dtype}{list(found_shape)}, expected "
            f"{dtype}{list(shape)} for the header's persons and frames")
    nbytes = math.prod(shape) * dtype.itemsize
    if not nbytes <= archive.getinfo(member).file_size <= nbytes + 65536:
        raise MotionFileError(f"{path.name}: the archive size of '{key}' does not match its shape")
