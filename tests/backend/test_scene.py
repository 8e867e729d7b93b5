"""The one scene stage: camera-frame tracks shaped as each solver returns them go through the
same ``build_scene`` and come out as the same people in the same gravity-aligned world."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_landmarks import make_camera, video_info, walking_person

from inference_backend.kinematics import fk_axis_angle, log_map
from inference_backend.motion_types import (
    KEY_JOINTS,
    CameraFrameTracks,
    CameraIntrinsics,
    CameraTrack,
)
from inference_backend.scene import SceneConfig, build_scene
from inference_backend.smpl_constants import CONTACT_JOINTS
from inference_backend.trajectory import CHANNEL_CLEARANCE_M

FPS = 30.0
N = 120


@pytest.fixture(scope="module")
def world():
    times = np.arange(N) / FPS
    rng = np.random.default_rng(4)
    cam = make_camera(fov_deg=55.0, height=1.5)
    walker = walking_person(times, rng, start=(-1.0, 0.5), heading_deg=70)
    present = np.ones(N, bool)
    present[40:48] = False                               # 0.27 s: bridged
    present[100:] = False                                # the end: held
    return times, cam, walker, np.flatnonzero(present)


def _camera_frame(person, cam, frames: np.ndarray):
    """The truth seen from the camera on the solved frames: (orient, body rotmats, joints)."""
    orient = cam.R @ person.local[frames, 0]
    joints = person.joints[frames] @ cam.R.T + cam.t
    return orient, person.local[frames, 1:], joints


def default_shaped(person, cam, frames: np.ndarray, track_id: int = 1) -> CameraTrack:
    """As solver_default returns it: float64 axis-angle, per-joint confidence, bone lengths."""
    orient, body, joints = _camera_frame(person, cam, frames)
    conf = np.random.default_rng(0).uniform(0.6, 1.0, (len(frames), 24)).astype(np.float32)
    return CameraTrack(track_id, frames, orient, log_map(body), joints[:, 0],
                       joints[:, list(KEY_JOINTS)], person.rest, conf,
                       info={"bone_lengths_m": [0.1] * 24})


def str_shaped(person, cam, frames: np.ndarray, track_id: int = 1) -> CameraTrack:
    """As solver_str returns it: rotations through float32 (the network's), shape estimated,
    one confidence for all joints, no extra info."""
    orient, body, joints = _camera_frame(person, cam, frames)
    body32 = body.astype(np.float32).astype(np.float64)
    return CameraTrack(track_id, frames, orient.astype(np.float32).astype(np.float64),
                       log_map(body32), joints[:, 0], joints[:, list(KEY_JOINTS)],
                       person.rest, np.full((len(frames), 24), 0.9),
                       betas=np.linspace(-1, 1, 10).astype(np.float32))


def _solve(track: CameraTrack, cam, times: np.ndarray, config: SceneConfig | None = None):
    intr = CameraIntrinsics(cam.K, 55.0, "estimated")
    return build_scene(CameraFrameTracks(intr, (track,), ("solver note",)), video_info(N),
                       times, config or SceneConfig(), None)


def test_both_solvers_tracks_go_through_the_same_scene_stage(world) -> None:
    times, cam, walker, frames = world
    solutions = {name: _solve(make(walker, cam, frames), cam, times)
                 for name, make in (("default", default_shaped), ("str", str_shaped))}
    for name, sol in solutions.items():
        (p,) = sol.persons
        assert sol.warnings[0] == "solver note", name
        assert p.body_pose.shape == (N, 23, 3) and p.joints3d.shape == (N, 24, 3), name
        for arr in (p.global_orient, p.body_pose, p.transl, p.joints3d, p.contacts,
                    p.confidence, p.rest_joints, p.betas):
            assert arr.dtype == np.float32 and np.isfinite(arr).all(), name
        fk = fk_axis_angle(p.rest_joints, p.global_orient, p.body_pose, p.transl)
        assert np.abs(fk - p.joints3d).max() < 1e-4, name             # the FK identity
        # gap policy: the short gap bridged and valid, the end held and invalid
        assert p.valid[:100].all() and not p.valid[100:].any(), name
        assert np.allclose(p.transl[100:], p.transl[99]), name
        assert p.confidence[40:48].max() == 0 and p.confidence[:40].min() > 0, name
        assert np.all(p.contacts[100:] == 0), name
        # the world: the camera 1.5 m up, soles on the ground while in contact
        assert abs(sol.camera.info["height_m"] - cam.height) < 0.05, (name, sol.camera.info)
        sole = p.joints3d[:100][:, list(CONTACT_JOINTS), 1] - np.asarray(CHANNEL_CLEARANCE_M)
        on = p.contacts[:100] >= 0.5
        assert on.any() and abs(np.median(sole[on])) < 0.02, name
        assert set(p.info) >= {"height_m", "first_frame", "last_frame", "noise_scale"}, name
    d, s = solutions["default"], solutions["str"]
    # Same kinematics in either shape -> the same world, camera and motion (float32 noise).
    assert np.abs(d.camera.R - s.camera.R).max() < 1e-4
    assert np.abs(d.persons[0].joints3d - s.persons[0].joints3d).max() < 2e-3
    assert np.array_equal(d.persons[0].contacts >= 0.5, s.persons[0].contacts >= 0.5)
    assert d.persons[0].info["bone_lengths_m"] == [0.1] * 24
    assert np.allclose(s.persons[0].betas, np.linspace(-1, 1, 10))


def test_a_noisier_track_is_smoothed_more(world) -> None:
    times, cam, walker, frames = world
    rng = np.random.default_rng(9)
    clean = default_shaped(walker, cam, frames)
    noisy_root = clean.root_cam + rng.normal(0, 0.02, clean.root_cam.shape)
    shaky = CameraTrack(1, frames, clean.orient_cam, clean.body_pose, noisy_root,
                        clean.key_joints_cam, clean.rest_joints, clean.confidence)
    jitter = {}
    for scale in (1.0, 3.0):
        track = CameraTrack(**{**shaky.__dict__, "noise_scale": scale})
        p = _solve(track, cam, times).persons[0]
        jitter[scale] = float(np.linalg.norm(np.diff(p.transl[:100], 2, axis=0), axis=1).mean())
        assert p.info["noise_scale"] == scale
    assert jitter[3.0] < 0.7 * jitter[1.0], jitter


def test_bad_tracks_and_options_are_errors(world) -> None:
    times, cam, walker, frames = world
    good = default_shaped(walker, cam, frames)
    with pytest.raises(ValueError, match="body_pose"):
        _solve(CameraTrack(**{**good.__dict__, "body_pose": good.body_pose[:-1]}), cam, times)
    with pytest.raises(ValueError, match="frames must be increasing"):
        _solve(CameraTrack(**{**good.__dict__, "frames": good.frames[::-1].copy()}), cam, times)
    with pytest.raises(ValueError, match="unknown smoothing preset"):
        SceneConfig(smoothing="silky")
    with pytest.raises(TypeError):
        SceneConfig(smoothnig="light")  # type: ignore[call-arg]  # a misspelt option
    # no tracks: a camera and nobody, not a crash
    empty = build_scene(CameraFrameTracks(CameraIntrinsics(cam.K, 55.0, "prior"), ()),
                        video_info(N), times)
    assert empty.persons == () and empty.camera.R.shape == (N, 3, 3)


def test_a_given_height_scales_skeleton_trajectory_and_camera(world) -> None:
    """A track fitted at the wrong size (the detector's generic body: here 12 % too small and
    12 % too close, the same image): with the true height given, the skeleton, the walked
    path and the camera height come out right; without it, all shrink together."""
    from inference_backend.subject_size import SubjectHeights, standing_height

    times, cam, walker, frames = world
    true = default_shaped(walker, cam, frames)
    shrunk = CameraTrack(**{**true.__dict__, "rest_joints": true.rest_joints * 0.88,
                            "root_cam": true.root_cam * 0.88,
                            "key_joints_cam": true.key_joints_cam * 0.88})
    height = standing_height(walker.rest)
    guessed = _solve(shrunk, cam, times)
    given = _solve(shrunk, cam, times, SceneConfig(subject_heights=SubjectHeights(height)))
    path = {}
    for name, sol in (("guessed", guessed), ("given", given)):
        p = sol.persons[0]
        j = p.joints3d[:100, 0, [0, 2]].astype(float)
        path[name] = float(np.linalg.norm(np.diff(j, axis=0), axis=1).sum())
    true_path = float(np.linalg.norm(np.diff(walker.joints[:100, 0, [0, 2]], axis=0),
                                     axis=1).sum())
    assert abs(guessed.camera.info["height_m"] / cam.height - 0.88) < 0.03
    assert abs(given.camera.info["height_m"] - cam.height) < 0.05
    assert abs(path["given"] / true_path - 1) < 0.05 < abs(path["guessed"] / true_path - 1)
    p = given.persons[0]
    assert abs(p.info["height_m"] - height) < 1e-3 and p.info["height_source"] == "given"
    assert abs(p.info["estimated_height_m"] - standing_height(shrunk.rest_joints)) < 1e-6
    assert guessed.persons[0].info["height_source"] == "estimated"
    # The image is unchanged: the joints reproject where they did (within 5 px at f = 922 px:
    # the ground corrections, in metres, act on a different scale).
    def image(sol):
        R, t = sol.camera.R[0].astype(float), sol.camera.t[0].astype(float)
        x = sol.persons[0].joints3d[:100].astype(float) @ R.T + t
        return x[..., :2] / x[..., 2:]
    assert np.abs(image(given) - image(guessed)).max() < 5.0 / 922.0


def test_heights_for_other_tracks_leave_this_one_alone_and_warn(world) -> None:
    from inference_backend.subject_size import parse_heights

    times, cam, walker, frames = world
    track = default_shaped(walker, cam, frames, track_id=1)
    plain = _solve(track, cam, times)
    other = _solve(track, cam, times, SceneConfig(subject_heights=parse_heights("7:1.9")))
    assert np.array_equal(plain.persons[0].joints3d, other.persons[0].joints3d)
    assert any("track 7" in w for w in other.warnings)
