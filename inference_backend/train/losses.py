"""TCMR's training loss (facts file §3.4), on the middle-frame predictions of each window.

Batch layout (TCMR): the 2D-only samples first, then the 3D samples. All tensors are torch;
K is the number of supervised predictions (B, or B x k when a model returns k predictions per
window, e.g. TCMR's three; targets are repeated k times).

Terms (weights as every TCMR config: 2D 300, 3D 300, pose 60, shape 0.06):

- 2D: ``mean(conf * (pred_xy - gt_xy)^2)`` over all K x 49 x 2 entries of every sample (2D-only
  and 3D); zero-confidence entries contribute 0 but still count in the denominator.
- 3D: joints 25..38 (14 LSP) of the 49-set, each set centred on its mid-hip (local indices 2, 3);
  plain MSE, only samples with w_3d = 1 (3D part of the batch).
- pose: MSE between predicted and GT rotation matrices (K, 24, 3, 3), only w_smpl = 1. TCMR
  converts the predicted rotations to axis-angle and back first; the matrices are identical, so
  the predicted matrices are used directly (no extra round trip).
- shape: MSE on betas (10), only w_smpl = 1.

An empty selection contributes exactly 0 (as TCMR).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .joint_formats import SPIN_COMMON_SLICE


@dataclass(frozen=True)
class LossWeights:
    kp_2d: float = 300.0
    kp_3d: float = 300.0
    pose: float = 60.0
    shape: float = 0.06
    openpose_2d: float = 1.0  # weight of the 25 OpenPose joints (SPIN used 0, TCMR 1)
    gt_2d: float = 1.0


def keypoint_2d_loss(pred: torch.Tensor, gt: torch.Tensor, w: LossWeights) -> torch.Tensor:
    """pred (K, 49, 2) in [-1, 1]; gt (K, 49, 3) with confidence in the last channel."""
    if pred.shape[0] == 0:
        return pred.sum() * 0.0
    conf = gt[..., 2:3].clone()
    conf[:, :25] *= w.openpose_2d
    conf[:, 25:] *= w.gt_2d
    return (conf * (pred - gt[..., :2]) ** 2).mean()


def _centre_on_midhip(joints14: torch.Tensor) -> torch.Tensor:
    return joints14 - 0.5 * (joints14[:, 2:3] + joints14[:, 3:4])


def keypoint_3d_loss(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """pred, gt (K, 49, 3+) metres; the 14 LSP joints, mid-hip centred, MSE."""
    if pred.shape[0] == 0:
        return pred.sum() * 0.0
    p = _centre_on_midhip(pred[:, SPIN_COMMON_SLICE, :3])
    g = _centre_on_midhip(gt[:, SPIN_COMMON_SLICE, :3])
    return ((p - g) ** 2).mean()


def batch_rodrigues(axis_angle: torch.Tensor) -> torch.Tensor:
    """(N, 3) axis-angle -> (N, 3, 3) rotation matrices (via a unit quaternion, as VIBE/TCMR:
    angle = ||aa + 1e-8||)."""
    angle = torch.norm(axis_angle + 1e-8, dim=1, keepdim=True)
    axis = axis_angle / angle
    half = 0.5 * angle
    q = torch.cat([torch.cos(half), torch.sin(half) * axis], dim=1)
    q = q / q.norm(dim=1, keepdim=True)
    w, x, y, z = q.unbind(dim=1)
    rot = torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        dim=1,
    )
    return rot.reshape(-1, 3, 3)


def pose_loss(pred_rotmat: torch.Tensor, gt_pose_aa: torch.Tensor) -> torch.Tensor:
    """pred_rotmat (K, 24, 3, 3); gt_pose_aa (K, 72) axis-angle. MSE over matrices."""
    if pred_rotmat.shape[0] == 0:
        return pred_rotmat.sum() * 0.0
    gt = batch_rodrigues(gt_pose_aa.reshape(-1, 3)).reshape(-1, 24, 3, 3)
    return ((pred_rotmat - gt) ** 2).mean()


def shape_loss(pred_betas: torch.Tensor, gt_betas: torch.Tensor) -> torch.Tensor:
    if pred_betas.shape[0] == 0:
        return pred_betas.sum() * 0.0
    return ((pred_betas - gt_betas) ** 2).mean()


#: Order of the four terms in :func:`loss_terms`' sums and counts.
TERMS: tuple[str, ...] = ("kp_2d", "kp_3d", "pose", "shape")


def loss_terms(
    pred: dict[str, torch.Tensor],
    target: dict[str, torch.Tensor],
    n_2d: int,
    weights: LossWeights,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sums of squared errors and element counts of the four terms, in :data:`TERMS` order.

    Each term of :func:`str_loss` is ``sum / count``; keeping them apart lets torchrun processes
    divide by the GLOBAL count (all-reduced) so that DDP's gradient average equals the gradient
    of the one-process loss on the whole global batch, whatever the per-rank shares.
    Returns ``sums`` (4,) (with grad) and ``counts`` (4,) (float, no grad).
    pred / target / n_2d as :func:`str_loss`.
    """
    b = target["kp_2d"].shape[0]
    k = pred["kp_2d"].shape[0] // b if b else 0
    if k * b != pred["kp_2d"].shape[0]:
        raise ValueError(f"{pred['kp_2d'].shape[0]} predictions for {b} windows")

    def rep(x: torch.Tensor) -> torch.Tensor:
        return x.repeat((k,) + (1,) * (x.dim() - 1))

    device = pred["kp_2d"].device
    is_3d_part = torch.zeros(b, dtype=torch.bool, device=device)
    is_3d_part[n_2d:] = True
    sel_3d = rep(is_3d_part & (target["w_3d"] > 0.5))
    sel_smpl = rep(is_3d_part & (target["w_smpl"] > 0.5))

    gt2d = rep(target["kp_2d"])
    conf = gt2d[..., 2:3].clone()
    conf[:, :25] *= weights.openpose_2d
    conf[:, 25:] *= weights.gt_2d
    s2d = (conf * (pred["kp_2d"] - gt2d[..., :2]) ** 2).sum()
    p3 = _centre_on_midhip(pred["kp_3d"][sel_3d][:, SPIN_COMMON_SLICE, :3])
    g3 = _centre_on_midhip(rep(target["kp_3d"])[sel_3d][:, SPIN_COMMON_SLICE, :3])
    s3d = ((p3 - g3) ** 2).sum()
    theta = rep(target["theta"])[sel_smpl]
    gt_rot = batch_rodrigues(theta[:, 3:75].reshape(-1, 3)).reshape(-1, 24, 3, 3)
    spose = ((pred["rotmat"][sel_smpl] - gt_rot) ** 2).sum()
    sshape = ((pred["betas"][sel_smpl] - theta[:, 75:85]) ** 2).sum()
    sums = torch.stack([s2d, s3d, spose, sshape]).float()
    counts = torch.tensor([pred["kp_2d"].numel(), p3.numel(), gt_rot.numel(), theta[:, 75:85].numel()],
                          dtype=torch.float32, device=device)
    return sums, counts


