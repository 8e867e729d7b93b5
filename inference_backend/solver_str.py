"""The ``--solver str`` capture path: person crops -> SPIN ResNet-50 features -> STR windows ->
SMPL pose/shape -> camera-frame root translation -> the same gravity-aligned world as the
default solver -> a SceneSolution (the motion file writer is shared).

Window rule (TCMR's evaluation protocol, O(frames)): every frame f of a track's span
[first, last] is the middle frame (index T//2) of exactly one window of T = 16 frames with
indices f - T//2 .. f + T//2 - 1, clamped to the span (edge frames are replicated; TCMR instead
pads with windows that repeat the centre frame 16 times). Windows are gathered from the per-frame
feature array and run in batches, so each frame's features are computed once.

Camera: the weak-perspective crop camera [s, tx, ty] becomes a root translation in camera
coordinates with the real focal length (body_model.crop_cam_to_full_translation). Everything
after that reuses the default solver's shared modules, so both solvers write the same kind of
file: focal length (``--fov`` override, else estimated from the tracker's MediaPipe landmarks),
ground plane from slow sole points with the torso as up prior and world frame (camera.py), gap
bridging (trajectory.py), smoothing presets (smoothing.py), foot contacts (contacts.py), and the
feet-on-ground / anti-sliding root corrections (trajectory.py).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import camera as cam
from .body_model import BodyModel, crop_cam_to_full_translation
from .contacts import ContactConfig, foot_contacts
from .crops import CropConfig, crop_rgb, normalise, square_boxes
from .errors import CaptureError, ExitCode
from .kinematics import fk_axis_angle, forward_kinematics
from .models.backbone import ResNet50Backbone
from .models.checkpoint import (
    CheckpointError,
    load_by_key_name,
    load_spin_state,
    load_spin_weights,
    load_str_checkpoint,
)
from .models.rotation6d import rotmat_to_axis_angle
from .motion_types import CameraEstimate, PersonMotion, SceneSolution, TrackObservations, VideoInfo
from .smoothing import get_preset, hold_invalid, local_linear_smooth, smooth_person
from .smpl_constants import CONTACT_JOINTS
from .smpl_files import SmplFileError
from .trajectory import (
    CHANNEL_CLEARANCE_M,
    TrajectoryConfig,
    bridge_gaps,
    ground_offset,
    slide_offset,
)

log = logging.getLogger(__name__)

SOLVER_VERSION = "0.1.0"
MIN_VISIBILITY = 0.3          # as the default solver: landmarks below carry no weight
FOOT_SPEED_STATIC_MPS = 0.5   # foot points slower than this feed the ground fit

ProgressFn = Callable[[str, int, int], None]
FramesProvider = Callable[[], Iterator[tuple[int, np.ndarray]]]


@dataclass(frozen=True)
class StrSolverConfig:
    """Settings of the STR solver (built by ``pipeline.load_solver``).

    checkpoint: STR checkpoint (.pt with config + weights; ResNet-50 under ``backbone.``).
    spin_checkpoint: SPIN ``model_checkpoint.pt`` for the backbone when the STR file has none.
    smpl_dir: the user's SMPL folder (optional: without it the template skeleton is used).
    device: auto | cpu | cuda. smoothing: none | light | medium | strong (smoothing.py presets).
    fov_deg: horizontal field-of-view override in degrees, as the default solver reads it;
        None = estimate the focal like the default solver.
    max_gap_s: detection gaps up to this long are bridged (valid), as the default solver.
    crop_batch_size / window_batch_size: backbone crops and STR windows per forward pass.
    """

    checkpoint: str | None = None
    spin_checkpoint: str | None = None
    smpl_dir: str | None = None
    device: str = "auto"
    smoothing: str = "medium"
    fov_deg: float | None = None
    crop_batch_size: int = 32
    window_batch_size: int = 64
    bbox_scale: float = 1.2
    gender: str = "neutral"
    max_gap_s: float = 0.5

    def __post_init__(self) -> None:
        get_preset(self.smoothing)  # ValueError for an unknown preset
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.crop_batch_size < 1 or self.window_batch_size < 1:
            raise ValueError("batch sizes must be >= 1")


# ------------------------------------------------------------------------- pure helpers
def track_span(present: np.ndarray) -> tuple[int, int] | None:
    """(first, last) frame where the track is present, or None."""
    idx = np.flatnonzero(present)
    return (int(idx[0]), int(idx[-1])) if idx.size else None


def fill_boxes(boxes: np.ndarray, present: np.ndarray, first: int, last: int) -> np.ndarray:
    """(F,4) boxes -> (last-first+1, 4) with gaps inside the span linearly interpolated."""
    frames = np.arange(first, last + 1)
    known = np.flatnonzero(present[first : last + 1]) + first
    out = np.empty((frames.size, 4), np.float64)
    for k in range(4):
        out[:, k] = np.interp(frames, known, boxes[known, k])
    return out


def window_indices(num_frames: int, seq_len: int) -> np.ndarray:
    """(n, T) indices into a span of n frames: row f is centred on f (position T//2), edges clamped."""
    offsets = np.arange(seq_len) - seq_len // 2
    return np.clip(np.arange(num_frames)[:, None] + offsets[None, :], 0, num_frames - 1)


# ------------------------------------------------------------------------- model loading
ENV_SPIN_CHECKPOINT = "STR_MOCAP_SPIN_CHECKPOINT"
SPIN_FILE_NAMES = ("spin_model_checkpoint.pth.tar", "model_checkpoint.pt")


def find_spin_checkpoint(config: StrSolverConfig) -> Path | None:
    """SPIN weights for the backbone: the config's path, else $STR_MOCAP_SPIN_CHECKPOINT, else
    a SPIN file inside the SMPL folder (TCMR keeps both in data/base_data)."""
    if config.spin_checkpoint:
        return Path(config.spin_checkpoint)
    env = os.environ.get(ENV_SPIN_CHECKPOINT)
    if env:
        return Path(env)
    if config.smpl_dir:
        for name in SPIN_FILE_NAMES:
            candidate = Path(config.smpl_dir) / name
            if candidate.is_file():
                return candidate
    return None


def _device(name: str) -> torch.device:
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise CaptureError(ExitCode.USAGE, "--device cuda requested but CUDA is not available")
        return torch.device("cuda")
    return torch.device("cpu")


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
        raise CaptureError(
            ExitCode.MODEL_PROBLEM,
            "the STR solver needs a checkpoint: pass --str-checkpoint PATH (or set "
            "STR_MOCAP_STR_CHECKPOINT); no STR weights are shipped or downloaded",
        )
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
            f"the STR checkpoint, set {ENV_SPIN_CHECKPOINT} to SPIN's model_checkpoint.pt, or put "
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
def extract_features(frames_provider: FramesProvider, spans: dict[int, tuple[int, int]],
                     squares: dict[int, np.ndarray], backbone: ResNet50Backbone,
                     device: torch.device, batch_size: int, num_frames: int,
                     progress: ProgressFn) -> dict[int, np.ndarray]:
    """One pass over the frames: crop every tracked person, batch through the backbone.

    spans: track index -> (first, last); squares: track index -> (n, 3) [cx, cy, side] per span
    frame. Returns track index -> (n, 2048) float32 features."""
    feats = {k: np.zeros((last - first + 1, 2048), np.float32) for k, (first, last) in spans.items()}
    pending: list[tuple[int, int, np.ndarray]] = []

    def flush() -> None:
        if not pending:
            return
        batch = torch.from_numpy(normalise(np.stack([p[2] for p in pending]))).to(device)
        with torch.no_grad():
            out = backbone(batch).float().cpu().numpy()
        for (k, i, _), f in zip(pending, out, strict=True):
            feats[k][i] = f
        pending.clear()

    seen = 0
    for pos, rgb in frames_provider():
        seen = pos + 1
        for k, (first, last) in spans.items():
            if first <= pos <= last:
                cx, cy, side = squares[k][pos - first]
                pending.append((k, pos - first, crop_rgb(rgb, cx, cy, side)))
        if len(pending) >= batch_size:
            flush()
        progress("str-features", seen, num_frames)
    flush()
    if seen < max((last for _, last in spans.values()), default=-1) + 1:
        raise CaptureError(ExitCode.INTERNAL, f"the frame provider stopped after {seen} frames")
    return feats


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


def _focal(video: VideoInfo, tracks: Sequence[TrackObservations], fov_deg: float | None,
           warnings: list[str]) -> tuple[np.ndarray, cam.FocalEstimate]:
    """Intrinsics exactly as the default solver: ``fov_deg`` is its horizontal-FOV override,
    otherwise the focal is estimated from the tracker's MediaPipe landmarks (camera.py)."""
    width, height = int(video.width), int(video.height)
    if fov_deg is not None:
        if not 1.0 < fov_deg < 179.0:
            raise ValueError(f"fov_deg must be between 1 and 179 degrees, got {fov_deg}")
        focal = cam.FocalEstimate(cam.intrinsics_from_fov(width, height, fov_deg)[0, 0], fov_deg,
                                  "override")
    else:
        samples = []
        for tr in tracks:
            ok = np.asarray(tr.present, bool)
            if ok.any():
                img = np.asarray(tr.image_landmarks, float)[ok]
                vis = np.clip(np.nan_to_num(img[..., 2]), 0.0, 1.0)
                samples.append((np.asarray(tr.world_landmarks, float)[ok], img[..., :2],
                                np.where(vis >= MIN_VISIBILITY, vis, 0.0)))
        focal = cam.estimate_focal(samples, width, height, cam.DEFAULT_FOV_DEG)
        if focal.source == "prior":
            warnings.append(f"focal length not observable; assumed a {focal.fov_x_deg:.0f} deg "
                            "horizontal field of view")
    return cam.intrinsics_from_fov(width, height, focal.fov_x_deg), focal


# ------------------------------------------------------------------------- the solver
def solve_str(frames_provider: FramesProvider, tracks: Sequence[TrackObservations],
              video: VideoInfo, timestamps: np.ndarray, config: StrSolverConfig,
              progress: ProgressFn) -> SceneSolution:
    """Run STR on every track and place the people in the gravity-aligned world."""
    num_frames = int(len(timestamps))
    device = _device(config.device)
    models = load_models(config, device)
    warnings = list(models.notes)
    crop_cfg = CropConfig(scale=config.bbox_scale)

    spans: dict[int, tuple[int, int]] = {}
    squares: dict[int, np.ndarray] = {}
    for k, tr in enumerate(tracks):
        span = track_span(np.asarray(tr.present, bool))
        if span is None:
            continue
        spans[k] = span
        boxes = fill_boxes(np.asarray(tr.boxes, float), np.asarray(tr.present, bool), *span)
        squares[k] = square_boxes(boxes, crop_cfg.scale, crop_cfg.min_side)
    if not spans:
        raise CaptureError(ExitCode.NO_PERSON, "no tracked person to run STR on")

    feats = extract_features(frames_provider, spans, squares, models.backbone, device,
                             config.crop_batch_size, num_frames, progress)
    K, focal = _focal(video, tracks, config.fov_deg, warnings)
    focal_px, principal = float(K[0, 0]), (float(K[0, 2]), float(K[1, 2]))
    times = np.asarray(timestamps, float)

    per_track: dict[int, dict[str, np.ndarray]] = {}
    for done, k in enumerate(spans):
        out = run_windows(models.net, feats[k], models.seq_len, device, config.window_batch_size)
        betas = out["betas"].mean(axis=0)
        with torch.no_grad():
            rest = models.body.rest_joints(torch.from_numpy(betas[None]).float())[0]
        rest_np = rest.numpy().astype(np.float64)
        t_cam = crop_cam_to_full_translation(out["pred_cam"].astype(np.float64), squares[k][:, :2],
                                             squares[k][:, 2], focal_px, principal)
        joints_cam, _ = forward_kinematics(rest_np, out["rotmat"], t_cam)  # pelvis = rest[0] + t_cam
        per_track[k] = {"rotmat": out["rotmat"], "betas": betas, "rest": rest_np,
                        "joints_cam": joints_cam}
        progress("str-temporal", done + 1, len(spans))

    world, plane = _world_frame(per_track, spans, tracks, times, warnings)
    persons = []
    for i, (k, data) in enumerate(per_track.items()):
        progress("smooth", i, len(per_track))
        persons.append(_person_in_world(tracks[k], spans[k], data, world, times, config))
    progress("smooth", len(per_track), len(per_track))
    n = len(times)
    info = {
        "fov_x_deg": float(focal.fov_x_deg), "fov_y_deg": cam.fov_from_focal(K[1, 1], video.height),
        "focal_px": focal_px, "focal_source": focal.source, "height_m": float(world.camera_height),
        "ground_source": plane.source, "ground_levels_m": list(plane.levels), "solver": "str",
    }
    camera = CameraEstimate(K=K.astype(np.float32),
                            R=np.repeat(world.R[None], n, axis=0).astype(np.float32),
                            t=np.repeat(world.t[None], n, axis=0).astype(np.float32),
                            static=True, info=info)
    return SceneSolution(camera=camera, persons=tuple(persons), warnings=tuple(warnings))


def _world_frame(per_track: dict[int, dict[str, np.ndarray]], spans: dict[int, tuple[int, int]],
                 tracks: Sequence[TrackObservations], times: np.ndarray,
                 warnings: list[str]) -> tuple[cam.WorldFrame, cam.GroundPlane]:
    """Ground plane from everyone's slow sole points (STR joints, camera frame), the torso as the
    up prior and walking pelvis paths as parallels -- the default solver's recipe (camera.py)."""
    feet, torso, paths = [], [], []
    for k, data in per_track.items():
        first, last = spans[k]
        present = np.asarray(tracks[k].present, bool)[first : last + 1]
        j = data["joints_cam"][present]
        t = times[first : last + 1][present]
        ch = j[:, list(CONTACT_JOINTS)]
        if len(t) >= 3:
            ch = local_linear_smooth(ch.reshape(len(t), -1), t, 0.12).reshape(ch.shape)
            speed = np.linalg.norm(np.gradient(ch, t, axis=0), axis=-1)
        else:
            speed = np.zeros(ch.shape[:2])
        feet.append((ch, speed < FOOT_SPEED_STATIC_MPS))
        torso.append(j[:, 12] - j[:, 0])
        if len(t) >= 10:
            paths.append(local_linear_smooth(j[:, 0], t, 0.25))
    up = cam.torso_up_prior(np.concatenate(torso))
    clearance = np.asarray(CHANNEL_CLEARANCE_M)[None, :, None] * up
    pts = np.concatenate([(ch - clearance)[slow] for ch, slow in feet])
    plane = cam.fit_ground_plane(pts, up, parallel_paths=paths)
    if plane is None:
        pelvis = np.concatenate([d["joints_cam"][:, 0] for d in per_track.values()])
        plane = cam.plane_from_torso_prior(up, pelvis)
        warnings.append("feet did not show a ground plane; ground placed from the upright "
                        "torso prior")
    main = max(per_track, key=lambda k: int(np.asarray(tracks[k].present).sum()))
    return cam.world_from_ground(plane, per_track[main]["joints_cam"][0, 0]), plane


def _person_in_world(track: TrackObservations, span: tuple[int, int], data: dict[str, np.ndarray],
                     world: cam.WorldFrame, times: np.ndarray, config: StrSolverConfig) -> PersonMotion:
    """Camera -> world, gap policy, smoothing, contacts and feet on the ground (shared modules)."""
    first, last = span
    n = len(times)
    rest = data["rest"]
    local = data["rotmat"].copy()
    local[:, 0] = world.R.T @ local[:, 0]                   # camera -> world root orientation
    pelvis = cam.camera_to_world_points(data["joints_cam"][:, 0], world)
    present = np.asarray(track.present, bool)
    valid, _, _, _ = bridge_gaps(present, times, config.max_gap_s)
    full_local = np.tile(np.eye(3), (n, 24, 1, 1))
    full_local[first : last + 1] = local
    full_pelvis = np.zeros((n, 3))
    full_pelvis[first : last + 1] = pelvis
    full_local = hold_invalid(full_local, valid)
    full_pelvis = hold_invalid(full_pelvis, valid)
    aa = rotmat_to_axis_angle(torch.from_numpy(full_local)).numpy()
    transl = full_pelvis - rest[0]
    vis = np.clip(np.nan_to_num(np.asarray(track.image_landmarks, float)[..., 2]), 0, 1).mean(axis=1)
    frames = np.arange(n)
    # bridged frames (not seen by the detector): half the interpolated neighbouring confidence
    conf = np.where(present, vis, 0.5 * np.interp(frames, frames[present], vis[present]))
    conf = np.where(valid, conf, 0.0)
    confidence = np.repeat(conf[:, None], 24, axis=1)
    person = PersonMotion(
        track_id=int(track.track_id), global_orient=aa[:, 0], body_pose=aa[:, 1:], transl=transl,
        rest_joints=rest, joints3d=fk_axis_angle(rest, aa[:, 0], aa[:, 1:], transl), valid=valid,
        contacts=np.zeros((n, 4), np.float32), confidence=confidence, betas=data["betas"])
    if get_preset(config.smoothing) is not None:
        person = smooth_person(person, times, config.smoothing)
    joints = np.asarray(person.joints3d, float)
    contacts = foot_contacts(joints, times, valid, ContactConfig())
    traj = TrajectoryConfig()
    transl = np.asarray(person.transl, float).copy()
    transl[:, 1] += ground_offset(joints, contacts, times, traj)
    transl[:, [0, 2]] += slide_offset(joints, contacts, times, traj)
    transl = hold_invalid(transl, valid)
    go = np.asarray(person.global_orient, np.float64)
    bp = np.asarray(person.body_pose, np.float64)
    return PersonMotion(
        track_id=person.track_id, global_orient=go.astype(np.float32),
        body_pose=bp.astype(np.float32), transl=transl.astype(np.float32),
        rest_joints=rest.astype(np.float32),
        joints3d=fk_axis_angle(rest, go, bp, transl).astype(np.float32),
        valid=valid, contacts=contacts.astype(np.float32),
        confidence=np.clip(confidence, 0, 1).astype(np.float32),
        betas=np.asarray(data["betas"], np.float32),
        info={"solver": "str",
              "first_frame": int(np.argmax(valid)) if valid.any() else 0,
              "last_frame": int(n - 1 - np.argmax(valid[::-1])) if valid.any() else 0})
