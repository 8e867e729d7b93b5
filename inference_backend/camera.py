"""Camera intrinsics, per-frame root translation, ground plane and the gravity-aligned world.

Reusable by every solver. Frames: "camera" = OpenCV (x right, y down, z forward, metres);
"world" = Y up, ground at y = 0 (docs/motion_file.md). Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from inference_backend.motion_types import CameraIntrinsics

DEFAULT_FOV_DEG = 60.0
#: Every value of the motion file's ``camera.focal_source`` (docs/motion_file.md), in the order
#: ``choose_intrinsics`` ranks them; ``capture --help`` names them all.
FOCAL_SOURCES: tuple[str, ...] = ("override", "camera_rotation", "vanishing_points", "estimated",
                                  "prior")


def intrinsics_from_fov(width: int, height: int, fov_x_deg: float) -> np.ndarray:
    """K (3,3) for a horizontal field of view, square pixels, principal point at the centre."""
    f = 0.5 * width / np.tan(0.5 * np.radians(fov_x_deg))
    return np.array([[f, 0.0, 0.5 * width], [0.0, f, 0.5 * height], [0.0, 0.0, 1.0]])


def fov_from_focal(focal: float, size: float) -> float:
    """Field of view in degrees spanned by ``size`` pixels at focal length ``focal``."""
    return float(np.degrees(2.0 * np.arctan(0.5 * size / focal)))


def solve_root_translation(metric: np.ndarray, image: np.ndarray, weights: np.ndarray,
                           K: np.ndarray, iterations: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame translation T (F,3) so that ``project(metric + T)`` matches the image points.

    metric: (F,N,3) camera-aligned metric points relative to any body origin; image: (F,N,2)
    pixels; weights: (F,N) >= 0. Linear least squares on ``f (X + T) - (u - c)(Z + Tz) = 0``,
    re-weighted by 1/depth so that residuals are in pixels. Frames with fewer than 3 weighted
    points get NaN. Returns (T, rms reprojection error in pixels (F,)).
    """
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    return _root_translation(np.asarray(metric, float), np.asarray(image, float),
                             np.clip(np.asarray(weights, float), 0.0, None), fx, fy, cx, cy,
                             iterations)


def _root_translation(P: np.ndarray, uv: np.ndarray, w: np.ndarray, fx: float | np.ndarray,
                      fy: float | np.ndarray, cx: float, cy: float, iterations: int
                      ) -> tuple[np.ndarray, np.ndarray]:
    """``solve_root_translation`` with the focal lengths fx, fy either numbers or (G, 1)
    arrays of G candidates: then T is (G, F, 3) and the rms (G, F), each candidate's the same
    numbers as on its own (``estimate_focal`` tries a grid of focals at once)."""
    du, dv = uv[..., 0] - cx, uv[..., 1] - cy
    batch = np.ndim(fx) > 0
    fxp, fyp = (np.asarray(fx)[..., None], np.asarray(fy)[..., None]) if batch else (fx, fy)
    # Rows: [fx, 0, -du] T = du Z - fx X ; [0, fy, -dv] T = dv Z - fy Y. The normal equations
    # are written out (both rows of a point share its weight): no (F, 2N, 3) design matrix.
    bu = du * P[..., 2] - fxp * P[..., 0]
    bv = dv * P[..., 2] - fyp * P[..., 1]
    ww = w
    enough = (w > 0).sum(axis=-1) >= 3
    ata = np.empty(bu.shape[:-1] + (3, 3))
    atb = np.empty(bu.shape[:-1] + (3,))
    T = np.full(bu.shape[:-1] + (3,), np.nan)
    for _ in range(iterations):
        sw = ww.sum(-1)
        swu = np.sum(ww * du, -1)
        swv = np.sum(ww * dv, -1)
        ata[..., 0, 0] = fx * fx * sw + 1e-9
        ata[..., 1, 1] = fy * fy * sw + 1e-9
        ata[..., 0, 1] = ata[..., 1, 0] = 0.0
        ata[..., 0, 2] = ata[..., 2, 0] = -fx * swu
        ata[..., 1, 2] = ata[..., 2, 1] = -fy * swv
        ata[..., 2, 2] = np.sum(ww * (du * du + dv * dv), -1) + 1e-9
        atb[..., 0] = fx * np.sum(ww * bu, -1)
        atb[..., 1] = fy * np.sum(ww * bv, -1)
        atb[..., 2] = -np.sum(ww * (du * bu + dv * bv), -1)
        T = np.linalg.solve(ata, atb[..., None])[..., 0]
        z = np.maximum(P[..., 2] + T[..., None, 2], 0.05)
        ww = w / z ** 2
    xc = P + T[..., None, :]
    z = np.maximum(xc[..., 2], 1e-3)
    err2 = (fxp * xc[..., 0] / z + cx - uv[..., 0]) ** 2
    err2 += (fyp * xc[..., 1] / z + cy - uv[..., 1]) ** 2
    rms = np.sqrt(np.sum(w * err2, -1) / np.maximum(np.sum(w, -1), 1e-9))
    return np.where(enough[:, None], T, np.nan), np.where(enough, rms, np.nan)


