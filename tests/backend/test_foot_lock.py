"""Planted feet stay put (issue 17, item 2): foot_lock.py and the scene stage's use of it."""

from __future__ import annotations

import numpy as np
from synthetic_landmarks import make_camera, walking_person
from test_scene import N, _solve, default_shaped

from inference_backend.foot_lock import FootLockConfig, planted_shifts
from inference_backend.kinematics import log_map, rodrigues
from inference_backend.motion_types import CameraTrack
from inference_backend.scene import SceneConfig

FPS = 30.0


def _slide_in_contacts(joints: np.ndarray, contacts: np.ndarray,
                       truth: np.ndarray | None = None) -> list[float]:
    """Per foot and contact segment (>= 3 frames): horizontal path (m) of the lower of the
    foot's two contact joints (ankle 7/8, ball 10/11), step by step; with ``truth`` (F, 4)
    only over the steps where the truth has that foot planted too."""
    out = []
    for foot, (an, ba) in enumerate(((7, 10), (8, 11))):
        on = (contacts[:, 2 * foot:2 * foot + 2] >= 0.5).any(1)
        edges = np.diff(np.r_[0, on.astype(int), 0])
        for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            if b - a < 3:
                continue
            pts = joints[a:b][:, [an, ba]].astype(float)
            low = np.argmin(pts[:-1, :, 1] - [0.07, 0.043], axis=1)
            step = np.linalg.norm(np.diff(pts[..., [0, 2]], axis=0)[np.arange(b - a - 1), low],
                                  axis=1)
            if truth is not None:
                planted = truth[a:b, 2 * foot:2 * foot + 2].any(1)
                step = step[planted[:-1] & planted[1:]]
            out.append(float(step.sum()))
    return out


def test_a_sliding_contact_is_held_still_mean_zero_and_faded_out() -> None:
    """A foot sliding 1 cm per frame through a 20-frame contact: the shift cancels the slide
    (the planted point stands still), averages to zero over the contact, fades to zero
    within ``ramp_s`` outside it, and is capped at ``max_shift_m``."""
    n = 60
    t = np.arange(n) / FPS
    joints = np.zeros((n, 12, 3))
    joints[:, 7] = [0.0, 0.07, 0.0]
    joints[:, 10] = [0.0, 0.043, 0.15]
    joints[:, [8, 11]] = [1.0, 0.5, 0.0]                 # the right foot in the air
    slide = np.clip(np.arange(n) - 20, 0, None) * 0.01   # x slides from frame 20 on
    joints[:, [7, 10], 0] += slide[:, None]
    contacts = np.zeros((n, 4))
    contacts[20:40, :2] = 1.0
    cfg = FootLockConfig()
    sh = planted_shifts(joints, contacts, t, np.ones(n, bool), cfg)
    held = joints[20:40, 10, [0, 2]] + sh[20:40, 0][:, [0, 2]]
    assert np.ptp(held, axis=0).max() < 1e-9                          # still within contact
    assert abs(sh[20:40, 0, 0].mean()) < 1e-9                         # mean zero: no drift
    assert np.all(sh[:, 1] == 0) and np.all(sh[..., 1] == 0)          # other foot, vertical
    ramp = int(np.ceil(cfg.ramp_s * FPS))
    assert np.all(sh[:20 - ramp, 0] == 0) and np.all(sh[40 + ramp:, 0] == 0)
    # the fade: no step larger than the edge value spread over the ramp's frames
    assert np.abs(np.diff(sh[:, 0, 0])).max() <= abs(sh[20, 0, 0]) / (cfg.ramp_s * FPS) + 0.011
    capped = planted_shifts(joints, contacts, t, np.ones(n, bool),
                            FootLockConfig(max_shift_m=0.05))
    assert np.linalg.norm(capped[:, 0], axis=1).max() <= 0.05 + 1e-9


