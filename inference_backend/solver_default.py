"""The default solver: MediaPipe landmarks of tracked people -> SMPL motions in a gravity-aligned
world with an estimated static camera. The pipeline calls exactly ``solve_default``.

Order: SMPL targets per person -> focal length (all people) -> per person root translation
(camera frame) and kinematic skeleton fit -> ground plane from slow foot points of everyone ->
world frame -> per person: gap bridging, smoothing, contacts, feet on the ground, less sliding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from inference_backend import camera as cam
from inference_backend.contacts import ContactConfig, foot_contacts
from inference_backend.fitting import FitConfig, SkeletonFit, fit_skeleton
from inference_backend.kinematics import fk_axis_angle, forward_kinematics, log_map
from inference_backend.landmark_map import (
    apply_left_right_swaps,
    detect_left_right_swaps,
    smpl_targets,
)
from inference_backend.motion_types import (
    CameraEstimate,
    PersonMotion,
    SceneSolution,
    TrackObservations,
    VideoInfo,
)
from inference_backend.smoothing import (
    SmoothingPreset,
    get_preset,
    hold_invalid,
    local_linear_smooth,
    smooth_person,
)
from inference_backend.smpl_constants import CONTACT_JOINTS
from inference_backend.trajectory import (
    CHANNEL_CLEARANCE_M,
    TrajectoryConfig,
    bridge_gaps,
    fill_linear,
    fill_rotations,
    ground_offset,
    slide_offset,
)

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class SolverConfig:
    """Options of the default solver (all have defaults; the CLI exposes the first three)."""

    smoothing: str = "medium"          # none | light | medium | strong
    fov_deg: float | None = None       # horizontal FOV override; None = estimate
    max_gap_s: float = 0.5             # bridge detection gaps up to this long (valid=True)
    prior_fov_deg: float = cam.DEFAULT_FOV_DEG
    min_visibility: float = 0.3        # landmarks below this visibility carry no weight
    min_frames: int = 3                # tracks with fewer observed frames are skipped
    foot_speed_static_mps: float = 0.5  # foot points slower than this feed the ground fit
    fix_left_right_swaps: bool = True  # relabel limbs that BlazePose swaps for a few frames
    adapt_to_noise: bool = True        # widen smoothing for jittery tracks (see _noise_scale)
    clean_jitter_m: float = 0.03
    motion_jitter_m: float = 0.013
    max_noise_scale: float = 3.0
    fit: FitConfig = field(default_factory=FitConfig)
    contacts: ContactConfig = field(default_factory=ContactConfig)
    trajectory: TrajectoryConfig = field(default_factory=TrajectoryConfig)


@dataclass(frozen=True)
class _TrackFit:
    track: TrackObservations
    frames: np.ndarray          # indices of observed frames
    fit: SkeletonFit            # on observed frames only
    conf: np.ndarray            # (F_obs, 24)
    noise_scale: float = 1.0    # >= 1: how much noisier than clean landmarks this track is


def _weights(vis: np.ndarray, min_vis: float) -> np.ndarray:
    v = np.clip(np.nan_to_num(vis), 0.0, 1.0)
    return np.where(v >= min_vis, v, 0.0)


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
                  progress: Progress | None = None) -> SceneSolution:
    """Solve every track into a ``PersonMotion`` in one shared world with one static camera.

    tracks: observations over the capture's F frames; timestamps: (F,) seconds. Progress is
    reported as ("solve", i, n) per person and ("smooth", i, n).
    """
    _check_inputs(tracks, timestamps)
    times = np.asarray(timestamps, float)
    n_frames = len(times)
    smoothing = get_preset(config.smoothing)   # fail early on a bad name
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
        img = np.asarray(tr.image_landmarks, float)[frames]
        met = np.asarray(tr.world_landmarks, float)[frames]
        # Non-finite coordinates (a detector hiccup) carry no weight and no NaN downstream.
        finite = np.all(np.isfinite(img[..., :2]), -1) & np.all(np.isfinite(met), -1)
        img = np.where(finite[..., None], img, 0.0)
        met = np.where(finite[..., None], met, 0.0)
        if config.fix_left_right_swaps and len(frames) >= 3:
            box = np.asarray(tr.boxes, float)[frames]
            scale = np.hypot(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1])
            swaps = detect_left_right_swaps(img[..., :2], scale)
            img = apply_left_right_swaps(img, swaps)
            met = apply_left_right_swaps(met, swaps)
        w = _weights(img[..., 2], config.min_visibility)
        prepared.append((tr, frames, img[..., :2], met, w))
    if config.fov_deg is not None:
        if not 1.0 < config.fov_deg < 179.0:
            raise ValueError(f"fov_deg must be between 1 and 179 degrees, got {config.fov_deg}")
        focal = cam.FocalEstimate(cam.intrinsics_from_fov(width, height, config.fov_deg)[0, 0],
                                  config.fov_deg, "override")
    else:
        focal = cam.estimate_focal([(m, i, w) for _, _, i, m, w in prepared], width, height,
                                   config.prior_fov_deg)
        if focal.source == "prior":
            warnings.append(f"focal length not observable; assumed a {focal.fov_x_deg:.0f} deg "
                            "horizontal field of view")
    K = cam.intrinsics_from_fov(width, height, focal.fov_x_deg)

    # 2. Per-person fit in the camera frame.
    fits: list[_TrackFit] = []
    for i, (tr, frames, img, met, w) in enumerate(prepared):
        report("solve", i, len(prepared))
        t3, c3 = smpl_targets(met, w)
        t2, c2 = smpl_targets(img, w)
        root0, _ = cam.solve_root_translation(t3, t2, c2, K)
        bad = ~np.all(np.isfinite(root0), axis=1)
        if bad.all():
            warnings.append(f"track {tr.track_id}: no frame could be placed; skipped")
            continue
        if bad.any():
            good = np.where(~bad)[0]
            for d in range(3):
                root0[bad, d] = np.interp(np.where(bad)[0], good, root0[good, d])
        fit = fit_skeleton(met, t3, c3, t2, c2, root0, K, np.ones(len(frames), bool), config.fit,
                           aux=(met, img, w))
        scale = _noise_scale(met, times[frames], config) if config.adapt_to_noise else 1.0
        fits.append(_TrackFit(tr, frames, fit, c3, scale))
    report("solve", len(prepared), len(prepared))

    # 3. Ground plane and world frame.
    world, plane = _world_frame(fits, times, config, warnings)
    # World-to-camera: x_cam = R X + t (R holds the world axes as columns, t the origin).
    cam_R = np.repeat(world.R[None], n_frames, axis=0)
    cam_t = np.repeat(world.t[None], n_frames, axis=0)

    # 4. Per person in the world.
    persons = []
    for i, tf in enumerate(fits):
        report("smooth", i, len(fits))
        persons.append(_person_in_world(tf, world, times, n_frames, config, smoothing))
        persons[-1].info["noise_scale"] = tf.noise_scale
    report("smooth", len(fits), len(fits))

    info = {
        "fov_x_deg": float(focal.fov_x_deg),
        "fov_y_deg": cam.fov_from_focal(K[1, 1], height),
        "focal_px": float(K[0, 0]),
        "focal_source": focal.source,
        "height_m": float(world.camera_height),
        "ground_source": plane.source,
        "ground_levels_m": list(plane.levels),
    }
    camera = CameraEstimate(K=K.astype(np.float32), R=cam_R.astype(np.float32),
                            t=cam_t.astype(np.float32), static=True, info=info)
    return SceneSolution(camera=camera, persons=tuple(persons), warnings=tuple(warnings))


def _world_frame(fits: list[_TrackFit], times: np.ndarray, config: SolverConfig,
                 warnings: list[str]) -> tuple[cam.WorldFrame, cam.GroundPlane]:
    """Ground plane from the slow foot points of everyone; world anchored on the first frame
    pelvis of the most-present person."""
    if not fits:
        plane = cam.GroundPlane(normal=np.array([0.0, -1.0, 0.0]), offset=-1.5,
                                source="default")
        return cam.world_from_ground(plane, np.array([0.0, 0.0, 5.0])), plane
    feet, torso, upright_frames = [], [], []
    for tf in fits:
        j = tf.fit.joints_cam
        t = times[tf.frames]
        ch = j[:, list(CONTACT_JOINTS)]                       # (Fo, 4, 3)
        if len(t) >= 3:
            # Per-frame fits jitter by centimetres: judge speed (and place points) on a
            # lightly smoothed copy.
            flat = local_linear_smooth(ch.reshape(len(t), -1), t, 0.12)
            ch = flat.reshape(ch.shape)
            speed = np.linalg.norm(np.gradient(ch, t, axis=0), axis=-1)
        else:
            speed = np.zeros(ch.shape[:2])
        slow = speed < config.foot_speed_static_mps
        feet.append((ch, slow))
        torso.append(j[:, 12] - j[:, 0])
        if len(t) >= 10:
            # A walking pelvis keeps its height: its smoothed path, while the torso is upright,
            # is parallel to the ground (checked again against the plane in the fit).
            path = local_linear_smooth(j[:, 0], t, 0.25)
            trunk = j[:, 12] - j[:, 0]
            trunk = trunk / np.maximum(np.linalg.norm(trunk, axis=1, keepdims=True), 1e-9)
            upright_frames.append((path, trunk))
    up = cam.torso_up_prior(np.concatenate(torso))
    paths = [path[trunk @ up > np.cos(np.radians(25.0))] for path, trunk in upright_frames]
    # Sole points: each channel's joint lowered by its clearance above the sole.
    clearance = np.asarray(CHANNEL_CLEARANCE_M)[None, :, None] * up
    pts = np.concatenate([(ch - clearance)[slow] for ch, slow in feet])
    found = cam.fit_ground_plane(pts, up, parallel_paths=paths)
    if found is not None:
        plane = found
    else:
        pelvis = np.concatenate([tf.fit.joints_cam[:, 0] for tf in fits])
        plane = cam.plane_from_torso_prior(up, pelvis)
        warnings.append("feet did not show a ground plane; ground placed from the upright "
                        "torso prior")
    main = max(fits, key=lambda tf: len(tf.frames))
    anchor = main.fit.joints_cam[0, 0]
    return cam.world_from_ground(plane, anchor), plane


def _person_in_world(tf: _TrackFit, world: cam.WorldFrame, times: np.ndarray, n_frames: int,
                     config: SolverConfig, smoothing: object) -> PersonMotion:
    fit = tf.fit
    rest = fit.rest_joints
    # Camera -> world: orientation R^T G0, pelvis R^T (root - t).
    local = fit.local_rots.copy()
    local[:, 0] = world.R.T @ local[:, 0]
    pelvis = cam.camera_to_world_points(fit.root_cam, world)
    # Scatter to all frames and bridge gaps.
    present = np.zeros(n_frames, bool)
    present[tf.frames] = True
    full_local = np.tile(np.eye(3), (n_frames, 24, 1, 1))
    full_local[tf.frames] = local
    full_pelvis = np.zeros((n_frames, 3))
    full_pelvis[tf.frames] = pelvis
    full_conf = np.zeros((n_frames, 24))
    full_conf[tf.frames] = tf.conf
    valid, a, b, alpha = bridge_gaps(present, times, config.max_gap_s)
    full_local = fill_rotations(full_local, a, b, alpha)
    full_pelvis = fill_linear(full_pelvis, a, b, alpha)
    full_conf = np.where(present[:, None], full_conf, 0.0)
    aa = log_map(full_local)
    transl = full_pelvis - rest[0]
    person = PersonMotion(
        track_id=int(tf.track.track_id), global_orient=aa[:, 0], body_pose=aa[:, 1:],
        transl=transl, rest_joints=rest, joints3d=fk_axis_angle(rest, aa[:, 0], aa[:, 1:], transl),
        valid=valid, contacts=np.zeros((n_frames, 4), np.float32), confidence=full_conf)
    contact_cfg = config.contacts
    judged = person                       # what contacts are judged on
    if isinstance(smoothing, SmoothingPreset):
        k = tf.noise_scale
        # Contacts are judged on the preset's own smoothing: wider kernels blur the short
        # stance phases away. A noisier track cannot be judged as finely, so the contact
        # bands widen with the noise's std (sqrt of the variance ratio k).
        judged = smooth_person(person, times, smoothing)
        band = float(np.sqrt(k))
        contact_cfg = replace(contact_cfg, height_on_m=contact_cfg.height_on_m * band,
                              height_off_m=contact_cfg.height_off_m * band,
                              speed_on_mps=contact_cfg.speed_on_mps * band,
                              speed_off_mps=contact_cfg.speed_off_mps * band)
        # The output motion gets kernels widened with the noise variance (see _noise_scale).
        person = judged if k == 1.0 else smooth_person(
            person, times, replace(smoothing, sigma_rest_s=smoothing.sigma_rest_s * k,
                                   sigma_fast_s=smoothing.sigma_fast_s * k))
    contacts = foot_contacts(np.asarray(judged.joints3d, float), times, valid, contact_cfg)
    joints = np.asarray(person.joints3d, float)
    transl = np.asarray(person.transl, float).copy()
    transl[:, 1] += ground_offset(joints, contacts, times, config.trajectory)
    transl[:, [0, 2]] += slide_offset(joints, contacts, times, config.trajectory)
    transl = hold_invalid(transl, valid)      # corrections never move held frames
    go = np.asarray(person.global_orient, np.float64)
    bp = np.asarray(person.body_pose, np.float64)
    joints3d = fk_axis_angle(rest, go, bp, transl)
    height = _standing_height(rest)
    return PersonMotion(
        track_id=person.track_id, global_orient=go.astype(np.float32),
        body_pose=bp.astype(np.float32), transl=transl.astype(np.float32),
        rest_joints=rest.astype(np.float32), joints3d=joints3d.astype(np.float32),
        valid=valid, contacts=contacts.astype(np.float32),
        confidence=np.clip(full_conf, 0, 1).astype(np.float32),
        info={"height_m": height, "bone_lengths_m": [float(x) for x in fit.lengths],
              "first_frame": int(np.argmax(valid)) if valid.any() else 0,
              "last_frame": int(n_frames - 1 - np.argmax(valid[::-1])) if valid.any() else 0})


#: Body landmarks used to measure a track's jitter (hips, knees, ankles, shoulders, elbows,
#: wrists).
_NOISE_LANDMARKS = (11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)


def _noise_scale(metric: np.ndarray, times: np.ndarray, config: SolverConfig) -> float:
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


def _standing_height(rest: np.ndarray) -> float:
    """Approximate body height (m): head joint to ankle in the rest pose + head top + sole."""
    pos, _ = forward_kinematics(rest, np.tile(np.eye(3), (1, 24, 1, 1)))
    return float(pos[0, 15, 1] - min(pos[0, 7, 1], pos[0, 8, 1]) + 0.07 + 0.12)
