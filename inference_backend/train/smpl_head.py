"""From STRNet outputs to what the losses and metrics compare: SMPL joints and 2D projections.

A *body* is any callable ``body(rotmat (K, 24, 3, 3), betas (K, 10)) -> (verts (K, 6890, 3),
joints49 (K, 49, 3))`` in metres (SMPL frame, no translation); :mod:`.body_adapter` builds one
from the project's SMPL body model.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Body = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

FOCAL = 5000.0
CROP = 224.0


def project_to_crop(joints: torch.Tensor, cam: torch.Tensor) -> torch.Tensor:
    """SPIN/TCMR projection of (K, J, 3) joints with weak-perspective cam (K, 3) [s, tx, ty]
    to [-1, 1] crop coordinates (K, J, 2): t = (tx, ty, 2 f / (224 s + 1e-9)), f = 5000,
    pixel = f X_cam[:2] / X_cam[2] (centre 0), divided by 112."""
    s, tx, ty = cam[:, 0], cam[:, 1], cam[:, 2]
    tz = 2.0 * FOCAL / (CROP * s + 1e-9)
    trans = torch.stack([tx, ty, tz], dim=-1)
    x = joints + trans[:, None, :]
    pix = FOCAL * x[..., :2] / x[..., 2:3]
    return pix / (CROP / 2.0)


def stack_predictions(out: dict, mid: int) -> dict[str, torch.Tensor]:
    """STRNet output -> rows for the loss: the main prediction (B rows) followed by each
    auxiliary prediction (``aux`` (B, A, ...): A more blocks of B rows), as TCMR's 3 outputs.
    With ``output="all"`` (a time axis after B) the middle frame ``mid`` is supervised."""
    keys = ("rotmat", "betas", "pred_cam")
    main = {k: out[k] for k in keys}
    if main["betas"].dim() == 3:  # (B, T, 10): per-frame outputs
        main = {k: v[:, mid] for k, v in main.items()}
    blocks = [main]
    aux = out.get("aux")
    if isinstance(aux, dict):
        n_aux = aux["betas"].shape[1]
        for a in range(n_aux):
            blocks.append({k: aux[k][:, a] for k in keys})
    return {k: torch.cat([blk[k] for blk in blocks], dim=0) for k in keys}


def predictions_to_keypoints(rows: dict[str, torch.Tensor], body: Body) -> dict[str, torch.Tensor]:
    """Adds ``kp_3d`` (K, 49, 3) and ``kp_2d`` (K, 49, 2) (SMPL in float32). Uses the body's
    joints-only fast path when it has one (``joints49``)."""
    fast = getattr(body, "joints49", None)
    if fast is not None:
        joints = fast(rows["rotmat"].float(), rows["betas"].float())
    else:
        _, joints = body(rows["rotmat"].float(), rows["betas"].float())
    kp_2d = project_to_crop(joints, rows["pred_cam"].float())
    return {**rows, "kp_3d": joints, "kp_2d": kp_2d}
