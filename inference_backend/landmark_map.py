"""MediaPipe BlazePose 33 landmarks -> SMPL 24 joint targets, as one linear map.

Every SMPL target is a fixed linear combination of landmarks (``targets = W @ landmarks``), so
the same map applies to metric 3D landmarks and, to first order, to image landmarks (an affine
combination of projected points is close to the projection of the combination for a body far
from the camera). Choices, in the SMPL template's proportions (``SMPL_TEMPLATE_REST_JOINTS``):

- hips, knees, ankles, shoulders, elbows, wrists: the landmark of the same name (BlazePose puts
  them at the joint centres).
- pelvis: mid-hip moved up the trunk by 0.166 of mid-hip -> mid-shoulder (SMPL's pelvis joint
  sits about 9 cm above the hip-joint line; trunk length about 0.55 m).
- neck: mid-shoulder continued 0.107 of the trunk beyond the shoulders (about 6 cm above).
- spine1/2/3: on the line pelvis -> neck at 0.232 / 0.495 / 0.589 (template heights). They are
  interpolations, so the fit gives them a low weight (``TARGET_WEIGHT``).
- collars: 0.45 shoulder + 0.30 neck + 0.25 spine3 (between neck and shoulder, a little low).
- head: mid-ear + 0.1 (nose - mid-ear) (the SMPL head joint lies between the ears).
- feet (SMPL ``*_foot``, the ball of the foot): ankle + 0.62 (foot_index - ankle)
  - 0.07 (heel - ankle).
- hands: wrist + 0.87 (mid(index, pinky) - wrist) (SMPL's hand joint is about 8 cm past the
  wrist; BlazePose's index/pinky are the knuckles, about 10 cm past).

Confidence of a target = the smallest visibility among the landmarks it uses with weight
>= 0.05 (a target is only as good as its worst ingredient).

``REST_AUX_OFFSETS`` is the rest-pose (T-pose, SMPL body frame) position of the face, hand and
foot landmarks relative to the joint whose segment carries them. It fixes what "zero twist"
means for the head, hands and feet (see ``fitting``) and is what the synthetic test generator
uses to place those landmarks.
"""

from __future__ import annotations

import numpy as np

from inference_backend.smpl_constants import MEDIAPIPE_LANDMARK_NAMES, SMPL_JOINT_NAMES

NUM_LANDMARKS = 33
LM = {name: i for i, name in enumerate(MEDIAPIPE_LANDMARK_NAMES)}
SJ = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}

PELVIS_UP = 0.166
NECK_UP = 0.107
SPINE_FRACTIONS = (0.232, 0.495, 0.589)

#: Relative weight of each SMPL target in the fit (interpolated targets count less).
TARGET_WEIGHT = np.ones(24)
for _name in ("spine1", "spine2", "spine3", "left_collar", "right_collar", "neck"):
    TARGET_WEIGHT[SJ[_name]] = 0.3
TARGET_WEIGHT[SJ["pelvis"]] = 0.1
TARGET_WEIGHT.setflags(write=False)


def _onehot(name: str) -> np.ndarray:
    v = np.zeros(NUM_LANDMARKS)
    v[LM[name]] = 1.0
    return v


