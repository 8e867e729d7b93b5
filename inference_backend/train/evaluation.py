"""Run a model over an evaluation database and score it under TCMR's protocol (facts §5).

Windows: stride 1 plus single-frame padding windows (one window centred on every frame, in
order; ``match_vibe`` trims like TCMR's trainer validation); the prediction of a window is its
middle frame. Joints: 3DPW / Human3.6M -> ``J_regressor_h36m @ verts`` then H36M_TO_J14
(common-14, mid-hip aligned); MPI-INF-3DHP -> the 49-joint SMPL output converted to the 17
mpii3d_test joints (pelvis index 14), frames with valid_i = 0 not scored. MPVPE (3DPW only): GT
mesh from the SMPL body with GT pose and betas, no alignment. Aggregation frame-weighted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .datasets import VID_KEY, WindowDataset
from .joint_formats import H36M_TO_J14, MPII3D_TEST_JOINTS, SPIN_JOINTS
from .losses import batch_rodrigues
from .metrics import aggregate, sequence_errors
from .smpl_head import Body, stack_predictions
from .windows import video_ranges

SPIN_TO_MPII3D_TEST: tuple[int, ...] = tuple(SPIN_JOINTS.index(n) for n in MPII3D_TEST_JOINTS)


@dataclass
class EvalResult:
    metrics: dict[str, float]  # mpjpe, pa_mpjpe, accel_err (+ mpvpe) in mm (accel mm/frame^2)
    frames: int
    sequences: int


@torch.no_grad()
def evaluate_windows(
    model: torch.nn.Module, ds: WindowDataset, body: Body, j_regressor_h36m: torch.Tensor | None,
    device: torch.device, *, batch_windows: int = 8, with_mpvpe: bool | None = None,
) -> EvalResult:
    """Predict every window of ``ds`` (built with ``is_train=False``) and score it."""
    name = ds.spec.name
    if name in ("3dpw", "h36m") and j_regressor_h36m is None:
        raise ValueError(f"evaluating {name} needs J_regressor_h36m.npy in the SMPL directory")
    if with_mpvpe is None:
        with_mpvpe = name == "3dpw" and "pose" in ds.db and "shape" in ds.db
    was_training = model.training
    model.eval()
    mid = ds.seqlen // 2
    pred_j, gt_j, frames, pves = [], [], [], []
    for start in range(0, len(ds), batch_windows):
        items = list(range(start, min(len(ds), start + batch_windows)))
        batch = ds.gather(items)
        feats = torch.from_numpy(batch["features"]).to(device)
        out = model(feats, is_train=False)
        rows = stack_predictions(out, mid)
        verts, joints49 = body(rows["rotmat"].float(), rows["betas"].float())
        if name == "mpii3d":
            pj = joints49[:, list(SPIN_TO_MPII3D_TEST)]
        else:
            assert j_regressor_h36m is not None
            pj = torch.einsum("jv,bvc->bjc", j_regressor_h36m.to(verts), verts)[:, list(H36M_TO_J14)]
        pred_j.append(pj.cpu().numpy().astype(np.float64))
        gt_j.append(batch["kp_3d"][:, mid].astype(np.float64))
        frames.append(batch["index"][:, mid])
        if with_mpvpe:
            theta = torch.from_numpy(batch["theta"][:, mid]).to(device)
            gt_rot = batch_rodrigues(theta[:, 3:75].reshape(-1, 3)).reshape(-1, 24, 3, 3)
            gt_verts, _ = body(gt_rot, theta[:, 75:85])
            pves.append(
                (torch.linalg.norm(verts - gt_verts, dim=-1).mean(dim=-1) * 1000.0).cpu().numpy()
            )
    model.train(was_training)
    pred = np.concatenate(pred_j)
    gt = np.concatenate(gt_j)
    idx = np.concatenate(frames)
    pve = np.concatenate(pves) if pves else None
    vids = ds.db[VID_KEY][idx]
    valid = ds.valid[idx] > 0.5
    per_seq = []
    for first, last in video_ranges(vids):
        sl = slice(first, last)
        vis = valid[sl] if name == "mpii3d" else None
        errs = sequence_errors(
            pred[sl], gt[sl], pelvis="mpii3d" if name == "mpii3d" else "midhip", visible=vis
        )
        if pve is not None:
            errs["mpvpe"] = pve[sl]
        per_seq.append(errs)
    n_scored = int(valid.sum()) if name == "mpii3d" else len(idx)
    return EvalResult(metrics=aggregate(per_seq), frames=n_scored, sequences=len(per_seq))
