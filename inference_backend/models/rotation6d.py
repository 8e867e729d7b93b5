"""Rotation representations used by the SPIN-family regressor (pure torch maths, no I/O).

The 6D layout is SPIN's (Zhou et al. CVPR'19 as implemented by SPIN/VIBE/TCMR): each 6-vector
is reshaped **row-major** to a (3, 2) matrix; its two columns a1 = v[0::2], a2 = v[1::2] are
Gram-Schmidt orthonormalised into the first two columns of R, the third is their cross product.
Getting this layout wrong silently breaks SPIN's checkpoint and the mean pose, so the inverse
(`rotmat_to_rot6d`) is defined to round-trip exactly with it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_EPS = 1e-6


def rot6d_to_rotmat(x: torch.Tensor) -> torch.Tensor:
    """(..., 6k) 6D vectors (SPIN layout) -> (..., k, 3, 3) rotation matrices, columns [b1 b2 b3].

    A trailing dimension of 6 gives (..., 1, 3, 3); callers usually pass (B, 144) -> (B, 24, 3, 3).
    """
    lead = x.shape[:-1]
    m = x.reshape(*lead, -1, 3, 2)
    a1 = m[..., 0]
    a2 = m[..., 1]
    b1 = F.normalize(a1, dim=-1, eps=_EPS)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1, eps=_EPS)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)


def rotmat_to_rot6d(rotmat: torch.Tensor) -> torch.Tensor:
    """(..., k, 3, 3) rotation matrices -> (..., 6k): first two columns, row-major (3, 2) flattened."""
    lead = rotmat.shape[:-3]
    return rotmat[..., :, :2].reshape(*lead, -1)


def axis_angle_to_rotmat(aa: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle (radians, length = angle) -> (..., 3, 3) via Rodrigues' formula."""
    angle = torch.linalg.norm(aa, dim=-1, keepdim=True)
    small = angle < 1e-8
    axis = aa / torch.where(small, torch.ones_like(angle), angle)
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack((zero, -z, y, z, zero, -x, -y, x, zero), dim=-1).reshape(*aa.shape[:-1], 3, 3)
    s = torch.sin(angle)[..., None]
    c = torch.cos(angle)[..., None]
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand_as(k)
    r = eye + s * k + (1.0 - c) * (k @ k)
    # First-order expansion near zero keeps gradients finite and exact to O(angle^2).
    kx = torch.stack(
        (zero, -aa[..., 2], aa[..., 1], aa[..., 2], zero, -aa[..., 0], -aa[..., 1], aa[..., 0], zero),
        dim=-1,
    ).reshape(*aa.shape[:-1], 3, 3)
    return torch.where(small[..., None], eye + kx, r)


def rotmat_to_quaternion(r: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 4) unit quaternion [w, x, y, z] with w >= 0 (Shepperd's method)."""
    m00, m11, m22 = r[..., 0, 0], r[..., 1, 1], r[..., 2, 2]
    trace = m00 + m11 + m22
    cands = torch.stack(
        (
            torch.stack((1 + trace, r[..., 2, 1] - r[..., 1, 2], r[..., 0, 2] - r[..., 2, 0],
                         r[..., 1, 0] - r[..., 0, 1]), -1),
            torch.stack((r[..., 2, 1] - r[..., 1, 2], 1 + m00 - m11 - m22,
                         r[..., 0, 1] + r[..., 1, 0], r[..., 0, 2] + r[..., 2, 0]), -1),
            torch.stack((r[..., 0, 2] - r[..., 2, 0], r[..., 0, 1] + r[..., 1, 0],
                         1 - m00 + m11 - m22, r[..., 1, 2] + r[..., 2, 1]), -1),
            torch.stack((r[..., 1, 0] - r[..., 0, 1], r[..., 0, 2] + r[..., 2, 0],
                         r[..., 1, 2] + r[..., 2, 1], 1 - m00 - m11 + m22), -1),
        ),
        dim=-2,
    )  # (..., 4 candidates, 4)
    diag = torch.stack((trace, m00, m11, m22), dim=-1)
    best = diag.argmax(dim=-1)
    q = torch.gather(cands, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
    q = F.normalize(q, dim=-1, eps=1e-12)
    return torch.where(q[..., :1] < 0, -q, q)


def quaternion_to_axis_angle(q: torch.Tensor) -> torch.Tensor:
    """(..., 4) [w, x, y, z] -> (..., 3) axis-angle with angle in [0, pi]."""
    q = torch.where(q[..., :1] < 0, -q, q)
    v = q[..., 1:]
    sin_half = torch.linalg.norm(v, dim=-1, keepdim=True)
    angle = 2.0 * torch.atan2(sin_half, q[..., :1])
    # angle / sin(angle/2) -> 2 as angle -> 0
    scale = torch.where(sin_half > 1e-8, angle / sin_half.clamp_min(1e-12), torch.full_like(angle, 2.0))
    return v * scale


def rotmat_to_axis_angle(r: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 3) axis-angle; never NaN (identity -> zeros)."""
    aa = quaternion_to_axis_angle(rotmat_to_quaternion(r))
    return torch.nan_to_num(aa, nan=0.0)