def _build_weights() -> np.ndarray:
    lm = _onehot
    mid_hip = 0.5 * (lm("left_hip") + lm("right_hip"))
    mid_sh = 0.5 * (lm("left_shoulder") + lm("right_shoulder"))
    pelvis = mid_hip + PELVIS_UP * (mid_sh - mid_hip)
    neck = mid_sh + NECK_UP * (mid_sh - mid_hip)
    spine = [pelvis + s * (neck - pelvis) for s in SPINE_FRACTIONS]
    w = np.zeros((24, NUM_LANDMARKS))
    w[SJ["pelvis"]] = pelvis
    w[SJ["spine1"]], w[SJ["spine2"]], w[SJ["spine3"]] = spine
    w[SJ["neck"]] = neck
    mid_ear = 0.5 * (lm("left_ear") + lm("right_ear"))
    w[SJ["head"]] = mid_ear + 0.1 * (lm("nose") - mid_ear)
    for side in ("left", "right"):
        for joint in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist"):
            w[SJ[f"{side}_{joint}"]] = lm(f"{side}_{joint}")
        ankle = lm(f"{side}_ankle")
        w[SJ[f"{side}_foot"]] = (ankle + 0.62 * (lm(f"{side}_foot_index") - ankle)
                                 - 0.07 * (lm(f"{side}_heel") - ankle))
        wrist = lm(f"{side}_wrist")
        knuckles = 0.5 * (lm(f"{side}_index") + lm(f"{side}_pinky"))
        w[SJ[f"{side}_hand"]] = wrist + 0.87 * (knuckles - wrist)
        w[SJ[f"{side}_collar"]] = 0.45 * lm(f"{side}_shoulder") + 0.30 * neck + 0.25 * spine[2]
    return w


#: (24, 33) linear map: ``targets[..., j, :] = sum_i LANDMARK_TO_SMPL[j, i] * landmarks[..., i, :]``.
LANDMARK_TO_SMPL: np.ndarray = _build_weights()
LANDMARK_TO_SMPL.setflags(write=False)
#: Per target, the landmarks it uses with weight >= 0.05 (they set its confidence).
_USED_LANDMARKS: tuple[np.ndarray, ...] = tuple(
    np.flatnonzero(np.abs(row) >= 0.05) for row in LANDMARK_TO_SMPL)
assert np.allclose(LANDMARK_TO_SMPL.sum(axis=1), 1.0)  # affine: translation-equivariant


def _mirror(offsets: dict[str, tuple[str, tuple[float, float, float]]]) -> dict:
    out = dict(offsets)
    for name, (joint, (x, y, z)) in offsets.items():
        if name.startswith("left_"):
            seg = "right_" + joint[5:] if joint.startswith("left_") else joint
            out["right_" + name[5:]] = (seg, (-x, y, z))
    return out


#: Landmark name -> (SMPL joint whose segment carries it, rest offset from that joint in the
#: SMPL body frame, metres; +X subject's left, +Y up, +Z forward). T-pose: palms down, thumbs
#: forward; feet flat, toes forward.
REST_AUX_OFFSETS: dict[str, tuple[str, tuple[float, float, float]]] = _mirror({
    "nose": ("head", (0.0, -0.01, 0.10)),
    "left_eye_inner": ("head", (0.015, 0.03, 0.085)),
    "left_eye": ("head", (0.035, 0.03, 0.08)),
    "left_eye_outer": ("head", (0.05, 0.03, 0.07)),
    "left_ear": ("head", (0.075, 0.0, -0.011)),
    "mouth_left": ("head", (0.025, -0.045, 0.085)),
    "left_index": ("left_wrist", (0.10, -0.01, 0.03)),
    "left_pinky": ("left_wrist", (0.09, -0.01, -0.035)),
    "left_thumb": ("left_wrist", (0.05, -0.02, 0.06)),
    "left_heel": ("left_ankle", (0.0, -0.07, -0.06)),
    "left_foot_index": ("left_ankle", (0.045, -0.10, 0.19)),
})
REST_AUX_OFFSETS["mouth_right"] = ("head", (-0.025, -0.045, 0.085))


