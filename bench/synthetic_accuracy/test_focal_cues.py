"""Positive controls for focal_cues.py: on exact synthetic geometry each cue returns the focal,
so the failures it reports on the rendered clips come from the detector's output, not the maths.

Run: .venv/bin/python -m pytest bench/synthetic_accuracy/test_focal_cues.py -q
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from focal_cues import focal_to_fov, fov_to_focal, odometry_focal, vvp_focal  # noqa: E402
from gait_focal import GaitFocalConfig, estimate_focal_from_gait  # noqa: E402

F, C = 500.0, np.array([320.0, 180.0])


def _project(points_cam: np.ndarray) -> np.ndarray:
    return F * points_cam[..., :2] / points_cam[..., 2:3] + C


def test_fov_focal_round_trip():
    assert abs(focal_to_fov(fov_to_focal(55.0, 640), 640) - 55.0) < 1e-9


def test_odometry_recovers_the_focal_of_a_walk_in_depth():
    rng = np.random.default_rng(0)
    body = rng.normal(0, 0.3, (8, 3))                      # rigid body, metres about the hips
    t_frames, step_frames, speed = 90, 15, 0.04            # 1.2 m/s toward the camera at 30 fps
    def hip_at(k):
        return np.array([0.3, -0.2, 6.0]) + np.multiply.outer(k, [0.0, 0.0, -speed])

    hips = hip_at(np.arange(t_frames))
    n_steps = t_frames // step_frames
    plants = [hip_at(i * step_frames) + [0.1 * (1 - 2 * (i % 2)), 0.9, -0.2]
              for i in range(-1, n_steps + 1)]             # plants[i + 1]: stance i's foot
    feet_world = np.zeros((t_frames, 2, 3))
    for k in range(t_frames):                              # alternate planted feet; the swing
        stance, phase = divmod(k, step_frames)             # foot goes from its last plant to
        planted = stance % 2                               # its next one
        feet_world[k, planted] = plants[stance + 1]
        a = (phase + 1) / step_frames
        feet_world[k, 1 - planted] = (1 - a) * plants[stance] + a * plants[stance + 2]
    uv_body = _project(hips[:, None] + body)
    f_est, se = odometry_focal(uv_body, np.broadcast_to(body, (t_frames, 8, 3)),
                               _project(feet_world), feet_world - hips[:, None])
    assert abs(f_est / F - 1) < 0.05 and se < 0.05 * F


def test_vvp_and_horizon_give_the_focal_of_a_tilted_camera():
    pitch = np.radians(12.0)
    rot = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
    people = []                    # (foot, head, shoulder) image points per standing person
    for x, z in [(-2, 5), (1.5, 6), (0, 8), (2, 10), (-1.5, 4), (0.5, 7)]:
        # camera 1.6 m above the floor, y down; a 1.7 m upright person standing at (x, z)
        people.append(_project(np.array([[x, 1.6, z], [x, -0.1, z], [x, 0.0, z]]) @ rot.T))
    foot, head, shoulder = np.array(people).transpose(1, 0, 2)
    f_est = vvp_focal(foot, head, foot, shoulder, C)
    assert abs(f_est / F - 1) < 0.05


THIGH = SHANK = 0.42                                       # metres; height = 0.84 / 0.491


def _walker(heading_deg: float, step: float, cadence: float = 114.0, seconds: float = 6.0,
            fps: float = 30.0):
    """Exact landmarks of a stick figure walking on a floor 1.5 m below a level camera:
    (metric (F, 33, 3) about the hips, image (F, 33, 2) at focal F, weights (F, 33), times).
    Heading 0 walks straight at the camera, 90 across the view; ``step`` metres per step at
    ``cadence`` steps per minute; the feet swing +-0.3 m fore-aft, passing once a step."""
    t = np.arange(int(seconds * fps)) / fps
    h = np.radians(heading_deg)
    forward, side = np.array([np.sin(h), 0.0, -np.cos(h)]), np.array([np.cos(h), 0.0, np.sin(h)])
    phase = np.pi * cadence / 60.0 * t                     # pi per step
    pelvis = np.array([-0.6, 0.68, 9.0]) + np.outer(step * cadence / 60.0 * t, forward)
    points = np.zeros((len(t), 33, 3))
    weights = np.zeros((len(t), 33))
    for sign, (sh, hip, knee, ankle, heel, toe) in ((1, (11, 23, 25, 27, 29, 31)),
                                                     (-1, (12, 24, 26, 28, 30, 32))):
        hip_p = pelvis + sign * 0.1 * side
        ankle_p = hip_p + np.outer(sign * 0.3 * np.sin(phase), forward)
        ankle_p[:, 1] = 1.42                               # 8 cm above the floor
        mid, half = (hip_p + ankle_p) / 2, np.linalg.norm(ankle_p - hip_p, axis=1) / 2
        knee_p = mid + np.outer(np.sqrt(THIGH ** 2 - half ** 2), forward)
        points[:, sh] = hip_p + [0.0, -0.5, 0.0] + sign * 0.08 * side
        points[:, hip], points[:, knee], points[:, ankle] = hip_p, knee_p, ankle_p
        points[:, heel] = ankle_p - 0.05 * forward
        points[:, toe] = ankle_p + 0.15 * forward
        weights[:, [sh, hip, knee, ankle, heel, toe]] = 1.0
    hips = (points[:, 23] + points[:, 24]) / 2
    image = np.where(weights[..., None] > 0, _project(np.where(points[..., 2:] > 0, points, 1.0)), 0.0)
    return points - hips[:, None], image, weights, t


def test_gait_prior_recovers_the_focal_of_a_walk_in_depth():
    step, cadence = 0.65, 114.0
    config = GaitFocalConfig(walk_ratio_per_height_min=step / (2 * THIGH / 0.491) / cadence)
    est = estimate_focal_from_gait([_walker(20.0, step, cadence)], 640, 360, config)
    assert est.focal is not None, est.reason
    assert abs(est.focal / F - 1) < 0.03
    assert abs(est.cadence_spm - cadence) < 2 and est.steps >= 8 and est.depth_share > 0.8


def test_gait_prior_is_not_observable_standing_still_or_walking_across():
    standing = estimate_focal_from_gait([_walker(20.0, 0.0, cadence=0.0)], 640, 360)
    assert standing.focal is None and "no walk" in standing.reason
    across = estimate_focal_from_gait([_walker(90.0, 0.65)], 640, 360)
    assert across.focal is None and across.steps >= 8
