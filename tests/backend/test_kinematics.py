"""Rotation maths and SMPL forward kinematics (inference_backend.kinematics)."""

from __future__ import annotations

import numpy as np
import pytest

from inference_backend.kinematics import (
    axis_angle_to_quat,
    descendants_mask,
    fk_axis_angle,
    forward_kinematics,
    geodesic_deg,
    log_map,
    matrix_to_quat,
    quat_mul,
    quat_sign_continuity,
    quat_slerp,
    quat_to_axis_angle,
    quat_to_matrix,
    rodrigues,
)
from inference_backend.smpl_constants import SMPL_PARENTS, SMPL_TEMPLATE_REST_JOINTS


def _random_axes(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, 3))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _same_rotation_aa(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(geodesic_deg(rodrigues(a), rodrigues(b)))


def test_rodrigues_is_a_rotation_and_log_inverts_it_for_all_angles() -> None:
    rng = np.random.default_rng(0)
    axes = _random_axes(rng, 4000)
    angles = np.concatenate([
        rng.uniform(0, np.pi, 1000), rng.uniform(0, 1e-6, 500), np.full(500, 0.0),
        np.pi - rng.uniform(0, 1e-6, 1000), np.full(1000, np.pi)])
    aa = axes * angles[:, None]
    R = rodrigues(aa)
    assert np.allclose(R @ np.swapaxes(R, -1, -2), np.eye(3), atol=1e-12)
    assert np.allclose(np.linalg.det(R), 1.0, atol=1e-12)
    back = log_map(R)
    assert np.allclose(rodrigues(back), R, atol=1e-9)
    # Away from pi the vector itself comes back; at pi, +-axis are the same rotation.
    below = angles < np.pi - 1e-3
    assert np.allclose(back[below], aa[below], atol=1e-9)
    assert np.allclose(np.linalg.norm(back, axis=1), angles, atol=1e-6)


def test_rodrigues_matches_closed_form_about_z() -> None:
    a = 0.7
    R = rodrigues(np.array([0.0, 0.0, a]))
    expected = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    assert np.allclose(R, expected, atol=1e-15)
    # Tiny angles: first-order exact, no 0/0.
    tiny = rodrigues(np.array([1e-12, 0.0, 0.0]))
    assert np.allclose(tiny, np.eye(3) + np.array([[0, 0, 0], [0, 0, -1e-12], [0, 1e-12, 0]]))


def test_quaternion_round_trips_and_product() -> None:
    rng = np.random.default_rng(1)
    aa = _random_axes(rng, 500) * rng.uniform(0, np.pi, (500, 1))
    q = axis_angle_to_quat(aa)
    assert np.allclose(np.linalg.norm(q, axis=1), 1.0)
    assert np.allclose(quat_to_matrix(q), rodrigues(aa), atol=1e-12)
    assert np.allclose(quat_to_axis_angle(q), aa, atol=1e-9)
    q2 = matrix_to_quat(rodrigues(aa))
    assert np.allclose(np.abs(np.sum(q * q2, axis=1)), 1.0, atol=1e-12)
    b = axis_angle_to_quat(_random_axes(rng, 500) * 1.1)
    assert np.allclose(quat_to_matrix(quat_mul(q, b)), quat_to_matrix(q) @ quat_to_matrix(b),
                       atol=1e-12)


def test_quaternion_sign_continuity_removes_flips_without_changing_rotations() -> None:
    t = np.linspace(0, 4 * np.pi, 400)                 # two full turns: passes through pi
    aa = np.stack([np.zeros_like(t), t, np.zeros_like(t)], 1)
    q = matrix_to_quat(rodrigues(aa))                  # sign arbitrary per sample
    rng = np.random.default_rng(2)
    q *= rng.choice([-1.0, 1.0], size=(400, 1))
    assert np.any(np.sum(q[1:] * q[:-1], axis=1) < 0)
    fixed = quat_sign_continuity(q)
    dots = np.sum(fixed[1:] * fixed[:-1], axis=1)
    assert dots.min() > 0.99, dots.min()
    assert np.allclose(quat_to_matrix(fixed), quat_to_matrix(q), atol=1e-12)
    # Also along another axis (time second).
    fixed2 = quat_sign_continuity(q[None], axis=1)[0]
    assert np.allclose(fixed2, fixed)


def test_slerp_endpoints_and_constant_speed() -> None:
    q0 = axis_angle_to_quat(np.array([0.0, 0.0, 0.0]))
    q1 = axis_angle_to_quat(np.array([0.0, 2.0, 0.0]))
    ts = np.linspace(0, 1, 5)
    out = quat_slerp(np.broadcast_to(q0, (5, 4)), np.broadcast_to(-q1, (5, 4)), ts)
    angles = np.linalg.norm(quat_to_axis_angle(out), axis=1)
    assert np.allclose(angles, 2.0 * ts, atol=1e-9)   # shortest path despite the sign of q1


def test_forward_kinematics_matches_smplx() -> None:
    torch = pytest.importorskip("torch")
    lbs = pytest.importorskip("smplx.lbs")
    rng = np.random.default_rng(3)
    rest = np.asarray(SMPL_TEMPLATE_REST_JOINTS, np.float64)
    aa = rng.normal(0, 0.5, (6, 24, 3))
    transl = rng.normal(0, 1, (6, 3))
    ours = fk_axis_angle(rest, aa[:, 0], aa[:, 1:], transl)
    posed, _ = lbs.batch_rigid_transform(
        torch.tensor(rodrigues(aa), dtype=torch.float64),
        torch.tensor(np.broadcast_to(rest, (6, 24, 3)).copy(), dtype=torch.float64),
        torch.tensor(SMPL_PARENTS, dtype=torch.long), dtype=torch.float64)
    theirs = posed.numpy() + transl[:, None, :]
    assert np.abs(ours - theirs).max() < 1e-10


def test_forward_kinematics_identity_pose_and_globals() -> None:
    rest = np.asarray(SMPL_TEMPLATE_REST_JOINTS, np.float64)
    joints, glob = forward_kinematics(rest, np.tile(np.eye(3), (2, 24, 1, 1)),
                                      np.array([[1.0, 2.0, 3.0], [0, 0, 0]]))
    assert np.allclose(joints[0], rest + [1, 2, 3])
    assert np.allclose(glob, np.eye(3))
    # Rotating the root by 90 deg about Y turns every bone, pivoting about the pelvis.
    local = np.tile(np.eye(3), (1, 24, 1, 1))
    local[0, 0] = rodrigues(np.array([0.0, np.pi / 2, 0.0]))
    j, _ = forward_kinematics(rest, local)
    expected = (rest - rest[0]) @ local[0, 0].T + rest[0]
    assert np.allclose(j[0], expected)


def test_descendants_mask() -> None:
    m = descendants_mask()
    assert m[:, 0].sum() == 23                        # everything descends from the pelvis
    assert m[22, 20] and m[22, 18] and m[22, 9] and not m[22, 21]
    assert not m.diagonal().any()
