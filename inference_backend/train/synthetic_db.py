"""A small synthetic database in the TCMR format, with labels that agree with each other.

Real training data (3DPW, MPI-INF-3DHP, Human3.6M) cannot be redistributed; this generator
makes a few sequences that go through exactly the same reader and windowing code, so the
trainer and the evaluation can be exercised end to end, and a model CAN learn the mapping:

- poses: a smooth random process per sequence (per joint axis a sum of three sinusoids of
  0.01-0.06 cycles/frame and ~0.25 rad, around a random offset); the global orientation turns
  slowly about the vertical and is pre-multiplied by a 180-degree rotation about x (camera
  convention of 3DPW's stored poses: y down); betas constant per sequence, N(0, 0.8^2);
- camera: weak-perspective [s, tx, ty], slowly varying; bounding box of side 300 px;
- 3D/2D labels: the synthetic SMPL body (``make_synthetic_smpl``) posed with those parameters
  -> 49 joints (train) or ``J_regressor_h36m`` -> common-14 (val/test); 2D = the 49 joints
  projected with SPIN's camera, stored in pixels through the inverse of TCMR's normalisation;
- features (``feature_dim``, default 256 to keep CPU training fast; 2048 = SPIN's size):
  ReLU(W p + b) + N(0, 0.05^2) with p = [pose 6D (144), betas (10), cam (3)]
  and a fixed random W (seeded), i.e. a fixed random projection of the labels plus noise.

Files written to OUT: ``3dpw_{train,val,test}_db.npz`` (3DPW layout: joints2D common-14 with
neck/headtop confidence 0, joints3D 49 (train) / 14 (val, test), pose, shape, bbox, valid,
features, vid_name, frame_id, img_name), ``posetrack_train_db.npz`` (2D-only, spin-49 joints2D)
and the synthetic SMPL files in ``OUT/smpl`` (SMPL_NEUTRAL.npz, J_regressor_extra.npy,
J_regressor_h36m.npy and a SPIN-style smpl_mean_params.npz whose root is the 180-degree camera
flip, so the regressor starts near the data, as with SPIN's real mean pose). Deterministic for a
given seed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .datasets import pixels_from_normalised, save_db_npz
from .joint_formats import H36M_TO_J14, convert_kps
from .losses import batch_rodrigues
from .smpl_head import Body, project_to_crop

FEATURE_DIM = 2048  # SPIN's; the synthetic default is smaller so CPU training takes minutes
PARAM_DIM = 144 + 10 + 3


@dataclass(frozen=True)
class SyntheticSpec:
    sequences: int = 64
    frames: int = 32
    seed: int = 0
    feature_noise: float = 0.05
    eval_sequences: int | None = None  # val/test sequences (default max(1, sequences // 4))
    posetrack_sequences: int | None = None  # 2D-only sequences (default = sequences)
    feature_dim: int = 256  # must equal the model's feat_dim (str_synthetic.json: 256)


def _smooth_pose(rng: np.random.Generator, frames: int) -> np.ndarray:
    """(frames, 72) axis-angle: smooth body pose and a slowly turning, camera-flipped root."""
    t = np.arange(frames, dtype=np.float64)[:, None]
    offset = rng.normal(0.0, 0.15, size=(1, 69))
    pose = np.repeat(offset, frames, axis=0)
    for _ in range(3):
        freq = rng.uniform(0.01, 0.06, size=(1, 69))
        phase = rng.uniform(0, 2 * np.pi, size=(1, 69))
        amp = rng.uniform(0.05, 0.15, size=(1, 69))
        pose = pose + amp * np.sin(2 * np.pi * freq * t + phase)
    yaw = rng.uniform(-np.pi, np.pi) + rng.uniform(-0.02, 0.02) * t[:, 0]
    tilt = 0.1 * np.sin(2 * np.pi * rng.uniform(0.005, 0.02) * t[:, 0])
    root = np.stack([np.full(frames, np.pi) + tilt, np.zeros(frames), np.zeros(frames)], 1)
    # compose R_x(pi + tilt) @ R_y(yaw) and return axis-angle of the product
    rx = batch_rodrigues(torch.as_tensor(root, dtype=torch.float64))
    ry = batch_rodrigues(torch.as_tensor(np.stack([np.zeros(frames), yaw, np.zeros(frames)], 1)))
    r = (rx @ ry).numpy()
    return np.concatenate([_rotmat_to_aa(r), pose], axis=1).astype(np.float32)


def _rotmat_to_aa(r: np.ndarray) -> np.ndarray:
    """(N, 3, 3) -> (N, 3) axis-angle (angles in [0, pi])."""
    from scipy.spatial.transform import Rotation

    return Rotation.from_matrix(r).as_rotvec()


def _rotmat_6d(pose_aa: np.ndarray) -> np.ndarray:
    """(N, 72) -> (N, 144): the first two columns of each rotation, (3, 2) row-major (SPIN)."""
    rot = batch_rodrigues(torch.as_tensor(pose_aa.reshape(-1, 3), dtype=torch.float64)).numpy()
    return rot[:, :, :2].reshape(pose_aa.shape[0], 144)


class SyntheticGenerator:
    """Holds the fixed projection and the body; ``make(set)`` returns one database dict."""

    def __init__(self, spec: SyntheticSpec, body: Body, j_regressor_h36m: np.ndarray) -> None:
        self.spec = spec
        self.body = body
        self.j_reg = np.asarray(j_regressor_h36m, dtype=np.float64)
        rng = np.random.default_rng([spec.seed, 12345])
        self.w = rng.normal(0.0, 1.0 / np.sqrt(PARAM_DIM), size=(spec.feature_dim, PARAM_DIM))
        self.b = rng.normal(0.0, 0.1, size=spec.feature_dim)

    def features(self, pose: np.ndarray, betas: np.ndarray, cam: np.ndarray,
                 rng: np.random.Generator) -> np.ndarray:
        cam_std = (cam - np.array([0.95, 0.0, 0.0])) / np.array([0.1, 0.05, 0.05])
        p = np.concatenate([_rotmat_6d(pose), betas / 0.8, cam_std], axis=1)
        f = np.maximum(p @ self.w.T + self.b, 0.0)
        f = f + rng.normal(0.0, self.spec.feature_noise, size=f.shape)
        return f.astype(np.float32)

    def _sequence(self, rng: np.random.Generator, frames: int) -> dict[str, np.ndarray]:
        pose = _smooth_pose(rng, frames)
        betas = np.repeat(rng.normal(0.0, 0.8, size=(1, 10)), frames, axis=0).astype(np.float32)
        t = np.arange(frames)[:, None]
        cam = np.concatenate([
            rng.uniform(0.85, 1.05) + 0.05 * np.sin(2 * np.pi * rng.uniform(0.005, 0.03) * t),
            rng.uniform(-0.05, 0.05) + 0.03 * np.sin(2 * np.pi * rng.uniform(0.005, 0.03) * t),
            rng.uniform(-0.05, 0.05) + 0.03 * np.sin(2 * np.pi * rng.uniform(0.005, 0.03) * t),
        ], axis=1).astype(np.float32)
        with torch.no_grad():
            rot = batch_rodrigues(torch.from_numpy(pose.reshape(-1, 3))).reshape(frames, 24, 3, 3)
            verts, joints = self.body(rot, torch.from_numpy(betas))
            kp = project_to_crop(joints, torch.from_numpy(cam))
        centre = np.array([480.0, 270.0]) + rng.uniform(-60, 60, size=2)
        bbox = np.zeros((frames, 4), np.float32)
        bbox[:, 0] = centre[0] + 20 * np.sin(2 * np.pi * 0.01 * t[:, 0])
        bbox[:, 1] = centre[1]
        bbox[:, 2] = bbox[:, 3] = 300.0
        kp2d = np.concatenate([kp.numpy(), np.ones((frames, 49, 1))], axis=2).astype(np.float32)
        return {
            "pose": pose, "shape": betas, "cam": cam, "bbox": bbox,
            "joints49": joints.numpy().astype(np.float32), "verts": verts.numpy().astype(np.float64),
            "kp2d_pix": pixels_from_normalised(kp2d, bbox),
            "features": self.features(pose, betas, cam, rng),
        }

    def make(self, split: str, sequences: int, *, two_d_only: bool = False) -> dict[str, np.ndarray]:
        tag = {"train": 0, "val": 1, "test": 2}[split] + (10 if two_d_only else 0)
        rng = np.random.default_rng([self.spec.seed, tag])
        cols: dict[str, list[np.ndarray]] = {}
        for s in range(sequences):
            seq = self._sequence(rng, self.spec.frames)
            n = self.spec.frames
            name = f"{'pt' if two_d_only else 'syn'}{split}_{s:03d}_0"
            cols.setdefault("vid_name", []).append(np.array([name] * n))
            cols.setdefault("frame_id", []).append(np.arange(n, dtype=np.int64))
            cols.setdefault("img_name", []).append(
                np.array([f"synthetic/{name}/{i:06d}.jpg" for i in range(n)])
            )
            cols.setdefault("bbox", []).append(seq["bbox"])
            cols.setdefault("features", []).append(seq["features"])
            if two_d_only:
                cols.setdefault("joints2D", []).append(seq["kp2d_pix"])
                continue
            j2d = convert_kps(seq["kp2d_pix"], "spin", "common")
            j2d[:, 12:, 2] = 0.0  # 3DPW: neck and head top have no 2D label
            cols.setdefault("joints2D", []).append(j2d)
            if split == "train":
                j3d = seq["joints49"]
            else:
                j17 = np.einsum("jv,nvc->njc", self.j_reg, seq["verts"])
                j3d = j17[:, list(H36M_TO_J14)].astype(np.float32)
            cols.setdefault("joints3D", []).append(j3d)
            cols.setdefault("pose", []).append(seq["pose"])
            cols.setdefault("shape", []).append(seq["shape"])
            cols.setdefault("valid", []).append(np.ones(n, np.float32))
        return {k: np.concatenate(v) for k, v in cols.items()}


def write_synthetic_db(out: Path, spec: SyntheticSpec, body: Body,
                       j_regressor_h36m: np.ndarray) -> list[Path]:
    """Write the synthetic database files into ``out`` (see module doc); returns their paths."""
    gen = SyntheticGenerator(spec, body, j_regressor_h36m)
    n_eval = spec.eval_sequences or max(1, spec.sequences // 4)
    n_2d = spec.posetrack_sequences or spec.sequences
    paths = [
        save_db_npz(out / "3dpw_train_db.npz", gen.make("train", spec.sequences)),
        save_db_npz(out / "3dpw_val_db.npz", gen.make("val", n_eval)),
        save_db_npz(out / "3dpw_test_db.npz", gen.make("test", n_eval)),
        save_db_npz(out / "posetrack_train_db.npz", gen.make("train", n_2d, two_d_only=True)),
    ]
    info = {"generator": "inference_backend.train.synthetic_db", "spec": spec.__dict__,
            "files": [p.name for p in paths], "smpl_dir": "smpl"}
    tmp = out / "synthetic_db.json.tmp"
    tmp.write_text(json.dumps(info, indent=2), encoding="utf-8")
    tmp.replace(out / "synthetic_db.json")
    return paths
