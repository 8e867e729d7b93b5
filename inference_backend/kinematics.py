"""Rotation maths and SMPL forward kinematics, vectorised over any leading batch axes.

Conventions: rotation matrices act on column vectors (``v' = R @ v``); axis-angle vectors have
length = angle in radians; quaternions are ``(w, x, y, z)`` with unit norm. Pure numpy.
"""

from __future__ import annotations

import numpy as np

from inference_backend.smpl_constants import SMPL_PARENTS

_EPS = 1e-12


def skew(v: np.ndarray) -> np.ndarray:
    """Cross-product matrices: (..., 3) -> (..., 3, 3) with ``skew(a) @ b == cross(a, b)``."""
    v = np.asarray(v, dtype=np.float64)
    out = np.zeros(v.shape[:-1] + (3, 3))
    out[..., 0, 1] = -v[..., 2]
    out[..., 0, 2] = v[..., 1]
    out[..., 1, 0] = v[..., 2]
    out[..., 1, 2] = -v[..., 0]
    out[..., 2, 0] = -v[..., 1]
    out[..., 2, 1] = v[..., 0]
    return out


def rodrigues(axis_angle: np.ndarray) -> np.ndarray:
    """Axis-angle (..., 3) -> rotation matrices (..., 3, 3).

    Uses Taylor series of sin(t)/t and (1-cos t)/t^2 below 1e-4 rad, so it is exact to float64
    precision at and near zero. ``R = I + a K + b K^2`` with ``K = skew(v)`` is written out as
    ``(1 - b t^2) I + a K + b v v^T`` (K^2 = v v^T - t^2 I): one (..., 3, 3) temporary.
    """
    aa = np.asarray(axis_angle, dtype=np.float64)
    theta2 = np.sum(aa * aa, axis=-1)
    theta = np.sqrt(theta2)
    small = theta < 1e-4
    safe = np.where(small, 1.0, theta)
    a = np.where(small, 1.0 - theta2 / 6.0, np.sin(safe) / safe)
    b = np.where(small, 0.5 - theta2 / 24.0, (1.0 - np.cos(safe)) / (safe * safe))
    x, y, z = aa[..., 0], aa[..., 1], aa[..., 2]
    out = (b[..., None, None] * aa[..., :, None]) * aa[..., None, :]
    diag = 1.0 - b * theta2
    ax, ay, az = a * x, a * y, a * z
    out[..., 0, 0] += diag
    out[..., 1, 1] += diag
    out[..., 2, 2] += diag
    out[..., 0, 1] -= az
    out[..., 1, 0] += az
    out[..., 0, 2] += ay
    out[..., 2, 0] -= ay
    out[..., 1, 2] -= ax
    out[..., 2, 1] += ax
    return out


