"""Synthetic MediaPipe-like observations of SMPL skeletons with known ground truth (test helper).

Chain: a skeleton with known bone lengths -> plausible SMPL poses within joint limits (smooth
in time) -> exact SMPL joints (FK) -> 33 landmarks (body landmarks at the joints; face, hand and
foot landmarks at fixed offsets in the posed head / wrist / ankle frames, perturbed per subject
so the solver's own offsets are not exactly right) -> camera-aligned metric landmarks (origin
mid-hip) and image landmarks through a known camera -> Gaussian noise.

World: Y up, ground y = 0. Camera: OpenCV, ``x_cam = R X + t``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from inference_backend.kinematics import forward_kinematics, rodrigues
from inference_backend.landmark_map import LM, REST_AUX_OFFSETS
from inference_backend.motion_types import TrackObservations, VideoInfo
from inference_backend.smpl_constants import SMPL_PARENTS, SMPL_TEMPLATE_REST_JOINTS

WIDTH, HEIGHT = 960, 540
BODY_LANDMARKS = {
    "left_hip": 1, "right_hip": 2, "left_knee": 4, "right_knee": 5, "left_ankle": 7,
    "right_ankle": 8, "left_shoulder": 16, "right_shoulder": 17, "left_elbow": 18,
    "right_elbow": 19, "left_wrist": 20, "right_wrist": 21,
}
SEGMENT_JOINT = {"head": 15, "left_wrist": 20, "right_wrist": 21, "left_ankle": 7,
                 "right_ankle": 8}

# Joint limits (degrees) for (x, y, z) Euler components, local = Rz Ry Rx unless noted.
LIMITS: dict[int, tuple[tuple[float, float], ...]] = {
    1: ((-50, 15), (-15, 15), (-5, 20)), 2: ((-50, 15), (-15, 15), (-20, 5)),
    3: ((-8, 8),) * 3, 6: ((-8, 8),) * 3, 9: ((-8, 8),) * 3,
    4: ((15, 90), (-3, 3), (-3, 3)), 5: ((15, 90), (-3, 3), (-3, 3)),
    7: ((-20, 20), (-10, 10), (-10, 10)), 8: ((-20, 20), (-10, 10), (-10, 10)),
    12: ((-15, 15),) * 3, 13: ((-5, 5),) * 3, 14: ((-5, 5),) * 3, 15: ((-20, 20),) * 3,
    16: ((-30, 30), (-40, 30), (-80, -20)), 17: ((-30, 30), (-30, 40), (20, 80)),
    18: ((-40, 40), (-120, -25), (0, 0)), 19: ((-40, 40), (25, 120), (0, 0)),
    20: ((-3, 3), (-25, 25), (-25, 25)), 21: ((-3, 3), (-25, 25), (-25, 25)),  # no wrist twist
}


def euler_local(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Rz @ Ry @ Rx from angles in radians, (F,) each -> (F,3,3)."""
    zeros = np.zeros_like(x)
    rx = rodrigues(np.stack([x, zeros, zeros], -1))
    ry = rodrigues(np.stack([zeros, y, zeros], -1))
    rz = rodrigues(np.stack([zeros, zeros, z], -1))
    return rz @ ry @ rx


def make_skeleton(scale: float = 1.04, leg: float = 1.03, arm: float = 0.97) -> np.ndarray:
    """Ground-truth rest joints (24,3): template directions, bone lengths scaled per limb and
    left/right symmetric (a person's skeleton; the template's own asymmetry is an artefact)."""
    tmpl = np.asarray(SMPL_TEMPLATE_REST_JOINTS, float)
    lengths = np.array([np.linalg.norm(tmpl[j] - tmpl[SMPL_PARENTS[j]]) if j else 0.0
                        for j in range(24)])
    for a, b in ((1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21),
                 (22, 23)):
        lengths[a] = lengths[b] = 0.5 * (lengths[a] + lengths[b])
    rest = np.zeros((24, 3))
    rest[0] = tmpl[0] * scale
    for j in range(1, 24):
        p = SMPL_PARENTS[j]
        f = scale * (leg if j in (4, 5, 7, 8, 10, 11) else arm if j >= 16 else 1.0)
        d = tmpl[j] - tmpl[p]
        rest[j] = rest[p] + f * lengths[j] * d / np.linalg.norm(d)
    return rest


