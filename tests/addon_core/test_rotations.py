"""Rotation maths and the single Y-up -> Z-up conversion."""

from __future__ import annotations

import numpy as np
import pytest

from str_blender_addon.core.rotations import (
    Y_UP_TO_Z_UP,
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    opencv_extrinsics_to_blender,
    quaternion_sign_continuity,
    quaternion_to_matrix,
    y_up_to_z_up,
    z_up_to_y_up,
)
from str_blender_addon.core.skeleton import (
    SMPL_TEMPLATE_REST_JOINTS,
    blender_pose_channels,
    bone_tails,
    leg_length,
    pose_bone_world_heads,
    smpl_forward_kinematics,
)


def test_axis_conversion_is_the_documented_one():
    assert np.array_equal(y_up_to_z_up(np.array([1.0, 2.0, 3.0])), [1.0, -3.0, 2.0])
    pts = np.random.default_rng(0).standard_normal((5, 4, 3))
    assert np.allclose(z_up_to_y_up(y_up_to_z_up(pts)), pts)
    assert np.allclose(Y_UP_TO_Z_UP @ pts[0, 0], y_up_to_z_up(pts[0, 0]))
    assert np.isclose(np.linalg.det(Y_UP_TO_Z_UP), 1.0)


def test_rodrigues_known_values_and_round_trips():
    r = axis_angle_to_matrix(np.array([0.0, 0.0, np.pi / 2]))
    assert np.allclose(r @ [1, 0, 0], [0, 1, 0])
    aa = np.random.default_rng(1).uniform(-2.5, 2.5, (200, 3))
    m = axis_angle_to_matrix(aa)
    assert np.allclose(m @ np.swapaxes(m, -1, -2), np.eye(3), atol=1e-12)
    assert np.allclose(axis_angle_to_matrix(matrix_to_axis_angle(m)), m, atol=1e-9)
    q = matrix_to_quaternion(m)
    assert np.allclose(np.linalg.norm(q, axis=-1), 1.0) and np.all(q[:, 0] >= 0)
    assert np.allclose(quaternion_to_matrix(q), m, atol=1e-9)
    near_pi = axis_angle_to_matrix(np.array([[0, np.pi - 1e-7, 0], [1e-9, 0, 0]]))
    assert np.allclose(quaternion_to_matrix(matrix_to_quaternion(near_pi)), near_pi, atol=1e-6)


def test_quaternion_sign_continuity():
    q = np.array([[1.0, 0, 0, 0], [-0.99, -0.1, 0, 0], [0.98, 0.2, 0, 0], [-0.97, -0.3, 0, 0]])
    out = quaternion_sign_continuity(q)
    assert np.all(np.sum(out[1:] * out[:-1], -1) > 0)
    assert np.allclose(np.abs(out), np.abs(q))


def test_pose_channels_reproduce_smpl_fk_through_blender_style_fk():
    """The derived B^T C R C^T B conversion + Blender's bone FK == SMPL FK, axis-converted."""
    rng = np.random.default_rng(2)
    rest = SMPL_TEMPLATE_REST_JOINTS.astype(np.float64)
    n = 7
    go, pose, transl = rng.normal(0, 0.6, (n, 3)), rng.normal(0, 0.4, (n, 23, 3)), rng.normal(
        0, 1, (n, 3))
    offset = np.array([0.01, 1.2, -0.03])
    heads = y_up_to_z_up(rest + offset)
    tails = y_up_to_z_up(bone_tails(rest + offset))
    # arbitrary (but orthonormal) bone rest rotations: y axis along the bone, random roll
    rest_m = np.tile(np.eye(4), (24, 1, 1))
    for j in range(24):
        y = tails[j] - heads[j]
        y /= np.linalg.norm(y)
        x = np.cross(y, rng.standard_normal(3))
        x /= np.linalg.norm(x)
        rest_m[j, :3, :3] = np.stack([x, y, np.cross(x, y)], 1)
        rest_m[j, :3, 3] = heads[j]
    quats, loc = blender_pose_channels(rest_m[:, :3, :3], offset, go, pose, transl)
    assert np.all(np.sum(quats[1:] * quats[:-1], -1) >= 0)
    locs = np.zeros((n, 24, 3))
    locs[:, 0] = loc
    got = pose_bone_world_heads(rest_m, quaternion_to_matrix(quats), locs)
    expected, _ = smpl_forward_kinematics(rest, go, pose, transl)
    assert np.abs(got - y_up_to_z_up(expected)).max() < 1e-9


def test_opencv_camera_to_blender():
    r = np.array([[[-1.0, 0, 0], [0, -1, 0], [0, 0, 1]]])
    c = np.array([0.5, 1.5, -4.0])
    rot, loc = opencv_extrinsics_to_blender(r, -(r[0] @ c)[None])
    assert np.allclose(loc[0], y_up_to_z_up(c))
    # Blender camera looks down its local -Z: that must be the world +Z (Y-up) -> -Y (Z-up)...
    view_dir = rot[0] @ [0, 0, -1]
    assert np.allclose(view_dir, y_up_to_z_up(np.array([0.0, 0, 1])))
    assert np.allclose(rot[0] @ [0, 1, 0], [0, 0, 1])          # camera up = world up


def test_skeleton_helpers():
    rest = SMPL_TEMPLATE_REST_JOINTS
    left = np.linalg.norm(rest[4] - rest[1]) + np.linalg.norm(rest[7] - rest[4])
    right = np.linalg.norm(rest[5] - rest[2]) + np.linalg.norm(rest[8] - rest[5])
    assert leg_length(rest) == pytest.approx(0.5 * (left + right)) and 0.75 < left < 0.85
    tails = bone_tails(rest)
    assert np.allclose(tails[4], rest[7])                        # left knee -> left ankle
    assert abs(tails[10, 1] - rest[10, 1]) < 1e-12               # toes horizontal
    assert tails[15, 1] - rest[15, 1] > 0.12                     # head points up