def test_scene_holds_jittering_planted_feet_without_moving_the_root() -> None:
    """A walk whose leg pose jitters (2.5 deg per frame at hips, knees and ankles, as a
    monocular fit's does): after the scene stage the planted point's path within each contact,
    over the frames where the walker's foot is truly planted, is below 0.5 cm in the median and
    2 cm at most (over 5 cm in the median without the lock); the root is the same, and no
    frame-to-frame ankle step is larger than without the lock by more than 2 cm (no pop where
    a foot lands or lifts)."""
    times = np.arange(N) / FPS
    rng = np.random.default_rng(4)
    cam = make_camera(fov_deg=55.0, height=1.5)
    walker = walking_person(times, rng, start=(-1.0, 0.5), heading_deg=70)
    frames = np.arange(N)
    track = default_shaped(walker, cam, frames)
    noise = np.zeros_like(track.body_pose)
    legs = [j - 1 for j in (1, 2, 4, 5, 7, 8)]
    noise[:, legs] = rng.normal(0, np.radians(2.5), (N, len(legs), 3))
    shaky_pose = log_map(rodrigues(track.body_pose) @ rodrigues(noise))
    shaky = CameraTrack(**{**track.__dict__, "body_pose": shaky_pose})
    locked = _solve(shaky, cam, times).persons[0]
    free = _solve(shaky, cam, times, SceneConfig(
        foot_lock=FootLockConfig(enabled=False))).persons[0]
    assert np.array_equal(locked.contacts, free.contacts)
    assert np.allclose(locked.transl, free.transl)
    slid_free = _slide_in_contacts(free.joints3d, free.contacts, walker.contacts)
    slid_locked = _slide_in_contacts(locked.joints3d, locked.contacts, walker.contacts)
    assert len(slid_locked) >= 4
    assert np.median(slid_free) > 0.05, slid_free
    assert np.median(slid_locked) < 0.005 and max(slid_locked) < 0.02, slid_locked
    for j in (7, 8):
        step_l = np.linalg.norm(np.diff(locked.joints3d[:, j], axis=0), axis=1)
        step_f = np.linalg.norm(np.diff(free.joints3d[:, j], axis=0), axis=1)
        assert (step_l - step_f).max() < 0.02, (j, (step_l - step_f).max())


def test_a_floating_planted_foot_is_put_down_on_its_level_and_a_sunk_one_left() -> None:
    """Contacts whose lowest sole point floats 5 cm over the ground, or 4 cm over a 0.5 m
    platform, are lowered onto it frame by frame; one a centimetre under the ground is left
    to the ground stage; one far from any level (0.3 m up, a missed swing) is not moved."""
    n = 40
    t = np.arange(n) / FPS
    joints = np.zeros((n, 12, 3))
    contacts = np.zeros((n, 4))
    contacts[5:35] = 1.0
    heights = {}
    for name, sole_y, levels in (("float", 0.05, (0.0,)), ("platform", 0.54, (0.0, 0.5)),
                                 ("sunk", -0.01, (0.0,)), ("far", 0.3, (0.0,))):
        joints[:, [7, 8], 1] = sole_y + 0.07
        joints[:, [10, 11], 1] = sole_y + 0.043 + 0.01       # the heel is the lower point
        joints[:, [10, 11], 2] = 0.15
        joints[:, 1], joints[:, 2] = [0.1, 0.9, 0.0], [-0.1, 0.9, 0.0]
        sh = planted_shifts(joints, contacts, t, np.ones(n, bool), FootLockConfig(), levels)
        heights[name] = sh[5:35, :, 1]
        assert np.all(sh[..., [0, 2]] == 0)                   # nothing slid: nothing horizontal
        assert np.all(sh[:5 - 4, :, 1] == 0) and np.all(sh[35 + 4:, :, 1] == 0)
    assert np.allclose(heights["float"], -0.05)
    assert np.allclose(heights["platform"], -0.04)
    assert np.all(heights["sunk"] == 0) and np.all(heights["far"] == 0)