def bone_lengths(rest: np.ndarray) -> np.ndarray:
    out = np.zeros(24)
    for j in range(1, 24):
        out[j] = np.linalg.norm(rest[j] - rest[SMPL_PARENTS[j]])
    return out


def smooth_random_pose(times: np.ndarray, rng: np.random.Generator,
                       freq_range: tuple[float, float] = (0.3, 1.0)) -> np.ndarray:
    """Local rotations (F,24,3,3) within LIMITS, each angle a sinusoid over its range."""
    n = len(times)
    local = np.tile(np.eye(3), (n, 24, 1, 1))
    for j, lims in LIMITS.items():
        angles = []
        for lo, hi in lims:
            f = rng.uniform(*freq_range)
            ph = rng.uniform(0, 2 * np.pi)
            mid, amp = 0.5 * (lo + hi), 0.5 * (hi - lo)
            angles.append(np.radians(mid + amp * np.sin(2 * np.pi * f * times + ph)))
        x, y, z = angles
        if j in (1, 2):   # hips: twist about the bone (Y) first, then flexion / abduction
            zeros = np.zeros_like(x)
            local[:, j] = (rodrigues(np.stack([x, zeros, zeros], -1))
                           @ rodrigues(np.stack([zeros, zeros, z], -1))
                           @ rodrigues(np.stack([zeros, y, zeros], -1)))
        else:
            local[:, j] = euler_local(x, y, z)
    return local


def aux_offsets(rng: np.random.Generator | None, jitter: float = 0.005) -> dict[str, tuple]:
    """REST_AUX_OFFSETS perturbed per subject by up to ``jitter`` m (uniform) per axis."""
    out = {}
    for name, (seg, off) in REST_AUX_OFFSETS.items():
        o = np.asarray(off, float)
        if rng is not None:
            o = o + rng.uniform(-jitter, jitter, 3)
        out[name] = (seg, o)
    return out


def landmarks_from_pose(joints: np.ndarray, global_rots: np.ndarray,
                        offsets: dict[str, tuple]) -> np.ndarray:
    """MediaPipe-like 33 landmarks (F,33,3) in the same frame as joints (F,24,3)."""
    n = joints.shape[0]
    lms = np.zeros((n, 33, 3))
    for name, j in BODY_LANDMARKS.items():
        lms[:, LM[name]] = joints[:, j]
    for name, (seg, off) in offsets.items():
        j = SEGMENT_JOINT[seg]
        lms[:, LM[name]] = joints[:, j] + global_rots[:, j] @ off
    return lms


def sole_height(lms_world: np.ndarray, side: str) -> np.ndarray:
    """Lowest of heel / toe landmark heights (F,) for a side."""
    return np.minimum(lms_world[:, LM[f"{side}_heel"], 1], lms_world[:, LM[f"{side}_foot_index"], 1])


@dataclass
class SyntheticCamera:
    K: np.ndarray
    R: np.ndarray   # world-to-camera
    t: np.ndarray
    height: float


def make_camera(fov_deg: float = 60.0, height: float = 1.5, pitch_deg: float = 10.0,
                position_xz: tuple[float, float] = (0.0, 6.0)) -> SyntheticCamera:
    """Camera at (x, height, z) looking along -Z world, pitched down by ``pitch_deg``."""
    f = 0.5 * WIDTH / np.tan(0.5 * np.radians(fov_deg))
    K = np.array([[f, 0, WIDTH / 2], [0, f, HEIGHT / 2], [0, 0, 1.0]])
    p = np.radians(pitch_deg)
    z_axis = np.array([0.0, -np.sin(p), -np.cos(p)])
    y_axis = np.array([0.0, -np.cos(p), np.sin(p)])
    x_axis = np.cross(y_axis, z_axis)
    R = np.stack([x_axis, y_axis, z_axis])    # rows: camera axes in world
    C = np.array([position_xz[0], height, position_xz[1]])
    return SyntheticCamera(K=K, R=R, t=-R @ C, height=height)


@dataclass
class SyntheticPerson:
    """Ground truth of one person (world frame)."""

    rest: np.ndarray            # (24,3)
    local: np.ndarray           # (F,24,3,3), local[:,0] = world orientation
    transl: np.ndarray          # (F,3)
    joints: np.ndarray          # (F,24,3)
    global_rots: np.ndarray     # (F,24,3,3)
    landmarks: np.ndarray       # (F,33,3) world
    contacts: np.ndarray        # (F,4) bool: left ankle, left toe, right ankle, right toe


