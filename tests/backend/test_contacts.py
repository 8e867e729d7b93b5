"""Foot contacts (inference_backend.contacts) on a synthetic walk with exact ground truth."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_landmarks import walking_person

from inference_backend.contacts import ContactConfig, foot_contacts, hysteresis, remove_short
from inference_backend.landmark_map import LM
from inference_backend.smoothing import local_linear_smooth

FPS = 30.0


def _dilate(mask: np.ndarray) -> np.ndarray:
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    return out


def _precision_recall(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Frame-wise precision / recall with a +-1 frame tolerance at segment boundaries (a
    predicted contact frame is right when the truth has contact within one frame, and vice
    versa): contact onsets are defined to a frame at best."""
    precision = float(np.sum(pred & _dilate(truth))) / max(float(pred.sum()), 1.0)
    recall = float(np.sum(truth & _dilate(pred))) / max(float(truth.sum()), 1.0)
    return precision, recall


def _noisy_smoothed(joints: np.ndarray, times: np.ndarray, rng: np.random.Generator,
                    noise_m: float) -> np.ndarray:
    noisy = joints + rng.normal(0, noise_m, joints.shape)
    flat = local_linear_smooth(noisy.reshape(len(times), -1), times, 0.04)
    return flat.reshape(joints.shape)


def test_walk_contacts_precision_recall_on_noisy_joints() -> None:
    times = np.arange(int(6 * FPS)) / FPS
    rng = np.random.default_rng(0)
    walk = walking_person(times, rng, start=(0.0, 0.0), heading_deg=30, turn_deg_per_s=10)
    assert 0.2 < walk.contacts.mean() < 0.8          # a real gait: stance and swing
    joints = _noisy_smoothed(walk.joints, times, rng, noise_m=0.01)
    probs = foot_contacts(joints, times, np.ones(len(times), bool))
    assert probs.shape == (len(times), 4) and probs.dtype == np.float32
    assert probs.min() >= 0.0 and probs.max() <= 1.0
    precision, recall = _precision_recall(probs >= 0.5, walk.contacts)
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)


def test_contacts_on_a_platform_and_not_in_the_air() -> None:
    times = np.arange(int(4 * FPS)) / FPS
    rng = np.random.default_rng(1)
    walk = walking_person(times, rng, start=(0.0, 0.0), heading_deg=-60, floor=2.0)
    probs = foot_contacts(walk.joints, times, np.ones(len(times), bool))
    precision, recall = _precision_recall(probs >= 0.5, walk.contacts)
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)
    # Swing phases (ground truth off for the whole foot) are never called contacts.
    airborne = ~walk.contacts[:, 0] & ~walk.contacts[:, 1]
    assert np.mean(probs[airborne, :2] >= 0.5) < 0.1


def test_invalid_frames_have_no_contacts() -> None:
    times = np.arange(60) / FPS
    walk = walking_person(times, np.random.default_rng(2), start=(0.0, 0.0), heading_deg=0)
    valid = np.ones(60, bool)
    valid[20:30] = False
    probs = foot_contacts(walk.joints, times, valid)
    assert np.all(probs[20:30] == 0)


def test_hysteresis_and_minimum_duration() -> None:
    p = np.array([0.0, 0.7, 0.45, 0.45, 0.2, 0.55, 0.0, 0.0])
    cfg = ContactConfig()
    state = hysteresis(p, cfg.enter, cfg.stay)
    assert state.tolist() == [False, True, True, True, False, True, False, False]
    times = np.arange(len(p)) / FPS
    # Runs shorter than 0.1 s (3 frames) are removed.
    cleaned = remove_short(state, times, 0.1)
    assert cleaned.tolist() == [False, True, True, True, False, False, False, False]