@dataclass(frozen=True)
class FocalEstimate:
    """Result of ``estimate_focal``: focal (px), horizontal FOV (deg), how it was obtained."""

    focal: float
    fov_x_deg: float
    source: str               # "estimated" | "prior" | "override"
    curve: tuple = field(default=())   # (fov_deg, cost) samples, for diagnostics


def estimate_focal(samples: list[tuple[np.ndarray, np.ndarray, np.ndarray]], width: int,
                   height: int, prior_fov_deg: float = DEFAULT_FOV_DEG,
                   prior_weight: float = 0.02, fov_range: tuple[float, float] = (25.0, 110.0),
                   min_relative_gain: float = 0.03, max_frames: int = 300) -> FocalEstimate:
    """1-D search for the focal length that best explains metric landmarks as image landmarks.

    samples: per person (metric (F,N,3), image (F,N,2), weights (F,N)), frames already filtered
    to observed ones. For each candidate focal the per-frame translation is solved in closed
    form (``solve_root_translation``) and the mean squared reprojection error measured; the
    cost is that error relative to its minimum over the range plus
    ``prior_weight * (log(f / f_prior) / log(1.25))^2`` (a weak prior toward ~60 deg). When the
    error curve is flat (a focal 15% off costs less than ``min_relative_gain`` more), the
    perspective says nothing about the focal and the prior is returned.
    """
    f_prior = intrinsics_from_fov(width, height, prior_fov_deg)[0, 0]
    rng = np.random.default_rng(0)
    subs = []
    for metric, image, weights in samples:
        n = metric.shape[0]
        if n == 0:
            continue
        idx = np.sort(rng.choice(n, size=min(n, max_frames), replace=False))
        subs.append((metric[idx], image[idx], weights[idx]))
    if not subs:
        return FocalEstimate(f_prior, prior_fov_deg, "prior")
    fovs = np.linspace(fov_range[0], fov_range[1], 35)

    subs = [(np.asarray(m, float), np.asarray(i, float), np.clip(np.asarray(w, float), 0.0, None))
            for m, i, w in subs]

    def mse_many(fov: np.ndarray) -> np.ndarray:
        # the grid of focals at once (the numbers of one at a time, far fewer numpy calls)
        f = np.array([intrinsics_from_fov(width, height, v)[0, 0] for v in fov])[:, None]
        num, den = np.zeros(len(fov)), np.zeros(len(fov))
        for metric, image, weights in subs:
            _, rms = _root_translation(metric, image, weights, f, f, 0.5 * width,
                                       0.5 * height, 2)
            for g, row in enumerate(rms):
                ok = np.isfinite(row)
                num[g] += float(np.sum(row[ok] ** 2))
                den[g] += float(ok.sum())
        return num / np.maximum(den, 1.0)

    def mse(fov: float) -> float:
        return float(mse_many(np.array([fov]))[0])

    errs = mse_many(fovs)
    floor = max(errs.min(), 1e-6)

    def cost(fov: float, err: float) -> float:
        f = 0.5 * width / np.tan(0.5 * np.radians(fov))
        return err / floor + prior_weight * (np.log(f / f_prior) / np.log(1.25)) ** 2

    costs = np.array([cost(f, e) for f, e in zip(fovs, errs, strict=True)])
    i = int(np.argmin(costs))
    lo, hi = fovs[max(i - 1, 0)], fovs[min(i + 1, len(fovs) - 1)]
    # Golden-section refinement inside the bracketing grid cells; each step keeps one of the
    # two inner points (and its cost), so it costs one evaluation.
    inv_phi = (np.sqrt(5.0) - 1.0) / 2.0
    m1, m2 = hi - inv_phi * (hi - lo), lo + inv_phi * (hi - lo)
    c1, c2 = cost(m1, mse(m1)), cost(m2, mse(m2))
    for _ in range(20):
        if c1 < c2:
            hi, m2, c2 = m2, m1, c1
            m1 = hi - inv_phi * (hi - lo)
            c1 = cost(m1, mse(m1))
        else:
            lo, m1, c1 = m1, m2, c2
            m2 = lo + inv_phi * (hi - lo)
            c2 = cost(m2, mse(m2))
    best_fov = 0.5 * (lo + hi)
    best_err = mse(best_fov)
    focal = 0.5 * width / np.tan(0.5 * np.radians(best_fov))
    curve = tuple(zip(fovs.tolist(), errs.tolist(), strict=True))
    # Conditioning: a focal 15% off must cost noticeably more, else the data are silent.
    side = [mse(fov_from_focal(focal * k, width)) for k in (0.85, 1.15)]
    if min(side) - best_err < min_relative_gain * best_err:
        return FocalEstimate(f_prior, prior_fov_deg, "prior", curve)
    return FocalEstimate(float(focal), float(best_fov), "estimated", curve)


