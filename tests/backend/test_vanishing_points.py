"""The focal length from the background's straight lines (inference_backend.vanishing_points):
positive controls on rooms drawn with a known focal, refusals where the lines cannot tell, the
frame sampler, and where the result ranks among the focal sources (camera.choose_intrinsics)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from line_scenes import camera, draw, room_edges  # noqa: E402

from inference_backend import vanishing_points as vp  # noqa: E402
from inference_backend.camera import choose_intrinsics  # noqa: E402


def _focal(hfov_deg: float, width: int = 640) -> float:
    return 0.5 * width / np.tan(np.radians(hfov_deg) / 2.0)


def _room(hfov: float, pitch: float, yaw: float, directions: str = "xyz", seed: int = 0,
          size=(640, 360)) -> np.ndarray:
    rot, t = camera(pitch, yaw, 1.6)
    return draw(room_edges(directions), _focal(hfov, size[0]), rot, t, size=size, seed=seed)


@pytest.mark.parametrize(("hfov", "pitch", "yaw", "directions"), [
    (50.0, 8.0, 30.0, "xyz"), (60.0, 10.0, 30.0, "xyz"), (80.0, 15.0, 25.0, "xyz"),
    (60.0, 3.0, 40.0, "xyz"), (60.0, 10.0, 30.0, "xy"),   # floor and wall lines only
    (60.0, 10.0, 0.0, "xyz"),       # along the tiles: the view direction and the verticals
])
def test_room_gives_its_focal_within_three_percent(hfov, pitch, yaw, directions) -> None:
    img = _room(hfov, pitch, yaw, directions)
    found = vp.frame_focal(vp.detect_segments(img), 640, 360)
    assert found.reason == ""
    assert found.focal / _focal(hfov) == pytest.approx(1.0, abs=0.03)
    assert 0.0 < found.rel_sigma < 0.05


def test_one_direction_of_lines_is_not_observable() -> None:
    found = vp.frame_focal(vp.detect_segments(_room(60.0, 10.0, 30.0, "x")), 640, 360)
    assert np.isnan(found.focal) and "2 needed" in found.reason


def test_no_lines_is_not_observable() -> None:
    blank = np.random.default_rng(0).normal(90, 4, (360, 640)).clip(0, 255).astype(np.uint8)
    segments = vp.detect_segments(blank)
    found = vp.focal_from_frames([(blank, np.zeros((0, 4)))] * 3)
    assert not found.observable and "0 of 3 frames" in found.reason
    assert len(segments) < 12


def test_tiles_along_the_view_leave_the_cross_lines_at_infinity() -> None:
    """The benchmark's plain scene: floor lines along and across the view, nothing vertical;
    the cross lines' vanishing point is at infinity, so the focal is not determined."""
    found = vp.frame_focal(vp.detect_segments(_room(60.0, 10.0, 0.0, "xy")), 640, 360)
    assert np.isnan(found.focal) and found.reason


def test_peoples_boxes_are_masked_out() -> None:
    img = _room(60.0, 10.0, 30.0)
    everything = vp.detect_segments(img)
    box = np.array([[200.0, 100.0, 400.0, 300.0]])
    kept = vp.detect_segments(img, box)
    assert 0 < len(kept) < len(everything)
    t = np.linspace(0.0, 1.0, 9)[:, None]
    for x1, y1, x2, y2 in kept:
        pts = np.hstack([x1 + t * (x2 - x1), y1 + t * (y2 - y1)])
        grown = (pts[:, 0] >= 180) & (pts[:, 0] <= 420) & (pts[:, 1] >= 80) & (pts[:, 1] <= 320)
        assert not grown.any()
    assert len(vp.detect_segments(img, np.array([[-50.0, -50.0, 700.0, 400.0]]))) == 0


