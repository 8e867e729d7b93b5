"""Tracker on synthetic detections: swapped order, gaps, duplicates, phantoms, crossings."""

from __future__ import annotations

import numpy as np
import pytest

from inference_backend.config import TrackingConfig
from inference_backend.detection import Detection, make_detection
from inference_backend.tracking import box_iou, clean_frame, landmark_distance, track_people

W, H, FPS = 1000, 600, 30.0
_rng = np.random.default_rng(7)
# a fixed 33-point "body" in a unit box (x, y in 0..1), like a standing person
_TEMPLATE = np.column_stack([
    0.5 + 0.4 * np.sin(np.linspace(0, 6 * np.pi, 33)),
    np.linspace(0.0, 1.0, 33),
])


def person(cx: float, top: float, height: float = 200.0, score: float = 0.9,
           jitter: float = 1.0) -> Detection:
    """A synthetic detection: a body ``height`` px tall, centred at x=cx, starting at y=top."""
    xy = np.empty((33, 2))
    xy[:, 0] = cx + (_TEMPLATE[:, 0] - 0.5) * height * 0.4
    xy[:, 1] = top + _TEMPLATE[:, 1] * height
    xy += _rng.normal(0, jitter, xy.shape)
    image = np.column_stack([xy[:, 0] / W, xy[:, 1] / H, np.full(33, score)])
    return make_detection(image, np.zeros((33, 3)), W, H)


def ids_following(tracks, positions: dict[int, float], top: float | None = None) -> list[int]:
    """ID of the track whose box centre x (and top y, when given) is nearest positions[f] at
    each frame f (0 if none is within 25 px)."""
    out = []
    for f, x in positions.items():
        best, best_d = 0, 25.0
        for t in tracks:
            if t.present[f]:
                d = abs(float(t.boxes[f, [0, 2]].mean()) - x)
                if top is not None:
                    d = float(np.hypot(d, t.boxes[f, 1] - top))
                if d < best_d:
                    best, best_d = t.track_id, d
        out.append(best)
    return out


def test_swapped_detection_order_keeps_ids() -> None:
    frames, xa, xb = [], {}, {}
    for f in range(40):
        xa[f], xb[f] = 200 + 3 * f, 800 - 3 * f
        a, b = person(xa[f], 100), person(xb[f], 300)
        frames.append([a, b] if f % 2 == 0 else [b, a])
    tracks = track_people(frames, (W, H), FPS)
    assert [t.track_id for t in tracks] == [1, 2]
    assert ids_following(tracks, xa) == [1] * 40
    assert ids_following(tracks, xb) == [2] * 40
    assert all(t.present.all() for t in tracks)
    assert tracks[0].image_landmarks.shape == (40, 33, 3) and tracks[0].boxes.shape == (40, 4)


def test_people_crossing_keep_ids_with_constant_velocity() -> None:
    # A walks right, B walks left; they pass each other at frame 20 (B lower in the image, so
    # their boxes overlap only partly). The prediction carries each across the crossing.
    frames, xa, xb = [], {}, {}
    for f in range(40):
        xa[f], xb[f] = 300 + 10 * f, 700 - 10 * f
        frames.append([person(xb[f], 240), person(xa[f], 100)])
    tracks = track_people(frames, (W, H), FPS)
    assert ids_following(tracks, xa, top=100) == [1] * 40
    assert ids_following(tracks, xb, top=240) == [2] * 40


def test_short_gap_is_bridged_and_long_gap_starts_new_track() -> None:
    frames, xa, xb = [], {}, {}
    for f in range(120):
        xa[f], xb[f] = 200 + f, 700
        dets = [person(xb[f], 300)]
        if not 10 <= f < 25:          # A missing 15 frames (0.5 s): same ID afterwards
            dets.append(person(xa[f], 100))
        frames.append(dets)
    tracks = track_people(frames, (W, H), FPS, TrackingConfig(max_people=3))
    assert len(tracks) == 2
    expected_a = [0 if 10 <= f < 25 else 1 for f in range(120)]
    assert ids_following(tracks, xa) == expected_a
    assert ids_following(tracks, xb) == [2] * 120

    frames = []
    for f in range(120):
        dets = [person(700, 300)]
        if not 20 <= f < 70:          # A missing 50 frames (1.7 s): a new track
            dets.append(person(200, 100))
        frames.append(dets)
    tracks = track_people(frames, (W, H), FPS, TrackingConfig(max_people=3))
    ids = ids_following(tracks, {f: 200.0 for f in range(120)})
    assert ids == [1] * 20 + [0] * 50 + [3] * 50
    assert ids_following(tracks, {f: 700.0 for f in range(120)}) == [2] * 120


