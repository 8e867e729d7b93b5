"""World root trajectory: gap bridging, feet on the ground, less foot sliding. Reusable by
every solver. World frame: Y up, ground y = 0, metres; times in seconds.

Feet on the ground is three steps: ``ground_offset`` (how much to lift, from contacts and from
soles under the floor), ``lift_along_view_rays`` (lift along the static camera's view rays, so
the body stays where the camera saw it) and ``keep_pelvis_on_view_ray`` (for large lifts, bend
the legs instead of raising the pelvis off its ray). Solvers without a camera use the first
alone (a vertical lift).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inference_backend.contacts import CHANNEL_CLEARANCE_M  # re-exported (the scene stage uses it)
from inference_backend.kinematics import (
    forward_kinematics,
    matrix_to_quat,
    quat_sign_continuity,
    quat_slerp,
    quat_to_matrix,
    rodrigues,
)
from inference_backend.smoothing import local_linear_smooth
from inference_backend.smpl_constants import CONTACT_JOINTS


@dataclass(frozen=True)
class TrajectoryConfig:
    """Bounds of the root corrections."""

    ground_snap_max_m: float = 0.25    # only surfaces this close above y = 0 count as the ground
    ground_sink_max_m: float = 0.6     # soles down to this far below y = 0 are lifted onto it
    ground_sink_tolerance_m: float = 0.02  # ... up to this far below it (fit noise)
    ground_offset_sigma_s: float = 0.15
    ground_gap_max_s: float = 0.6      # contact gaps up to this long are bridged linearly;
    ground_gap_ramp_s: float = 0.3     # longer ones fade to no offset within this of each end
    slide_max_offset_m: float = 0.08
    slide_highpass_sigma_s: float = 1.0
    plant_smooth_s: float = 0.08       # plant_offset's correction is smoothed this much
    contact_threshold: float = 0.5
    ray_anchor: str = "feet"           # "feet" | "pelvis" | "body": whose view ray a lift follows
    ray_max_fraction: float = 0.35     # a lift moves the body along a ray by <= this x distance
    ray_from_m: float = 0.03           # lifts below this go straight up, above ``ray_full_m``
    ray_full_m: float = 0.08           # along the view ray (linear blend between)
    leg_reach_fraction: float = 0.99   # the legs bend to pin the feet; never stretched past this
    settle_from_m: float = 0.04        # the pelvis returns to its view ray for lifts above this,
    settle_full_m: float = 0.10        # fully from this lift on (linear between)


def bridge_gaps(present: np.ndarray, times: np.ndarray, max_gap_s: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Plan how to fill frames without observations.

    Returns (valid (F,), src_a (F,), src_b (F,), alpha (F,)): every frame's value is
    ``interp(value[src_a], value[src_b], alpha)``. Observed frames point to themselves; inner
    gaps whose missing time (frames x typical interval) is <= max_gap_s are interpolated and
    valid; longer gaps and the ends hold the nearest observed frame and are invalid.
    """
    pres = np.asarray(present, bool)
    t = np.asarray(times, float)
    n = len(pres)
    idx = np.arange(n)
    valid = pres.copy()
    src_a, src_b, alpha = idx.copy(), idx.copy(), np.zeros(n)
    if not pres.any():
        return np.zeros(n, bool), src_a, src_b, alpha
    good = idx[pres]
    pos = np.searchsorted(good, idx)
    left = good[np.clip(pos - 1, 0, len(good) - 1)]
    right = good[np.clip(pos, 0, len(good) - 1)]
    dt = float(np.median(np.diff(t))) if n > 1 else 0.0
    for i in idx[~pres]:
        lo, hi = left[i], right[i]
        inner = lo < i < hi
        if inner and (t[hi] - t[lo] - dt) <= max_gap_s + 1e-9:
            src_a[i], src_b[i] = lo, hi
            alpha[i] = (t[i] - t[lo]) / (t[hi] - t[lo])
            valid[i] = True
        else:
            if i < good[0]:
                near = good[0]
            elif i > good[-1]:
                near = good[-1]
            else:
                near = lo if t[i] - t[lo] <= t[hi] - t[i] else hi
            src_a[i] = src_b[i] = near
    return valid, src_a, src_b, alpha


