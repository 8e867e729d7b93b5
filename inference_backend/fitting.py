"""Kinematic fit of the SMPL 24-joint skeleton to MediaPipe landmarks of one person.

Everything here happens in the *camera frame* (OpenCV axes: x right, y down, z forward),
which is also the axes of MediaPipe's metric landmarks. The solver later rotates the result into
the gravity-aligned world. Shapes: F frames, 33 landmarks, 24 SMPL joints.

Steps (all vectorised over frames):
1. ``estimate_bone_lengths``: the subject's bone lengths, constant over time (median over
   confident frames, left/right averaged) -> ``build_rest_joints``: template directions with
   these lengths (so the rest pose stays the SMPL T-pose, Y up, +Z forward).
   The spine joints sit on the straight pelvis -> neck line (see ``build_rest_joints``).
2. ``initial_global_rotations``: each segment's orientation from its bone direction plus a
   secondary axis fixing its twist (see the table in that function).
3. ``refine``: damped Gauss-Newton (63 parameters per frame) on 3D joint error (relative to
   the mid-hip) + 2D reprojection error (weighted by confidence) + the face / hand / foot
   landmarks as points fixed in their segments + hinge priors (knees, elbows, no wrist
   twist) + a weak pull of segment orientations and of the root path toward temporally
   smoothed copies of themselves. The normal equations are accumulated per joint subtree
   (sums of per-point 3x3 information, no dense Jacobian) and solved by block elimination
   along the kinematic tree; frames are processed in windows of bounded size
   (``FitConfig.chunk_frames``), so memory does not grow with the clip's length beyond the
   per-frame inputs and outputs. The windows are independent and run side by side on threads
   (``FitConfig.workers``).
"""

from __future__ import annotations

import os
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from inference_backend.kinematics import (
    descendants_mask,
    forward_kinematics,
    log_map,
    matrix_to_quat,
    quat_mul,
    quat_sign_continuity,
    quat_slerp,
    quat_to_axis_angle,
    quat_to_matrix,
    rodrigues,
    skew,
)
from inference_backend.landmark_map import LM, REST_AUX_OFFSETS, SJ, SPINE_FRACTIONS, TARGET_WEIGHT
from inference_backend.smpl_constants import SMPL_PARENTS, SMPL_TEMPLATE_REST_JOINTS

PARENTS = SMPL_PARENTS
#: Joints refined by Gauss-Newton: every joint that moves another joint, plus the head (15),
#: which carries the face landmarks (the leaves 10, 11, 22, 23 stay at zero local rotation).
ACTIVE_JOINTS: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 13, 14, 15, 16, 17, 18, 19,
                                  20, 21)
SYMMETRIC_PAIRS: tuple[tuple[int, int], ...] = (
    (1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21), (22, 23))
_CHILD = {4: 7, 5: 8, 18: 20, 19: 21}  # hinge joint -> the joint its bone points to
_REP_BEND = np.radians(45.0)   # representative hinge angle used to define rest bend normals


@dataclass(frozen=True)
class FitConfig:
    """Weights of the refinement (noise scales: a residual of one sigma costs 1)."""

    iterations: int = 6
    sigma_3d_m: float = 0.04        # MediaPipe metric landmarks: a few cm
    sigma_2d_px: float = 3.0        # image landmarks
    sigma_hinge_rad: float = 0.08   # off-axis knee / elbow rotation, wrist twist (~5 degrees)
    sigma_temporal_rad: float = 0.15  # pull toward the smoothed estimate (weak)
    sigma_root_m: tuple[float, float, float] = (0.03, 0.03, 0.05)  # root pull (camera x,y,z)
    root_smooth_frames: float = 3.0
    damping: float = 1e-2
    min_confidence: float = 0.5     # frames used for bone lengths
    aux_weight: float = 0.5         # face / hand / foot landmarks relative to joint targets
    bend_on_deg: tuple[float, float] = (12.0, 35.0)  # blend of bend-plane vs fallback twist
    chunk_frames: int = 256         # frames refined together (bounds memory); 0 = all at once
    #: Context frames refined with each chunk, each side, then dropped. None = exact
    #: (``refine_halo``: 54 frames); 32 changes results by < 0.01 deg / 0.1 mm at the seams.
    chunk_halo: int | None = 32
    #: Windows refined at once on threads (the result does not depend on it); 0 = two on a
    #: CPU with two cores or more. Each window's working set is about 20 MB.
    workers: int = 0


@dataclass(frozen=True)
class SkeletonFit:
    """Result of ``fit_skeleton`` in the camera frame.

    local_rots (F,24,3,3): SMPL local rotations (index 0 = orientation in the camera frame).
    root_cam (F,3): pelvis position in camera coordinates (metres).
    joints_cam (F,24,3): FK joints in camera coordinates. rest_joints (24,3). lengths (24,).
    """

    local_rots: np.ndarray
    root_cam: np.ndarray
    joints_cam: np.ndarray
    rest_joints: np.ndarray
    lengths: np.ndarray


