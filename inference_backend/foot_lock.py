"""Planted feet stay put: the legs reach for where a planted foot's sole point stands.

The scene stage first moves the root so planted feet follow it (``trajectory.plant_offset``),
but one root offset cannot pin two planted feet whose fitted positions jitter independently,
nor the jitter of the leg's own pose: on the benchmark's renders the planted point still
travelled 10-30 cm within a contact. Here each leg is re-solved (two-bone hip -> knee ->
ankle, the foot keeping its world orientation) so that, within every contact segment of a
foot, its *planted point* does not move horizontally, and a planted foot floating above its
support (the ground or a platform the ground fit found) is lowered onto it.

The planted point of a foot is, frame step by frame step, the lower of its two sole points
(the ankle channel's heel and the ball-of-foot channel's toe, heights minus
``CHANNEL_CLEARANCE_M``): a rolling foot turns about its heel, then about its ball, so the
ankle travels while the toe is planted and only the lower point must stay. The horizontal
slide of that point summed over the segment's steps gives, per frame, how far the fit let it
wander; the foot is shifted back by that amount minus the segment's mean (so the pinned spot
is where the fit put the foot on average, and the path does not drift), the shift capped at
``max_shift_m``. Steps in which the body turns about the vertical faster than ``pivot_dps``
(a stepping turn pivots on the floor) are the foot's own motion and are not taken back.
Outside a segment
the shift eases (smoothstep) to zero over ``ramp_s`` (no pop where the foot lands or lifts).
The root is left alone: walked distance and pelvis path do not change.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inference_backend.contacts import CHANNEL_CLEARANCE_M
from inference_backend.kinematics import forward_kinematics, log_map, rodrigues
from inference_backend.smoothing import valid_runs
from inference_backend.smpl_constants import CONTACT_JOINTS
from inference_backend.trajectory import leg_to_target

#: (hip, knee, ankle) SMPL joints of the left / right leg; the contact channels of each foot.
_LEGS: tuple[tuple[int, int, int], ...] = ((1, 4, 7), (2, 5, 8))
_CHANNELS: tuple[tuple[int, int], ...] = ((0, 1), (2, 3))


@dataclass(frozen=True)
class FootLockConfig:
    """Options of ``lock_planted_feet``."""

    enabled: bool = True
    contact_threshold: float = 0.5     # a foot is planted while a channel is >= this
    #: Outside a contact the shift fades to zero over this long (s): about the 3-4 frames of
    #: a foot's landing / lift-off at 30 fps, fast enough motion to hide the blend.
    ramp_s: float = 0.12
    #: A shift longer than this (m) is capped: a contact that long is more likely a swing the
    #: contact judge missed than a planted foot sliding, and a leg reaching that far looks wrong.
    max_shift_m: float = 0.3
    #: Steps in which the body (its hip line) turns about the vertical faster than this
    #: (deg/s) are a pivot (a stepping turn), the foot's own motion: kept, not pinned.
    pivot_dps: float = 60.0
    pivot_window_s: float = 0.2
    #: A contact whose lowest sole point stands (median) within this of a support level (the
    #: ground, a platform) is put on it, by at most this much (m): the ground stage's median
    #: leaves single feet a few centimetres above or under the floor.
    level_snap_m: float = 0.1
    #: A step whose planted point is more than this (m) above its median height in the
    #: contact is a landing or lift-off, not a slide: the benchmark's contact definition
    #: (lowest point within 3 cm of the floor).
    lift_m: float = 0.03
    #: Legs reach at most this fraction of their length (as ``keep_pelvis_on_view_ray``).
    leg_reach_fraction: float = 0.995

    def __post_init__(self) -> None:
        if self.ramp_s < 0 or self.max_shift_m < 0 or self.level_snap_m < 0:
            raise ValueError("ramp_s, max_shift_m and level_snap_m must be >= 0")


def planted_shifts(joints: np.ndarray, contacts: np.ndarray, times: np.ndarray,
                   valid: np.ndarray, config: FootLockConfig = FootLockConfig(),
                   levels: tuple[float, ...] = (0.0,)) -> np.ndarray:
    """Shifts (F, 2, 3) (left / right foot) that hold each planted foot's planted point still
    within its contact segments and its lowest sole point on its support, faded out around
    them.

    joints: (F, >=12, 3) world SMPL joints, Y up; contacts: (F, 4) channel probabilities
    (left ankle, left ball, right ankle, right ball); times: (F,) s; valid: (F,) bool;
    levels: support heights (m): the ground (0) and any platform the ground fit found. A
    contact whose lowest sole point stands within ``level_snap_m`` of one (median over the
    contact) and above it is lowered by that median onto it (never raised).
    """
    lv = np.asarray(levels if len(levels) else (0.0,), float)
    j = np.asarray(joints, float)
    t = np.asarray(times, float)
    n = len(t)
    out = np.zeros((n, 2, 3))
    on = (np.asarray(contacts) >= config.contact_threshold) & np.asarray(valid, bool)[:, None]
    clearance = np.asarray(CHANNEL_CLEARANCE_M, float)
    # The body's heading: the hip line's direction about the vertical (the fitted feet's own
    # yaw jitters by tens of degrees per second on real footage; the hips' much less), its
    # rate judged over +-pivot_window_s, per frame step.
    hips = j[:, 1] - j[:, 2]
    heading = np.unwrap(np.arctan2(hips[:, 0], hips[:, 2]))
    turning = (np.abs(_windowed_rate(heading, t, config.pivot_window_s))
               >= np.radians(config.pivot_dps)) if n > 1 else np.zeros(0, bool)
    for foot, chans in enumerate(_CHANNELS):
        idx = [CONTACT_JOINTS[c] for c in chans]
        pts = j[:, idx]                                             # (F, 2, 3) heel-ish, ball
        sole = pts[..., 1] - clearance[list(chans)]                 # (F, 2)
        shift = np.zeros((n, 3))
        known = np.zeros(n, bool)
        for a, b in valid_runs(on[:, chans].any(1)):
            if b - a < 2:
                continue
            low = np.argmin(sole[a:b - 1], axis=1)                  # the planted point per step
            step = np.diff(pts[a:b][..., [0, 2]], axis=0)           # (L-1, 2, 2)
            step = step[np.arange(b - a - 1), low]                  # (L-1, 2)
            # While the body turns, a planted foot pivots: its points move by themselves. A
            # foot whose low point is more than lift_m above its usual height in the contact
            # is landing or leaving (the segment's ends), not sliding.
            lowest = sole[a:b].min(1)                               # (L,) the sole's low point
            up = lowest[:-1] - np.median(lowest) > config.lift_m
            step = np.where((turning[a:b - 1] | up)[:, None], 0.0, step)
            slide = np.concatenate([np.zeros((1, 2)), np.cumsum(step, axis=0)])
            s = slide.mean(0) - slide                               # (L, 2), mean zero
            norm = np.linalg.norm(s, axis=1, keepdims=True)
            s *= np.minimum(1.0, config.max_shift_m / np.maximum(norm, 1e-12))
            shift[a:b, [0, 2]] = s
            usual = float(np.median(lowest))
            level = lv[np.argmin(np.abs(lv - usual))]
            if abs(usual - level) <= config.level_snap_m:
                # only down, the whole contact by its median: a floating planted foot is an
                # error of the fit; one a centimetre under is left to the ground stage (it
                # sets the body's height), and a foot lifting at a contact's end keeps its lift
                shift[a:b, 1] = min(level - usual, 0.0)
            known[a:b] = True
        if not known.any():
            continue
        # Zero anchors at every frame farther than ramp_s from a contact; linear in between.
        kt = t[known]
        i = np.searchsorted(kt, t)
        gap = np.minimum(np.abs(t - kt[np.clip(i - 1, 0, kt.size - 1)]),
                         np.abs(kt[np.clip(i, 0, kt.size - 1)] - t))
        anchor = known | (gap >= config.ramp_s)
        out[:, foot] = _smooth_interp(t, t[anchor], shift[anchor])
    return out


def _smooth_interp(t: np.ndarray, tk: np.ndarray, vk: np.ndarray) -> np.ndarray:
    """Values (F, D) at times t (F,) between knots (tk (K,) increasing, vk (K, D)), eased
    with smoothstep (no velocity step at a knot, unlike linear), held beyond the ends."""
    i = np.clip(np.searchsorted(tk, t, side="right"), 1, max(len(tk) - 1, 1))
    if len(tk) == 1:
        return np.repeat(vk[:1], len(t), axis=0)
    t0, t1 = tk[i - 1], tk[i]
    u = np.clip((t - t0) / np.maximum(t1 - t0, 1e-12), 0.0, 1.0)
    w = (u * u * (3.0 - 2.0 * u))[:, None]
    return vk[i - 1] + w * (vk[i] - vk[i - 1])


def _windowed_rate(x: np.ndarray, t: np.ndarray, half_s: float) -> np.ndarray:
    """Rate of change (per s) of x (L,) for each of its L-1 steps, over the step widened by
    ``half_s`` each way (clipped to the run)."""
    mid = 0.5 * (t[:-1] + t[1:])
    lo = np.clip(np.searchsorted(t, mid - half_s, side="left"), 0, len(t) - 1)
    hi = np.clip(np.searchsorted(t, mid + half_s, side="right") - 1, 0, len(t) - 1)
    hi = np.maximum(hi, lo + 1).clip(max=len(t) - 1)
    lo = np.minimum(lo, hi - 1).clip(min=0)
    return (x[hi] - x[lo]) / np.maximum(t[hi] - t[lo], 1e-9)


def _reachable(shift: np.ndarray, hip: np.ndarray, ankle: np.ndarray, reach: float
               ) -> np.ndarray:
    """shift (A, 3) with its vertical part reduced (toward 0) where the ankle would end out of
    the leg's ``reach`` (m) from the hip (A, 3): a straight leg cannot put its foot lower, and a
    clamped reach would move the foot sideways instead."""
    out = np.array(shift, float, copy=True)
    rel = ankle + out - hip
    horiz2 = rel[:, 0] ** 2 + rel[:, 2] ** 2
    low = -np.sqrt(np.maximum(reach * reach - horiz2, 0.0))      # lowest reachable rel. y
    want = np.maximum(rel[:, 1], low) - (ankle[:, 1] - hip[:, 1])
    out[:, 1] = np.clip(want, np.minimum(shift[:, 1], 0.0), np.maximum(shift[:, 1], 0.0))
    return out


def lock_planted_feet(rest: np.ndarray, global_orient: np.ndarray, body_pose: np.ndarray,
                      transl: np.ndarray, shifts: np.ndarray,
                      config: FootLockConfig = FootLockConfig(), chunk: int = 512) -> np.ndarray:
    """body_pose (F, 23, 3) with the legs re-solved so each ankle moves by its ``shifts``
    (F, 2, 3) (from ``planted_shifts``); frames without a shift are returned unchanged.
    The root, the feet's world orientation and every other joint are kept."""
    rest = np.asarray(rest, float)
    moving = np.flatnonzero(np.abs(shifts).sum((1, 2)) > 1e-9)
    body_pose = np.array(body_pose, copy=True)
    if moving.size == 0:
        return body_pose
    lengths = [(float(np.linalg.norm(rest[k] - rest[h])), float(np.linalg.norm(rest[a] - rest[k])))
               for h, k, a in _LEGS]
    for s in range(0, moving.size, chunk):
        f = moving[s:s + chunk]
        aa = np.concatenate([np.asarray(global_orient[f], float)[:, None],
                             np.asarray(body_pose[f], float)], axis=1)
        local = rodrigues(aa)
        pos, glob = forward_kinematics(rest, local, np.asarray(transl[f], float))
        for foot, leg in enumerate(_LEGS):
            sh = np.asarray(shifts[f, foot], float)
            act = np.abs(sh).sum(1) > 1e-9
            if not act.any():
                continue
            sh = _reachable(sh[act], pos[act, leg[0]], pos[act, leg[2]],
                            config.leg_reach_fraction * sum(lengths[foot]))
            rots = leg_to_target(pos[act], glob[act], leg, lengths[foot], np.zeros((act.sum(), 3)),
                                 pos[act, leg[2]] + sh, config.leg_reach_fraction)
            rows = f[act]
            for jnt, r in zip(leg, rots, strict=True):
                body_pose[rows, jnt - 1] = log_map(r)
    return body_pose
