"""Focal length from the background's straight lines (Manhattan-world calibration). Pure numpy
(the line segments come from OpenCV's LSD in ``detect_segments``).

Man-made scenes are full of straight edges along three orthogonal directions (floor tiles,
wall panels, door frames, pillars). The edges of one direction meet in the image at one
vanishing point; with square pixels and the principal point ``c`` at the image centre, two
vanishing points ``v1``, ``v2`` of orthogonal directions give the focal length

    f^2 = -(v1 - c) . (v2 - c)        (pixels)

Per frame: segments (the people's boxes masked out) -> vanishing points by sequential RANSAC
on the segments (a point from two segments, its support = the summed length of the segments
that point at it within ``inlier_px``) refined by iteratively re-weighted least squares on
the segments' angular error -> the best-conditioned pair with ``f^2 > 0``; a bootstrap over
each vanishing point's segments gives the focal's spread. A vanishing point far outside the
image (edges nearly parallel in the image) leaves ``f`` ill-conditioned: the bootstrap spread
shows it and the frame is refused. Over frames (``combine_frames``): the accepted frames must
agree (a static camera sees the same points; a moving one is judged per frame anyway).

Image coordinates: pixels of the frame the segments were found in, x right, y down.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LineFocalConfig:
    """Settings of the line-based focal estimate. Lengths in pixels are for the frame as
    analysed (``max_side`` pixels on its longer side at most)."""

    max_side: int = 960                 # frames are downscaled to this longer side first
    #: OpenCV LSD's scale and sigma_scale (its defaults) and gradient quantisation bound
    #: (default 2.0, halved: edges of ~10 grey levels, a floor tile in shade, count)
    lsd_scale: float = 0.8
    lsd_sigma_scale: float = 0.6
    lsd_quant: float = 1.0
    min_length_frac: float = 0.025      # shortest segment kept, fraction of the longer side
    mask_margin: float = 0.10           # people's boxes grown by this fraction of their size
    inlier_px: float = 1.5              # a segment's ends within this of the line to the VP
    ransac_iterations: int = 400
    max_points: int = 4                 # vanishing points looked for per frame
    min_segments: int = 12              # inlier segments a vanishing point needs
    min_support_frac: float = 1.5       # ... and summed inlier length, in image longer sides
    fov_range_deg: tuple[float, float] = (20.0, 130.0)   # horizontal FOV a result may have
    max_rel_sigma: float = 0.05         # a frame's focal 1-sigma at most this
    #: The bootstrap sees only the segments' random scatter; edge detection on a pixel grid
    #: also bends near-parallel edges by a fraction of a pixel alike, which moves a far
    #: vanishing point (on OpenCV-drawn test rooms at 640x360: 2-9 % at 40 deg, < 1 % at 60).
    #: This relative 1-sigma is added in quadrature for the triplet test and the report.
    sigma_floor: float = 0.02
    triplet_sigmas: float = 3.0         # a third point may disagree by at most this many sigma
    bootstrap: int = 60
    min_valid_frac: float = 0.95        # bootstrap draws with a real focal in range
    max_frame_spread: float = 0.05      # accepted frames' relative spread (MAD) at most this
    min_frames: int = 2                 # accepted frames needed (fewer sampled: all of them)
    seed: int = 0


@dataclass(frozen=True)
class VanishingPoint:
    """A vanishing point: homogeneous ``point`` (3,) in centred, scaled coordinates
    ((x - cx) / s, (y - cy) / s, w), unit norm; the indices of its inlier segments; their
    summed length (px)."""

    point: np.ndarray
    inliers: np.ndarray
    support_px: float


@dataclass(frozen=True)
class FrameFocal:
    """One frame's result: ``focal`` (px, NaN when refused), its bootstrap 1-sigma relative
    to the focal, the vanishing points found, and ``reason`` ("" when accepted)."""

    focal: float
    rel_sigma: float
    points: tuple[VanishingPoint, ...]
    reason: str


@dataclass(frozen=True)
class LineFocal:
    """The clip's result: ``focal`` (px of the full frame) and horizontal FOV (deg), or NaN
    with ``reason`` saying why it is not observable; per-frame results for diagnostics."""

    focal: float
    fov_x_deg: float
    rel_sigma: float
    frames_used: int
    frames: tuple[FrameFocal, ...]
    reason: str

    @property
    def observable(self) -> bool:
        return bool(np.isfinite(self.focal))


# ------------------------------------------------------------------------------ segments
def detect_segments(grey: np.ndarray, boxes: np.ndarray | None = None,
                    config: LineFocalConfig = LineFocalConfig()) -> np.ndarray:
    """Straight segments (N, 4) ``x1, y1, x2, y2`` (pixels of ``grey``) of a grey uint8 image
    (h, w), at least ``min_length_frac`` of the longer side long, none touching a box
    (M, 4) ``x0, y0, x1, y1`` (pixels of ``grey``) grown by ``mask_margin``."""
    import cv2  # noqa: PLC0415  (OpenCV is a dependency of the backend; lazy like the others)

    lsd = cv2.createLineSegmentDetector(cv2.LSD_REFINE_STD, config.lsd_scale,
                                        config.lsd_sigma_scale, config.lsd_quant)
    found = lsd.detect(np.ascontiguousarray(grey))[0]
    if found is None:
        return np.zeros((0, 4))
    seg = found.reshape(-1, 4).astype(np.float64)
    length = np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1])
    seg = seg[length >= config.min_length_frac * max(grey.shape[:2])]
    if boxes is not None and len(boxes) and len(seg):
        keep = np.ones(len(seg), bool)
        t = np.linspace(0.0, 1.0, 9)
        xs = seg[:, None, 0] + t * (seg[:, None, 2] - seg[:, None, 0])
        ys = seg[:, None, 1] + t * (seg[:, None, 3] - seg[:, None, 1])
        for x0, y0, x1, y1 in np.asarray(boxes, float).reshape(-1, 4):
            mx, my = config.mask_margin * (x1 - x0), config.mask_margin * (y1 - y0)
            inside = ((xs >= x0 - mx) & (xs <= x1 + mx) & (ys >= y0 - my) & (ys <= y1 + my))
            keep &= ~inside.any(axis=1)
        seg = seg[keep]
    return seg


# ---------------------------------------------------------------------- vanishing points
def _lines(seg: np.ndarray, centre: np.ndarray, scale: float):
    """Unit-normal homogeneous lines (N, 3), midpoints (N, 3) and lengths (N,) (px) of the
    segments in centred coordinates divided by ``scale``."""
    p1 = np.column_stack([(seg[:, :2] - centre) / scale, np.ones(len(seg))])
    p2 = np.column_stack([(seg[:, 2:] - centre) / scale, np.ones(len(seg))])
    lines = np.cross(p1, p2)
    lines /= np.linalg.norm(lines[:, :2], axis=1, keepdims=True)
    mid = 0.5 * (p1 + p2)
    length = np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1])
    return lines, mid, length


def _end_distance(point: np.ndarray, mid: np.ndarray, p1: np.ndarray) -> np.ndarray:
    """Distance (scaled units) of each segment's end ``p1`` (N, 3) from the line through its
    midpoint and the homogeneous ``point`` (3,) or points (K, 3) -> (N,) or (K, N)."""
    # the cross product mid x point, its xy norm and its dot with p1 written out per component
    # (the same operations in the same order as np.cross / np.linalg.norm / np.sum over the
    # last axis, without their (K, N, 3) temporaries)
    q = np.atleast_2d(point)
    m0, m1, m2 = mid[None, :, 0], mid[None, :, 1], mid[None, :, 2]
    q0, q1, q2 = q[:, None, 0], q[:, None, 1], q[:, None, 2]
    t0 = m1 * q2 - m2 * q1
    t1 = m2 * q0 - m0 * q2
    t2 = m0 * q1 - m1 * q0
    norm = np.sqrt(t0 * t0 + t1 * t1)
    d = np.abs((t0 * p1[None, :, 0] + t1 * p1[None, :, 1]) + t2 * p1[None, :, 2])
    d /= np.maximum(norm, 1e-12)
    return d[0] if np.ndim(point) == 1 else d


def _refine(lines: np.ndarray, mid: np.ndarray, length: np.ndarray, point: np.ndarray,
            iterations: int = 4) -> np.ndarray:
    """The point (3,) unit minimising the segments' squared angular errors, weighted by
    length^2 (a segment's direction noise goes as 1/length): re-weighted eigen solves of
    ``sum w (l . v)^2``, ``w = length^2 / |v_xy - m v_w|^2`` (``l . v`` over that distance
    is the angle between the segment and the direction to the point)."""
    return _refine_draws(lines[None], mid[None], length[None], point, iterations)[0]


def _refine_draws(lines: np.ndarray, mid: np.ndarray, length: np.ndarray, point: np.ndarray,
                  iterations: int = 2) -> np.ndarray:
    """``_refine`` of ``point`` (3,) on each of B segment sets at once (the bootstrap's
    resampled draws): ``lines``, ``mid`` (B, n, 3), ``length`` (B, n) -> points (B, 3); one
    matrix product and one eigen solve per set and iteration."""
    v = np.broadcast_to(point / np.linalg.norm(point), (len(lines), 3))
    for _ in range(iterations):
        reach = np.linalg.norm(v[:, None, :2] - mid[..., :2] * v[:, None, 2:3], axis=2)
        w = length ** 2 / np.maximum(reach, 1e-6) ** 2
        m = np.matmul((lines * w[..., None]).transpose(0, 2, 1), lines)
        _, vecs = np.linalg.eigh(m)
        new = vecs[:, :, 0]
        v = np.where((np.sum(new * v, axis=1) >= 0)[:, None], new, -new)
    return v


def find_vanishing_points(seg: np.ndarray, width: int, height: int,
                          config: LineFocalConfig = LineFocalConfig(),
                          rng: np.random.Generator | None = None) -> list[VanishingPoint]:
    """Up to ``max_points`` vanishing points of the segments (N, 4) px, strongest first
    (sequential RANSAC, each refined; a point needs ``min_segments`` inliers and
    ``min_support_frac`` image sides of summed length)."""
    rng = rng if rng is not None else np.random.default_rng(config.seed)
    if len(seg) < 2:
        return []
    centre = np.array([0.5 * width, 0.5 * height])
    scale = 0.5 * max(width, height)
    lines, mid, length = _lines(seg, centre, scale)
    p1 = np.column_stack([(seg[:, :2] - centre) / scale, np.ones(len(seg))])
    tol = config.inlier_px / scale
    free = np.ones(len(seg), bool)
    found: list[VanishingPoint] = []
    need_support = config.min_support_frac * max(width, height)
    for _ in range(config.max_points):
        idx = np.where(free)[0]
        if len(idx) < config.min_segments:
            break
        prob = length[idx] / length[idx].sum()
        pairs = rng.choice(idx, size=(config.ransac_iterations, 2), p=prob)
        pairs = pairs[pairs[:, 0] != pairs[:, 1]]
        cand = np.cross(lines[pairs[:, 0]], lines[pairs[:, 1]])
        norm = np.linalg.norm(cand, axis=1)
        cand = cand[norm > 1e-12] / norm[norm > 1e-12, None]
        if not len(cand):
            break
        dist = _end_distance(cand, mid[idx], p1[idx])            # (K, n)
        score = ((dist < tol) * length[idx]).sum(axis=1)
        top = int(np.argmax(score))
        best = cand[top]
        inl = idx[dist[top] < tol]
        if len(inl) < 2:
            break
        v = _refine(lines[inl], mid[inl], length[inl], best)
        inl = idx[_end_distance(v, mid[idx], p1[idx]) < tol]
        if len(inl) < config.min_segments or length[inl].sum() < need_support:
            break
        v = _refine(lines[inl], mid[inl], length[inl], v)
        found.append(VanishingPoint(v, inl, float(length[inl].sum())))
        free[inl] = False
    # Segments that point at two of the points (a far floor line along the horizon points at
    # both horizontal vanishing points) say nothing about either and bias the far one: each
    # point is re-fitted on the segments that point at it alone, twice.
    for _ in range(2):
        if len(found) < 2:
            break
        near = np.stack([_end_distance(p.point, mid, p1) < tol for p in found])
        alone = near & (near.sum(axis=0) == 1)
        kept = []
        for p, mine in zip(found, alone, strict=True):
            inl = np.where(mine)[0]
            if len(inl) < config.min_segments or length[inl].sum() < need_support:
                continue
            v = _refine(lines[inl], mid[inl], length[inl], p.point)
            kept.append(VanishingPoint(v, inl, float(length[inl].sum())))
        found = kept
    return found


# ------------------------------------------------------------------------------- focal
def _focal_sq(a: np.ndarray, b: np.ndarray, scale: float) -> np.ndarray:
    """``-(v1 - c).(v2 - c)`` in px^2 for homogeneous points (..., 3) in scaled centred
    coordinates; NaN where either point is at infinity."""
    with np.errstate(divide="ignore", invalid="ignore"):
        d = -(a[..., 0] * b[..., 0] + a[..., 1] * b[..., 1]) / (a[..., 2] * b[..., 2])
    return d * scale ** 2


def frame_focal(seg: np.ndarray, width: int, height: int,
                config: LineFocalConfig = LineFocalConfig()) -> FrameFocal:
    """The focal length (px) one frame's segments (N, 4) determine, or a refusal with its
    reason. See the module docstring."""
    rng = np.random.default_rng(config.seed)
    points = find_vanishing_points(seg, width, height, config, rng)
    if len(points) < 2:
        return FrameFocal(np.nan, np.inf, tuple(points),
                          f"{len(points)} line direction(s) with enough edges (2 needed)")
    centre = np.array([0.5 * width, 0.5 * height])
    scale = 0.5 * max(width, height)
    lines, mid, length = _lines(seg, centre, scale)
    # bootstrap: each point re-fitted on resampled inlier segments (one refine step from the
    # fit, enough for the spread)
    draws = []
    for vp in points:
        inl = vp.inliers
        picks = np.stack([inl[rng.integers(0, len(inl), len(inl))]
                          for _ in range(config.bootstrap)])
        draws.append(_refine_draws(lines[picks], mid[picks], length[picks], vp.point,
                                   iterations=2))
    lo_f, hi_f = (0.5 * width / np.tan(0.5 * np.radians(a))
                  for a in config.fov_range_deg[::-1])
    pairs = []
    for i in range(len(points)):
        for j in range(i + 1, len(points)):
            f2 = _focal_sq(points[i].point, points[j].point, scale)
            if not (np.isfinite(f2) and lo_f ** 2 <= f2 <= hi_f ** 2):
                continue
            boot_f2 = _focal_sq(draws[i], draws[j], scale)
            valid = np.isfinite(boot_f2) & (boot_f2 > lo_f ** 2) & (boot_f2 < hi_f ** 2)
            f = float(np.sqrt(f2))
            if valid.mean() < config.min_valid_frac:
                pairs.append((np.inf, f, i, j))
                continue
            boot_f = np.sqrt(boot_f2[valid])
            sigma = 1.4826 * float(np.median(np.abs(boot_f - np.median(boot_f))))
            pairs.append((float(np.hypot(sigma / f, config.sigma_floor)), f, i, j))
    if not pairs:
        return FrameFocal(np.nan, np.inf, tuple(points),
                          "no pair of line directions meets as an orthogonal pair in view")
    pairs.sort()
    rel, f, i, j = pairs[0]
    if not rel <= config.max_rel_sigma:
        why = ("a vanishing point near infinity" if not np.isfinite(rel)
               else f"focal 1-sigma {rel:.0%}")
        return FrameFocal(np.nan, rel, tuple(points),
                          f"vanishing points ill-conditioned ({why})")
    # a third direction that pairs well-conditioned with both must agree (a Manhattan triplet)
    by_pair = {(a, b): (r, fk) for r, fk, a, b in pairs}
    for k in set(range(len(points))) - {i, j}:
        with_i = by_pair.get((min(i, k), max(i, k)))
        with_j = by_pair.get((min(j, k), max(j, k)))
        if with_i and with_j and max(with_i[0], with_j[0]) <= config.max_rel_sigma:
            for rel_k, f_k in (with_i, with_j):
                if abs(f_k - f) / f > config.triplet_sigmas * np.hypot(rel, rel_k):
                    return FrameFocal(np.nan, rel, tuple(points),
                                      "three line directions are not mutually orthogonal")
    return FrameFocal(f, rel, tuple(points), "")


def combine_frames(results: list[FrameFocal], width: int,
                   config: LineFocalConfig = LineFocalConfig(),
                   to_full: float = 1.0) -> LineFocal:
    """The clip's focal from per-frame results: the median of the accepted frames, when at
    least ``min_frames`` of them (all, for fewer sampled frames) agree within
    ``max_frame_spread``. ``to_full``: full-frame pixels per analysed pixel; ``width``: the
    analysed frames' width."""
    ok = [r for r in results if np.isfinite(r.focal)]
    need = min(config.min_frames, len(results))
    if not results:
        return LineFocal(np.nan, np.nan, np.inf, 0, (), "no frames to look at")
    if len(ok) < max(need, 1):
        reasons = sorted({r.reason for r in results if r.reason})
        return LineFocal(np.nan, np.nan, np.inf, len(ok), tuple(results),
                         f"{len(ok)} of {len(results)} frames show two orthogonal line "
                         f"directions clearly ({'; '.join(reasons)})")
    f = np.array([r.focal for r in ok])
    med = float(np.median(f))
    spread = 1.4826 * float(np.median(np.abs(f - med))) / med
    if spread > config.max_frame_spread:
        return LineFocal(np.nan, np.nan, spread, len(ok), tuple(results),
                         f"the frames disagree (focal spread {spread:.0%})")
    rel = max(spread, float(np.median([r.rel_sigma for r in ok])))
    fov = float(np.degrees(2.0 * np.arctan(0.5 * width / med)))
    return LineFocal(med * to_full, fov, rel, len(ok), tuple(results), "")


def focal_from_frames(frames: list[tuple[np.ndarray, np.ndarray]],
                      config: LineFocalConfig = LineFocalConfig(),
                      to_full: float = 1.0) -> LineFocal:
    """The focal length of a clip from a few grey frames: ``frames`` = [(grey (h, w) uint8,
    people's boxes (M, 4) px of that image)], all of one size. Returns a ``LineFocal`` in
    full-frame pixels (``to_full`` of them per given pixel; NaN + reason when not
    observable)."""
    if not frames:
        return combine_frames([], 1, config)
    h, w = frames[0][0].shape[:2]
    results = [frame_focal(detect_segments(g, b, config), w, h, config) for g, b in frames]
    return combine_frames(results, w, config, to_full)


class FrameSampler:
    """Keeps at most ``keep`` grey frames spread evenly over a clip, with the people's boxes,
    for ``focal_from_frames``, and analyses them while the capture goes on.

    Told the clip's length (``expect``: the decoder's frame count, when the container says) every
    ``ceil(expected_frames / keep)``-th frame is kept and its lines and vanishing points are
    worked out at once on a background thread (OpenCV's segment detector releases the GIL, so
    on a multi-core CPU it overlaps the landmark passes: ~0.1 s per 960 px frame otherwise
    sits between detection and the solve). Without a count every frame is kept at first and,
    when more than ``keep`` are held, every other one is dropped and the stride doubled (5-8
    frames of a long clip, spaced by a power of two), and the analysis waits for ``estimate``.
    Should the count prove short, the doubling takes over (already analysed frames that it
    drops were wasted work, nothing worse). Frames are downscaled to ``config.max_side`` on
    their longer side. ``close`` (or leaving a ``with`` block) stops the thread.
    """

    def __init__(self, keep: int = 8, config: LineFocalConfig = LineFocalConfig()) -> None:
        self.keep = keep
        self.config = config
        self.stride = 1
        self.to_full = 1.0
        self.frames: list[tuple[int, np.ndarray, np.ndarray]] = []
        self._early = False
        self._pool: ThreadPoolExecutor | None = None
        self._analysed: dict[int, Future[FrameFocal]] = {}

    def expect(self, frames: int) -> None:
        """The clip will have about ``frames`` frames (0: unknown); call before the first
        ``add``. Kept frames are then analysed as they arrive."""
        if frames > 0 and not self.frames:
            self.stride = max(1, -(-int(frames) // self.keep))
            self._early = True

    def add(self, pos: int, rgb: np.ndarray, boxes: np.ndarray, scale: float = 1.0) -> None:
        """Offer frame ``pos`` (0, 1, 2, ... in order): ``rgb`` (h, w, 3) uint8, ``boxes``
        (M, 4) ``x0, y0, x1, y1`` in full-frame pixels, ``scale`` full-frame pixels per
        ``rgb`` pixel."""
        if pos % self.stride:
            return
        import cv2  # noqa: PLC0415

        grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
        h, w = grey.shape
        shrink = max(1.0, max(h, w) / self.config.max_side)
        if shrink > 1.0:
            grey = cv2.resize(grey, (max(2, round(w / shrink)), max(2, round(h / shrink))),
                              interpolation=cv2.INTER_AREA)
        self.to_full = float(scale) * shrink
        boxes = np.asarray(boxes, float).reshape(-1, 4) / self.to_full
        self.frames.append((pos, grey, boxes))
        if len(self.frames) > self.keep:
            self.stride *= 2
            self.frames = [fr for fr in self.frames if fr[0] % self.stride == 0]
            kept = {fr[0] for fr in self.frames}
            for dropped in set(self._analysed) - kept:
                self._analysed.pop(dropped).cancel()
        elif self._early:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1,
                                                thread_name_prefix="str-mocap-lines")
            self._analysed[pos] = self._pool.submit(self._analyse, grey, boxes)

    def _analyse(self, grey: np.ndarray, boxes: np.ndarray) -> FrameFocal:
        h, w = grey.shape
        return frame_focal(detect_segments(grey, boxes, self.config), w, h, self.config)

    def estimate(self) -> LineFocal:
        """The clip's focal from the kept frames (full-frame pixels): ``combine_frames`` of
        their per-frame results, the same as ``focal_from_frames`` on them."""
        if not self.frames:
            return focal_from_frames([], self.config, self.to_full)
        results = []
        for pos, grey, boxes in self.frames:
            future = self._analysed.get(pos)
            results.append(future.result() if future is not None
                           else self._analyse(grey, boxes))
        width = self.frames[0][1].shape[1]
        return combine_frames(results, width, self.config, self.to_full)

    def close(self) -> None:
        """Drop analyses not yet started, wait for the running one, stop the thread."""
        for future in self._analysed.values():
            future.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> FrameSampler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
