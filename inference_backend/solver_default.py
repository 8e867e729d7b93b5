"""The default solver: MediaPipe landmarks of tracked people -> SMPL skeletons in the camera
frame. The scene stage (scene.py) places them in the world.

Order: cleaned landmarks per person (landmark_map.clean_landmarks) -> focal length from all
people (camera.choose_intrinsics) -> per person: root translation in the camera frame, the
kinematic skeleton fit (fitting.py) and how noisy the track is (``noise_scale``).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from inference_backend import camera as cam
from inference_backend.config import CaptureConfig
from inference_backend.fitting import FitConfig, fit_skeleton, window_workers
from inference_backend.kinematics import log_map
from inference_backend.landmark_map import clean_landmarks, smpl_targets
from inference_backend.limb_depth import LimbDepthConfig, lift_limbs, lifts
from inference_backend.motion_types import (
    KEY_JOINTS,
    CameraFrameTracks,
    CameraIntrinsics,
    CameraTrack,
    TrackObservations,
    VideoInfo,
)
from inference_backend.progress import SOLVE
from inference_backend.smoothing import local_linear_smooth
from inference_backend.solvers import SolveInput

Progress = Callable[[str, int, int], None]
SOLVER_VERSION = "0.1.0"
#: Frames converted together after the fit (bounds the working memory of long videos).
CHUNK_FRAMES = 512


@dataclass(frozen=True)
class SolverConfig:
    """Options of the default solver (all have defaults; the CLI exposes ``fov_deg``)."""

    fov_deg: float | None = None       # horizontal FOV override; None = estimate
    prior_fov_deg: float = cam.DEFAULT_FOV_DEG
    min_visibility: float = 0.3        # landmarks below this visibility carry no weight
    min_frames: int = 3                # tracks with fewer observed frames are skipped
    fix_left_right_swaps: bool = True  # relabel limbs that BlazePose swaps for a few frames
    adapt_to_noise: bool = True        # widen smoothing for jittery tracks (see noise_scale)
    clean_jitter_m: float = 0.03
    motion_jitter_m: float = 0.013
    max_noise_scale: float = 3.0
    #: The default solver trusts the metric landmarks a little more than ``FitConfig``'s
    #: defaults and the face / hand / foot landmarks less: they pulled the wrists and ankles
    #: off the joints on the synthetic benchmark (docs/accuracy.md).
    fit: FitConfig = field(default_factory=lambda: FitConfig(sigma_3d_m=0.025, aux_weight=0.1))
    #: Limb depths from the image where a bone is clearly inclined in depth (limb_depth.py);
    #: off by default (not better on held-out clips).
    limb_depth: LimbDepthConfig = LimbDepthConfig()
    #: Clips up to this many frames fit their people side by side on threads (the same
    #: result); longer ones one person at a time, so that the fit's working memory stays one
    #: person's (the whole solve ~8 kB per frame; tests/backend/test_solver_memory.py).
    #: 5400: 3 min at 30 fps.
    side_by_side_frames: int = 5400


@dataclass(frozen=True)
class DefaultSolver:
    """The ``Solver`` (solvers.py) of ``--solver default``: landmarks only, no frames."""

    config: SolverConfig = SolverConfig()
    name: str = "default"
    version: str = SOLVER_VERSION

    @classmethod
    def from_capture(cls, config: CaptureConfig, device: str) -> DefaultSolver:
        """Reads ``--fov``; the device does not matter (numpy only)."""
        return cls(SolverConfig(fov_deg=config.fov_deg))

    def models(self) -> dict[str, str]:
        """None besides the detector's (the fit is closed-form maths)."""
        return {}

    def frame_sink(self, video: VideoInfo) -> None:
        return None

    def solve(self, observed: SolveInput, progress: Progress) -> CameraFrameTracks:
        return solve_default(list(observed.tracks), observed.video, observed.timestamps,
                             self.config, progress, observed.footage_fov_deg,
                             observed.lines_fov_deg, observed.intrinsics_chosen)


def _check_inputs(tracks: list[TrackObservations], timestamps: np.ndarray) -> None:
    t = np.asarray(timestamps, float)
    if t.ndim != 1 or len(t) == 0:
        raise ValueError("timestamps must be a non-empty 1-D array of seconds")
    if len(t) > 1 and not np.all(np.diff(t) > 0):
        raise ValueError("timestamps must be strictly increasing")
    for tr in tracks:
        n = len(t)
        if tr.image_landmarks.shape != (n, 33, 3) or tr.world_landmarks.shape != (n, 33, 3):
            raise ValueError(f"track {tr.track_id}: landmarks must be ({n}, 33, 3), got "
                             f"{tr.image_landmarks.shape} and {tr.world_landmarks.shape}")
        if tr.present.shape != (n,):
            raise ValueError(f"track {tr.track_id}: present must be ({n},)")


