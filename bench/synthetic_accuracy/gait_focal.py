"""Focal length from a walk in depth through a gait prior (the walk ratio); a measured cue, not
in the capture (docs/accuracy.md, issue 17: within 10 % on two of the four rendered walks).

A static camera's image does not change when the focal length and every camera-frame depth are
scaled by the same factor, so the focal length is observable only through a metric length along
the optical axis. A walk supplies one: a person's steps have a length that depends on their
height and their cadence (steps per minute) through the *walk ratio* (step length / cadence),
which is nearly constant over a wide range of walking speeds (Sekiya & Nagasaki 1998). The
cadence and the body's size are read from the image (they do not depend on the focal length);
the distance walked does: its lateral part is metric, its part along the optical axis scales
with the assumed focal length. The focal length is the one whose step length matches the prior.

This is a prior about people, not a measurement: the walk ratio varies between people by about
12 % (one standard deviation, Bogen et al. 2018), so one walk cannot pin the focal length more
tightly than that (divided by ``depth_share``, ~0.8 on our walks). ``estimate_focal_from_gait``
says "not observable" unless someone walks at a walking cadence for ``min_steps`` steps, mostly
in depth (the step length must change with the focal length: ``min_depth_share``).

Inputs are what the default solver has before its fit: per person the cleaned MediaPipe
landmarks on the observed frames. Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inference_backend.camera import fov_from_focal, solve_root_translation

#: MediaPipe landmark indices (pose landmarker).
_L_HIP, _R_HIP, _L_KNEE, _R_KNEE, _L_ANKLE, _R_ANKLE = 23, 24, 25, 26, 27, 28
_FEET = ((27, 29, 31), (28, 30, 32))        # ankle, heel, foot index of the left / right foot
_BODY = (11, 12, 23, 24, 25, 26, 27, 28)    # shoulders, hips, knees, ankles: the body's scale


@dataclass(frozen=True)
class GaitFocalConfig:
    """Constants of the gait prior (literature values; none fitted to our benchmark clips)."""

    #: Step length / standing height / cadence (steps per minute), i.e. the walk ratio divided
    #: by the body's height, in minutes. Walk ratios at a preferred-speed walk: 0.60 cm per
    #: step/min, SD 0.07 (Bogen et al. 2018, Gait & Posture 61:479, adults aged 70-81); 65.55 cm
    #: at 118.86 steps/min = 0.55 cm per step/min (8429 Japanese adults in daily life, Geriatr
    #: Gerontol Int 2020;20:664). Divided by an adult height of ~1.65 m: 0.0033-0.0036.
    walk_ratio_per_height_min: float = 0.0034
    #: Thigh + shank length as a fraction of standing height (Winter, Biomechanics and Motor
    #: Control of Human Movement, segment lengths 0.245 H + 0.246 H).
    leg_per_height: float = 0.491
    #: The walk ratio stays constant above ~98 steps/min (a slow-walking study, J Phys Ther Sci
    #: 2017, PMC5430280); walking turns into running around 140-160 steps/min.
    cadence_spm: tuple[float, float] = (98.0, 150.0)
    min_steps: int = 3                  # consecutive steps at a walking cadence (feet passings - 1)
    #: d log(step length) / d log(focal) at the solution: ~1 for a walk straight along the
    #: optical axis, 0 for one across the view. Below this the walk says little.
    min_depth_share: float = 0.5
    fov_range_deg: tuple[float, float] = (20.0, 120.0)
    #: The feet passing each other: hysteresis at this fraction of the feet's robust
    #: fore-aft amplitude in the image.
    hysteresis: float = 0.3
    smooth_s: float = 0.05              # light smoothing of the feet's image offsets
    path_smooth_s: float = 0.25         # smoothing of the body's path (depth jitter)


@dataclass(frozen=True)
class GaitFocal:
    """Result of ``estimate_focal_from_gait``. ``focal`` / ``fov_x_deg`` are None when the walk
    does not determine the focal length; ``reason`` then says why."""

    focal: float | None
    fov_x_deg: float | None
    steps: int                          # steps in the walking bouts used
    cadence_spm: float                  # their cadence (steps per minute)
    depth_share: float                  # d log(step) / d log(focal) at the solution
    reason: str                         # "" when estimated


@dataclass(frozen=True)
class _Bout:
    track: int
    times: np.ndarray                   # (n + 1,) seconds: the feet passing each other
    height: float                       # the body's height in the landmarks' metres


def _gauss_smooth(values: np.ndarray, times: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian kernel average (over sample times, cut at 4 sigma) of values (F, ...);
    non-finite rows are ignored (and filled)."""
    x = np.asarray(values, float)
    flat = x.reshape(len(x), -1)
    ok = np.all(np.isfinite(flat), axis=1)
    out = np.full_like(flat, np.nan)
    if ok.sum() < 2:
        return out.reshape(x.shape)
    t = np.asarray(times, float)
    tk, xk = t[ok], flat[ok]
    lo = np.searchsorted(tk, t - 4 * sigma)
    hi = np.searchsorted(tk, t + 4 * sigma, side="right")
    for i in range(len(t)):
        if hi[i] > lo[i]:
            w = np.exp(-0.5 * ((tk[lo[i]:hi[i]] - t[i]) / sigma) ** 2)
            out[i] = w @ xk[lo[i]:hi[i]] / w.sum()
    return out.reshape(x.shape)