def pose_person(rest: np.ndarray, local: np.ndarray, transl: np.ndarray,
                offsets: dict[str, tuple]) -> SyntheticPerson:
    pos, glob = forward_kinematics(rest, local, transl)
    lms = landmarks_from_pose(pos, glob, offsets)
    return SyntheticPerson(rest, local, transl, pos, glob, lms, np.zeros((len(pos), 4), bool))


def random_person(times: np.ndarray, rng: np.random.Generator, position: tuple[float, float, float],
                  yaw_deg: float = 0.0, yaw_speed_deg: float = 25.0, depth_speed: float = 0.0,
                  rest: np.ndarray | None = None) -> SyntheticPerson:
    """Random smooth pose, turning in place (yaw oscillates), optionally moving in depth."""
    rest = make_skeleton() if rest is None else rest
    local = smooth_random_pose(times, rng)
    yaw = np.radians(yaw_deg + yaw_speed_deg * np.sin(2 * np.pi * 0.2 * times))
    zeros = np.zeros_like(yaw)
    local[:, 0] = rodrigues(np.stack([zeros, yaw, zeros], -1)) @ euler_local(
        np.radians(5 * np.sin(times)), zeros, np.radians(4 * np.cos(0.7 * times)))
    transl = np.tile(np.asarray(position, float), (len(times), 1))
    transl[:, 2] += depth_speed * (times - times.mean())
    offsets = aux_offsets(rng)
    person = pose_person(rest, local, transl, offsets)
    # Put the lowest sole point of the sequence's first frame... every frame on the floor.
    low = np.minimum(sole_height(person.landmarks, "left"), sole_height(person.landmarks, "right"))
    transl = transl.copy()
    transl[:, 1] += position[1] - low
    return pose_person(rest, local, transl, offsets)


def walking_person(times: np.ndarray, rng: np.random.Generator, start: tuple[float, float],
                   heading_deg: float, turn_deg_per_s: float = 0.0, cadence_hz: float = 0.9,
                   floor: float = 0.0, rest: np.ndarray | None = None) -> SyntheticPerson:
    """A procedural walk whose stance foot is exactly planted (no sliding) on y = floor.

    Legs swing with hip flexion +-25 deg, the knee bends in swing; arms swing in counter-phase.
    The root moves so that the lower foot stays fixed in the world, so the trajectory, the
    walked distance and the contacts are exact ground truth.
    """
    rest = make_skeleton() if rest is None else rest
    n = len(times)
    ph = 2 * np.pi * cadence_hz * times
    local = np.tile(np.eye(3), (n, 24, 1, 1))
    zeros = np.zeros(n)

    def rx(a: np.ndarray) -> np.ndarray:
        return rodrigues(np.stack([a, zeros, zeros], -1))

    swing_l = np.sin(ph)
    local[:, 1] = rx(np.radians(-25 * swing_l - 5))
    local[:, 2] = rx(np.radians(25 * swing_l - 5))
    # A thigh swings forward while its hip angle decreases (left: cos(ph) > 0): bend that knee.
    local[:, 4] = rx(np.radians(6 + 55 * np.clip(np.cos(ph), 0, None) ** 2))
    local[:, 5] = rx(np.radians(6 + 55 * np.clip(-np.cos(ph), 0, None) ** 2))
    local[:, 7] = rx(np.radians(10 * swing_l))
    local[:, 8] = rx(np.radians(-10 * swing_l))
    local[:, 16] = euler_local(zeros, np.radians(25 * swing_l), np.radians(-70 + zeros))
    local[:, 17] = euler_local(zeros, np.radians(25 * swing_l), np.radians(70 + zeros))
    local[:, 18] = euler_local(np.radians(20 + zeros), np.radians(-30 - 10 * swing_l), zeros)
    local[:, 19] = euler_local(np.radians(-20 + zeros), np.radians(30 - 10 * swing_l), zeros)
    local[:, 12] = euler_local(np.radians(5 + zeros), np.radians(10 * np.sin(0.5 * ph)), zeros)
    yaw = np.radians(heading_deg + turn_deg_per_s * (times - times[0]))
    local[:, 0] = rodrigues(np.stack([zeros, yaw, zeros], -1)) @ rx(np.radians(4 + zeros))
    offsets = aux_offsets(rng)
    base = pose_person(rest, local, np.zeros((n, 3)), offsets)
    soles = {s: np.stack([base.landmarks[:, LM[f"{s}_heel"]],
                          base.landmarks[:, LM[f"{s}_foot_index"]]], 1) for s in ("left", "right")}
    low_l = soles["left"][:, :, 1].min(1)
    low_r = soles["right"][:, :, 1].min(1)
    stance_left = np.cos(ph) < 0      # the left thigh moves backward: left foot planted
    transl = np.zeros((n, 3))
    transl[0, [0, 2]] = start
    for f in range(1, n):
        s = "left" if stance_left[f] else "right"
        # Keep the stance foot's heel/toe midpoint fixed horizontally.
        prev = soles[s][f - 1].mean(0) + transl[f - 1]
        cur = soles[s][f].mean(0)
        transl[f, [0, 2]] = prev[[0, 2]] - cur[[0, 2]]
    transl[:, 1] = floor - np.minimum(low_l, low_r)
    person = pose_person(rest, local, transl, offsets)
    # Ground-truth contacts of the motion file's channels (ankle, ball of foot): the joint is
    # within 2 cm of its height when planted and moves slower than 0.3 m/s horizontally.
    contacts = np.zeros((n, 4), bool)
    for c, j in enumerate((7, 10, 8, 11)):
        pt = person.joints[:, j]
        speed = np.linalg.norm(np.gradient(pt[:, [0, 2]], times, axis=0), axis=1)
        contacts[:, c] = (pt[:, 1] - pt[:, 1].min() < 0.02) & (speed < 0.3)
    person.contacts = contacts
    return person


