"""Read AMASS-style .npz files (SMPL / SMPL-H / SMPL-X poses, Z-up world) into a ``Motion``.

AMASS keys: ``poses`` (F,72|156|165) axis-angle (root orientation first), ``trans`` (F,3),
``betas`` (>=10,), ``mocap_framerate`` or ``mocap_frame_rate``, ``gender``. AMASS's world is
Z-up and its ``trans`` is the SMPL translation, so world joints are
``R0_z (J - J0) + J0 + trans_z``. In the motion file's Y-up world (with C the Y-up -> Z-up
basis change) this is ``R0_y = C^T R0_z`` and ``transl_y = C^T (trans_z + J0) - J0``.
Hands (SMPL joints 22, 23) are not in SMPL-H/X body poses: they are left at rest.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .motion_file import MAX_FRAMES, Motion, MotionFileError, _load_npz, _ro, check_range
from .rotations import (
    Y_UP_TO_Z_UP,
    axis_angle_to_matrix,
    matrix_to_axis_angle,
)
from .skeleton import (
    CONTACT_JOINTS,
    SMPL_JOINT_NAMES,
    SMPL_PARENTS,
    SMPL_TEMPLATE_REST_JOINTS,
    smpl_forward_kinematics,
)

_POSE_WIDTHS = (72, 156, 165)
#: The members read (others, e.g. ``dmpls``, are never inflated).
_AMASS_KEYS = ("poses", "trans", "betas", "mocap_framerate", "mocap_frame_rate", "gender")


def is_amass_file(path: str | Path) -> bool:
    """True when ``path`` is an .npz with AMASS keys (``poses`` and ``trans``, no ``header``)."""
    try:
        with np.load(Path(path), allow_pickle=False) as npz:
            files = set(npz.files)
    except Exception:
        return False
    return {"poses", "trans"} <= files and "header" not in files


def read_amass_file(path: str | Path, smpl_dir: str = "") -> Motion:
    """Load an AMASS .npz as a single-person ``Motion`` (Y-up world, like motion files).

    Rest joints come from the user's SMPL model shaped by ``betas`` when ``smpl_dir`` is set,
    else the SMPL template skeleton. Raises MotionFileError with an actionable message.
    """
    p = Path(path)
    if not p.is_file():
        raise MotionFileError(f"AMASS file not found: {p}")
    arrays = _load_npz(p, _AMASS_KEYS)
    for key in ("poses", "trans"):
        if key not in arrays:
            raise MotionFileError(f"{p.name} is not an AMASS file: missing '{key}'")
    poses = np.asarray(arrays["poses"])
    trans = np.asarray(arrays["trans"])
    if poses.ndim != 2 or poses.shape[1] not in _POSE_WIDTHS:
        raise MotionFileError(
            f"{p.name}: 'poses' has shape {poses.shape}; expected (F, 72|156|165)")
    n_frames = poses.shape[0]
    if n_frames < 1:
        raise MotionFileError(f"{p.name}: the file holds no frames")
    if trans.shape != (n_frames, 3):
        raise MotionFileError(f"{p.name}: 'trans' has shape {trans.shape}, expected ({n_frames}, 3)")
    if n_frames > MAX_FRAMES:
        raise MotionFileError(f"{p.name} holds {n_frames} frames; at most {MAX_FRAMES} fit "
                              "Blender's frame range")
    for key, a, limit in (("poses", poses, 100.0), ("trans", trans, 1e4)):
        if a.dtype.kind != "f" or not np.all(np.isfinite(a)):
            raise MotionFileError(f"{p.name}: '{key}' must be finite floats")
        check_range(p, key, a, -limit, limit)  # radians / metres: plausible magnitudes
    fps = _frame_rate(arrays, p)
    gender = _gender(arrays)
    betas = np.zeros(10, np.float64)
    if "betas" in arrays:
        if arrays["betas"].dtype.kind not in "biuf":
            raise MotionFileError(f"{p.name}: 'betas' must be numbers")
        b = np.asarray(arrays["betas"], np.float64).ravel()
        if not np.all(np.isfinite(b)):
            raise MotionFileError(f"{p.name}: 'betas' contains NaN/inf")
        check_range(p, "betas", b, -100.0, 100.0)
        betas[: min(10, b.size)] = b[:10]

    warnings: list[str] = []
    if smpl_dir:
        from .smpl_model import load_smpl_model

        model = load_smpl_model(smpl_dir, gender)
        rest = model.rest_joints(betas)
    else:
        rest = np.array(SMPL_TEMPLATE_REST_JOINTS, np.float64)
        if np.any(betas != 0):
            warnings.append("no SMPL folder set: betas ignored, template skeleton used")

    poses = poses.astype(np.float64)
    if poses.shape[1] == 72:
        body = poses[:, 3:72].reshape(n_frames, 23, 3)
    else:
        body = np.zeros((n_frames, 23, 3))
        body[:, :21] = poses[:, 3:66].reshape(n_frames, 21, 3)
    c = Y_UP_TO_Z_UP
    go = matrix_to_axis_angle(c.T[None] @ axis_angle_to_matrix(poses[:, :3]))
    transl = (c.T @ (trans.astype(np.float64) + rest[0]).T).T - rest[0]
    joints, _ = smpl_forward_kinematics(rest, go, body, transl)
    timestamps = np.arange(n_frames, dtype=np.float64) / fps
    contacts = estimate_contacts(joints, fps)
    header = {
        "schema_version": "1.0", "producer": "amass-import", "units": "m", "up_axis": "Y",
        "fps": fps, "num_persons": 1, "num_frames": n_frames,
        "joint_names": list(SMPL_JOINT_NAMES), "parents": list(SMPL_PARENTS),
        "gender": gender, "video": {"name": p.stem, "path": "", "fps": fps},
        "persons": [{"track_id": 0, "first_frame": 0, "last_frame": n_frames - 1}],
        "warnings": warnings,
    }
    f32 = np.float32
    return Motion(
        path=str(p.resolve()), header=json.loads(json.dumps(header)),
        timestamps=_ro(timestamps), frame_indices=_ro(np.arange(n_frames, dtype=np.int64)),
        track_ids=_ro(np.zeros(1, np.int64)), valid=_ro(np.ones((1, n_frames), bool)),
        global_orient=_ro(go[None].astype(f32)), body_pose=_ro(body[None].astype(f32)),
        transl=_ro(transl[None].astype(f32)), betas=_ro(betas[None].astype(f32)),
        rest_joints=_ro(rest[None].astype(f32)), joints3d=_ro(joints[None].astype(f32)),
        contacts=_ro(contacts[None].astype(f32)),
        confidence=_ro(np.ones((1, n_frames, 24), f32)),
        source="amass", warnings=tuple(warnings),
    )


def estimate_contacts(joints: np.ndarray, fps: float, height_tol: float = 0.05,
                      speed_tol: float = 0.4) -> np.ndarray:
    """Heuristic foot contacts (F,4) in {0,1} from world joints (F,24,3) Y-up.

    A contact joint is down when it is within ``height_tol`` m of the lowest height that joint
    reaches in the clip and moves slower than ``speed_tol`` m/s.
    """
    feet = joints[:, list(CONTACT_JOINTS)]                      # (F,4,3)
    height = feet[..., 1] - feet[..., 1].min(axis=0, keepdims=True)
    speed = np.zeros(height.shape)
    if joints.shape[0] > 1:
        v = np.linalg.norm(np.diff(feet, axis=0), axis=-1) * fps
        speed[1:] = v
        speed[0] = v[0]
    return ((height < height_tol) & (speed < speed_tol)).astype(np.float32)


def _frame_rate(arrays: dict[str, np.ndarray], p: Path) -> float:
    for key in ("mocap_framerate", "mocap_frame_rate"):
        if key in arrays:
            try:
                fps = float(np.asarray(arrays[key]).ravel()[0])
            except (TypeError, ValueError, IndexError) as exc:
                raise MotionFileError(f"{p.name}: '{key}' is not a number") from exc
            if not np.isfinite(fps) or not 0 < fps <= 1000:
                raise MotionFileError(f"{p.name}: '{key}' must be in (0, 1000], got {fps}")
            return fps
    raise MotionFileError(f"{p.name}: missing 'mocap_framerate' (or 'mocap_frame_rate')")


def _gender(arrays: dict[str, np.ndarray]) -> str:
    if "gender" not in arrays:
        return "neutral"
    g = np.asarray(arrays["gender"]).ravel()
    if g.size == 0:
        return "neutral"
    value = g[0]
    if isinstance(value, bytes):
        value = value.decode("ascii", "ignore")
    value = str(value).strip().lower()
    return value if value in ("male", "female", "neutral") else "neutral"
