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
