"""World root trajectory: gap bridging, feet on the ground, less foot sliding. Reusable by
every solver. World frame: Y up, ground y = 0, metres; times in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inference_backend.contacts import CHANNEL_CLEARANCE_M  # re-exported (solver_str uses it)
from inference_backend.kinematics import (
    matrix_to_quat,
    quat_sign_continuity,
    quat_slerp,
    quat_to_matrix,
)
from inference_backend.smoothing import local_linear_smooth
from inference_backend.smpl_constants import CONTACT_JOINTS


@dataclass(frozen=True)
class TrajectoryConfig:
    """Bounds of the root corrections."""

    ground_snap_max_m: float = 0.25    # only surfaces this close to y = 0 count as the ground
    ground_offset_sigma_s: float = 0.15
    slide_max_offset_m: float = 0.08
    slide_highpass_sigma_s: float = 1.0
    contact_threshold: float = 0.5


def bridge_gaps(present: np.ndarray, times: np.ndarray, max_gap_s: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Plan how to fill frames without observations.

    Returns (valid (F,), src_a (F,), src_b (F,), alpha (F,)): every frame's value is
    ``interp(value[src_a], value[src_b], alpha)``. Observed frames point to themselves; inner
    gaps whose missing time (frames x typical interval) is <= max_gap_s are interpolated and
    valid; longer gaps and the ends hold the nearest observed frame and are invalid.
    """
    pres = np.asarray(present, bool)
    t = np.asarray(times, float)
    n = len(pres)
    idx = np.arange(n)
    valid = pres.copy()
    src_a, src_b, alpha = idx.copy(), idx.copy(), np.zeros(n)
    if not pres.any():
        return np.zeros(n, bool), src_a, src_b, alpha
    good = idx[pres]
    pos = np.searchsorted(good, idx)
    left = good[np.clip(pos - 1, 0, len(good) - 1)]
    right = good[np.clip(pos, 0, len(good) - 1)]
    dt = float(np.median(np.diff(t))) if n > 1 else 0.0
    for i in idx[~pres]:
        lo, hi = left[i], right[i]
        inner = lo < i < hi
        if inner and (t[hi] - t[lo] - dt) <= max_gap_s + 1e-9:
            src_a[i], src_b[i] = lo, hi
            alpha[i] = (t[i] - t[lo]) / (t[hi] - t[lo])
            valid[i] = True
        else:
            if i < good[0]:
                near = good[0]
            elif i > good[-1]:
                near = good[-1]
            else:
                near = lo if t[i] - t[lo] <= t[hi] - t[i] else hi
            src_a[i] = src_b[i] = near
    return valid, src_a, src_b, alpha


def fill_rotations(rots: np.ndarray, src_a: np.ndarray, src_b: np.ndarray, alpha: np.ndarray
                   ) -> np.ndarray:
    """Rotations (F, J, 3, 3) filled by slerp according to ``bridge_gaps``."""
    q = quat_sign_continuity(matrix_to_quat(rots), axis=0)
    filled = quat_slerp(q[src_a], q[src_b], np.broadcast_to(alpha[:, None], q.shape[:2]))
    return quat_to_matrix(filled)


def fill_linear(values: np.ndarray, src_a: np.ndarray, src_b: np.ndarray, alpha: np.ndarray
                ) -> np.ndarray:
    """Values (F, ...) filled by linear interpolation according to ``bridge_gaps``."""
    a = alpha.reshape((-1,) + (1,) * (values.ndim - 1))
    return (1 - a) * values[src_a] + a * values[src_b]


def _interp_over(values: np.ndarray, known: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Linear interpolation (holding the ends) of values (F,) known where ``known``."""
    if not known.any():
        return np.zeros_like(values)
    return np.interp(times, times[known], values[known])


def ground_offset(joints: np.ndarray, contacts: np.ndarray, times: np.ndarray,
                  config: TrajectoryConfig = TrajectoryConfig()) -> np.ndarray:
    """Vertical root offset (F,) that puts the contact feet's soles at y = 0.

    joints: (F, 24, 3) world; contacts: (F, 4). On frames with a contact, the offset is minus
    the mean sole height of the contacting channels (joint height - ``CHANNEL_CLEARANCE_M``),
    ignoring surfaces more than ``ground_snap_max_m`` from the ground (a platform stays a
    platform). Between contacts it is interpolated, then smoothed over
    ``ground_offset_sigma_s``, so it changes gently.
    """
    h = joints[:, list(CONTACT_JOINTS), 1] - np.asarray(CHANNEL_CLEARANCE_M)   # (F, 4)
    on = contacts >= config.contact_threshold
    near = np.abs(h) <= config.ground_snap_max_m
    use = on & near
    cnt = use.sum(1)
    known = cnt > 0
    target = np.where(known, -(np.where(use, h, 0).sum(1) / np.maximum(cnt, 1)), 0.0)
    if not known.any():
        return np.zeros(len(times))
    off = _interp_over(target, known, times)
    off = local_linear_smooth(off[:, None], times, config.ground_offset_sigma_s)[:, 0]
    return np.clip(off, -config.ground_snap_max_m, config.ground_snap_max_m)


def slide_offset(joints: np.ndarray, contacts: np.ndarray, times: np.ndarray,
                 config: TrajectoryConfig = TrajectoryConfig()) -> np.ndarray:
    """Horizontal root offset (F, 2) (x, z) that cancels the contact feet's sliding.

    The per-frame horizontal displacement of the contacting channels (weighted by contact
    probability) is subtracted cumulatively; the slow part of the accumulated correction is
    removed (high-pass, ``slide_highpass_sigma_s``) so the long-term path still follows the
    observations, and the result is bounded by ``slide_max_offset_m``.
    """
    xz = joints[:, list(CONTACT_JOINTS)][..., [0, 2]]               # (F, 4, 2)
    n = len(times)
    if n < 3:
        return np.zeros((n, 2))
    w = np.where(contacts >= config.contact_threshold, contacts, 0.0)
    both = np.minimum(w[1:], w[:-1])                                  # contact on both frames
    disp = xz[1:] - xz[:-1]
    num = (both[..., None] * disp).sum(1)
    den = both.sum(1)
    step = np.where(den[:, None] > 0, num / np.maximum(den, 1e-9)[:, None], 0.0)
    corr = np.concatenate([np.zeros((1, 2)), -np.cumsum(step, axis=0)])
    slow = local_linear_smooth(corr, times, config.slide_highpass_sigma_s)
    out = corr - slow
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    scale = np.minimum(1.0, config.slide_max_offset_m / np.maximum(norm, 1e-9))
    return out * scale
