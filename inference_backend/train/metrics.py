"""Pose/shape error metrics under TCMR's evaluation protocol (pure numpy; facts file §5).

Units: inputs in metres, outputs in millimetres (x 1000). Joint arrays are (N, J, 3) with N
frames. Per-frame errors are returned so callers can aggregate frame-weighted (TCMR
concatenates the per-frame values of all sequences, then averages).
"""

from __future__ import annotations

import numpy as np

from .joint_formats import COMMON_HIP_INDICES, H36M_TO_J14, MPII3D_PELVIS_INDEX

M2MM = 1000.0


def align_by_midhip(joints: np.ndarray, hips: tuple[int, int] = COMMON_HIP_INDICES) -> np.ndarray:
    """Subtract the mid-hip (mean of the two hip joints) from (N, J, 3) joints (common-14)."""
    pelvis = joints[:, list(hips), :].mean(axis=1, keepdims=True)
    return joints - pelvis


def align_by_joint(joints: np.ndarray, index: int = MPII3D_PELVIS_INDEX) -> np.ndarray:
    """Subtract one joint (the MPI-INF-3DHP pelvis, index 14 of mpii3d_test) from (N, J, 3)."""
    return joints - joints[:, index : index + 1, :]


def similarity_procrustes(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Best similarity transform (scale, rotation, translation) of ``pred`` onto ``gt``.

    pred, gt: (N, J, 3). Returns the transformed pred (N, J, 3). Per frame: remove means;
    K = X1 X2^T; K = U S V^T; Z = diag(1, 1, sign det(U V^T)); R = V Z U^T;
    s = trace(R K) / ||X1||_F^2; t = mu2 - s R mu1 (TCMR ``compute_similarity_transform``).
    """
    x1 = np.transpose(pred, (0, 2, 1)).astype(np.float64)  # (N, 3, J)
    x2 = np.transpose(gt, (0, 2, 1)).astype(np.float64)
    mu1 = x1.mean(axis=2, keepdims=True)
    mu2 = x2.mean(axis=2, keepdims=True)
    x1c = x1 - mu1
    x2c = x2 - mu2
    var1 = np.sum(x1c**2, axis=(1, 2))
    k = x1c @ np.transpose(x2c, (0, 2, 1))
    u, _, vt = np.linalg.svd(k)
    v = np.transpose(vt, (0, 2, 1))
    z = np.tile(np.eye(3), (pred.shape[0], 1, 1))
    z[:, 2, 2] = np.sign(np.linalg.det(u @ vt))
    r = v @ z @ np.transpose(u, (0, 2, 1))
    scale = np.trace(r @ k, axis1=1, axis2=2) / np.maximum(var1, 1e-12)
    t = mu2 - scale[:, None, None] * (r @ mu1)
    out = scale[:, None, None] * (r @ x1) + t
    return np.transpose(out, (0, 2, 1))


def mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-frame mean joint distance (N,) in mm; inputs already root-aligned, metres."""
    return np.linalg.norm(pred - gt, axis=-1).mean(axis=-1) * M2MM


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-frame MPJPE (N,) in mm after similarity Procrustes of pred onto gt."""
    return mpjpe(similarity_procrustes(pred, gt), gt)


def mpvpe(pred_verts: np.ndarray, gt_verts: np.ndarray) -> np.ndarray:
    """Per-frame mean vertex distance (N,) in mm; no alignment (both in SMPL's own frame)."""
    return np.linalg.norm(pred_verts - gt_verts, axis=-1).mean(axis=-1) * M2MM


def accel_error(
    pred: np.ndarray, gt: np.ndarray, visible: np.ndarray | None = None
) -> np.ndarray:
    """Acceleration error (mm/frame^2) of one sequence, frames 1..N-2 (first/last excluded).

    a_t = x_{t-1} - 2 x_t + x_{t+1}; error_t = mean over joints of ||a_pred - a_gt||.
    With ``visible`` (N,) bool, any second difference touching an invisible frame is dropped.
    Returns (M,) with M <= N - 2.
    """
    if pred.shape[0] < 3:
        return np.zeros(0)
    acc_gt = gt[:-2] - 2 * gt[1:-1] + gt[2:]
    acc_pred = pred[:-2] - 2 * pred[1:-1] + pred[2:]
    err = np.linalg.norm(acc_pred - acc_gt, axis=-1).mean(axis=-1) * M2MM
    if visible is None:
        return err
    vis = np.asarray(visible, dtype=bool).reshape(-1)
    keep = vis[:-2] & vis[1:-1] & vis[2:]
    return err[keep]


def acceleration(joints: np.ndarray) -> np.ndarray:
    """Plain acceleration magnitude per frame 1..N-2 (mm/frame^2), TCMR's ``compute_accel``."""
    if joints.shape[0] < 3:
        return np.zeros(0)
    acc = joints[:-2] - 2 * joints[1:-1] + joints[2:]
    return np.linalg.norm(acc, axis=-1).mean(axis=-1) * M2MM


def h36m_regressed_common14(verts: np.ndarray, j_regressor_h36m: np.ndarray) -> np.ndarray:
    """(N, 6890, 3) vertices -> (N, 14, 3) common joints via ``J_regressor_h36m`` (17, 6890)."""
    joints17 = np.einsum("jv,nvc->njc", j_regressor_h36m, verts)
    return joints17[:, list(H36M_TO_J14), :]


def sequence_errors(
    pred_joints: np.ndarray,
    gt_joints: np.ndarray,
    *,
    pelvis: str = "midhip",
    visible: np.ndarray | None = None,
    pred_verts: np.ndarray | None = None,
    gt_verts: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Per-frame errors of one sequence under TCMR's protocol.

    pred_joints/gt_joints: (N, 14, 3) common joints (pelvis='midhip') or (N, 17, 3) mpii3d_test
    joints (pelvis='mpii3d'), metres. visible: (N,) frames to score (MPI-INF valid_i); MPJPE/
    PA-MPJPE/MPVPE use visible frames, accel drops differences touching an invisible frame.
    """
    if pelvis == "midhip":
        pred_a, gt_a = align_by_midhip(pred_joints), align_by_midhip(gt_joints)
    elif pelvis == "mpii3d":
        pred_a, gt_a = align_by_joint(pred_joints), align_by_joint(gt_joints)
    else:
        raise ValueError(f"unknown pelvis '{pelvis}'")
    vis = np.ones(pred_a.shape[0], bool) if visible is None else np.asarray(visible, bool).ravel()
    out = {
        "mpjpe": mpjpe(pred_a[vis], gt_a[vis]),
        "pa_mpjpe": pa_mpjpe(pred_a[vis], gt_a[vis]),
        "accel_err": accel_error(pred_a, gt_a, None if visible is None else vis),
    }
    if pred_verts is not None and gt_verts is not None:
        out["mpvpe"] = mpvpe(pred_verts[vis], gt_verts[vis])
    return out


def aggregate(per_sequence: list[dict[str, np.ndarray]]) -> dict[str, float]:
    """Frame-weighted means: concatenate every sequence's per-frame values, then average."""
    keys = sorted({k for d in per_sequence for k in d})
    out: dict[str, float] = {}
    for key in keys:
        values = [d[key] for d in per_sequence if key in d]
        flat = np.concatenate(values) if values else np.zeros(0)
        out[key] = float(flat.mean()) if flat.size else float("nan")
    return out
