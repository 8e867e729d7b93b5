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

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial

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


#: Frames computed together by the chunked filters (each chunk also reads its kernel's support
#: on both sides, so results do not depend on it): bounds the working memory of long videos.
CHUNK_FRAMES = 512


def _frame_chunks(n: int, chunk: int) -> list[tuple[int, int]]:
    step = max(1, int(chunk))
    return [(s, min(n, s + step)) for s in range(0, n, step)]


def _median_dt(times: np.ndarray) -> float:
    return float(np.median(np.diff(times)))


def _kernel_sigma(sigma: np.ndarray | float, n: int, ndim: int) -> np.ndarray:
    """Kernel widths as used by the filter: a per-sample (F,) sigma gets trailing unit axes;
    floored at 1 us."""
    sig = np.asarray(sigma, float)
    if sig.ndim == 1:
        sig = sig.reshape((n,) + (1,) * (ndim - 1))
    return np.maximum(sig, 1e-6)


def _kernel_radius(sig: np.ndarray, ndim: int, dt: float, max_radius: int) -> np.ndarray:
    """Window radius (samples) per column: 3 of the column's widest kernel, <= max_radius."""
    col_max = sig.max(axis=0) if sig.ndim == ndim else sig.max()
    return np.minimum(max_radius, np.ceil(3.0 * col_max / max(dt, 1e-6))).astype(int)


def _lls_window(x: np.ndarray, t: np.ndarray, sig: np.ndarray, dt: float,
                radius: np.ndarray) -> np.ndarray:
    """The local-linear filter on one window of samples x (W, ...) at t (W,) with kernel widths
    sig (broadcastable to x, leading axis W or 1) and per-column radius (from the whole signal,
    so a window's samples far enough from its ends get exactly the whole signal's values)."""
    r_max = int(np.max(radius))
    if r_max < 1:
        return x.copy()
    n = len(t)
    frames = np.arange(n)
    shape = (n,) + (1,) * (x.ndim - 1)
    s0 = s1 = s2 = 0.0
    x0 = np.zeros_like(x)
    x1 = np.zeros_like(x)
    for off in range(-r_max, r_max + 1):
        src = frames + off
        inside = ((src >= 0) & (src < n)).reshape(shape)
        src = np.clip(src, 0, n - 1)
        tau = (t[src] - t).reshape(shape)                      # (W, 1, ...)
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


def _per_sample(sig: np.ndarray, ndim: int, n: int, a: int, b: int) -> np.ndarray:
    """Rows a:b of a kernel-width array that has one row per sample (else it broadcasts)."""
    return sig[a:b] if sig.ndim == ndim and sig.shape[0] == n else sig


def local_linear_smooth(values: np.ndarray, times: np.ndarray, sigma: np.ndarray | float,
                        max_radius: int = 40, chunk_frames: int = CHUNK_FRAMES) -> np.ndarray:
    """Gaussian-weighted local-linear regression of values (F, ...) sampled at times (F,).

    sigma: kernel width in seconds: a scalar, per output sample (F,), or per sample and
    column (any shape broadcastable to values, e.g. (F, J, 1) for values (F, J, 4)). Each
    column's kernel is cut at 3 of its largest sigma (at most ``max_radius`` samples).
    Returns an array like values. Working memory is O(chunk_frames) besides the output: frames
    are filtered ``chunk_frames`` at a time, each chunk reading its kernel's support on both
    sides (the results equal the unchunked filter's).
    """
    x = np.asarray(values, float)
    t = np.asarray(times, float)
    n = len(t)
    if n < 3:
        return x.copy()
    sig = _kernel_sigma(sigma, n, x.ndim)
    dt = _median_dt(t)
    radius = _kernel_radius(sig, x.ndim, dt, max_radius)
    r_max = int(np.max(radius))
    if r_max < 1:
        return x.copy()
    out = np.empty_like(x)
    for s, e in _frame_chunks(n, chunk_frames):
        a, b = max(0, s - r_max), min(n, e + r_max)
        out[s:e] = _lls_window(x[a:b], t[a:b], _per_sample(sig, x.ndim, n, a, b), dt, radius)[s - a:e - a]
    return out


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


Window = Callable[[int, int], np.ndarray]