def smpl_targets(landmarks: np.ndarray, visibility: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Map landmarks (..., 33, D) (D = 2 pixels or 3 metres) to SMPL targets (..., 24, D).

    visibility: (..., 33) in [0, 1] or None (all 1). Returns ``(targets, confidence (..., 24))``.
    """
    lms = np.asarray(landmarks, dtype=np.float64)
    targets = np.einsum("ji,...id->...jd", LANDMARK_TO_SMPL, lms)
    if visibility is None:
        conf = np.ones(lms.shape[:-2] + (24,))
    else:
        vis = np.clip(np.asarray(visibility, dtype=np.float64), 0.0, 1.0)
        # Per target, the minimum over the landmarks it uses (no (..., 24, 33) temporary).
        conf = np.stack([vis[..., used].min(axis=-1) for used in _USED_LANDMARKS], axis=-1)
    return targets, conf


def aux_index(name: str) -> int:
    """MediaPipe landmark index by name."""
    return LM[name]


#: Left/right landmark pairs that BlazePose confuses as a group (legs seen from the side,
#: arms crossing): indices (left, right).
SWAP_GROUPS: dict[str, tuple[tuple[int, int], ...]] = {
    "legs": tuple((LM[f"left_{n}"], LM[f"right_{n}"])
                  for n in ("knee", "ankle", "heel", "foot_index")),
    "arms": tuple((LM[f"left_{n}"], LM[f"right_{n}"])
                  for n in ("elbow", "wrist", "pinky", "index", "thumb")),
}


def detect_left_right_swaps(image_xy: np.ndarray, scale: np.ndarray,
                            switch_cost: float = 0.02, disagree_cost: float = 0.002
                            ) -> dict[str, np.ndarray]:
    """Frames (F,) where a limb group's left/right labels are swapped, per ``SWAP_GROUPS``.

    image_xy: (F, 33, 2) pixels of consecutive observed frames; scale: (F,) person size in
    pixels (e.g. box diagonal). Two-state Viterbi: the labelling that minimises the summed
    squared frame-to-frame motion of the group's landmarks (in units of the person's size),
    plus ``switch_cost`` per label change and ``disagree_cost`` per frame labelled against the
    detector -- so a swap is only declared when it removes jumps larger than that, and a long
    ambiguous stretch keeps the detector's labels.
    """
    xy = np.asarray(image_xy, float)
    s = np.maximum(np.asarray(scale, float), 1.0)
    n = xy.shape[0]
    out: dict[str, np.ndarray] = {}
    for name, pairs in SWAP_GROUPS.items():
        left = np.array([a for a, _ in pairs])
        right = np.array([b for _, b in pairs])
        if n < 3:
            out[name] = np.zeros(n, bool)
            continue
        plain = xy[:, np.concatenate([left, right])] / s[:, None, None]
        swapped = xy[:, np.concatenate([right, left])] / s[:, None, None]
        states = np.stack([plain, swapped], 1)                      # (F, 2, 2G, 2)
        # trans[f, a, b]: cost of state a at f-1 and b at f.
        diff = states[1:, None] - states[:-1, :, None]              # (F-1, 2, 2, 2G, 2)
        trans = np.sum(diff ** 2, axis=(-1, -2))
        # Labels: the state change versus the detector is penalised at each flip.
        trans = trans + switch_cost * (np.arange(2)[:, None] != np.arange(2)[None, :])
        trans = trans + np.array([0.0, disagree_cost])[None, None, :]
        # The recursion is sequential: plain Python floats (exact same float64 arithmetic and
        # first-minimum tie breaking as numpy's argmin) are much cheaper than tiny arrays.
        c0, c1 = 0.0, switch_cost + disagree_cost
        back = bytearray(2 * n)
        for f, ((t00, t01), (t10, t11)) in enumerate(trans.tolist(), start=1):
            a0, b0 = c0 + t00, c1 + t10        # into state 0 from state 0 / 1
            a1, b1 = c0 + t01, c1 + t11        # into state 1
            if b0 < a0:
                back[2 * f], c0_new = 1, b0
            else:
                c0_new = a0
            if b1 < a1:
                back[2 * f + 1], c1 = 1, b1
            else:
                c1 = a1
            c0 = c0_new
        path = np.zeros(n, bool)
        state = 1 if c1 < c0 else 0
        path[-1] = bool(state)
        for f in range(n - 1, 0, -1):
            state = back[2 * f + state]
            path[f - 1] = bool(state)
        out[name] = path
    return out


def apply_left_right_swaps(landmarks: np.ndarray, swaps: dict[str, np.ndarray]) -> np.ndarray:
    """Copy of landmarks (F, 33, D) with the groups' left/right labels exchanged where True."""
    out = np.array(landmarks, copy=True)
    for name, flags in swaps.items():
        idx = np.where(flags)[0]
        if len(idx) == 0:
            continue
        for a, b in SWAP_GROUPS[name]:
            tmp = out[idx, a].copy()
            out[idx, a] = out[idx, b]
            out[idx, b] = tmp
    return out


