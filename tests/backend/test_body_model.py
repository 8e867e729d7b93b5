"""Body model: safe SMPL loading (restricted unpickler), smplx joints vs our FK, projections."""

from __future__ import annotations

import os
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.spatial.transform import Rotation

from inference_backend.body_model import (
    BodyModel,
    crop_cam_to_full_translation,
    forward_kinematics,
    weak_perspective_projection,
)
from inference_backend.kinematics import forward_kinematics as fk_numpy
from inference_backend.smpl_constants import SMPL_TEMPLATE_REST_JOINTS
from inference_backend.smpl_files import (
    SmplFileError,
    find_smpl_files,
    load_smpl_data,
    make_synthetic_smpl,
    restricted_load_pickle,
    synthetic_smpl_arrays,
)


def random_rotmats(n: int, seed: int) -> torch.Tensor:
    r = Rotation.random(n * 24, random_state=seed).as_matrix().reshape(n, 24, 3, 3)
    return torch.from_numpy(r).float()


@pytest.fixture(scope="module")
def smpl_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("smpl")
    make_synthetic_smpl(d / "SMPL_NEUTRAL.npz", seed=0)
    return d


def test_synthetic_file_has_smpl_shapes_and_template_joints(smpl_dir: Path) -> None:
    data = load_smpl_data(smpl_dir / "SMPL_NEUTRAL.npz")
    assert data["v_template"].shape == (6890, 3) and data["f"].shape == (13776, 3)
    assert data["posedirs"].shape == (6890, 3, 207) and data["shapedirs"].shape == (6890, 3, 10)
    joints = data["J_regressor"] @ data["v_template"]
    assert np.allclose(joints, SMPL_TEMPLATE_REST_JOINTS, atol=1e-5)


def test_smplx_joints_match_our_fk_for_random_poses(smpl_dir: Path) -> None:
    body = BodyModel.from_dir(smpl_dir)
    assert body.has_mesh
    rot = random_rotmats(3, seed=1)
    betas = torch.randn(3, 10) * 0.5
    out = body(rot, betas)
    assert out.vertices.shape == (3, 6890, 3) and out.joints.shape == (3, 24, 3)
    assert out.joints49 is None and out.joints_h36m is None  # no extra regressors in the folder
    ours = forward_kinematics(out.rest_joints, rot)
    assert torch.allclose(out.joints, ours, atol=1e-5)
    ref, _ = fk_numpy(out.rest_joints[0].double().numpy(), rot[0].double().numpy())
    assert np.allclose(ours[0].numpy(), ref, atol=1e-5)
    # betas change the rest skeleton when SMPL files are present
    assert not torch.allclose(out.rest_joints[0], body.rest_joints(torch.zeros(1, 10))[0])


def test_without_smpl_files_template_fk_is_used() -> None:
    body = BodyModel.from_dir(None)
    assert not body.has_mesh
    rot = random_rotmats(2, seed=2)
    out = body(rot, torch.randn(2, 10))
    assert out.vertices is None
    assert torch.allclose(out.rest_joints[0], torch.tensor(SMPL_TEMPLATE_REST_JOINTS))
    ref, _ = fk_numpy(SMPL_TEMPLATE_REST_JOINTS, rot[1].double().numpy())
    assert np.allclose(out.joints[1].numpy(), ref, atol=1e-5)


def test_extra_regressors_give_spin_49_joints(tmp_path: Path) -> None:
    make_synthetic_smpl(tmp_path / "SMPL_NEUTRAL.npz", seed=1)
    rng = np.random.default_rng(0)
    extra = rng.random((9, 6890)).astype(np.float32)
    np.save(tmp_path / "J_regressor_extra.npy", extra / extra.sum(1, keepdims=True))
    h36m = rng.random((17, 6890)).astype(np.float32)
    np.save(tmp_path / "J_regressor_h36m.npy", h36m / h36m.sum(1, keepdims=True))
    files = find_smpl_files(tmp_path)
    assert files.j_regressor_extra is not None and files.mean_params is None
    out = BodyModel.from_dir(tmp_path)(random_rotmats(2, 3), torch.zeros(2, 10))
    assert out.joints49.shape == (2, 49, 3) and out.joints_h36m.shape == (2, 17, 3)
    assert torch.allclose(out.joints49[:, 8], out.joints[:, 0])    # OP MidHip = SMPL pelvis
    assert torch.allclose(out.joints49[:, 25], out.joints[:, 8])   # R ankle = SMPL right_ankle
    assert torch.allclose(out.joints49[:, 37], torch.einsum("bik,i->bk", out.vertices,
                                                            torch.from_numpy(extra[2] / extra[2].sum())), atol=1e-5)


