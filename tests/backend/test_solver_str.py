"""The --solver str capture path: windows, boxes, world placement, errors, and end to end runs
on the bundled clip (real decoding, real detector/tracker in the CLI run, random weights)."""

from __future__ import annotations

import json
import subprocess
import sys
from itertools import islice
from pathlib import Path

import numpy as np
import pytest
import torch

from inference_backend.config import DecodeConfig
from inference_backend.detection import Detection
from inference_backend.errors import CaptureError, ExitCode
from inference_backend.export import read_motion_file
from inference_backend.kinematics import fk_axis_angle
from inference_backend.models import STRConfig, STRNet
from inference_backend.models.backbone import ResNet50Backbone
from inference_backend.models.checkpoint import save_str_checkpoint
from inference_backend.motion_types import TrackObservations, VideoInfo
from inference_backend.pipeline import solve_scene
from inference_backend.scene import SceneConfig
from inference_backend.smpl_constants import SMPL_TEMPLATE_REST_JOINTS
from inference_backend.smpl_files import make_synthetic_smpl
from inference_backend.solver_str import (
    StrSolver,
    StrSolverConfig,
    find_spin_checkpoint,
    window_indices,
)
from inference_backend.solvers import SolveInput
from inference_backend.video_io import iter_frames, probe_video

ROOT = Path(__file__).resolve().parents[2]
CLIP = ROOT / "assets" / "sample" / "two_people_backlit.mp4"
SMALL = STRConfig(ttr_hidden=16, ste_hidden=16, part_hidden=16, integration_dim=128,
                  attention_dim=16, ste_conv_kernel=1)


def noop(stage: str, done: int, total: int) -> None:
    pass


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    net = STRNet(SMALL)
    backbone = ResNet50Backbone()
    out = {
        "with_backbone": save_str_checkpoint(d / "str_bb.pt", net, backbone, meta={"trained": False}),
        "no_backbone": save_str_checkpoint(d / "str.pt", net, meta={"trained": False}),
    }
    spin = {k: v for k, v in backbone.state_dict().items()}
    torch.save({"model": spin, "epoch": 0}, d / "model_checkpoint.pt")
    out["spin"] = d / "model_checkpoint.pt"
    return out


def test_window_indices_centre_every_frame_and_clamp_edges() -> None:
    idx = window_indices(20, 16)
    assert idx.shape == (20, 16)
    assert np.array_equal(idx[:, 8], np.arange(20))                 # frame f is the middle
    assert np.array_equal(idx[0], [0] * 9 + list(range(1, 8)))
    assert np.array_equal(idx[19], list(range(11, 20)) + [19] * 7)
    assert np.array_equal(idx[10], np.arange(2, 18))
    assert window_indices(1, 16).tolist() == [[0] * 16]


def _video(width: int = 64, height: int = 48) -> VideoInfo:
    return VideoInfo("clip.mp4", width, height, 0, 30.0, 3, 0.1)


def test_clear_errors_without_checkpoint_or_backbone(checkpoints: dict[str, Path]) -> None:
    # the models load when the solver asks for the frames: before any frame is decoded
    with pytest.raises(CaptureError, match="--str-checkpoint") as err:
        StrSolver(StrSolverConfig()).frame_sink(_video())
    assert err.value.code == ExitCode.MODEL_PROBLEM
    no_backbone = StrSolverConfig(checkpoint=str(checkpoints["no_backbone"]), device="cpu")
    with pytest.raises(CaptureError, match="no ResNet-50 weights") as err:
        StrSolver(no_backbone).frame_sink(_video())
    assert err.value.code == ExitCode.MODEL_PROBLEM
    # a SPIN file given as the backbone's source must hold the backbone
    bad_spin = StrSolverConfig(checkpoint=str(checkpoints["no_backbone"]), device="cpu",
                               spin_checkpoint=str(checkpoints["no_backbone"]))
    with pytest.raises(CaptureError, match="lacks backbone tensors"):
        StrSolver(bad_spin).frame_sink(_video())
    with pytest.raises(TypeError, match="smoothing"):
        StrSolverConfig(smoothing="medium")             # the scene stage's option, not STR's
    with pytest.raises(RuntimeError, match="frame_sink"):
        StrSolver(no_backbone).solve(SolveInput(_video(), (), np.zeros(3)), noop)


