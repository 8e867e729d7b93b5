"""The capture pipeline; the only module that knows the stage order:
decode -> detect -> track (+ the camera's background points) -> solve (camera-frame tracks)
-> camera (its rotation per frame, or static) -> scene (the world) -> export.

Decoding and detection stream frame by frame into the online tracker, so memory does not grow
with the number of pixels decoded (only with the accepted landmarks, ~1 kB per person-frame).
The video is decoded once: a solver that needs pixels sees them through its frame sink during
that pass. The solver is chosen from the registry (solvers.py) and built before any frame is
decoded, so an import or model failure (exit code 8) is reported first. Whatever solver ran,
the one scene stage (scene.py) places its tracks in the world.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .background_imports import LATER_STAGE_MODULES, BackgroundImports
from .camera_motion import (
    CameraChoice,
    FrameMatches,
    KeyframeLink,
    choose_camera,
    focal_from_rotation,
    solve_camera_motion,
)
from .camera_tracking import BackgroundTracker, BackgroundTrackingConfig
from .config import (
    CAMERA_TRACK_MAX_SIDE,
    CaptureConfig,
    DecodeConfig,
    DetectionConfig,
    TrackingConfig,
)
from .detection import PoseDetector
from .device import resolve_device
from .errors import CaptureCancelled, CaptureError, ExitCode
from .export import check_output_writable, write_motion_file
from .motion_types import (
    CameraIntrinsics,
    Detection,
    SceneSolution,
    TrackObservations,
    VideoInfo,
)
from .ordered_worker import OrderedWorker
from .progress import CAMERA, DECODE_DETECT, SOLVE, TRACK, WRITE, ProgressReporter
from .scene import SceneConfig, build_scene
from .solvers import FrameSink, SolveInput, Solver, solver_entry
from .stage_times import StageTimes
from .subject_size import parse_heights
from .tracking import Tracker
from .vanishing_points import FrameSampler
from .video_io import (
    DecodedFrame,
    DecodeReport,
    VideoProbe,
    iter_frames,
    prefetch,
    probe_video,
)

log = logging.getLogger(__name__)

#: Below this many pixels on the shorter side a "no person" error suggests the original video.
#: The bundled sample's first 45 frames scaled down (measured, docs/bad_inputs.md): a person
#: captured at 320x180, seen in 2 frames at 240x136, never detected at 160x90, 96x54, 64x48.
_SMALL_PICTURE_SIDE = 180

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
    camera_matches: tuple[FrameMatches, ...] | None = None   # None: the camera was not tracked
    camera_links: tuple[KeyframeLink, ...] = ()               # keyframes re-anchored to older ones
    camera_untracked: tuple[int, ...] = ()   # frames the camera tracker skipped (still view)


#: Frames the detection thread may run ahead of the tracking (each holds one decoded frame).
_DETECT_AHEAD = 2

#: What the detect stage runs (detection.py): the pose models inside the mediapipe wheel.
DETECTOR_MODELS: dict[str, str] = {"mediapipe": "", "pose_landmarker": "full (wheel)"}


def _mediapipe_version() -> str:
    from .mediapipe_import import mediapipe_version  # no full `import mediapipe` (slow)

    return mediapipe_version()


def check_model_paths(config: CaptureConfig) -> None:
    """Fail before decoding (exit code 8) when the SMPL folder the run names is missing."""
    if config.smpl_dir is not None and not Path(config.smpl_dir).is_dir():
        raise CaptureError(ExitCode.MODEL_PROBLEM, f"SMPL folder not found: {config.smpl_dir}")


def load_solver(config: CaptureConfig) -> Solver:
    """The chosen solver, built from the capture settings; exit code 8 when it cannot load.
    ``--device auto`` is resolved only for solvers that run torch (importing torch costs
    ~1.5 s the default solver does not need)."""
    check_model_paths(config)
    entry = solver_entry(config.solver)
    device = resolve_device(config.device) if entry.uses_torch else config.device
    factory = entry.load()
    try:
        return factory.from_capture(config, device)
    except (TypeError, ValueError) as exc:
        raise CaptureError(
            ExitCode.MODEL_PROBLEM, f"bad {config.solver} solver settings: {exc}"
        ) from exc


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
    sink: FrameSink | None = None,
    camera_tracker: BackgroundTracker | None = None,
    times: StageTimes | None = None,
    line_sampler: FrameSampler | None = None,
    after_first_frame: Callable[[], None] | None = None,
) -> Observations:
    """Decode, detect and track (streaming). Raises CaptureError for bad input / no person.
    The time range must have been checked (``check_time_range``).

    progress(DECODE_DETECT, done, total) is called once per frame (it may raise
    CaptureCancelled); should_stop is also polled by the decoder between packets. ``sink``
    (a solver's) sees every decoded frame with its detections; ``camera_tracker`` follows the
    background with the people's boxes masked out (on the decoder's grey copy when
    ``decode.track_max_side`` asks for one); ``line_sampler`` keeps a few frames with the
    people's boxes for the focal length from the background's lines. ``after_first_frame`` is
    called once the first frame is detected (start-up is over: work that would delay it can
    start then).
    """
    info = probe.info
    span_end = info.duration if decode.end is None else min(decode.end, info.duration or decode.end)
    total = max(0, int(round((span_end - (decode.start or 0.0)) * info.fps))) if info.duration else 0
    if decode.start is None and decode.end is None and info.num_frames:
        total = info.num_frames
    if line_sampler is not None:
        line_sampler.expect(total)
    report = DecodeReport()
    timestamps: list[float] = []
    indices: list[int] = []
    det_cfg = detection or DetectionConfig(max_people=max_people)
    trk_cfg = tracking or TrackingConfig(max_people=max_people)
    tracker = Tracker((info.width, info.height), info.fps, trk_cfg)
    times = times if times is not None else StageTimes()
    frames = prefetch(times.timed("decode", iter_frames(probe, decode, report, should_stop)))

    def track_camera(image: np.ndarray, boxes: np.ndarray, scale: float) -> None:
        assert camera_tracker is not None
        with times.measure("camera"):
            camera_tracker.update(image, boxes, scale)

    def detect(detector: PoseDetector) -> Iterator[tuple[DecodedFrame, list[Detection]]]:
        # one frame of look-ahead: the detector starts each person's pass on the next frame as
        # soon as their pass on this one is done (DetectionConfig.chain_ahead)
        decoded = iter(times.timed("decode wait", frames))
        frame = next(decoded, None)
        while frame is not None:
            upcoming = next(decoded, None)
            with times.measure("detect"):
                people = detector.detect(frame.rgb, frame.time, info.width, info.height,
                                         upcoming.rgb if upcoming is not None else None)
            yield frame, people
            frame = upcoming

    # the camera tracker runs on its own thread, fed in frame order (identical results)
    camera = OrderedWorker("str-mocap-camera", wait=lambda s: times.add("camera wait", s))
    with PoseDetector(det_cfg) as detector, closing(frames), camera:
        # detection runs on its own thread too, up to _DETECT_AHEAD frames ahead: the tracking,
        # the camera's hand-over and the progress of frame t overlap the landmark passes of the
        # next frame (the detector sees the frames in order, as before: identical detections);
        # leaving this block stops that thread before the detector is closed
        detected = prefetch(detect(detector), depth=_DETECT_AHEAD, name="str-mocap-detect")
        with closing(detected):
            for pos, (frame, detections) in enumerate(detected):
                if pos == 0:
                    times.first_frame_done()
                    if after_first_frame is not None:
                        after_first_frame()
                if sink is not None:
                    sink.add_frame(pos, frame.rgb, detections)
                boxes = np.array([d.box for d in detections], float).reshape(-1, 4)
                if line_sampler is not None:
                    line_sampler.add(pos, frame.rgb, boxes, frame.scale)
                if camera_tracker is not None:
                    if frame.grey is not None:
                        camera.submit(track_camera, frame.grey, boxes, frame.grey_scale)
                    else:
                        camera.submit(track_camera, frame.rgb, boxes, frame.scale)
                with times.measure("track"):
                    tracker.update(pos, detections)
                timestamps.append(frame.time)
                indices.append(frame.index)
                progress(DECODE_DETECT, pos + 1, max(total, pos + 1))
        camera.finish()
        if camera_tracker is not None:
            times.add("camera wait", 0.0)  # listed even when the tracker never held us up
    if should_stop():
        raise CaptureCancelled()
    if not timestamps:
        where = "" if decode.start is None and decode.end is None else " in the chosen time range"
        raise CaptureError(ExitCode.ZERO_FRAMES, f"no video frames could be decoded{where}"
                           + _decoding_note(report.warnings))
    progress(TRACK, 0, 1)
    with times.measure("track"):
        tracks = tracker.finish(len(timestamps))
    progress(TRACK, 1, 1)
    if not tracks:
        ranged = decode.start is not None or decode.end is not None
        raise CaptureError(ExitCode.NO_PERSON, no_person_message(
            info, timestamps, tracker.frames_with_people, tracker.longest_track,
            tracker.min_len, trk_cfg.min_track_s, ranged) + _decoding_note(report.warnings))
    return Observations(
        probe=probe,
        tracks=tracks,
        timestamps=np.asarray(timestamps, np.float64),
        frame_indices=np.asarray(indices, np.int64),
        warnings=tuple(report.warnings),
        camera_matches=None if camera_tracker is None else tuple(camera_tracker.matches),
        camera_links=() if camera_tracker is None else tuple(camera_tracker.links),
        camera_untracked=() if camera_tracker is None else tuple(camera_tracker.untracked),
    )


def _decoding_note(warnings: Sequence[str]) -> str:
    """The decoder's first warning (a truncated file, corrupt frames), to end an error message
    with: a failed capture sends no warning events, and this is often the real cause."""
    if not warnings:
        return ""
    more = len(warnings) - 1
    return (f". Note: {warnings[0]}"
            + (f" (and {more} more decoding warning{'s' if more != 1 else ''})" if more else ""))


def _frames(count: int) -> str:
    return f"{count} frame" if count == 1 else f"{count} frames"


def no_person_message(info: VideoInfo, timestamps: Sequence[float], frames_with_people: int,
                      longest_track: int, min_frames: int, min_seconds: float,
                      ranged: bool = False) -> str:
    """The NO_PERSON error, saying which of three things happened: the clip (or range) is too
    short for any track (``min_frames`` frames and ``min_seconds`` s), nobody was detected at
    all, or someone was seen but never followed long enough (``longest_track`` frames).
    ``timestamps``: seconds of the frames looked at; ``frames_with_people``: how many of them
    had a detection that passed the phantom filter."""
    name = Path(info.path).name
    count = len(timestamps)
    seconds = (timestamps[-1] - timestamps[0] + 1.0 / info.fps) if count else 0.0
    where = " in the chosen --start/--end range" if ranged else ""
    need = f"at least {_frames(min_frames)} and {min_seconds:g} s"
    if count < min_frames:
        return (f"{name} is too short to capture{where}: {_frames(count)} ({seconds:.2f} s at "
                f"{info.fps:g} fps); a person must be followed over {need}: use a longer clip"
                + (" or a wider range" if ranged else ""))
    size = f"{info.width}x{info.height} px"
    if frames_with_people == 0:
        small = ("; the picture is very small, so people in it may be too small to recognise: "
                 "use the original, full-resolution video"
                 if min(info.width, info.height) < _SMALL_PICTURE_SIDE else "")
        return (f"no person was found in {name}{where} (looked at {_frames(count)}, {size}); use "
                f"a video where the whole body is visible for at least half a second{small}")
    return (f"no person could be followed in {name}{where}: someone was seen in "
            f"{frames_with_people} of {_frames(count)} but followed over {_frames(longest_track)} "
            f"at most ({need} are needed); use a video where the whole body is visible for at "
            "least half a second (a person only partly in view, e.g. just the legs, is not "
            "enough)")


def scene_config_for(config: CaptureConfig) -> SceneConfig:
    """The scene stage's settings for a capture (smoothing, known subject heights)."""
    heights = (parse_heights(config.subject_heights) if config.subject_heights else None)
    return SceneConfig(smoothing=config.smoothing, subject_heights=heights)