def temporal_outliers(image_xy: np.ndarray, scale: np.ndarray, window: int = 7,
                      threshold: float = 0.2) -> np.ndarray:
    """Landmarks (F, 33) that jump away from their neighbours in time: farther than
    ``threshold`` x the person's size (``scale`` (F,), e.g. the box diagonal, pixels) from
    the running median of ``window`` consecutive observed frames (image_xy (F, 33, 2)).

    A median follows steady motion however fast (a kick, a jab: the middle of a monotonic
    run is the median; at a track's ends, where the window is mirrored, a point moving at
    ~3 m/s deviates by ~0.15 of the size, under the threshold) and ignores isolated spikes
    and flickering: the detector's output in
    the first frames of a new track, which alternates between two poses (on the bundled clip
    the man's ankles read 0.98, 0.11, 0.76, 0.27 m apart in his first frames)."""
    from scipy.ndimage import median_filter

    xy = np.asarray(image_xy, float)
    n = xy.shape[0]
    if n < window:
        return np.zeros(xy.shape[:2], bool)
    med = median_filter(xy, size=(window, 1, 1), mode="mirror")
    s = np.maximum(np.asarray(scale, float), 1.0)
    return np.linalg.norm(xy - med, axis=-1) / s[:, None] > threshold


def clean_landmarks(image: np.ndarray, metric: np.ndarray, boxes: np.ndarray,
                    min_visibility: float, fix_swaps: bool = True,
                    reject_jumps: bool = True
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A track's landmarks on its observed frames, ready for fitting and the focal search.

    image: (Fo, 33, 3) [u, v, visibility] pixels; metric: (Fo, 33, 3) metres; boxes: (Fo, 4).
    Non-finite coordinates (a detector hiccup) get zero weight and no NaN downstream; with
    ``fix_swaps`` (and >= 3 frames) limbs BlazePose swapped for a few frames are relabelled;
    with ``reject_jumps`` landmarks that jump away from their neighbours in time
    (``temporal_outliers``) get zero weight (the fit's temporal prior carries them).
    Returns (image (Fo, 33, 2), metric (Fo, 33, 3), weights (Fo, 33)) float64, the weights the
    visibility where it is >= ``min_visibility``, else 0.
    """
    img = np.asarray(image, float)
    met = np.asarray(metric, float)
    finite = np.all(np.isfinite(img[..., :2]), -1) & np.all(np.isfinite(met), -1)
    img = np.where(finite[..., None], img, 0.0)
    met = np.where(finite[..., None], met, 0.0)
    box = np.asarray(boxes, float)
    scale = np.hypot(box[:, 2] - box[:, 0], box[:, 3] - box[:, 1])
    if fix_swaps and len(img) >= 3:
        swaps = detect_left_right_swaps(img[..., :2], scale)
        img = apply_left_right_swaps(img, swaps)
        met = apply_left_right_swaps(met, swaps)
    vis = np.clip(np.nan_to_num(img[..., 2]), 0.0, 1.0)
    weights = np.where(vis >= min_visibility, vis, 0.0)
    if reject_jumps:
        weights = np.where(temporal_outliers(img[..., :2], scale), 0.0, weights)
    return np.ascontiguousarray(img[..., :2]), met, weights
