"""Zero-phase speed-adaptive smoothing (inference_backend.smoothing) on synthetic fast motion."""

from __future__ import annotations

import numpy as np
import pytest

from inference_backend.kinematics import fk_axis_angle, rodrigues
from inference_backend.motion_types import PersonMotion
from inference_backend.smoothing import (
    PRESETS,
    get_preset,
    local_linear_smooth,
    smooth_person,
    valid_runs,
)
from inference_backend.smpl_constants import SMPL_TEMPLATE_REST_JOINTS

FPS = 30.0
SWING_DEG = 50.0     # 2 Hz arm swing amplitude
STEP_M = 0.5         # root step


def _motion(times: np.ndarray, rng: np.random.Generator | None, rot_noise_deg: float = 2.0,
            transl_noise_m: float = 0.01, freq_hz: float = 2.0
            ) -> tuple[PersonMotion, np.ndarray, np.ndarray]:
    """Left shoulder swinging at 2 Hz about Y, root stepping 0.5 m in x at t = 2 s."""
    n = len(times)
    swing = np.radians(SWING_DEG) * np.sin(2 * np.pi * freq_hz * times)
    step = np.where(times >= 2.0, STEP_M, 0.0)
    body = np.zeros((n, 23, 3))
    body[:, 15, 1] = swing                  # joint 16 (left_shoulder) is body_pose[15]
    transl = np.zeros((n, 3))
    transl[:, 0] = step
    transl[:, 1] = 0.9
    go = np.zeros((n, 3))
    if rng is not None:
        body = body + rng.normal(0, np.radians(rot_noise_deg), body.shape)
        transl = transl + rng.normal(0, transl_noise_m, transl.shape)
        go = go + rng.normal(0, np.radians(rot_noise_deg), go.shape)
    rest = np.asarray(SMPL_TEMPLATE_REST_JOINTS, float)
    person = PersonMotion(
        track_id=1, global_orient=go.astype(np.float32), body_pose=body.astype(np.float32),
        transl=transl.astype(np.float32), rest_joints=rest,
        joints3d=fk_axis_angle(rest, go, body, transl).astype(np.float32),
        valid=np.ones(n, bool), contacts=np.zeros((n, 4), np.float32),
        confidence=np.ones((n, 24), np.float32))
    return person, swing, step


def _swing_angle(person: PersonMotion) -> np.ndarray:
    """Signed angle of the left shoulder about Y (the swing), radians."""
    return np.asarray(person.body_pose[:, 15, 1], float)


def _jitter(err: np.ndarray) -> float:
    """RMS second difference of an error signal (per frame^2)."""
    return float(np.sqrt(np.mean(np.diff(err, 2) ** 2)))


def test_medium_removes_jitter_without_lag_or_overshoot() -> None:
    times = np.arange(int(4 * FPS)) / FPS
    rng = np.random.default_rng(0)
    noisy, swing, step = _motion(times, rng)
    out = smooth_person(noisy, times, "medium")

    rot_before = _jitter(_swing_angle(noisy) - swing)
    rot_after = _jitter(_swing_angle(out) - swing)
    tr_before = _jitter(noisy.transl[:, 2].astype(float))
    tr_after = _jitter(out.transl[:, 2].astype(float))
    assert rot_before / rot_after >= 3.0, (rot_before, rot_after)
    assert tr_before / tr_after >= 3.0, (tr_before, tr_after)

    # No lag: the cross-correlation of smoothed and true swing velocity peaks at 0 frames.
    v_true = np.diff(swing)
    v_out = np.diff(_swing_angle(out))
    lags = np.arange(-5, 6)
    xc = [np.dot(np.roll(v_out, -k)[10:-10], v_true[10:-10]) for k in lags]
    assert lags[int(np.argmax(xc))] == 0, xc
    # The fast swing keeps its amplitude (speed-adaptive kernel): within 10%.
    peak = np.percentile(np.abs(_swing_angle(out)[15:-15]), 98)
    assert peak > 0.9 * np.radians(SWING_DEG), np.degrees(peak)

    # No overshoot of the step (positive kernel): < 2% of the step. With noise: the mean level
    # just after (and before) the step; without noise: the extreme values themselves.
    x = out.transl[:, 0].astype(float)
    after = times >= 2.0
    just_after = (times >= 2.1) & (times < 2.4)
    just_before = (times >= 1.6) & (times < 1.9)
    assert abs(x[just_after].mean() - STEP_M) < 0.02 * STEP_M, x[just_after].mean()
    assert abs(x[just_before].mean()) < 0.02 * STEP_M, x[just_before].mean()
    clean, _, _ = _motion(times, None)
    xs = smooth_person(clean, times, "medium").transl[:, 0].astype(float)
    assert xs.max() <= STEP_M + 1e-6 and xs.min() >= -1e-6
    assert xs[after].max() - STEP_M < 0.02 * STEP_M