def choose_intrinsics(samples: list[tuple[np.ndarray, np.ndarray, np.ndarray]], width: int,
                      height: int, fov_deg: float | None = None,
                      prior_fov_deg: float = DEFAULT_FOV_DEG,
                      footage_fov_deg: float | None = None,
                      lines_fov_deg: float | None = None,
                      ) -> tuple[CameraIntrinsics, tuple[str, ...]]:
    """The intrinsics every solver works with: the ``fov_deg`` override (horizontal degrees)
    when given, else the field of view measured from the camera's own turning
    (``footage_fov_deg``, source "camera_rotation"), else the one the background's straight
    lines give (``lines_fov_deg``, source "vanishing_points", see vanishing_points.py), else
    ``estimate_focal`` on the samples (see there). Returns the intrinsics and the warnings to
    pass on (the prior was assumed)."""
    warnings: tuple[str, ...] = ()
    if fov_deg is not None:
        if not 1.0 < fov_deg < 179.0:
            raise ValueError(f"fov_deg must be between 1 and 179 degrees, got {fov_deg}")
        fov, source = float(fov_deg), "override"
    elif footage_fov_deg is not None:
        fov, source = float(footage_fov_deg), "camera_rotation"
    elif lines_fov_deg is not None:
        fov, source = float(lines_fov_deg), "vanishing_points"
    else:
        focal = estimate_focal(samples, width, height, prior_fov_deg)
        fov, source = focal.fov_x_deg, focal.source
        if focal.source == "prior":
            warnings = (f"focal length not observable; assumed a {focal.fov_x_deg:.0f} deg "
                        "horizontal field of view (the camera does not turn and the "
                        "background shows no straight edges in two directions at right angles, "
                        "such as a room's floor and walls; distances and the camera height "
                        "scale with it: give --fov DEG, the capture panel's Field of View, "
                        "if the lens is known)",)
    return CameraIntrinsics(intrinsics_from_fov(width, height, fov), fov, source), warnings


