"""Implausible limb poses (inference_backend.pose_limits): found and slerped across."""

from __future__ import annotations

import numpy as np
from synthetic_landmarks import walking_person

from inference_backend.kinematics import log_map, rodrigues
from inference_backend.pose_limits import implausible_frames, repair_implausible

FPS = 30.0


def _walk(seconds: float = 3.0):
    times = np.arange(int(seconds * FPS)) / FPS
    walk = walking_person(times, np.random.default_rng(0), start=(0.0, 0.0), heading_deg=0)
    return times, walk, log_map(walk.local)


def test_a_normal_walk_is_plausible_and_untouched() -> None:
    times, walk, aa = _walk()
    flags = implausible_frames(walk.local, walk.rest)
    assert not any(f.any() for f in flags.values())
    fixed, repaired = repair_implausible(aa, walk.rest, times)
    assert not repaired.any() and np.array_equal(fixed, aa)


def test_a_thigh_flipped_up_behind_the_body_is_repaired() -> None:
    """Frames 40-44: the right thigh swings ~150 deg up behind the walking body (a depth flip
    of the fit, as on the bundled clip): detected, and the leg is slerped across from the
    plausible frames around it; nothing else changes."""
    times, walk, aa = _walk()
    flipped = walk.local.copy()
    ramp = np.array([0.35, 0.7, 1.0, 0.7, 0.35])
    for k, f in enumerate(range(40, 45)):
        flipped[f, 2] = rodrigues(np.array([np.radians(150.0) * ramp[k], 0.0, 0.0])) @ flipped[f, 2]
    bad = implausible_frames(flipped, walk.rest)[2]
    assert bad[41:44].all() and not bad[:39].any() and not bad[46:].any()
    fixed, repaired = repair_implausible(log_map(flipped), walk.rest, times)
    rows = np.flatnonzero(repaired.any(1))
    assert 38 <= rows.min() and rows.max() <= 46
    assert set(np.flatnonzero(repaired.any(0))) == {2, 5, 8, 11}      # the right leg only
    assert not any(f.any() for f in implausible_frames(rodrigues(fixed), walk.rest).values())
    # The repaired thigh is close to the true walking pose (within 20 deg).
    true_thigh = walk.local[40:45, 2] @ (walk.rest[5] - walk.rest[2])
    got_thigh = rodrigues(fixed[40:45, 2]) @ (walk.rest[5] - walk.rest[2])
    cos = np.sum(true_thigh * got_thigh, -1) / np.linalg.norm(true_thigh, axis=-1) ** 2
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 20.0
    untouched = np.ones(len(times), bool)
    untouched[rows] = False
    assert np.array_equal(fixed[untouched], log_map(flipped)[untouched])


def test_a_high_front_kick_and_a_deep_squat_are_plausible() -> None:
    times, walk, _ = _walk(1.0)
    local = walk.local.copy()
    local[:, 1] = rodrigues(np.array([np.radians(-110.0), 0.0, 0.0]))   # thigh up in front
    local[:, 4] = rodrigues(np.array([np.radians(120.0), 0.0, 0.0]))    # knee folded
    flags = implausible_frames(local, walk.rest)
    assert not flags[1].any()


def test_a_long_implausible_run_is_left_alone_and_edges_hold() -> None:
    times, walk, aa = _walk()
    flipped = walk.local.copy()
    back = rodrigues(np.array([np.radians(120.0), 0.0, 0.0]))
    flipped[10:60, 1] = back @ flipped[10:60, 1]      # 1.7 s: not a flip, left as it is
    flipped[:3, 2] = back @ flipped[:3, 2]            # the track's first frames
    fixed, repaired = repair_implausible(log_map(flipped), walk.rest, times)
    assert not repaired[:, 1].any()
    assert repaired[:3, 2].all()
    # An edge run holds the first plausible frame after it.
    first_ok = np.flatnonzero(~repaired[:, 2])[0]
    assert np.allclose(rodrigues(fixed[:3, 2]), rodrigues(fixed[first_ok, 2]), atol=1e-6)
