"""TCMR's loss terms: values on hand-computed cases, label masks, projection."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from inference_backend.train.losses import LossWeights, batch_rodrigues, str_loss
from inference_backend.train.smpl_head import project_to_crop, stack_predictions


def test_loss_terms_and_masks() -> None:
    w = LossWeights()
    b = 4
    kp2d = torch.zeros(b, 49, 3)
    kp2d[:, :, 2] = 1.0
    kp2d[0, :, 2] = 0.0  # a sample with no visible 2D joint
    target = {"kp_2d": kp2d, "kp_3d": torch.randn(b, 49, 3), "theta": torch.zeros(b, 85),
              "w_3d": torch.tensor([0.0, 0.0, 1.0, 1.0]), "w_smpl": torch.tensor([0.0, 0.0, 0.0, 1.0])}
    pred = {"kp_2d": torch.full((b, 49, 2), 0.1), "kp_3d": target["kp_3d"].clone(),
            "rotmat": torch.eye(3).expand(b, 24, 3, 3).clone(), "betas": torch.zeros(b, 10)}
    total, parts = str_loss(pred, target, n_2d=2, weights=w)
    # 2D: 3 of 4 samples visible, error 0.01 each, mean over all 4*49*2 entries
    assert parts["loss_kp_2d"] == pytest.approx(0.01 * 3 / 4, rel=1e-5)
    assert parts["loss_kp_3d"] == pytest.approx(0.0, abs=1e-9)
    assert parts["loss_pose"] == pytest.approx(0.0, abs=1e-9) and parts["loss_shape"] == 0.0
    assert float(total) == pytest.approx(300 * 0.0075, rel=1e-5)
    # a 3D translation is removed by the mid-hip centring; a bend is not
    pred["kp_3d"] = target["kp_3d"] + 1.0
    assert str_loss(pred, target, 2, w)[1]["loss_kp_3d"] == pytest.approx(0.0, abs=1e-9)
    pred["kp_3d"] = target["kp_3d"].clone()
    pred["kp_3d"][:, 25] += torch.tensor([0.1, 0.0, 0.0])
    # only w_3d samples (2 of them) count: one of 14 joints off by 0.1 in x -> 0.01 / (14 * 3)
    assert str_loss(pred, target, 2, w)[1]["loss_kp_3d"] == pytest.approx(0.01 / 42, rel=1e-4)
    # pose: GT rotation of 90 degrees about z on joint 5 of the only w_smpl sample
    target["theta"][3, 3 + 15 : 3 + 18] = torch.tensor([0.0, 0.0, math.pi / 2])
    expected = float(((torch.eye(3) - batch_rodrigues(torch.tensor([[0.0, 0.0, math.pi / 2]]))[0]) ** 2).sum())
    assert str_loss(pred, target, 2, w)[1]["loss_pose"] == pytest.approx(expected / (24 * 9), rel=1e-4)
    # three predictions per window (main + 2 aux) repeat the targets
    rep = {k: torch.cat([v] * 3) for k, v in pred.items()}
    assert str_loss(rep, target, 2, w)[1]["loss_pose"] == pytest.approx(expected / (24 * 9), rel=1e-4)


def test_batch_rodrigues_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    aa = rng.normal(0, 1.2, size=(50, 3))
    np.testing.assert_allclose(
        batch_rodrigues(torch.from_numpy(aa)).numpy(), Rotation.from_rotvec(aa).as_matrix(), atol=1e-6
    )


def test_projection_is_spin_weak_perspective() -> None:
    joints = torch.tensor([[[0.0, 0.0, 0.0], [0.5, -0.25, 0.0]]])
    cam = torch.tensor([[0.8, 0.1, -0.2]])
    kp = project_to_crop(joints, cam)
    # depth 0: exactly s * (X + t) (tz = 2 f / (224 s))
    np.testing.assert_allclose(kp[0].numpy(), 0.8 * (joints[0, :, :2] + torch.tensor([0.1, -0.2])).numpy(),
                               rtol=1e-5)
    # a point in front of the root (towards the camera) projects larger
    near = project_to_crop(torch.tensor([[[0.5, 0.0, -1.0]]]), cam)
    assert float(near[0, 0, 0]) > 0.8 * 0.6


def test_stack_predictions_main_then_aux() -> None:
    b = 3
    out = {"rotmat": torch.zeros(b, 24, 3, 3), "betas": torch.zeros(b, 10), "pred_cam": torch.zeros(b, 3),
           "aux": {"rotmat": torch.ones(b, 2, 24, 3, 3), "betas": torch.ones(b, 2, 10),
                   "pred_cam": torch.ones(b, 2, 3)}}
    out["aux"]["betas"][:, 1] = 2.0
    rows = stack_predictions(out, mid=8)
    assert rows["betas"].shape == (9, 10)
    np.testing.assert_array_equal(rows["betas"][:, 0].numpy(), [0, 0, 0, 1, 1, 1, 2, 2, 2])
    per_frame = {k: torch.zeros(b, 16, *v.shape[1:]) for k, v in out.items() if k != "aux"}
    per_frame["betas"][:, 8] = 5.0
    assert float(stack_predictions(per_frame, mid=8)["betas"].mean()) == 5.0


def test_per_rank_terms_with_global_counts_give_the_one_process_loss_and_gradient() -> None:
    """torchrun: each rank's loss = world * sum_i w_i sums_i / global_count_i; DDP averages
    gradients over ranks, which then equals the one-process gradient on the whole batch, for
    unequal shares (19 2D + 13 3D split over 3 ranks)."""
    from inference_backend.train.losses import combine_terms, loss_terms

    torch.manual_seed(3)
    b, n_2d, k = 32, 19, 3
    target = {
        "kp_2d": torch.cat([torch.randn(b, 49, 2), torch.rand(b, 49, 1)], -1),
        "kp_3d": torch.randn(b, 49, 3),
        "theta": torch.cat([torch.zeros(b, 3), 0.3 * torch.randn(b, 72), torch.randn(b, 10)], 1),
        "w_3d": torch.tensor([0.0] * n_2d + [1.0] * (b - n_2d)),
        "w_smpl": torch.tensor([0.0] * n_2d + [1.0, 0.0] * 6 + [1.0]),
    }
    leaf = {"kp_2d": torch.randn(k * b, 49, 2), "kp_3d": torch.randn(k * b, 49, 3),
            "rotmat": torch.randn(k * b, 24, 3, 3), "betas": torch.randn(k * b, 10)}
    w = LossWeights()

    def grads(n2d_local: int, tgt_rows: torch.Tensor, world: int,
              global_counts: torch.Tensor | None) -> tuple[torch.Tensor, dict]:
        pred = {kk: v.clone().requires_grad_(True) for kk, v in leaf.items()}
        sel_pred = {kk: v.reshape(k, b, *v.shape[1:])[:, tgt_rows].reshape(-1, *v.shape[1:])
                    for kk, v in pred.items()}
        tgt = {kk: v[tgt_rows] for kk, v in target.items()}
        sums, counts = loss_terms(sel_pred, tgt, n2d_local, w)
        loss = combine_terms(sums, counts if global_counts is None else global_counts, w) * world
        loss.backward()
        return loss.detach(), {kk: v.grad for kk, v in pred.items()}

    full_loss, full_grad = grads(n_2d, torch.arange(b), 1, None)
    assert torch.allclose(full_loss, str_loss(leaf, target, n_2d, w)[0], rtol=1e-5)
    world = 3
    shares = []
    for r in range(world):  # rank r: every 3rd of the 2D part and every 3rd of the 3D part
        rows_2d = torch.arange(n_2d)[r::world]
        rows_3d = torch.arange(n_2d, b)[r::world]
        shares.append((torch.cat([rows_2d, rows_3d]), len(rows_2d)))
    counts = []
    for rows, n2d_local in shares:
        pred = {kk: v.reshape(k, b, *v.shape[1:])[:, rows].reshape(-1, *v.shape[1:])
                for kk, v in leaf.items()}
        counts.append(loss_terms(pred, {kk: v[rows] for kk, v in target.items()}, n2d_local, w)[1])
    global_counts = torch.stack(counts).sum(0)  # what all_reduce_sum gives every rank
    losses, rank_grads = [], []
    for rows, n2d_local in shares:
        loss, g = grads(n2d_local, rows, world, global_counts)
        losses.append(loss)
        rank_grads.append(g)
    assert torch.allclose(torch.stack(losses).mean(), full_loss, rtol=1e-5)
    for key in leaf:
        ddp = torch.stack([g[key] for g in rank_grads]).mean(0)  # DDP's gradient average
        assert torch.allclose(ddp, full_grad[key], rtol=1e-4, atol=1e-9), key