# ------------------------------------------------------------------------------- the ground
@dataclass(frozen=True)
class GroundPlane:
    """Plane ``normal . x = offset`` in camera coordinates; normal points up (unit)."""

    normal: np.ndarray
    offset: float
    source: str               # "feet" | "torso_prior"
    support: int = 0          # foot points within tolerance of the plane
    levels: tuple = ()        # heights (m) of other well-supported parallel levels, above it


def fit_ground_plane(foot_points: np.ndarray, up_prior: np.ndarray, tolerance: float = 0.04,
                     min_support: int = 20, prior_strength: float = 0.03 ** 2,
                     iterations: int = 300, seed: int = 0,
                     max_tilt_deg: float = 10.0,
                     parallel_paths: list[np.ndarray] | None = None,
                     path_max_std: float = 0.12,
                     still_runs: np.ndarray | None = None) -> GroundPlane | None:
    """Lowest well-supported plane through slow foot points (N,3) in camera coordinates.

    1. RANSAC for the dominant plane whose normal is within ``max_tilt_deg`` of ``up_prior``
       (the torso direction); 2. heights along that normal are clustered into levels (parallel
       planes, e.g. a floor and a platform) with ``min_support`` points (and at least 10% of
       the points) each; 3. the normal is re-fitted on all levels at once as the smallest
       eigenvector of the pooled within-level scatter + ``lambda (I - u u^T)``
       (``lambda = prior_strength * n``): foot points of a walk often lie in a strip, and the
       prior fixes the direction the strip does not determine; 2-3 are repeated three times.
       The lowest level is the ground. Returns None when there are too few points.
    ``parallel_paths``: optional point sets (N_i, 3) known to lie each in a plane parallel to
    the ground, e.g. a walking person's smoothed pelvis path; they join the pooled scatter of
    step 3 and pin down the tilt when the feet are noisy.
    ``still_runs``: optional (N,) int label per point, equal for the points of one foot that
    stays still in the image (-1: none). Such a foot is one fixed point in the world, so
    levels that share a still foot are one surface seen at two depths (a monocular fit that
    misjudges the depth of a few poses, e.g. a deep squat, moves the planted feet along their
    view rays, up or down): of linked levels only the best supported is a surface; the
    others' points are dropped and the plane is fitted again without them. In step 1 each
    still foot casts one vote, not one per frame.
    """
    pts = np.asarray(foot_points, float)
    finite = np.all(np.isfinite(pts), axis=1)
    pts = pts[finite]
    up = np.asarray(up_prior, float)
    up = up / np.linalg.norm(up)
    runs = None if still_runs is None else np.asarray(still_runs)[finite]
    while True:
        if len(pts) < max(min_support, 3):
            return None
        votes = _still_foot_votes(runs, len(pts))
        normal = _ransac_up_normal(pts, votes, up, tolerance, iterations, seed, max_tilt_deg)
        min_count = max(min_support, int(0.1 * len(pts)))
        for _ in range(3):
            heights = pts @ normal
            levels = _height_levels(heights, tolerance, min_count)
            if not levels:
                return None
            groups = [pts[np.abs(heights - lv) < tolerance] for lv in levels]
            # A path joins only when it is roughly level along the torso prior (a jump, a
            # flip or stairs are not): height spread below ``path_max_std``.
            groups += [path for path in (parallel_paths or [])
                       if len(path) >= 3 and np.std(path @ up) < path_max_std]
            normal = _refine_normal_levels(groups, normal, up, prior_strength)
        heights = pts @ normal
        levels = _height_levels(heights, tolerance, min_count)
        if not levels:
            return None
        artefact = (np.zeros(len(pts), bool) if runs is None
                    else _depth_artefact_points(heights, levels, tolerance, runs, votes))
        if not artefact.any():
            break
        pts, runs = pts[~artefact], runs[~artefact]     # fit again without them
    inl = np.abs(heights - levels[0]) < tolerance
    ground = float(np.median(heights[inl]))
    others = tuple(float(h - ground) for h in levels[1:])
    return GroundPlane(normal=normal, offset=ground, source="feet", support=int(inl.sum()),
                       levels=others)