def test_frames_that_disagree_are_refused() -> None:
    a = vp.frame_focal(vp.detect_segments(_room(50.0, 8.0, 30.0)), 640, 360)
    b = vp.frame_focal(vp.detect_segments(_room(80.0, 15.0, 25.0)), 640, 360)
    assert np.isfinite(a.focal) and np.isfinite(b.focal)
    found = vp.combine_frames([a, b, a, b], 640)
    assert not found.observable and "disagree" in found.reason
    same = vp.combine_frames([a, a, a], 640)
    assert same.observable and same.focal == pytest.approx(a.focal)


def test_sampler_keeps_a_few_frames_spread_over_the_clip_and_scales_the_focal() -> None:
    """A 1280x720 clip decoded at half size (scale 2): the focal comes back in full-frame px."""
    img = _room(60.0, 10.0, 30.0)
    rgb = np.repeat(img[:, :, None], 3, axis=2)
    sampler = vp.FrameSampler(keep=8)
    for pos in range(100):
        sampler.add(pos, rgb, np.zeros((0, 4)), scale=2.0)
    kept = [pos for pos, _, _ in sampler.frames]
    assert 5 <= len(kept) <= 8 and kept[0] == 0 and kept[-1] >= 80
    found = sampler.estimate()
    assert found.observable and found.frames_used == len(kept)
    assert found.focal / _focal(60.0, 1280) == pytest.approx(1.0, abs=0.03)
    assert found.fov_x_deg == pytest.approx(60.0, abs=2.0)


def test_lines_rank_below_the_override_and_the_camera_rotation_above_the_prior() -> None:
    override, _ = choose_intrinsics([], 640, 360, 50.0, footage_fov_deg=64.0, lines_fov_deg=70.0)
    turned, _ = choose_intrinsics([], 640, 360, None, footage_fov_deg=64.0, lines_fov_deg=70.0)
    lines, notes = choose_intrinsics([], 640, 360, None, lines_fov_deg=70.0)
    prior, prior_notes = choose_intrinsics([], 640, 360, None, lines_fov_deg=None)
    assert (override.source, override.fov_x_deg) == ("override", 50.0)
    assert (turned.source, turned.fov_x_deg) == ("camera_rotation", 64.0)
    assert (lines.source, lines.fov_x_deg, notes) == ("vanishing_points", 70.0, ())
    assert lines.K[0, 0] == pytest.approx(_focal(70.0))
    assert (prior.source, prior.fov_x_deg) == ("prior", 60.0)
    assert prior_notes[0].startswith("focal length not observable; assumed a 60 deg horizontal")
    assert "--fov DEG" in prior_notes[0]
    assert "straight edges in two directions at right angles" in prior_notes[0]


def test_capture_of_real_people_in_a_drawn_room_takes_the_focal_from_its_lines(
        tmp_path, make_video, make_sample_frames) -> None:
    """End to end (decode, the real detector, the frame sampler in the decode pass, the
    solver, the header): a room's edges drawn with a 64 deg lens over the bundled clip's
    frames (not over its two people, who must stay detectable) are captured with
    ``camera.focal_source = vanishing_points`` and that lens, although the clip's own
    outdoor lines are there too; with ``--fov`` the override wins."""
    import json

    from inference_backend.config import CaptureConfig
    from inference_backend.pipeline import run_capture

    rot, t = camera(10.0, 30.0, 1.6)
    edges = draw(room_edges(), _focal(64.0, 960), rot, t, size=(960, 540), noise=0.0) > 140
    edges[:, 260:460] = False       # the man on the box, frames 0-29
    edges[:, 740:900] = False       # the woman
    frames = []
    for frame in make_sample_frames(30):
        frame[edges] = 230
        frames.append(frame)
    video = make_video(tmp_path / "room.mp4", frames)
    out = tmp_path / "m.npz"
    run_capture(CaptureConfig(video=video, output=out))
    with np.load(out, allow_pickle=False) as d:
        header = json.loads(str(d["header"]))
    assert header["camera"]["focal_source"] == "vanishing_points"
    assert header["camera"]["fov_x_deg"] == pytest.approx(64.0, abs=2.0)
    assert not any("not observable" in w for w in header["warnings"])
    run_capture(CaptureConfig(video=video, output=out, fov_deg=50.0))
    with np.load(out, allow_pickle=False) as d:
        header = json.loads(str(d["header"]))
    assert (header["camera"]["focal_source"], header["camera"]["fov_x_deg"]) == ("override", 50.0)


