"""Limb depths from the image landmarks and fixed bone lengths where the image determines them;
the detector picks the depth order.

BlazePose's metric (world) landmarks place the limbs in depth with errors of 4-8 cm per bone on
our rendered clips, while its image landmarks are within a few pixels. With a bone's length L
known, a child joint seen at pixel u lies on the ray through u at distance L from its parent P:
``|s r - P| = L`` has two roots (the child in front of or behind the parent, the classic
monocular ambiguity; one root when the ray only grazes the sphere). The depth offset's size
then follows from the image, and the detector only has to say which of the two it is.

That is only reliable where the bone is clearly inclined in depth: near the image plane the
offset ``sqrt(L^2 - l^2)`` amplifies errors of the projected length l (a length 4 % long turns
a bone lying in the image plane into one 13 cm deep) and the detector's sign is a coin toss.
So a child joint moves onto its ray only where both roots are more than ``min_depth_fraction``
of the bone's length in front of / behind the parent's depth; elsewhere it keeps the detector's
offset from its (possibly moved) parent. Measured alternatives, all worse on the tuning clips
(docs/accuracy.md, issue 17 item 6): every frame lifted; the depth order chosen for the whole
track by a two-state Viterbi (detector disagreement + joint motion).

Not on by default (``LimbDepthConfig.min_depth_fraction`` = 1.0): it helped on the tuning
clips only. The upper arms can take their order from anatomy instead
(``front_fraction``: the elbow in front of the body where the image shows the upper arm
inclined; the detector's elbow depth hardly moves with the arm on our renders): also off by
default, better on the tuning clips and six of eight held-out ones, worse on both 80° clips,
where walking arms swing back (docs/accuracy.md, "Item 6: the limb depth order").
The shoulder's range of motion (``range_of_motion``, ``ShoulderRange``: take the elbow's
candidate inside the published clinical range where the other is outside it) was meant to
keep walking back-swings and fix the arms raised forwards; off by default: on the tuning
clips it decides none of the frames where the detector's order is wrong, even with exact
geometry, because the mirror of the squat's forward arm on its ray is a nearly hanging arm
(0-12 deg behind the body), well inside every published range (docs/accuracy.md, "Item 6:
the shoulder's range of motion").

Order: thighs and upper arms from the detector's hips and shoulders, then shins and forearms
from the (possibly moved) knees and elbows. The foot and hand landmarks move with their ankle
and wrist. Pure numpy; shapes in the docstrings, metres and pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inference_backend.landmark_map import LM

#: (parent, child) landmark names in solving order (a child is solved after its parent).
LIMB_BONES: tuple[tuple[str, str], ...] = tuple(
    (f"{side}_{a}", f"{side}_{b}")
    for side in ("left", "right")
    for a, b in (("hip", "knee"), ("knee", "ankle"), ("shoulder", "elbow"), ("elbow", "wrist")))
#: Landmarks carried rigidly (translated) with a solved joint.
CARRIED: dict[str, tuple[str, ...]] = {
    f"{side}_{joint}": tuple(f"{side}_{n}" for n in names)
    for side in ("left", "right")
    for joint, names in (("ankle", ("heel", "foot_index")),
                         ("wrist", ("index", "pinky", "thumb")))}


@dataclass(frozen=True)
class ShoulderRange:
    """How far the upper arm can point behind the body (the torso's frontal plane), by how high
    it is raised; clinical active ranges of the glenohumeral joint with the shoulder girdle,
    not fitted to any clip.

    Published normal ranges (American Academy of Orthopaedic Surgeons, "Joint Motion: Method
    of Measuring and Recording", 1965, and Greene & Heckman, "The Clinical Measurement of Joint
    Motion", AAOS 1994; the same figures in common physiotherapy goniometry tables, e.g.
    Norkin & White, "Measurement of Joint Motion"): flexion 0-180 deg, extension 0-60 deg,
    abduction 0-180 deg, horizontal abduction (extension: the arm raised sideways to shoulder
    height, moved back behind the frontal plane) 0-45 deg. Flexion and abduction reach
    overhead, so in front of the frontal plane every direction is in range.

    Behind it, the angle b between the arm and the frontal plane is limited by the elevation e
    (the angle from hanging straight down): ``extension_deg`` while the arm is lower than that
    (pure extension from hanging), ``horizontal_extension_deg`` at shoulder height (e = 90),
    0 overhead (e = 180, flexion and abduction end there); linear in e between these anchors
    (the interpolation is ours; the ``margin_deg`` covers it and the torso frame's error).
    """

    extension_deg: float = 60.0
    horizontal_extension_deg: float = 45.0
    #: A direction counts as out of range only this far past the limit.
    margin_deg: float = 10.0

    def behind_limit_deg(self, elevation_deg: np.ndarray) -> np.ndarray:
        """Largest angle (deg) behind the frontal plane at elevations (...,) deg."""
        e = np.asarray(elevation_deg, float)
        return np.interp(e, [0.0, self.extension_deg, 90.0, 180.0],
                         [self.extension_deg, self.extension_deg,
                          self.horizontal_extension_deg, 0.0])

    def out_of_range(self, direction: np.ndarray, up: np.ndarray, forward: np.ndarray
                     ) -> np.ndarray:
        """Upper-arm directions (F, 3) (shoulder to elbow, any length) past the range by more
        than the margin, in the torso frame of unit vectors up and forward (F, 3): (F,) bool
        (False where anything is NaN)."""
        d = np.asarray(direction, float)
        n = np.linalg.norm(d, axis=-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            d = d / n[:, None]
            elevation = np.degrees(np.arccos(np.clip(-np.sum(d * up, -1), -1.0, 1.0)))
            behind = np.degrees(np.arcsin(np.clip(-np.sum(d * forward, -1), -1.0, 1.0)))
            out = behind > self.behind_limit_deg(elevation) + self.margin_deg
        return out & np.isfinite(behind) & np.isfinite(elevation) & (n > 0)


@dataclass(frozen=True)
class LimbDepthConfig:
    """Where the image's depth replaces the detector's, and the landmarks it trusts."""

    #: A child joint moves onto its ray only where its depth offset from the parent implied by
    #: the image exceeds this fraction of the bone length (the bone is inclined > ~33 degrees
    #: out of the image plane); 1.0 turns the lift off. Off by default: 0.55 (chosen on the two
    #: tuning clips) took 1.1-1.7 mm off PA-MPJPE there but added 0.1-0.5 mm on the held-out
    #: clips (docs/accuracy.md, issue 17 item 6).
    min_depth_fraction: float = 1.0
    min_weight: float = 0.5          # both ends of a bone need at least this landmark weight
    #: Anatomical order for the bones in ``front_bones``: where the image's depth offset exceeds
    #: this fraction of the bone length, the child goes on the candidate in front of the body
    #: (the torso's facing from the detector's shoulders and hips), whatever the detector's
    #: depth says. 1.0 turns it off.
    front_fraction: float = 1.0
    #: (parent, child) landmark names the anatomical order applies to.
    front_bones: tuple[tuple[str, str], ...] = (("left_shoulder", "left_elbow"),
                                                ("right_shoulder", "right_elbow"))
    #: The shoulder's range of motion decides the upper arms' order where it can: of the
    #: elbow's two candidates, one outside the range (``shoulder_range``) and one inside, the
    #: elbow goes onto the inside one; elsewhere the detector's depth stays. Off by default:
    #: it never corrects the detector on the tuning clips (see the module docstring).
    range_of_motion: bool = False
    shoulder_range: ShoulderRange = ShoulderRange()


#: The upper arms (shoulder, elbow), whose order the shoulder's range of motion can decide.
ARMS: tuple[tuple[str, str], ...] = (("left_shoulder", "left_elbow"),
                                     ("right_shoulder", "right_elbow"))


def lifts(config: LimbDepthConfig) -> bool:
    """Whether ``lift_limbs`` changes anything with this config."""
    return (min(config.min_depth_fraction, config.front_fraction) < 1.0
            or config.range_of_motion)


def view_rays(image: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Rays (..., 3) with z = 1 through pixels image (..., 2) of the camera K (3, 3)."""
    uv = np.asarray(image, float)
    x = (uv[..., 0] - K[0, 2]) / K[0, 0]
    y = (uv[..., 1] - K[1, 2]) / K[1, 1]
    return np.stack([x, y, np.ones_like(x)], axis=-1)


def bone_candidates(parent: np.ndarray, ray: np.ndarray, length: float
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The two points (F, 3) on each ray (F, 3) at distance ``length`` from parent (F, 3),
    nearer first; where the ray passes farther than ``length`` both are its closest point."""
    a = np.sum(ray * ray, -1)
    b = np.sum(ray * parent, -1)
    disc = b * b - a * (np.sum(parent * parent, -1) - length * length)
    half = np.sqrt(np.maximum(disc, 0.0)) / a
    mid = b / a
    return (mid - half)[:, None] * ray, (mid + half)[:, None] * ray


def _torso_vectors(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(up, left) (F, 3) of the torsos in points (F, 33, 3), not normalised: up from the
    mid-hip to the mid-shoulder, left from the right to the left shoulder and hip."""
    p = np.asarray(points, float)
    ls, rs, lh, rh = (p[:, LM[n]] for n in ("left_shoulder", "right_shoulder", "left_hip",
                                              "right_hip"))
    return 0.5 * (ls + rs - lh - rh), 0.5 * (ls - rs + lh - rh)


def _forward_of(up: np.ndarray, left: np.ndarray) -> np.ndarray:
    fwd = np.cross(left, up)
    norm = np.linalg.norm(fwd, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 1e-9, fwd / norm, np.nan)


def torso_forward(points: np.ndarray) -> np.ndarray:
    """Unit vectors (F, 3) out of the chest of the torsos in points (F, 33, 3) (camera axes:
    x right, y down, z forward): left x up, with left from the right to the left shoulder and
    hip, up from the mid-hip to the mid-shoulder. NaN where the torso is degenerate."""
    return _forward_of(*_torso_vectors(points))


def torso_axes(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal (up, forward) unit vectors (F, 3) of the torsos in points (F, 33, 3)
    (camera axes): up from the mid-hip to the mid-shoulder, forward out of the chest
    (``torso_forward``'s, made perpendicular to up). NaN where the torso is degenerate."""
    up, left = _torso_vectors(points)
    fwd = _forward_of(up, left)
    with np.errstate(invalid="ignore", divide="ignore"):
        up = up / np.linalg.norm(up, axis=-1, keepdims=True)
        fwd = fwd - np.sum(fwd * up, -1, keepdims=True) * up
        fwd = fwd / np.linalg.norm(fwd, axis=-1, keepdims=True)
    bad = ~(np.isfinite(up).all(-1) & np.isfinite(fwd).all(-1))
    up[bad] = np.nan
    fwd[bad] = np.nan
    return up, fwd


def range_pick(parent: np.ndarray, near: np.ndarray, far: np.ndarray, up: np.ndarray,
               forward: np.ndarray, limits: ShoulderRange) -> tuple[np.ndarray, np.ndarray]:
    """Which of an elbow's two candidates (F, 3) the shoulder's range of motion allows, the
    shoulder at parent (F, 3), torso axes up and forward (F, 3): (decided, near_ok) (F,) bool,
    decided where exactly one candidate is out of range, near_ok where that one is the far."""
    near_out = limits.out_of_range(near - parent, up, forward)
    far_out = limits.out_of_range(far - parent, up, forward)
    return near_out != far_out, far_out


def lift_limbs(metric: np.ndarray, image: np.ndarray, weights: np.ndarray, K: np.ndarray,
               root: np.ndarray, config: LimbDepthConfig = LimbDepthConfig()) -> np.ndarray:
    """Copy of a track's metric landmarks (F, 33, 3) (camera axes, origin the mid-hip) with
    knees, ankles, elbows and wrists (and the foot / hand points) moved onto their image rays
    (image (F, 33, 2) pixels, camera K (3, 3)) at fixed bone lengths from their parents, where
    the bone is clearly inclined in depth; the root nearer the detector's depth wins (see the
    module docstring).

    weights (F, 33): landmark weights (0 = unusable); root (F, 3): the mid-hip in camera
    coordinates (e.g. ``camera.solve_root_translation``). Bone lengths: the detector's median
    3D length, but at least the median length seen in the image (a bone is never shorter than
    its projection). Other frames keep the detector's offset from the parent.
    """
    met = np.asarray(metric, float)
    w = np.asarray(weights, float)
    root = np.asarray(root, float)
    if not lifts(config) or met.shape[0] == 0:
        return met.copy()
    cam = met + root[:, None, :]
    ray = view_rays(image, K)
    out = cam.copy()
    usable = np.all(np.isfinite(cam), -1) & np.isfinite(root).all(-1)[:, None]
    # the torso's axes, only for the options that use them
    forward = torso_forward(cam) if config.front_fraction < 1.0 else None
    up, fwd_ortho = torso_axes(cam) if config.range_of_motion else (None, None)
    for pa, ch in LIMB_BONES:
        ia, ib = LM[pa], LM[ch]
        keep = out[:, ia] + (cam[:, ib] - cam[:, ia])    # the detector's offset from the parent
        ok = (w[:, ia] >= config.min_weight) & (w[:, ib] >= config.min_weight)
        ok &= usable[:, ia] & usable[:, ib]
        new = keep
        if ok.sum() >= 3:
            # The bone's projection at the detector's depths (its length in the image plane).
            in_plane = np.linalg.norm((ray[:, ib] * cam[:, ib, 2:3]
                                       - ray[:, ia] * cam[:, ia, 2:3])[:, :2], axis=-1)
            length = max(float(np.median(np.linalg.norm(cam[ok, ib] - cam[ok, ia], axis=-1))),
                         float(np.median(in_plane[ok])))
            near, far = bone_candidates(out[:, ia], ray[:, ib], length)
            deep = np.minimum(out[:, ia, 2] - near[:, 2], far[:, 2] - out[:, ia, 2])
            use = ok & (deep > config.min_depth_fraction * length)
            pick = np.abs(near[:, 2] - keep[:, 2]) <= np.abs(far[:, 2] - keep[:, 2])
            if (pa, ch) in config.front_bones and config.front_fraction < 1.0:
                front = ok & (deep > config.front_fraction * length) & np.isfinite(forward).all(-1)
                in_front = (np.sum((near - out[:, ia]) * forward, -1)
                            >= np.sum((far - out[:, ia]) * forward, -1))
                pick = np.where(front, in_front, pick)
                use |= front
            if (pa, ch) in ARMS and config.range_of_motion:
                decided, near_ok = range_pick(out[:, ia], near, far, up, fwd_ortho,
                                              config.shoulder_range)
                decided &= ok
                pick = np.where(decided, near_ok, pick)
                use |= decided
            lifted = np.where(pick[:, None], near, far)
            new = np.where(use[:, None], lifted, keep)
        new = np.where(usable[:, ib, None], new, out[:, ib])
        delta = new - cam[:, ib]
        out[:, ib] = new
        for name in CARRIED.get(ch, ()):
            out[:, LM[name]] = cam[:, LM[name]] + delta
    return out - root[:, None, :]