def _adaptive_chunks(window: Window, times: np.ndarray, preset: SmoothingPreset,
                     speed_ref: float, accel_ref: float, gain: float | None, per_column: bool,
                     chunk_frames: int = CHUNK_FRAMES
                     ) -> Iterator[tuple[int, int, np.ndarray]]:
    """Speed-adaptive smoothing of one valid run, chunk by chunk: yields (start, stop, values).

    window(a, b) returns samples a:b (float64, (b - a, ...)) of the run's signal, sampled at
    times (F,). Two passes: the per-sample kernel widths of the whole run (from the speed and
    acceleration of a pre-smoothed copy, times ``gain`` where given; per column of the last
    axis-but-one when ``per_column``), then the adaptive filter. Each chunk reads enough
    samples on both sides (the kernels' support, plus 2 for the derivatives) that every value
    equals the unchunked computation's; only the widths (F, ...) are held for the whole run.
    """
    n = len(times)
    dt = _median_dt(times)
    rest = _kernel_sigma(preset.sigma_rest_s, n, 1)
    r_pre = int(_kernel_radius(rest, 1, dt, 40))
    halo = r_pre + 2              # central differences of central differences: 2 samples
    sig: np.ndarray | None = None
    for s, e in _frame_chunks(n, chunk_frames):
        a, b = max(0, s - halo), min(n, e + halo)
        t = times[a:b]
        pre = _lls_window(window(a, b), t, rest, dt, np.asarray(r_pre))
        speed, accel = _speed(pre, t), _accel(pre, t)
        if gain is not None:
            speed, accel = gain * speed, gain * accel
        part = adaptive_sigma(speed, preset, speed_ref, accel, accel_ref)[s - a:e - a]
        if sig is None:
            sig = np.empty((n,) + part.shape[1:])
            ndim = pre.ndim
        sig[s:e] = part
    assert sig is not None
    sig = sig[..., None] if per_column else sig.reshape((n,) + (1,) * (ndim - 1))
    np.maximum(sig, 1e-6, out=sig)
    radius = _kernel_radius(sig, sig.ndim, dt, 40)
    r_max = int(np.max(radius))
    for s, e in _frame_chunks(n, chunk_frames):
        a, b = max(0, s - r_max), min(n, e + r_max)
        out = _lls_window(window(a, b), times[a:b], sig[a:b], dt, radius)
        yield s, e, out[s - a:e - a]


def smooth_signal(values: np.ndarray, times: np.ndarray, preset: SmoothingPreset,
                  speed_ref: float, accel_ref: float = 10.0) -> np.ndarray:
    """Speed-adaptive zero-phase smoothing of one signal (F, D) on one valid run."""
    x = np.asarray(values, float)
    t = np.asarray(times, float)
    if len(t) < 3:
        return x.copy()
    out = np.empty_like(x)
    for s, e, part in _adaptive_chunks(lambda a, b: x[a:b], t, preset, speed_ref, accel_ref,
                                       None, per_column=False):
        out[s:e] = part
    return out


def smooth_quaternions(quats: np.ndarray, times: np.ndarray, preset: SmoothingPreset) -> np.ndarray:
    """Smooth unit quaternions (F, J, 4) per joint with sign continuity; renormalised.

    Every joint gets its own speed-adaptive kernel (angular speed of a unit quaternion path is
    2 |dq/dt|); all joints are filtered in one pass, chunk by chunk."""
    q = quat_sign_continuity(quats, axis=0)
    t = np.asarray(times, float)
    if len(t) < 3:
        return q / np.linalg.norm(q, axis=-1, keepdims=True)
    out = np.empty_like(q)
    for s, e, part in _adaptive_chunks(lambda a, b: q[a:b], t, preset, preset.rot_speed_ref,
                                       preset.rot_accel_ref, 2.0, per_column=True):
        out[s:e] = part / np.linalg.norm(part, axis=-1, keepdims=True)
    return out


def _nearest_valid(valid: np.ndarray) -> np.ndarray | None:
    """Per frame, the nearest valid frame (ties: the earlier one); None if nothing to hold."""
    v = np.asarray(valid, bool)
    if v.all() or not v.any():
        return None
    idx = np.arange(len(v))
    good = idx[v]
    pos = np.searchsorted(good, idx)
    left = good[np.clip(pos - 1, 0, len(good) - 1)]
    right = good[np.clip(pos, 0, len(good) - 1)]
    return np.where(np.abs(idx - left) <= np.abs(right - idx), left, right)