def _still_foot_votes(runs: np.ndarray | None, n: int) -> np.ndarray:
    """(n,) RANSAC vote per foot point: a still foot is one world point, however many frames
    it stands (else one long stance whose depth the fit misjudges outvotes a walk's many
    footsteps); a point not still in the image counts as a frame of a typical still foot.
    runs: (n,) still-foot labels (-1: none) or None."""
    votes = np.ones(n)
    if runs is not None and (runs >= 0).any():
        labels, inverse, counts = np.unique(runs, return_inverse=True, return_counts=True)
        typical = float(np.median(counts[labels >= 0]))
        votes = np.where(runs >= 0, 1.0 / counts[inverse], 1.0 / max(typical, 1.0))
    return votes


def _ransac_up_normal(pts: np.ndarray, votes: np.ndarray, up: np.ndarray, tolerance: float,
                      iterations: int, seed: int, max_tilt_deg: float) -> np.ndarray:
    """Unit normal (3,) of the plane through three of ``pts`` (N,3) with the most ``votes``
    within ``tolerance`` (m), among planes tilted at most ``max_tilt_deg`` from ``up``;
    ``up`` itself when no sample qualifies."""
    rng = np.random.default_rng(seed)
    best_n, best_votes = up, -1.0
    cos_max = np.cos(np.radians(max_tilt_deg))
    for _ in range(iterations):
        a, b, c = pts[rng.choice(len(pts), 3, replace=False)]
        n = np.cross(b - a, c - a)
        norm = np.linalg.norm(n)
        if norm < 1e-6:
            continue
        n = n / norm
        if n @ up < 0:
            n = -n
        if n @ up < cos_max:
            continue
        inl = np.abs((pts - a) @ n) < tolerance
        if votes[inl].sum() > best_votes:
            best_n, best_votes = n, float(votes[inl].sum())
    return best_n


def _depth_artefact_points(heights: np.ndarray, levels: list[float], tol: float,
                           runs: np.ndarray, votes: np.ndarray, min_shared: int = 3
                           ) -> np.ndarray:
    """(N,) bool: points of levels that share a still foot (a run label, >= ``min_shared``
    points in each) with a level that more still feet stand on (the sum of ``votes``, one
    per still foot); see ``fit_ground_plane``'s ``still_runs``. heights (N,) along the
    normal, levels their modes, runs (N,) labels (-1: none)."""
    member = np.full(len(heights), -1)
    for k, lv in enumerate(levels):
        member[(member < 0) & (np.abs(heights - lv) < tol)] = k
    on = member >= 0
    support = np.bincount(member[on], weights=votes[on], minlength=len(levels))
    group = list(range(len(levels)))            # union-find over levels sharing a run

    def find(k: int) -> int:
        while group[k] != k:
            k = group[k]
        return k

    for run in np.unique(runs[(runs >= 0) & (member >= 0)]):
        counts = np.bincount(member[(runs == run) & (member >= 0)], minlength=len(levels))
        linked = np.flatnonzero(counts >= min_shared)
        for k in linked[1:]:
            group[find(int(k))] = find(int(linked[0]))
    drop = np.zeros(len(heights), bool)
    for k in range(len(levels)):
        best = max(support[i] for i in range(len(levels)) if find(i) == find(k))
        if support[k] < best:
            drop |= member == k
    return drop


def _refine_normal(pts: np.ndarray, normal: np.ndarray, up: np.ndarray,
                   prior_strength: float) -> np.ndarray:
    if len(pts) < 3:
        return normal
    centred = pts - pts.mean(axis=0)
    cov = centred.T @ centred
    lam = prior_strength * len(pts)
    m = cov + lam * (np.eye(3) - np.outer(up, up))
    _, vecs = np.linalg.eigh(m)
    n = vecs[:, 0]
    return n if n @ normal >= 0 else -n


