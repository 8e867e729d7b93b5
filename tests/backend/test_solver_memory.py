"""Working memory of the default solver and the scene stage on long videos, and chunked
smoothing == unchunked.

Two synthetic people over 18,000 frames (10 minutes at 30 fps) against the first 600 frames of
the same tracks, under tracemalloc (numpy reports its buffers to it). "Working" memory is the
peak above the starting point minus the arrays the solution returns. The fit (one
Gauss-Newton iteration here: its memory does not depend on the iteration count) is the
largest stage; the scene stage after it (world frame, gap bridging, smoothing, contacts,
ground, FK) is measured on its own from the moment the solver returns.
"""

from __future__ import annotations

import tracemalloc
from dataclasses import replace

import numpy as np
import pytest
from synthetic_landmarks import make_camera, observe, video_info, walking_person

import inference_backend.solver_default as solver
from inference_backend.fitting import FitConfig
from inference_backend.kinematics import (
    axis_angle_to_quat,
    fk_axis_angle,
    quat_sign_continuity,
    quat_to_axis_angle,
)
from inference_backend.motion_types import PersonMotion, SceneSolution, TrackObservations
from inference_backend.scene import build_scene
from inference_backend.smoothing import (
    SmoothingPreset,
    get_preset,
    local_linear_smooth,
    smooth_person,
    smooth_quaternions,
    smooth_signal,
)
from inference_backend.smpl_constants import SMPL_TEMPLATE_REST_JOINTS

FPS = 30.0
N_LONG = 18_000          # 10 minutes at 30 fps
N_SHORT = 600            # 20 seconds
KB = 1024.0

# Bounds (bytes per frame of video, both people together) and what they measured when written:
# whole solve 8.4 kB/frame (before chunking the later stages: 24.3); kept between the fit and
# the later stages 1.8 kB/frame (before: 9.8: the full fits and all observations); the later
# stages 1.2 kB/frame (before: 15.1). Most of what remains is the fit's (fitting.py).
WHOLE_GROWTH_PER_FRAME = 11 * KB
AFTER_FIT_GROWTH_PER_FRAME = 2.5 * KB
KEPT_AFTER_FIT_PER_FRAME = 2.2 * KB


def _slice(track: TrackObservations, n: int) -> TrackObservations:
    return replace(track, image_landmarks=track.image_landmarks[:n].copy(),
                   world_landmarks=track.world_landmarks[:n].copy(),
                   present=track.present[:n].copy(), boxes=track.boxes[:n].copy())


def _returned_bytes(sol: SceneSolution) -> int:
    total = sol.camera.R.nbytes + sol.camera.t.nbytes
    for p in sol.persons:
        total += sum(a.nbytes for a in (p.global_orient, p.body_pose, p.transl, p.joints3d,
                                        p.contacts, p.confidence, p.valid))
    return total


def _measure(tracks: list[TrackObservations], n: int) -> dict[str, float]:
    """Bytes: whole-solve working peak, kept when the scene stage starts, its working peak."""
    times = np.arange(n) / FPS
    config = solver.SolverConfig(fit=FitConfig(iterations=1))
    video = video_info(n)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        solved = solver.solve_default(tracks, video, times, config)
        # the fit is over: note where the scene stage starts
        kept, fit_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        sol = build_scene(solved, video, times)
        del solved
        late_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(sol.persons) == 2 and all(p.valid.all() for p in sol.persons)
    returned = _returned_bytes(sol)
    peak = max(fit_peak, late_peak)
    return {"whole": peak - base - returned, "kept": kept - base,
            "after_fit": late_peak - kept - returned}


@pytest.fixture(scope="module")
def long_tracks() -> list[TrackObservations]:
    times = np.arange(N_LONG) / FPS
    rng = np.random.default_rng(11)
    cam = make_camera(fov_deg=55.0)
    walker = walking_person(times, rng, start=(-1.5, 0.5), heading_deg=70, turn_deg_per_s=-15)
    tracks = [observe(walker, cam, rng, track_id=1)]
    del walker
    on_box = walking_person(times, rng, start=(1.2, -1.5), heading_deg=-80, turn_deg_per_s=10,
                            floor=2.0)
    tracks.append(observe(on_box, cam, rng, noise3d=0.03, track_id=2))   # a noisier track
    return tracks


