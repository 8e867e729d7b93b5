"""SMPL body model for STR outputs: joints/vertices from (rotmat, betas) and the SPIN projections.

With the user's SMPL files (see smpl_files.py; never shipped) the model is smplx's SMPL built from
safely loaded arrays (``data_struct``, so smplx never unpickles anything). Without them the rest
skeleton is the template of ``smpl_constants.SMPL_TEMPLATE_REST_JOINTS`` (betas are ignored) and
joints come from forward kinematics of that template; there are no vertices then.

Shapes: B batch, 24 SMPL joints, 6890 vertices. Units: metres, SMPL body frame (no translation).
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .smpl_constants import SMPL_PARENTS, SMPL_TEMPLATE_REST_JOINTS
from .smpl_files import find_smpl_files, load_regressor, load_smpl_data

#: SPIN's 49-joint set as indices into [24 SMPL joints, 21 smplx extra joints, 9 J_regressor_extra].
SPIN_JOINT_MAP: tuple[int, ...] = (
    24, 12, 17, 19, 21, 16, 18, 20, 0, 2, 5, 8, 1, 4, 7, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34,
    8, 5, 45, 46, 4, 7, 21, 19, 17, 16, 18, 20, 47, 48, 49, 50, 51, 52, 53, 24, 26, 25, 28, 27,
)
#: H36M 17 -> the 14 "common" evaluation joints (TCMR/VIBE).
H36M_TO_J14: tuple[int, ...] = (6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10)
SPIN_FOCAL = 5000.0
SPIN_CROP = 224


@dataclass(frozen=True)
class SMPLOutput:
    """vertices (B,6890,3) or None (no SMPL files); joints (B,24,3); joints49 (B,49,3) when
    J_regressor_extra is present else None; joints_h36m (B,17,3) or None; rest_joints (B,24,3)."""

    vertices: torch.Tensor | None
    joints: torch.Tensor
    joints49: torch.Tensor | None
    joints_h36m: torch.Tensor | None
    rest_joints: torch.Tensor


def forward_kinematics(rest: torch.Tensor, rotmat: torch.Tensor,
                       parents: tuple[int, ...] = SMPL_PARENTS) -> torch.Tensor:
    """(B,24,3) rest joints, (B,24,3,3) local rotations (0 = global) -> (B,24,3) posed joints,
    pelvis fixed at rest[:, 0] (smplx convention: no translation)."""
    glob = [rotmat[:, 0]]
    pos = [rest[:, 0]]
    for j in range(1, len(parents)):
        p = parents[j]
        glob.append(glob[p] @ rotmat[:, j])
        pos.append(pos[p] + (glob[p] @ (rest[:, j] - rest[:, p]).unsqueeze(-1)).squeeze(-1))
    return torch.stack(pos, dim=1)


class BodyModel(nn.Module):
    """``forward(rotmat (B,24,3,3), betas (B,10)) -> SMPLOutput``."""

    def __init__(self, smpl_data: dict[str, np.ndarray] | None = None,
                 j_regressor_extra: np.ndarray | None = None,
                 j_regressor_h36m: np.ndarray | None = None) -> None:
        super().__init__()
        self.smpl: nn.Module | None = None
        if smpl_data is not None:
            from smplx import SMPL
            from smplx.utils import Struct

            with contextlib.redirect_stdout(sys.stderr):  # smplx prints a warning on stdout
                self.smpl = SMPL(
                    model_path="", data_struct=Struct(**smpl_data), create_betas=False,
                    create_global_orient=False, create_body_pose=False, create_transl=False,
                )
        self.template_rest: torch.Tensor
        self.register_buffer("template_rest", torch.from_numpy(SMPL_TEMPLATE_REST_JOINTS.copy()))
        self.j_extra: torch.Tensor | None
        self.j_h36m: torch.Tensor | None
        self.register_buffer("j_extra", None if j_regressor_extra is None else
                             torch.tensor(j_regressor_extra, dtype=torch.float32))
        self.register_buffer("j_h36m", None if j_regressor_h36m is None else
                             torch.tensor(j_regressor_h36m, dtype=torch.float32))

    @classmethod
    def from_dir(cls, smpl_dir: Path | str | None, gender: str = "neutral") -> BodyModel:
        """Use whatever the folder has (None or no model file -> template skeleton)."""
        files = find_smpl_files(smpl_dir, gender)
        data = load_smpl_data(files.model) if files.model is not None else None
        extra = load_regressor(files.j_regressor_extra, 9) if files.j_regressor_extra else None
        h36m = load_regressor(files.j_regressor_h36m, 17) if files.j_regressor_h36m else None
        return cls(data, extra if data is not None else None, h36m if data is not None else None)

    @property
    def has_mesh(self) -> bool:
        return self.smpl is not None

    def rest_joints(self, betas: torch.Tensor) -> torch.Tensor:
        """(B,10) -> (B,24,3) rest skeleton (T-pose, SMPL body frame, Y up)."""
        if self.smpl is None:
            return self.template_rest.expand(betas.shape[0], -1, -1).to(betas.dtype)
        smpl: Any = self.smpl
        shaped = smpl.v_template + torch.einsum("bl,mkl->bmk", betas, smpl.shapedirs)
        return torch.einsum("bik,ji->bjk", shaped, smpl.J_regressor)

    def forward(self, rotmat: torch.Tensor, betas: torch.Tensor) -> SMPLOutput:
        rest = self.rest_joints(betas)
        if self.smpl is None:
            return SMPLOutput(None, forward_kinematics(rest, rotmat), None, None, rest)
        out = self.smpl(betas=betas, global_orient=rotmat[:, :1], body_pose=rotmat[:, 1:],
                        pose2rot=False)
        verts = out.vertices
        joints49 = None
        if self.j_extra is not None:
            extra = torch.einsum("bik,ji->bjk", verts, self.j_extra)
            joints49 = torch.cat((out.joints, extra), dim=1)[:, list(SPIN_JOINT_MAP)]
        h36m = torch.einsum("bik,ji->bjk", verts, self.j_h36m) if self.j_h36m is not None else None
        return SMPLOutput(verts, out.joints[:, :24], joints49, h36m, rest)


def weak_perspective_projection(points: torch.Tensor, pred_cam: torch.Tensor,
                                focal: float = SPIN_FOCAL, crop: int = SPIN_CROP) -> torch.Tensor:
    """SPIN/TCMR 2D keypoints: (B,N,3) SMPL-frame points, (B,3) cam [s, tx, ty] -> (B,N,2) in
    [-1, 1] crop coordinates. t = (tx, ty, 2 f / (crop s + 1e-9)); p = f (X + t)_xy / (X + t)_z
    / (crop / 2) (camera centre at the crop centre)."""
    s, tx, ty = pred_cam.unbind(-1)
    t = torch.stack((tx, ty, 2.0 * focal / (crop * s + 1e-9)), dim=-1)
    x = points + t.unsqueeze(1)
    return focal * x[..., :2] / x[..., 2:3] / (crop / 2.0)


def crop_cam_to_full_translation(pred_cam: np.ndarray, centre: np.ndarray, side: np.ndarray,
                                 focal: float, principal: tuple[float, float]) -> np.ndarray:
    """Weak-perspective crop camera -> root translation in full-image camera coordinates.

    pred_cam (N,3) [s, tx, ty]; centre (N,2) crop centre in image pixels; side (N,) crop side in
    pixels (the bbox already multiplied by the crop scale); focal in pixels; principal point.
    The crop maps [-1,1] to ``side`` pixels, so a point at depth Z has image scale
    f / Z = s * side / 2, giving Z = 2 f / (s side); the crop-centre offset adds
    (c - principal) * Z / f to x/y (the perspective form of hmr_family_facts section 1.8).
    Returns (N,3) metres, OpenCV camera axes (x right, y down, z forward).
    """
    s = np.maximum(pred_cam[:, 0], 1e-3)
    tz = 2.0 * focal / (s * side)
    tx = pred_cam[:, 1] + (centre[:, 0] - principal[0]) * tz / focal
    ty = pred_cam[:, 2] + (centre[:, 1] - principal[1]) * tz / focal
    return np.stack((tx, ty, tz), axis=1)