def test_spin_checkpoint_lookup_order(tmp_path: Path) -> None:
    assert find_spin_checkpoint(StrSolverConfig(smpl_dir=str(tmp_path))) is None
    (tmp_path / "spin_model_checkpoint.pth.tar").write_bytes(b"")
    assert find_spin_checkpoint(StrSolverConfig(smpl_dir=str(tmp_path))) == tmp_path / "spin_model_checkpoint.pth.tar"
    assert find_spin_checkpoint(StrSolverConfig(smpl_dir=str(tmp_path), spin_checkpoint="x.pt")) == Path("x.pt")


def _track(num_frames: int) -> TrackObservations:
    present = np.ones(num_frames, bool)
    present[:3] = False
    present[9:11] = False                                   # a gap bridged inside the span
    boxes = np.zeros((num_frames, 4))
    x0 = np.linspace(600, 640, num_frames)
    boxes[present] = np.stack([x0, np.full(num_frames, 150.0), x0 + 90, np.full(num_frames, 420.0)], 1)[present]
    lm = np.zeros((num_frames, 33, 3))
    lm[present, :, 2] = 0.9
    return TrackObservations(track_id=7, image_landmarks=lm, world_landmarks=np.zeros((num_frames, 33, 3)),
                             present=present, boxes=boxes)


def _detections(track: TrackObservations, pos: int) -> list[Detection]:
    """What the detector reported at frame ``pos``: the track's detection and a phantom."""
    phantom = Detection(np.zeros((33, 3), np.float32), np.zeros((33, 3), np.float32),
                        np.array([10, 10, 60, 120], np.float32), 0.1)
    if not track.present[pos]:
        return [phantom]
    own = Detection(track.image_landmarks[pos].astype(np.float32),
                    track.world_landmarks[pos].astype(np.float32),
                    track.boxes[pos].astype(np.float32), 0.9)
    return [phantom, own]


def test_solve_str_on_real_frames_with_spin_backbone_and_smpl_files(
        checkpoints: dict[str, Path], tmp_path: Path) -> None:
    make_synthetic_smpl(tmp_path / "SMPL_NEUTRAL.npz", seed=0)
    probe = probe_video(CLIP)
    n = 14
    track = _track(n)
    timestamps = np.arange(n) / probe.info.fps
    stages: list[str] = []
    cfg = StrSolverConfig(checkpoint=str(checkpoints["no_backbone"]), spin_checkpoint=str(checkpoints["spin"]),
                          smpl_dir=str(tmp_path), device="cpu", fov_deg=50.0, crop_batch_size=8,
                          window_batch_size=8)
    solver = StrSolver(cfg)
    sink = solver.frame_sink(probe.info)
    # the frames of the one decode pass, downscaled as the detector sees them
    for pos, frame in enumerate(islice(iter_frames(probe, DecodeConfig(detect_max_side=320)), n)):
        assert frame.rgb.shape[1] < probe.info.width
        sink.add_frame(pos, frame.rgb, _detections(track, pos))
    sol = solve_scene(solver, SolveInput(probe.info, (track,), timestamps), SceneConfig(),
                      lambda s, d, t: stages.append(s))
    assert {"str-temporal", "scene"} <= set(stages)
    (p,) = sol.persons
    assert p.track_id == 7
    assert p.valid.tolist() == [False] * 3 + [True] * (n - 3)   # the 2-frame gap is bridged
    for arr in (p.global_orient, p.body_pose, p.transl, p.joints3d, p.contacts, p.confidence):
        assert np.isfinite(arr).all()
    assert p.body_pose.shape == (n, 23, 3) and p.joints3d.shape == (n, 24, 3)
    assert np.array_equal(p.joints3d[0], p.joints3d[3])       # held before the span
    fk = fk_axis_angle(p.rest_joints, p.global_orient, p.body_pose, p.transl)
    assert np.abs(fk - p.joints3d).max() < 1e-4                 # motion-file kinematics contract
    assert np.any(p.betas != 0)                                 # STR estimates shape
    assert not np.allclose(p.rest_joints, SMPL_TEMPLATE_REST_JOINTS)  # betas shape the skeleton
    # detected frames: the landmarks' mean visibility; bridged frames: none (as the default)
    assert p.confidence[5, 0] == pytest.approx(0.9) and p.confidence[9, 0] == 0.0
    K = sol.camera.K
    # --fov is the horizontal field of view, read exactly as the default solver reads it
    assert K[0, 0] == pytest.approx(0.5 * probe.info.width / np.tan(np.radians(25.0)))
    assert sol.camera.info["focal_source"] == "override"
    assert np.isfinite(p.contacts).all() and ((p.contacts >= 0) & (p.contacts <= 1)).all()
    R = sol.camera.R[0]
    assert np.allclose(R @ R.T, np.eye(3), atol=1e-6) and np.linalg.det(R) == pytest.approx(1.0)
    assert any("untrained" in w for w in sol.warnings)
    assert p.info["height_m"] > 0 and p.info["noise_scale"] == 1.0


