"""The default solver: MediaPipe landmarks of tracked people -> SMPL motions in a gravity-aligned
world with an estimated static camera. The pipeline calls exactly ``solve_default``.

Order: SMPL targets per person -> focal length (all people) -> per person root translation
(camera frame) and kinematic skeleton fit -> ground plane from slow foot points of everyone ->
world frame -> per person: gap bridging, smoothing, contacts, feet on the ground (lifted along
the camera's view rays, the pelvis kept on its ray by bending the legs), less sliding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from inference_backend import camera as cam
from inference_backend.contacts import ContactConfig, foot_contacts
from inference_backend.fitting import FitConfig, fit_skeleton
from inference_backend.kinematics import (
    axis_angle_to_quat,
    fk_axis_angle,
    forward_kinematics,
    log_map,
    quat_slerp,
    quat_to_axis_angle,
    rodrigues,
)
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
    ground_offset,
    keep_pelvis_on_view_ray,
    lift_along_view_rays,
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
    #: Pull of the ground normal toward the mean torso direction (``fit_ground_plane``'s
    #: ``prior_strength``, m^2 per point). The fitted feet's depths err more with distance
    #: than the torso's lean averages out: on the synthetic benchmark (docs/accuracy.md) the
    #: feet alone tilt the ground 3-5 deg, the mean torso is within 1 deg of the vertical.
    ground_tilt_prior: float = 0.1
    fix_left_right_swaps: bool = True  # relabel limbs that BlazePose swaps for a few frames
    adapt_to_noise: bool = True        # widen smoothing for jittery tracks (see _noise_scale)
    clean_jitter_m: float = 0.03
    motion_jitter_m: float = 0.013
    max_noise_scale: float = 3.0
    #: The default solver trusts the metric landmarks a little more than ``FitConfig``'s
    #: defaults and the face / hand / foot landmarks less: they pulled the wrists and ankles
    #: off the joints on the synthetic benchmark (docs/accuracy.md).
    fit: FitConfig = field(default_factory=lambda: FitConfig(sigma_3d_m=0.025, aux_weight=0.1))
    contacts: ContactConfig = field(default_factory=ContactConfig)
    trajectory: TrajectoryConfig = field(default_factory=TrajectoryConfig)


#: Frames converted together after the fit (bounds the working memory of long videos).
_CHUNK_FRAMES = 512
#: Joints of the fit that the ground plane needs: pelvis, neck (spine3's child), contacts.
_KEY_JOINTS: tuple[int, ...] = (0, 12, *CONTACT_JOINTS)


@dataclass(frozen=True)
class _TrackFit:
    """A fitted track on its Fo observed frames, kept compact (~1 kB per frame) while the other
    people are fitted and the world frame is found."""

    track: TrackObservations
    frames: np.ndarray          # (Fo,) indices of observed frames
    orient_cam: np.ndarray      # (Fo, 3, 3) pelvis orientation in the camera frame
    body_aa: np.ndarray         # (Fo, 23, 3) local joint rotations, axis-angle
    root_cam: np.ndarray        # (Fo, 3) pelvis in camera coordinates (m)
    key_joints_cam: np.ndarray  # (Fo, len(_KEY_JOINTS), 3) FK joints in camera coordinates
    rest_joints: np.ndarray     # (24, 3)
    lengths: np.ndarray         # (24,)
    conf: np.ndarray            # (Fo, 24) float32, clipped to [0, 1]
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
        prepared.append((tr, frames, np.ascontiguousarray(img[..., :2]), met, w))
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
    # Tracks wait for their fit in their own (float32) precision: exact, half the memory.
    waiting: list[tuple[TrackObservations, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
                  | None] = [(tr, fr, _storage(i, tr), _storage(m, tr), _storage(w, tr))
                             for tr, fr, i, m, w in prepared]
    del prepared

    # 2. Per-person fit in the camera frame (each track's observations are let go once fitted).
    fits: list[_TrackFit] = []
    n_prepared = len(waiting)
    for i in range(n_prepared):
        report("solve", i, n_prepared)
        item, waiting[i] = waiting[i], None
        assert item is not None
        tr, frames = item[:2]
        img, met, w = (np.asarray(a, float) for a in item[2:])
        del item
        fitted = _fit_track(tr, frames, img, met, w, K, times, config, warnings)
        del img, met, w
        if fitted is not None:
            fits.append(fitted)
    report("solve", n_prepared, n_prepared)

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


def _storage(values: np.ndarray, track: TrackObservations) -> np.ndarray:
    """values (float64, derived from the track's landmarks by selection, masking and clipping
    only) in the landmarks' own precision when that is float32 (lossless), else as they are."""
    single = all(np.asarray(a).dtype == np.float32
                 for a in (track.image_landmarks, track.world_landmarks))
    return values.astype(np.float32) if single else values


