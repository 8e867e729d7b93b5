"""Implausible limb poses (depth or left/right flips of the fit) found and repaired.

A monocular fit can put a limb at the mirror image of its true pose in depth for a few frames:
a thigh swung 150 deg up behind a walking body, a knee bent forward. Such frames are found
from joint limits in the parent segment's frame and, when they form a short run between
plausible frames, replaced by interpolating the limb's local rotations (slerp) from the
plausible frames on both sides. Long runs are left alone (the pose may be real, e.g. lying
down); runs at a track's edge hold the nearest plausible frame. Pure numpy.

Angles are measured in the SMPL body frame of the parent (Y up, +Z forward, +X the body's
left), for the rest skeleton's bone directions (``rest_joints``):

| joint | measured | limit (default) |
|---|---|---|
| hip (thigh) | extension: thigh behind the body, from straight down | 60 deg |
| hip (thigh) | abduction (either side): angle out of the sagittal plane | 80 deg |
| knee | hyperextension: shank bent forward past straight | 25 deg |
| elbow | hyperextension: forearm bent backward past straight | 30 deg |
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inference_backend.kinematics import (
    axis_angle_to_quat,
    quat_sign_continuity,
    quat_slerp,
    quat_to_axis_angle,
    rodrigues,
)
from inference_backend.smoothing import valid_runs

#: Limb chains repaired together: (first joint, its descendants in the chain).
_LEG_CHAINS: dict[int, tuple[int, ...]] = {1: (1, 4, 7, 10), 2: (2, 5, 8, 11)}
_ARM_CHAINS: dict[int, tuple[int, ...]] = {18: (18, 20, 22), 19: (19, 21, 23)}
#: (hip, knee, ankle) and (shoulder, elbow, wrist) joint indices.
_LEGS = ((1, 4, 7), (2, 5, 8))
#: Frames whose rotation matrices are built at once.
_CHUNK_FRAMES = 512
_ARMS = ((16, 18, 20), (17, 19, 21))


@dataclass(frozen=True)
class PoseLimits:
    hip_extension_deg: float = 60.0
    hip_abduction_deg: float = 80.0
    knee_hyperextension_deg: float = 25.0
    elbow_hyperextension_deg: float = 30.0
    max_repair_s: float = 0.6        # longer implausible runs are left as they are
    margin_frames: int = 1           # frames each side of a run replaced too
    #: A run grows on each side while its limb still turns faster than this (the swing into
    #: and out of a flip), before the margin is added.
    flip_speed_dps: float = 600.0


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def implausible_frames(local_rots: np.ndarray, rest_joints: np.ndarray,
                       limits: PoseLimits = PoseLimits()) -> dict[int, np.ndarray]:
    """Frames (F,) bool per limb chain root (1, 2 legs; 18, 19 forearms) where the limb breaks
    a limit. local_rots: (F, 24, 3, 3) SMPL local rotations; rest_joints (24, 3)."""
    R = np.asarray(local_rots, float)
    rest = np.asarray(rest_joints, float)
    out: dict[int, np.ndarray] = {}
    for hip, knee, ankle in _LEGS:
        thigh = _unit(R[:, hip] @ (rest[knee] - rest[hip]))        # in the pelvis frame
        down = -thigh[:, 1]
        extension = np.degrees(np.arctan2(-thigh[:, 2], down))     # behind: > 0
        abduction = np.degrees(np.arcsin(np.clip(np.abs(thigh[:, 0]), 0.0, 1.0)))
        shank_rest = _unit(rest[ankle] - rest[knee])
        shank = _unit(R[:, knee] @ shank_rest)                     # in the thigh frame
        thigh_rest = _unit(rest[knee] - rest[hip])
        # Knee flexion bends the shank backward (-Z); forward (+Z) past straight is
        # hyperextension (measured about the thigh's rest direction).
        hyper = np.degrees(np.arctan2(shank[:, 2], shank @ thigh_rest))
        bad = ((extension > limits.hip_extension_deg)
               | (abduction > limits.hip_abduction_deg)
               | (hyper > limits.knee_hyperextension_deg))
        out[hip] = bad
    for _shoulder, elbow, wrist in _ARMS:
        fore_rest = _unit(rest[wrist] - rest[elbow])
        fore = _unit(R[:, elbow] @ fore_rest)                      # in the upper-arm frame
        # The elbow flexes the forearm forward (+Z of the rest T-pose arm); backward is
        # hyperextension.
        hyper = np.degrees(np.arctan2(-fore[:, 2], fore @ fore_rest))
        out[elbow] = hyper > limits.elbow_hyperextension_deg
    return out


def repair_implausible(pose_aa: np.ndarray, rest_joints: np.ndarray, times: np.ndarray,
                       valid: np.ndarray | None = None,
                       limits: PoseLimits = PoseLimits()) -> tuple[np.ndarray, np.ndarray]:
    """Replace short implausible runs of each limb by slerp between the plausible frames
    around them. pose_aa: (F, 24, 3) SMPL local rotations, axis-angle. Returns (pose_aa
    (F, 24, 3) copy, repaired (F, 24) bool)."""
    aa = np.array(pose_aa, float, copy=True)
    n = aa.shape[0]
    t = np.asarray(times, float)
    ok_frames = np.ones(n, bool) if valid is None else np.asarray(valid, bool)
    repaired = np.zeros((n, 24), bool)
    # Only the limb joints the limits read are turned into matrices, a chunk of frames at a
    # time (the working memory does not grow with the clip).
    used = sorted({j for legs in _LEGS for j in legs} | {j for arm in _ARMS for j in arm})
    bad_by_chain: dict[int, np.ndarray] = {}
    mats = np.tile(np.eye(3), (min(n, _CHUNK_FRAMES), 24, 1, 1))
    for s in range(0, n, _CHUNK_FRAMES):
        e = min(n, s + _CHUNK_FRAMES)
        mats[:e - s, used] = rodrigues(aa[s:e, used])
        for root, bad in implausible_frames(mats[:e - s], rest_joints, limits).items():
            bad_by_chain.setdefault(root, np.zeros(n, bool))[s:e] = bad
    del mats
    chains = {**_LEG_CHAINS, **_ARM_CHAINS}
    dt = float(np.median(np.diff(t))) if n > 1 else 0.0
    seg_start, seg_end = np.zeros(n, int), np.zeros(n, int)
    for a, b in valid_runs(ok_frames):
        seg_start[a:b], seg_end[a:b] = a, b
    for root, bad in bad_by_chain.items():
        joints = list(chains[root])
        bad = bad & ok_frames
        q_all = quat_sign_continuity(axis_angle_to_quat(aa[:, root]), axis=0)     # (F, 4)
        dots = np.abs(np.sum(q_all[1:] * q_all[:-1], -1))
        step = np.degrees(2 * np.arccos(np.clip(dots, 0.0, 1.0)))                  # (F-1,)
        fast = step / np.maximum(np.diff(t), 1e-9) > limits.flip_speed_dps
        for a, b in valid_runs(bad):
            first, last = seg_start[a], seg_end[a]                 # the valid run around it
            while a > first and fast[a - 1]:
                a -= 1
            while b < last and fast[b - 1]:
                b += 1
            a = max(first, a - limits.margin_frames)
            b = min(last, b + limits.margin_frames)
            if t[b - 1] - t[a] + dt > limits.max_repair_s:
                continue
            lo, hi = a - 1, b                                      # plausible neighbours
            lo = lo if lo >= first else -1
            hi = hi if hi < last else n
            if lo < 0 and hi >= n:
                continue
            lo_c, hi_c = max(lo, 0), min(hi, n - 1)
            q = quat_sign_continuity(axis_angle_to_quat(aa[lo_c:hi_c + 1, joints]), axis=0)
            q_lo, q_hi = q[0], q[-1]
            if lo < 0:
                q_lo = q_hi
            if hi >= n:
                q_hi = q_lo
            w = (t[a:b] - t[lo_c]) / max(t[hi_c] - t[lo_c], 1e-9) if lo >= 0 and hi < n \
                else np.zeros(b - a)
            qa = np.repeat(q_lo[None], b - a, axis=0)
            qb = np.repeat(q_hi[None], b - a, axis=0)
            fill = quat_slerp(qa, qb, np.broadcast_to(w[:, None], qa.shape[:2]))
            aa[a:b, joints] = quat_to_axis_angle(fill)
            repaired[a:b, joints] = True
    return aa, repaired