def test_duplicates_and_phantoms_are_removed() -> None:
    frames, xa, xb = [], {}, {}
    for f in range(60):
        xa[f], xb[f] = 200 + 2 * f, 700
        dets = [person(xa[f], 100), person(xb[f], 300)]
        if f % 3 == 0:   # a duplicate of A (shifted a little, less visible): IoU > 0.5
            dets.append(person(xa[f] + 8, 104, score=0.6))
        if f % 5 == 0:   # a low-visibility phantom in between
            dets.append(person(450, 200, score=0.1))
        if f % 7 == 0:   # a tiny phantom
            dets.append(person(900, 50, height=12))
        if 30 <= f < 36:  # a short-lived ghost (6 frames < 15)
            dets.append(person(500, 380, height=150))
        frames.append(dets[::-1] if f % 2 else dets)
    tracks = track_people(frames, (W, H), FPS, TrackingConfig(max_people=4))
    assert [t.track_id for t in tracks] == [1, 2]
    assert ids_following(tracks, xa) == [1] * 60
    assert ids_following(tracks, xb) == [2] * 60
    # where the duplicate appeared, the kept detection is the more visible one
    assert np.allclose(tracks[0].image_landmarks[::3, :, 2], 0.9)


def test_clean_frame_keeps_the_more_visible_duplicate() -> None:
    a, dup = person(300, 100, score=0.7), person(305, 102, score=0.95)
    assert box_iou(a.box, dup.box) > 0.5
    kept = clean_frame([a, dup], H, TrackingConfig())
    assert kept == [dup]


def test_at_most_max_people_longest_tracks_are_kept() -> None:
    frames = []
    for f in range(90):
        dets = [person(150, 100), person(500, 300)]
        if f >= 60:  # a third person seen for 1 s only
            dets.append(person(850, 200))
        frames.append(dets)
    tracks = track_people(frames, (W, H), FPS, TrackingConfig(max_people=2))
    assert [t.track_id for t in tracks] == [1, 2]
    assert [int(t.present.sum()) for t in tracks] == [90, 90]
    centres = [float(t.boxes[0, [0, 2]].mean()) for t in tracks]
    assert abs(centres[0] - 150) < 10 and abs(centres[1] - 500) < 10


def test_ids_numbered_by_first_appearance() -> None:
    frames = []
    for f in range(60):
        dets = [person(700, 300)]
        if f >= 10:
            dets.append(person(200, 100))
        frames.append(dets)
    tracks = track_people(frames, (W, H), FPS)
    assert [t.track_id for t in tracks] == [1, 2]
    assert int(np.flatnonzero(tracks[1].present)[0]) == 10
    assert abs(float(tracks[0].boxes[0, [0, 2]].mean()) - 700) < 10


def test_a_sudden_giant_box_does_not_join_the_track() -> None:
    # at frame 20 the detector returns one merged phantom twice A's size instead of A
    frames, xa = [], {}
    for f in range(40):
        xa[f] = 300 + f
        frames.append([person(xa[f], 300, height=200)] if f != 20
                      else [person(xa[f], 100, height=450)])
    tracks = track_people(frames, (W, H), FPS)
    assert len(tracks) == 1
    assert tracks[0].present.tolist() == [f != 20 for f in range(40)]


def test_established_tracks_choose_before_young_ones() -> None:
    # A walks for 20 frames; a ghost appears beside A for 3 frames, then at frame 23 only one
    # detection remains, between the two but nearer the ghost: it is A (the ghost was a glitch)
    frames = []
    for f in range(40):
        dets = [person(300 + f, 200)]
        if 20 <= f < 23:
            dets = [person(300 + f, 200), person(300 + f + 70, 200)]
        if f == 23:
            dets = [person(300 + f + 40, 200)]
        frames.append(dets)
    tracks = track_people(frames, (W, H), FPS)
    assert len(tracks) == 1 and tracks[0].present.all()


def test_assignment_matches_scipy_hungarian() -> None:
    from scipy.optimize import linear_sum_assignment

    from inference_backend.tracking import assign

    rng = np.random.default_rng(3)
    for shape in [(1, 1), (1, 4), (3, 3), (4, 2), (2, 5), (6, 6), (3, 7), (8, 8), (9, 4)]:
        for _ in range(20):
            cost = rng.uniform(0.0, 1.0, shape)
            rows, cols = assign(cost)
            ref_rows, ref_cols = linear_sum_assignment(cost)
            assert len(rows) == len(ref_rows) == min(shape)
            assert np.all(np.diff(rows) > 0) and len(set(cols.tolist())) == len(cols)
            assert cost[rows, cols].sum() == pytest.approx(cost[ref_rows, ref_cols].sum(), abs=1e-12)


def test_landmark_distance_is_the_median_landmark_distance_over_the_box_diagonal() -> None:
    """33 landmarks (an odd count: the middle order statistic) and an even count both give
    np.median's value exactly, over the box diagonal."""
    rng = np.random.default_rng(5)
    box = np.array([10.0, 20.0, 40.0, 60.0], np.float32)        # diagonal 50 px
    for count in (33, 32):
        a = (rng.normal(size=(count, 3)) * 100).astype(np.float32)
        b = a + (rng.normal(size=(count, 3)) * 20).astype(np.float32)
        median = np.median(np.linalg.norm(a[:, :2] - b[:, :2], axis=1))
        assert landmark_distance(a, b, box) == float(median / 50.0)