def solve_scene(solver: Solver, observed: SolveInput, scene: SceneConfig,
                progress: ProgressFn | None = None,
                camera_matches: Sequence[FrameMatches] | None = None,
                camera_mode: str = "static",
                camera_links: Sequence[KeyframeLink] = (),
                camera_untracked: Sequence[int] = ()) -> SceneSolution:
    """The solve stage, the camera stage, then the scene stage: whichever solver ran, its
    camera-frame tracks go through the one scene stage. (A solver with a frame sink must have
    seen the frames.) The camera stage fits the tracked background points with the solver's
    intrinsics and applies ``camera_mode`` (camera_motion.choose_camera); without matches the
    camera is static."""
    report = progress or (lambda stage, done, total: None)
    if camera_matches is None:
        return build_scene(solver.solve(observed, report), observed.video, observed.timestamps,
                           scene, report, None)

    def fit_camera(K: np.ndarray) -> tuple[np.ndarray, CameraChoice]:
        motion = solve_camera_motion(list(camera_matches), len(observed.timestamps), K,
                                     links=list(camera_links), untracked=camera_untracked)
        return K, choose_camera(motion, camera_mode)

    # The camera stage needs only the intrinsics: it runs on a thread beside the fit from the
    # moment the solver has chosen them (numpy releases the GIL; the same result as after it).
    with ThreadPoolExecutor(1, thread_name_prefix="str-mocap-camera-solve") as pool:
        started: list[Future[tuple[np.ndarray, CameraChoice]]] = []

        def chosen(intrinsics: CameraIntrinsics) -> None:
            if not started:
                started.append(pool.submit(fit_camera, np.array(intrinsics.K, float)))

        solved = solver.solve(replace(observed, intrinsics_chosen=chosen), report)
        report(CAMERA, 0, 1)
        K = np.asarray(solved.intrinsics.K, float)
        used, camera = started[0].result() if started else (None, None)
        if camera is None or not np.array_equal(used, K):
            _, camera = fit_camera(K)
        report(CAMERA, 1, 1)
    return build_scene(solved, observed.video, observed.timestamps, scene, report, camera)


