"""Foot-contact probabilities from the height of the sole above its support and foot speed.

Channels (motion-file order): left ankle, left toe (SMPL ``left_foot``), right ankle, right toe.
Each channel is judged on its own points: the ankle channel on the ankle joint and (when the
ankle's world rotation is given) the heel point of the MediaPipe heel landmark, the toe
channel on the ball-of-foot joint and the toe tip (``landmark_map.REST_AUX_OFFSETS`` carried
by the fitted foot). A channel is on the ground when any of its points is.

- **Height** of a point's sole (the point minus its clearance above the sole when the foot is
  flat) above the channel's *local floor*: a running low percentile over ``floor_window_s``
  (robust to noise, unlike a minimum; it also works for a person standing on a platform),
  snapped to a known level (the ground y = 0, or a platform level the ground fit found) within
  ``level_snap_m``. Heights more than ``height_off_m`` under the world ground (a foot cannot
  be there: an error of the fit) are left out of the local floor and count as on the floor.
- **Speed**, normalised by body size (leg lengths per second), from two cues: the world speed
  of the point and, when the camera is given (``ContactView``), its speed in the image divided
  by the person's size in the image. A static camera sees a planted foot still in the image
  however badly the monocular fit places it in depth; in the world a depth error moves it.
  World points are first *depth-stabilised*: each frame's body is scaled about the camera
  centre so that its pelvis distance follows a smoothed curve (``stabilise_depth``; the image
  is unchanged), which removes the frame-to-frame depth jitter of the fit. The speed cue is
  the more confident of the two.
- probability = min(p_height, p_speed) (a fuzzy AND), per point, the channel's the max over its
  points; hysteresis: a contact starts at p >= ``enter`` and lasts while p >= ``stay``;
  contacts and gaps shorter than ``min_duration_s`` are removed; output 0.5 + 0.5 p on contact
  frames, 0.5 p elsewhere (thresholding at 0.5 gives the decision).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inference_backend.landmark_map import REST_AUX_OFFSETS
from inference_backend.smoothing import local_linear_smooth, valid_runs
from inference_backend.smpl_constants import CONTACT_JOINTS

#: Height of each contact channel's joint above the sole when the foot is flat (m): the ankle
#: about 7 cm above the heel, the ball-of-foot joint about 4.3 cm above the toe tip (the
#: offsets of ``landmark_map.REST_AUX_OFFSETS`` and the foot target's weights).
CHANNEL_CLEARANCE_M: tuple[float, float, float, float] = (0.07, 0.043, 0.07, 0.043)


#: Stand-in height (m) of a sunken sample in the running floor percentile (see the module doc).
_FAR_ABOVE_M = 1.0e3


#: Sole points carried by each foot beyond its two joints: (heel, toe tip) rest offsets from
#: the ankle (SMPL rest frame) and their clearance above the sole of a flat rest foot (the
#: sole lies ``CHANNEL_CLEARANCE_M[0]`` below the ankle).
def _sole_offsets(side: str) -> np.ndarray:
    return np.array([REST_AUX_OFFSETS[f"{side}_heel"][1],
                     REST_AUX_OFFSETS[f"{side}_foot_index"][1]], float)


SOLE_OFFSETS: np.ndarray = np.stack([_sole_offsets("left"), _sole_offsets("right")])  # (2,2,3)
SOLE_CLEARANCE_M: np.ndarray = SOLE_OFFSETS[..., 1] + CHANNEL_CLEARANCE_M[0]           # (2,2)


@dataclass(frozen=True)
class ContactConfig:
    """Thresholds of ``foot_contacts``: heights in metres, speeds in leg lengths (hip to ankle)
    per second (``speed_*_mps`` keep their names: for ``contact_probabilities`` called with
    ``speed_unit=1`` they are metres per second)."""

    height_on_m: float = 0.01
    height_off_m: float = 0.03
    speed_on_mps: float = 0.18
    speed_off_mps: float = 0.53
    enter: float = 0.5
    stay: float = 0.4
    min_duration_s: float = 0.1
    floor_window_s: float = 2.0
    floor_percentile: float = 3.0
    level_snap_m: float = 0.06
    #: With the camera known (``foot_contacts`` with a view): the tight height band above applies
    #: to the height above the frame's lowest sole point (a depth error of the fit moves both
    #: feet alike), and this loose band to the height above the local floor (the lowest foot
    #: can be in the air too: a jump).
    floor_on_m: float = 0.06
    floor_off_m: float = 0.15
    speed_sigma_s: float = 0.035
    depth_sigma_s: float = 0.5        # smoothing of the pelvis distance (stabilise_depth)
    #: With the camera known: how far (fraction of its distance) a sole point may be misplaced
    #: along its view ray; the heights are reduced by what such a move can change them
    #: (``ray_height_slack``). 0: heights taken as fitted.
    depth_tolerance: float = 0.0


@dataclass(frozen=True)
class ContactView:
    """The camera that saw the person: world-to-camera ``x = R X + t``; R (3,3) or (F,3,3),
    t (3,) or (F,3)."""

    R: np.ndarray
    t: np.ndarray


def hysteresis(p: np.ndarray, enter: float, stay: float) -> np.ndarray:
    """Binary state (F,) from probabilities (F,): on at p >= enter, off when p < stay."""
    state = np.zeros(len(p), bool)
    on = False
    for i, v in enumerate(p):
        on = v >= stay if on else v >= enter
        state[i] = on
    return state


def remove_short(state: np.ndarray, times: np.ndarray, min_duration: float) -> np.ndarray:
    """Drop on-runs shorter than min_duration, then fill off-runs shorter than it (inner)."""
    s = state.copy()
    dt = float(np.median(np.diff(times))) if len(times) > 1 else 0.0
    for a, b in valid_runs(s):
        if times[b - 1] - times[a] + dt < min_duration:
            s[a:b] = False
    for a, b in valid_runs(~s):
        if a > 0 and b < len(s) and times[b - 1] - times[a] + dt < min_duration:
            s[a:b] = True
    return s


def stabilise_depth(points: np.ndarray, anchor: np.ndarray, centre: np.ndarray,
                    times: np.ndarray, sigma_s: float) -> np.ndarray:
    """Points (F, N, 3) scaled per frame about the camera centre ((3,) or (F, 3)) so that the
    anchor's (F, 3) distance to it follows its local-linear smoothed curve (sigma_s seconds).

    Scaling about the centre keeps every point's image; it removes the frame-to-frame depth
    jitter of a monocular fit (the body's scale in the image fixes its distance only to a few
    per cent) and keeps real, smooth motion in depth."""
    p = np.asarray(points, float)
    c = np.broadcast_to(np.asarray(centre, float), np.asarray(anchor).shape)
    dist = np.linalg.norm(np.asarray(anchor, float) - c, axis=-1)
    if len(dist) < 3:
        return p.copy()
    smooth = local_linear_smooth(dist[:, None], times, sigma_s)[:, 0]
    scale = np.where(dist > 1e-6, smooth / np.maximum(dist, 1e-6), 1.0)
    return c[:, None] + scale[:, None, None] * (p - c[:, None])


def _image_speed(points: np.ndarray, anchor: np.ndarray, view: ContactView,
                 times: np.ndarray) -> np.ndarray:
    """Image speed (F, N) of points (F, N, 3) in units of the anchor's distance per second
    (normalised image coordinates times the anchor's depth: metres at the person's depth)."""
    R = np.asarray(view.R, float)
    t = np.asarray(view.t, float)
    if R.ndim == 2:
        cam = points @ R.T + t
        cam_anchor = anchor @ R.T + t
    else:
        cam = np.einsum("fij,fnj->fni", R, points) + t[:, None]
        cam_anchor = np.einsum("fij,fj->fi", R, anchor) + t
    z = np.maximum(cam[..., 2:3], 1e-3)
    xy = cam[..., :2] / z
    vel = np.gradient(xy, times, axis=0)
    return np.linalg.norm(vel, axis=-1) * np.maximum(cam_anchor[:, 2:3], 1e-3)


def ray_height_slack(points: np.ndarray, centre: np.ndarray, tolerance: float) -> np.ndarray:
    """Height change (F, P) m that moving each point (F, P, 3) along its view ray from the
    camera centre ((3,) or (F, 3), world, Y up) by ``tolerance`` times its distance can make.

    A static camera fixes a foot's direction, not its distance: a monocular fit misplaces it
    along the ray by a few per cent of the distance (more when the lens is wrong: the scene is
    then stretched in depth), and along a ray that looks down at the foot that is a height
    error, tolerance x distance x sin(the ray's depression). Close to a wide-angle camera the
    rays to the feet are steep and the fitted heights of planted feet can be off by
    decimetres, while the foot stands still in the image."""
    p = np.asarray(points, float)
    c = np.asarray(centre, float)
    c = c[:, None] if c.ndim == 2 else c
    ray = p - c
    dist = np.linalg.norm(ray, axis=-1)
    sin_dep = np.abs(ray[..., 1]) / np.maximum(dist, 1e-9)
    return tolerance * dist * sin_dep


def contact_probabilities(heights: np.ndarray, horizontal_pos: np.ndarray, times: np.ndarray,
                          config: ContactConfig = ContactConfig(),
                          ground_clearance: np.ndarray | None = None,
                          image_speed: np.ndarray | None = None, speed_unit: float = 1.0,
                          levels: tuple[float, ...] = (),
                          decide: bool = True,
                          above_lowest: np.ndarray | None = None,
                          height_slack: np.ndarray | None = None) -> np.ndarray:
    """Contacts (F, C) in [0, 1] from point heights (F, C) m and horizontal positions
    (F, C, 2) m in the world, at times (F,) s (one valid run; the caller splits runs).

    ground_clearance: (C,) m, each point's height when its sole is on the world ground y = 0
    (heights below ``clearance - config.height_off_m`` are left out of the local floor and are
    on the floor). image_speed: optional (F, C) m/s at the person's depth from the image (see
    the module doc). speed_unit: speeds are divided by it (a leg length: leg lengths per
    second). levels: support heights (m, of the sole) the local floor snaps to. decide: apply
    hysteresis and minimum durations (else the raw probabilities (F, C)). above_lowest:
    optional (F, C) sole heights above the frame's lowest sole point; with it the height cue
    is the tight band on it and the loose ``floor_*`` band on the height above the floor.
    height_slack: optional (F, C) m subtracted from both heights (not below 0) before the bands
    (``ray_height_slack``: what the fit's depth error can make of a height)."""
    h = np.asarray(heights, float)
    xz = np.asarray(horizontal_pos, float)
    t = np.asarray(times, float)
    n, n_ch = h.shape
    if n < 2:
        return np.zeros((n, n_ch), np.float32)
    clearance = (np.zeros(n_ch) if ground_clearance is None
                 else np.asarray(ground_clearance, float))
    dt = float(np.median(np.diff(t)))
    size = max(3, int(round(config.floor_window_s / max(dt, 1e-6))) | 1)
    sole = h - clearance[None, :]
    sunk = np.zeros_like(h, bool)
    if ground_clearance is not None:
        sunk = sole < -config.height_off_m
    # Running low percentile, not the minimum: noise would pull a minimum below the floor.
    # Sunken heights are replaced by a height no percentile of a real floor reaches.
    # (scipy.ndimage is imported here, not at start-up: ~0.2 s; background_imports.py)
    from scipy.ndimage import percentile_filter

    floor = percentile_filter(np.where(sunk, _FAR_ABOVE_M, sole), config.floor_percentile,
                              size=(size, 1), mode="nearest")
    lv = np.asarray(levels, float)
    if lv.size:
        near = lv[np.argmin(np.abs(floor[..., None] - lv), axis=-1)]
        floor = np.where(np.abs(floor - near) < config.level_snap_m, near, floor)
    rel = np.where(sunk, 0.0, sole - floor)
    slack = 0.0 if height_slack is None else np.asarray(height_slack, float)
    rel = np.maximum(rel - slack, 0.0)
    # Speed from a lightly smoothed copy: a derivative amplifies the fit's jitter.
    xz_s = local_linear_smooth(xz.reshape(n, -1), t, config.speed_sigma_s).reshape(xz.shape)
    speed = np.linalg.norm(np.gradient(xz_s, t, axis=0), axis=-1) / speed_unit
    def band(x: np.ndarray, on: float, off: float) -> np.ndarray:
        return np.clip((off - x) / (off - on), 0.0, 1.0)

    if above_lowest is None:
        p_h = band(rel, config.height_on_m, config.height_off_m)
    else:
        p_h = np.minimum(band(np.maximum(np.asarray(above_lowest, float) - slack, 0.0),
                              config.height_on_m, config.height_off_m),
                         band(rel, config.floor_on_m, config.floor_off_m))

    def p_of(v: np.ndarray) -> np.ndarray:
        return np.clip((config.speed_off_mps - v) / (config.speed_off_mps - config.speed_on_mps),
                       0, 1)

    p_s = p_of(speed)
    if image_speed is not None:
        img = local_linear_smooth(np.asarray(image_speed, float), t, config.speed_sigma_s)
        p_s = np.maximum(p_s, p_of(np.maximum(img, 0.0) / speed_unit))
    p = np.minimum(p_h, p_s)
    if not decide:
        return p.astype(np.float32)
    return decide_contacts(p, t, config)


def decide_contacts(p: np.ndarray, times: np.ndarray, config: ContactConfig) -> np.ndarray:
    """Hysteresis and minimum durations per column of probabilities p (F, C): 0.5 + 0.5 p on
    contact frames, 0.5 p elsewhere (float32)."""
    out = np.empty(p.shape, np.float32)
    for c in range(p.shape[1]):
        state = remove_short(hysteresis(p[:, c], config.enter, config.stay), times,
                             config.min_duration_s)
        out[:, c] = np.where(state, 0.5 + 0.5 * p[:, c], 0.5 * p[:, c])
    return out


def leg_length(joints: np.ndarray) -> float:
    """Median hip-knee-ankle length (m) of SMPL joints (F, >=9, 3), averaged over both legs;
    0.85 m when there are no frames."""
    j = np.asarray(joints, float)
    if len(j) == 0:
        return 0.85
    legs = [np.linalg.norm(j[:, k] - j[:, h], axis=-1) + np.linalg.norm(j[:, a] - j[:, k], axis=-1)
            for h, k, a in ((1, 4, 7), (2, 5, 8))]
    return max(float(np.median(np.concatenate(legs))), 0.1)


def sole_points(ankles: np.ndarray, ankle_rots: np.ndarray) -> np.ndarray:
    """Heel and toe-tip points (F, 2, 2, 3) [foot (left, right), (heel, toe)] from the ankle
    positions (F, 2, 3) and world rotations (F, 2, 3, 3) of the fitted feet."""
    return np.asarray(ankles, float)[:, :, None] + np.einsum(
        "fsij,skj->fski", np.asarray(ankle_rots, float), SOLE_OFFSETS)


def foot_contacts(joints_world: np.ndarray, times: np.ndarray, valid: np.ndarray,
                  config: ContactConfig = ContactConfig(), *,
                  ankle_rots: np.ndarray | None = None, view: ContactView | None = None,
                  levels: tuple[float, ...] = ()) -> np.ndarray:
    """Contacts (F, 4) for SMPL world joints (F, >=12, 3) (Y up, the ground at y = 0), per run
    of valid frames; invalid frames get 0.

    ankle_rots: (F, 2, 3, 3) world rotations of the left / right ankle: adds the heel and toe
    points. view: the camera (image-speed cue, depth stabilisation). levels: support heights
    the local floor snaps to (e.g. the ground 0 and platforms). Speeds are measured in leg
    lengths per second (the median hip-knee-ankle length of the valid frames)."""
    joints = np.asarray(joints_world, float)
    n = joints.shape[0]
    pts = joints[:, list(CONTACT_JOINTS)]                       # (F, 4, 3) a0 t0 a1 t1
    clear = np.asarray(CHANNEL_CLEARANCE_M, float)
    owner = [0, 1, 2, 3]                                        # point -> channel
    if ankle_rots is not None:
        soles = sole_points(joints[:, [7, 8]], ankle_rots)     # (F, 2, 2, 3)
        pts = np.concatenate([pts, soles.reshape(n, 4, 3)], axis=1)
        clear = np.concatenate([clear, SOLE_CLEARANCE_M.reshape(4)])
        owner += [0, 1, 2, 3]                                   # heel -> ankle, toe -> toe
    out = np.zeros((n, 4), np.float32)
    unit = leg_length(joints[np.asarray(valid, bool)])
    for a, b in valid_runs(valid):
        if b - a < 2:
            continue
        p_run = pts[a:b]
        img = None
        slack = None
        if view is not None:
            R = np.asarray(view.R, float)
            t = np.asarray(view.t, float)
            R_run = R if R.ndim == 2 else R[a:b]
            t_run = t if t.ndim == 1 else t[a:b]
            centre = (-R_run.T @ t_run if R_run.ndim == 2
                      else -np.einsum("fji,fj->fi", R_run, t_run))
            pelvis = joints[a:b, 0]
            run_view = ContactView(R_run, t_run)
            img = _image_speed(p_run, pelvis, run_view, times[a:b])
            p_run = stabilise_depth(p_run, pelvis, centre, times[a:b], config.depth_sigma_s)
            if config.depth_tolerance > 0:
                slack = ray_height_slack(p_run, centre, config.depth_tolerance)
        # Height above the same point of the other foot when that is lower (a clearance
        # error of the point type cancels; a depth error of the fit moves both feet alike).
        sole = (p_run[..., 1] - clear).reshape(b - a, -1, 2, 2)   # (F, group, foot, type)
        lowest = (sole - sole.min(axis=2, keepdims=True)).reshape(b - a, -1)
        probs = contact_probabilities(p_run[..., 1], p_run[..., [0, 2]], times[a:b], config,
                                      clear, img, unit, levels, decide=False,
                                      above_lowest=None if view is None else lowest,
                                      height_slack=slack)
        chan = np.zeros((b - a, 4), np.float32)
        for k, c in enumerate(owner):
            chan[:, c] = np.maximum(chan[:, c], probs[:, k])
        out[a:b] = decide_contacts(chan, times[a:b], config)
    return out