def fill_rotations(rots: np.ndarray, src_a: np.ndarray, src_b: np.ndarray, alpha: np.ndarray
                   ) -> np.ndarray:
    """Rotations (F, J, 3, 3) filled by slerp according to ``bridge_gaps``."""
    q = quat_sign_continuity(matrix_to_quat(rots), axis=0)
    filled = quat_slerp(q[src_a], q[src_b], np.broadcast_to(alpha[:, None], q.shape[:2]))
    return quat_to_matrix(filled)


def fill_linear(values: np.ndarray, src_a: np.ndarray, src_b: np.ndarray, alpha: np.ndarray
                ) -> np.ndarray:
    """Values (F, ...) filled by linear interpolation according to ``bridge_gaps``."""
    a = alpha.reshape((-1,) + (1,) * (values.ndim - 1))
    return (1 - a) * values[src_a] + a * values[src_b]


def _bridge_contacts(values: np.ndarray, known: np.ndarray, times: np.ndarray,
                     config: TrajectoryConfig) -> np.ndarray:
    """Values (F,) known where ``known``: short gaps interpolated, long ones faded to 0 from
    both sides, the ends held (see ``ground_offset``)."""
    if not known.any():
        return np.zeros_like(values)
    out = np.interp(times, times[known], values[known])
    idx = np.flatnonzero(known)
    pos = np.searchsorted(idx, np.arange(len(times)))
    inner = (pos > 0) & (pos < len(idx)) & ~known
    left = idx[np.clip(pos - 1, 0, len(idx) - 1)]
    right = idx[np.clip(pos, 0, len(idx) - 1)]
    long_gap = inner & (times[right] - times[left] > config.ground_gap_max_s)
    ramp = max(config.ground_gap_ramp_s, 1e-9)
    w_left = np.clip(1.0 - (times - times[left]) / ramp, 0.0, 1.0)
    w_right = np.clip(1.0 - (times[right] - times) / ramp, 0.0, 1.0)
    faded = w_left * values[left] + w_right * values[right]
    return np.where(long_gap, faded, out)


def ground_offset(joints: np.ndarray, contacts: np.ndarray, times: np.ndarray,
                  config: TrajectoryConfig = TrajectoryConfig()) -> np.ndarray:
    """Vertical root offset (F,) that puts the contact feet's soles at y = 0 and no sole under it.

    joints: (F, 24, 3) world; contacts: (F, 4). On frames with a contact, the target offset is
    minus the mean sole height of the contacting channels (joint height -
    ``CHANNEL_CLEARANCE_M``), ignoring surfaces more than ``ground_snap_max_m`` above the ground
    (a platform stays a platform) or ``ground_sink_max_m`` below it. Between contacts it is
    interpolated (gaps up to ``ground_gap_max_s``, a swing phase) or, in longer gaps, faded to
    zero within ``ground_gap_ramp_s`` of each contact (no evidence, no correction: interpolating
    across a whole second lifts feet that are on the ground), and held before the first and
    after the last contact; then smoothed over ``ground_offset_sigma_s``.
    On every frame, contact or not, the offset is also at least what lifts the lowest sole that
    is more than ``ground_sink_tolerance_m`` under the ground up to that depth: a foot under a
    flat floor is always an error of the fit (a deep squat fitted with too-straight legs or too
    far away), never a surface.
    """
    h = joints[:, list(CONTACT_JOINTS), 1] - np.asarray(CHANNEL_CLEARANCE_M)   # (F, 4)
    on = contacts >= config.contact_threshold
    near = (h <= config.ground_snap_max_m) & (h >= -config.ground_sink_max_m)
    use = on & near
    cnt = use.sum(1)
    known = cnt > 0
    target = np.where(known, -(np.where(use, h, 0).sum(1) / np.maximum(cnt, 1)), 0.0)
    low = h.min(1)
    sunk = (low < -config.ground_sink_tolerance_m) & (low >= -config.ground_sink_max_m)
    need = np.where(sunk, -low - config.ground_sink_tolerance_m, -np.inf)           # (F,)
    if not known.any() and not np.isfinite(need).any():
        return np.zeros(len(times))
    off = _bridge_contacts(target, known, times, config)
    off = np.maximum(off, need)
    off = local_linear_smooth(off[:, None], times, config.ground_offset_sigma_s)[:, 0]
    off = np.maximum(off, need)
    return np.clip(off, -config.ground_snap_max_m, config.ground_sink_max_m)


