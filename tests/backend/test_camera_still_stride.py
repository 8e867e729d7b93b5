"""BackgroundTrackingConfig.still_stride: a still view is tracked every k-th frame only; a view
that moves is tracked exactly as with every frame tracked."""

from __future__ import annotations

import numpy as np
from synthetic_camera import handheld_rotations, render_clip

from inference_backend.camera_motion import choose_camera, solve_camera_motion
from inference_backend.camera_tracking import BackgroundTracker, BackgroundTrackingConfig
from inference_backend.kinematics import geodesic_deg, rodrigues


def _track(clip, stride: int) -> BackgroundTracker:
    tracker = BackgroundTracker(BackgroundTrackingConfig(still_stride=stride))
    for frame, boxes in zip(clip.frames, clip.boxes, strict=True):
        tracker.update(frame, boxes)
    return tracker


def _same_matches(a: BackgroundTracker, b: BackgroundTracker) -> bool:
    return len(a.matches) == len(b.matches) and a.keyframes == b.keyframes \
        and len(a.links) == len(b.links) and all(
            x.frame == y.frame and x.keyframe == y.keyframe and x.spread_px == y.spread_px
            and np.array_equal(x.points, y.points) and np.array_equal(x.key_points, y.key_points)
            for x, y in zip(a.matches, b.matches, strict=True))


def test_moving_camera_is_tracked_exactly_as_every_frame() -> None:
    clip = render_clip(handheld_rotations(60, pan_deg=25.0, shake_deg=1.0))
    every, sparse = _track(clip, 1), _track(clip, 4)
    assert sparse.untracked == []
    assert _same_matches(every, sparse)          # bit-identical, including the keyframes
    assert len(every.matches) == 59


def test_tripod_is_tracked_every_fourth_frame_and_stays_static() -> None:
    n = 40
    clip = render_clip(np.tile(np.eye(3), (n, 1, 1)), noise=2.0)
    tracker = _track(clip, 4)
    assert tracker.untracked == [f for f in range(n) if f % 4]
    assert sorted(m.frame for m in tracker.matches) == list(range(4, n, 4))
    motion = solve_camera_motion(tracker.matches, n, clip.K, untracked=tracker.untracked)
    # coverage counts the tracked frames only: without that the clip looks untrackable
    assert motion.usable and not motion.moved and motion.report["coverage"] == 1.0
    assert not solve_camera_motion(tracker.matches, n, clip.K).usable
    choice = choose_camera(motion, "auto")
    assert choice.rel is None and choice.warnings == ()


def test_still_then_pan_is_tracked_like_every_frame() -> None:
    still, n_pan = 30, 40
    pan = rodrigues(np.stack([np.zeros(n_pan), np.radians(np.linspace(0.0, 15.0, n_pan)),
                              np.zeros(n_pan)], axis=1))
    rots = np.concatenate([np.tile(np.eye(3), (still, 1, 1)), pan[1:]])
    n = len(rots)
    clip = render_clip(rots, noise=2.0)
    every, sparse = _track(clip, 1), _track(clip, 4)
    # skipped frames only while still; every frame from the last still tracked one is tracked
    assert sparse.untracked and max(sparse.untracked) < still
    assert len(sparse.untracked) >= 3 * (still // 4) - 3
    tracked = {m.frame for m in sparse.matches}
    assert set(range(max(sparse.untracked) + 1, n)) <= tracked
    a = solve_camera_motion(every.matches, n, clip.K, untracked=every.untracked)
    b = solve_camera_motion(sparse.matches, n, clip.K, untracked=sparse.untracked)
    assert a.moved and b.moved and b.report["coverage"] == 1.0
    assert geodesic_deg(a.rel, b.rel).max() < 0.02
    assert abs(b.report["pan_range_deg"] - a.report["pan_range_deg"]) < 0.01
    assert geodesic_deg(b.rel, rots).max() <= geodesic_deg(a.rel, rots).max() + 0.02