def _sinking_feet(times: np.ndarray, depth: float) -> np.ndarray:
    """SMPL world joints (F, 24, 3) of a person standing still whose fitted feet (all four
    contact channels) sink ``depth`` m under the ground between 1.4 s and 2.6 s (a smooth dip,
    as a deep squat fitted too far away gives), at their flat-foot heights elsewhere."""
    from inference_backend.contacts import CHANNEL_CLEARANCE_M

    joints = np.zeros((len(times), 24, 3))
    x = np.clip((times - 1.4) / 1.2, 0.0, 1.0)
    dip = depth * np.sin(np.pi * x) ** 2
    for c, j in enumerate((7, 10, 8, 11)):
        joints[:, j, 0] = 0.1 * (c // 2)
        joints[:, j, 1] = CHANNEL_CLEARANCE_M[c] - dip
    return joints


def test_feet_sinking_under_the_ground_keep_their_contacts_around_the_dip() -> None:
    # Regression (synthetic benchmark, squat): the running-percentile floor followed the sunken
    # feet down, so the feet standing on the ground for ~1 s before and after the dip read as
    # lifted (no contacts) and the ground correction ramped over that whole window.
    times = np.arange(int(4 * FPS)) / FPS
    joints = _sinking_feet(times, depth=0.25)
    on = foot_contacts(joints, times, np.ones(len(times), bool)) >= 0.5
    assert on.all(), np.flatnonzero(~on.all(1))
    # Feet standing on a 2 m platform are on their own floor; a sole 10 cm over it is not.
    still = _sinking_feet(times, depth=0.0)
    still[..., 1] += 2.0
    assert (foot_contacts(still, times, np.ones(len(times), bool)) >= 0.5).all()
    lifted = (times > 2.0) & (times < 2.6)
    still[:, [7, 10], 1] += 0.1 * lifted[:, None]
    probs = foot_contacts(still, times, np.ones(len(times), bool))
    assert (probs[lifted][:, :2] < 0.5).all() and (probs[~lifted] >= 0.5).all()
    assert (probs[:, 2:] >= 0.5).all()


def _camera(height: float = 1.6, distance: float = 6.0, pitch_deg: float = 10.0):
    """World-to-camera (R, t) of a static camera at (0, height, distance) looking toward -z
    (OpenCV axes), pitched down."""
    p = np.radians(pitch_deg)
    forward = np.array([0.0, -np.sin(p), -np.cos(p)])
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    R = np.stack([right, down, forward])
    centre = np.array([0.0, height, distance])
    return R, -R @ centre, centre


def _depth_jitter(joints: np.ndarray, centre: np.ndarray, rng: np.random.Generator,
                  rel_std: float) -> np.ndarray:
    """Each frame's body scaled about the camera centre by 1 + noise (a monocular fit's depth
    error: the image is unchanged); the noise is correlated over ~3 frames."""
    noise = local_linear_smooth(rng.normal(0, rel_std * 1.8, (len(joints), 1)),
                                np.arange(len(joints)) / FPS, 1.5 / FPS)[:, 0]
    return centre + (1.0 + noise)[:, None, None] * (joints - centre)


def test_depth_jitter_of_a_monocular_fit_does_not_hide_planted_feet() -> None:
    """A fit whose distance jitters by ~4 % (0.2 m at 5 m): in the world a planted foot moves
    and bobs; seen through the camera it stays still. With the view, contacts keep F1 >= 0.9
    where the world-only judgement loses most of them."""
    from inference_backend.contacts import ContactView

    times = np.arange(int(6 * FPS)) / FPS
    rng = np.random.default_rng(3)
    walk = walking_person(times, rng, start=(0.0, 0.0), heading_deg=20)
    R, t, centre = _camera()
    joints = _depth_jitter(walk.joints, centre, rng, 0.04)
    valid = np.ones(len(times), bool)
    # Truth per foot as on the rendered benchmark: its lowest sole landmark (heel, toe tip)
    # within 3 cm of the floor.
    # (and slower than 0.5 m/s: this procedural gait's swing foot skims the floor).
    truth = np.stack([walk.landmarks[:, [LM[f"{s}_heel"], LM[f"{s}_foot_index"]], 1].min(1)
                      for s in ("left", "right")], 1)
    speed = np.stack([np.linalg.norm(np.gradient(
        walk.landmarks[:, [LM[f"{s}_heel"], LM[f"{s}_foot_index"]]].mean(1)[:, [0, 2]], times,
        axis=0), axis=1) for s in ("left", "right")], 1)
    truth = (truth - truth.min() < 0.03) & (speed < 0.5)
    # The bands the scene stage judges with (chosen on the rendered benchmark).
    from inference_backend.scene import SceneConfig

    cfg = SceneConfig().contacts

    def per_foot(c: np.ndarray) -> np.ndarray:
        return np.stack([c[:, :2].max(1), c[:, 2:].max(1)], 1) >= 0.5

    blind = per_foot(foot_contacts(joints, times, valid, cfg))
    seen = per_foot(foot_contacts(joints, times, valid, cfg, view=ContactView(R, t)))
    p_b, r_b = _precision_recall(blind, truth)
    p_s, r_s = _precision_recall(seen, truth)
    f1 = 2 * p_s * r_s / (p_s + r_s)
    assert f1 >= 0.9, (p_s, r_s)
    assert r_b < 0.6 < r_s, (r_b, r_s)


def test_stabilise_depth_keeps_the_image_and_removes_jitter() -> None:
    from inference_backend.contacts import stabilise_depth

    times = np.arange(90) / FPS
    rng = np.random.default_rng(4)
    walk = walking_person(times, rng, start=(0.0, 0.0), heading_deg=0)
    R, t, centre = _camera()
    jittered = _depth_jitter(walk.joints, centre, rng, 0.04)
    fixed = stabilise_depth(jittered, jittered[:, 0], centre, times, 0.5)

    def image(x):
        cam = x @ R.T + t
        return cam[..., :2] / cam[..., 2:3]

    assert np.allclose(image(fixed), image(jittered), atol=1e-9)
    err_before = np.abs(np.linalg.norm(jittered[:, 0] - centre, axis=-1)
                        - np.linalg.norm(walk.joints[:, 0] - centre, axis=-1))
    err_after = np.abs(np.linalg.norm(fixed[:, 0] - centre, axis=-1)
                       - np.linalg.norm(walk.joints[:, 0] - centre, axis=-1))
    assert err_after.mean() < 0.6 * err_before.mean()


def test_heel_and_toe_points_of_a_flat_rest_foot_lie_on_its_sole() -> None:
    from inference_backend.contacts import SOLE_CLEARANCE_M, sole_points

    ankles = np.array([[[0.1, 0.07, 0.0], [-0.1, 0.07, 0.0]]])
    pts = sole_points(ankles, np.tile(np.eye(3), (1, 2, 1, 1)))
    assert pts.shape == (1, 2, 2, 3)
    # Sole height of every point (its height minus its clearance) is the ground, 0.
    assert np.allclose(pts[0, :, :, 1] - SOLE_CLEARANCE_M, 0.0, atol=1e-9)
    # The toe is ahead of the heel (+z forward in the rest frame).
    assert np.all(pts[0, :, 1, 2] > pts[0, :, 0, 2])


def test_a_foot_held_still_above_a_known_level_is_not_a_contact() -> None:
    """A foot held 4.5 cm off the ground for 3 s: its own running floor alone would call it
    planted (it never goes lower); the ground level the scene found says it is lifted. A foot
    on a 2 m platform is snapped to the platform's level, not to the ground."""
    from inference_backend.contacts import contact_probabilities

    times = np.arange(90) / FPS
    still = np.zeros((90, 1, 2))
    lifted = np.full((90, 1), 0.045)
    assert (contact_probabilities(lifted, still, times) >= 0.5).all()
    assert not (contact_probabilities(lifted, still, times, levels=(0.0,)) >= 0.5).any()
    on_box = np.full((90, 1), 2.0)
    assert (contact_probabilities(on_box, still, times, levels=(0.0, 2.0)) >= 0.5).all()


def test_ray_height_slack_is_what_a_move_along_the_view_ray_can_change() -> None:
    """A point 3 m below and 4 m in front of the camera (5 m away, the ray 36.9 deg down):
    moving it by 3 % of its distance along the ray changes its height by 0.03 x 5 x 0.6 m;
    a point level with the camera gets no slack."""
    from inference_backend.contacts import ray_height_slack

    centre = np.array([0.0, 3.0, 0.0])
    pts = np.array([[[0.0, 0.0, 4.0], [0.0, 3.0, 4.0]]])
    slack = ray_height_slack(pts, centre, 0.03)
    assert slack.shape == (1, 2)
    assert slack[0, 0] == pytest.approx(0.03 * 5.0 * 0.6)
    assert slack[0, 1] == pytest.approx(0.0)
    per_frame = ray_height_slack(pts, centre[None], 0.03)       # (F, 3) centres alike
    assert np.allclose(per_frame, slack)


def test_a_planted_foot_misplaced_along_a_steep_view_ray_stays_planted() -> None:
    """A foot still in the image whose fitted height drifts from 0 to 12 cm (a depth error on
    a steep ray, as close to a wide-angle camera with a wrong lens) while the other foot stays
    at 0: without slack the height cues drop it after a few centimetres; with the slack a 5 m
    ray 37 deg down allows (0.03 x 5 x 0.6 = 9 cm at the end) it stays planted."""
    from inference_backend.contacts import contact_probabilities

    times = np.arange(60) / FPS
    drift = np.linspace(0.0, 0.12, 60)
    heights = np.stack([drift, np.zeros(60)], 1)
    above = heights - heights.min(1, keepdims=True)
    still = np.zeros((60, 2, 2))
    cfg = ContactConfig(height_on_m=0.02, height_off_m=0.05, floor_on_m=0.1, floor_off_m=0.25)
    plain = contact_probabilities(heights, still, times, cfg, above_lowest=above) >= 0.5
    slack = np.full((60, 2), 0.09)
    loose = contact_probabilities(heights, still, times, cfg, above_lowest=above,
                                  height_slack=slack) >= 0.5
    assert plain[:, 1].all() and not plain[-20:, 0].any()
    assert loose.all()
