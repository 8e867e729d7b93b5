"""The ``--solver str`` solver: person crops -> SPIN ResNet-50 features -> STR windows -> SMPL
pose/shape -> camera-frame root translation -> camera-frame tracks (the scene stage places them
in the world, exactly as it does for the default solver).

Frames are decoded once: during the decode+detect pass the solver's frame sink crops every
detection's square box and runs the backbone on the crops in batches; after tracking, each
track's observed frames pick their detection's features by box.

Window rule (TCMR's evaluation protocol, O(frames)): every observed frame f of a track is the
middle frame (index T//2) of exactly one window of T = 16 consecutive observed frames, clamped
to the track (edge frames are replicated; TCMR instead pads with windows that repeat the centre
frame 16 times). Windows are gathered from the per-frame feature array and run in batches, so
each frame's features are computed once. Frames without a detection are bridged by the scene
stage like the default solver's.

Camera: the weak-perspective crop camera [s, tx, ty] becomes a root translation in camera
coordinates with the real focal length (body_model.crop_cam_to_full_translation); the focal is
the default solver's (``--fov`` override, else estimated from the tracker's MediaPipe
landmarks, camera.choose_intrinsics).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from . import camera as cam
from .body_model import BodyModel, crop_cam_to_full_translation
from .config import CaptureConfig
from .crops import CropConfig, crop_rgb, normalise, square_boxes
from .device import resolve_device
from .errors import CaptureError, ExitCode
from .kinematics import forward_kinematics, log_map
from .landmark_map import clean_landmarks
from .models.backbone import ResNet50Backbone
from .models.checkpoint import (
    CheckpointError,
    load_by_key_name,
    load_spin_state,
    load_spin_weights,
    load_str_checkpoint,
)
from .motion_types import (
    KEY_JOINTS,
    CameraFrameTracks,
    CameraIntrinsics,
    CameraTrack,
    TrackObservations,
    VideoInfo,
)
from .progress import STR_TEMPORAL
from .smpl_files import SmplFileError
from .solvers import SolveInput

if TYPE_CHECKING:
    from .motion_types import Detection

log = logging.getLogger(__name__)

SOLVER_VERSION = "0.1.0"
MIN_VISIBILITY = 0.3          # as the default solver: landmarks below carry no weight
NEEDS_CHECKPOINT = ("the STR solver needs a checkpoint: pass --str-checkpoint PATH (or set "
                    "STR_MOCAP_STR_CHECKPOINT); no STR weights are shipped or downloaded")

ProgressFn = Callable[[str, int, int], None]


@dataclass(frozen=True)
class StrSolverConfig:
    """Settings of the STR solver (built by ``StrSolver.from_capture``).

    checkpoint: STR checkpoint (.pt with config + weights; ResNet-50 under ``backbone.``).
    spin_checkpoint: SPIN ``model_checkpoint.pt`` for the backbone when the STR file has none.
    smpl_dir: the user's SMPL folder (optional: without it the template skeleton is used).
    device: auto | cpu | cuda.
    fov_deg: horizontal field-of-view override in degrees, as the default solver reads it;
        None = estimate the focal like the default solver.
    crop_batch_size / window_batch_size: backbone crops and STR windows per forward pass.
    """

    checkpoint: str | None = None
    spin_checkpoint: str | None = None
    smpl_dir: str | None = None
    device: str = "auto"
    fov_deg: float | None = None
    crop_batch_size: int = 32
    window_batch_size: int = 64
    bbox_scale: float = 1.2
    gender: str = "neutral"

    def __post_init__(self) -> None:
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.crop_batch_size < 1 or self.window_batch_size < 1:
            raise ValueError("batch sizes must be >= 1")


# ------------------------------------------------------------------------- pure helpers
def window_indices(num_frames: int, seq_len: int) -> np.ndarray:
    """(n, T) indices into a span of n frames: row f is centred on f (position T//2), edges clamped."""
    offsets = np.arange(seq_len) - seq_len // 2
    return np.clip(np.arange(num_frames)[:, None] + offsets[None, :], 0, num_frames - 1)


# ------------------------------------------------------------------------- model loading
SPIN_FILE_NAMES = ("spin_model_checkpoint.pth.tar", "model_checkpoint.pt")


def find_spin_checkpoint(config: StrSolverConfig) -> Path | None:
    """SPIN weights for the backbone: the config's path (``--spin-checkpoint`` or
    $STR_MOCAP_SPIN_CHECKPOINT, read by the CLI), else a SPIN file inside the SMPL folder (TCMR
    keeps both in data/base_data)."""
    if config.spin_checkpoint:
        return Path(config.spin_checkpoint)
    if config.smpl_dir:
        for name in SPIN_FILE_NAMES:
            candidate = Path(config.smpl_dir) / name
            if candidate.is_file():
                return candidate
    return None


@dataclass(frozen=True)
class LoadedModels:
    net: torch.nn.Module
    backbone: ResNet50Backbone
    body: BodyModel
    seq_len: int
    notes: tuple[str, ...]


def load_models(config: StrSolverConfig, device: torch.device) -> LoadedModels:
    """STR checkpoint + backbone weights (bundled or SPIN) + body model; clear errors (code 8)."""
    if not config.checkpoint:
        raise CaptureError(ExitCode.MODEL_PROBLEM, NEEDS_CHECKPOINT)
    loaded = load_str_checkpoint(Path(config.checkpoint))
    notes: list[str] = []
    backbone = ResNet50Backbone()
    if loaded.backbone_state:
        report = load_by_key_name(backbone, loaded.backbone_state, strict=True,
                                  what="backbone in the STR checkpoint")
        log.info("backbone from STR checkpoint: %s", report.summary())
    elif (spin := find_spin_checkpoint(config)) is not None:
        reports = load_spin_weights(load_spin_state(spin), backbone=backbone)
        rep = reports["backbone"]
        if rep.missing:
            raise CheckpointError(f"SPIN checkpoint {spin} lacks backbone tensors: " + rep.summary())
        log.info("backbone from SPIN checkpoint %s: %s", spin, rep.summary())
    else:
        raise CheckpointError(
            f"{config.checkpoint} has no ResNet-50 weights (no 'backbone.' keys); bundle them into "
            "the STR checkpoint, pass --spin-checkpoint (or set STR_MOCAP_SPIN_CHECKPOINT) to SPIN's "
            "model_checkpoint.pt, or put "
            "spin_model_checkpoint.pth.tar in the SMPL folder (TCMR's data/base_data layout)"
        )
    if loaded.meta.get("trained") is False:
        notes.append("the STR checkpoint holds untrained (random) weights: poses are not meaningful")
    try:
        body = BodyModel.from_dir(config.smpl_dir, config.gender)
    except SmplFileError as exc:
        raise CaptureError(ExitCode.MODEL_PROBLEM, str(exc)) from exc
    if not body.has_mesh:
        notes.append("no SMPL model files: the rest skeleton is the SMPL template (betas unused)")
    net = loaded.model.to(device).eval()
    return LoadedModels(net, backbone.to(device).eval(), body.eval(), net.config.seq_len, tuple(notes))


# ------------------------------------------------------------------------- the stages
class CropFeatures:
    """The STR solver's ``FrameSink``: backbone features (2048,) of every detection's square
    crop, computed in batches while the frames are decoded for detection."""

    def __init__(self, backbone: ResNet50Backbone, device: torch.device, video: VideoInfo,
                 crop: CropConfig, batch_size: int) -> None:
        self.backbone, self.device, self.video = backbone, device, video
        self.crop, self.batch_size = crop, batch_size
        self._boxes: dict[int, list[tuple[np.ndarray, int]]] = {}   # frame -> (box, row)
        self._pending: list[np.ndarray] = []
        self._done: list[np.ndarray] = []
        self._rows = 0

    def add_frame(self, position: int, rgb: np.ndarray, detections: Sequence[Detection]) -> None:
        """Crop each detection (boxes in displayed pixels; rgb may be downscaled)."""
        k = rgb.shape[1] / max(int(self.video.width), 1)
        for det in detections:
            cx, cy, side = square_boxes(det.box, self.crop.scale, self.crop.min_side)[0]
            self._pending.append(crop_rgb(rgb, cx * k, cy * k, side * k, self.crop.size))
            self._boxes.setdefault(position, []).append((np.asarray(det.box, np.float32),
                                                         self._rows))
            self._rows += 1
        if len(self._pending) >= self.batch_size:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        batch = torch.from_numpy(normalise(np.stack(self._pending))).to(self.device)
        with torch.no_grad():
            self._done.append(self.backbone(batch).float().cpu().numpy())
        self._pending.clear()

    def for_track(self, track: TrackObservations) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(frames (Fo,), features (Fo, 2048) float32, squares (Fo, 3) [cx, cy, side]) on the
        frames where the track was detected: each frame's detection is the one whose box the
        tracker kept."""
        self._flush()
        feats = np.concatenate(self._done) if self._done else np.zeros((0, 2048), np.float32)
        frames = np.flatnonzero(np.asarray(track.present, bool))
        boxes = np.asarray(track.boxes, np.float32)[frames]
        rows = np.empty(len(frames), np.int64)
        for i, (f, box) in enumerate(zip(frames, boxes, strict=True)):
            seen = self._boxes.get(int(f), [])
            if not seen:
                raise CaptureError(ExitCode.INTERNAL,
                                   f"frame {f} of track {track.track_id} was never cropped")
            dist = [float(np.abs(b - box).max()) for b, _ in seen]
            j = int(np.argmin(dist))
            if dist[j] > 1e-3:
                raise CaptureError(ExitCode.INTERNAL,
                                   f"no detection at frame {f} matches track {track.track_id}")
            rows[i] = seen[j][1]
        squares = square_boxes(boxes, self.crop.scale, self.crop.min_side)
        return frames, feats[rows], squares


def run_windows(net: torch.nn.Module, feats: np.ndarray, seq_len: int, device: torch.device,
                batch_size: int) -> dict[str, np.ndarray]:
    """(n, 2048) per-frame features -> per-frame rotmat (n,24,3,3), betas (n,10), cam (n,3)."""
    idx = window_indices(len(feats), seq_len)
    source = torch.from_numpy(feats).to(device)
    rot, betas, cams = [], [], []
    mid = seq_len // 2
    with torch.no_grad():
        for start in range(0, len(idx), batch_size):
            windows = source[torch.from_numpy(idx[start : start + batch_size]).to(device)]
            out = net(windows)
            r, b, c = out["rotmat"], out["betas"], out["pred_cam"]
            if r.dim() == 5:  # output="all": keep the middle frame of each window
                r, b, c = r[:, mid], b[:, mid], c[:, mid]
            rot.append(r.float().cpu())
            betas.append(b.float().cpu())
            cams.append(c.float().cpu())
    return {"rotmat": torch.cat(rot).numpy().astype(np.float64),
            "betas": torch.cat(betas).numpy(), "pred_cam": torch.cat(cams).numpy()}


def _intrinsics(video: VideoInfo, tracks: Sequence[TrackObservations], fov_deg: float | None,
                warnings: list[str], footage_fov_deg: float | None = None,
                lines_fov_deg: float | None = None) -> CameraIntrinsics:
    """The default solver's intrinsics: the ``fov_deg`` override, else the field of view
    measured from the camera's turning, else the one from the background's straight lines,
    else the focal estimated from the tracker's MediaPipe
    landmarks, cleaned the same way (camera.choose_intrinsics)."""
    samples = []
    for tr in tracks:
        ok = np.asarray(tr.present, bool)
        if ok.any():
            img, met, w = clean_landmarks(np.asarray(tr.image_landmarks)[ok],
                                          np.asarray(tr.world_landmarks)[ok],
                                          np.asarray(tr.boxes)[ok], MIN_VISIBILITY)
            samples.append((met, img, w))
    intrinsics, notes = cam.choose_intrinsics(samples, int(video.width), int(video.height),
                                              fov_deg, footage_fov_deg=footage_fov_deg,
                                              lines_fov_deg=lines_fov_deg)
    warnings.extend(notes)
    return intrinsics


# ------------------------------------------------------------------------- the solver
class StrSolver:
    """The ``Solver`` (solvers.py) of ``--solver str``; one object per capture."""

    name = "str"
    version = SOLVER_VERSION

    def __init__(self, config: StrSolverConfig) -> None:
        self.config = config
        self._models: LoadedModels | None = None
        self._sink: CropFeatures | None = None
        self._device = torch.device(resolve_device(config.device))

    @classmethod
    def from_capture(cls, config: CaptureConfig, device: str) -> StrSolver:
        """Reads --str-checkpoint, --spin-checkpoint, --smpl-dir, --fov and the device."""
        if config.str_checkpoint is None:
            raise CaptureError(ExitCode.MODEL_PROBLEM, NEEDS_CHECKPOINT)
        if not Path(config.str_checkpoint).is_file():
            raise CaptureError(
                ExitCode.MODEL_PROBLEM, f"STR checkpoint not found: {config.str_checkpoint}"
            )
        return cls(StrSolverConfig(
            checkpoint=str(config.str_checkpoint),
            spin_checkpoint=str(config.spin_checkpoint) if config.spin_checkpoint else None,
            smpl_dir=str(config.smpl_dir) if config.smpl_dir else None,
            device=device, fov_deg=config.fov_deg))

    def models(self) -> dict[str, str]:
        return {"str_checkpoint": Path(self.config.checkpoint or "").name,
                "backbone": "ResNet-50 (SPIN)"}

    def frame_sink(self, video: VideoInfo) -> CropFeatures:
        """Loads the models (errors before decoding) and returns the crop-feature sink."""
        self._models = load_models(self.config, self._device)
        self._sink = CropFeatures(self._models.backbone, self._device, video,
                                  CropConfig(scale=self.config.bbox_scale),
                                  self.config.crop_batch_size)
        return self._sink

    def solve(self, observed: SolveInput, progress: ProgressFn) -> CameraFrameTracks:
        """STR on every track's observed frames (the sink must have seen the frames)."""
        if self._models is None or self._sink is None:
            raise RuntimeError("StrSolver.solve before frame_sink: the frames were not seen")
        models, sink = self._models, self._sink
        warnings = list(models.notes)
        intrinsics = _intrinsics(observed.video, observed.tracks, self.config.fov_deg, warnings,
                                 observed.footage_fov_deg, observed.lines_fov_deg)
        if observed.intrinsics_chosen is not None:
            observed.intrinsics_chosen(intrinsics)
        K = intrinsics.K
        focal, principal = float(K[0, 0]), (float(K[0, 2]), float(K[1, 2]))
        todo = [tr for tr in observed.tracks if np.asarray(tr.present, bool).any()]
        if not todo:
            raise CaptureError(ExitCode.NO_PERSON, "no tracked person to run STR on")
        tracks = []
        for done, tr in enumerate(todo):
            progress(STR_TEMPORAL, done, len(todo))
            frames, feats, squares = sink.for_track(tr)
            out = run_windows(models.net, feats, models.seq_len, self._device,
                              self.config.window_batch_size)
            betas = out["betas"].mean(axis=0)
            with torch.no_grad():
                rest = models.body.rest_joints(torch.from_numpy(betas[None]).float())[0]
            rest_np = rest.numpy().astype(np.float64)
            rotmat = out["rotmat"]
            t_cam = crop_cam_to_full_translation(out["pred_cam"].astype(np.float64),
                                                 squares[:, :2], squares[:, 2], focal, principal)
            joints_cam, _ = forward_kinematics(rest_np, rotmat, t_cam)  # pelvis = rest[0] + t_cam
            vis = np.clip(np.nan_to_num(np.asarray(tr.image_landmarks, float)[frames, :, 2]),
                          0.0, 1.0).mean(axis=1)
            tracks.append(CameraTrack(
                int(tr.track_id), frames, orient_cam=rotmat[:, 0], body_pose=log_map(rotmat[:, 1:]),
                root_cam=joints_cam[:, 0], key_joints_cam=joints_cam[:, list(KEY_JOINTS)],
                rest_joints=rest_np, confidence=np.repeat(vis[:, None], 24, axis=1),
                betas=betas.astype(np.float32)))
        progress(STR_TEMPORAL, len(todo), len(todo))
        return CameraFrameTracks(intrinsics, tuple(tracks), tuple(warnings))