def body_height(metric: np.ndarray, weights: np.ndarray, config: GaitFocalConfig) -> float:
    """Standing height (landmark metres) from the median thigh + shank length of both legs."""
    legs = []
    for hip, knee, ankle in ((_L_HIP, _L_KNEE, _L_ANKLE), (_R_HIP, _R_KNEE, _R_ANKLE)):
        ok = np.min(weights[:, [hip, knee, ankle]], axis=1) > 0
        length = (np.linalg.norm(metric[:, hip] - metric[:, knee], axis=-1)
                  + np.linalg.norm(metric[:, knee] - metric[:, ankle], axis=-1))
        legs.append(length[ok])
    both = np.concatenate(legs)
    return float(np.median(both) / config.leg_per_height) if both.size else float("nan")


def feet_passing_times(image: np.ndarray, metric: np.ndarray, weights: np.ndarray,
                       times: np.ndarray, config: GaitFocalConfig) -> np.ndarray:
    """Times (s) at which the feet pass each other (one per step), from the image alone.

    The left-minus-right foot offset in the image, divided by the body's image scale (pixels
    per landmark metre, which removes the distance), oscillates once per stride about the step
    width; its slow trend is removed and the crossings of its main axis are counted with
    hysteresis. image (F, 33, 2) px, metric (F, 33, 3), weights (F, 33), times (F,)."""
    w = np.asarray(weights, float)
    body = list(_BODY)
    wb = w[:, body, None]
    norm = np.maximum(w[:, body].sum(1), 1e-9)[:, None, None]
    du = image[:, body] - np.sum(wb * image[:, body], 1, keepdims=True) / norm
    dm = metric[:, body, :2] - np.sum(wb * metric[:, body, :2], 1, keepdims=True) / norm
    scale = np.sum(wb * du * dm, axis=(1, 2)) / np.maximum(np.sum(wb * dm * dm, axis=(1, 2)), 1e-9)
    feet = [list(f) for f in _FEET]
    seen = (np.min(w[:, feet[0]], 1) > 0) & (np.min(w[:, feet[1]], 1) > 0) & (scale > 0)
    offset = (image[:, feet[0]].mean(1) - image[:, feet[1]].mean(1)) / np.where(
        scale > 0, scale, np.nan)[:, None]
    offset[~seen] = np.nan
    offset = _gauss_smooth(offset, times, config.smooth_s)
    trend = _gauss_smooth(offset, times, 0.6)      # wider than a stride (~1 s)
    q2 = offset - trend
    ok = np.all(np.isfinite(q2), axis=1)
    if ok.sum() < 10:
        return np.empty(0)
    _, _, vt = np.linalg.svd(q2[ok], full_matrices=False)
    q = q2 @ vt[0]
    amp = np.percentile(np.abs(q[ok]), 90)
    thr = config.hysteresis * amp
    out = []
    state = 0
    last_zero = None
    for i in np.flatnonzero(ok):
        if last_zero is None or (i > 0 and ok[i - 1] and np.sign(q[i]) != np.sign(q[i - 1])):
            if i > 0 and ok[i - 1] and q[i] != q[i - 1]:
                a = q[i - 1] / (q[i - 1] - q[i])
                last_zero = times[i - 1] + a * (times[i] - times[i - 1])
            else:
                last_zero = times[i]
        s = 1 if q[i] > thr else (-1 if q[i] < -thr else 0)
        if s and s != state:
            if state:
                out.append(last_zero)
            state = s
    return np.asarray(out, float)