def _refine_normal_levels(groups: list[np.ndarray], normal: np.ndarray, up: np.ndarray,
                          prior_strength: float) -> np.ndarray:
    groups = [g for g in groups if len(g) >= 3]
    if not groups:
        return normal
    cov = sum((g - g.mean(0)).T @ (g - g.mean(0)) for g in groups)
    count = sum(len(g) for g in groups)
    m = cov + prior_strength * count * (np.eye(3) - np.outer(up, up))
    _, vecs = np.linalg.eigh(m)
    n = vecs[:, 0]
    return n if n @ normal >= 0 else -n


def _height_levels(heights: np.ndarray, tol: float, min_count: int) -> list[float]:
    """Modes of a 1-D height sample with at least min_count points within tol, lowest first."""
    h = np.sort(heights)
    levels: list[float] = []
    used = np.zeros(len(h), bool)
    # Greedy: densest window first, remove it, repeat.
    for _ in range(6):
        free = np.where(~used)[0]
        if len(free) < min_count:
            break
        hf = h[free]
        right = np.searchsorted(hf, hf + 2 * tol, side="right")
        counts = right - np.arange(len(hf))
        i = int(np.argmax(counts))
        if counts[i] < min_count:
            break
        window = hf[i:right[i]]
        centre = float(np.median(window))
        levels.append(centre)
        used[free[i:right[i]]] = True
    return sorted(levels)


def plane_from_torso_prior(up: np.ndarray, pelvis_points: np.ndarray,
                           pelvis_height: float = 0.95) -> GroundPlane:
    """Fallback ground: normal = mean torso-up direction; plane ``pelvis_height`` m below the
    lowest 10th percentile of pelvis heights (pelvis_points (N,3) camera coordinates)."""
    n = np.asarray(up, float) / np.linalg.norm(up)
    heights = np.asarray(pelvis_points, float) @ n
    return GroundPlane(normal=n, offset=float(np.percentile(heights, 10) - pelvis_height),
                       source="torso_prior")


def torso_up_prior(pelvis_to_neck: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Mean direction (3,) of pelvis->neck vectors (N,3) in camera coordinates (unit)."""
    v = np.asarray(pelvis_to_neck, float)
    v = v[np.all(np.isfinite(v), axis=1)]
    if len(v) == 0:
        return np.array([0.0, -1.0, 0.0])
    u = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
    m = u.mean(axis=0) if weights is None else (u * weights[:, None]).sum(0)
    return m / np.linalg.norm(m)


# -------------------------------------------------------------------------------- the world
@dataclass(frozen=True)
class WorldFrame:
    """World-to-camera ``x_cam = R @ X + t`` (R (3,3), t (3,)) and the camera's height (m)."""

    R: np.ndarray
    t: np.ndarray
    camera_height: float


def world_from_ground(plane: GroundPlane, anchor_cam: np.ndarray) -> WorldFrame:
    """World frame: Y = plane normal (up), origin = ground point under ``anchor_cam`` (3,),
    Z = horizontal direction from the anchor toward the camera (a person facing the camera
    faces +Z), X = Y x Z."""
    y = plane.normal / np.linalg.norm(plane.normal)
    a = np.asarray(anchor_cam, float)
    origin = a - (a @ y - plane.offset) * y
    to_cam = -origin
    z = to_cam - (to_cam @ y) * y
    if np.linalg.norm(z) < 1e-6:           # camera straight above: any horizontal direction
        z = np.cross(np.array([1.0, 0.0, 0.0]), y)
    z = z / np.linalg.norm(z)
    x = np.cross(y, z)
    R = np.stack([x, y, z], axis=1)        # columns: world axes in camera coordinates
    return WorldFrame(R=R, t=origin, camera_height=float(-plane.offset))


def camera_to_world_points(points_cam: np.ndarray, world: WorldFrame) -> np.ndarray:
    """(..., 3) camera coordinates -> world coordinates (``X = R^T (x - t)``)."""
    return (np.asarray(points_cam, float) - world.t) @ world.R