def hold_invalid(arr: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Invalid frames take the value of the nearest valid frame (ties: the earlier one)."""
    nearest = _nearest_valid(valid)
    if nearest is None:
        return arr
    v = np.asarray(valid, bool)
    out = arr.copy()
    out[~v] = arr[nearest[~v]]
    return out


def _segments(valid: np.ndarray) -> list[tuple[int, int, bool]]:
    """[start, stop) ranges covering all frames; True for the valid runs that get smoothed
    (3 frames or more), False for the rest (left as they are)."""
    out: list[tuple[int, int, bool]] = []
    pos = 0
    for start, stop in valid_runs(valid):
        if stop - start < 3:
            continue
        if start > pos:
            out.append((pos, start, False))
        out.append((start, stop, True))
        pos = stop
    if pos < len(valid):
        out.append((pos, len(valid), False))
    return out


def smooth_person(person: PersonMotion, timestamps: np.ndarray, preset: str | SmoothingPreset,
                  chunk_frames: int = CHUNK_FRAMES) -> PersonMotion:
    """Smooth rotations (on SO(3) via quaternions) and translation of a person, per valid run.

    timestamps: (F,) seconds. preset: a name in ``PRESETS`` or a ``SmoothingPreset``. Invalid
    frames are left out of every kernel and then hold the nearest valid value. ``joints3d`` is
    recomputed by FK so the motion-file identity holds. Returns a new PersonMotion (float32).
    Works ``chunk_frames`` at a time from the (float32) input to the float32 output, so the
    working memory is O(chunk) plus the kernel widths (~200 B per frame of a run); the values
    equal those of filtering each whole run at once (``smooth_quaternions``, ``smooth_signal``).
    """
    p = get_preset(preset) if isinstance(preset, str) else preset
    if p is None:
        return person
    t = np.asarray(timestamps, float)
    n = len(t)
    rest = np.asarray(person.rest_joints)
    go_in, bp_in, tr_in = person.global_orient, person.body_pose, person.transl
    go = np.empty((n, 3), np.float32)
    bp = np.empty((n,) + np.shape(bp_in)[1:], np.float32)
    tr = np.empty((n, 3), np.float32)
    joints = np.empty((n, len(rest), 3), np.float32)

    def quats(a: int, b: int) -> np.ndarray:
        aa = np.concatenate([go_in[a:b, None, :], bp_in[a:b]], axis=1).astype(np.float64)
        return axis_angle_to_quat(aa)

    def rot_window(offset: int, a: int, b: int) -> np.ndarray:
        # Sign continuity within a window equals the run's up to one sign per window, which
        # the (linear) filter carries through and the axis-angle conversion drops.
        return quat_sign_continuity(quats(offset + a, offset + b), axis=0)

    def transl_window(offset: int, a: int, b: int) -> np.ndarray:
        return np.asarray(tr_in[offset + a:offset + b], np.float64)

    def emit(a: int, b: int, q: np.ndarray, transl: np.ndarray) -> None:
        aa = quat_to_axis_angle(q)
        go[a:b] = aa[:, 0]
        bp[a:b] = aa[:, 1:]
        tr[a:b] = transl
        joints[a:b] = fk_axis_angle(rest, aa[:, 0], aa[:, 1:], transl)

    for start, stop, smooth in _segments(person.valid):
        if not smooth:
            for s, e in _frame_chunks(stop - start, chunk_frames):
                emit(start + s, start + e, quats(start + s, start + e),
                     np.asarray(tr_in[start + s:start + e], np.float64))
            continue
        rot = _adaptive_chunks(partial(rot_window, start), t[start:stop], p, p.rot_speed_ref,
                               p.rot_accel_ref, 2.0, True, chunk_frames)
        pos = _adaptive_chunks(partial(transl_window, start), t[start:stop], p,
                               p.transl_speed_ref, p.transl_accel_ref, None, False, chunk_frames)
        for (s, e, q), (_, _, transl) in zip(rot, pos, strict=True):
            q = q / np.linalg.norm(q, axis=-1, keepdims=True)
            emit(start + s, start + e, q, transl)
    nearest = _nearest_valid(person.valid)
    if nearest is not None:
        held = ~np.asarray(person.valid, bool)
        for arr in (go, bp, tr, joints):
            arr[held] = arr[nearest[held]]
    return replace(person, global_orient=go, body_pose=bp, transl=tr, joints3d=joints)
