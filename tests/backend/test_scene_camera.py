"""The scene stage with a moving camera: a person seen by a camera that pans and shakes comes
out in the same world, with the same motion, as when a still camera saw them."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_camera import handheld_rotations
from synthetic_landmarks import make_camera, video_info, walking_person

from inference_backend.camera_motion import CameraChoice
from inference_backend.kinematics import log_map
from inference_backend.motion_types import (
    KEY_JOINTS,
    CameraFrameTracks,
    CameraIntrinsics,
    CameraTrack,
)
from inference_backend.scene import SceneConfig, build_scene

FPS = 30.0
N = 90


@pytest.fixture(scope="module")
def scene():
    times = np.arange(N) / FPS
    cam = make_camera(fov_deg=55.0, height=1.5)
    walker = walking_person(times, np.random.default_rng(4), start=(-1.0, 0.5), heading_deg=70)
    rel = handheld_rotations(N, pan_deg=20.0, shake_deg=1.0)     # x_cam_f = rel[f] x_cam_0
    return times, cam, walker, rel


def _track(person, cam, rel: np.ndarray | None) -> tuple[CameraFrameTracks, np.ndarray]:
    """Camera-frame truth of every frame, seen by the still camera ``cam`` turned by rel."""
    frames = np.arange(N)
    orient = cam.R @ person.local[:, 0]
    joints = person.joints @ cam.R.T + cam.t
    if rel is not None:
        orient = rel @ orient
        joints = np.einsum("fij,fkj->fki", rel, joints)
    track = CameraTrack(1, frames, orient, log_map(person.local[:, 1:]), joints[:, 0],
                        joints[:, list(KEY_JOINTS)], person.rest,
                        np.full((N, 24), 0.9, np.float32))
    return CameraFrameTracks(CameraIntrinsics(cam.K, 55.0, "estimated"), (track,)), joints


def _build(solved, times, camera=None):
    return build_scene(solved, video_info(N), times, SceneConfig(), None, camera)


def test_moving_camera_gives_the_still_cameras_world(scene) -> None:
    times, cam, walker, rel = scene
    still = _build(_track(walker, cam, None)[0], times)
    moving_tracks, joints_cam = _track(walker, cam, rel)
    choice = CameraChoice(rel, (), {"mode": "auto", "moving": True})
    moving = _build(moving_tracks, times, choice)
    (p_still,), (p_moving,) = still.persons, moving.persons
    np.testing.assert_allclose(p_moving.joints3d, p_still.joints3d, atol=2e-4)
    np.testing.assert_allclose(p_moving.transl, p_still.transl, atol=2e-4)
    # The camera turns about one centre; frame 0 is the still camera.
    c = moving.camera
    assert not c.static and c.info["tracking"]["moving"]
    np.testing.assert_allclose(c.R[0], still.camera.R[0], atol=1e-6)
    centres = -np.einsum("fji,fj->fi", c.R, c.t)
    np.testing.assert_allclose(centres, np.broadcast_to(centres[0], centres.shape), atol=1e-5)
    # The file's camera projects the world joints where the moving camera saw them.
    world_in_cam = np.einsum("fij,fkj->fki", c.R, p_moving.joints3d) + c.t[:, None]
    seen = np.einsum("fij,fkj->fki", rel, p_still.joints3d @ still.camera.R[0].T
                     + still.camera.t[0])
    np.testing.assert_allclose(world_in_cam, seen, atol=1e-3)
    assert np.abs(joints_cam[:, 0] - world_in_cam[:, 0]).max() < 0.1   # placed as observed


def test_static_assumption_on_a_panning_camera_walks_the_wrong_path(scene) -> None:
    """The baseline the camera stage fixes: the pan becomes the person's motion."""
    times, cam, walker, rel = scene
    still = _build(_track(walker, cam, None)[0], times)
    assumed = _build(_track(walker, cam, rel)[0], times)
    err = np.linalg.norm(assumed.persons[0].joints3d[:, 0] - still.persons[0].joints3d[:, 0],
                         axis=-1)
    assert err.max() > 0.5


def test_a_static_decision_is_bit_identical_to_no_camera_stage(scene) -> None:
    times, cam, walker, _ = scene
    solved = _track(walker, cam, None)[0]
    plain = _build(solved, times)
    tripod = _build(solved, times, CameraChoice(None, (), {"mode": "auto", "moving": False}))
    assert tripod.camera.static and plain.camera.static
    for a, b in ((plain.camera.R, tripod.camera.R), (plain.camera.t, tripod.camera.t),
                 (plain.persons[0].joints3d, tripod.persons[0].joints3d),
                 (plain.persons[0].transl, tripod.persons[0].transl),
                 (plain.persons[0].global_orient, tripod.persons[0].global_orient)):
        np.testing.assert_array_equal(a, b)
    assert tripod.camera.info["tracking"] == {"mode": "auto", "moving": False}


def test_wrong_number_of_camera_rotations_is_an_error(scene) -> None:
    times, cam, walker, rel = scene
    with pytest.raises(ValueError, match="camera rotations"):
        _build(_track(walker, cam, None)[0], times, CameraChoice(rel[:-1], (), {}))