def observe(person: SyntheticPerson, cam: SyntheticCamera, rng: np.random.Generator,
            noise3d: float = 0.015, noise2d: float = 2.0, track_id: int = 1,
            present: np.ndarray | None = None) -> TrackObservations:
    """Camera-aligned metric landmarks (origin mid-hip) + image landmarks with Gaussian noise.

    noise3d: per-axis std (m) of the metric landmarks; noise2d: per-axis std (px).
    """
    lw = person.landmarks
    cam_pts = lw @ cam.R.T + cam.t
    uvw = cam_pts @ cam.K.T
    uv = uvw[..., :2] / uvw[..., 2:3] + rng.normal(0, noise2d, cam_pts.shape[:-1] + (2,))
    mid = 0.5 * (cam_pts[:, LM["left_hip"]] + cam_pts[:, LM["right_hip"]])
    metric = cam_pts - mid[:, None] + rng.normal(0, noise3d, cam_pts.shape)
    metric -= 0.5 * (metric[:, LM["left_hip"]] + metric[:, LM["right_hip"]])[:, None]
    n = lw.shape[0]
    vis = np.full((n, 33, 1), 0.95)
    image = np.concatenate([uv, vis], -1)
    if present is None:
        present = np.ones(n, bool)
    image = np.where(present[:, None, None], image, 0.0)
    metric = np.where(present[:, None, None], metric, 0.0)
    x0, y0 = uv[..., 0].min(1), uv[..., 1].min(1)
    x1, y1 = uv[..., 0].max(1), uv[..., 1].max(1)
    boxes = np.where(present[:, None], np.stack([x0, y0, x1, y1], 1), 0.0)
    return TrackObservations(track_id=track_id, image_landmarks=image.astype(np.float32),
                             world_landmarks=metric.astype(np.float32), present=present,
                             boxes=boxes.astype(np.float32))


def video_info(n_frames: int, fps: float = 30.0) -> VideoInfo:
    return VideoInfo(path="synthetic.mp4", width=WIDTH, height=HEIGHT, rotation=0, fps=fps,
                     num_frames=n_frames, duration=n_frames / fps)


def procrustes_aligned_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """PA-MPJPE per frame (F,) after similarity alignment of pred (F,J,3) to gt (F,J,3)."""
    out = np.empty(pred.shape[0])
    for f in range(pred.shape[0]):
        a = pred[f] - pred[f].mean(0)
        b = gt[f] - gt[f].mean(0)
        u, s, vt = np.linalg.svd(a.T @ b)
        d = np.sign(np.linalg.det(u @ vt))
        D = np.diag([1, 1, d])
        rot = u @ D @ vt
        scale = np.trace(np.diag(s) @ D) / np.sum(a * a)
        out[f] = np.mean(np.linalg.norm(scale * a @ rot - b, axis=1))
    return out
