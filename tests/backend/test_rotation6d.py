"""6D rotation layout (SPIN's (3,2) row-major) and axis-angle conversions on known matrices."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from inference_backend.models.rotation6d import (
    axis_angle_to_rotmat,
    rot6d_to_rotmat,
    rotmat_to_axis_angle,
    rotmat_to_rot6d,
)


def test_identity_in_spin_layout() -> None:
    # SPIN's identity 6D is the first two columns of I read row-major: [1,0, 0,1, 0,0].
    r = rot6d_to_rotmat(torch.tensor([[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]]))
    assert torch.allclose(r[0, 0], torch.eye(3))


def test_known_rotation_about_z_uses_row_major_pairs() -> None:
    rz = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # +90 deg about z
    six = torch.tensor([[0.0, -1.0, 1.0, 0.0, 0.0, 0.0]])  # rows (0,-1), (1,0), (0,0)
    assert torch.allclose(rotmat_to_rot6d(rz[None]), six[0])
    assert torch.allclose(rot6d_to_rotmat(six)[0, 0], rz, atol=1e-6)
    # The column-major reading of the same numbers would give a different matrix: the layout matters.
    wrong_a1, wrong_a2 = six[0, :3], six[0, 3:]
    assert not torch.allclose(wrong_a1 / wrong_a1.norm(), rz[:, 0])
    assert not torch.allclose(wrong_a2, rz[:, 1])


def test_known_rotation_about_x() -> None:
    c, s = math.cos(0.3), math.sin(0.3)
    rx = torch.tensor([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    six = torch.tensor([1.0, 0.0, 0.0, c, 0.0, s])
    assert torch.allclose(rot6d_to_rotmat(six)[0], rx, atol=1e-6)


def test_gram_schmidt_of_non_orthogonal_input() -> None:
    torch.manual_seed(0)
    x = torch.randn(50, 24 * 6) * 3
    r = rot6d_to_rotmat(x)
    assert r.shape == (50, 24, 3, 3)
    assert torch.allclose(r @ r.transpose(-1, -2), torch.eye(3).expand_as(r), atol=1e-5)
    assert torch.allclose(torch.linalg.det(r), torch.ones(50, 24), atol=1e-5)
    # first column is the normalised a1 = elements (0, 2, 4) of each 6-vector
    a1 = x.reshape(50, 24, 3, 2)[..., 0]
    assert torch.allclose(r[..., 0], a1 / a1.norm(dim=-1, keepdim=True), atol=1e-6)


def test_round_trip_random_rotations() -> None:
    mats = torch.from_numpy(Rotation.random(200, random_state=1).as_matrix()).float()
    assert torch.allclose(rot6d_to_rotmat(rotmat_to_rot6d(mats[None]))[0], mats, atol=1e-5)


@pytest.mark.parametrize("angle", [0.0, 1e-7, 0.5, 2.0, math.pi - 1e-4, math.pi])
def test_axis_angle_matches_scipy(angle: float) -> None:
    axis = np.array([0.3, -0.5, 0.8])
    axis /= np.linalg.norm(axis)
    aa = axis * angle
    ref = Rotation.from_rotvec(aa).as_matrix()
    r = axis_angle_to_rotmat(torch.tensor(aa))
    assert np.allclose(r.numpy(), ref, atol=1e-6)
    back = rotmat_to_axis_angle(torch.tensor(ref)).numpy()
    assert np.allclose(Rotation.from_rotvec(back).as_matrix(), ref, atol=1e-6)
    assert np.isclose(np.linalg.norm(back), angle, atol=1e-5) or angle > math.pi - 1e-3


def test_axis_angle_batch_and_gradients_are_finite() -> None:
    mats = torch.from_numpy(Rotation.random(64, random_state=2).as_matrix())
    aa = rotmat_to_axis_angle(mats)
    ref = Rotation.from_matrix(mats.numpy()).as_rotvec()
    assert np.allclose(aa.numpy(), ref, atol=1e-8)
    x = torch.randn(8, 6, requires_grad=True)
    rotmat_to_axis_angle(rot6d_to_rotmat(x)).sum().backward()
    assert torch.isfinite(x.grad).all()
    eye = torch.eye(3).expand(4, 3, 3).clone()
    assert torch.equal(rotmat_to_axis_angle(eye), torch.zeros(4, 3))