def test_crop_features_pick_the_tracked_detection_by_box(checkpoints: dict[str, Path]) -> None:
    """Each observed frame gets the features of the detection the tracker kept, computed
    on the downscaled frame as on the full one (the crop follows the scale)."""
    probe = probe_video(CLIP)
    n = 4
    track = _track(n + 3)
    track = TrackObservations(7, track.image_landmarks[3:], track.world_landmarks[3:],
                              track.present[3:], track.boxes[3:])
    cfg = StrSolverConfig(checkpoint=str(checkpoints["with_backbone"]), device="cpu",
                          crop_batch_size=3)
    full, small = StrSolver(cfg).frame_sink(probe.info), StrSolver(cfg).frame_sink(probe.info)
    frames = list(islice(iter_frames(probe, DecodeConfig(detect_max_side=0)), n))
    for pos, frame in enumerate(frames):
        full.add_frame(pos, frame.rgb, _detections(track, pos)[::-1])
        half = frame.rgb[::2, ::2]
        small.add_frame(pos, np.ascontiguousarray(half), _detections(track, pos))
    f_idx, f_feats, squares = full.for_track(track)
    s_idx, s_feats, _ = small.for_track(track)
    assert f_idx.tolist() == s_idx.tolist() == [0, 1, 2, 3]
    assert f_feats.shape == (4, 2048) and np.isfinite(f_feats).all()
    assert np.allclose(squares[:, 2], 1.2 * 270.0)
    # same person at half the resolution: close features; the phantom's are far away
    phantom_cfg = TrackObservations(9, track.image_landmarks, track.world_landmarks,
                                    track.present, np.tile([10, 10, 60, 120], (n, 1)))
    _, p_feats, _ = full.for_track(phantom_cfg)
    near = np.linalg.norm(f_feats - s_feats, axis=1)
    far = np.linalg.norm(f_feats - p_feats, axis=1)
    assert (near < far).all(), (near, far)


@pytest.mark.slow
def test_capture_cli_with_str_solver_writes_a_valid_motion_file(
        checkpoints: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "motion.npz"
    proc = subprocess.run(
        [sys.executable, "-m", "inference_backend", "capture", str(CLIP), "-o", str(out),
         "--solver", "str", "--str-checkpoint", str(checkpoints["with_backbone"]), "--end", "1.0",
         "--device", "cpu", "--progress", "jsonl"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    stages = {e.get("stage") for e in events if e["event"] == "progress"}
    assert "str-temporal" in stages
    motion = read_motion_file(out)
    header, a = motion.header, motion.arrays
    assert header["solver"]["name"] == "str"
    P, F = a["valid"].shape
    assert P == 2 and 28 <= F <= 32
    for key in ("global_orient", "body_pose", "transl", "joints3d", "betas", "cam_R", "cam_t"):
        assert np.isfinite(a[key]).all(), key
    assert np.abs(a["betas"]).sum() > 0
    for p in range(P):
        fk = fk_axis_angle(a["rest_joints"][p], a["global_orient"][p], a["body_pose"][p], a["transl"][p])
        assert np.abs(fk - a["joints3d"][p]).max() < 1e-4
    assert any("untrained" in w for w in header["warnings"])
