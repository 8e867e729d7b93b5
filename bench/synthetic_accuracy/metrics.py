"""Pose and trajectory error metrics (pure numpy). Inputs in metres, outputs in millimetres
unless the name says otherwise. Joint arrays are (F, J, 3); ``valid`` masks are (F,) bool.

- MPJPE: mean joint distance after subtracting each skeleton's own root (the mid-hip point).
- PA-MPJPE: mean joint distance after a per-frame similarity Procrustes (rotation, translation,
  uniform scale; Umeyama 1991) of the prediction onto the ground truth.
- Accel error (as in TCMR / HMMR): mean norm of the difference of second differences
  ``x[t+1] - 2 x[t] + x[t-1]`` (mm/frame^2), only at t with t-1, t, t+1 all valid.
- Bone-length spread: standard deviation over valid frames of each bone's length, averaged.
- Trajectory: path length of the horizontal root track and a 2D rigid alignment error (ATE).
"""

from __future__ import annotations

import numpy as np

#: Twelve limb joints both SMPL (ours) and MediaPipe (raw) define; compared in this order.
COMPARE_JOINTS: tuple[str, ...] = (
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)
#: Bones (pairs of COMPARE_JOINTS indices) for the bone-length spread.
COMPARE_BONES: tuple[tuple[int, int], ...] = (
    (0, 2), (1, 3), (2, 4), (3, 5), (6, 8), (7, 9), (8, 10), (9, 11), (0, 1), (6, 7),
)


def mid_hip_root(joints: np.ndarray) -> np.ndarray:
    """Root-aligned joints (F, 12, 3): subtract the midpoint of the two hips (indices 0, 1)."""
    return joints - 0.5 * (joints[:, 0:1] + joints[:, 1:2])


def mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean per-joint position error in mm after root (mid-hip) alignment of both."""
    return float(np.linalg.norm(mid_hip_root(pred) - mid_hip_root(gt), axis=-1).mean() * 1000.0)


def similarity_procrustes(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``pred`` (F, J, 3) aligned frame by frame onto ``gt`` by the best similarity transform."""
    mu_p = pred.mean(1, keepdims=True)
    mu_g = gt.mean(1, keepdims=True)
    p, g = pred - mu_p, gt - mu_g
    cov = np.einsum("fji,fjk->fik", g, p)             # (F, 3, 3) = sum g p^T
    u, s, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.ones_like(s)
    fix[:, 2] = d
    rot = u @ (fix[:, :, None] * vt)                  # R = U diag(1,1,d) V^T
    var_p = (p**2).sum((1, 2))
    scale = (s * fix).sum(1) / np.maximum(var_p, 1e-12)
    return scale[:, None, None] * np.einsum("fik,fjk->fji", rot, p) + mu_g


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean per-joint error in mm after per-frame similarity Procrustes alignment."""
    return float(np.linalg.norm(similarity_procrustes(pred, gt) - gt, axis=-1).mean() * 1000.0)


def accel_error(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> float:
    """Mean acceleration error in mm/frame^2 over frames whose two neighbours are valid too."""
    acc_p = pred[2:] - 2.0 * pred[1:-1] + pred[:-2]
    acc_g = gt[2:] - 2.0 * gt[1:-1] + gt[:-2]
    ok = valid[2:] & valid[1:-1] & valid[:-2]
    if not ok.any():
        return float("nan")
    return float(np.linalg.norm(acc_p - acc_g, axis=-1)[ok].mean() * 1000.0)


def bone_length_spread(joints: np.ndarray, valid: np.ndarray,
                       bones: tuple[tuple[int, int], ...] = COMPARE_BONES) -> float:
    """Std over valid frames of each bone's length, averaged over bones, in mm."""
    a = np.array([b[0] for b in bones])
    b = np.array([b[1] for b in bones])
    lengths = np.linalg.norm(joints[valid][:, a] - joints[valid][:, b], axis=-1)
    return float(lengths.std(0).mean() * 1000.0)


def moving_average(x: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average along axis 0 (edge-padded), window in frames (odd)."""
    if window <= 1:
        return x.copy()
    half = window // 2
    pad = np.concatenate([np.repeat(x[:1], half, 0), x, np.repeat(x[-1:], half, 0)], 0)
    kernel = np.ones(window) / window
    return np.apply_along_axis(lambda c: np.convolve(c, kernel, mode="valid"), 0, pad)


def path_length(xy: np.ndarray, smooth_window: int = 1) -> float:
    """Length in metres of a horizontal track (F, 2) after an optional moving average."""
    track = moving_average(xy, smooth_window)
    return float(np.linalg.norm(np.diff(track, axis=0), axis=-1).sum())


def rigid_align_2d(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """``src`` (F, 2) rotated and translated (no scale) onto ``dst`` (F, 2) in least squares."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    cov = (dst - mu_d).T @ (src - mu_s)
    u, _, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    rot = u @ np.diag([1.0, d]) @ vt
    return (src - mu_s) @ rot.T + mu_d


def trajectory_ate(xy_pred: np.ndarray, xy_gt: np.ndarray) -> float:
    """RMS horizontal error (m) after the best 2D rigid alignment of the predicted track."""
    aligned = rigid_align_2d(xy_pred, xy_gt)
    return float(np.sqrt(((aligned - xy_gt) ** 2).sum(-1).mean()))


def body_frames(joints: np.ndarray) -> np.ndarray:
    """Per-frame body axes (F, 3, 3), rows = (left, up, forward-ish), from hips and shoulders."""
    left = joints[:, 0] - joints[:, 1]
    left /= np.linalg.norm(left, axis=-1, keepdims=True)
    up = 0.5 * (joints[:, 6] + joints[:, 7]) - 0.5 * (joints[:, 0] + joints[:, 1])
    up -= (up * left).sum(-1, keepdims=True) * left
    up /= np.linalg.norm(up, axis=-1, keepdims=True)
    return np.stack([left, up, np.cross(left, up)], 1)


def offset_corrected_pa_mpjpe(pred: np.ndarray, gt: np.ndarray) -> tuple[float, np.ndarray]:
    """Diagnostic (oracle): PA-MPJPE (mm) after removing each joint's mean residual expressed in
    the ground truth's body frame, i.e. the constant part of the error that comes from joint
    *definitions* (where a landmark model puts "the hip") rather than from the pose. Returns the
    error and the per-joint offsets (12, 3) in metres (body axes: left, up, forward-ish)."""
    aligned = similarity_procrustes(pred, gt)
    axes = body_frames(gt)
    resid = np.einsum("fab,fjb->fja", axes, aligned - gt)
    offsets = resid.mean(0)
    corrected = aligned - np.einsum("fab,ja->fjb", axes, offsets)
    return float(np.linalg.norm(corrected - gt, axis=-1).mean() * 1000.0), offsets
