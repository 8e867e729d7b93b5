"""The capture pipeline; the only module that knows the stage order:
decode -> detect -> track -> solve -> export.

Decoding and detection stream frame by frame into the online tracker, so memory does not grow
with the number of pixels decoded (only with the accepted landmarks, ~1 kB per person-frame).
Solvers are imported lazily (``solver_default.solve_default`` / ``solver_str.solve_str``); an
import failure is a model problem (exit code 8), reported before any frame is decoded.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import CaptureConfig, DecodeConfig, DetectionConfig, TrackingConfig
from .detection import PoseDetector
from .errors import CaptureCancelled, CaptureError, ExitCode
from .export import check_output_writable, write_motion_file
from .motion_types import SceneSolution, TrackObservations, VideoInfo
from .progress import ProgressReporter
from .tracking import Tracker
from .video_io import DecodeReport, VideoProbe, iter_frames, prefetch, probe_video

log = logging.getLogger(__name__)

ProgressFn = Callable[[str, int, int], None]


@dataclass(frozen=True)
class CaptureResult:
    """What a finished capture wrote."""

    output: Path
    persons: int
    frames: int
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class Observations:
    """Output of the decode+detect+track stages: tracks over F capture frames."""

    probe: VideoProbe
    tracks: list[TrackObservations]
    timestamps: np.ndarray      # (F,) float64 seconds from the stream's first frame
    frame_indices: np.ndarray   # (F,) int64 decoded-frame indices in the video
    warnings: tuple[str, ...]


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when torch sees a GPU, else 'cpu'; explicit choices are checked."""
    if device == "cpu":
        return "cpu"
    try:
        import torch

        has_cuda = bool(torch.cuda.is_available())
    except ImportError:
        has_cuda = False
    if device == "cuda" and not has_cuda:
        raise CaptureError(ExitCode.USAGE, "--device cuda requested but CUDA is not available")
    return "cuda" if has_cuda else "cpu"


def _build_config(config_cls: type, values: dict[str, Any]) -> Any:
    """Instantiate a solver's config dataclass with the fields it declares (others ignored)."""
    if dataclasses.is_dataclass(config_cls):
        names = {f.name for f in dataclasses.fields(config_cls)}
        return config_cls(**{k: v for k, v in values.items() if k in names})
    return config_cls(**values)


@dataclass(frozen=True)
class _SolverHook:
    name: str
    function: Callable[..., SceneSolution]
    config: Any
    version: str


def check_model_paths(config: CaptureConfig) -> None:
    """Fail before decoding (exit code 8) when a model file the run needs is missing."""
    if config.smpl_dir is not None and not Path(config.smpl_dir).is_dir():
        raise CaptureError(ExitCode.MODEL_PROBLEM, f"SMPL folder not found: {config.smpl_dir}")
    if config.solver != "str":
        return
    if config.str_checkpoint is None:
        raise CaptureError(
            ExitCode.MODEL_PROBLEM,
            "the STR solver needs a checkpoint: pass --str-checkpoint PATH (or set "
            "STR_MOCAP_STR_CHECKPOINT); no STR weights are shipped or downloaded",
        )
    if not Path(config.str_checkpoint).is_file():
        raise CaptureError(
            ExitCode.MODEL_PROBLEM, f"STR checkpoint not found: {config.str_checkpoint}"
        )


def load_solver(config: CaptureConfig, device: str) -> _SolverHook:
    """Import the chosen solver module lazily and build its config; exit code 8 on failure."""
    check_model_paths(config)
    module_name, func_name, cfg_name = {
        "default": ("inference_backend.solver_default", "solve_default", "SolverConfig"),
        "str": ("inference_backend.solver_str", "solve_str", "StrSolverConfig"),
    }[config.solver]
    try:
        module = importlib.import_module(module_name)
        function = getattr(module, func_name)
        config_cls = getattr(module, cfg_name)
    except (ImportError, AttributeError) as exc:
        raise CaptureError(
            ExitCode.MODEL_PROBLEM,
            f"the {config.solver!r} solver is not available ({exc}); run "
            "`python -m inference_backend doctor` to check the installation",
        ) from exc
    checkpoint = str(config.str_checkpoint) if config.str_checkpoint else None
    values: dict[str, Any] = {
        "smoothing": config.smoothing,
        "fov_deg": config.fov_deg,
        "device": device,
        "smpl_dir": str(config.smpl_dir) if config.smpl_dir else None,
        "checkpoint": checkpoint,
        "str_checkpoint": checkpoint,
        "checkpoint_path": checkpoint,
    }
    try:
        solver_config = _build_config(config_cls, values)
    except (TypeError, ValueError) as exc:
        raise CaptureError(
            ExitCode.MODEL_PROBLEM, f"bad {config.solver} solver settings: {exc}"
        ) from exc
    version = str(getattr(module, "SOLVER_VERSION", getattr(module, "__version__", "0.1.0")))
    return _SolverHook(config.solver, function, solver_config, version)


def check_time_range(probe: VideoProbe, decode: DecodeConfig) -> None:
    """Usage errors for --start/--end that can be detected before decoding."""
    info = probe.info
    if decode.start is not None and decode.end is not None and decode.end <= decode.start:
        raise CaptureError(
            ExitCode.USAGE, f"--end ({decode.end}) must be after --start ({decode.start})"
        )
    if info.duration > 0 and decode.start is not None and decode.start >= info.duration:
        raise CaptureError(
            ExitCode.USAGE,
            f"--start {decode.start} s is past the end of the video ({info.duration:.2f} s)",
        )


