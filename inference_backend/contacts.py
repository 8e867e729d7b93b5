"""Foot-contact probabilities from height above the supporting surface and horizontal speed.

Channels (motion-file order): left ankle, left toe (SMPL ``left_foot``), right ankle, right toe.
Heights are taken relative to the channel's own *local floor*: a running 10th percentile
over ``floor_window_s`` of its (smoothed) height (robust to noise, unlike a minimum). That absorbs the joint's clearance above the sole
(about 7 cm for the ankle, 4 cm for the ball of the foot) and also works for a person standing
on a platform. Heights more than ``height_off_m`` (the contact band's width, 3 cm; wider for a
noisy track) under the world ground (y = 0, where the channel's joint is ``CHANNEL_CLEARANCE_M``
up) are left out of the local floor (a foot cannot be there: it is an error of the fit) and
count as on the floor. Otherwise a fit whose feet sink under the ground for a second (a deep
squat fitted too far away or with too-straight legs) drags the running percentile down with
it, and the feet standing on the ground *around* the dip read as lifted (no contacts for ~1 s
before and after it). Thresholds (documented defaults, ``ContactConfig``):

- height: certain contact below 1 cm above the local floor, none above 3 cm (linear between,
  halfway at 2 cm; a heel-off lifts the ankle by 2 cm within a few frames);
- horizontal speed: certain below 0.15 m/s, none above 0.45 m/s (halfway at 0.3 m/s; a
  planted foot is still, a swinging foot moves at 2-4 m/s);
- probability = min(p_height, p_speed) (a fuzzy AND: 0.5 means both halfway); hysteresis: a
  contact starts at p >= 0.5 and lasts while p >= 0.4; contacts and gaps shorter than
  ``min_duration_s`` (0.1 s) are removed;
- output: 0.5 + 0.5 p on contact frames, 0.5 p elsewhere, so thresholding at 0.5 gives the
  hysteresis decision and the value still says how clear-cut it was.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import percentile_filter

from inference_backend.smoothing import local_linear_smooth
from inference_backend.smpl_constants import CONTACT_JOINTS

#: Height of each contact channel's joint above the sole when the foot is flat (m): the ankle
#: about 7 cm above the heel, the ball-of-foot joint about 4.3 cm above the toe tip (the
#: offsets of ``landmark_map.REST_AUX_OFFSETS`` and the foot target's weights).
CHANNEL_CLEARANCE_M: tuple[float, float, float, float] = (0.07, 0.043, 0.07, 0.043)


#: Stand-in height (m) of a sunken sample in the running floor percentile (see the module doc).
_FAR_ABOVE_M = 1.0e3


@dataclass(frozen=True)
class ContactConfig:
    height_on_m: float = 0.01
    height_off_m: float = 0.03
    speed_on_mps: float = 0.15
    speed_off_mps: float = 0.45
    enter: float = 0.5
    stay: float = 0.4
    min_duration_s: float = 0.1
    floor_window_s: float = 2.0
    floor_percentile: float = 3.0
    speed_sigma_s: float = 0.035


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    m = np.asarray(mask, bool).astype(np.int8)
    e = np.diff(np.concatenate([[0], m, [0]]))
    return list(zip(np.where(e == 1)[0].tolist(), np.where(e == -1)[0].tolist(), strict=True))


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
    for a, b in _runs(s):
        if times[b - 1] - times[a] + dt < min_duration:
            s[a:b] = False
    for a, b in _runs(~s):
        if a > 0 and b < len(s) and times[b - 1] - times[a] + dt < min_duration:
            s[a:b] = True
    return s


def contact_probabilities(heights: np.ndarray, horizontal_pos: np.ndarray, times: np.ndarray,
                          config: ContactConfig = ContactConfig(),
                          ground_clearance: np.ndarray | None = None) -> np.ndarray:
    """Contacts (F, C) in [0, 1] from channel heights (F, C) m and horizontal positions
    (F, C, 2) m in the world, at times (F,) s (one valid run; the caller splits runs).

    ground_clearance: (C,) m, each channel's height when its sole is on the world ground
    y = 0; when given, heights below ``clearance - config.height_off_m`` are left out of the
    local floor (and are on the floor)."""
    h = np.asarray(heights, float)
    xz = np.asarray(horizontal_pos, float)
    t = np.asarray(times, float)
    n, n_ch = h.shape
    if n < 2:
        return np.zeros((n, n_ch), np.float32)
    dt = float(np.median(np.diff(t)))
    size = max(3, int(round(config.floor_window_s / max(dt, 1e-6))) | 1)
    sunk = np.zeros_like(h, bool)
    if ground_clearance is not None:
        sunk = h < np.asarray(ground_clearance, float)[None, :] - config.height_off_m
    # Running low percentile, not the minimum: noise would pull a minimum below the floor.
    # Sunken heights are replaced by a height no percentile of a real floor reaches.
    floor = percentile_filter(np.where(sunk, _FAR_ABOVE_M, h), config.floor_percentile,
                              size=(size, 1), mode="nearest")
    rel = np.where(sunk, 0.0, h - floor)
    # Speed from a lightly smoothed copy: a derivative amplifies the fit's jitter.
    xz_s = local_linear_smooth(xz.reshape(n, -1), t, config.speed_sigma_s).reshape(xz.shape)
    speed = np.linalg.norm(np.gradient(xz_s, t, axis=0), axis=-1)
    p_h = np.clip((config.height_off_m - rel) / (config.height_off_m - config.height_on_m), 0, 1)
    p_s = np.clip((config.speed_off_mps - speed) / (config.speed_off_mps - config.speed_on_mps),
                  0, 1)
    p = np.minimum(p_h, p_s)
    out = np.empty_like(p)
    for c in range(n_ch):
        state = remove_short(hysteresis(p[:, c], config.enter, config.stay), t,
                             config.min_duration_s)
        out[:, c] = np.where(state, 0.5 + 0.5 * p[:, c], 0.5 * p[:, c])
    return out.astype(np.float32)


def foot_contacts(joints_world: np.ndarray, times: np.ndarray, valid: np.ndarray,
                  config: ContactConfig = ContactConfig()) -> np.ndarray:
    """Contacts (F, 4) for SMPL world joints (F, 24, 3) (Y up, the ground at y = 0), per run of
    valid frames; invalid frames get 0."""
    joints = np.asarray(joints_world, float)
    ch = joints[:, list(CONTACT_JOINTS)]                        # (F, 4, 3)
    out = np.zeros((joints.shape[0], 4), np.float32)
    for a, b in _runs(valid):
        if b - a >= 2:
            out[a:b] = contact_probabilities(ch[a:b, :, 1], ch[a:b][..., [0, 2]], times[a:b],
                                             config, np.asarray(CHANNEL_CLEARANCE_M))
    return out