def combine_terms(sums: torch.Tensor, counts: torch.Tensor, weights: LossWeights) -> torch.Tensor:
    """``sum_i w_i * sums_i / counts_i``; a term with count 0 contributes exactly 0 (as TCMR)."""
    w = torch.tensor([weights.kp_2d, weights.kp_3d, weights.pose, weights.shape],
                     dtype=sums.dtype, device=sums.device)
    return (w * sums / counts.clamp(min=1.0)).sum()


def str_loss(
    pred: dict[str, torch.Tensor],
    target: dict[str, torch.Tensor],
    n_2d: int,
    weights: LossWeights,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Total weighted loss and its parts (floats, unweighted).

    pred: ``kp_2d`` (K, 49, 2), ``kp_3d`` (K, 49, 3), ``rotmat`` (K, 24, 3, 3), ``betas`` (K, 10)
    for K = k x B predictions (k per window, window-major within each prediction set is NOT
    assumed: prediction j of window b is row ``j * B + b``).
    target (middle frame of each window, B rows): ``kp_2d`` (B, 49, 3), ``kp_3d`` (B, 49, 3),
    ``theta`` (B, 85) [cam 3, pose 72, betas 10], ``w_3d`` (B,), ``w_smpl`` (B,).
    n_2d: the first n_2d windows are 2D-only samples.
    """
    sums, counts = loss_terms(pred, target, n_2d, weights)
    return combine_terms(sums, counts, weights), term_values(sums, counts)


def term_values(sums: torch.Tensor, counts: torch.Tensor) -> dict[str, float]:
    """The unweighted mean of each term (for logging)."""
    values = (sums.detach() / counts.clamp(min=1.0)).tolist()
    return {f"loss_{name}": float(v) for name, v in zip(TERMS, values, strict=True)}