def _fit_track(tr: TrackObservations, frames: np.ndarray, img: np.ndarray, met: np.ndarray,
               w: np.ndarray, K: np.ndarray, times: np.ndarray, config: SolverConfig,
               warnings: list[str]) -> _TrackFit | None:
    """Fit one track on its observed frames; None (and a warning) if no frame can be placed."""
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
    scale = _noise_scale(met, times[frames], config) if config.adapt_to_noise else 1.0
    fit = fit_skeleton(met, t3, c3, t2, c2, root0, K, np.ones(len(frames), bool), config.fit,
                       aux=(met, img, w))
    del t3, t2, c2, root0
    body = np.empty(fit.local_rots.shape[:1] + (23, 3))
    for s in range(0, len(body), _CHUNK_FRAMES):
        body[s:s + _CHUNK_FRAMES] = log_map(fit.local_rots[s:s + _CHUNK_FRAMES, 1:])
    return _TrackFit(tr, frames, orient_cam=fit.local_rots[:, 0].copy(), body_aa=body,
                     root_cam=fit.root_cam, key_joints_cam=fit.joints_cam[:, list(_KEY_JOINTS)],
                     rest_joints=fit.rest_joints, lengths=fit.lengths,
                     conf=np.clip(c3, 0, 1).astype(np.float32), noise_scale=scale)


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
        j = tf.key_joints_cam                                 # (Fo, _KEY_JOINTS, 3)
        pelvis, neck = j[:, 0], j[:, 1]
        t = times[tf.frames]
        ch = j[:, 2:]                                         # (Fo, 4, 3) CONTACT_JOINTS
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
        torso.append(neck - pelvis)
        if len(t) >= 10:
            # A walking pelvis keeps its height: its smoothed path, while the torso is upright,
            # is parallel to the ground (checked again against the plane in the fit).
            path = local_linear_smooth(pelvis, t, 0.25)
            trunk = neck - pelvis
            trunk = trunk / np.maximum(np.linalg.norm(trunk, axis=1, keepdims=True), 1e-9)
            upright_frames.append((path, trunk))
    up = cam.torso_up_prior(np.concatenate(torso))
    paths = [path[trunk @ up > np.cos(np.radians(25.0))] for path, trunk in upright_frames]
    # Sole points: each channel's joint lowered by its clearance above the sole.
    clearance = np.asarray(CHANNEL_CLEARANCE_M)[None, :, None] * up
    pts = np.concatenate([(ch - clearance)[slow] for ch, slow in feet])
    found = cam.fit_ground_plane(pts, up, parallel_paths=paths,
                                 prior_strength=config.ground_tilt_prior)
    if found is not None:
        plane = found
    else:
        pelvis = np.concatenate([tf.key_joints_cam[:, 0] for tf in fits])
        plane = cam.plane_from_torso_prior(up, pelvis)
        warnings.append("feet did not show a ground plane; ground placed from the upright "
                        "torso prior")
    main = max(fits, key=lambda tf: len(tf.frames))
    anchor = main.key_joints_cam[0, 0]
    return cam.world_from_ground(plane, anchor), plane