def test_solver_working_memory_is_bounded_per_frame(long_tracks) -> None:
    short = _measure([_slice(t, N_SHORT) for t in long_tracks], N_SHORT)
    long = _measure(long_tracks, N_LONG)
    frames = N_LONG - N_SHORT
    report = {k: f"{long[k] / 2**20:.1f} MB vs {short[k] / 2**20:.1f} MB, "
                 f"{(long[k] - short[k]) / frames / KB:.2f} kB/frame" for k in long}
    # Whole solve: dominated by the fit of one person at a time (fitting.py) and its inputs.
    assert long["whole"] - short["whole"] < WHOLE_GROWTH_PER_FRAME * frames, report
    # What the later stages start with: the compact fits of both people, nothing else.
    assert long["kept"] < KEPT_AFTER_FIT_PER_FRAME * N_LONG, report
    # The later stages: about one person's float64 rotations and a float32 smoothed copy at a
    # time besides what they return; their chunked parts add nothing per frame.
    assert long["after_fit"] - short["after_fit"] < AFTER_FIT_GROWTH_PER_FRAME * frames, report
    assert long["after_fit"] < 1.3 * short["after_fit"] + AFTER_FIT_GROWTH_PER_FRAME * N_LONG


# ----------------------------------------------------------------- chunked == unchunked smoothing
def _reference_lls(x: np.ndarray, t: np.ndarray, sigma, max_radius: int = 40) -> np.ndarray:
    """The local-linear filter on the whole signal at once (as before chunking)."""
    n = len(t)
    sig = np.asarray(sigma, float)
    if sig.ndim == 1:
        sig = sig.reshape((n,) + (1,) * (x.ndim - 1))
    sig = np.maximum(sig, 1e-6)
    dt = float(np.median(np.diff(t)))
    col_max = sig.max(axis=0) if sig.ndim == x.ndim else sig.max()
    radius = np.minimum(max_radius, np.ceil(3.0 * col_max / dt)).astype(int)
    shape = (n,) + (1,) * (x.ndim - 1)
    s0 = s1 = s2 = 0.0
    x0, x1 = np.zeros_like(x), np.zeros_like(x)
    for off in range(-int(np.max(radius)), int(np.max(radius)) + 1):
        src = np.arange(n) + off
        inside = ((src >= 0) & (src < n)).reshape(shape)
        src = np.clip(src, 0, n - 1)
        tau = (t[src] - t).reshape(shape)
        w = np.exp(-0.5 * (tau / sig) ** 2) * inside * (radius >= abs(off))
        s0, s1, s2 = s0 + w, s1 + w * tau, s2 + w * tau * tau
        x0 += w * x[src]
        x1 += w * tau * x[src]
    tbar, xbar = s1 / s0, x0 / s0
    slope = (x1 / s0 - tbar * xbar) / np.maximum(s2 / s0 - tbar * tbar, 1e-12)
    return xbar - slope * tbar


def _reference_adaptive(x: np.ndarray, t: np.ndarray, p: SmoothingPreset, speed_ref: float,
                        accel_ref: float, gain: float, per_column: bool) -> np.ndarray:
    pre = _reference_lls(x, t, p.sigma_rest_s)
    vel = np.gradient(pre, t, axis=0)
    speed = gain * np.linalg.norm(vel, axis=-1)
    accel = gain * np.linalg.norm(np.gradient(vel, t, axis=0), axis=-1)
    s2 = (speed / speed_ref) ** 2 + (accel / accel_ref) ** 2
    sig = p.sigma_fast_s + (p.sigma_rest_s - p.sigma_fast_s) / (1.0 + s2)
    return _reference_lls(x, t, sig[..., None] if per_column else sig)


