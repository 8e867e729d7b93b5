"""Shared fixtures for add-on tests: a tiny, independent writer of the motion-file schema
(docs/motion_file.md) and a synthetic walk whose joints3d = FK(params) + transl.

The FK here is written independently of ``str_blender_addon.core`` on purpose, so tests compare
the add-on against a second implementation. tests/blender/conftest.py loads this file too.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

JOINT_NAMES = [
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hand", "right_hand",
]
PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
TEMPLATE = np.array([
    [-0.0018, -0.2233, 0.0282], [0.0695, -0.3141, 0.0239], [-0.0677, -0.3147, 0.0214],
    [-0.0025, -0.1034, 0.0024], [0.1040, -0.6998, 0.0276], [-0.1054, -0.7000, 0.0249],
    [0.0055, 0.0327, 0.0296], [0.0880, -1.0962, -0.0127], [-0.0883, -1.0990, -0.0149],
    [0.0012, 0.0810, 0.0029], [0.1201, -1.1530, 0.1081], [-0.1195, -1.1540, 0.1063],
    [-0.0017, 0.2938, -0.0119], [0.0782, 0.2071, -0.0059], [-0.0752, 0.2069, -0.0108],
    [0.0053, 0.3813, 0.0509], [0.1700, 0.2386, -0.0184], [-0.1681, 0.2321, -0.0213],
    [0.4299, 0.2171, -0.0312], [-0.4130, 0.2128, -0.0372], [0.6781, 0.2216, -0.0355],
    [-0.6880, 0.2217, -0.0309], [0.7604, 0.2184, -0.0483], [-0.7650, 0.2133, -0.0562],
])
WIDTH, HEIGHT = 960, 540
CAM_K = np.array([[800.0, 0.0, 470.0], [0.0, 800.0, 280.0], [0.0, 0.0, 1.0]])


def rodrigues(aa: np.ndarray) -> np.ndarray:
    """(...,3) axis-angle -> (...,3,3) via the matrix exponential series-free formula."""
    aa = np.asarray(aa, np.float64)
    theta = np.linalg.norm(aa, axis=-1)[..., None, None]
    k = np.zeros(aa.shape[:-1] + (3, 3))
    k[..., 0, 1], k[..., 0, 2] = -aa[..., 2], aa[..., 1]
    k[..., 1, 0], k[..., 1, 2] = aa[..., 2], -aa[..., 0]
    k[..., 2, 0], k[..., 2, 1] = -aa[..., 1], aa[..., 0]
    safe = np.where(theta < 1e-12, 1.0, theta)
    a = np.where(theta < 1e-12, 1.0, np.sin(safe) / safe)
    b = np.where(theta < 1e-12, 0.5, (1 - np.cos(safe)) / safe**2)
    return np.eye(3) + a * k + b * (k @ k)


def forward_kinematics(rest, global_orient, body_pose, transl):
    """Independent SMPL FK: rest (24,3), go (F,3), pose (F,23,3), transl (F,3) -> (F,24,3)."""
    rots = rodrigues(np.concatenate([global_orient[:, None], body_pose], 1))
    n = rots.shape[0]
    g_r = [None] * 24
    g_t = [None] * 24
    for j in range(24):
        p = PARENTS[j]
        if p < 0:
            g_r[j], g_t[j] = rots[:, 0], np.repeat(rest[None, 0], n, 0)
        else:
            g_r[j] = np.einsum("fab,fbc->fac", g_r[p], rots[:, j])
            g_t[j] = g_t[p] + np.einsum("fab,b->fa", g_r[p], rest[j] - rest[p])
    return np.stack(g_t, 1) + transl[:, None]


def synthetic_walk(n_frames: int = 90, fps: float = 30.0, n_persons: int = 1,
                   timestamps: np.ndarray | None = None, seed: int = 0,
                   moving_camera: bool = False) -> dict[str, np.ndarray]:
    """Arrays of a motion file: people walking with known rotations (see module docstring)."""
    rng = np.random.default_rng(seed)
    ts = np.arange(n_frames) / fps if timestamps is None else np.asarray(timestamps, np.float64)
    n_frames = ts.shape[0]
    phase = 2 * np.pi * 1.0 * ts                       # 1 Hz gait
    arrays: dict[str, list] = {k: [] for k in (
        "go", "pose", "transl", "rest", "joints", "contacts")}
    for p in range(n_persons):
        rest = TEMPLATE * (1.0 - 0.08 * p)
        pose = 0.05 * rng.standard_normal((23, 3))[None] * np.sin(phase + p)[:, None, None]
        swing = 0.5 * np.sin(phase + p)
        pose[:, 0, 0] += swing                          # left hip flex
        pose[:, 1, 0] -= swing                          # right hip
        pose[:, 3, 0] += 0.6 * np.maximum(0, np.sin(phase + p + 1))   # left knee
        pose[:, 4, 0] += 0.6 * np.maximum(0, -np.sin(phase + p + 1))  # right knee
        pose[:, 15, 2] -= 1.2 + 0.1 * np.sin(phase)     # left shoulder down (A-pose arms)
        pose[:, 16, 2] += 1.2 + 0.1 * np.sin(phase)
        pose[:, 17, 1] += 0.4 * np.sin(phase)           # left elbow
        go = np.zeros((n_frames, 3))
        go[:, 1] = 0.3 * np.sin(0.2 * phase) + 0.8 * p  # yaw
        go[:, 0] = 0.05 * np.sin(2 * phase)             # tilt
        transl = np.zeros((n_frames, 3))
        transl[:, 0] = 0.8 * p - 0.4 + 0.1 * np.sin(0.3 * phase)
        transl[:, 1] = -rest[:, 1].min() + 0.02 * np.sin(2 * phase)
        transl[:, 2] = 1.2 * ts + 0.3 * p
        joints = forward_kinematics(rest, go, pose, transl)
        contacts = np.stack([
            (np.sin(phase + p) > 0).astype(float), (np.sin(phase + p) > 0.3).astype(float),
            (np.sin(phase + p) <= 0).astype(float), (np.sin(phase + p) < -0.3).astype(float),
        ], -1)
        for key, value in zip(("go", "pose", "transl", "rest", "joints", "contacts"),
                              (go, pose, transl, rest, joints, contacts), strict=True):
            arrays[key].append(value)
    cam_r = np.array([[-1.0, 0, 0], [0, -1.0, 0], [0, 0, 1.0]])
    centers = np.zeros((n_frames, 3))
    centers[:] = [0.2, 1.3, -6.0]
    if moving_camera:
        centers[:, 0] += 0.5 * ts
        centers[:, 2] += 0.2 * ts
    cam_t = -np.einsum("ab,fb->fa", cam_r, centers)
    f32 = np.float32
    return {
        "timestamps": ts.astype(np.float64),
        "frame_indices": np.arange(n_frames, dtype=np.int64),
        "track_ids": np.arange(1, n_persons + 1, dtype=np.int64) * 3,
        "valid": np.ones((n_persons, n_frames), bool),
        "global_orient": np.stack(arrays["go"]).astype(f32),
        "body_pose": np.stack(arrays["pose"]).astype(f32),
        "transl": np.stack(arrays["transl"]).astype(f32),
        "betas": np.zeros((n_persons, 10), f32),
        "rest_joints": np.stack(arrays["rest"]).astype(f32),
        "joints3d": np.stack(arrays["joints"]).astype(f32),
        "contacts": np.stack(arrays["contacts"]).astype(f32),
        "confidence": np.ones((n_persons, n_frames, 24), f32),
        "cam_K": CAM_K.astype(f32),
        "cam_R": np.repeat(cam_r[None], n_frames, 0).astype(f32),
        "cam_t": cam_t.astype(f32),
    }


def make_header(arrays: dict[str, np.ndarray], fps: float = 30.0, video_name: str = "walk.mp4",
                video_path: str = "", **extra) -> dict:
    n_persons, n_frames = arrays["valid"].shape
    header = {
        "schema_version": "1.0", "producer": "tests", "created": "2026-11-21T10:00:00Z",
        "units": "m", "up_axis": "Y", "world": "gravity-aligned, Y up, ground at y=0",
        "fps": fps, "num_persons": int(n_persons), "num_frames": int(n_frames),
        "joint_names": JOINT_NAMES, "parents": PARENTS, "gender": "neutral",
        "video": {"name": video_name, "path": video_path, "width": WIDTH, "height": HEIGHT,
                  "rotation": 0, "fps": fps, "num_frames": int(n_frames),
                  "duration": float(arrays["timestamps"][-1]), "start_time": 0.0,
                  "end_time": float(arrays["timestamps"][-1])},
        "camera": {"model": "pinhole_opencv",
                   "static": bool(np.allclose(arrays["cam_t"], arrays["cam_t"][:1]))},
        "solver": {"name": "synthetic", "version": "0", "models": {}},
        "smoothing": "none",
        "persons": [{"track_id": int(t), "first_frame": 0, "last_frame": int(n_frames - 1)}
                    for t in arrays["track_ids"]],
        "warnings": [],
    }
    header.update(extra)
    return header


def write_motion_file(path: Path, arrays: dict[str, np.ndarray], header: dict) -> Path:
    """Write the exact schema: a 0-d unicode 'header' plus the arrays (no object arrays)."""
    path = Path(path)
    payload = dict(arrays)
    payload["header"] = np.array(json.dumps(header))
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **payload)
    tmp.replace(path)
    return path


@pytest.fixture
def walk_file(tmp_path: Path) -> Path:
    """A valid one-person, 90-frame, 30 fps motion file."""
    arrays = synthetic_walk(90, 30.0, 1)
    return write_motion_file(tmp_path / "walk.npz", arrays, make_header(arrays))