# ----------------------------------------------------------------------------------- helpers
def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def frame_from_axes(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """Orthonormal frames (..., 3, 3) with columns [primary, secondary-orthogonalised, cross]."""
    p, s = np.broadcast_arrays(np.asarray(primary, float), np.asarray(secondary, float))
    e1 = _unit(p)
    e2 = _unit(s - np.sum(s * e1, -1, keepdims=True) * e1)
    e3 = np.cross(e1, e2)
    return np.stack([e1, e2, e3], axis=-1)


def segment_rotation(primary: np.ndarray, secondary: np.ndarray, rest_primary: np.ndarray,
                     rest_secondary: np.ndarray) -> np.ndarray:
    """Rotation taking the rest (primary, secondary) pair onto the posed pair, (..., 3, 3)."""
    posed = frame_from_axes(primary, secondary)
    rest = frame_from_axes(rest_primary, rest_secondary)
    return posed @ np.swapaxes(rest, -1, -2)


def minimal_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation taking directions a onto b, (..., 3) -> (..., 3, 3)."""
    a, b = _unit(np.asarray(a, float)), _unit(np.asarray(b, float))
    axis = np.cross(a, b)
    s = np.linalg.norm(axis, axis=-1)
    c = np.clip(np.sum(a * b, -1), -1.0, 1.0)
    angle = np.arctan2(s, c)
    return rodrigues(_unit(axis) * angle[..., None])


def _slerp_rot(r0: np.ndarray, r1: np.ndarray, w: np.ndarray) -> np.ndarray:
    return quat_to_matrix(quat_slerp(matrix_to_quat(r0), matrix_to_quat(r1), w))


def _smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _rot_x(a: float) -> np.ndarray:
    return rodrigues(np.array([a, 0.0, 0.0]))


def _rot_y(a: float) -> np.ndarray:
    return rodrigues(np.array([0.0, a, 0.0]))


def _aux(name: str) -> np.ndarray:
    return np.asarray(REST_AUX_OFFSETS[name][1], dtype=np.float64)


# ------------------------------------------------------------------------------ bone lengths
def estimate_bone_lengths(targets: np.ndarray, confidence: np.ndarray,
                          min_confidence: float = 0.5) -> np.ndarray:
    """Per-bone length (24,) (``lengths[j]`` = |joint j - parent(j)|, 0 for the root), metres.

    Median over frames where both ends have confidence >= min_confidence (all frames when
    none qualify), then left/right pairs averaged. targets: (F,24,3), confidence: (F,24).
    """
    tgt = np.asarray(targets, float)
    conf = np.asarray(confidence, float)
    template = np.asarray(SMPL_TEMPLATE_REST_JOINTS, float)
    lengths = np.zeros(24)
    for j in range(1, 24):
        p = PARENTS[j]
        d = np.linalg.norm(tgt[:, j] - tgt[:, p], axis=-1)
        ok = (np.minimum(conf[:, j], conf[:, p]) >= min_confidence) & np.isfinite(d)
        if ok.sum() >= 3:
            lengths[j] = float(np.median(d[ok]))
        elif np.isfinite(d).any():
            lengths[j] = float(np.nanmedian(d))
        else:
            lengths[j] = float(np.linalg.norm(template[j] - template[p]))
    for a, b in SYMMETRIC_PAIRS:
        m = 0.5 * (lengths[a] + lengths[b])
        lengths[a] = lengths[b] = m
    return lengths


def build_rest_joints(lengths: np.ndarray) -> np.ndarray:
    """Rest joints (24,3): SMPL template bone directions with the given lengths (24,).

    The root keeps the template pelvis position scaled by the subject's leg length, so the rest
    pose is a T-pose in the SMPL body frame (Y up, +Z forward) of the subject's size. The spine
    joints (spine1/2/3, neck) lie on the template's pelvis -> neck line at the fractions the
    landmark map uses: their targets are interpolations on that line, so a straight rest spine
    is what makes a neutral trunk fit with zero spine rotations (the template's 2-3 cm zig-zag
    would otherwise turn into tens of degrees of alternating spine bends).
    """
    template = np.asarray(SMPL_TEMPLATE_REST_JOINTS, float)
    tmpl_leg = sum(np.linalg.norm(template[j] - template[PARENTS[j]]) for j in (1, 4, 7))
    leg = float(lengths[1] + lengths[4] + lengths[7])
    rest = np.zeros((24, 3))
    rest[0] = template[0] * (leg / tmpl_leg if tmpl_leg > 0 else 1.0)
    trunk = float(lengths[3] + lengths[6] + lengths[9] + lengths[12])
    trunk_dir = _unit(template[12] - template[0])
    spine_at = dict(zip((3, 6, 9, 12), (*SPINE_FRACTIONS, 1.0), strict=True))
    for j in range(1, 24):
        p = PARENTS[j]
        if j in spine_at:
            rest[j] = rest[0] + spine_at[j] * trunk * trunk_dir
        else:
            rest[j] = rest[p] + lengths[j] * _unit(template[j] - template[p])
    return rest


# --------------------------------------------------------------------- analytic orientation
def initial_global_rotations(targets: np.ndarray, landmarks: np.ndarray, rest: np.ndarray,
                             bend_on_deg: tuple[float, float] = (12.0, 35.0)) -> np.ndarray:
    """Global segment rotations (F,24,3,3) in the landmarks' frame from bone directions + twist.

    | joint (segment)      | primary axis          | twist (secondary axis)                  |
    |----------------------|-----------------------|-----------------------------------------|
    | pelvis               | right hip -> left hip | mid-hip -> mid-shoulder                 |
    | spine1/2/3           | to next spine joint   | hip / shoulder lateral, blended         |
    | neck                 | neck -> head          | shoulder + ear lateral                  |
    | head (leaf)          | right ear -> left ear | mid-ear -> nose                         |
    | collars              | collar -> shoulder    | torso forward of spine3 (no own twist)  |
    | hips (thighs)        | hip -> knee           | knee bend normal; straight: foot lateral|
    | knees (shanks)       | knee -> ankle         | knee bend normal; straight: foot lateral|
    | ankles (feet)        | ankle -> ball of foot | normal of heel/ankle/toe triangle       |
    | shoulders (upper arm)| shoulder -> elbow     | elbow bend normal; straight: no twist   |
    |                      |                       | relative to the collar                  |
    | elbows (forearms)    | elbow -> wrist        | index - pinky (hand plane)              |
    | wrists (hands)       | wrist -> hand         | index - pinky                           |
    Bend normals blend into the fallback (slerp) as the bend angle drops below ``bend_on_deg``.
    Leaves (feet, hands) get their parent's rotation (zero local rotation).
    """
    T = np.asarray(targets, float)
    L = np.asarray(landmarks, float)
    R = np.asarray(rest, float)
    n_frames = T.shape[0]
    G = np.empty((n_frames, 24, 3, 3))
    up_lo, up_hi = np.radians(bend_on_deg[0]), np.radians(bend_on_deg[1])

    def lat(a: str, b: str) -> np.ndarray:
        return _unit(L[:, LM[a]] - L[:, LM[b]])

    hip_lat, sh_lat, ear_lat = lat("left_hip", "right_hip"), lat("left_shoulder", "right_shoulder"), \
        lat("left_ear", "right_ear")
    r_hip_lat, r_sh_lat = _unit(R[1] - R[2]), _unit(R[16] - R[17])
    mid_hip = 0.5 * (L[:, LM["left_hip"]] + L[:, LM["right_hip"]])
    mid_sh = 0.5 * (L[:, LM["left_shoulder"]] + L[:, LM["right_shoulder"]])
    G[:, 0] = segment_rotation(T[:, 1] - T[:, 2], mid_sh - mid_hip, R[1] - R[2],
                               0.5 * (R[16] + R[17]) - 0.5 * (R[1] + R[2]))
    for j, child, mix in ((3, 6, 0.33), (6, 9, 0.67)):
        G[:, j] = segment_rotation(T[:, child] - T[:, j], _unit((1 - mix) * hip_lat + mix * sh_lat),
                                   R[child] - R[j], _unit((1 - mix) * r_hip_lat + mix * r_sh_lat))
    G[:, 9] = segment_rotation(T[:, 12] - T[:, 9], sh_lat, R[12] - R[9], r_sh_lat)
    G[:, 12] = segment_rotation(T[:, 15] - T[:, 12], _unit(sh_lat + ear_lat), R[15] - R[12],
                                _unit(r_sh_lat + np.array([1.0, 0, 0])))
    mid_ear = 0.5 * (L[:, LM["left_ear"]] + L[:, LM["right_ear"]])
    rest_mid_ear = 0.5 * (_aux("left_ear") + _aux("right_ear"))
    G[:, 15] = segment_rotation(ear_lat, L[:, LM["nose"]] - mid_ear,
                                _aux("left_ear") - _aux("right_ear"), _aux("nose") - rest_mid_ear)
    fwd9 = G[:, 9] @ np.array([0.0, 0.0, 1.0])
    for c in (13, 14):
        G[:, c] = segment_rotation(T[:, c + 3] - T[:, c], fwd9, R[c + 3] - R[c],
                                   np.array([0.0, 0.0, 1.0]))
    # Legs.
    for side, hip, knee, ankle, foot in (("left", 1, 4, 7, 10), ("right", 2, 5, 8, 11)):
        thigh, shank = T[:, knee] - T[:, hip], T[:, ankle] - T[:, knee]
        a, b = R[knee] - R[hip], R[ankle] - R[knee]
        bend = np.arccos(np.clip(np.sum(_unit(thigh) * _unit(shank), -1), -1, 1))
        w = _smoothstep(bend, up_lo, up_hi)
        normal = np.cross(thigh, shank)
        heel, toe = L[:, LM[f"{side}_heel"]], L[:, LM[f"{side}_foot_index"]]
        r_heel, r_toe = _aux(f"{side}_heel"), _aux(f"{side}_foot_index")
        foot_lat = np.cross(-shank, toe - heel)
        r_foot_lat = np.cross(-b, r_toe - r_heel)
        rk = _rot_x(_REP_BEND)
        g_bend = segment_rotation(thigh, normal, a, np.cross(a, rk @ b))
        g_fb = segment_rotation(thigh, foot_lat, a, r_foot_lat)
        G[:, hip] = _slerp_rot(g_fb, g_bend, w)
        g_bend = segment_rotation(shank, normal, b, np.cross(rk.T @ a, b))
        g_fb = segment_rotation(shank, foot_lat, b, r_foot_lat)
        G[:, knee] = _slerp_rot(g_fb, g_bend, w)
        sole_normal = np.cross(L[:, LM[f"{side}_ankle"]] - heel, toe - heel)
        G[:, ankle] = segment_rotation(T[:, foot] - T[:, ankle], sole_normal,
                                       R[foot] - R[ankle], np.cross(-r_heel, r_toe - r_heel))
        G[:, foot] = G[:, ankle]
    # Arms.
    for side, collar, sho, elb, wri, hand, sign in (("left", 13, 16, 18, 20, 22, -1.0),
                                                    ("right", 14, 17, 19, 21, 23, 1.0)):
        upper, fore = T[:, elb] - T[:, sho], T[:, wri] - T[:, elb]
        a, b = R[elb] - R[sho], R[wri] - R[elb]
        bend = np.arccos(np.clip(np.sum(_unit(upper) * _unit(fore), -1), -1, 1))
        w = _smoothstep(bend, up_lo, up_hi)
        ry = _rot_y(sign * _REP_BEND)
        g_bend = segment_rotation(upper, np.cross(upper, fore), a, np.cross(a, ry @ b))
        g_fb = minimal_rotation(G[:, collar] @ a, upper) @ G[:, collar]
        G[:, sho] = _slerp_rot(g_fb, g_bend, w)
        hand_sec = L[:, LM[f"{side}_index"]] - L[:, LM[f"{side}_pinky"]]
        r_hand_sec = _aux(f"{side}_index") - _aux(f"{side}_pinky")
        G[:, elb] = segment_rotation(fore, hand_sec, b, r_hand_sec)
        G[:, wri] = segment_rotation(T[:, hand] - T[:, wri], hand_sec, R[hand] - R[wri],
                                     r_hand_sec)
        G[:, hand] = G[:, wri]
    return G


def globals_to_locals(global_rots: np.ndarray) -> np.ndarray:
    """Global (..., 24, 3, 3) -> local rotations (``R_j = G_parent^T G_j``)."""
    G = np.asarray(global_rots, float)
    local = np.empty_like(G)
    local[..., 0, :, :] = G[..., 0, :, :]
    for j in range(1, 24):
        local[..., j, :, :] = np.swapaxes(G[..., PARENTS[j], :, :], -1, -2) @ G[..., j, :, :]
    return local


# ------------------------------------------------------------------------------ refinement
def _smoothing_error(global_rots: np.ndarray, sigma_frames: float = 1.5) -> np.ndarray:
    """Axis-angle (F, J, 3) of ``G S^T``: each rotation vs. its temporal Gaussian smoothing S
    (quaternions with sign continuity, renormalised), in the world frame. (F, J, 3, 3) in."""
    q = quat_sign_continuity(matrix_to_quat(global_rots), axis=0)
    n = q.shape[0]
    if n < 3:
        return np.zeros(q.shape[:-1] + (3,))
    radius = _rot_smooth_radius(sigma_frames)
    offs = np.arange(-radius, radius + 1)
    k = np.exp(-0.5 * (offs / sigma_frames) ** 2)
    # Accumulate offset by offset: O(F J) memory instead of an (F, window, J, 4) gather.
    idx = np.arange(n)
    smooth = np.zeros_like(q)
    for off, weight in zip(offs, k, strict=True):
        smooth += weight * q[np.clip(idx + off, 0, n - 1)]
    smooth /= np.linalg.norm(smooth, axis=-1, keepdims=True)
    conj = smooth * np.array([1.0, -1.0, -1.0, -1.0])
    return quat_to_axis_angle(quat_mul(q, conj))


def _rot_smooth_radius(sigma_frames: float) -> int:
    return int(3 * sigma_frames)


def _value_smooth_radius(sigma_frames: float) -> int:
    return max(1, int(3 * sigma_frames))


def _gaussian_smooth_values(values: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Temporal Gaussian (edge-normalised) of values (F, D) over frames."""
    n = values.shape[0]
    radius = _value_smooth_radius(sigma_frames)
    offs = np.arange(-radius, radius + 1)
    k = np.exp(-0.5 * (offs / sigma_frames) ** 2)
    idx = np.arange(n)[:, None] + offs[None, :]
    inside = (idx >= 0) & (idx < n)
    w = k[None, :] * inside
    w /= w.sum(1, keepdims=True)
    return np.einsum("fk,fkd->fd", w, values[np.clip(idx, 0, n - 1)])


#: Knees: hinges about x with little twist; elbows: hinges about y (the forearm's own twist is
#: pronation and stays free); wrists: no twist about the hand's axis (x) -- anatomically
#: pronation happens in the forearm, so hand landmarks twist the forearm.
#: Rows (joint, component): "swing" rows keep the child bone in the plane normal to the hinge
#: axis, "twist" rows hold the local axis-angle component about an axis at zero.
_SWING_ROWS: tuple[tuple[int, int], ...] = ((4, 0), (5, 0), (18, 1), (19, 1))
_TWIST_ROWS: tuple[tuple[int, int], ...] = ((4, 1), (5, 1), (20, 0), (21, 0))


@dataclass(frozen=True)
class _Structure:
    """Constant bookkeeping of ``refine`` (built once per call)."""

    act: np.ndarray          # (A,) active joints
    act_parent: np.ndarray   # (A,) parent joint of each (0 for the root: identity below)
    moved: np.ndarray        # (N, A) float: point k moves with omega_a (root column: all)
    pair_i: np.ndarray       # (B,) ancestor-or-self active index of each coupled pair
    pair_j: np.ndarray       # (B,) the deeper one
    diag_pair: np.ndarray    # (A,) pair index of (a, a)
    chain: tuple             # per active joint: its strict active ancestors, root first
    chain_pair: tuple        # per active joint b: pair indices of (ancestor, b)
    chain_k1: tuple          # per b: positions k1 <= k2 in the chain of its ancestor pairs
    chain_k2: tuple
    chain_upd: tuple         # per b: pair indices of (chain[k1], chain[k2])
    temporal_pair: np.ndarray  # (B,) temporal-pull Hessian scalar of each pair (times I)
    hinge_act: np.ndarray    # (8,) active index of each hinge-prior row (swing, then twist)
    anc: np.ndarray          # (A, A) float: anc[k, j] = segment k turns with omega_j
    aux_seg: np.ndarray      # (Na,) joint carrying each aux landmark
    aux_off: np.ndarray      # (Na, 3) rest offsets
    aux_lm: np.ndarray       # (Na,) MediaPipe index of each aux landmark


def _structure(with_aux: bool) -> _Structure:
    act = np.array(ACTIVE_JOINTS)
    n_act = len(act)
    desc_all = descendants_mask(PARENTS)
    moved = desc_all[:, act]                                      # (24, A)
    aux_names = sorted(REST_AUX_OFFSETS, key=lambda nm: LM[nm])
    aux_lm = np.array([LM[nm] for nm in aux_names])
    aux_seg = np.array([SJ[REST_AUX_OFFSETS[nm][0]] for nm in aux_names])
    aux_off = np.array([REST_AUX_OFFSETS[nm][1] for nm in aux_names], dtype=float)
    if with_aux:
        # An aux point moves with its segment's joint and every ancestor of it.
        aux_mask = desc_all[aux_seg][:, act] | (aux_seg[:, None] == act[None, :])
        moved = np.concatenate([moved, aux_mask], axis=0)
    moved = moved.copy()
    # The root rotation turns every point (also the pelvis itself, which only matters for the
    # 3D residuals, measured from the model's mid-hip).
    moved[:, 0] = True
    anc = (desc_all[act][:, act] | np.eye(n_act, dtype=bool))     # anc[k, j]: j anc-or-self k
    pi, pj = np.nonzero(anc.T)                                    # pairs (i anc-or-self of j)
    parent = np.array([PARENTS[j] if j > 0 else 0 for j in act])
    pair_id = -np.ones((n_act, n_act), int)
    pair_id[pi, pj] = np.arange(len(pi))
    chains, c_pair, c_k1, c_k2, c_upd = [], [], [], [], []
    for b in range(n_act):
        chain = np.array([a for a in range(b) if anc[b, a]], int)
        k1, k2 = np.triu_indices(len(chain))
        chains.append(chain)
        c_pair.append(pair_id[chain, b])
        c_k1.append(k1)
        c_k2.append(k2)
        c_upd.append(pair_id[chain[k1], chain[k2]])
    a_of = {j: a for a, j in enumerate(act.tolist())}
    hinge = np.array([a_of[j] for j, _ in (*_SWING_ROWS, *_TWIST_ROWS)])
    temporal = (anc.T.astype(float) @ anc.astype(float))[pi, pj]
    return _Structure(act=act, act_parent=parent, moved=moved.astype(float), pair_i=pi,
                      pair_j=pj, diag_pair=pair_id[np.arange(n_act),
                                                                      np.arange(n_act)],
                      chain=tuple(chains), chain_pair=tuple(c_pair), chain_k1=tuple(c_k1),
                      chain_k2=tuple(c_k2), chain_upd=tuple(c_upd), temporal_pair=temporal,
                      hinge_act=hinge, anc=anc.astype(float), aux_seg=aux_seg,
                      aux_off=aux_off, aux_lm=aux_lm)


@dataclass(frozen=True)
class _PointSums:
    """Per active joint a (F, A) sums over the points it moves (2D and 3D terms of the
    normal equations): S0, S1 = sum M Q, S2 = sum Q M Q, the residual sums and torques."""

    s0_2: np.ndarray       # (F,A,3,3)
    s1_2: np.ndarray       # (F,A,3,3)
    s2_2: np.ndarray       # (F,A,3,3)
    esum_2: np.ndarray     # (F,A,3)
    torque_2: np.ndarray   # (F,A,3)
    sw_3: np.ndarray       # (F,A,1,1)
    s1_3: np.ndarray       # (F,A,3,3)
    s2_3: np.ndarray       # (F,A,3,3)
    esum_3: np.ndarray     # (F,A,3)
    torque_3: np.ndarray   # (F,A,3)


#: Upper triangle (i <= j) of a 6x6 matrix: rows, columns; and each entry's place in it.
_UPPER6 = np.triu_indices(6)
_SYM6 = np.zeros((6, 6), int)
_SYM6[_UPPER6] = _SYM6.T[_UPPER6] = np.arange(len(_UPPER6[0]))


def _split_last(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A view of ``a`` (..., m*n) as (..., m, n) (for ``out=``; a unit-stride last axis always
    splits without a copy)."""
    view = a.reshape(a.shape[:-1] + shape)
    assert np.shares_memory(view, a)
    return view


def _point_sums(p: np.ndarray, mid: np.ndarray, root: np.ndarray, w3: np.ndarray,
                w2: np.ndarray, tgt3: np.ndarray, tgt2: np.ndarray, K: np.ndarray,
                st: _Structure) -> _PointSums:
    """Per-point information and weighted residuals, summed over the points each active joint
    moves. p: (F,N,3) pelvis-relative points; mid: (F,3) the model's mid-hip.

    2D: residual in pixels; rows of the projection's Jacobian a = (ax, 0, az),
    b = (0, by, bz). With Q_k = skew(p_k), a point's 2D rows in omega_a are
    -(a^T (Q_k - C_a)) = ((a x p_k) - (a x c_a))^T, so z = (a, a x p) holds what the sums
    over points need: M = w a a^T + ..., M Q = w a (a x p)^T + ..., Q M Q = -w (a x p)(..)^T.
    3D: residual relative to the model's mid-hip, M = w3 I: S0 = sum w I,
    S1 = skew(sum w p), S2 = sum w (p p^T - |p|^2 I); gradient terms e3 and p x e3.
    """
    n_frames, n_act = p.shape[0], len(st.act)
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    xc = p + root[:, None, :]
    iz = 1.0 / np.maximum(xc[..., 2], 1e-3)
    ax = fx * iz
    by = fy * iz
    az = -ax * xc[..., 0] * iz
    bz = -by * xc[..., 1] * iz
    sw2 = np.sqrt(w2)
    ru = sw2 * (ax * xc[..., 0] + cx - tgt2[..., 0])               # sqrt(w) * residual
    rv = sw2 * (by * xc[..., 1] + cy - tgt2[..., 1])
    zeros = np.zeros_like(ax)
    za = sw2[..., None] * np.stack([ax, zeros, az], -1)            # (F,N,3)
    zb = sw2[..., None] * np.stack([zeros, by, bz], -1)
    za = np.concatenate([za, np.cross(za, p)], -1)                 # (F,N,6)
    zb = np.concatenate([zb, np.cross(zb, p)], -1)
    # The per-point features, written in place into one (F,N,46) array (no concatenation):
    # [z z^T upper triangle (21: it is symmetric), (e2, e2 x p) (6), w3, w3 p (3),
    # w3 p p^T (9), e3 (3), p x e3 (3)].
    feats = np.empty(p.shape[:2] + (46,))
    # one (F,N) product per entry, on component-major copies (whole-array operations instead
    # of gathers along a length-6 axis: ~6x faster, the same numbers)
    za_c, zb_c = np.moveaxis(za, -1, 0).copy(), np.moveaxis(zb, -1, 0).copy()
    for k, (i, j) in enumerate(zip(*_UPPER6, strict=True)):
        feats[..., k] = za_c[i] * za_c[j] + zb_c[i] * zb_c[j]
    np.add(za * ru[..., None], zb * rv[..., None], out=feats[..., 21:27])  # (e2, e2 x p)
    del za, zb, za_c, zb_c
    feats[..., 27] = w3
    wp = feats[..., 28:31]
    np.multiply(w3[..., None], p, out=wp)
    np.multiply(wp[..., :, None], p[..., None, :], out=_split_last(feats[..., 31:40], (3, 3)))
    e3 = feats[..., 40:43]
    np.multiply(w3[..., None], (p - mid[:, None]) - tgt3, out=e3)
    feats[..., 43:46] = np.cross(p, e3)
    del wp, e3
    # Sums over the points each active joint moves.
    sums = np.matmul(st.moved.T, feats)                           # (F,A,46)
    del feats
    swpp_3 = sums[..., 31:40].reshape(n_frames, n_act, 3, 3)
    return _PointSums(
        s0_2=sums[..., _SYM6[:3, :3]], s1_2=sums[..., _SYM6[:3, 3:]],
        s2_2=-sums[..., _SYM6[3:, 3:]],
        esum_2=sums[..., 21:24], torque_2=-sums[..., 24:27], sw_3=sums[..., 27, None, None],
        s1_3=skew(sums[..., 28:31]),
        s2_3=swpp_3 - np.trace(swpp_3, axis1=-2, axis2=-1)[..., None, None] * np.eye(3),
        esum_3=sums[..., 40:43], torque_3=sums[..., 43:46])


def _data_terms(sums: _PointSums, p_joints: np.ndarray, mid: np.ndarray, st: _Structure
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The data part of the normal equations: (blocks (F,B,3,3), h_wt (F,A,3,3),
    h_tt (F,3,3), g_w (F,A,3), g_t (F,3)), see ``_tree_solve``."""
    s0_2, s1_2, s2_2 = sums.s0_2, sums.s1_2, sums.s2_2
    sw_3, s1_3, s2_3 = sums.sw_3, sums.s1_3, sums.s2_3
    # Pivots c_a: each active joint's position; the root turns 3D residuals about the mid-hip
    # (they are measured from it) and 2D ones about the pelvis (the origin here).
    piv = p_joints[:, st.act].copy()
    piv[:, 0] = 0.0
    c = skew(piv)                                                 # (F,A,3,3)
    c_mid = skew(mid)                                             # (F,3,3)
    # With J_ka = -(Q_k - C_a) and sums over the points joint j moves (S0 = sum M,
    # S1 = sum M Q, S2 = sum Q M Q), the block of a coupled pair (i ancestor-or-self of j) is
    # C_i U_j - V_j with U_j = S1_j - S0_j C_j, V_j = S2_j + S1_j^T C_j.
    u_3 = s1_3 - sw_3 * c
    u_3[:, 0] = s1_3[:, 0] - sw_3[:, 0] * c_mid
    s1_3t = _transposed(s1_3)
    v_3 = s2_3 + s1_3t @ c
    v_3[:, 0] = s2_3[:, 0] + s1_3t[:, 0] @ c_mid
    u = s1_2 - s0_2 @ c + u_3
    v = s2_2 + np.swapaxes(s1_2, -1, -2) @ c + v_3
    pi, pj = st.pair_i, st.pair_j
    # Root pairs: the 2D pivot is the origin (no term), the 3D one the mid-hip.
    root_pairs = pi == 0
    u_pair = u[:, pj]                                             # (F,B,3,3)
    u_pair[:, root_pairs] = u_3[:, pj[root_pairs]]
    c_pair = piv[:, pi]                                           # (F,B,3)
    c_pair[:, root_pairs] = mid[:, None]
    blocks = -v[:, pj]
    # skew(c) @ U row by row (cheaper than batched 3x3 matmuls).
    c0, c1, c2 = (c_pair[..., k, None] for k in range(3))
    blocks[..., 0, :] += c1 * u_pair[..., 2, :] - c2 * u_pair[..., 1, :]
    blocks[..., 1, :] += c2 * u_pair[..., 0, :] - c0 * u_pair[..., 2, :]
    blocks[..., 2, :] += c0 * u_pair[..., 1, :] - c1 * u_pair[..., 0, :]
    del u_pair
    # omega / root translation coupling (2D only): -S1^T - C S0; root block: all points' M.
    h_wt = -np.swapaxes(s1_2, -1, -2) - c @ s0_2                  # (F,A,3,3)
    h_tt = s0_2[:, 0].copy()                                      # (F,3,3)
    # Gradient: sum (p_k - c_a) x e_k over the points each omega moves; root: sum of e2.
    piv_3 = piv.copy()
    piv_3[:, 0] = mid
    g_w = ((sums.torque_2 - np.cross(piv, sums.esum_2))
           + (sums.torque_3 - np.cross(piv_3, sums.esum_3)))      # (F,A,3)
    g_t = sums.esum_2[:, 0].copy()                                # (F,3)
    return blocks, h_wt, h_tt, g_w, g_t


def _add_hinge_priors(blocks: np.ndarray, g_w: np.ndarray, local: np.ndarray,
                      glob: np.ndarray, rest: np.ndarray, st: _Structure,
                      config: FitConfig) -> None:
    """Hinge priors, added in place. A local increment delta = G_parent^T omega turns R_j
    into exp(delta) R_j. "swing": the child bone (rest direction b) must stay in the plane
    normal to the hinge axis e: r = e.(R_j b) - e.b, dr/domega = -e^T skew(R_j b) G_p^T.
    "twist": the local axis-angle component about e: r = aa_e, dr/domega ~ e^T G_p^T."""
    wh = 1.0 / config.sigma_hinge_rad ** 2
    sw_j = [j for j, _ in _SWING_ROWS]
    sw_c = np.array([c for _, c in _SWING_ROWS])
    b_dir = _unit(rest[[_CHILD[j] for j in sw_j]] - rest[sw_j])    # (4,3)
    v = np.einsum("fsab,sb->fsa", local[:, sw_j], b_dir)           # (F,4,3)
    rows_idx = np.arange(len(sw_j))
    res_sw = v[:, rows_idx, sw_c] - b_dir[rows_idx, sw_c]
    gpt_sw = np.swapaxes(glob[:, [PARENTS[j] for j in sw_j]], -1, -2)
    row_sw = np.einsum("fsc,fscd->fsd", -skew(v)[:, rows_idx, sw_c, :], gpt_sw)
    tw_j = [j for j, _ in _TWIST_ROWS]
    tw_c = np.array([c for _, c in _TWIST_ROWS])
    res_tw = log_map(local[:, tw_j])[:, np.arange(len(tw_j)), tw_c]
    gpt_tw = np.swapaxes(glob[:, [PARENTS[j] for j in tw_j]], -1, -2)
    row_tw = gpt_tw[:, np.arange(len(tw_j)), tw_c, :]
    rows = np.concatenate([row_sw, row_tw], axis=1)                # (F,8,3)
    res = np.concatenate([res_sw, res_tw], axis=1)                 # (F,8)
    hinge_a = st.hinge_act                                        # (8,) active index per row
    np.add.at(blocks, (slice(None), st.diag_pair[hinge_a]),
              wh * rows[..., :, None] * rows[..., None, :])
    np.add.at(g_w, (slice(None), hinge_a), wh * rows * res[..., None])


def _add_temporal_pull(blocks: np.ndarray, g_w: np.ndarray, h_tt: np.ndarray,
                       g_t: np.ndarray, glob: np.ndarray, root: np.ndarray, st: _Structure,
                       config: FitConfig) -> None:
    """Pull each active segment toward its smoothed orientation and the root toward its
    smoothed path, added in place (windows of fewer than 3 frames are left alone)."""
    wt = 1.0 / config.sigma_temporal_rad ** 2
    if glob.shape[0] < 3 or wt <= 0:
        return
    # Error of each active segment vs. its smoothed orientation (world frame); omega_j
    # turns every segment in j's subtree: d err_k / d omega_j = I (j anc-or-self of k).
    err = _smoothing_error(glob[:, st.act])                       # (F,A,3)
    blocks += (wt * st.temporal_pair)[:, None, None] * np.eye(3)
    g_w += wt * np.einsum("kj,fkc->fjc", st.anc, err)
    # Root: pull toward its smoothed path (depth from 2D scale jitters most).
    root_s = _gaussian_smooth_values(root, config.root_smooth_frames)
    w_root = 1.0 / np.asarray(config.sigma_root_m, float) ** 2       # (3,)
    h_tt[:, [0, 1, 2], [0, 1, 2]] += w_root
    g_t += w_root * (root - root_s)


def _damp(blocks: np.ndarray, h_tt: np.ndarray, st: _Structure, damping: float) -> None:
    """Levenberg-style damping of the diagonal blocks, in place."""
    diag_blocks = blocks[:, st.diag_pair]
    idx3 = np.arange(3)
    diag_blocks[..., idx3, idx3] += damping * (1.0 + diag_blocks[..., idx3, idx3])
    blocks[:, st.diag_pair] = diag_blocks
    h_tt[:, idx3, idx3] += damping * (1.0 + h_tt[:, idx3, idx3])


def _window_step(local: np.ndarray, root: np.ndarray, rest: np.ndarray, w3: np.ndarray,
                 w2: np.ndarray, tgt3: np.ndarray, tgt2: np.ndarray, K: np.ndarray,
                 st: _Structure, config: FitConfig, with_aux: bool
                 ) -> tuple[np.ndarray, np.ndarray]:
    """One damped Gauss-Newton iteration on a window of frames -> (local, root): the data
    terms of every point, the hinge priors, the temporal pull, damping, the tree solve."""
    pos, glob = forward_kinematics(rest, local)
    p = pos - pos[:, :1]                                          # pelvis-relative, (F,24,3)
    p_joints = p
    if with_aux:
        pa = p[:, st.aux_seg] + np.einsum("fnab,nb->fna", glob[:, st.aux_seg], st.aux_off)
        p = np.concatenate([p, pa], axis=1)                        # (F,N,3)
    mid = 0.5 * (p[:, 1] + p[:, 2])
    sums = _point_sums(p, mid, root, w3, w2, tgt3, tgt2, K, st)
    blocks, h_wt, h_tt, g_w, g_t = _data_terms(sums, p_joints, mid, st)
    del sums
    _add_hinge_priors(blocks, g_w, local, glob, rest, st, config)
    _add_temporal_pull(blocks, g_w, h_tt, g_t, glob, root, st, config)
    _damp(blocks, h_tt, st, config.damping)
    x_w, x_t = _tree_solve(blocks, h_wt, h_tt, g_w, g_t, st)
    del blocks
    # local_j <- G_p^T exp(omega) G_p local_j = exp(G_p^T omega) local_j (the root:
    # exp(omega) local_0), all joints at once.
    gp = glob[:, st.act_parent]
    gp[:, 0] = np.eye(3)
    d_local = rodrigues(np.einsum("fajc,faj->fac", gp, -x_w))     # (F,A,3,3)
    local = local.copy()
    local[:, st.act] = d_local @ local[:, st.act]
    return local, root - x_t


def _inv3(m: np.ndarray) -> np.ndarray:
    """Inverses of 3x3 matrices (..., 3, 3) by the adjugate, written out element-wise."""
    a, b, c = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    d, e, f = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    g, h, i = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    co_a, co_d, co_g = e * i - f * h, c * h - b * i, b * f - c * e
    inv = np.empty(m.shape)
    inv[..., 0, 0], inv[..., 0, 1], inv[..., 0, 2] = co_a, co_d, co_g
    inv[..., 1, 0], inv[..., 1, 1], inv[..., 1, 2] = f * g - d * i, a * i - c * g, c * d - a * f
    inv[..., 2, 0], inv[..., 2, 1], inv[..., 2, 2] = d * h - e * g, b * g - a * h, a * e - b * d
    inv /= (a * co_a + d * co_d + g * co_g)[..., None, None]
    return inv


def _transposed(m: np.ndarray) -> np.ndarray:
    """C-ordered copy of the transposes of 3x3 matrices (..., 3, 3): matmul runs several times
    faster on it than on ``swapaxes`` views (OpenBLAS' transposed path). The numbers were the
    same on every clip checked, but the two paths may round differently: ``s1_2``'s transpose
    in ``_data_terms`` is left as it was because there they did (1e-9 on one clip)."""
    return np.ascontiguousarray(np.swapaxes(m, -1, -2))


def _tree_solve(blocks: np.ndarray, h_wt: np.ndarray, h_tt: np.ndarray, g_w: np.ndarray,
                g_t: np.ndarray, st: _Structure) -> tuple[np.ndarray, np.ndarray]:
    """Solve the per-frame normal equations H x = g exploiting the kinematic tree.

    H's omega part is nonzero only between a joint and its ancestors (blocks (F,B,3,3) of
    ``st.pair_i`` / ``st.pair_j``, rows the ancestor), plus the coupling to the root
    translation h_wt (F,A,3,3) and its block h_tt (F,3,3). Eliminating joints leaves-first
    (descending index: SMPL parents come first) only updates blocks among the eliminated
    joint's ancestors and the translation, so there is no fill-in: about A * depth^2 3x3
    products per frame instead of a dense (3A+3)^3 factorisation. g_w (F,A,3), g_t (F,3).
    Arguments are overwritten. Returns (x_w (F,A,3), x_t (F,3)).
    """
    n_frames, n_act = g_w.shape[:2]
    d_inv = np.empty((n_frames, n_act, 3, 3))
    for b in range(n_act - 1, -1, -1):
        inv_b = _inv3(blocks[:, st.diag_pair[b]])
        d_inv[:, b] = inv_b
        chain = st.chain[b]
        h_bt = h_wt[:, b]
        g_b = g_w[:, b, :, None]
        if len(chain):
            y = blocks[:, st.chain_pair[b]]                      # H_ab (F,m,3,3)
            w = y @ inv_b[:, None]                                # H_ab D_b^-1
            k1, k2 = st.chain_k1[b], st.chain_k2[b]
            # (matmul is several times faster on C-ordered 3x3s than on transposed views)
            blocks[:, st.chain_upd[b]] -= w[:, k1] @ _transposed(y)[:, k2]
            h_wt[:, chain] -= w @ h_bt[:, None]
            g_w[:, chain] -= (w @ g_b[:, None])[..., 0]
        w_t = _transposed(h_bt) @ inv_b                           # H_Tb D_b^-1
        h_tt -= w_t @ h_bt
        g_t -= (w_t @ g_b)[..., 0]
    x_t = (_inv3(h_tt) @ g_t[..., None])[..., 0]
    x_w = np.empty_like(g_w)
    for b in range(n_act):
        rhs = g_w[:, b] - (h_wt[:, b] @ x_t[..., None])[..., 0]      # H_bT x_T
        chain = st.chain[b]
        if len(chain):
            y = blocks[:, st.chain_pair[b]]                       # (F,m,3,3)
            rhs = rhs - np.einsum("fmab,fma->fb", y, x_w[:, chain])
        x_w[:, b] = (d_inv[:, b] @ rhs[..., None])[..., 0]
    return x_w, x_t


def refine_halo(config: FitConfig) -> int:
    """Frames of context each side of a window that make chunked ``refine`` exact: the
    temporal pull couples frames within the smoothing radius per iteration."""
    radius = max(_rot_smooth_radius(1.5), _value_smooth_radius(config.root_smooth_frames))
    return config.iterations * radius


def refine(local_rots: np.ndarray, root_cam: np.ndarray, rest: np.ndarray,
           targets3d: np.ndarray, conf3d: np.ndarray, targets2d: np.ndarray,
           conf2d: np.ndarray, K: np.ndarray, config: FitConfig = FitConfig(),
           frame_mask: np.ndarray | None = None,
           aux: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
           windows: Executor | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Damped Gauss-Newton over all frames, solved in windows of bounded size.

    targets3d: (F,24,3) metric targets relative to the landmarks' mid-hip origin (camera axes);
    targets2d: (F,24,2) pixels; conf*: (F,24). Model: camera joints = FK(rest, local) - rest[0] +
    root_cam. Residuals: 3D error of joints relative to the model mid-hip, 2D reprojection error,
    hinge priors (knee: shank stays in the flexion plane, little twist; elbow: forearm
    stays in its flexion plane; wrist: no twist), and a pull toward a temporally smoothed
    copy of the current segment orientations and root path. Parameters per frame:
    a world-frame rotation increment for each joint in ``ACTIVE_JOINTS`` (it turns the joint's
    subtree about the joint) plus the root translation. ``aux`` = (metric (F,33,3), image
    (F,33,2), weights (F,33)) adds the face / hand / foot landmarks as points fixed in their
    segments (``REST_AUX_OFFSETS``): they carry the twist of the head, hands and feet.

    The normal equations are block-diagonal over frames (63x63 per frame); only the temporal
    pull couples frames, through the smoothed copy of the previous iterate. So frames are
    solved in windows of ``config.chunk_frames`` plus ``config.chunk_halo`` frames of context
    each side, which are refined too and then dropped. With ``chunk_halo=None`` the halo is
    ``refine_halo`` (every frame the kept part depends on), so the windowed result equals the
    all-at-once one up to rounding; the default 32 frames costs less and the influence of
    farther frames has decayed to < 0.01 deg / 0.1 mm. Memory is bounded by the window size
    (times ``config.workers``: windows are refined side by side on threads; ``windows``: an
    executor to run them on instead, shared by people fitted side by side).
    Returns (local_rots, root_cam).
    """
    local_all = np.asarray(local_rots, dtype=np.float64)
    root_all = np.asarray(root_cam, dtype=np.float64)
    rest = np.asarray(rest, float)
    n_frames = local_all.shape[0]
    st = _structure(aux is not None)
    chunk = max(config.chunk_frames if config.chunk_frames > 0 else n_frames, 1)
    halo = refine_halo(config) if config.chunk_halo is None else config.chunk_halo
    out_local, out_root = np.empty_like(local_all), np.empty_like(root_all)

    def refine_window(start: int) -> None:
        stop = min(n_frames, start + chunk)
        lo, hi = max(0, start - halo), min(n_frames, stop + halo)
        # Weights and targets of the window only (nothing per frame is kept but the output).
        win = slice(lo, hi)
        w3 = (np.asarray(conf3d[win], float) * TARGET_WEIGHT) / config.sigma_3d_m ** 2
        w2 = (np.asarray(conf2d[win], float) * TARGET_WEIGHT) / config.sigma_2d_px ** 2
        tgt3 = np.asarray(targets3d[win], float)
        tgt2 = np.asarray(targets2d[win], float)
        if aux is not None:
            a_met, a_img, a_w = (np.asarray(x[win], float) for x in aux)
            aw = a_w[:, st.aux_lm] * config.aux_weight
            w3 = np.concatenate([w3, aw / config.sigma_3d_m ** 2], axis=1)
            w2 = np.concatenate([w2, aw / config.sigma_2d_px ** 2], axis=1)
            tgt3 = np.concatenate([tgt3, a_met[:, st.aux_lm]], axis=1)
            tgt2 = np.concatenate([tgt2, a_img[:, st.aux_lm]], axis=1)
        if frame_mask is not None:
            keep = np.asarray(frame_mask[win], float)[:, None]
            w3 = w3 * keep
            w2 = w2 * keep
        local, root = local_all[win], root_all[win]
        for _ in range(config.iterations):
            local, root = _window_step(local, root, rest, w3, w2, tgt3, tgt2, K, st, config,
                                       aux is not None)
        out_local[start:stop] = local[start - lo: stop - lo]
        out_root[start:stop] = root[start - lo: stop - lo]

    # Windows are independent (each reads only the inputs and writes only its own frames of
    # the output), so they run side by side: numpy releases the GIL in the array maths.
    starts = range(0, n_frames, chunk)
    workers = min(len(starts), window_workers(config))
    if windows is not None:
        for done in [windows.submit(refine_window, start) for start in starts]:
            done.result()
    elif workers <= 1:
        for start in starts:
            refine_window(start)
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="str-mocap-fit") as pool:
            for done in [pool.submit(refine_window, start) for start in starts]:
                done.result()
    return out_local, out_root


def window_workers(config: FitConfig) -> int:
    """Windows ``refine`` works on at once: ``config.workers``, or (0) two when the CPU has
    two cores or more (a 540-frame track has three windows; each holds about 20 MB)."""
    if config.workers > 0:
        return config.workers
    return max(1, min(2, os.cpu_count() or 1))


def fit_skeleton(metric_landmarks: np.ndarray, targets3d: np.ndarray, conf3d: np.ndarray,
                 targets2d: np.ndarray, conf2d: np.ndarray, root_init: np.ndarray,
                 K: np.ndarray, frame_mask: np.ndarray, config: FitConfig = FitConfig(),
                 aux: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                 windows: Executor | None = None) -> SkeletonFit:
    """Fit one person: bone lengths, analytic rotations, Gauss-Newton refinement.

    metric_landmarks: (F,33,3) camera-aligned metric landmarks (origin mid-hip).
    targets3d/conf3d: their SMPL targets (F,24,3)/(F,24); targets2d/conf2d: image targets
    (F,24,2) px / (F,24). root_init: (F,3) pelvis in camera coordinates. frame_mask: (F,) bool
    frames with observations (others are fitted too but carry no weight). aux: optional
    (metric (F,33,3), image (F,33,2) px, weights (F,33)) landmarks for ``refine``; windows: the
    executor ``refine`` runs its windows on (None: its own).
    """
    mask = np.asarray(frame_mask, bool)
    conf_len = np.where(mask[:, None], conf3d, 0.0)
    lengths = estimate_bone_lengths(targets3d, conf_len, config.min_confidence)
    rest = build_rest_joints(lengths)
    G = initial_global_rotations(targets3d, metric_landmarks, rest, config.bend_on_deg)
    local = globals_to_locals(G)
    local, root = refine(local, root_init, rest, targets3d, conf3d, targets2d, conf2d, K,
                         config, mask.astype(float), aux=aux, windows=windows)
    pos, _ = forward_kinematics(rest, local)
    joints_cam = pos - pos[:, :1] + root[:, None, :]
    return SkeletonFit(local_rots=local, root_cam=root, joints_cam=joints_cam,
                       rest_joints=rest, lengths=lengths)