def matrix_to_quat(rot: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) -> unit quaternions (..., 4) (w >= 0 not enforced).

    Shepperd's method: picks the largest of (w, x, y, z) as pivot, so it is stable for every
    angle including pi. Each matrix is converted by its own pivot's branch only.
    """
    m = np.asarray(rot, dtype=np.float64)
    batch = m.shape[:-2]
    flat = m.reshape(-1, 3, 3)
    m00, m11, m22 = flat[:, 0, 0], flat[:, 1, 1], flat[:, 2, 2]
    tr = m00 + m11 + m22
    pivot = np.argmax(np.stack([tr, m00, m11, m22], axis=-1), axis=-1)
    q = np.empty((flat.shape[0], 4))
    for idx in range(4):
        sel = np.flatnonzero(pivot == idx)
        if sel.size == 0:
            continue
        r = flat[sel]
        d00, d11, d22 = r[:, 0, 0], r[:, 1, 1], r[:, 2, 2]
        m01, m10, m02 = r[:, 0, 1], r[:, 1, 0], r[:, 0, 2]
        m20, m12, m21 = r[:, 2, 0], r[:, 1, 2], r[:, 2, 1]
        if idx == 0:
            s = np.sqrt(np.maximum(1.0 + d00 + d11 + d22, _EPS)) * 2.0
            cols = (0.25 * s, (m21 - m12) / s, (m02 - m20) / s, (m10 - m01) / s)
        elif idx == 1:
            s = np.sqrt(np.maximum(1.0 + d00 - d11 - d22, _EPS)) * 2.0
            cols = ((m21 - m12) / s, 0.25 * s, (m01 + m10) / s, (m02 + m20) / s)
        elif idx == 2:
            s = np.sqrt(np.maximum(1.0 - d00 + d11 - d22, _EPS)) * 2.0
            cols = ((m02 - m20) / s, (m01 + m10) / s, 0.25 * s, (m12 + m21) / s)
        else:
            s = np.sqrt(np.maximum(1.0 - d00 - d11 + d22, _EPS)) * 2.0
            cols = ((m10 - m01) / s, (m02 + m20) / s, (m12 + m21) / s, 0.25 * s)
        q[sel] = np.stack(cols, axis=-1)
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    return q.reshape(batch + (4,))


def quat_to_matrix(quat: np.ndarray) -> np.ndarray:
    """Quaternions (..., 4) (normalised here) -> rotation matrices (..., 3, 3)."""
    q = np.asarray(quat, dtype=np.float64)
    q = q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), _EPS)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    out = np.empty(q.shape[:-1] + (3, 3))
    out[..., 0, 0] = 1 - 2 * (y * y + z * z)
    out[..., 0, 1] = 2 * (x * y - w * z)
    out[..., 0, 2] = 2 * (x * z + w * y)
    out[..., 1, 0] = 2 * (x * y + w * z)
    out[..., 1, 1] = 1 - 2 * (x * x + z * z)
    out[..., 1, 2] = 2 * (y * z - w * x)
    out[..., 2, 0] = 2 * (x * z - w * y)
    out[..., 2, 1] = 2 * (y * z + w * x)
    out[..., 2, 2] = 1 - 2 * (x * x + y * y)
    return out


def quat_to_axis_angle(quat: np.ndarray) -> np.ndarray:
    """Quaternions (..., 4) -> axis-angle (..., 3) with angle in [0, pi] (atan2: stable at 0, pi)."""
    q = np.asarray(quat, dtype=np.float64)
    q = q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), _EPS)
    q = np.where(q[..., :1] < 0, -q, q)
    vec = q[..., 1:]
    sin_half = np.linalg.norm(vec, axis=-1)
    angle = 2.0 * np.arctan2(sin_half, q[..., 0])
    small = sin_half < 1e-8
    scale = np.where(small, 2.0 / np.maximum(q[..., 0], _EPS), angle / np.where(small, 1.0, sin_half))
    return vec * scale[..., None]


def axis_angle_to_quat(axis_angle: np.ndarray) -> np.ndarray:
    """Axis-angle (..., 3) -> unit quaternions (..., 4) with w >= 0 for angles <= pi."""
    aa = np.asarray(axis_angle, dtype=np.float64)
    theta = np.linalg.norm(aa, axis=-1)
    small = theta < 1e-6
    safe = np.where(small, 1.0, theta)
    s = np.where(small, 0.5 - theta * theta / 48.0, np.sin(0.5 * safe) / safe)
    return np.concatenate([np.cos(0.5 * theta)[..., None], aa * s[..., None]], axis=-1)


def log_map(rot: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) -> axis-angle (..., 3); stable near 0 and near pi."""
    return quat_to_axis_angle(matrix_to_quat(rot))


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a * b`` of quaternions (..., 4)."""
    aw, ax, ay, az = np.moveaxis(np.asarray(a, dtype=np.float64), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b, dtype=np.float64), -1, 0)
    return np.stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ], axis=-1)


def quat_sign_continuity(quat: np.ndarray, axis: int = 0) -> np.ndarray:
    """Flip signs along ``axis`` (time) so consecutive quaternions have positive dot products.

    The rotation is unchanged (q and -q are the same rotation) but the 4-vector path becomes
    continuous, which linear filtering and interpolation need.
    """
    q = np.moveaxis(np.array(quat, dtype=np.float64, copy=True), axis, 0)
    if q.shape[0] < 2:
        return np.moveaxis(q, 0, axis)
    dots = np.sum(q[1:] * q[:-1], axis=-1)
    flips = np.cumsum(dots < 0, axis=0) % 2 == 1
    q[1:][flips] *= -1.0
    return np.moveaxis(q, 0, axis)


def quat_slerp(q0: np.ndarray, q1: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """Spherical interpolation between quaternions (..., 4), shortest path; t broadcasts."""
    q0 = np.asarray(q0, dtype=np.float64)
    q1 = np.asarray(q1, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)[..., None]
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)
    dot = np.abs(dot)
    omega = np.arccos(np.clip(dot, -1.0, 1.0))
    so = np.sin(omega)
    lin = so < 1e-6
    safe = np.where(lin, 1.0, so)
    w0 = np.where(lin, 1.0 - t, np.sin((1.0 - t) * omega) / safe)
    w1 = np.where(lin, t, np.sin(t * omega) / safe)
    out = w0 * q0 + w1 * q1
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


def geodesic_deg(rot_a: np.ndarray, rot_b: np.ndarray) -> np.ndarray:
    """Geodesic angle in degrees between rotation matrices (..., 3, 3)."""
    rel = np.swapaxes(rot_a, -1, -2) @ rot_b
    return np.degrees(np.linalg.norm(log_map(rel), axis=-1))


def project_to_so3(mat: np.ndarray) -> np.ndarray:
    """Nearest rotation (SVD) of matrices (..., 3, 3)."""
    u, _, vt = np.linalg.svd(mat)
    det = np.linalg.det(u @ vt)
    u = u.copy()
    u[..., :, 2] *= np.sign(det)[..., None]
    return u @ vt


def forward_kinematics(rest_joints: np.ndarray, local_rots: np.ndarray,
                       transl: np.ndarray | None = None,
                       parents: tuple[int, ...] = SMPL_PARENTS) -> tuple[np.ndarray, np.ndarray]:
    """SMPL forward kinematics (identical to smplx's ``batch_rigid_transform``).

    rest_joints: (J, 3) rest joints in the SMPL body frame. local_rots: (..., J, 3, 3) where
    index 0 is the global orientation. transl: (..., 3) or None. Returns ``(joints (..., J, 3),
    global_rots (..., J, 3, 3))`` with ``joints[..., 0] == rest_joints[0] + transl``.
    """
    rest = np.asarray(rest_joints, dtype=np.float64)
    local = np.asarray(local_rots, dtype=np.float64)
    n = len(parents)
    glob = np.empty_like(local)
    pos = np.empty(local.shape[:-2] + (3,))
    glob[..., 0, :, :] = local[..., 0, :, :]
    pos[..., 0, :] = rest[0]
    for j in range(1, n):
        p = parents[j]
        glob[..., j, :, :] = glob[..., p, :, :] @ local[..., j, :, :]
        pos[..., j, :] = pos[..., p, :] + np.einsum("...ab,b->...a", glob[..., p, :, :],
                                                     rest[j] - rest[p])
    if transl is not None:
        pos = pos + np.asarray(transl, dtype=np.float64)[..., None, :]
    return pos, glob


def fk_axis_angle(rest_joints: np.ndarray, global_orient: np.ndarray, body_pose: np.ndarray,
                  transl: np.ndarray, chunk_frames: int = 1024) -> np.ndarray:
    """Motion-file FK: (F,3), (F,23,3), (F,3) axis-angle parameters -> joints3d (F,24,3).

    Float64. Frames are posed ``chunk_frames`` at a time, so besides the output only one chunk's
    (chunk, 24, 3, 3) rotations are held (the results do not depend on the chunk size).
    """
    go, bp = np.asarray(global_orient), np.asarray(body_pose)
    tr = np.asarray(transl)
    if go.ndim != 2 or len(go) <= chunk_frames:
        aa = np.concatenate([go[..., None, :], bp], axis=-2)
        joints, _ = forward_kinematics(rest_joints, rodrigues(aa), tr)
        return joints
    n = len(go)
    tr = np.broadcast_to(tr, (n, 3))
    out = np.empty((n, bp.shape[-2] + 1, 3))
    for s in range(0, n, max(1, chunk_frames)):
        e = min(n, s + chunk_frames)
        aa = np.concatenate([go[s:e, None, :], bp[s:e]], axis=-2)
        out[s:e], _ = forward_kinematics(rest_joints, rodrigues(aa), tr[s:e])
    return out


def descendants_mask(parents: tuple[int, ...] = SMPL_PARENTS) -> np.ndarray:
    """(J, J) bool: ``mask[k, j]`` is True when joint k is a strict descendant of joint j."""
    n = len(parents)
    mask = np.zeros((n, n), dtype=bool)
    for k in range(n):
        p = parents[k]
        while p >= 0:
            mask[k, p] = True
            p = parents[p]
    return mask