def lift_along_view_rays(joints: np.ndarray, lift: np.ndarray, camera_centre: np.ndarray,
                         config: TrajectoryConfig = TrajectoryConfig()) -> np.ndarray:
    """Root offsets (F, 3) that raise the body by ``lift`` (F,) m while keeping it where the
    camera sees it: the body slides along the camera's view ray through an anchor point.

    joints: (F, 24, 3) world (Y up); camera_centre: (3,) world position of the static camera.
    A static camera only observes directions: a fit placed too far away along its rays sits
    too low (when the camera looks down at it) and its feet sink under the floor. Lifting it
    straight up would move it off the person in the image; moving it along the rays towards
    the camera lifts it by the same amount and keeps its image. The anchor
    (``config.ray_anchor``) is the feet (mean of the four contact channels: the ray-floor
    intersection fixes their distance), the pelvis, or the mean of all joints. The horizontal
    part of the move is bounded by ``ray_max_fraction`` of the anchor's horizontal distance;
    what the bound leaves of the lift is applied vertically (a ray nearly parallel to the
    floor cannot lift). Small lifts (below ``ray_from_m``, blended in up to ``ray_full_m``) go
    straight up: they are within the fit's noise, and along a ray they would move the body 3-5
    times as far horizontally (walked distances, the world's anchor).
    """
    j = np.asarray(joints, float)
    dy = np.asarray(lift, float)
    c = np.asarray(camera_centre, float)
    if config.ray_anchor == "feet":
        anchor = j[:, list(CONTACT_JOINTS)].mean(1)
    elif config.ray_anchor == "pelvis":
        anchor = j[:, 0]
    else:
        anchor = j.mean(1)
    ray = anchor - c                                    # (F, 3) camera -> anchor
    horiz = np.linalg.norm(ray[:, [0, 2]], axis=1)
    drop = -ray[:, 1]                                   # > 0 when the camera looks down at it
    # Moving by s * ray (s < 0: towards the camera) raises everything by -s * drop.
    ok = (drop > 1e-6) & (horiz > 1e-6)
    span = max(config.ray_full_m - config.ray_from_m, 1e-9)
    share = np.clip((np.abs(dy) - config.ray_from_m) / span, 0.0, 1.0)
    s = np.where(ok, -dy * share / np.where(ok, drop, 1.0), 0.0)
    s = np.clip(s, -config.ray_max_fraction, config.ray_max_fraction)
    out = s[:, None] * ray
    out[:, 1] += dy - out[:, 1]                         # the rest of the lift, vertically
    return out


def slide_offset(joints: np.ndarray, contacts: np.ndarray, times: np.ndarray,
                 config: TrajectoryConfig = TrajectoryConfig()) -> np.ndarray:
    """Horizontal root offset (F, 2) (x, z) that cancels the contact feet's sliding.

    The per-frame horizontal displacement of the contacting channels (weighted by contact
    probability) is subtracted cumulatively; the slow part of the accumulated correction is
    removed (high-pass, ``slide_highpass_sigma_s``) so the long-term path still follows the
    observations, and the result is bounded by ``slide_max_offset_m``.
    """
    xz = joints[:, list(CONTACT_JOINTS)][..., [0, 2]]               # (F, 4, 2)
    n = len(times)
    if n < 3:
        return np.zeros((n, 2))
    w = np.where(contacts >= config.contact_threshold, contacts, 0.0)
    both = np.minimum(w[1:], w[:-1])                                  # contact on both frames
    disp = xz[1:] - xz[:-1]
    num = (both[..., None] * disp).sum(1)
    den = both.sum(1)
    step = np.where(den[:, None] > 0, num / np.maximum(den, 1e-9)[:, None], 0.0)
    corr = np.concatenate([np.zeros((1, 2)), -np.cumsum(step, axis=0)])
    slow = local_linear_smooth(corr, times, config.slide_highpass_sigma_s)
    out = corr - slow
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    scale = np.minimum(1.0, config.slide_max_offset_m / np.maximum(norm, 1e-9))
    return out * scale


