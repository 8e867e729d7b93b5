"""The camera's rotation per frame from tracked background points (numpy; OpenCV only for the
homography fit and decomposition of a camera that also moved).

Input: ``FrameMatches`` recorded while the video was decoded (``camera_tracking``): for each
frame, background points of a *keyframe* and where they are in this frame, in pixels of the
displayed frame. A camera that only rotates (a phone held in the hand turns far more than it
moves) maps bearing vectors by one rotation: ``b_f = R(k->f) b_k``, ``b = normalise(K^-1 [u,v,1])``.

Rotations are relative to the first frame's camera: ``x_cam_f = rel[f] @ x_cam_0`` (OpenCV
camera axes). A frame's rotation is its keyframe's rotation composed with the keyframe-to-frame
fit, so drift only grows from keyframe to keyframe (not frame to frame).

A hand also moves the camera a little. When a homography explains the points clearly better
than any pure rotation (the rotation's residual above ``parallax_ratio`` times the
homography's), the points show parallax: the camera translated in front of a dominant plane
(the floor, a wall), ``H = K (R + t n^T / d) K^-1``, and the rotation is taken from the
homography's decomposition (``fit_camera_rotation``; the plane's normal, kept per keyframe,
tells the two physically possible solutions apart).

Frames without a fit (too few background points) are interpolated (slerp) from their
neighbours; when too many frames lack one, or the background is too plain, the result says so
and the caller falls back to a static camera. Whether the camera moved at all is decided on the
rotations: a tripod clip comes out as ``moved = False`` and must then be treated as exactly
static (no invented jitter).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .config import CAMERA_MODES
from .kinematics import (
    geodesic_deg,
    matrix_to_quat,
    quat_sign_continuity,
    quat_slerp,
    quat_to_matrix,
)
from .smoothing import local_linear_smooth


@dataclass(frozen=True)
class FrameMatches:
    """Background correspondences between frame ``frame`` and its keyframe ``keyframe``.

    key_points, points: (N, 2) float32 pixels of the displayed frame (the same background
    points seen in the keyframe and in this frame). Any frame with a fit can be the keyframe
    of later frames (the tracker starts a new keyframe when too few points survive).
    spread_px: RMS distance (tracking pixels, the resolution the points were measured at) of
    the points from the best homography between the two frames: how coherently they moved.
    Points tracked on sensor noise (a plain wall) jitter by ~1 px; real texture by < 0.2 px,
    with or without parallax.
    """

    frame: int
    keyframe: int
    key_points: np.ndarray
    points: np.ndarray
    spread_px: float = 0.0


@dataclass(frozen=True)
class KeyframeLink:
    """Keyframe ``keyframe`` matched directly to an older keyframe ``anchor`` that sees the
    same background (the camera came back): re-anchors the chain against drift.

    anchor_points, points: (N, 2) float32 displayed-frame pixels of the same background points
    in the anchor and in the keyframe; spread_px as in ``FrameMatches``."""

    keyframe: int
    anchor: int
    anchor_points: np.ndarray
    points: np.ndarray
    spread_px: float = 0.0


@dataclass(frozen=True)
class CameraMotionConfig:
    """How rotations are fitted and judged.

    min_matches: a frame's fit needs at least this many background points.
    max_spread_px: a frame whose points moved less coherently than this (``spread_px``) is not
        fitted (sensor noise on a plain wall, a scene that moves as a whole); up to twice this,
        its rotation still carries the keyframe chain (its own is interpolated).
    huber_px: robust (Huber) scale of the rotation fit's residuals, pixels.
    outlier_px: points further than this from the fit are dropped (after the robust fit).
    static_deg: the camera moved when the 95th percentile over frames of its angle to the first
        frame exceeds this (tracking noise on a tripod clip is ~0.01 deg).
    min_coverage: below this fraction of frames with their own fit the background is judged
        too plain to track and the result is not ``usable``.
    smooth_frames: Gaussian sigma (frames) of the light zero-phase smoothing of the camera
        path (rotation noise only; handheld shake is real and kept). 0 = off.
    anchor_min_matches: a ``KeyframeLink`` is used when at least this many points fit it.
    parallax_ratio, parallax_margin_px: the rotation-only fit's RMS residual must exceed
        ``ratio * homography residual + margin`` (pixels) for the plane-induced homography's
        rotation to be used instead; plane_max_deg: ... and that rotation must be within this
        of the rotation-only fit (a wrong decomposition is rejected).
    """

    min_matches: int = 12
    max_spread_px: float = 0.5
    huber_px: float = 1.0
    outlier_px: float = 3.0
    static_deg: float = 0.25
    min_coverage: float = 0.6
    smooth_frames: float = 1.0
    anchor_min_matches: int = 30
    parallax_ratio: float = 1.5
    parallax_margin_px: float = 0.1
    plane_max_deg: float = 3.0


@dataclass(frozen=True)
class CameraMotion:
    """Per-frame camera rotations relative to the first frame, and how well they were found.

    rel: (F, 3, 3) ``x_cam_f = rel[f] @ x_cam_0``. fitted: (F,) bool, frames with their own
    fit (the others are interpolated). residual_px: (F,) RMS residual of the fit (NaN where
    not fitted). moved: the camera turned more than ``static_deg``; usable: enough frames were
    fitted to trust the path. report: numbers for the motion file header and logs.
    """

    rel: np.ndarray
    fitted: np.ndarray
    residual_px: np.ndarray
    moved: bool
    usable: bool
    report: dict = field(default_factory=dict)


def bearings(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Unit bearing vectors (N, 3) of pixels (N, 2) through intrinsics K (3, 3)."""
    p = np.asarray(points, float)
    ray = np.stack([(p[:, 0] - K[0, 2]) / K[0, 0], (p[:, 1] - K[1, 2]) / K[1, 1],
                    np.ones(len(p))], axis=1)
    return ray / np.linalg.norm(ray, axis=1, keepdims=True)