def solve_default(tracks: list[TrackObservations], video: VideoInfo, timestamps: np.ndarray,
                  config: SolverConfig = SolverConfig(),
                  progress: Progress | None = None,
                  footage_fov_deg: float | None = None,
                  lines_fov_deg: float | None = None,
                  intrinsics_chosen: Callable[[CameraIntrinsics], None] | None = None
                  ) -> CameraFrameTracks:
    """Fit every track's SMPL skeleton in the camera frame, with one focal length for all.

    tracks: observations over the capture's F frames; timestamps: (F,) seconds;
    footage_fov_deg: a field of view measured from the camera's turning (used unless
    ``config.fov_deg`` overrides; see camera.choose_intrinsics); lines_fov_deg: one from the
    background's straight lines (used when neither is given); intrinsics_chosen: called with
    the intrinsics once chosen, before the fits (solvers.SolveInput). Progress is
    reported as (progress.SOLVE, i, n) per person.
    """
    _check_inputs(tracks, timestamps)
    times = np.asarray(timestamps, float)
    warnings: list[str] = []
    report = progress or (lambda stage, i, n: None)
    enough = [int(np.asarray(tr.present).sum()) >= config.min_frames for tr in tracks]
    usable = [tr for tr, ok in zip(tracks, enough, strict=True) if ok]
    for tr, ok in zip(tracks, enough, strict=True):
        if not ok:
            warnings.append(f"track {tr.track_id} seen in fewer than {config.min_frames} frames; "
                            "skipped")
    width, height = int(video.width), int(video.height)

    # 1. Targets and the focal length.
    prepared = []
    for tr in usable:
        frames = np.where(np.asarray(tr.present, bool))[0]
        img, met, w = clean_landmarks(np.asarray(tr.image_landmarks)[frames],
                                      np.asarray(tr.world_landmarks)[frames],
                                      np.asarray(tr.boxes)[frames], config.min_visibility,
                                      config.fix_left_right_swaps)
        prepared.append((tr, frames, img, met, w))
    intrinsics, notes = cam.choose_intrinsics([(m, i, w) for _, _, i, m, w in prepared],
                                              width, height, config.fov_deg,
                                              config.prior_fov_deg, footage_fov_deg,
                                              lines_fov_deg)
    warnings.extend(notes)
    if intrinsics_chosen is not None:
        intrinsics_chosen(intrinsics)
    K = intrinsics.K
    # Tracks wait for their fit in their own (float32) precision: exact, half the memory.
    waiting: list[tuple[TrackObservations, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
                  | None] = [(tr, fr, _storage(i, tr), _storage(m, tr), _storage(w, tr))
                             for tr, fr, i, m, w in prepared]
    del prepared

    # 2. Per-person fit in the camera frame (each track's observations are let go once fitted).
    n_prepared = len(waiting)
    notes: list[list[str]] = [[] for _ in range(n_prepared)]

    def fit(i: int, windows: Executor | None) -> CameraTrack | None:
        item, waiting[i] = waiting[i], None
        assert item is not None
        tr, frames = item[:2]
        img, met, w = (np.asarray(a, float) for a in item[2:])
        del item
        return _fit_track(tr, frames, img, met, w, K, times, config, notes[i], windows)

    workers = window_workers(config.fit)
    fitted: list[CameraTrack | None] = []
    if n_prepared > 1 and workers > 1 and len(times) <= config.side_by_side_frames:
        # People side by side on threads, their windows sharing one pool (``workers`` at once).
        with ThreadPoolExecutor(workers, thread_name_prefix="str-mocap-fit") as windows, \
                ThreadPoolExecutor(min(n_prepared, workers),
                                   thread_name_prefix="str-mocap-person") as people:
            report(SOLVE, 0, n_prepared)
            running = [people.submit(fit, i, windows) for i in range(n_prepared)]
            try:
                for i, person in enumerate(running):
                    fitted.append(person.result())
                    if i + 1 < n_prepared:
                        report(SOLVE, i + 1, n_prepared)
            except BaseException:       # cancelled or failed: fit no one else
                for person in running:
                    person.cancel()
                raise
    else:
        for i in range(n_prepared):
            report(SOLVE, i, n_prepared)
            fitted.append(fit(i, None))
    report(SOLVE, n_prepared, n_prepared)
    for note in notes:                  # in the people's order, however they ran
        warnings.extend(note)
    fits = [f for f in fitted if f is not None]
    return CameraFrameTracks(intrinsics, tuple(fits), tuple(warnings))


def _storage(values: np.ndarray, track: TrackObservations) -> np.ndarray:
    """values (float64, derived from the track's landmarks by selection, masking and clipping
    only) in the landmarks' own precision when that is float32 (lossless), else as they are."""
    single = all(np.asarray(a).dtype == np.float32
                 for a in (track.image_landmarks, track.world_landmarks))
    return values.astype(np.float32) if single else values


def _fit_track(tr: TrackObservations, frames: np.ndarray, img: np.ndarray, met: np.ndarray,
               w: np.ndarray, K: np.ndarray, times: np.ndarray, config: SolverConfig,
               warnings: list[str], windows: Executor | None = None) -> CameraTrack | None:
    """Fit one track on its observed frames; None (and a warning) if no frame can be placed.
    windows: the executor the refinement's windows run on (None: its own)."""
    t3, c3 = smpl_targets(met, w)
    t2, c2 = smpl_targets(img, w)
    root0, _ = cam.solve_root_translation(t3, t2, c2, K)
    bad = ~np.all(np.isfinite(root0), axis=1)
    if bad.all():
        warnings.append(f"track {tr.track_id}: no frame could be placed; skipped")
        return None
    if bad.any():
        good = np.where(~bad)[0]
        for d in range(3):
            root0[bad, d] = np.interp(np.where(bad)[0], good, root0[good, d])
    scale = noise_scale(met, times[frames], config) if config.adapt_to_noise else 1.0
    if lifts(config.limb_depth):
        # Limb depths from the image where it determines them (root from the detector's pose).
        met = lift_limbs(met, img, w, K, root0, config.limb_depth)
        t3, c3 = smpl_targets(met, w)
    fit = fit_skeleton(met, t3, c3, t2, c2, root0, K, np.ones(len(frames), bool), config.fit,
                       aux=(met, img, w), windows=windows)
    del t3, t2, c2, root0
    body = np.empty(fit.local_rots.shape[:1] + (23, 3))
    for s in range(0, len(body), CHUNK_FRAMES):
        body[s:s + CHUNK_FRAMES] = log_map(fit.local_rots[s:s + CHUNK_FRAMES, 1:])
    return CameraTrack(
        int(tr.track_id), frames, orient_cam=fit.local_rots[:, 0].copy(), body_pose=body,
        root_cam=fit.root_cam, key_joints_cam=fit.joints_cam[:, list(KEY_JOINTS)],
        rest_joints=fit.rest_joints, confidence=np.clip(c3, 0, 1).astype(np.float32),
        noise_scale=scale, info={"bone_lengths_m": [float(x) for x in fit.lengths]})


#: Body landmarks used to measure a track's jitter (hips, knees, ankles, shoulders, elbows,
#: wrists).
_NOISE_LANDMARKS = (11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)


def noise_scale(metric: np.ndarray, times: np.ndarray, config: SolverConfig) -> float:
    """How much to widen the smoothing kernels (and contact bands) of a track: 1 .. max.

    j = the high-frequency part of the body landmarks' metric motion (residual of a 0.1 s
    local-linear fit, metres; median over landmarks and frames). It holds real motion too:
    noise-free synthetic motion gives about ``motion_jitter_m`` (0.013 m), 15 mm of noise per
    axis (what the presets are tuned for) ``clean_jitter_m`` (0.03 m). The noise variance is
    ``j^2 - motion^2``; to keep the output jitter the same, a Gaussian kernel's width must
    grow with the noise *variance* (averaging n samples divides the std by sqrt(n)), so
    ``scale = (j^2 - motion^2) / (clean^2 - motion^2)``, clipped to [1, max_noise_scale].
    The bundled backlit clip measures 0.036-0.049 m (scale 1.5-3).
    """
    if len(times) < 8:
        return 1.0
    xyz = metric[:, _NOISE_LANDMARKS]
    smooth = local_linear_smooth(xyz.reshape(len(times), -1), times, 0.1).reshape(xyz.shape)
    j = float(np.median(np.linalg.norm(xyz - smooth, axis=-1)))
    m2 = config.motion_jitter_m ** 2
    ratio = (j * j - m2) / max(config.clean_jitter_m ** 2 - m2, 1e-12)
    return float(np.clip(ratio, 1.0, config.max_noise_scale))
