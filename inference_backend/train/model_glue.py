"""The few places where training meets the model package and the SMPL body model.

- :func:`build_model`: STRConfig dict -> STRNet.
- :func:`save_model_checkpoint`: the model package's checkpoint format ({"config", "model",
  "meta"}, loadable with ``models.checkpoint.load_str_checkpoint``) plus, for resumable
  checkpoints, a ``train_state`` entry (tensors / plain containers only, weights_only-safe).
- :func:`make_body`: SMPL folder -> a body callable ``(rotmat, betas) -> (verts, joints49)`` and
  ``J_regressor_h36m``. Training and evaluation need real meshes: SMPL_NEUTRAL plus
  ``J_regressor_extra.npy`` (49 joints) and, to evaluate 3DPW/H36M, ``J_regressor_h36m.npy``.
- :func:`make_synthetic_body`: writes a synthetic SMPL folder (``make_synthetic_smpl``) with
  synthetic extra/H36M regressors (cluster means of the synthetic vertices) for tests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic_io import atomic_write
from .smpl_head import Body

#: Synthetic regressors: the SMPL joint whose vertex cluster stands in for each extra joint.
_EXTRA_FROM_SMPL = (2, 1, 12, 15, 0, 9, 6, 15, 15)  # rhip lhip neck headtop pelvis thorax spine jaw head
_H36M_FROM_SMPL = (0, 1, 4, 7, 2, 5, 8, 6, 12, 15, 15, 16, 18, 20, 17, 19, 21)


def build_model(model_cfg: dict[str, Any]) -> torch.nn.Module:
    from ..models import STRConfig, STRNet

    return STRNet(STRConfig.from_dict(dict(model_cfg)))


def save_model_checkpoint(path: Path, model: torch.nn.Module, meta: dict[str, Any],
                          extra: dict[str, Any] | None) -> Path:
    from ..models.checkpoint import FORMAT_NAME, FORMAT_VERSION, save_str_checkpoint

    if extra is None:
        return save_str_checkpoint(path, model, meta=meta)  # type: ignore[arg-type]
    info = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "torch": str(torch.__version__),
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "has_backbone": False,
            **meta}
    obj = {"config": model.config.to_dict(),  # type: ignore[operator,union-attr]
           "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
           "meta": info, **extra}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as fh:
        torch.save(obj, fh)
    return path


def make_body(smpl_dir: Path | None, device: torch.device) -> tuple[Body, torch.Tensor | None]:
    """Body callable and J_regressor_h36m (17, 6890) (None when the folder lacks it)."""
    from ..body_model import SPIN_JOINT_MAP, BodyModel
    from ..smpl_files import find_smpl_files, load_regressor, load_smpl_data

    if smpl_dir is None:
        raise FileNotFoundError(
            "training/evaluation needs SMPL files: pass --smpl-dir (SMPL_NEUTRAL.pkl/.npz, "
            "J_regressor_extra.npy, J_regressor_h36m.npy) or set STR_MOCAP_SMPL_DIR"
        )
    files = find_smpl_files(smpl_dir)
    if files.model is None:
        raise FileNotFoundError(f"no SMPL model file (SMPL_NEUTRAL.pkl/.npz) in {smpl_dir}")
    if files.j_regressor_extra is None:
        raise FileNotFoundError(f"J_regressor_extra.npy (9, 6890) missing in {smpl_dir}; the "
                                "49-joint set of the losses needs it")
    bm = BodyModel(load_smpl_data(files.model)).to(device).eval()
    j_extra = torch.from_numpy(load_regressor(files.j_regressor_extra, 9)).to(device)
    j_h36m = (torch.from_numpy(load_regressor(files.j_regressor_h36m, 17)).to(device)
              if files.j_regressor_h36m is not None else None)
    return SmplBody(bm, j_extra, list(SPIN_JOINT_MAP)), j_h36m


class SmplBody:
    """``body(rotmat (B,24,3,3), betas (B,10)) -> (verts (B,6890,3), joints49 (B,49,3))`` and a
    faster ``joints49(rotmat, betas)`` for the training losses.

    joints49: smplx SMPL's 24 joints + 21 vertex-picked joints + 9 ``J_regressor_extra`` joints,
    reordered with SPIN's joint map. The fast path skins only the vertices the 49 joints need
    (the 21 picked vertices and the support of J_regressor_extra) with smplx's own ``lbs``; the
    24 rest joints enter as 24 extra "vertices" ``J_regressor @ v_template`` with shape blend
    ``J_regressor @ shapedirs`` (joint regression is linear in the shaped mesh), so the result
    equals the full model's joints49 while skipping most of the 6890 vertices.
    """

    def __init__(self, bm: torch.nn.Module, j_extra: torch.Tensor, joint_map: list[int]) -> None:
        smpl: Any = bm.smpl  # smplx SMPL module (buffers typed loosely)
        assert smpl is not None
        for p in bm.parameters():
            p.requires_grad_(False)
        self.smpl, self.j_extra, self.joint_map = smpl, j_extra, joint_map
        picked = smpl.vertex_joint_selector.extra_joints_idxs.long()
        support = torch.nonzero(j_extra.abs().sum(0) > 0).flatten()
        subset = torch.unique(torch.cat([picked.to(support.device), support]))
        n_v = smpl.v_template.shape[0]
        jr = smpl.J_regressor
        nj = jr.shape[0]
        self._v = torch.cat([jr @ smpl.v_template, smpl.v_template[subset]])
        self._sd = torch.cat([torch.einsum("jv,vck->jck", jr, smpl.shapedirs), smpl.shapedirs[subset]])
        pd = smpl.posedirs.reshape(smpl.posedirs.shape[0], n_v, 3)[:, subset]
        self._pd = torch.cat([torch.zeros_like(pd[:, :nj]), pd], dim=1).reshape(pd.shape[0], -1)
        self._jr = torch.cat([torch.eye(nj, device=jr.device, dtype=jr.dtype),
                              torch.zeros(nj, subset.numel(), device=jr.device, dtype=jr.dtype)], 1)
        self._w = torch.cat([torch.eye(nj, device=jr.device, dtype=jr.dtype),
                             smpl.lbs_weights[subset]])
        pos = {int(v): i for i, v in enumerate(subset.tolist())}
        self._picked = torch.tensor([nj + pos[int(v)] for v in picked.tolist()], device=jr.device)
        self._extra = j_extra[:, subset]
        self._nj = nj

    def __call__(self, rotmat: torch.Tensor, betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.smpl(betas=betas, global_orient=rotmat[:, :1], body_pose=rotmat[:, 1:],
                        pose2rot=False)
        verts = out.vertices
        extra = torch.einsum("bvc,jv->bjc", verts, self.j_extra)
        return verts, torch.cat((out.joints, extra), dim=1)[:, self.joint_map]

    def joints49(self, rotmat: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        from smplx.lbs import lbs

        verts, joints = lbs(betas, rotmat, self._v, self._sd, self._pd, self._jr,
                            self.smpl.parents, self._w, pose2rot=False)
        picked = verts[:, self._picked]
        extra = torch.einsum("bvc,jv->bjc", verts[:, self._nj:], self._extra)
        return torch.cat((joints, picked, extra), dim=1)[:, self.joint_map]


def _cluster_regressor(sources: tuple[int, ...], seed: int) -> np.ndarray:
    from ..smpl_files import NUM_JOINTS, NUM_VERTICES

    rng = np.random.default_rng([seed, 777])
    owner = np.arange(NUM_VERTICES) % NUM_JOINTS  # the synthetic model's vertex clusters
    reg = np.zeros((len(sources), NUM_VERTICES), np.float32)
    for row, joint in enumerate(sources):
        members = np.nonzero(owner == joint)[0]
        pick = rng.choice(members, size=len(members) // 2, replace=False)
        reg[row, pick] = 1.0 / len(pick)
    return reg


def _save_npy(path: Path, arr: np.ndarray) -> None:
    with atomic_write(path) as fh:
        np.save(fh, arr)


def write_synthetic_mean_params(path: Path) -> Path:
    """SPIN-style ``smpl_mean_params.npz`` for the synthetic data: root rotated 180 degrees about
    x (the camera convention of the stored poses, as SPIN's real mean pose), other joints at
    rest, betas 0, cam [0.9, 0, 0]. 6D in SPIN's (3, 2) row-major layout. Without it the
    regressor would start 180 degrees away from every root orientation."""
    pose = np.tile(np.array([1.0, 0.0, 0.0, 1.0, 0.0, 0.0], np.float32), 24)
    pose[:6] = [1.0, 0.0, 0.0, -1.0, 0.0, 0.0]  # R_x(pi) = diag(1, -1, -1): columns (1,0,0), (0,-1,0)
    with atomic_write(path) as fh:
        np.savez(fh, pose=pose, shape=np.zeros(10, np.float32),
                 cam=np.array([0.9, 0.0, 0.0], np.float32))
    return path


def make_synthetic_body(smpl_dir: Path, seed: int = 0) -> tuple[Body, np.ndarray]:
    """Write SMPL_NEUTRAL.npz + synthetic J_regressor_extra/h36m + smpl_mean_params.npz into
    ``smpl_dir``; returns the
    body callable (CPU) and the H36M regressor."""
    from ..smpl_files import make_synthetic_smpl

    smpl_dir.mkdir(parents=True, exist_ok=True)
    make_synthetic_smpl(smpl_dir / "SMPL_NEUTRAL.npz", seed)
    _save_npy(smpl_dir / "J_regressor_extra.npy", _cluster_regressor(_EXTRA_FROM_SMPL, seed))
    h36m = _cluster_regressor(_H36M_FROM_SMPL, seed + 1)
    _save_npy(smpl_dir / "J_regressor_h36m.npy", h36m)
    write_synthetic_mean_params(smpl_dir / "smpl_mean_params.npz")
    body, _ = make_body(smpl_dir, torch.device("cpu"))
    return body, h36m