def plant_offset(joints: np.ndarray, contacts: np.ndarray, times: np.ndarray,
                 config: TrajectoryConfig = TrajectoryConfig()) -> np.ndarray:
    """Horizontal root offset (F, 2) (x, z) that keeps planted feet where they are planted.

    joints: (F, 24, 3) world; contacts: (F, 4) (left ankle, left toe, right ankle, right toe).
    A foot is planted while either of its channels is >= ``contact_threshold``. Over each
    planted run its point (the mean of its contact joints) is pinned to the run's mean
    position: the correction on a planted frame is that anchor minus where the fit put the
    foot, averaged over the planted feet. Between planted frames the correction is
    interpolated linearly (held before the first and after the last), then optionally
    smoothed over ``plant_smooth_s`` (it steps where a foot lands or lifts). So
    while a foot is
    planted the root follows it (its motion comes from the skeleton, not from the jitter of
    the monocular depth), and since each run's correction averages to zero the path does not
    drift away from what the camera saw.
    """
    j = np.asarray(joints, float)
    n = len(times)
    out = np.zeros((n, 2))
    if n < 2:
        return out
    on = np.asarray(contacts) >= config.contact_threshold
    total = np.zeros((n, 2))
    count = np.zeros(n)
    for chans in ((0, 1), (2, 3)):
        planted = on[:, list(chans)].any(1)
        pt = j[:, [CONTACT_JOINTS[c] for c in chans]].mean(1)[:, [0, 2]]      # (F, 2)
        starts = np.flatnonzero(planted & ~np.concatenate([[False], planted[:-1]]))
        for a in starts:
            b = a + int(np.argmin(planted[a:])) if not planted[a:].all() else n
            anchor = pt[a:b].mean(0)
            total[a:b] += anchor - pt[a:b]
            count[a:b] += 1
    known = count > 0
    if not known.any():
        return out
    corr = total[known] / count[known, None]
    t = np.asarray(times, float)
    for d in range(2):
        out[:, d] = np.interp(t, t[known], corr[:, d])
    # The correction steps where a foot lands or lifts; a light smoothing keeps the root's
    # acceleration bounded there (the feet stay pinned to within millimetres).
    if config.plant_smooth_s <= 0:
        return out
    return local_linear_smooth(out, t, config.plant_smooth_s)