def kabsch(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Rotation R (3, 3) minimising ``sum w |dst - R src|^2`` for unit vectors (N, 3)."""
    w = np.ones(len(src)) if weights is None else np.asarray(weights, float)
    m = (dst * w[:, None]).T @ src
    u, _, vt = np.linalg.svd(m)
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    return u @ np.diag([1.0, 1.0, d]) @ vt


def fit_rotation(key_points: np.ndarray, points: np.ndarray, K: np.ndarray,
                 huber_px: float = 1.0, outlier_px: float = 3.0,
                 iterations: int = 6) -> tuple[np.ndarray, float, int]:
    """Robust rotation-only fit ``b = R b_key`` between pixel correspondences (N, 2).

    Iteratively re-weighted Kabsch with Huber weights (scale ``huber_px`` in pixels via the
    focal length), then a last fit on the points within ``outlier_px``. Returns
    (R (3, 3), RMS residual of the kept points in pixels, number kept).
    """
    focal = 0.5 * (K[0, 0] + K[1, 1])
    a, b = bearings(key_points, K), bearings(points, K)
    w = np.ones(len(a))
    R = kabsch(a, b, w)
    for _ in range(iterations):
        r = np.linalg.norm(b - a @ R.T, axis=1) * focal
        w = np.where(r <= huber_px, 1.0, huber_px / np.maximum(r, 1e-12))
        R = kabsch(a, b, w)
    r = np.linalg.norm(b - a @ R.T, axis=1) * focal
    keep = r <= outlier_px
    if keep.sum() >= 3:
        R = kabsch(a[keep], b[keep])
        r = np.linalg.norm(b[keep] - a[keep] @ R.T, axis=1) * focal
    return R, float(np.sqrt(np.mean(r ** 2))) if len(r) else float("nan"), int(keep.sum())


def _plane_homography(key_points: np.ndarray, points: np.ndarray, threshold_px: float
                      ) -> tuple[np.ndarray, np.ndarray, float] | None:
    """RANSAC homography between pixel correspondences: (H, inlier mask, RMS residual of the
    inliers in pixels), or None when it cannot be fitted."""
    import cv2  # noqa: PLC0415  (homography maths only)

    src = np.asarray(key_points, np.float64).reshape(-1, 1, 2)
    dst = np.asarray(points, np.float64).reshape(-1, 1, 2)
    if len(src) < 8:
        return None
    H, inl = cv2.findHomography(src, dst, cv2.RANSAC, threshold_px)
    if H is None or inl is None or int(inl.sum()) < 8:
        return None
    keep = inl.ravel().astype(bool)
    mapped = cv2.perspectiveTransform(src[keep], H).reshape(-1, 2)
    h_rms = float(np.sqrt(np.mean(np.sum((mapped - dst[keep].reshape(-1, 2)) ** 2, axis=1))))
    return H, keep, h_rms


def _shows_parallax(rotation_rms: float, homography_rms: float,
                    config: CameraMotionConfig) -> bool:
    """A homography explains the points clearly better than any rotation."""
    return rotation_rms > config.parallax_ratio * homography_rms + config.parallax_margin_px


def fit_camera_rotation(key_points: np.ndarray, points: np.ndarray, K: np.ndarray,
                        config: CameraMotionConfig = CameraMotionConfig(),
                        plane: np.ndarray | None = None
                        ) -> tuple[np.ndarray, float, int, np.ndarray | None]:
    """The camera's rotation between two views from pixel correspondences (N, 2): the robust
    rotation-only fit, or, when the points show parallax (see the module docstring), the
    rotation of the decomposed plane homography.

    A plane homography decomposes into up to four (R, t, n); those that keep the points in
    front of both cameras remain (one or two). Two are told apart by the plane: ``plane`` is
    the normal (3,) (first view's camera axes) chosen earlier for the same keyframe, and the
    solution whose normal agrees with it wins; without one, a single visible solution is taken
    and two are not (the rotation-only fit is kept). Returns (R, RMS residual of the
    rotation-only fit in pixels, points kept, the plane normal used or None).
    """
    R, rms, kept = fit_rotation(key_points, points, K, config.huber_px, config.outlier_px)
    if kept < 8 or len(points) < 8:
        return R, rms, kept, None
    found = _plane_homography(key_points, points, config.outlier_px)
    if found is None or not _shows_parallax(rms, found[2], config):
        return R, rms, kept, None
    import cv2  # noqa: PLC0415  (homography maths only)

    H, keep, _ = found
    src = np.asarray(key_points, np.float64).reshape(-1, 1, 2)
    dst = np.asarray(points, np.float64).reshape(-1, 1, 2)
    Kf = np.asarray(K, np.float64)
    count, rotations, _, normals = cv2.decomposeHomographyMat(H, Kf)

    def rectified(p: np.ndarray) -> np.ndarray:
        q = p.reshape(-1, 2)
        return np.stack([(q[:, 0] - Kf[0, 2]) / Kf[0, 0], (q[:, 1] - Kf[1, 2]) / Kf[1, 1]],
                        axis=1).reshape(-1, 1, 2).astype(np.float32)

    visible = cv2.filterHomographyDecompByVisibleRefpoints(
        rotations[:count], normals[:count], rectified(src[keep]), rectified(dst[keep]))
    options = [] if visible is None else [int(i) for i in np.asarray(visible).ravel()]
    options = [i for i in options
               if float(geodesic_deg(np.asarray(rotations[i]), R)) <= config.plane_max_deg]
    if plane is not None and options:
        agree = [abs(float(np.asarray(normals[i]).ravel() @ plane)) for i in options]
        if max(agree) >= 0.9:
            i = options[int(np.argmax(agree))]
            return np.asarray(rotations[i], float), rms, kept, np.asarray(normals[i]).ravel()
    if len(options) == 1:
        i = options[0]
        return np.asarray(rotations[i], float), rms, kept, np.asarray(normals[i]).ravel()
    return R, rms, kept, None


def solve_camera_motion(matches: list[FrameMatches], n_frames: int, K: np.ndarray,
                        config: CameraMotionConfig = CameraMotionConfig(),
                        links: list[KeyframeLink] | None = None,
                        untracked: Sequence[int] = ()) -> CameraMotion:
    """Per-frame rotations from the recorded matches (see the module docstring).

    matches: any order; frames without an entry (or with too few points) are interpolated.
    A keyframe whose own rotation is unknown (the tracker lost every point and started over)
    continues from the last fitted frame before it (counted in ``report["breaks"]``).
    links: keyframes matched to older keyframes; such a keyframe takes the rotation the older
    one gives it, and the correction is spread evenly over the frames since the previous
    re-anchoring (no jump), counted in ``report["reanchored"]``.
    K: (3, 3) intrinsics of the displayed frame.
    untracked: frames the tracker never looked at (skipped on a still view,
    ``BackgroundTrackingConfig.still_stride``): interpolated like any frame without a fit, but
    left out of the coverage (the fraction of the *tracked* frames with their own fit).
    """
    K = np.asarray(K, float)
    rel = np.tile(np.eye(3), (n_frames, 1, 1))
    fitted = np.zeros(n_frames, bool)
    residual = np.full(n_frames, np.nan)
    fitted[:1] = True
    residual[:1] = 0.0
    known = {0: np.eye(3)}           # rotation of every frame that has one (keyframe candidates)
    keyframes: set[int] = set()
    breaks = reanchored = parallax = 0
    plane0: np.ndarray | None = None       # the parallax plane's normal, first camera's axes
    anchored = 0                      # the last frame whose rotation is anchored (not chained)
    by_keyframe = {ln.keyframe: ln for ln in (links or [])}
    for m in sorted(matches, key=lambda m: m.frame):
        if not 0 < m.frame < n_frames or not 0 <= m.keyframe < m.frame:
            continue
        if m.keyframe not in known:
            known[m.keyframe] = rel[max(f for f in known if f <= m.keyframe)]
            breaks += 1
        if len(m.points) < config.min_matches or m.spread_px > 2.0 * config.max_spread_px:
            continue
        ref = None if plane0 is None else known[m.keyframe] @ plane0
        R, rms, kept, normal = fit_camera_rotation(m.key_points, m.points, K, config, ref)
        if kept < config.min_matches:
            continue
        if m.spread_px > config.max_spread_px:
            # Too incoherent to count as this frame's own fit (it is interpolated), but a
            # later keyframe span may start here: keep the chain going through it.
            known[m.frame] = R @ known[m.keyframe]
            continue
        if normal is not None:
            plane0 = known[m.keyframe].T @ normal
            parallax += 1
        keyframes.add(m.keyframe)
        rel[m.frame] = R @ known[m.keyframe]
        known[m.frame] = rel[m.frame]
        fitted[m.frame] = True
        residual[m.frame] = rms
        link = by_keyframe.get(m.frame)
        if link is not None and link.anchor in known and link.anchor < m.frame \
                and len(link.points) >= config.anchor_min_matches \
                and link.spread_px <= config.max_spread_px:
            # Only a pure rotation re-anchors: across the long baseline of a camera that moved,
            # a link would import the translation's bias (or a wrong plane) into the chain.
            Ra, rms_a, kept_a = fit_rotation(link.anchor_points, link.points, K,
                                             config.huber_px, config.outlier_px)
            found = _plane_homography(link.anchor_points, link.points, config.outlier_px)
            if kept_a >= config.anchor_min_matches and found is not None \
                    and not _shows_parallax(rms_a, found[2], config):
                _spread_correction(rel, known, anchored, m.frame, Ra @ known[link.anchor])
                anchored = m.frame
                reanchored += 1
    tracked = np.ones(n_frames, bool)
    skipped = np.asarray(untracked, int).ravel()
    tracked[skipped[(skipped > 0) & (skipped < n_frames)]] = False
    coverage = float(fitted[tracked].mean()) if n_frames else 0.0
    rel = _fill_unfitted(rel, fitted)
    if config.smooth_frames > 0 and n_frames > 2:
        rel = smooth_rotations(rel, config.smooth_frames)
    angle = geodesic_deg(rel, np.broadcast_to(np.eye(3), rel.shape))
    p95 = float(np.percentile(angle, 95)) if n_frames else 0.0
    usable = coverage >= config.min_coverage
    moved = bool(usable and p95 > config.static_deg)
    pan, tilt = pan_tilt_deg(rel)
    report = {
        "coverage": round(coverage, 4),
        "max_angle_deg": round(float(angle.max()) if n_frames else 0.0, 3),
        "p95_angle_deg": round(p95, 3),
        "pan_range_deg": round(float(np.ptp(pan)) if n_frames else 0.0, 3),
        "tilt_range_deg": round(float(np.ptp(tilt)) if n_frames else 0.0, 3),
        "median_residual_px": round(float(np.nanmedian(residual)), 3)
        if np.isfinite(residual).any() else None,
        "keyframes": len(keyframes),
        "breaks": breaks,
        "reanchored": reanchored,
        "parallax_frames": parallax,
    }
    return CameraMotion(rel=rel, fitted=fitted, residual_px=residual, moved=moved,
                        usable=usable, report=report)


def _spread_correction(rel: np.ndarray, known: dict[int, np.ndarray], start: int, end: int,
                       target: np.ndarray) -> None:
    """Turn frame ``end`` to ``target`` and frames ``start+1 .. end-1`` by the matching
    fraction of the same correction (in place, ``known`` kept in step)."""
    C = target @ rel[end].T
    frames = np.arange(start + 1, end + 1)
    t = (frames - start) / float(end - start)
    qc = matrix_to_quat(C[None])[0]
    steps = quat_to_matrix(quat_slerp(np.array([1.0, 0.0, 0.0, 0.0]), qc, t))
    rel[frames] = steps @ rel[frames]
    rel[end] = target
    for f in frames:
        if int(f) in known:
            known[int(f)] = rel[f]


def _fill_unfitted(rel: np.ndarray, fitted: np.ndarray) -> np.ndarray:
    """Slerp unfitted frames between their fitted neighbours; hold at the ends."""
    good = np.flatnonzero(fitted)
    if len(good) == 0 or len(good) == len(rel):
        return rel
    out = rel.copy()
    q = quat_sign_continuity(matrix_to_quat(rel[good]), axis=0)
    bad = np.flatnonzero(~fitted)
    j = np.clip(np.searchsorted(good, bad), 1, max(len(good) - 1, 1))
    if len(good) == 1:
        out[bad] = rel[good[0]]
        return out
    a, b = good[j - 1], good[j]
    t = np.clip((bad - a) / np.maximum(b - a, 1), 0.0, 1.0)
    out[bad] = quat_to_matrix(quat_slerp(q[j - 1], q[j], t))
    return out


def smooth_rotations(rel: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Zero-phase local-linear smoothing (Gaussian sigma in frames) of a rotation sequence
    (F, 3, 3): quaternion components (sign-continuous) filtered, renormalised. Local-linear,
    so a steady pan and the clip's ends are not bent."""
    q = quat_sign_continuity(matrix_to_quat(rel), axis=0)
    out = local_linear_smooth(q, np.arange(len(q), dtype=float), float(sigma_frames))
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return quat_to_matrix(out)


def pan_tilt_deg(rel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pan (turn about the first frame's vertical image axis, + = toward image right) and
    tilt (+ = toward image up) of each frame's optical axis, degrees (F,) each."""
    axis = np.swapaxes(rel, -1, -2)[..., :, 2]      # optical axis of frame f in camera-0 axes
    pan = np.degrees(np.arctan2(axis[..., 0], axis[..., 2]))
    tilt = np.degrees(np.arctan2(-axis[..., 1], np.hypot(axis[..., 0], axis[..., 2])))
    return pan, tilt


def rotation_about_centre(rel: np.ndarray, R0: np.ndarray, t0: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray]:
    """World-to-camera extrinsics of a camera that turns about its own centre.

    R0 (3, 3), t0 (3,): the first frame's ``x_cam = R0 X + t0``; rel (F, 3, 3). Returns
    (R (F, 3, 3), t (F, 3)) with ``R[f] = rel[f] R0``, ``t[f] = rel[f] t0`` (same centre)."""
    return rel @ R0, rel @ t0


@dataclass(frozen=True)
class CameraChoice:
    """What the scene stage does with the camera: ``rel`` (F, 3, 3) rotations of a moving
    camera, or None for a static one; ``warnings`` for the user; ``report`` for the header."""

    rel: np.ndarray | None
    warnings: tuple[str, ...]
    report: dict


def choose_camera(motion: CameraMotion | None, mode: str) -> CameraChoice:
    """Apply ``--camera static|moving|auto`` to a tracking result.

    static: always static (nothing tracked needs to be trusted). auto: moving when the
    background was trackable and the camera turned more than ``static_deg``; a tripod clip
    stays exactly static. moving: the tracked rotations whenever the background was
    trackable. A background too plain to track falls back to static with a warning in
    both auto and moving modes.
    """
    if mode not in CAMERA_MODES:
        raise ValueError(f"camera mode must be one of {CAMERA_MODES}, got {mode!r}")
    if mode == "static" or motion is None:
        return CameraChoice(None, (), {"mode": mode, "moving": False})
    report = {"mode": mode, **motion.report}
    if not motion.usable:
        pct = 100.0 * motion.report.get("coverage", 0.0)
        return CameraChoice(None, (
            f"the background gave too little to track the camera (only {pct:.0f}% of frames: "
            "a plain wall, or people filling the frame); assumed a static camera",),
            {**report, "moving": False})
    if mode == "auto" and not motion.moved:
        return CameraChoice(None, (), {**report, "moving": False})
    return CameraChoice(motion.rel, (), {**report, "moving": True})


def to_first_camera(rel: np.ndarray, frames: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Camera-frame points of the given frames in the first frame's camera axes.

    rel: (F, 3, 3) ``x_cam_f = rel[f] x_cam_0``; frames: (Fo,) capture-frame indices;
    points: (Fo, ..., 3), each frame's rotated by ``rel[f]^T``. A camera turning about its
    centre keeps its centre at the origin, so no translation is involved.
    """
    R = np.asarray(rel, float)[np.asarray(frames)]
    p = np.asarray(points, float)
    flat = p.reshape(len(p), -1, 3)
    return np.einsum("fji,fkj->fki", R, flat).reshape(p.shape)


def to_first_camera_rotations(rel: np.ndarray, frames: np.ndarray,
                              rotations: np.ndarray) -> np.ndarray:
    """(Fo, 3, 3) camera-frame orientations of the given frames -> first camera's axes."""
    R = np.asarray(rel, float)[np.asarray(frames)]
    return np.swapaxes(R, -1, -2) @ np.asarray(rotations, float)


@dataclass(frozen=True)
class RotationFocal:
    """Focal length found from the camera's own turning: focal (px), horizontal FOV (deg),
    and how much worse a focal 10% off fits (``contrast``, relative residual increase)."""

    focal: float
    fov_x_deg: float
    contrast: float


def focal_from_rotation(matches: list[FrameMatches], width: int, height: int,
                        fov_range: tuple[float, float] = (20.0, 120.0), max_frames: int = 40,
                        min_shift_frac: float = 0.06, min_contrast: float = 0.5
                        ) -> RotationFocal | None:
    """The focal length under which the tracked points move most like a pure rotation.

    Between two views of a turning camera, points map by ``K R K^-1``; with a wrong focal no
    rotation explains the mapping, and the misfit grows with the angle turned. The frames
    whose points moved most relative to their keyframe (at least ``min_shift_frac`` of the
    image width; at most ``max_frames`` of them) are fitted for each candidate focal (principal
    point at the centre, square pixels) and the median of their robust RMS residuals is
    minimised (grid, then golden-section). Returns None when the camera turned too little or
    the minimum is not pronounced: a focal 10% off must fit ``min_contrast`` worse (relative).
    """
    moved = []
    for m in matches:
        if len(m.points) < 20:
            continue
        shift = float(np.median(np.linalg.norm(m.points - m.key_points, axis=1)))
        if shift >= min_shift_frac * width:
            moved.append((shift, m))
    if len(moved) < 3:
        return None
    moved.sort(key=lambda item: -item[0])
    chosen = [m for _, m in moved[:max_frames]]

    def cost(fov: float) -> float:
        f = 0.5 * width / np.tan(0.5 * np.radians(fov))
        K = np.array([[f, 0.0, 0.5 * width], [0.0, f, 0.5 * height], [0.0, 0.0, 1.0]])
        res = [fit_rotation(m.key_points, m.points, K, iterations=3)[1] for m in chosen]
        return float(np.median(res))

    fovs = np.linspace(fov_range[0], fov_range[1], 26)
    costs = np.array([cost(f) for f in fovs])
    i = int(np.argmin(costs))
    lo, hi = fovs[max(i - 1, 0)], fovs[min(i + 1, len(fovs) - 1)]
    inv_phi = (np.sqrt(5.0) - 1.0) / 2.0
    m1, m2 = hi - inv_phi * (hi - lo), lo + inv_phi * (hi - lo)
    c1, c2 = cost(m1), cost(m2)
    for _ in range(16):
        if c1 < c2:
            hi, m2, c2 = m2, m1, c1
            m1 = hi - inv_phi * (hi - lo)
            c1 = cost(m1)
        else:
            lo, m1, c1 = m1, m2, c2
            m2 = lo + inv_phi * (hi - lo)
            c2 = cost(m2)
    fov = 0.5 * (lo + hi)
    best = cost(fov)
    focal = 0.5 * width / np.tan(0.5 * np.radians(fov))
    side = []
    for k in (0.9, 1.1):
        side.append(cost(float(np.degrees(2 * np.arctan(0.5 * width / (focal * k))))))
    contrast = (min(side) - best) / max(best, 1e-3)
    if contrast < min_contrast:
        return None
    return RotationFocal(focal=float(focal), fov_x_deg=float(fov), contrast=float(contrast))