def observe(
    probe: VideoProbe,
    decode: DecodeConfig,
    max_people: int,
    progress: ProgressFn,
    should_stop: Callable[[], bool],
    tracking: TrackingConfig | None = None,
    detection: DetectionConfig | None = None,
) -> Observations:
    """Decode, detect and track (streaming). Raises CaptureError for bad input / no person.

    progress("decode+detect", done, total) is called once per frame (it may raise
    CaptureCancelled); should_stop is also polled by the decoder between packets.
    """
    info = probe.info
    check_time_range(probe, decode)
    span_end = info.duration if decode.end is None else min(decode.end, info.duration or decode.end)
    total = max(0, int(round((span_end - (decode.start or 0.0)) * info.fps))) if info.duration else 0
    if decode.start is None and decode.end is None and info.num_frames:
        total = info.num_frames
    report = DecodeReport()
    timestamps: list[float] = []
    indices: list[int] = []
    det_cfg = detection or DetectionConfig(max_people=max_people)
    trk_cfg = tracking or TrackingConfig(max_people=max_people)
    tracker = Tracker((info.width, info.height), info.fps, trk_cfg)
    frames = prefetch(iter_frames(probe, decode, report, should_stop))
    with PoseDetector(det_cfg) as detector, closing(frames):
        for pos, frame in enumerate(frames):
            detections = detector.detect(frame.rgb, frame.time, info.width, info.height)
            tracker.update(pos, detections)
            timestamps.append(frame.time)
            indices.append(frame.index)
            progress("decode+detect", pos + 1, max(total, pos + 1))
    if should_stop():
        raise CaptureCancelled()
    if not timestamps:
        where = "" if decode.start is None and decode.end is None else " in the chosen time range"
        raise CaptureError(ExitCode.ZERO_FRAMES, f"no video frames could be decoded{where}")
    progress("track", 0, 1)
    tracks = tracker.finish(len(timestamps))
    progress("track", 1, 1)
    if not tracks:
        raise CaptureError(
            ExitCode.NO_PERSON,
            f"no person was found in {Path(info.path).name} (looked at {len(timestamps)} frames); "
            "use a video where the whole body is visible for at least half a second",
        )
    return Observations(
        probe=probe,
        tracks=tracks,
        timestamps=np.asarray(timestamps, np.float64),
        frame_indices=np.asarray(indices, np.int64),
        warnings=tuple(report.warnings),
    )


def frames_provider_for(
    probe: VideoProbe, decode: DecodeConfig, should_stop: Callable[[], bool]
) -> Callable[[], Iterator[tuple[int, np.ndarray]]]:
    """A factory of fresh iterators of (capture frame position f, RGB (H, W, 3) uint8) at the
    full displayed resolution (same frames, same order as the capture's frame axis)."""
    full = DecodeConfig(start=decode.start, end=decode.end, detect_max_side=0)

    def provider() -> Iterator[tuple[int, np.ndarray]]:
        for pos, frame in enumerate(iter_frames(probe, full, None, should_stop)):
            yield pos, frame.rgb

    return provider


def run_capture(
    config: CaptureConfig,
    reporter: ProgressReporter | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> CaptureResult:
    """Run the whole capture and write ``config.output``. Raises CaptureError (incl. cancel)."""
    reporter = reporter if reporter is not None else ProgressReporter()
    stop = should_stop if should_stop is not None else (lambda: False)

    def progress(stage: str, done: int, total: int) -> None:
        if stop():
            raise CaptureCancelled()
        reporter.progress(stage, done, total)

    if config.output.exists() and config.video.exists() and config.output.samefile(config.video):
        raise CaptureError(ExitCode.USAGE, f"the output would overwrite the video: {config.output}")
    check_output_writable(config.output)
    decode = config.decode_config()
    probe = probe_video(config.video)
    check_time_range(probe, decode)
    # only the STR solver runs torch; resolving 'auto' imports torch (~1.5 s), so skip it
    # for the default solver (numpy/scipy only)
    device = resolve_device(config.device) if config.solver == "str" else config.device
    solver = load_solver(config, device)
    obs = observe(
        probe, decode, config.max_people, progress, stop,
        tracking=config.tracking_config(), detection=config.detection_config(),
    )
    for message in obs.warnings:
        reporter.warning(message)
    info: VideoInfo = obs.probe.info
    progress("solve", 0, len(obs.timestamps))
    if solver.name == "str":
        solution = solver.function(
            frames_provider_for(obs.probe, decode, stop), obs.tracks, info, obs.timestamps,
            solver.config, progress,
        )
    else:
        solution = solver.function(obs.tracks, info, obs.timestamps, solver.config, progress)
    if stop():
        raise CaptureCancelled()
    import mediapipe

    progress("write", 0, 1)
    extras = {
        "solver": {
            "name": solver.name, "version": solver.version,
            "models": {"mediapipe": mediapipe.__version__, "pose_landmarker": "full (wheel)"},
        },
        "smoothing": config.smoothing,
        "warnings": list(obs.warnings),
    }
    def cancel_before_replace() -> None:
        # the last moment a cancel can still be honoured: the new file is complete but not yet
        # in place, so raising here leaves whatever was at config.output exactly as it was
        if stop():
            raise CaptureCancelled()

    header = write_motion_file(
        config.output, solution, info, obs.timestamps, obs.frame_indices, extras,
        before_replace=cancel_before_replace,
    )
    # the file is in place: from here on the capture has succeeded, so a cancel that arrives
    # now must not turn it into a failure (no stop check)
    reporter.progress("write", 1, 1)
    return CaptureResult(
        output=config.output,
        persons=int(header["num_persons"]),
        frames=int(header["num_frames"]),
        warnings=tuple(header["warnings"]),
    )
