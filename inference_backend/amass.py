"""AMASS-style export: one ``*_poses.npz`` per person in AMASS's Z-up world.

Changing the world from Y-up to Z-up is the rotation W: (x, y, z) -> (x, -z, y). SMPL FK is
``joints = R_0 (J - J_0) chain + J_0 + transl``, so rotating the world gives
``global_orient' = W R_0`` and ``transl' = W (J_0 + transl) - J_0`` (J_0 = rest pelvis): the
translation must absorb the rest pelvis offset, otherwise the body is shifted by (W - I) J_0.
Hands are not estimated, so ``poses`` is (F, 72): global_orient + 23 body joints.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from .atomic_io import atomic_write
from .errors import CaptureError, ExitCode
from .export import MotionFileError, read_motion_file, save_npz

#: World rotation from the motion file's Y-up frame to AMASS's Z-up frame.
Y_UP_TO_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def to_z_up(
    global_orient: np.ndarray, transl: np.ndarray, pelvis_rest: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Rotate root orientation (F, 3) axis-angle and SMPL translation (F, 3) into Z-up.

    pelvis_rest: (3,) rest position of the pelvis joint J_0 (metres).
    """
    W = Y_UP_TO_Z_UP
    rot = Rotation.from_matrix(W) * Rotation.from_rotvec(np.asarray(global_orient, np.float64))
    pelvis = np.asarray(pelvis_rest, np.float64)
    trans = (np.asarray(transl, np.float64) + pelvis) @ W.T - pelvis
    return rot.as_rotvec(), trans


def export_amass(motion_path: Path | str, out_dir: Path | str) -> list[Path]:
    """Write ``<stem>_person<ID>_poses.npz`` files; returns their paths.

    Keys: poses (F, 72) float64, trans (F, 3) float64, betas (10,) float64,
    mocap_framerate () float64, gender () unicode. Every frame is written (invalid frames hold
    the nearest valid values, as in the motion file). All files are written or none.
    """
    motion_path = Path(motion_path)
    if not motion_path.is_file():
        raise CaptureError(ExitCode.FILE_MISSING, f"motion file not found: {motion_path}")
    try:
        motion = read_motion_file(motion_path)
    except MotionFileError as exc:  # its message names the file
        raise CaptureError(ExitCode.BAD_MOTION_FILE, str(exc)) from exc
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CaptureError(ExitCode.OUTPUT_NOT_WRITABLE, f"cannot create {out}: {exc}") from exc
    header, a = motion.header, motion.arrays
    fps = float(header.get("fps", 30.0))
    gender = str(header.get("gender", "neutral"))
    written: list[Path] = []
    target = out
    try:
        # all or nothing: every file is completed in a temp file first; they replace their
        # targets together when the block ends, and a failure or Ctrl+C before that leaves
        # every existing file as it was
        with ExitStack() as files:
            for p, track_id in enumerate(a["track_ids"].tolist()):
                orient, trans = to_z_up(a["global_orient"][p], a["transl"][p],
                                        a["rest_joints"][p][0])
                body = a["body_pose"][p].reshape(len(orient), 69).astype(np.float64)
                target = out / f"{motion_path.stem}_person{track_id}_poses.npz"
                save_npz(files.enter_context(atomic_write(target)), {
                    "poses": np.concatenate([orient, body], axis=1),
                    "trans": trans,
                    "betas": a["betas"][p].astype(np.float64),
                    "mocap_framerate": np.array(fps),
                    "gender": np.array(gender),
                })
                written.append(target)
    except OSError as exc:
        raise CaptureError(ExitCode.OUTPUT_NOT_WRITABLE, f"cannot write {target}: {exc}") from exc
    return written