def test_pkl_through_restricted_unpickler_equals_npz(tmp_path: Path) -> None:
    make_synthetic_smpl(tmp_path / "a.pkl", seed=5)
    make_synthetic_smpl(tmp_path / "a.npz", seed=5)
    a, b = load_smpl_data(tmp_path / "a.pkl"), load_smpl_data(tmp_path / "a.npz")
    assert all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("protocol", [0, 2])
def test_chumpy_and_sparse_objects_are_mapped_safely(tmp_path: Path, monkeypatch, protocol: int) -> None:
    """Official SMPL pickles hold chumpy arrays and a scipy.sparse J_regressor."""
    module = types.ModuleType("chumpy.ch")

    class Ch:  # an inert look-alike, pickled under chumpy's name
        def __init__(self, x: np.ndarray) -> None:
            self.x = x

    Ch.__module__ = "chumpy.ch"
    Ch.__qualname__ = "Ch"
    module.Ch = Ch
    monkeypatch.setitem(sys.modules, "chumpy", types.ModuleType("chumpy"))
    monkeypatch.setitem(sys.modules, "chumpy.ch", module)
    arrays = synthetic_smpl_arrays(seed=2)
    content = dict(arrays)
    content["shapedirs"] = Ch(arrays["shapedirs"])
    content["J_regressor"] = sp.csc_matrix(arrays["J_regressor"])
    content["weights"] = sp.csr_matrix(arrays["weights"])
    (tmp_path / "SMPL_NEUTRAL.pkl").write_bytes(pickle.dumps(content, protocol=protocol))
    monkeypatch.delitem(sys.modules, "chumpy.ch")  # the loader must not need chumpy
    data = load_smpl_data(tmp_path / "SMPL_NEUTRAL.pkl")
    assert np.array_equal(data["shapedirs"], arrays["shapedirs"])
    assert np.allclose(data["J_regressor"], arrays["J_regressor"])
    assert np.array_equal(data["weights"], arrays["weights"])


class _Evil:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204 - the attack
        return (os.system, (f'echo pwned > "{self.marker}"',))


def test_malicious_pickle_does_not_execute(tmp_path: Path) -> None:
    marker = tmp_path / "pwned.txt"
    payload = pickle.dumps({"v_template": _Evil(marker)}, protocol=2)
    (tmp_path / "SMPL_NEUTRAL.pkl").write_bytes(payload)
    with pytest.raises(SmplFileError, match="refused to load"):
        load_smpl_data(tmp_path / "SMPL_NEUTRAL.pkl")
    with pytest.raises(SmplFileError, match="refused"):
        BodyModel.from_dir(tmp_path)
    for proto in (0, 1, 4):
        with pytest.raises(SmplFileError):
            restricted_load_pickle(pickle.dumps([_Evil(marker)], protocol=proto))
    assert not marker.exists()


def test_bad_files_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(SmplFileError, match="not found"):
        find_smpl_files(tmp_path / "missing")
    arrays = synthetic_smpl_arrays()
    arrays["J_regressor"] = arrays["J_regressor"][:20]
    np.savez(tmp_path / "SMPL_NEUTRAL.npz", **arrays)
    with pytest.raises(SmplFileError, match="J_regressor"):
        BodyModel.from_dir(tmp_path)


def test_weak_perspective_projection_matches_spin_formula() -> None:
    pts = torch.tensor([[[0.0, 0.0, 0.0], [0.2, -0.3, 0.05]]])
    cam = torch.tensor([[0.8, 0.1, -0.05]])
    uv = weak_perspective_projection(pts, cam)
    assert torch.allclose(uv[0, 0], torch.tensor([0.8 * 0.1, 0.8 * -0.05]), atol=1e-4)
    # with f = 5000 the projection is weak perspective: s * (X + t) up to depth effects
    approx = 0.8 * (pts[0, 1, :2] + cam[0, 1:])
    assert torch.allclose(uv[0, 1], approx, atol=2e-3)


def test_crop_camera_to_full_image_translation_reprojects_consistently() -> None:
    """A point placed with the full-image translation projects (pinhole, real focal) where the
    crop's weak-perspective camera puts it, mapped back to image pixels."""
    focal, principal = 900.0, (480.0, 270.0)
    cam = np.array([[0.9, 0.05, -0.1], [1.3, -0.2, 0.3]])
    centre = np.array([[300.0, 250.0], [700.0, 200.0]])
    side = np.array([260.0, 150.0])
    t = crop_cam_to_full_translation(cam, centre, side, focal, principal)
    for i in range(2):
        x = t[i]  # the body origin (X = 0) in camera coordinates
        u = focal * x[0] / x[2] + principal[0]
        v = focal * x[1] / x[2] + principal[1]
        crop_norm = cam[i, 0] * cam[i, 1:]            # weak-perspective crop coords in [-1, 1]
        expected = centre[i] + side[i] / 2.0 * crop_norm
        assert np.allclose([u, v], expected, atol=1e-6)
        assert np.isclose(x[2], 2 * focal / (cam[i, 0] * side[i]))
