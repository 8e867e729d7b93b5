"""The ground under a monocular fit whose depth errs in some poses, and under a leaning torso
(inference_backend.scene.world_frame -> camera.fit_ground_plane; issue 17, camera height).

A fit that misjudges a pose's depth (a deep squat) moves the whole body along the camera's view
rays: the image is unchanged, the planted feet sink below the floor and, standing long, make a
well-supported "level" of their own. A foot that stands still in the image is one world point,
so that level is recognised and dropped. And the torso leans forward as people walk: it only
decides the ground's tilt where the feet do not.
"""

from __future__ import annotations

import numpy as np
from synthetic_landmarks import make_camera, make_skeleton

from inference_backend.motion_types import CameraTrack
from inference_backend.scene import SceneConfig, still_foot_runs, world_frame
from inference_backend.trajectory import CHANNEL_CLEARANCE_M

FPS = 30.0


def _walk_then_stand(n_walk: int = 90, n_stand: int = 90, lean_deg: float = 0.0,
                     squat_from: int | None = None):
    """World key joints (F, 6, 3) (``KEY_JOINTS``: pelvis, neck, left ankle, left ball, right
    ankle, right ball) of a 1 m/s walk on the floor y = 0 (feet planted in turn for 0.5 s
    each, 0.1 m to either side of the path, a 10 cm high swing), then standing still (from
    frame ``squat_from`` on in a squat: the pelvis 0.4 m lower, the trunk 20 deg forward);
    the neck leans ``lean_deg`` forward. Times (F,) s."""
    n = n_walk + n_stand
    times = np.arange(n) / FPS
    heading = np.radians(50.0)
    fwd = np.array([np.sin(heading), 0.0, np.cos(heading)])
    side = np.array([fwd[2], 0.0, -fwd[0]])
    start = np.array([-1.0, 0.0, 0.0])
    s = np.minimum(times, times[n_walk - 1])                    # distance walked (m)
    key = np.zeros((n, 6, 3))
    key[:, 0] = start + s[:, None] * fwd + [0.0, 0.95, 0.0]
    a = np.full(n, np.radians(lean_deg))
    if squat_from is not None:
        key[squat_from:, 0, 1] -= 0.4
        a[squat_from:] = np.radians(20.0)
    key[:, 1] = key[:, 0] + 0.5 * (np.cos(a)[:, None] * np.array([0.0, 1.0, 0.0])
                                   + np.sin(a)[:, None] * fwd)
    for foot, (offset, phase) in enumerate(((0.1, 0.0), (-0.1, 0.5))):
        # Planted at step k for t in [k, k + 0.5) (+ phase), then swinging to step k + 1.
        u = np.clip(s + phase, 0.0, None)
        k, frac = np.floor(u), u - np.floor(u)
        swing = np.clip((frac - 0.5) / 0.5, 0.0, 1.0)
        along = np.where(s >= times[n_walk - 1], s, k + swing - phase)
        lift = np.where(s >= times[n_walk - 1], 0.0, 0.1 * np.sin(np.pi * swing))
        ankle = start + along[:, None] * fwd + offset * side
        ankle[:, 1] = CHANNEL_CLEARANCE_M[0] + lift
        key[:, 2 + 2 * foot] = ankle
        key[:, 3 + 2 * foot] = ankle + 0.14 * fwd + [0.0, CHANNEL_CLEARANCE_M[1]
                                                     - CHANNEL_CLEARANCE_M[0], 0.0]
    return times, key


def _track(key_world: np.ndarray, cam, depth_scale: np.ndarray) -> CameraTrack:
    """A camera-frame track with these key joints, every frame scaled about the camera centre
    by ``depth_scale`` (F,) (a depth error: the same image). The ground needs only the key
    joints; the rotations are placeholders."""
    n = len(key_world)
    key = (key_world @ cam.R.T + cam.t) * depth_scale[:, None, None]
    eye = np.tile(np.eye(3), (n, 1, 1))
    return CameraTrack(1, np.arange(n), eye, np.zeros((n, 23, 3)), key[:, 0], key,
                       make_skeleton(), np.ones((n, 24)))


def _tilt_deg(plane, cam) -> float:
    true_up = cam.R @ np.array([0.0, 1.0, 0.0])
    return float(np.degrees(np.arccos(np.clip(plane.normal @ true_up, -1.0, 1.0))))


def test_feet_sunk_by_a_depth_error_do_not_become_the_ground() -> None:
    cam = make_camera(fov_deg=55.0, height=1.75, pitch_deg=8.0)
    times, key = _walk_then_stand(squat_from=120)
    # The last 60 frames, a squat, are fitted 20 % too far: the feet sink ~0.3 m below the
    # floor along their view rays, for longer than any footstep.
    scale = np.ones(len(times))
    scale[120:] = 1.2
    track = _track(key, cam, scale)
    world, plane = world_frame([track], times, SceneConfig(), [])
    assert abs(world.camera_height - cam.height) < 0.03, world.camera_height
    assert _tilt_deg(plane, cam) < 1.0
    assert plane.levels == ()                    # no phantom platform either
    # Control: without still feet (none slower than 0 m/s) the sunk level is the ground.
    world_old, _ = world_frame([track], times, SceneConfig(still_foot_mps=0.0), [])
    assert world_old.camera_height - cam.height > 0.25, world_old.camera_height


def test_a_leaning_torso_does_not_tilt_the_ground_the_feet_show() -> None:
    cam = make_camera(fov_deg=55.0, height=1.75, pitch_deg=8.0)
    times, key = _walk_then_stand(n_walk=45, n_stand=45, lean_deg=6.0)   # a short walk
    track = _track(key, cam, np.ones(len(times)))
    world, plane = world_frame([track], times, SceneConfig(), [])
    assert _tilt_deg(plane, cam) < 1.0
    assert abs(world.camera_height - cam.height) < 0.03, world.camera_height
    # Control: a strong pull toward the torso (the former 0.1 m^2 per point, ten times the default) follows its lean.
    world_old, plane_old = world_frame([track], times, SceneConfig(ground_tilt_prior=0.1), [])
    assert _tilt_deg(plane_old, cam) > 2.0
    assert world_old.camera_height - cam.height > 0.1


def test_still_feet_are_those_that_do_not_move_across_their_view_rays() -> None:
    times = np.arange(10) / FPS
    base = np.array([0.3, 1.2, 5.0])
    along = base[None] * np.linspace(1.0, 1.3, 10)[:, None]      # sliding along its ray
    across = base[None] + np.outer(times, [1.0, 0.0, 0.0])       # 1 m/s sideways
    pts = np.stack([along, across], axis=1)                      # (10, 2, 3)
    frames = np.r_[np.arange(5), np.arange(6, 11)]               # a gap after frame 4
    runs = still_foot_runs(pts, times, frames, 0.25)
    assert (runs[:, 1] == -1).all()
    assert len(set(runs[:5, 0])) == 1 and len(set(runs[5:, 0])) == 1
    assert runs[0, 0] != runs[5, 0] and (runs[:, 0] >= 0).all()