def run_capture(
    config: CaptureConfig,
    reporter: ProgressReporter | None = None,
    should_stop: Callable[[], bool] | None = None,
    times: StageTimes | None = None,
) -> CaptureResult:
    """Run the whole capture and write ``config.output``. Raises CaptureError (incl. cancel).
    The seconds per stage (``times``, start-up counted from its creation) are handed to
    ``reporter.stage_times`` at the end."""
    times = times if times is not None else StageTimes()
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
    solver = load_solver(config)
    scene_config = scene_config_for(config)
    info: VideoInfo = probe.info
    sink = solver.frame_sink(info)
    camera_tracker = None
    line_sampler = FrameSampler() if config.fov_deg is None else None
    if config.camera != "static":
        camera_tracker = BackgroundTracker(
            BackgroundTrackingConfig(max_side=decode.track_max_side or CAMERA_TRACK_MAX_SIDE))
    # the later stages' heavy imports happen on a thread once frames are being detected
    imports = BackgroundImports(LATER_STAGE_MODULES)
    try:
        obs = observe(
            probe, decode, config.max_people, progress, stop,
            tracking=config.tracking_config(), detection=config.detection_config(), sink=sink,
            camera_tracker=camera_tracker, times=times, line_sampler=line_sampler,
            after_first_frame=imports.start,
        )
    except BaseException:   # no person, bad input, cancel: stop the line analysis too
        if line_sampler is not None:
            line_sampler.close()
        raise
    finally:
        imports.join()
    for message in obs.warnings:
        reporter.warning(message)
    progress(SOLVE, 0, len(obs.timestamps))
    footage_fov = None
    if obs.camera_matches is not None and config.fov_deg is None:
        turned = focal_from_rotation(list(obs.camera_matches), info.width, info.height)
        footage_fov = None if turned is None else turned.fov_x_deg
    with times.measure("solve"):
        lines_fov = None
        if footage_fov is None and line_sampler is not None:
            lines = line_sampler.estimate()
            lines_fov = lines.fov_x_deg if lines.observable else None
        if line_sampler is not None:
            line_sampler.close()
        solution = solve_scene(solver, SolveInput(info, tuple(obs.tracks), obs.timestamps,
                                                  footage_fov, lines_fov),
                               scene_config, progress, obs.camera_matches, config.camera,
                               obs.camera_links, obs.camera_untracked)
    if stop():
        raise CaptureCancelled()
    progress(WRITE, 0, 1)
    extras = {
        "solver": {"name": solver.name, "version": solver.version,
                   "models": {**DETECTOR_MODELS, "mediapipe": _mediapipe_version(),
                              **solver.models()}},
        "smoothing": config.smoothing,
        "warnings": list(obs.warnings),
    }
    def cancel_before_replace() -> None:
        # the last moment a cancel can still be honoured: the new file is complete but not yet
        # in place, so raising here leaves whatever was at config.output exactly as it was
        if stop():
            raise CaptureCancelled()

    with times.measure("write"):
        header = write_motion_file(
            config.output, solution, info, obs.timestamps, obs.frame_indices, extras,
            before_replace=cancel_before_replace,
        )
    # the file is in place: from here on the capture has succeeded, so a cancel that arrives
    # now must not turn it into a failure (no stop check)
    reporter.progress(WRITE, 1, 1)
    reporter.stage_times(times.seconds())
    return CaptureResult(
        output=config.output,
        persons=int(header["num_persons"]),
        frames=int(header["num_frames"]),
        warnings=tuple(header["warnings"]),
    )
