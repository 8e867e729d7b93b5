"""Camera rotation from tracked background points: synthetic clips with known rotations."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_camera import handheld_rotations, render_clip

from inference_backend.camera_motion import (
    CameraMotionConfig,
    FrameMatches,
    fit_rotation,
    pan_tilt_deg,
    rotation_about_centre,
    solve_camera_motion,
)
from inference_backend.camera_tracking import BackgroundTracker
from inference_backend.kinematics import geodesic_deg, rodrigues

K = np.array([[500.0, 0.0, 320.0], [0.0, 500.0, 180.0], [0.0, 0.0, 1.0]])


def _project(points_cam: np.ndarray) -> np.ndarray:
    uv = points_cam @ K.T
    return (uv[:, :2] / uv[:, 2:]).astype(np.float32)


def _track(clip) -> BackgroundTracker:
    tracker = BackgroundTracker()
    for frame, boxes in zip(clip.frames, clip.boxes, strict=True):
        tracker.update(frame, boxes)
    return tracker


def test_fit_rotation_exact_with_outliers() -> None:
    rng = np.random.default_rng(0)
    pts = np.c_[rng.uniform(-3, 3, (200, 2)), rng.uniform(4, 20, 200)]
    R = rodrigues(np.array([0.05, -0.2, 0.03]))
    key, cur = _project(pts), _project(pts @ R.T)
    cur[:60] += rng.uniform(-40, 40, (60, 2)).astype(np.float32)   # 30 % things that move
    fit, rms, kept = fit_rotation(key, cur, K)
    assert geodesic_deg(fit, R) < 0.01
    assert 140 <= kept <= 145 and rms < 0.3


def test_handheld_pan_with_a_moving_person() -> None:
    rots = handheld_rotations(90, pan_deg=25.0, shake_deg=1.0)
    clip = render_clip(rots)
    tracker = _track(clip)
    motion = solve_camera_motion(tracker.matches, len(rots), clip.K)
    err = geodesic_deg(motion.rel, rots)
    assert err.max() < 0.1, err
    pan, _ = pan_tilt_deg(motion.rel)
    true_pan, _ = pan_tilt_deg(rots)
    assert abs(np.ptp(pan) - np.ptp(true_pan)) < 0.005 * np.ptp(true_pan)
    assert motion.moved and motion.usable and motion.report["coverage"] == 1.0
    assert len(tracker.keyframes) > 1        # the pan outruns the first keyframe's points
    # No tracked point lies on the person (boxes plus margin are masked out).
    for m in tracker.matches:
        box = clip.boxes[m.frame, 0]
        inside = ((m.points[:, 0] > box[0]) & (m.points[:, 0] < box[2])
                  & (m.points[:, 1] > box[1]) & (m.points[:, 1] < box[3]))
        assert not inside.any()


def test_tripod_clip_is_static() -> None:
    rots = np.tile(np.eye(3), (40, 1, 1))
    clip = render_clip(rots, noise=2.0)          # sensor noise, a person walking across
    tracker = _track(clip)                       # a still view: every 4th frame tracked
    motion = solve_camera_motion(tracker.matches, 40, clip.K, untracked=tracker.untracked)
    assert motion.usable and not motion.moved
    assert motion.report["p95_angle_deg"] < 0.05


def test_small_shake_is_found() -> None:
    rots = handheld_rotations(40, pan_deg=0.0, shake_deg=0.6)
    clip = render_clip(rots, noise=2.0)
    motion = solve_camera_motion(_track(clip).matches, 40, clip.K)
    assert motion.moved
    assert geodesic_deg(motion.rel, rots).max() < 0.05


def test_small_camera_translation_does_not_break_it() -> None:
    """A hand moves the phone by a few cm in front of a plane: the points show parallax, and
    the rotation comes from the decomposed plane homography instead of a biased rotation-only
    fit."""
    n = 60
    rots = handheld_rotations(n, pan_deg=15.0, shake_deg=0.5)
    t = np.arange(n) / 30.0
    trans = np.stack([0.03 * np.sin(2.0 * t), 0.02 * np.sin(3.0 * t), 0.01 * t], axis=1)
    clip = render_clip(rots, translations=trans, depth=3.0)
    matches = _track(clip).matches
    motion = solve_camera_motion(matches, n, clip.K)
    err = geodesic_deg(motion.rel, rots)
    parallax = np.degrees(np.arctan(np.linalg.norm(trans[:, :2], axis=1) / 3.0))
    assert motion.usable and motion.moved
    assert parallax.max() > 0.5
    assert motion.report["parallax_frames"] > 0
    rotation_only = solve_camera_motion(matches, n, clip.K,
                                        CameraMotionConfig(parallax_ratio=np.inf))
    err_rotation_only = geodesic_deg(rotation_only.rel, rots)
    assert err_rotation_only.max() > 0.4         # biased by the translation ...
    assert err.max() < 0.25, err                 # ... the plane homography's rotation is not


def test_plain_wall_is_not_usable() -> None:
    wall = np.full((1080, 1920, 3), 128, np.uint8)
    clip = render_clip(handheld_rotations(30), background=wall, noise=2.0)
    motion = solve_camera_motion(_track(clip).matches, 30, clip.K)
    assert not motion.usable and not motion.moved
    assert motion.report["coverage"] < 0.6


def test_unfitted_frames_are_interpolated_and_chain_continues() -> None:
    """Frames 10-14 lose every point (the person fills the frame); the tracker then starts
    over at frame 15 from a keyframe with no rotation of its own."""
    n = 30
    rots = rodrigues(np.stack([np.zeros(n), np.radians(np.linspace(0, 6, n)), np.zeros(n)], 1))
    rng = np.random.default_rng(1)
    pts = np.c_[rng.uniform(-3, 3, (100, 2)), np.full(100, 10.0)]
    matches = []
    for f in range(1, n):
        if 10 <= f < 15:
            continue
        key = 0 if f < 10 else 15
        if f == 15:
            continue
        matches.append(FrameMatches(f, key, _project(pts @ rots[key].T),
                                    _project(pts @ rots[f].T)))
    motion = solve_camera_motion(matches, n, K, CameraMotionConfig(smooth_frames=0))
    assert motion.report["breaks"] == 1
    assert not motion.fitted[10:16].any() and motion.fitted[:10].all()
    err = geodesic_deg(motion.rel, rots)
    assert err[:10].max() < 1e-3
    # Gap frames are slerped to frame 9's rotation and the restarted chain holds frame 9's.
    assert err[16:].max() == pytest.approx(6.0 * 6 / 29, abs=0.01)


def test_rotation_about_centre_keeps_the_centre() -> None:
    rots = handheld_rotations(5, pan_deg=20.0)
    R0 = rodrigues(np.array([0.3, 0.1, 0.0]))
    t0 = np.array([0.1, 1.4, 3.0])
    R, t = rotation_about_centre(rots, R0, t0)
    centres = -np.einsum("fji,fj->fi", R, t)
    np.testing.assert_allclose(centres, np.broadcast_to(-R0.T @ t0, centres.shape), atol=1e-12)


@pytest.mark.parametrize("rotation", [0, 90])
def test_decoder_hands_over_a_small_grey_copy(tmp_path, make_video, rotation) -> None:
    """The tracker's input comes from the same decoded picture as the detector's frame:
    displayed orientation, longer side <= track_max_side, the same content."""
    import cv2

    from inference_backend.config import DecodeConfig
    from inference_backend.video_io import iter_frames, probe_video

    clip = render_clip(handheld_rotations(6), width=640, height=360, person=False)
    path = make_video(tmp_path / "v.mp4", clip.frames, rotation=rotation)
    probe = probe_video(path)
    frames = list(iter_frames(probe, DecodeConfig(track_max_side=320)))
    assert len(frames) == 6
    for fr in frames:
        assert fr.grey is not None and fr.grey.dtype == np.uint8
        assert max(fr.grey.shape) == 320
        assert fr.grey.shape[0] / fr.grey.shape[1] == pytest.approx(
            fr.rgb.shape[0] / fr.rgb.shape[1], rel=0.02)
        assert fr.grey_scale == pytest.approx(max(fr.rgb.shape) / 320, rel=0.01)
        small = cv2.resize(cv2.cvtColor(fr.rgb, cv2.COLOR_RGB2GRAY), fr.grey.shape[::-1],
                           interpolation=cv2.INTER_AREA)
        assert np.abs(small.astype(int) - fr.grey).mean() < 6.0
    assert all(fr.grey is None for fr in iter_frames(probe, DecodeConfig()))


def _motion(rel, usable=True, moved=True, coverage=1.0):
    from inference_backend.camera_motion import CameraMotion

    return CameraMotion(rel=rel, fitted=np.ones(len(rel), bool), residual_px=np.zeros(len(rel)),
                        moved=moved, usable=usable, report={"coverage": coverage})


def test_camera_modes() -> None:
    from inference_backend.camera_motion import choose_camera

    rel = handheld_rotations(10)
    moving = _motion(rel)
    assert choose_camera(moving, "static").rel is None
    assert choose_camera(moving, "auto").rel is rel
    assert choose_camera(moving, "moving").rel is rel
    tripod = _motion(np.tile(np.eye(3), (10, 1, 1)), moved=False)
    assert choose_camera(tripod, "auto").rel is None
    assert choose_camera(tripod, "auto").warnings == ()
    assert choose_camera(tripod, "moving").rel is not None
    plain = _motion(rel, usable=False, moved=False, coverage=0.2)
    for mode in ("auto", "moving"):
        choice = choose_camera(plain, mode)
        assert choice.rel is None and "too little to track" in choice.warnings[0]
        assert "20%" in choice.warnings[0]
    with pytest.raises(ValueError, match="camera mode"):
        choose_camera(moving, "tripod")


def test_points_and_rotations_to_the_first_camera() -> None:
    from inference_backend.camera_motion import to_first_camera, to_first_camera_rotations

    rel = handheld_rotations(8, pan_deg=30.0)
    rng = np.random.default_rng(2)
    x0 = rng.normal(size=(8, 5, 3))                 # points in the first camera's axes
    xf = np.einsum("fij,fkj->fki", rel, x0)         # as each frame's camera sees them
    frames = np.arange(8)
    np.testing.assert_allclose(to_first_camera(rel, frames, xf), x0, atol=1e-12)
    np.testing.assert_allclose(to_first_camera(rel, frames[2:4], xf[2:4, 0]), x0[2:4, 0],
                               atol=1e-12)
    g0 = rodrigues(rng.normal(size=(8, 3)))
    np.testing.assert_allclose(to_first_camera_rotations(rel, frames, rel @ g0), g0, atol=1e-12)


def test_focal_length_from_the_camera_turning() -> None:
    from inference_backend.camera_motion import focal_from_rotation

    rots = handheld_rotations(60, pan_deg=25.0)
    clip = render_clip(rots, focal=500.0)
    found = focal_from_rotation(_track(clip).matches, 640, 360)
    assert found is not None and found.focal == pytest.approx(500.0, rel=0.01)
    # A camera that barely turns says nothing about its focal length.
    still = render_clip(handheld_rotations(30, pan_deg=0.0, shake_deg=0.3), focal=500.0)
    assert focal_from_rotation(_track(still).matches, 640, 360) is None


def test_intrinsics_from_the_camera_turning_rank_between_override_and_estimate() -> None:
    from inference_backend.camera import choose_intrinsics

    turned, notes = choose_intrinsics([], 640, 360, None, footage_fov_deg=64.0)
    assert turned.source == "camera_rotation" and turned.fov_x_deg == 64.0 and notes == ()
    assert turned.K[0, 0] == pytest.approx(320.0 / np.tan(np.radians(32.0)))
    override, _ = choose_intrinsics([], 640, 360, 50.0, footage_fov_deg=64.0)
    assert override.source == "override" and override.fov_x_deg == 50.0
    prior, notes = choose_intrinsics([], 640, 360, None)
    assert prior.source == "prior" and notes


def test_camera_that_comes_back_is_reanchored_to_its_first_view() -> None:
    n = 150
    pan = np.radians(35.0) * np.sin(np.pi * np.linspace(0.0, 1.0, n))     # out and back
    rots = rodrigues(np.stack([np.zeros(n), pan, np.zeros(n)], axis=1))
    clip = render_clip(rots)
    tracker = _track(clip)
    assert tracker.links, "the returning camera was not matched to an older keyframe"
    for link in tracker.links:
        assert link.anchor < tracker.keyframes[tracker.keyframes.index(link.keyframe) - 1]
    motion = solve_camera_motion(tracker.matches, n, clip.K, links=tracker.links)
    assert motion.report["reanchored"] == len(tracker.links)
    assert geodesic_deg(motion.rel, rots).max() < 0.05


def test_reanchoring_removes_drift_without_a_jump() -> None:
    """Each keyframe span's fit is biased by 0.2 deg (drift accumulates along the chain); the
    last keyframe is also matched, exactly, to the first frame."""
    from inference_backend.camera_motion import KeyframeLink

    n = 61
    rots = rodrigues(np.stack([np.zeros(n), np.radians(np.linspace(0, 3, n)), np.zeros(n)], 1))
    rng = np.random.default_rng(3)
    pts = np.c_[rng.uniform(-3, 3, (100, 2)), np.full(100, 10.0)]
    bias = rodrigues(np.array([0.0, 0.0, np.radians(0.2)]))
    matches = []
    for f in range(1, n):
        key = (f - 1) // 10 * 10
        seen = pts @ (bias @ rots[f] @ rots[key].T @ rots[key]).T
        matches.append(FrameMatches(f, key, _project(pts @ rots[key].T), _project(seen)))
    link = KeyframeLink(60, 0, _project(pts), _project(pts @ rots[60].T))
    config = CameraMotionConfig(smooth_frames=0)
    drifting = solve_camera_motion(matches, n, K, config)
    anchored = solve_camera_motion(matches, n, K, config, links=[link])
    assert geodesic_deg(drifting.rel[60], rots[60]) > 1.0
    assert geodesic_deg(anchored.rel[60], rots[60]) < 1e-3
    assert anchored.report["reanchored"] == 1
    steps = geodesic_deg(anchored.rel[1:], anchored.rel[:-1])
    assert steps.max() < 0.4            # spread over the frames, not one jump of > 1 deg


def test_a_link_across_a_moved_camera_does_not_reanchor() -> None:
    """Re-anchoring trusts only a pure rotation: a link whose points show parallax (the camera
    moved 5 cm between the two keyframes, near points 2-3 m away) is not used."""
    from inference_backend.camera_motion import KeyframeLink

    n = 21
    rots = rodrigues(np.stack([np.zeros(n), np.radians(np.linspace(0, 2, n)), np.zeros(n)], 1))
    rng = np.random.default_rng(5)
    near = np.c_[rng.uniform(-1.5, 1.5, (60, 2)), rng.uniform(2.0, 3.0, 60)]
    far = np.c_[rng.uniform(-8, 8, (60, 2)), rng.uniform(15.0, 20.0, 60)]
    pts = np.concatenate([near, far])
    matches = [FrameMatches(f, f - 1, _project(pts @ rots[f - 1].T), _project(pts @ rots[f].T))
               for f in range(1, n)]
    walked = pts @ rots[20].T + np.array([0.05, 0.0, 0.0])
    link = KeyframeLink(20, 0, _project(pts), _project(walked))
    motion = solve_camera_motion(matches, n, K, CameraMotionConfig(smooth_frames=0),
                                 links=[link])
    assert motion.report["reanchored"] == 0
    assert geodesic_deg(motion.rel, rots).max() < 0.01
    # Without the parallax check the link would have pulled the chain off by its bias.
    trusting = solve_camera_motion(matches, n, K,
                                   CameraMotionConfig(smooth_frames=0, parallax_ratio=np.inf),
                                   links=[link])
    assert trusting.report["reanchored"] == 1
    assert geodesic_deg(trusting.rel, rots).max() > 0.3
