"""Metrics under TCMR's protocol, against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from inference_backend.train.metrics import (
    accel_error,
    acceleration,
    aggregate,
    align_by_joint,
    align_by_midhip,
    h36m_regressed_common14,
    mpjpe,
    mpvpe,
    pa_mpjpe,
    sequence_errors,
    similarity_procrustes,
)


def _joints(rng: np.random.Generator, n: int = 5, j: int = 14) -> np.ndarray:
    return rng.normal(0.0, 0.3, size=(n, j, 3))


def test_pa_mpjpe_is_zero_under_random_similarity_transforms() -> None:
    rng = np.random.default_rng(0)
    gt = _joints(rng)
    rot = Rotation.random(5, random_state=1).as_matrix()
    scale = rng.uniform(0.3, 3.0, size=(5, 1, 1))
    trans = rng.normal(0.0, 2.0, size=(5, 1, 3))
    pred = scale * np.einsum("nij,nkj->nki", rot, gt) + trans
    assert mpjpe(pred, gt).min() > 10.0  # really moved
    np.testing.assert_allclose(pa_mpjpe(pred, gt), 0.0, atol=1e-6)
    np.testing.assert_allclose(similarity_procrustes(pred, gt), gt, atol=1e-9)


def test_procrustes_does_not_use_reflections() -> None:
    rng = np.random.default_rng(2)
    gt = _joints(rng, n=3)
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    # A mirror image cannot be fitted by a rotation: the error stays positive.
    assert pa_mpjpe(mirrored, gt).min() > 1.0


def test_pa_mpjpe_known_value_for_collinear_gt() -> None:
    # GT: points at x = -1, 0, 1. Prediction: the middle point moved by d along y. Centred
    # prediction (-1, -d/3), (0, 2d/3), (1, -d/3); K = diag(2, 0, 0) -> no rotation, scale
    # s = 2 / (2 + 2 d^2 / 3). Residuals: outer sqrt((1 - s)^2 + (s d / 3)^2), middle 2 s d / 3.
    gt = np.array([[[-1.0, 0, 0], [0.0, 0, 0], [1.0, 0, 0]]])
    d = 0.009
    pred = gt.copy()
    pred[0, 1, 1] = d
    s = 2.0 / (2.0 + 2.0 * d * d / 3.0)
    outer = np.hypot(1.0 - s, s * d / 3.0)
    expected = (2 * outer + 2 * s * d / 3.0) / 3.0 * 1000.0
    assert pa_mpjpe(pred, gt)[0] == pytest.approx(expected, rel=1e-9)
    assert expected == pytest.approx(4.0, rel=1e-4)  # ~ 4 d / 9


def test_mpjpe_in_millimetres() -> None:
    gt = np.zeros((2, 14, 3))
    pred = gt + np.array([0.003, 0.004, 0.0])  # 5 mm everywhere
    np.testing.assert_allclose(mpjpe(pred, gt), [5.0, 5.0])


def test_mpvpe_of_shifted_mesh_is_shift_length() -> None:
    rng = np.random.default_rng(3)
    verts = rng.normal(size=(4, 6890, 3))
    d = np.array([0.01, -0.02, 0.02])  # |d| = 30 mm
    np.testing.assert_allclose(mpvpe(verts + d, verts), 30.0, rtol=1e-9)


def test_mid_hip_alignment_subtracts_mean_of_hips() -> None:
    joints = np.zeros((1, 14, 3))
    joints[0, 2] = [1.0, 2.0, 3.0]
    joints[0, 3] = [3.0, 2.0, 1.0]
    aligned = align_by_midhip(joints)
    np.testing.assert_allclose(aligned[0, 0], [-2.0, -2.0, -2.0])
    np.testing.assert_allclose(aligned[0, 2] + aligned[0, 3], 0.0)
    # translation invariance of MPJPE after alignment
    rng = np.random.default_rng(4)
    gt = _joints(rng)
    pred = gt + rng.normal(0, 0.01, gt.shape)
    e1 = mpjpe(align_by_midhip(pred + 5.0), align_by_midhip(gt))
    e2 = mpjpe(align_by_midhip(pred), align_by_midhip(gt))
    np.testing.assert_allclose(e1, e2)
    np.testing.assert_allclose(align_by_joint(joints, 2)[0, 2], 0.0)


def test_accel_error_on_quadratic_trajectory() -> None:
    # GT moves as x = t^2 (metres): acceleration exactly 2 m/frame^2 -> 2000 mm/frame^2.
    t = np.arange(10, dtype=np.float64)
    gt = np.zeros((10, 14, 3))
    gt[:, :, 0] = (t**2)[:, None]
    np.testing.assert_allclose(acceleration(gt), 2000.0)
    still = np.zeros_like(gt)
    err = accel_error(still, gt)
    assert err.shape == (8,)  # first and last frame excluded
    np.testing.assert_allclose(err, 2000.0)
    # prediction x = 0.5 t^2 -> error |1 - 2| = 1 m/frame^2
    half = gt * 0.5
    np.testing.assert_allclose(accel_error(half, gt), 1000.0)


def test_accel_error_visibility_drops_touching_frames() -> None:
    gt = np.zeros((8, 14, 3))
    pred = np.zeros((8, 14, 3))
    pred[4, :, 1] = 0.001  # a 1 mm spike at frame 4 -> accel errors at centres 3, 4, 5
    err_all = accel_error(pred, gt)
    np.testing.assert_allclose(err_all, [0, 0, 1.0, 2.0, 1.0, 0])
    vis = np.ones(8, bool)
    vis[4] = False
    # every second difference touching frame 4 is dropped
    np.testing.assert_allclose(accel_error(pred, gt, vis), [0, 0, 0])


def test_frame_weighted_aggregation() -> None:
    a = {"mpjpe": np.array([10.0] * 9)}
    b = {"mpjpe": np.array([100.0])}
    assert aggregate([a, b])["mpjpe"] == pytest.approx(19.0)  # not (10 + 100) / 2


def test_h36m_regression_and_sequence_errors() -> None:
    rng = np.random.default_rng(5)
    verts = rng.normal(size=(6, 50, 3))
    reg = np.abs(rng.normal(size=(17, 50)))
    reg /= reg.sum(1, keepdims=True)
    j14 = h36m_regressed_common14(verts, reg)
    assert j14.shape == (6, 14, 3)
    # common-14 index 0 (rankle) is H36M joint 6
    np.testing.assert_allclose(j14[:, 0], verts.transpose(0, 2, 1) @ reg[6])
    errs = sequence_errors(j14 + 0.02, j14)  # pure translation: zero after alignment
    np.testing.assert_allclose(errs["mpjpe"], 0.0, atol=1e-9)
    np.testing.assert_allclose(errs["accel_err"], 0.0, atol=1e-9)
    vis = np.array([1, 1, 0, 1, 1, 1], bool)
    j17 = rng.normal(size=(6, 17, 3))
    errs = sequence_errors(j17 + 0.01 * rng.normal(size=j17.shape), j17, pelvis="mpii3d", visible=vis)
    assert errs["mpjpe"].shape == (5,)
    assert errs["accel_err"].shape == (1,)  # only the difference centred on frame 4 survives