def test_fk_identity_holds_after_smoothing_and_rotations_stay_unit() -> None:
    times = np.arange(90) / FPS
    noisy, _, _ = _motion(times, np.random.default_rng(1))
    out = smooth_person(noisy, times, "strong")
    fk = fk_axis_angle(out.rest_joints, out.global_orient, out.body_pose, out.transl)
    assert np.abs(fk - out.joints3d).max() < 1e-4
    assert np.all(np.isfinite(out.body_pose))
    R = rodrigues(out.body_pose.astype(float))
    assert np.allclose(np.linalg.det(R), 1.0, atol=1e-6)


def test_presets_are_ordered_and_none_is_identity() -> None:
    times = np.arange(120) / FPS
    noisy, _, _ = _motion(times, np.random.default_rng(2))
    assert smooth_person(noisy, times, "none") is noisy
    # On a still signal (the root orientation holds only noise) stronger presets remove more.
    jit = [_jitter(smooth_person(noisy, times, p).global_orient[:, 0].astype(float))
           for p in ("light", "medium", "strong")]
    assert jit[0] > jit[1] > jit[2], jit
    with pytest.raises(ValueError, match="unknown smoothing preset"):
        get_preset("extreme")
    assert set(PRESETS) == {"none", "light", "medium", "strong"}


def test_variable_frame_rate_is_filtered_in_time() -> None:
    rng = np.random.default_rng(3)
    # 30 fps with dropped frames and jittered intervals.
    dt = np.where(rng.random(150) < 0.15, 2 / FPS, 1 / FPS) * rng.uniform(0.9, 1.1, 150)
    times = np.concatenate([[0.0], np.cumsum(dt)[:-1]])
    # A linear ramp passes unchanged (local-linear regression), whatever the spacing.
    ramp = 0.8 * times[:, None]
    assert np.allclose(local_linear_smooth(ramp, times, 0.06), ramp, atol=1e-9)
    noisy, swing, _ = _motion(times, rng, freq_hz=0.5)
    out = smooth_person(noisy, times, "medium")
    err_before = np.sqrt(np.mean((_swing_angle(noisy) - swing) ** 2))
    err_after = np.sqrt(np.mean((_swing_angle(out) - swing) ** 2))
    assert err_after < 0.6 * err_before, (err_before, err_after)
    # The same motion sampled in samples-not-time would be wrong; in time it is right:
    # the swing's zero crossings stay at the true times (every 1 s for 0.5 Hz).
    s = _swing_angle(out)
    cross = np.where(np.sign(s[1:]) != np.sign(s[:-1]))[0]
    t_cross = times[cross] - s[cross] * (times[cross + 1] - times[cross]) / (s[cross + 1] - s[cross])
    assert len(t_cross) >= 3
    assert np.abs(t_cross - np.round(t_cross)).max() < 0.03, t_cross


def test_invalid_runs_are_not_smeared() -> None:
    times = np.arange(60) / FPS
    person, _, _ = _motion(times, None)
    transl = np.zeros((60, 3))
    transl[:25, 0] = 0.0
    transl[35:, 0] = 1.0
    transl[25:35, 0] = 5.0                         # garbage held in the gap
    valid = np.ones(60, bool)
    valid[25:35] = False
    person = PersonMotion(**{**person.__dict__, "transl": transl.astype(np.float32),
                             "valid": valid})
    out = smooth_person(person, times, "strong")
    x = out.transl[:, 0]
    assert np.allclose(x[:25], 0.0, atol=1e-6) and np.allclose(x[35:], 1.0, atol=1e-6)
    assert np.all((x[25:35] == 0.0) | (x[25:35] == 1.0))      # held, nearest valid value
    assert valid_runs(valid) == [(0, 25), (35, 60)]