def test_sampler_told_the_length_analyses_frames_as_they_come_with_the_same_result() -> None:
    """Told the clip's length, the sampler keeps ``keep`` frames spread over it and works each
    out on its own thread while frames still arrive; the focal is what the same frames give
    analysed at the end."""
    img = _room(60.0, 10.0, 30.0)
    rgb = np.repeat(img[:, :, None], 3, axis=2)
    with vp.FrameSampler(keep=8) as sampler:
        sampler.expect(100)
        for pos in range(100):
            sampler.add(pos, rgb, np.zeros((0, 4)), scale=2.0)
        kept = [pos for pos, _, _ in sampler.frames]
        assert kept == list(range(0, 100, 13)) and len(sampler._analysed) == 8
        found = sampler.estimate()
    at_end = vp.focal_from_frames([(g, b) for _, g, b in sampler.frames], to_full=2.0)
    assert found.observable and found.frames_used == 8
    assert found.focal == pytest.approx(at_end.focal, rel=1e-12)
    assert found.focal / _focal(60.0, 1280) == pytest.approx(1.0, abs=0.03)


def test_sampler_whose_clip_proves_longer_than_told_falls_back_to_doubling() -> None:
    img = _room(60.0, 10.0, 30.0)
    rgb = np.repeat(img[:, :, None], 3, axis=2)
    with vp.FrameSampler(keep=4) as sampler:
        sampler.expect(20)                 # stride 5, but 60 frames arrive
        for pos in range(60):
            sampler.add(pos, rgb, np.zeros((0, 4)))
        kept = [pos for pos, _, _ in sampler.frames]
        assert len(kept) <= 4 and kept[-1] >= 40 and all(p % 10 == 0 for p in kept)
        assert set(sampler._analysed) <= set(kept)
        found = sampler.estimate()
    assert found.observable and found.frames_used == len(kept)


def test_batched_distances_and_bootstrap_equal_the_one_at_a_time_arithmetic() -> None:
    """The RANSAC end distances (written out per component) and the bootstrap's batched
    re-fits give the very numbers of the plain formulas (np.cross / norm / sum, one ``_refine``
    per draw) on a drawn room's segments: speed-ups that change no result."""
    grey = _room(60.0, -12.0, 30.0)
    seg = vp.detect_segments(grey)
    h, w = grey.shape
    centre, scale = np.array([0.5 * w, 0.5 * h]), 0.5 * max(w, h)
    lines, mid, length = vp._lines(seg, centre, scale)
    p1 = np.column_stack([(seg[:, :2] - centre) / scale, np.ones(len(seg))])
    rng = np.random.default_rng(3)
    points = rng.normal(size=(50, 3))
    through = np.cross(mid[None, :, :], points[:, None, :])
    plain = (np.abs(np.sum(through * p1[None], axis=-1))
             / np.maximum(np.linalg.norm(through[..., :2], axis=-1), 1e-12))
    assert np.array_equal(vp._end_distance(points, mid, p1), plain)
    assert np.array_equal(vp._end_distance(points[7], mid, p1), plain[7])

    found = vp.find_vanishing_points(seg, w, h)
    assert len(found) >= 2
    for point in found:
        picks = point.inliers[rng.integers(0, len(point.inliers), (20, len(point.inliers)))]
        one_by_one = np.stack([vp._refine(lines[p], mid[p], length[p], point.point, 2)
                               for p in picks])
        batched = vp._refine_draws(lines[picks], mid[picks], length[picks], point.point, 2)
        assert np.array_equal(batched, one_by_one)