@pytest.fixture(scope="module")
def long_motion():
    """5,000 frames at a jittery ~30 fps; invalid runs of 1, 2, 40 frames and at the start."""
    rng = np.random.default_rng(7)
    n = 5000
    times = np.cumsum(rng.uniform(0.026, 0.040, n))
    body = (np.cumsum(rng.normal(0, 0.05, (n, 23, 3)), axis=0) % 3.0)
    go = np.cumsum(rng.normal(0, 0.05, (n, 3)), axis=0)
    transl = np.cumsum(rng.normal(0, 0.02, (n, 3)), axis=0)
    valid = np.ones(n, bool)
    valid[:4] = valid[700:740] = valid[1500] = valid[2600:2602] = False
    rest = np.asarray(SMPL_TEMPLATE_REST_JOINTS, float)
    person = PersonMotion(
        track_id=1, global_orient=go.astype(np.float32), body_pose=body.astype(np.float32),
        transl=transl.astype(np.float32), rest_joints=rest,
        joints3d=np.zeros((n, 24, 3), np.float32), valid=valid,
        contacts=np.zeros((n, 4), np.float32), confidence=np.ones((n, 24), np.float32))
    return times, person


def test_chunked_filter_equals_the_whole_signal_filter(long_motion) -> None:
    times, person = long_motion
    x = np.asarray(person.body_pose[:, :6], float)
    n = len(times)
    rng = np.random.default_rng(1)
    for sigma in (0.045, 0.5, rng.uniform(0.02, 0.1, n), rng.uniform(0.02, 0.1, (n, 6, 1))):
        ref = _reference_lls(x, times, sigma)
        for chunk in (37, 512, n):
            out = local_linear_smooth(x, times, sigma, chunk_frames=chunk)
            assert np.abs(out - ref).max() < 1e-9, (np.shape(sigma), chunk)


def test_chunked_smoothing_equals_the_whole_run_computation(long_motion) -> None:
    times, person = long_motion
    p = get_preset("medium")
    run = slice(4, 700)                                   # one valid run, 696 frames
    aa = np.concatenate([person.global_orient[:, None], person.body_pose], 1).astype(float)
    q = quat_sign_continuity(axis_angle_to_quat(aa[run]), axis=0)
    ref_q = _reference_adaptive(q, times[run], p, p.rot_speed_ref, p.rot_accel_ref, 2.0, True)
    ref_q /= np.linalg.norm(ref_q, axis=-1, keepdims=True)
    assert np.abs(smooth_quaternions(q, times[run], p) - ref_q).max() < 1e-9
    tr = np.asarray(person.transl[run], float)
    ref_t = _reference_adaptive(tr, times[run], p, p.transl_speed_ref, p.transl_accel_ref, 1.0,
                                False)
    assert np.abs(smooth_signal(tr, times[run], p, p.transl_speed_ref, p.transl_accel_ref)
                  - ref_t).max() < 1e-9
    # The whole person, chunked at several sizes, against each other and the reference run.
    outs = [smooth_person(person, times, p, chunk_frames=c) for c in (61, 512, len(times))]
    for out in outs[1:]:
        for name in ("global_orient", "body_pose", "transl", "joints3d"):
            a, b = np.asarray(getattr(outs[0], name), float), np.asarray(getattr(out, name), float)
            assert np.abs(a - b).max() < 1e-9, name
    ref_aa = quat_to_axis_angle(ref_q)
    out = outs[0]
    assert np.abs(out.body_pose[run] - ref_aa[:, 1:]).max() < 1e-6          # float32 output
    assert np.abs(out.transl[run] - ref_t).max() < 1e-6
    joints = fk_axis_angle(person.rest_joints, ref_aa[:, 0], ref_aa[:, 1:], ref_t)
    assert np.abs(out.joints3d[run] - joints).max() < 1e-5
    # Invalid frames hold the nearest valid frame's smoothed values.
    assert np.array_equal(out.body_pose[:4], np.repeat(out.body_pose[4:5], 4, axis=0))
    assert np.array_equal(out.transl[1500], out.transl[1499])
