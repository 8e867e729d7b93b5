"""Zero-phase, speed-adaptive temporal smoothing of SMPL motions (offline, so no lag).

The filter is a local-linear regression with Gaussian weights in *time* (not samples), so
variable frame rate is handled and a linear trend passes unchanged (no edge bias). In the
interior of evenly sampled data it equals a Gaussian kernel with positive weights, so a step is
never overshot, and it is symmetric, so it adds no lag. The kernel width shrinks where the
signal moves fast (speed measured on a pre-smoothed copy): jitter at rest is removed strongly,
fast motion keeps its amplitude. Rotations are filtered as quaternions with sign continuity and
renormalised (an accurate approximation of the SO(3) mean for the small spreads inside a
kernel). Runs of invalid frames are never smeared into: each run of valid frames is filtered
on its own.

``smooth_person`` is the entry point shared by all solvers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from inference_backend.kinematics import (
    axis_angle_to_quat,
    fk_axis_angle,
    quat_sign_continuity,
    quat_to_axis_angle,
)
from inference_backend.motion_types import PersonMotion


@dataclass(frozen=True)
class SmoothingPreset:
    """Kernel widths (s) at rest and at full speed; speeds (rad/s, m/s) where it is halfway."""

    sigma_rest_s: float
    sigma_fast_s: float
    rot_speed_ref: float = 4.0       # rad/s
    transl_speed_ref: float = 1.2    # m/s
    rot_accel_ref: float = 40.0      # rad/s^2
    transl_accel_ref: float = 10.0   # m/s^2


PRESETS: dict[str, SmoothingPreset | None] = {
    "none": None,
    "light": SmoothingPreset(sigma_rest_s=0.03, sigma_fast_s=0.022),
    "medium": SmoothingPreset(sigma_rest_s=0.045, sigma_fast_s=0.035),
    "strong": SmoothingPreset(sigma_rest_s=0.08, sigma_fast_s=0.05),
}


def get_preset(name: str) -> SmoothingPreset | None:
    """Preset by name; a clear error for unknown names."""
    if name not in PRESETS:
        raise ValueError(f"unknown smoothing preset {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]


def valid_runs(valid: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) index ranges of consecutive True values."""
    v = np.asarray(valid, bool).astype(np.int8)
    edges = np.diff(np.concatenate([[0], v, [0]]))
    return list(zip(np.where(edges == 1)[0].tolist(), np.where(edges == -1)[0].tolist(),
                    strict=True))


def local_linear_smooth(values: np.ndarray, times: np.ndarray, sigma: np.ndarray | float,
                        max_radius: int = 40) -> np.ndarray:
    """Gaussian-weighted local-linear regression of values (F, ...) sampled at times (F,).

    sigma: kernel width in seconds: a scalar, per output sample (F,), or per sample and
    column (any shape broadcastable to values, e.g. (F, J, 1) for values (F, J, 4)). Each
    column's kernel is cut at 3 of its largest sigma (at most ``max_radius`` samples).
    Returns an array like values. Memory is O(values): the window is walked offset by offset.
    """
    x = np.asarray(values, float)
    t = np.asarray(times, float)
    n = len(t)
    if n < 3:
        return x.copy()
    sig = np.asarray(sigma, float)
    if sig.ndim == 1:
        sig = sig.reshape((n,) + (1,) * (x.ndim - 1))
    sig = np.maximum(sig, 1e-6)
    dt = float(np.median(np.diff(t)))
    # Per column: the window radius its own widest kernel needs.
    col_max = sig.max(axis=0) if sig.ndim == x.ndim else sig.max()
    radius = np.minimum(max_radius, np.ceil(3.0 * col_max / max(dt, 1e-6))).astype(int)
    r_max = int(np.max(radius))
    if r_max < 1:
        return x.copy()
    frames = np.arange(n)
    shape = (n,) + (1,) * (x.ndim - 1)
    s0 = s1 = s2 = 0.0
    x0 = np.zeros_like(x)
    x1 = np.zeros_like(x)
    for off in range(-r_max, r_max + 1):
        src = frames + off
        inside = ((src >= 0) & (src < n)).reshape(shape)
        src = np.clip(src, 0, n - 1)
        tau = (t[src] - t).reshape(shape)                      # (F, 1, ...)
        w = np.exp(-0.5 * (tau / sig) ** 2) * inside
        if np.ndim(radius) and (radius < abs(off)).any():
            w = w * (radius >= abs(off))
        xs = x[src]
        s0 = s0 + w
        s1 = s1 + w * tau
        s2 = s2 + w * tau * tau
        x0 += w * xs
        x1 += (w * tau) * xs
    # Weighted means and (co)variances about the kernel's centre of mass; estimate at tau = 0.
    tbar = s1 / s0
    xbar = x0 / s0
    var = s2 / s0 - tbar * tbar
    cov = x1 / s0 - tbar * xbar
    slope = cov / np.maximum(var, 1e-12)
    return xbar - slope * tbar