def _world_rotations(tf: _TrackFit, world: cam.WorldFrame, src_a: np.ndarray,
                     src_b: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Local rotations (F, 24, 3) axis-angle of every frame in the world, as ``bridge_gaps``
    planned them: observed frames as fitted (the pelvis turned into the world, R^T G0), gap
    frames slerped between their observed ends, held frames a copy of their source.
    Chunked: no (F, 24, 3, 3) temporaries."""
    root = log_map(world.R.T @ tf.orient_cam)                 # (Fo, 3)
    obs_a = np.searchsorted(tf.frames, src_a)                 # observed-frame indices
    obs_b = np.searchsorted(tf.frames, src_b)
    n = len(src_a)
    out = np.empty((n, 24, 3))
    for s in range(0, n, _CHUNK_FRAMES):
        e = min(n, s + _CHUNK_FRAMES)
        oa, ob = obs_a[s:e], obs_b[s:e]
        out[s:e, 0] = root[oa]
        out[s:e, 1:] = tf.body_aa[oa]
        gap = np.flatnonzero(oa != ob)
        if gap.size:
            ga, gb = oa[gap], ob[gap]
            qa = axis_angle_to_quat(np.concatenate([root[ga, None], tf.body_aa[ga]], axis=1))
            qb = axis_angle_to_quat(np.concatenate([root[gb, None], tf.body_aa[gb]], axis=1))
            t = np.broadcast_to(alpha[s:e][gap, None], qa.shape[:2])
            out[s + gap] = quat_to_axis_angle(quat_slerp(qa, qb, t))
    return out


def _fk_float32(rest: np.ndarray, global_orient: np.ndarray, body_pose: np.ndarray,
                transl: np.ndarray) -> np.ndarray:
    """joints3d (F, 24, 3) float32 by float64 FK, chunk by chunk (no float64 (F, 24, 3))."""
    n = len(transl)
    out = np.empty((n, 24, 3), np.float32)
    for s in range(0, n, _CHUNK_FRAMES):
        e = min(n, s + _CHUNK_FRAMES)
        out[s:e] = fk_axis_angle(rest, global_orient[s:e], body_pose[s:e], transl[s:e])
    return out


#: SMPL joints whose rotations ``keep_pelvis_on_view_ray`` changes (hips, knees, ankles).
_LEG_JOINTS: tuple[int, ...] = (1, 2, 4, 5, 7, 8)


def _settle_legs(rest: np.ndarray, global_orient: np.ndarray, body_pose: np.ndarray,
                 seen: np.ndarray, transl: np.ndarray, valid: np.ndarray, centre: np.ndarray,
                 config: TrajectoryConfig) -> tuple[np.ndarray, np.ndarray]:
    """``keep_pelvis_on_view_ray`` on the valid frames lifted by more than
    ``config.settle_from_m`` (the only ones it changes), chunk by chunk. Returns
    (transl (F, 3), body_pose (F, 23, 3)), copies where anything changed."""
    lifted = np.flatnonzero(valid & (transl[:, 1] - seen[:, 1] > config.settle_from_m))
    if lifted.size == 0:
        return transl, body_pose
    transl = transl.copy()
    body_pose = np.array(body_pose, copy=True)
    rows = [j - 1 for j in _LEG_JOINTS]
    for s in range(0, lifted.size, _CHUNK_FRAMES):
        f = lifted[s:s + _CHUNK_FRAMES]
        aa = np.concatenate([np.asarray(global_orient[f], float)[:, None],
                             np.asarray(body_pose[f], float)], axis=1)
        local, transl[f] = keep_pelvis_on_view_ray(rest, rodrigues(aa), seen[f], transl[f],
                                                   centre, config)
        body_pose[f[:, None], rows] = log_map(local[:, list(_LEG_JOINTS)])
    return transl, body_pose


def _person_in_world(tf: _TrackFit, world: cam.WorldFrame, times: np.ndarray, n_frames: int,
                     config: SolverConfig, smoothing: object) -> PersonMotion:
    rest = tf.rest_joints
    # Scatter to all frames and bridge gaps; camera -> world: orientation R^T G0, pelvis
    # R^T (root - t).
    present = np.zeros(n_frames, bool)
    present[tf.frames] = True
    valid, a, b, alpha = bridge_gaps(present, times, config.max_gap_s)
    full_pelvis = np.zeros((n_frames, 3))
    full_pelvis[tf.frames] = cam.camera_to_world_points(tf.root_cam, world)
    transl = fill_linear(full_pelvis, a, b, alpha) - rest[0]
    del full_pelvis
    aa = _world_rotations(tf, world, a, b, alpha)             # (F, 24, 3) float64
    conf = np.zeros((n_frames, 24), np.float32)
    conf[tf.frames] = tf.conf
    preset = smoothing if isinstance(smoothing, SmoothingPreset) else None
    # Smoothing recomputes joints3d: only an unsmoothed motion needs its own FK here.
    joints = (fk_axis_angle(rest, aa[:, 0], aa[:, 1:], transl) if preset is None
              else np.broadcast_to(np.float32(np.nan), (n_frames, 24, 3)))
    person = PersonMotion(
        track_id=int(tf.track.track_id), global_orient=aa[:, 0], body_pose=aa[:, 1:],
        transl=transl, rest_joints=rest, joints3d=joints, valid=valid,
        contacts=np.zeros((n_frames, 4), np.float32), confidence=conf)
    del aa, transl, joints
    contact_cfg = config.contacts
    judged = person                       # what contacts are judged on
    if preset is not None:
        k = tf.noise_scale
        # Contacts are judged on the preset's own smoothing: wider kernels blur the short
        # stance phases away. A noisier track cannot be judged as finely, so the contact
        # bands widen with the noise's std (sqrt of the variance ratio k).
        judged = smooth_person(person, times, preset)
        band = float(np.sqrt(k))
        contact_cfg = replace(contact_cfg, height_on_m=contact_cfg.height_on_m * band,
                              height_off_m=contact_cfg.height_off_m * band,
                              speed_on_mps=contact_cfg.speed_on_mps * band,
                              speed_off_mps=contact_cfg.speed_off_mps * band)
    # Contacts, ground and sliding read only the contact joints (all below index 12): pass
    # float64 copies of joints 0..11 instead of all 24.
    feet = max(CONTACT_JOINTS) + 1
    contacts = foot_contacts(np.asarray(judged.joints3d[:, :feet], float), times, valid,
                             contact_cfg)
    # The output motion gets kernels widened with the noise variance (see _noise_scale); the
    # judged motion is let go before that second smoothing.
    k = tf.noise_scale
    if preset is not None and k == 1.0:
        person = judged
    del judged
    if preset is not None and k != 1.0:
        person = smooth_person(person, times, replace(preset, sigma_rest_s=preset.sigma_rest_s * k,
                                                      sigma_fast_s=preset.sigma_fast_s * k))
    joints = np.asarray(person.joints3d[:, :feet], float)
    seen = np.asarray(person.transl, float).copy()
    # Feet on the ground: large lifts follow the camera's view rays (a static camera sees
    # directions: a fit placed too far sits too low), then the pelvis goes back onto its own
    # ray with the legs bent to keep the feet (trajectory.keep_pelvis_on_view_ray).
    centre = world.R.T @ -world.t                       # the camera centre in the world
    lift = ground_offset(joints, contacts, times, config.trajectory)
    slide = slide_offset(joints, contacts, times, config.trajectory)
    transl = seen + lift_along_view_rays(joints, lift, centre, config.trajectory)
    del joints
    transl[:, [0, 2]] += slide
    seen[:, [0, 2]] += slide                            # anti-sliding is not undone
    go, bp = person.global_orient, person.body_pose
    transl, bp = _settle_legs(rest, go, bp, seen, transl, valid, centre, config.trajectory)
    transl = hold_invalid(transl, valid)      # corrections never move held frames
    joints3d = _fk_float32(rest, go, bp, transl)
    height = _standing_height(rest)
    return PersonMotion(
        track_id=person.track_id, global_orient=np.asarray(go, np.float32),
        body_pose=np.asarray(bp, np.float32), transl=transl.astype(np.float32),
        rest_joints=rest.astype(np.float32), joints3d=joints3d,
        valid=valid, contacts=contacts.astype(np.float32), confidence=conf,
        info={"height_m": height, "bone_lengths_m": [float(x) for x in tf.lengths],
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
