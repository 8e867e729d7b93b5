"""SPIN's iterative error-feedback SMPL regressor, with SPIN's exact parameter and buffer names.

Per iteration: x = [feature (2048), pose6d (144), shape (10), cam (3)] = 2205 dims ->
fc1 (2205->1024) -> drop1 -> fc2 (1024->1024) -> drop2 (no activation in between, as SPIN) ->
residual heads decpose (144), decshape (10), deccam (3). Three iterations from the mean
parameters held in the buffers ``init_pose`` (1,144), ``init_shape`` (1,10), ``init_cam`` (1,3),
so SPIN's ``model_checkpoint.pt`` loads by key name. Without ``smpl_mean_params.npz`` the start
is the identity 6D pose, zero shape and camera [0.9, 0, 0] (SPIN's mean scale is about 0.9).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from .rotation6d import rot6d_to_rotmat

NUM_JOINTS = 24
NPOSE = NUM_JOINTS * 6
NSHAPE = 10
NCAM = 3
IDENTITY_6D = (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)  # first two columns of I, (3,2) row-major
DEFAULT_INIT_CAM = (0.9, 0.0, 0.0)


def load_mean_params(path: Path) -> dict[str, np.ndarray]:
    """Read SPIN's ``smpl_mean_params.npz`` (no pickle): pose (144,), shape (10,), cam (3,)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            out = {k: np.asarray(data[k], np.float32).reshape(-1) for k in ("pose", "shape", "cam")}
    except (OSError, ValueError, KeyError) as exc:
        raise ValueError(f"cannot read SMPL mean parameters from {path}: {exc}") from exc
    expected = {"pose": NPOSE, "shape": NSHAPE, "cam": NCAM}
    for key, size in expected.items():
        if out[key].size != size:
            raise ValueError(f"{path}: '{key}' has {out[key].size} values, expected {size}")
    return out


class SMPLRegressor(nn.Module):
    """(B, feat_dim) feature -> final-iteration SMPL parameters.

    forward returns a dict: ``pose6d`` (B,144), ``betas`` (B,10), ``pred_cam`` (B,3) weak-perspective
    [s, tx, ty] for the 224x224 crop, ``rotmat`` (B,24,3,3) (joint 0 = global orientation).
    """

    def __init__(self, feat_dim: int = 2048, hidden: int = 1024, iterations: int = 3,
                 dropout: float = 0.5) -> None:
        super().__init__()
        self.iterations = iterations
        self.fc1 = nn.Linear(feat_dim + NPOSE + NSHAPE + NCAM, hidden)
        self.drop1 = nn.Dropout(dropout)
        self.fc2 = nn.Linear(hidden, hidden)
        self.drop2 = nn.Dropout(dropout)
        self.decpose = nn.Linear(hidden, NPOSE)
        self.decshape = nn.Linear(hidden, NSHAPE)
        self.deccam = nn.Linear(hidden, NCAM)
        for head in (self.decpose, self.decshape, self.deccam):
            nn.init.xavier_uniform_(head.weight, gain=0.01)
        self.init_pose: torch.Tensor
        self.init_shape: torch.Tensor
        self.init_cam: torch.Tensor
        self.register_buffer("init_pose", torch.tensor(IDENTITY_6D * NUM_JOINTS).reshape(1, NPOSE))
        self.register_buffer("init_shape", torch.zeros(1, NSHAPE))
        self.register_buffer("init_cam", torch.tensor(DEFAULT_INIT_CAM).reshape(1, NCAM))

    def set_mean_params(self, mean: dict[str, np.ndarray]) -> None:
        """Copy SPIN's mean parameters (see :func:`load_mean_params`) into the start buffers."""
        with torch.no_grad():
            self.init_pose.copy_(torch.as_tensor(mean["pose"]).reshape(1, NPOSE))
            self.init_shape.copy_(torch.as_tensor(mean["shape"]).reshape(1, NSHAPE))
            self.init_cam.copy_(torch.as_tensor(mean["cam"]).reshape(1, NCAM))

    def forward(self, feats: torch.Tensor) -> dict[str, torch.Tensor]:
        b = feats.shape[0]
        pose = self.init_pose.expand(b, -1)
        shape = self.init_shape.expand(b, -1)
        cam = self.init_cam.expand(b, -1)
        for _ in range(self.iterations):
            x = torch.cat((feats, pose, shape, cam), dim=1)
            x = self.drop2(self.fc2(self.drop1(self.fc1(x))))
            pose = self.decpose(x) + pose
            shape = self.decshape(x) + shape
            cam = self.deccam(x) + cam
        return {"pose6d": pose, "betas": shape, "pred_cam": cam,
                "rotmat": rot6d_to_rotmat(pose).reshape(b, NUM_JOINTS, 3, 3)}