def adaptive_sigma(speed: np.ndarray, preset: SmoothingPreset, speed_ref: float,
                   accel: np.ndarray | None = None, accel_ref: float = 1.0) -> np.ndarray:
    """Per-sample kernel width: sigma_rest at rest, tending to sigma_fast where the motion is
    fast or sharply curved (speed / speed_ref and accel / accel_ref)."""
    s2 = (np.asarray(speed, float) / speed_ref) ** 2
    if accel is not None:
        s2 = s2 + (np.asarray(accel, float) / accel_ref) ** 2
    mix = 1.0 / (1.0 + s2)
    return preset.sigma_fast_s + (preset.sigma_rest_s - preset.sigma_fast_s) * mix


def _speed(values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Magnitude of the time derivative (F,) of values (F, D) (central differences)."""
    if len(times) < 2:
        return np.zeros(len(times))
    grad = np.gradient(values, times, axis=0)
    return np.linalg.norm(grad, axis=-1)


def _accel(values: np.ndarray, times: np.ndarray) -> np.ndarray:
    if len(times) < 3:
        return np.zeros(len(times))
    vel = np.gradient(values, times, axis=0)
    return np.linalg.norm(np.gradient(vel, times, axis=0), axis=-1)


def smooth_signal(values: np.ndarray, times: np.ndarray, preset: SmoothingPreset,
                  speed_ref: float, accel_ref: float = 10.0) -> np.ndarray:
    """Speed-adaptive zero-phase smoothing of one signal (F, D) on one valid run."""
    pre = local_linear_smooth(values, times, preset.sigma_rest_s)
    sig = adaptive_sigma(_speed(pre, times), preset, speed_ref, _accel(pre, times), accel_ref)
    return local_linear_smooth(values, times, sig)


def smooth_quaternions(quats: np.ndarray, times: np.ndarray, preset: SmoothingPreset) -> np.ndarray:
    """Smooth unit quaternions (F, J, 4) per joint with sign continuity; renormalised.

    Every joint gets its own speed-adaptive kernel; all joints are filtered in one pass."""
    q = quat_sign_continuity(quats, axis=0)
    # Angular speed of a unit quaternion path is 2 |dq/dt|.
    pre = local_linear_smooth(q, times, preset.sigma_rest_s)
    sig = adaptive_sigma(2.0 * _speed(pre, times), preset, preset.rot_speed_ref,
                         2.0 * _accel(pre, times), preset.rot_accel_ref)     # (F, J)
    out = local_linear_smooth(q, times, sig[..., None])
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


def hold_invalid(arr: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Invalid frames take the value of the nearest valid frame (ties: the earlier one)."""
    v = np.asarray(valid, bool)
    if v.all() or not v.any():
        return arr
    idx = np.arange(len(v))
    good = idx[v]
    pos = np.searchsorted(good, idx)
    left = good[np.clip(pos - 1, 0, len(good) - 1)]
    right = good[np.clip(pos, 0, len(good) - 1)]
    nearest = np.where(np.abs(idx - left) <= np.abs(right - idx), left, right)
    out = arr.copy()
    out[~v] = arr[nearest[~v]]
    return out


def smooth_person(person: PersonMotion, timestamps: np.ndarray, preset: str | SmoothingPreset
                  ) -> PersonMotion:
    """Smooth rotations (on SO(3) via quaternions) and translation of a person, per valid run.

    timestamps: (F,) seconds. preset: a name in ``PRESETS`` or a ``SmoothingPreset``. Invalid
    frames are left out of every kernel and then hold the nearest valid value. ``joints3d`` is
    recomputed by FK so the motion-file identity holds. Returns a new PersonMotion.
    """
    p = get_preset(preset) if isinstance(preset, str) else preset
    if p is None:
        return person
    t = np.asarray(timestamps, float)
    aa = np.concatenate([person.global_orient[:, None, :], person.body_pose], axis=1)
    quats = axis_angle_to_quat(aa.astype(np.float64))
    transl = person.transl.astype(np.float64).copy()
    for start, stop in valid_runs(person.valid):
        if stop - start < 3:
            continue
        quats[start:stop] = smooth_quaternions(quats[start:stop], t[start:stop], p)
        transl[start:stop] = smooth_signal(transl[start:stop], t[start:stop], p,
                                           p.transl_speed_ref, p.transl_accel_ref)
    quats = hold_invalid(quats, person.valid)
    transl = hold_invalid(transl, person.valid)
    aa = quat_to_axis_angle(quats)
    joints = fk_axis_angle(person.rest_joints, aa[:, 0], aa[:, 1:], transl)
    return replace(person, global_orient=aa[:, 0].astype(np.float32),
                   body_pose=aa[:, 1:].astype(np.float32), transl=transl.astype(np.float32),
                   joints3d=joints.astype(np.float32))