#: (hip, knee, ankle) SMPL joint indices of the left and the right leg.
_LEGS: tuple[tuple[int, int, int], ...] = ((1, 4, 7), (2, 5, 8))


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def _min_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotations (..., 3, 3) taking directions a (..., 3) onto b (..., 3)."""
    a, b = _unit(a), _unit(b)
    axis = np.cross(a, b)
    sin = np.linalg.norm(axis, axis=-1)
    cos = np.clip(np.sum(a * b, -1), -1.0, 1.0)
    angle = np.arctan2(sin, cos)
    # Opposite directions (never met here: legs bend by less than 180 deg) fall back to no turn.
    return rodrigues(_unit(axis) * np.where(sin > 1e-12, angle, 0.0)[..., None])


def keep_pelvis_on_view_ray(rest: np.ndarray, local_rots: np.ndarray, transl_seen: np.ndarray,
                            transl: np.ndarray, camera_centre: np.ndarray,
                            config: TrajectoryConfig = TrajectoryConfig()
                            ) -> tuple[np.ndarray, np.ndarray]:
    """Put the pelvis back on its view ray and bend the legs so the feet stay where they are.

    rest: (24, 3) rest joints; local_rots: (F, 24, 3, 3) (index 0 = world orientation);
    transl_seen: (F, 3) the root translation as the camera saw it (before feet-on-the-ground
    corrections); transl: (F, 3) after them; camera_centre: (3,) world. Returns
    (local_rots (F, 24, 3, 3), transl (F, 3)).

    Ground corrections move the whole body rigidly so the feet reach the floor. When the fitted
    legs are too straight (a deep squat seen from the front: MediaPipe flattens the bend), the
    pelvis then ends up above where the camera saw it, and the upper body is drawn off the
    person. Here the pelvis moves to the point of its original view ray (camera -> pelvis as
    seen) closest to its corrected position, and each leg is re-solved as a two-bone chain
    (hip -> knee -> ankle, bend plane through the current knee) so that the ankles keep their
    corrected positions; the feet keep their world orientation. Only large lifts are undone
    that way: the move is weighted by the vertical lift (``transl - transl_seen``), from 0 at
    ``settle_from_m`` to 1 at ``settle_full_m`` (a near-straight leg turns a centimetre of
    pelvis move into a large knee bend, and small lifts are within the fit's noise); frames
    below ``settle_from_m`` are returned unchanged. The move is reduced further (in quarters)
    on frames where a leg could not reach its ankle within ``leg_reach_fraction`` of its
    length, and dropped where not even a quarter fits.
    """
    rest = np.asarray(rest, float)
    local = np.array(local_rots, float, copy=True)
    t = np.array(transl, float, copy=True)
    c = np.asarray(camera_centre, float)
    seen_t = np.asarray(transl_seen, float)
    span = max(config.settle_full_m - config.settle_from_m, 1e-9)
    weight = np.clip((t[:, 1] - seen_t[:, 1] - config.settle_from_m) / span, 0.0, 1.0)
    act = np.flatnonzero(weight > 0)               # every other frame is returned unchanged
    if act.size == 0:
        return local, t
    pos, glob = forward_kinematics(rest, local[act], t[act])
    seen = rest[0] + seen_t[act]                                       # pelvis as seen
    u = _unit(seen - c)
    closest = c + np.sum((pos[:, 0] - c) * u, -1, keepdims=True) * u
    delta = (closest - pos[:, 0]) * weight[act, None]                  # (A, 3)
    lengths = [(np.linalg.norm(rest[k] - rest[h]), np.linalg.norm(rest[a] - rest[k]))
               for h, k, a in _LEGS]
    scale = np.zeros(len(act))
    for frac in (1.0, 0.75, 0.5, 0.25):
        fits = np.ones(len(act), bool)
        for (h, _, a), (l1, l2) in zip(_LEGS, lengths, strict=True):
            d = np.linalg.norm(pos[:, a] - (pos[:, h] + frac * delta), axis=-1)
            fits &= d <= config.leg_reach_fraction * (l1 + l2)
        scale = np.where((scale == 0.0) & fits, frac, scale)
    keep = scale > 0                                # legs that cannot reach: left alone
    act, pos, glob = act[keep], pos[keep], glob[keep]
    delta = delta[keep] * scale[keep, None]
    for leg, leg_lengths in zip(_LEGS, lengths, strict=True):
        rots = leg_to_target(pos, glob, leg, leg_lengths, delta, pos[:, leg[2]],
                             config.leg_reach_fraction)
        for j, r in zip(leg, rots, strict=True):
            local[act, j] = r
    t[act] += delta
    return local, t


def leg_to_target(pos: np.ndarray, glob: np.ndarray, leg: tuple[int, int, int],
                  lengths: tuple[float, float], hip_shift: np.ndarray, target: np.ndarray,
                  reach_fraction: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two-bone solve of one leg: local rotations (hip, knee, ankle), each (A, 3, 3), that put
    the ankle on ``target`` (A, 3) with the hip moved by ``hip_shift`` (A, 3) (the pelvis moves
    rigidly with it), the knee bending in the plane through its current position and the foot
    keeping its world orientation.

    pos, glob: (A, 24, 3) / (A, 24, 3, 3) world joints and rotations before the change; leg:
    (hip, knee, ankle) joint indices; lengths: (thigh, shin) m. A target farther than
    ``reach_fraction`` of the leg's length is reached as far as that (the leg points at it).
    """
    h, k, a = leg
    l1, l2 = lengths
    hip = pos[:, h] + hip_shift
    knee = pos[:, k] + hip_shift
    to_target = target - hip
    dist = np.clip(np.linalg.norm(to_target, axis=-1), abs(l1 - l2) + 1e-6,
                   reach_fraction * (l1 + l2))
    axis = _unit(to_target)
    pole = (knee - hip) - np.sum((knee - hip) * axis, -1, keepdims=True) * axis
    x = (l1 * l1 - l2 * l2 + dist * dist) / (2.0 * dist)
    y = np.sqrt(np.maximum(l1 * l1 - x * x, 0.0))
    knee_new = hip + x[:, None] * axis + y[:, None] * _unit(pole)
    turn_thigh = _min_rotation(knee - hip, knee_new - hip)          # (A, 3, 3)
    g_hip = turn_thigh @ glob[:, h]
    g_knee = turn_thigh @ glob[:, k]
    shin_now = turn_thigh @ (pos[:, a] + hip_shift - knee)[..., None]
    g_knee = _min_rotation(shin_now[..., 0], target - knee_new) @ g_knee
    parent = glob[:, 0]                                            # hips hang off the pelvis
    return (np.swapaxes(parent, -1, -2) @ g_hip, np.swapaxes(g_hip, -1, -2) @ g_knee,
            np.swapaxes(g_knee, -1, -2) @ glob[:, a])
