"""AMASS .npz (Z-up world) import: round trip of a synthetic walk through AMASS semantics."""

from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from str_blender_addon.core.amass_file import read_amass_file  # noqa: E402
from str_blender_addon.core.motion_file import MotionFileError  # noqa: E402
from str_blender_addon.core.rotations import (  # noqa: E402
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    y_up_to_z_up,
)
from str_blender_addon.core.skeleton import SMPL_JOINT_NAMES  # noqa: E402
from str_blender_addon.importer import ImportOptions, import_motion  # noqa: E402

C = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])


def write_amass(path, arrays, width=72, rate_key="mocap_framerate", fps=60.0):
    """AMASS semantics: joints_z = R0_z (J - J0) + J0 + trans_z, with R0_z = C R0_y."""
    rest = arrays["rest_joints"][0].astype(np.float64)
    go_y = arrays["global_orient"][0].astype(np.float64)
    go_z = matrix_to_axis_angle(C[None] @ axis_angle_to_matrix(go_y))
    trans_z = (C @ (arrays["transl"][0].astype(np.float64) + rest[0]).T).T - rest[0]
    n = go_y.shape[0]
    poses = np.zeros((n, width))
    poses[:, :3] = go_z
    body = arrays["body_pose"][0].reshape(n, -1).astype(np.float64)
    poses[:, 3:72 if width == 72 else 66] = body[:, : (69 if width == 72 else 63)]
    np.savez(path, poses=poses, trans=trans_z, betas=np.zeros(16), gender=np.array(b"female"),
             **{rate_key: np.array(fps)})
    return path


def test_amass_round_trip_matches_joints(empty_scene, tmp_path, helpers):
    arrays = helpers.synthetic_walk(50, 60.0)
    path = write_amass(tmp_path / "walk_poses.npz", arrays)
    res = import_motion(empty_scene, path, ImportOptions(create_camera=True))
    scene = empty_scene.scene
    assert res.camera is None                                  # AMASS has no camera
    assert scene.render.fps == 60
    arm = res.armatures[0]
    assert arm.name == "walk_poses_track0" and arm["str_source"] == "amass"
    worst = 0.0
    for f in (0, 25, 49):
        scene.frame_set(1 + f)
        heads = np.array([list(arm.matrix_world @ arm.pose.bones[n].head)
                          for n in SMPL_JOINT_NAMES])
        worst = max(worst, np.abs(heads - y_up_to_z_up(arrays["joints3d"][0, f])).max())
    assert worst < 1e-4, worst


def test_smplh_width_and_alternate_keys(tmp_path, helpers):
    arrays = helpers.synthetic_walk(20, 30.0)
    arrays["body_pose"][:, :, 21:] = 0.0                      # SMPL-H carries no SMPL hand joints
    arrays["joints3d"] = helpers.forward_kinematics(
        arrays["rest_joints"][0].astype(np.float64), arrays["global_orient"][0].astype(np.float64),
        arrays["body_pose"][0].astype(np.float64), arrays["transl"][0].astype(np.float64))[None]
    path = write_amass(tmp_path / "h.npz", arrays, width=156, rate_key="mocap_frame_rate",
                       fps=30.0)
    motion = read_amass_file(path)
    assert motion.header["gender"] == "female" and motion.fps == 30.0
    assert np.allclose(motion.timestamps, np.arange(20) / 30.0)
    assert np.abs(motion.joints3d[0] - arrays["joints3d"][0]).max() < 1e-4
    assert motion.contacts.shape == (1, 20, 4)


def test_bad_amass_files(tmp_path):
    np.savez(tmp_path / "a.npz", poses=np.zeros((5, 70)), trans=np.zeros((5, 3)),
             mocap_framerate=30.0)
    with pytest.raises(MotionFileError, match="72|156|165"):
        read_amass_file(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", poses=np.zeros((5, 72)), trans=np.zeros((5, 3)))
    with pytest.raises(MotionFileError, match="mocap_framerate"):
        read_amass_file(tmp_path / "b.npz")


def test_rest_joints_from_user_smpl_with_betas(tmp_path, helpers):
    """With an SMPL folder, the skeleton is J_regressor @ (v_template + shapedirs @ betas)."""
    rng = np.random.default_rng(4)
    n_v = 240
    owner = np.arange(n_v) % 24
    v_template = helpers.TEMPLATE[owner] + 0.01 * rng.standard_normal((n_v, 3))
    shapedirs = 0.01 * rng.standard_normal((n_v, 3, 10))
    j_reg = np.zeros((24, n_v))
    j_reg[owner, np.arange(n_v)] = 1.0 / 10
    weights = np.eye(24)[owner]
    smpl_dir = tmp_path / "smpl"
    smpl_dir.mkdir()
    np.savez(smpl_dir / "SMPL_FEMALE.npz", v_template=v_template, shapedirs=shapedirs,
             posedirs=np.zeros((n_v, 3, 207)), J_regressor=j_reg, weights=weights,
             kintree_table=np.zeros((2, 24), np.int64), f=np.array([[0, 1, 2]]))
    arrays = helpers.synthetic_walk(10, 30.0)
    path = write_amass(tmp_path / "w.npz", arrays)
    betas = np.linspace(-2, 2, 16)
    with np.load(path) as npz:
        payload = dict(npz)
    payload["betas"] = betas
    np.savez(path, **payload)
    motion = read_amass_file(path, smpl_dir=str(smpl_dir))
    expected = j_reg @ (v_template + shapedirs @ betas[:10])
    assert np.abs(motion.rest_joints[0] - expected).max() < 1e-5
    assert np.allclose(motion.betas[0], betas[:10])
    template_motion = read_amass_file(path)
    assert any("betas ignored" in w for w in template_motion.warnings)