def walking_bouts(passing: np.ndarray, config: GaitFocalConfig) -> list[np.ndarray]:
    """Runs of feet-passing times whose intervals are at a walking cadence, each with at
    least ``min_steps`` steps (``min_steps + 1`` times)."""
    lo, hi = 60.0 / config.cadence_spm[1], 60.0 / config.cadence_spm[0]
    bouts, run = [], list(passing[:1])
    for a, b in zip(passing[:-1], passing[1:], strict=True):
        if lo <= b - a <= hi:
            run.append(b)
        else:
            if len(run) > config.min_steps:
                bouts.append(np.asarray(run))
            run = [b]
    if len(run) > config.min_steps:
        bouts.append(np.asarray(run))
    return bouts


def _path_length(root: np.ndarray, times: np.ndarray, at: np.ndarray) -> float:
    """Length (m) of the polyline through ``root`` (F, 3) interpolated at times ``at``."""
    ok = np.all(np.isfinite(root), axis=1)
    pts = np.stack([np.interp(at, times[ok], root[ok, d]) for d in range(3)], -1)
    return float(np.sum(np.linalg.norm(np.diff(pts, axis=0), axis=1)))


def estimate_focal_from_gait(samples: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
                             width: int, height: int,
                             config: GaitFocalConfig = GaitFocalConfig()) -> GaitFocal:
    """The focal length (px) at which the walking people's steps have the prior's length.

    samples: per person (metric (F, 33, 3) landmark metres about the hips, camera-aligned;
    image (F, 33, 2) px; weights (F, 33); times (F,) s) on the person's observed frames. The
    principal point is the image centre (as ``camera.intrinsics_from_fov``)."""
    bouts: list[_Bout] = []
    for k, (metric, image, weights, times) in enumerate(samples):
        if len(times) < 10:
            continue
        passing = feet_passing_times(image, metric, weights, times, config)
        h = body_height(metric, weights, config)
        bouts += [_Bout(k, b, h) for b in walking_bouts(passing, config)
                  if np.isfinite(h) and h > 0]
    steps = sum(len(b.times) - 1 for b in bouts)
    duration = sum(b.times[-1] - b.times[0] for b in bouts)
    cadence = 60.0 * steps / duration if duration > 0 else 0.0
    if not bouts:
        return GaitFocal(None, None, 0, 0.0, 0.0,
                         f"no walk of {config.min_steps} or more steps at a walking cadence")
    # Prior: the steps' total length.
    target = sum((len(b.times) - 1) * config.walk_ratio_per_height_min * b.height
                 * 60.0 * (len(b.times) - 1) / (b.times[-1] - b.times[0]) for b in bouts)
    used = sorted({b.track for b in bouts})

    def walked(focal: float) -> float:
        K = np.array([[focal, 0.0, 0.5 * width], [0.0, focal, 0.5 * height], [0, 0, 1.0]])
        total = 0.0
        for k in used:
            metric, image, weights, times = samples[k]
            t = np.asarray(times, float)
            keep = np.zeros(len(t), bool)
            for b in bouts:
                if b.track == k:
                    keep |= (t >= b.times[0] - 1.0) & (t <= b.times[-1] + 1.0)
            root, _ = solve_root_translation(metric[keep], image[keep], weights[keep], K)
            root = _gauss_smooth(root, t[keep], config.path_smooth_s)
            total += sum(_path_length(root, t[keep], b.times) for b in bouts if b.track == k)
        return total

    lo_fov, hi_fov = config.fov_range_deg
    f_lo = 0.5 * width / np.tan(0.5 * np.radians(hi_fov))     # widest view: shortest focal
    f_hi = 0.5 * width / np.tan(0.5 * np.radians(lo_fov))
    d_lo, d_hi = walked(f_lo) - target, walked(f_hi) - target
    if not (d_lo < 0 < d_hi):
        return GaitFocal(None, None, steps, cadence, 0.0,
                         "the walk's steps cannot match the gait prior at any focal length "
                         f"for {lo_fov:.0f}-{hi_fov:.0f} deg")
    a, b = np.log(f_lo), np.log(f_hi)
    for _ in range(40):                        # bisection on log focal (walked() increases)
        m = 0.5 * (a + b)
        if walked(float(np.exp(m))) < target:
            a = m
        else:
            b = m
    focal = float(np.exp(0.5 * (a + b)))
    share = float((np.log(walked(focal * 1.05)) - np.log(walked(focal / 1.05)))
                  / (2 * np.log(1.05)))
    if share < config.min_depth_share:
        return GaitFocal(None, None, steps, cadence, share,
                         "the walk is mostly across the view, not in depth")
    return GaitFocal(focal, fov_from_focal(focal, width), steps, cadence, share, "")
