"""Checks of the benchmark's own maths (metrics, camera, motion script; anny posing if installed).

Run: .venv/bin/python -m pytest bench/synthetic_accuracy/test_synthetic_accuracy.py -q
(not under tests/: the benchmark is not part of the product test run).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from metrics import (  # noqa: E402
    accel_error,
    bone_length_spread,
    mpjpe,
    pa_mpjpe,
    path_length,
    similarity_procrustes,
    trajectory_ate,
)
from procedural_motion import MotionConfig, build_angles, segment_bounds, total_frames  # noqa: E402
from scene_config import SceneConfig  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def _skeleton(n: int = 20, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.normal(scale=0.3, size=(12, 3))
    drift = np.linspace(0, 1, n)[:, None, None] * np.array([0.5, 0.0, 0.2])
    return base[None] + drift


def _rot(deg: float, axis: int) -> np.ndarray:
    t = np.radians(deg)
    c, s = np.cos(t), np.sin(t)
    i, j = [(1, 2), (0, 2), (0, 1)][axis]
    r = np.eye(3)
    r[i, i], r[i, j], r[j, i], r[j, j] = c, -s, s, c
    return r


def test_pa_mpjpe_removes_similarity_but_not_shape_error() -> None:
    gt = _skeleton()
    pred = 1.3 * gt @ _rot(40, 1).T + np.array([1.0, -2.0, 3.0])
    assert pa_mpjpe(pred, gt) < 1e-6
    np.testing.assert_allclose(similarity_procrustes(pred, gt), gt, atol=1e-9)
    bent = gt.copy()
    bent[:, 11] += np.array([0.1, 0.0, 0.0])  # one wrist 10 cm off
    # Procrustes minimises the squared error, so the RMS error is at most the unaligned one
    aligned = similarity_procrustes(bent, gt)
    assert ((aligned - gt) ** 2).sum(-1).mean() <= ((bent - gt) ** 2).sum(-1).mean() + 1e-12
    assert 2.0 < pa_mpjpe(bent, gt) < 1000.0 * np.sqrt(0.1**2 / 12.0)


def test_mpjpe_is_mid_hip_aligned() -> None:
    gt = _skeleton()
    assert mpjpe(gt + np.array([5.0, 1.0, 0.0]), gt) < 1e-9
    off = gt.copy()
    off[:, 6] += np.array([0.0, 0.12, 0.0])  # a shoulder 12 cm off -> 10 mm mean over 12 joints
    assert mpjpe(off, gt) == pytest.approx(10.0)


def test_accel_error_ignores_constant_velocity_and_counts_jitter() -> None:
    gt = _skeleton(30)
    valid = np.ones(30, bool)
    drift = gt + np.arange(30)[:, None, None] * np.array([0.01, 0.0, 0.0])
    assert accel_error(drift, gt, valid) < 1e-9
    jitter = gt.copy()
    jitter[15] += np.array([0.0, 0.002, 0.0])  # 2 mm spike at one frame
    # second differences: -2mm... at t=14: +2, t=15: -4, t=16: +2 (mm) over 28 frames
    assert accel_error(jitter, gt, valid) == pytest.approx((2 + 4 + 2) / 28.0)
    valid[15] = False  # frames whose neighbourhood includes an invalid frame are skipped
    assert accel_error(jitter, gt, valid) == pytest.approx(0.0)


def test_bone_length_spread() -> None:
    gt = _skeleton(40)
    valid = np.ones(40, bool)
    assert bone_length_spread(gt @ _rot(30, 2).T, valid) < 1e-9
    stretched = gt.copy()
    # move the left wrist along its forearm by +-1 cm on alternate frames: one bone of ten
    fore = stretched[:, 10] - stretched[:, 8]
    fore /= np.linalg.norm(fore, axis=-1, keepdims=True)
    stretched[:, 10] += fore * np.where(np.arange(40) % 2 == 0, 0.01, -0.01)[:, None]
    assert bone_length_spread(stretched, valid) == pytest.approx(1.0, rel=1e-6)


def test_path_length_and_rigid_trajectory_error() -> None:
    t = np.linspace(0, 1, 50)
    track = np.stack([3.0 * t, 4.0 * t], 1)
    assert path_length(track) == pytest.approx(5.0)
    assert path_length(track, smooth_window=9) == pytest.approx(5.0, rel=0.2)
    rotated = track @ _rot(70, 2)[:2, :2].T + np.array([10.0, -3.0])
    assert trajectory_ate(rotated, track) < 1e-9
    assert trajectory_ate(1.5 * track, track) > 0.1  # scale errors are not forgiven


def test_camera_model_matches_its_definition() -> None:
    sc = SceneConfig()
    rot, t = sc.world_to_camera()
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(rot) == pytest.approx(1.0)
    centre = -rot.T @ t
    np.testing.assert_allclose(centre, [0.0, 0.0, sc.camera_height_m], atol=1e-12)
    # a point straight along the optical axis lands on the principal point
    p = sc.project(centre + 5.0 * rot[2])
    np.testing.assert_allclose(p, [sc.width / 2 - 0.5, sc.height / 2 - 0.5], atol=1e-9)
    # 60 deg horizontal FOV: a ray 30 deg right of the optical axis hits the right image edge
    edge = sc.project(centre + 5.0 * (rot[2] + np.tan(np.radians(30.0)) * rot[0]))
    assert edge[0] == pytest.approx(sc.width - 0.5)
    # the ground in front of the camera is below the horizon (v grows downwards)
    assert sc.project(np.array([0.0, 4.0, 0.0]))[1] > sc.height / 2


def test_motion_script_is_complete_and_smooth() -> None:
    cfg = MotionConfig()
    a = build_angles(cfg)
    n = total_frames(cfg)
    assert 300 <= n <= 450  # 10-15 s at 30 fps
    assert all(len(v) == n for v in a.values())
    seg = segment_bounds(cfg)
    assert list(seg) == ["idle", "walk", "turn", "arm_raise", "squat", "punch", "kick", "tail"]
    fps = cfg.fps
    walk = slice(int(seg["walk"][0] * fps), int(seg["walk"][1] * fps))
    assert a["stance_right"][walk].mean() == pytest.approx(0.5, abs=0.1)  # feet alternate
    assert a["shoulder_abd_l"].max() > 140.0 and a["knee_flex_l"].max() > 100.0
    # no jumps larger than the deliberately fast punch/kick (~41 deg per frame at the jab)
    for name in ("yaw", "hip_flex_l", "knee_flex_r", "shoulder_flex_r", "elbow_flex_r"):
        assert np.abs(np.diff(a[name])).max() < 45.0, name
    assert np.abs(np.diff(a["yaw"])).max() < 5.0  # turns are slow


@pytest.mark.skipif(not (REPO / ".cache" / "anny").is_dir(), reason="anny cache not built")
def test_posed_figure_keeps_planted_foot_and_rigid_bones() -> None:
    pytest.importorskip("anny")
    os.environ.setdefault("ANNY_CACHE_DIR", str(REPO / ".cache" / "anny"))
    from anny_figure import GT_JOINT_NAMES, load_anny, pose_sequence  # noqa: PLC0415

    cfg = MotionConfig(walk_s=2.0, turn1_s=0.3, turn2_s=0.3, raise_s=0.6, squat_s=0.6,
                       punch_s=0.6, kick_s=0.8)
    seq = pose_sequence(load_anny(REPO / ".cache" / "anny"), cfg, (0.0, 5.0))
    j = seq.joints
    idx = {n: i for i, n in enumerate(GT_JOINT_NAMES)}
    assert np.abs(seq.vertices[..., 2].min(1)).max() < 1e-4  # lowest vertex on the floor
    for a, b in (("left_hip", "left_knee"), ("right_elbow", "right_wrist")):
        length = np.linalg.norm(j[:, idx[a]] - j[:, idx[b]], axis=-1)
        assert length.std() < 1e-6 and 0.2 < length.mean() < 0.5
    ank = j[:, [idx["left_ankle"], idx["right_ankle"]], :2]
    f = np.arange(1, len(j))
    planted = ank[f, seq.stance[f]] - ank[f - 1, seq.stance[f]]
    assert np.abs(planted).max() < 1e-6  # the stance foot never slides
    fps = cfg.fps
    w0, w1 = segment_bounds(cfg)["walk"]
    walked = np.linalg.norm(seq.root_translation[int(w1 * fps), :2]
                            - seq.root_translation[int(w0 * fps), :2])
    assert 1.0 < walked < 3.0  # ~1 m/s for 2 s


def test_motion_file_camera_mapping_and_height() -> None:
    from run_bench import camera_height_from_extrinsics, ours_camera_joints  # noqa: PLC0415

    sc = SceneConfig(camera_height_m=1.9, pitch_deg=14.0)
    rot_scene, t = sc.world_to_camera()
    yup_to_scene = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    rot = rot_scene @ yup_to_scene                    # world-to-camera for Y-up world points
    pts_yup = np.random.default_rng(1).normal(size=(5, 24, 3))
    motion = {"cam_R": np.repeat(rot[None], 5, 0), "cam_t": np.repeat(t[None], 5, 0),
              "joints3d": pts_yup[None]}
    cam = ours_camera_joints(motion, 0)
    expected = np.stack([[rot @ x + t for x in frame] for frame in pts_yup])
    np.testing.assert_allclose(cam, expected, atol=1e-12)
    scene_pts = pts_yup @ yup_to_scene.T            # the same points in the Z-up scene world
    np.testing.assert_allclose(cam, sc.to_camera(scene_pts), atol=1e-12)
    assert camera_height_from_extrinsics(motion["cam_R"], motion["cam_t"]) == pytest.approx(1.9)


@pytest.mark.skipif(not (REPO / ".cache" / "anny").is_dir(), reason="anny cache not built")
def test_render_matches_ground_truth_camera(tmp_path: Path) -> None:
    """The rendered silhouette's bounding box equals the projected mesh's (camera conventions)."""
    pytest.importorskip("anny")
    bpy = pytest.importorskip("bpy")
    cv2 = pytest.importorskip("cv2")
    os.environ.setdefault("ANNY_CACHE_DIR", str(REPO / ".cache" / "anny"))
    from anny_figure import load_anny, pose_sequence  # noqa: PLC0415
    from render_blender import build_scene  # noqa: PLC0415

    sc = SceneConfig()
    cfg = MotionConfig(walk_s=1.0, turn1_s=0.3, turn2_s=0.3, raise_s=2.0, squat_s=0.3,
                       punch_s=0.3, kick_s=0.3)
    seq = pose_sequence(load_anny(REPO / ".cache" / "anny"), cfg, (0.5, 4.5))
    f = 60  # arms overhead: the silhouette spans most of the image height
    build_scene(bpy, sc, seq.vertices[f], seq.faces, seq.colors)
    scene = bpy.context.scene
    images = {}
    try:
        for name, hide in (("with", False), ("without", True)):
            bpy.data.objects["Figure"].hide_render = hide
            scene.render.filepath = str(tmp_path / f"{name}.png")
            bpy.ops.render.render(write_still=True)
            images[name] = cv2.imread(scene.render.filepath).astype(int)
    finally:
        bpy.ops.wm.read_factory_settings(use_empty=True)
    mask = np.abs(images["with"] - images["without"]).sum(-1) > 30
    ys, xs = np.nonzero(mask)
    uv = sc.project(seq.vertices[f].astype(np.float64))
    rendered = np.array([xs.min(), xs.max(), ys.min(), ys.max()], float)
    projected = np.array([uv[:, 0].min(), uv[:, 0].max(), uv[:, 1].min(), uv[:, 1].max()])
    assert rendered[3] - rendered[2] > 250  # the figure is big enough for the check to mean much
    np.testing.assert_allclose(rendered, projected, atol=1.5)


def test_named_scripts_in_place_has_no_walk_and_walk_depth_walks() -> None:
    from procedural_motion import SCRIPTS, script_config

    for name in ("full", "inplace", "walk_depth"):
        a = build_angles(script_config(name))
        assert all(np.isfinite(v).all() for v in a.values()), name
    assert not build_angles(SCRIPTS["inplace"])["walking"].any()
    walk = build_angles(SCRIPTS["walk_depth"])
    assert walk["walking"].mean() > 0.4 and np.ptp(walk["yaw"]) == pytest.approx(25.0)
    with pytest.raises(SystemExit, match="unknown script"):
        script_config("dance")


def test_contact_scores_tolerate_one_frame_at_the_boundaries() -> None:
    from run_bench import contact_scores

    truth = np.zeros((10, 2), bool)
    truth[2:6, 0] = True
    contacts = np.zeros((10, 4), np.float32)
    contacts[3:7, 1] = 0.9                        # left toe: one frame late, one frame long
    frames = np.arange(10)
    s = contact_scores(contacts, np.ones(10, bool), frames, truth)
    assert s["precision"] == 1.0 and s["recall"] == 1.0 and s["f1"] == 1.0
    contacts[8, 2] = 0.9                          # a right-foot contact that is not there
    s = contact_scores(contacts, np.ones(10, bool), frames, truth)
    assert s["precision"] == pytest.approx(4 / 5) and s["recall"] == 1.0


def test_room_is_turned_by_its_yaw_around_the_camera() -> None:
    """``--room``: floor tiles along the turned axes, upright wall and pillar faces, the camera
    and the figure's start inside; the vanishing point of each floor direction is finite and
    where K R d puts it (the line-based focal needs two)."""
    from render_blender import room_geometry

    sc = SceneConfig(width=640, height=360, room=True, room_yaw_deg=30.0)
    parts = {name: (v, f) for name, v, f, _ in room_geometry(sc)}
    floor, _ = parts["Floor"]
    a = np.radians(30.0)
    assert np.allclose(floor[1] - floor[0], 0.5 * np.array([np.cos(a), np.sin(a), 0.0]))
    assert np.allclose(floor[:, 2], 0.0)
    for name, (verts, _faces) in parts.items():
        if name.startswith(("Wall", "Pillar")):
            quads = verts.reshape(-1, 4, 3)
            assert np.allclose(quads[:, 3, :2], quads[:, 0, :2])      # upright faces
            assert np.allclose(quads[:, 2, :2], quads[:, 1, :2])
    back = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])   # world -> room axes
    for xy in ((0.0, 0.0), sc.start_xy):
        local = back @ (np.array(xy) - np.array(sc.room_centre_xy))
        assert np.abs(local).max() < sc.room_half_size_m
    rot, _ = sc.world_to_camera()
    for d in ([np.cos(a), np.sin(a), 0.0], [-np.sin(a), np.cos(a), 0.0]):
        v = sc.intrinsics() @ rot @ np.array(d)
        assert abs(v[2]) > 0.3       # a finite vanishing point
