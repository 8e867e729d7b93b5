"""Retargeting maths: SMPL source motion -> pose-bone channels of any humanoid rig (numpy only).

Conventions
-----------
* A skeleton is given like Blender stores it: per bone the armature-space rest matrix
  ``bone.matrix_local`` (4x4, head in the last column, the bone's Y axis along head->tail), the
  parent index and the rest length. Pose: ``pose_b = pose_parent @ inv(rest_parent) @ rest_b @
  basis_b`` (Blender's default inherit flags); ``basis`` is the pose bone's matrix_basis.
* World = object matrix @ armature space. All rotations act on column vectors. Units: metres.
* Frames: arrays with a leading axis F are samples at the source's key frames.

Method (independent of rest pose, bone rolls/axes and proportions)
------------------------------------------------------------------
For each mapped target bone b driven by source s:

* an *anatomical direction* at rest for both rigs: the chord from the joint to the next joint
  of the chain (e.g. shoulder -> elbow), never the bone's own axis (FBX bones often point
  anywhere); leaves (head, hand, toe) use their parent's chord;
* a twist reference: the rig's own forward axis (``left x up``), or its up axis for bones that
  point forward in either rig (feet; arms of a character modelled with its arms forward); frames ``F = [dir, ref_perp, dir x ref_perp]``;
* the rest alignment ``Q_b = F_source @ F_target^T`` (minimal rotation of the target's rest
  direction onto the source's, twist matched through the reference axis);
* at frame t: ``W_b(t) = C_b(t) @ D_j(t) @ Q_b @ R_b``, ``D_j = R_j(t) R_j(rest)^T`` the
  world rotation of the driving source joint relative to rest, ``R_b`` the target's rest world
  rotation, and ``C_b`` the minimal rotation that puts the direction exactly on the source chord
  (identity unless a chain is spread over a different number of bones).

Clavicles (bones driven by the SMPL collars) are kept within an anatomical range: a clavicle's
rotation away from the target's own rest pose, relative to the chest, is softly limited to
``clavicle_limit_deg`` (identical below 60 % of it, then saturating), so arms overhead do not
fold the shoulders into the chest. The upper
arms are solved in world space, so they still point exactly along the source's upper arms: the
rest of the elevation goes to them.

World orientations are turned into pose-bone rotations through the target's own hierarchy
(unmapped bones keep their rest pose relative to their parent). The mapped hips get the root
motion: ``hips(t) = hips_rest + k (pelvis(t) - pelvis_rest) + (1 - k) g(t) up`` with ``k =
target leg length / source leg length`` (thigh + shin) and ``g(t)`` the height of the ground
under the source's feet above its rest floor (:meth:`RetargetPlan.ground_heights`): horizontal
travel and the pelvis's height above the ground under it are scaled, the ground's own height
(a box, a stair) is not. When the source stands as in its rest pose the target stands as in its
own (feet on its floor). Optional foot locking keeps each ankle at a fixed
world point during contact segments (blended in and out) with analytic two-bone IK whose knee
stays in the plane of the current knee.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .retarget_map import SOURCE_SEGMENTS, SPINE_CHAIN, BoneMap
from .rotations import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_quaternion,
    quaternion_sign_continuity,
)
from .skeleton import SMPL_JOINT_NAMES

_EPS = 1e-9
#: Source joints whose heights tell where the ground is (motion-file contact order).
_FOOT_JOINTS = ("left_ankle", "left_foot", "right_ankle", "right_foot")
#: Sources whose rotation relative to their parent (the chest) is range-limited.
_CLAVICLE_SOURCES = ("left_collar", "right_collar")
#: Default clavicle range (degrees from rest, relative to the chest). Anatomical clavicle
#: elevation/protraction stays within about 30-45 degrees; SMPL fits put up to 100+ degrees
#: there when the arms go overhead.
CLAVICLE_LIMIT_DEG = 35.0
#: Default share of the twist between upper arm and hand (about the forearm) that the forearm
#: bone takes; the hand takes the rest. Anatomically the forearm's roll (pronation) happens
#: along the forearm, not at the elbow, while SMPL fits often put it (up to ~180 degrees) into
#: the elbow joint: followed literally, a skinned character's elbow wraps like a sweet wrapper.
#: Half to the forearm halves the largest twist at any one joint.
FOREARM_TWIST_SHARE = 0.5
#: Source leaves whose direction is taken from their parent joint's chord.
_LEAF_PARENT = {"head": "neck", "left_hand": "left_wrist", "right_hand": "right_wrist",
                "left_foot": "left_ankle", "right_foot": "right_ankle"}


class RetargetMathError(ValueError):
    """Inputs the maths cannot use (degenerate rig, missing bones); the text says which."""


@dataclass(frozen=True)
class Skeleton:
    """An armature at rest. rest (B,4,4) armature space; parents (B,) (-1 root); lengths (B,)."""

    names: tuple[str, ...]
    parents: np.ndarray
    rest: np.ndarray
    lengths: np.ndarray

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError as exc:
            raise RetargetMathError(f"bone {name!r} is not in the armature") from exc

    def heads(self) -> np.ndarray:
        return self.rest[:, :3, 3]

    def tails(self) -> np.ndarray:
        return self.rest[:, :3, 3] + self.rest[:, :3, 1] * self.lengths[:, None]

    def children(self) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in self.names]
        for b, p in enumerate(self.parents):
            if p >= 0:
                out[int(p)].append(b)
        return out

    def order(self) -> list[int]:
        """Bone indices, parents before children."""
        kids = self.children()
        stack = [b for b, p in enumerate(self.parents) if p < 0][::-1]
        out: list[int] = []
        while stack:
            b = stack.pop()
            out.append(b)
            stack.extend(kids[b][::-1])
        if len(out) != len(self.names):
            raise RetargetMathError("the bone hierarchy has a cycle")
        return out


@dataclass(frozen=True)
class FootLockSettings:
    """Contact >= threshold is 'planted'; blend_keys keys are blended in/out around a segment."""

    threshold: float = 0.5
    blend_keys: int = 3


@dataclass(frozen=True)
class TargetAnimation:
    """Result per key frame: quaternions (F,M,4) (w,x,y,z) for ``bones`` and the root location.

    root_location (F,3) is the pose-bone location of ``root_bone`` (None when no root motion);
    world_heads (F,B,3) are the target's bone heads in world space after everything (plain
    parenting assumed); world_rotations / root_world are the wanted world rotations of
    ``bones`` and the wanted root head (for rigs evaluated with constraints); locked (F,2) says which keys had the left/right foot lock fully on;
    unreachable counts keys where a locked foot could not be reached.
    """

    bones: tuple[str, ...]
    quaternions: np.ndarray
    root_bone: str | None
    root_location: np.ndarray | None
    world_heads: np.ndarray
    locked: np.ndarray
    unreachable: int
    world_rotations: np.ndarray | None = None   # (F,M,3,3) wanted world rotations of bones
    root_world: np.ndarray | None = None        # (F,3) wanted world head of root_bone


# ----------------------------------------------------------------------------- small maths


def normalize(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, _EPS)


def rotation_part(m: np.ndarray) -> np.ndarray:
    """Orthonormal rotation of (...,3,3) or (...,4,4) matrices (scale removed, via SVD)."""
    r = np.asarray(m, np.float64)[..., :3, :3]
    u, _, vt = np.linalg.svd(r)
    d = np.sign(np.linalg.det(u @ vt))
    u[..., :, -1] *= d[..., None]
    return u @ vt


def min_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Minimal rotations (...,3,3) taking directions a (...,3) onto b (...,3)."""
    a = normalize(np.asarray(a, np.float64))
    b = normalize(np.asarray(b, np.float64))
    v = np.cross(a, b)
    c = np.sum(a * b, axis=-1)
    shape = v.shape[:-1]
    vx = np.zeros(shape + (3, 3))
    vx[..., 0, 1], vx[..., 0, 2] = -v[..., 2], v[..., 1]
    vx[..., 1, 0], vx[..., 1, 2] = v[..., 2], -v[..., 0]
    vx[..., 2, 0], vx[..., 2, 1] = -v[..., 1], v[..., 0]
    opposite = c < -1.0 + 1e-9
    k = 1.0 / np.where(opposite, 1.0, 1.0 + c)
    r = np.eye(3) + vx + vx @ vx * k[..., None, None]
    if np.any(opposite):  # 180 degrees about any axis perpendicular to a
        ap = a[opposite]
        axis = np.cross(ap, np.array([1.0, 0.0, 0.0]))
        weak = np.linalg.norm(axis, axis=-1) < 1e-6
        axis[weak] = np.cross(ap[weak], np.array([0.0, 1.0, 0.0]))
        axis = normalize(axis)
        r[opposite] = 2.0 * axis[..., :, None] * axis[..., None, :] - np.eye(3)
    return r


def frame_from(direction: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Orthonormal frame (3,3) with columns [dir, reference made perpendicular, dir x that]."""
    x = normalize(np.asarray(direction, np.float64))
    y = np.asarray(reference, np.float64) - (reference @ x) * x
    if np.linalg.norm(y) < 1e-6:
        raise RetargetMathError("a bone points along the twist reference axis")
    y = normalize(y)
    return np.stack([x, y, np.cross(x, y)], axis=-1)


def limit_rotation(r: np.ndarray, limit: float, knee: float = 0.6) -> np.ndarray:
    """Rotations (...,3,3) with their angle softly limited to ``limit`` radians (same axis).

    Angles up to ``knee * limit`` are kept; above, ``a' = k + (limit - k) tanh((a - k) /
    (limit - k))`` (k = knee * limit): continuous and smooth, never beyond ``limit``.
    """
    r = np.asarray(r, np.float64)
    if limit <= 0:
        return r
    aa = matrix_to_axis_angle(r)
    angle = np.linalg.norm(aa, axis=-1)
    k = knee * limit
    over = angle > k
    if not np.any(over):
        return r
    span = max(limit - k, _EPS)
    new_angle = np.where(over, k + span * np.tanh((angle - k) / span), angle)
    scale = new_angle / np.maximum(angle, _EPS)
    return np.where(over[..., None, None], axis_angle_to_matrix(aa * scale[..., None]), r)


def angle_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angles (radians) between direction arrays (...,3)."""
    c = np.sum(normalize(a) * normalize(b), axis=-1)
    return np.arccos(np.clip(c, -1.0, 1.0))


# ----------------------------------------------------------------------------- kinematics


def _relative_rest(skel: Skeleton) -> np.ndarray:
    rel = np.array(skel.rest, np.float64, copy=True)
    for b, p in enumerate(skel.parents):
        if p >= 0:
            rel[b] = np.linalg.inv(skel.rest[p]) @ skel.rest[b]
    return rel


def forward_kinematics(skel: Skeleton, basis: np.ndarray) -> np.ndarray:
    """Armature-space pose matrices (F,B,4,4) from pose-bone basis matrices (F,B,4,4)."""
    rel = _relative_rest(skel)
    pose = np.empty_like(np.asarray(basis, np.float64))
    for b in skel.order():
        p = int(skel.parents[b])
        local = rel[b] @ basis[:, b]
        pose[:, b] = local if p < 0 else pose[:, p] @ local
    return pose


def basis_matrices(translation: np.ndarray | None, quaternion: np.ndarray) -> np.ndarray:
    """(F,4,4) matrices from optional translations (F,3) and quaternions (F,4) (w,x,y,z)."""
    from .rotations import quaternion_to_matrix

    q = np.asarray(quaternion, np.float64)
    out = np.zeros(q.shape[:-1] + (4, 4))
    out[..., :3, :3] = quaternion_to_matrix(q)
    out[..., 3, 3] = 1.0
    if translation is not None:
        out[..., :3, 3] = translation
    return out


# ----------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class _Driven:
    target: int                 # target bone index
    joint: int                  # source bone whose rotation drives it
    polyline: tuple[int, ...]   # source bones whose heads form the chord polyline
    u0: float                   # chord start / end as fractions of the polyline length
    u1: float
    align: np.ndarray           # (3,3) Q_b @ R_b: aligned rest world rotation
    rest_dir: np.ndarray        # (3,) source rest chord direction (world)
    leaf: bool                  # True: follows its joint rigidly (no chord correction)


def _rig_axes(heads: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(forward, up) world axes of a rig from its hips, shoulders, pelvis and neck/head."""
    left = heads["left_hip"] - heads["right_hip"]
    if "left_shoulder" in heads and "right_shoulder" in heads:
        left = normalize(left) + normalize(heads["left_shoulder"] - heads["right_shoulder"])
    top = heads.get("neck", heads.get("head"))
    if top is None:
        top = 0.5 * (heads["left_shoulder"] + heads["right_shoulder"])
    up = normalize(top - heads["pelvis"])
    fwd = np.cross(normalize(left), up)
    if np.linalg.norm(fwd) < 1e-6:
        raise RetargetMathError("cannot find the rig's facing: hips are not side by side")
    fwd = normalize(fwd)
    up = normalize(np.cross(fwd, np.cross(up, fwd)))
    return fwd, up


def _twist_reference_is_up(src_dir: np.ndarray, tgt_dir: np.ndarray, src_fwd: np.ndarray,
                           src_up: np.ndarray, tgt_fwd: np.ndarray, tgt_up: np.ndarray) -> bool:
    """Whether a bone's twist is referenced to the rigs' up axes rather than their forward
    axes: when the source's or the target's rest direction (unit (3,)) points along forward
    (feet; arms of a rig modelled with its arms held forward) and less along up."""
    along_fwd = max(abs(float(src_dir @ src_fwd)), abs(float(tgt_dir @ tgt_fwd)))
    along_up = max(abs(float(src_dir @ src_up)), abs(float(tgt_dir @ tgt_up)))
    return along_fwd > 0.7 and along_up < along_fwd


def _polyline_point(points: np.ndarray, cum: np.ndarray, u: float) -> np.ndarray:
    """Point at fraction u of a polyline; points (...,K,3), cum (K,) from 0 to 1."""
    k = int(np.clip(np.searchsorted(cum, u, side="right") - 1, 0, len(cum) - 2))
    span = max(cum[k + 1] - cum[k], _EPS)
    a = (u - cum[k]) / span
    return points[..., k, :] * (1.0 - a) + points[..., k + 1, :] * a


class RetargetPlan:
    """Everything computed once from the two rigs at rest (world space).

    source: the SMPL rig (bones named like ``SMPL_JOINT_NAMES``), source_world (4,4) object
    matrix; target + target_world likewise; bone_map: resolved map; leg lengths in metres
    (world). ``scale_root`` False keeps k = 1.
    """

    def __init__(self, source: Skeleton, source_world: np.ndarray, target: Skeleton,
                 target_world: np.ndarray, bone_map: BoneMap, scale_root: bool = True,
                 source_leg_length: float | None = None,
                 clavicle_limit_deg: float = CLAVICLE_LIMIT_DEG,
                 forearm_twist_share: float | None = FOREARM_TWIST_SHARE) -> None:
        self.source, self.target = source, target
        self.forearm_twist_share = forearm_twist_share
        self.clavicle_limit = np.radians(clavicle_limit_deg) if clavicle_limit_deg > 0 else 0.0
        self.source_world = np.asarray(source_world, np.float64)
        self.target_world = np.asarray(target_world, np.float64)
        self.source_rot = rotation_part(self.source_world)
        self.target_rot = rotation_part(self.target_world)
        for name in SMPL_JOINT_NAMES:
            source.index(name)
        self.src_rest_world = self.source_world[None] @ source.rest
        self.tgt_rest_world = self.target_world[None] @ target.rest
        self.src_heads = self.src_rest_world[:, :3, 3]
        self.tgt_heads = self.tgt_rest_world[:, :3, 3]
        self.pairs = [(target.index(t), s) for t, s in bone_map.pairs]
        by_source: dict[str, list[int]] = {}
        for t, s in self.pairs:
            by_source.setdefault(s, []).append(t)
        self.by_source = by_source
        tgt_joint_heads = {s: self.tgt_heads[ts[0]] for s, ts in by_source.items()}
        if SPINE_CHAIN in by_source and "spine1" not in tgt_joint_heads:
            tgt_joint_heads["spine1"] = self.tgt_heads[by_source[SPINE_CHAIN][0]]
        src_joint_heads = {n: self.src_heads[source.index(n)] for n in SMPL_JOINT_NAMES}
        self.src_fwd, self.src_up = _rig_axes(src_joint_heads)
        try:
            self.tgt_fwd, self.tgt_up = _rig_axes(tgt_joint_heads)
        except KeyError as exc:
            raise RetargetMathError(f"the bone map lacks {exc.args[0]!r}") from exc
        self.driven = self._plan_driven()
        self.root_target = by_source["pelvis"][0]
        self.root_source = source.index("pelvis")
        tgt_leg = self._target_leg_length()
        src_leg = source_leg_length or self._source_leg_length()
        self.target_leg_length, self.source_leg_length = tgt_leg, src_leg
        self.root_scale = tgt_leg / src_leg if scale_root else 1.0
        self.height_offset = 0.0
        self.height_offset = self._floor_calibration()

    # -- rest geometry -------------------------------------------------------------------

    def _leg_chain(self, side: str) -> tuple[int, int, int] | None:
        try:
            return (self.by_source[f"{side}_hip"][0], self.by_source[f"{side}_knee"][0],
                    self.by_source[f"{side}_ankle"][0])
        except KeyError:
            return None

    def _target_leg_length(self) -> float:
        total = []
        for side in ("left", "right"):
            chain = self._leg_chain(side)
            if chain is None:
                continue
            h, k, a = (self.tgt_heads[i] for i in chain)
            total.append(np.linalg.norm(k - h) + np.linalg.norm(a - k))
        if not total:
            raise RetargetMathError("the bone map has no complete leg (thigh, shin, foot)")
        return float(np.mean(total))

    def _source_leg_length(self) -> float:
        s = self.source
        out = []
        for side in ("left", "right"):
            h, k, a = (self.src_heads[s.index(f"{side}_{j}")] for j in ("hip", "knee", "ankle"))
            out.append(np.linalg.norm(k - h) + np.linalg.norm(a - k))
        return float(np.mean(out))

    def _target_end_point(self, bone: int, end_source: str | None) -> np.ndarray:
        """World point a target chain ends at: the bone mapped to ``end_source``, else the
        mean of the bone's children heads, else its tail."""
        if end_source is not None:
            hits = self.by_source.get(end_source)
            if end_source in ("spine1", "spine2", "spine3", "neck") and not hits:
                hits = self.by_source.get("neck") or self.by_source.get("head")
            if hits:
                return self.tgt_heads[hits[0]]
        head = self.tgt_heads[bone]
        kids = [c for c in self.target.children()[bone]
                if np.linalg.norm(self.tgt_heads[c] - head) > 1e-5]
        if kids:
            return np.mean(self.tgt_heads[kids], axis=0)
        tail_local = np.array([0.0, self.target.lengths[bone], 0.0, 1.0])
        return (self.tgt_rest_world[bone] @ tail_local)[:3]

    def _target_chord(self, source: str, members: list[int], i: int) -> np.ndarray:
        seg = SOURCE_SEGMENTS[source]
        start = self.tgt_heads[members[i]]
        if i + 1 < len(members):
            end = self.tgt_heads[members[i + 1]]
        else:
            end = self._target_end_point(members[i], seg[-1] if len(seg) > 1 else None)
        return end - start

    def _plan_driven(self) -> list[_Driven]:
        src = self.source
        out: list[_Driven] = []
        for source, members in self.by_source.items():
            seg = SOURCE_SEGMENTS[source]
            leaf = len(seg) == 1
            chord_source = _LEAF_PARENT[source] if leaf else source
            poly_names = SOURCE_SEGMENTS[chord_source]
            poly = tuple(src.index(n) for n in poly_names)
            pts = self.src_heads[list(poly)]
            seglen = np.linalg.norm(np.diff(pts, axis=0), axis=-1)
            cum = np.concatenate([[0.0], np.cumsum(seglen)]) / max(seglen.sum(), _EPS)
            if leaf:
                parent_targets = self.by_source.get(chord_source)
                chords = [self._target_chord(chord_source, parent_targets, len(parent_targets)
                                             - 1) if parent_targets else
                          self._target_end_point(m, None) - self.tgt_heads[m] for m in members]
                fractions = [(0.0, 1.0)] * len(members)
            else:
                chords = [self._target_chord(source, members, i) for i in range(len(members))]
                lengths = np.array([np.linalg.norm(c) for c in chords])
                if np.any(lengths < 1e-6):
                    bad = self.target.names[members[int(np.argmin(lengths))]]
                    raise RetargetMathError(f"bone {bad!r} has zero length along its chain")
                edges = np.concatenate([[0.0], np.cumsum(lengths)]) / lengths.sum()
                fractions = list(zip(edges[:-1], edges[1:], strict=True))
            for m, chord, (u0, u1) in zip(members, chords, fractions, strict=True):
                if leaf:
                    joint = src.index(source)
                    rest_dir = normalize(pts[-1] - pts[0])
                else:
                    mid = 0.5 * (u0 + u1)
                    k = int(np.clip(np.searchsorted(cum, mid, side="right") - 1, 0,
                                    len(poly) - 2))
                    joint = poly[k]
                    rest_dir = normalize(_polyline_point(pts, cum, u1)
                                         - _polyline_point(pts, cum, u0))
                use_up = _twist_reference_is_up(rest_dir, normalize(chord), self.src_fwd,
                                                self.src_up, self.tgt_fwd, self.tgt_up)
                ref_s = self.src_up if use_up else self.src_fwd
                ref_t = self.tgt_up if use_up else self.tgt_fwd
                q = frame_from(rest_dir, ref_s) @ frame_from(chord, ref_t).T
                align = q @ rotation_part(self.tgt_rest_world[m])
                out.append(_Driven(target=m, joint=joint, polyline=poly, u0=float(u0),
                                   u1=float(u1), align=align, rest_dir=rest_dir,
                                   leaf=leaf))
        return out

    # -- per frame -----------------------------------------------------------------------

    def target_world_rotations(self, src_pose_world: np.ndarray) -> dict[int, np.ndarray]:
        """World rotations (F,3,3) per mapped target bone from source world poses (F,Bs,4,4)."""
        rot = rotation_part(src_pose_world)
        rest_rot = rotation_part(self.src_rest_world)
        heads = src_pose_world[..., :3, 3]
        out: dict[int, np.ndarray] = {}
        for d in self.driven:
            delta = rot[:, d.joint] @ rest_rot[d.joint].T
            w = delta @ d.align
            if not d.leaf:
                pts = heads[:, list(d.polyline)]
                seglen = np.linalg.norm(np.diff(self.src_heads[list(d.polyline)], axis=0),
                                        axis=-1)
                cum = np.concatenate([[0.0], np.cumsum(seglen)]) / max(seglen.sum(), _EPS)
                chord = _polyline_point(pts, cum, d.u1) - _polyline_point(pts, cum, d.u0)
                w = min_rotation(delta @ d.rest_dir, chord) @ w
            out[d.target] = w
        return self._spread_forearm_twist(self._limit_clavicles(out))

    def _forearm_chains(self) -> list[tuple[int, int, int, np.ndarray]]:
        """[(upper arm, forearm, hand, forearm rest direction (3,) world)] per side where all
        three are mapped (one forearm bone)."""
        out = []
        for side in ("left", "right"):
            upper = self.by_source.get(f"{side}_shoulder")
            fore = self.by_source.get(f"{side}_elbow")
            hand = self.by_source.get(f"{side}_wrist")
            if not upper or not hand or not fore or len(fore) != 1:
                continue
            axis = normalize(self._target_chord(f"{side}_elbow", fore, 0))
            out.append((upper[-1], fore[0], hand[0], axis))
        return out

    def _spread_forearm_twist(self, world: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        """Re-roll each forearm about its own (unchanged) direction so that it carries
        ``forearm_twist_share`` of the twist between the upper arm and the hand, measured from
        a forearm that swings from the upper arm without twisting; the hand's world rotation
        and every bone direction stay as they are. ``None`` follows the capture's elbow."""
        share = self.forearm_twist_share
        if share is None:
            return world
        rest = rotation_part(self.tgt_rest_world)
        for upper, fore, hand, axis_rest in self._forearm_chains():
            d_upper = world[upper] @ rest[upper].T
            d_fore = world[fore] @ rest[fore].T
            d_hand = world[hand] @ rest[hand].T
            axis = np.einsum("fij,j->fi", d_fore, axis_rest)
            untwisted = min_rotation(np.einsum("fij,j->fi", d_upper, axis_rest), axis) @ d_upper
            q = matrix_to_quaternion(d_hand @ np.swapaxes(untwisted, -1, -2))
            angle = 2.0 * np.arctan2(np.sum(q[:, 1:] * axis, axis=-1), q[:, 0])
            angle = (angle + np.pi) % (2.0 * np.pi) - np.pi
            roll = axis_angle_to_matrix(axis * (share * angle)[:, None])
            world[fore] = roll @ untwisted @ rest[fore]
        return world

    def _limited_bones(self) -> dict[int, int]:
        """{clavicle target bone: its nearest mapped ancestor (-1: none)}."""
        if self.clavicle_limit <= 0:
            return {}
        mapped = {t for t, _ in self.pairs}
        out = {}
        for source in _CLAVICLE_SOURCES:
            for b in self.by_source.get(source, []):
                a = int(self.target.parents[b])
                while a >= 0 and a not in mapped:
                    a = int(self.target.parents[a])
                out[b] = a
        return out

    def _limit_clavicles(self, world: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        """Softly limit each clavicle's rotation from the target's own rest, relative to its
        mapped parent (the chest), to ``clavicle_limit``; the rest rotation of an unmapped bone
        in between counts as part of the parent."""
        rest = rotation_part(self.tgt_rest_world)
        for b, a in self._limited_bones().items():
            parent = (world[a] @ rest[a].T) if a >= 0 else np.eye(3)[None]
            relative = np.swapaxes(parent, -1, -2) @ world[b] @ rest[b].T
            world[b] = parent @ limit_rotation(relative, self.clavicle_limit) @ rest[b]
        return world

    def ground_heights(self, src_pose_world: np.ndarray, contacts: np.ndarray | None = None,
                       threshold: float = 0.5) -> np.ndarray:
        """Height (F,) in metres of the ground under the source above its rest floor (world Z).

        Per key: the lowest rise of the foot joints (ankles, balls) above their rest heights.
        With ``contacts`` (F,4) (left ankle, left toe, right ankle, right toe), only the joints
        in contact count and keys without contact take the ground interpolated between the
        neighbouring contact keys (held at the ends), so a jump does not lift the ground.
        """
        idx = [self.source.index(n) for n in _FOOT_JOINTS]
        rise = src_pose_world[:, idx, 2, 3] - self.src_heads[idx, 2][None]
        free = rise.min(axis=1)
        if contacts is None:
            return free
        touching = np.asarray(contacts, np.float64).reshape(-1, 4) >= threshold
        keys = np.nonzero(touching.any(axis=1))[0]
        if len(keys) == 0:
            return free
        at_contact = np.where(touching[keys], rise[keys], np.inf).min(axis=1)
        return np.interp(np.arange(len(free)), keys, at_contact)

    def root_positions(self, src_pose_world: np.ndarray,
                       ground: np.ndarray | None = None) -> np.ndarray:
        """World position (F,3) of the target hips' head.

        ground (F,): :meth:`ground_heights` (None: measured from the feet of every key).
        """
        p = src_pose_world[:, self.root_source, :3, 3]
        p0 = self.src_heads[self.root_source]
        out = self.tgt_heads[self.root_target] + self.root_scale * (p - p0)
        if ground is None:
            ground = self.ground_heights(src_pose_world)
        out[:, 2] += (1.0 - self.root_scale) * ground + self.height_offset
        return out

    def _foot_bones(self) -> list[int]:
        return [t for s in ("left_ankle", "right_ankle", "left_foot", "right_foot")
                for t in self.by_source.get(s, [])[:1]]

    def _floor_calibration(self) -> float:
        """World-Z shift (m) that puts the target's lowest foot joint at its rest height when
        the source stands in its rest pose (the source's leg directions differ from the
        target's rest legs, e.g. SMPL legs splay a few degrees)."""
        feet = self._foot_bones()
        if not feet:
            return 0.0
        rest = self.src_rest_world[None]
        _, pose = solve_pose(self, self.target_world_rotations(rest),
                             self.root_positions(rest, np.zeros(1)))
        posed = world_heads(self, pose)[0, feet, 2].min()
        return float(self.tgt_heads[feet, 2].min() - posed)


def solve_pose(plan: RetargetPlan, world_rot: Mapping[int, np.ndarray],
               root_world: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Pose-bone basis (F,B,4,4) and armature-space pose (F,B,4,4) of the target.

    world_rot: desired world rotations (F,3,3) of mapped bones; root_world (F,3): desired world
    head of ``plan.root_target`` (None keeps it where the hierarchy puts it).
    """
    tgt = plan.target
    rel = _relative_rest(tgt)
    n_frames = next(iter(world_rot.values())).shape[0]
    inv_world = np.linalg.inv(plan.target_world)
    obj_rot_t = plan.target_rot.T
    basis = np.tile(np.eye(4), (n_frames, len(tgt.names), 1, 1))
    pose = np.empty_like(basis)
    for b in tgt.order():
        p = int(tgt.parents[b])
        inherited = rel[b][None] if p < 0 else pose[:, p] @ rel[b]
        inherited = np.broadcast_to(inherited, (n_frames, 4, 4))
        if b not in world_rot and not (b == plan.root_target and root_world is not None):
            pose[:, b] = inherited
            continue
        want = np.array(inherited)
        if b in world_rot:
            want[:, :3, :3] = obj_rot_t @ world_rot[b]
        if b == plan.root_target and root_world is not None:
            want[:, :3, 3] = (inv_world[:3, :3] @ root_world.T).T + inv_world[:3, 3]
        pose[:, b] = want
        basis[:, b] = np.linalg.inv(inherited) @ want
    return basis, pose


def contact_segments(planted: np.ndarray) -> list[tuple[int, int]]:
    """[(first, last)] index ranges (inclusive) where the boolean array (F,) is True."""
    p = np.asarray(planted, bool)
    edges = np.diff(np.concatenate([[0], p.astype(np.int8), [0]]))
    starts = np.nonzero(edges == 1)[0]
    ends = np.nonzero(edges == -1)[0] - 1
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def lock_targets(free: np.ndarray, planted: np.ndarray, blend_keys: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Ankle goals (F,3) and weights (F,) for one foot.

    free (F,3): ankle world positions without locking; planted (F,) bool. Each contact
    segment is locked at the mean free position over the segment (weight 1 inside), blended
    linearly over ``blend_keys`` keys on both sides (weight 1 - d/(blend_keys+1)).
    """
    n = free.shape[0]
    goal = np.array(free, np.float64, copy=True)
    weight = np.zeros(n)
    best_dist = np.full(n, np.inf)
    for a, b in contact_segments(planted):
        point = free[a:b + 1].mean(axis=0)
        lo, hi = max(0, a - blend_keys), min(n - 1, b + blend_keys)
        idx = np.arange(lo, hi + 1)
        dist = np.where(idx < a, a - idx, np.where(idx > b, idx - b, 0))
        closer = dist < best_dist[idx]
        idx, dist = idx[closer], dist[closer]
        best_dist[idx] = dist
        w = 1.0 - dist / (blend_keys + 1.0)
        weight[idx] = w
        goal[idx] = free[idx] * (1.0 - w[:, None]) + point * w[:, None]
    return goal, weight


def two_bone_ik(hip: np.ndarray, knee: np.ndarray, ankle: np.ndarray, goal: np.ndarray,
                pole_fallback: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Analytic two-bone IK (all (F,3) world points).

    Returns (R_thigh (F,3,3), R_shin (F,3,3), reachable (F,) bool): apply ``R_thigh`` to the
    thigh's world rotation (about the hip) and ``R_shin @ R_thigh`` to the shin's, so the
    ankle lands on ``goal`` (or as close as the leg reaches); the knee stays in the plane
    spanned by hip->goal and the current knee.
    """
    l1 = np.linalg.norm(knee - hip, axis=-1)
    l2 = np.linalg.norm(ankle - knee, axis=-1)
    to_goal = goal - hip
    dist = np.linalg.norm(to_goal, axis=-1)
    lo, hi = np.abs(l1 - l2) + 1e-6, (l1 + l2) * (1.0 - 1e-6)
    reachable = (dist >= lo) & (dist <= hi)
    d = np.clip(dist, lo, hi)
    u = normalize(to_goal)
    pole = (knee - hip) - np.sum((knee - hip) * u, axis=-1, keepdims=True) * u
    weak = np.linalg.norm(pole, axis=-1) < 1e-6
    pole[weak] = np.broadcast_to(pole_fallback, pole.shape)[weak]
    pole = normalize(pole - np.sum(pole * u, axis=-1, keepdims=True) * u)
    a = (l1 ** 2 - l2 ** 2 + d ** 2) / (2.0 * d)
    h = np.sqrt(np.maximum(l1 ** 2 - a ** 2, 0.0))
    new_knee = hip + a[:, None] * u + h[:, None] * pole
    r1 = min_rotation(knee - hip, new_knee - hip)
    ankle1 = new_knee + np.einsum("fij,fj->fi", r1, ankle - knee)
    reach_goal = hip + u * d[:, None]
    r2 = min_rotation(ankle1 - new_knee, reach_goal - new_knee)
    return r1, r2, reachable


def world_heads(plan: RetargetPlan, pose: np.ndarray) -> np.ndarray:
    """World bone heads (F,B,3) from armature-space pose matrices (F,B,4,4)."""
    m = plan.target_world
    return np.einsum("ij,fbj->fbi", m[:3, :3], pose[..., :3, 3]) + m[:3, 3]


def retarget(plan: RetargetPlan, src_pose_world: np.ndarray,
             contacts: np.ndarray | None = None, foot_lock: bool = True,
             lock: FootLockSettings = FootLockSettings()) -> TargetAnimation:
    """Target animation at every source key.

    src_pose_world (F,Bs,4,4): source bones' world matrices (object @ pose) per key.
    contacts (F,4) in [0,1]: left ankle, left toe, right ankle, right toe (motion-file order);
    a foot is planted when its ankle or toe contact is >= ``lock.threshold``.
    """
    src_pose_world = np.asarray(src_pose_world, np.float64)
    n = src_pose_world.shape[0]
    rots = plan.target_world_rotations(src_pose_world)
    if contacts is not None:
        contacts = np.asarray(contacts, np.float64).reshape(n, 4)
    root = plan.root_positions(src_pose_world, plan.ground_heights(
        src_pose_world, contacts, lock.threshold))
    basis, pose = solve_pose(plan, rots, root)
    locked = np.zeros((n, 2), bool)
    unreachable = 0
    if foot_lock and contacts is not None:
        heads = world_heads(plan, pose)
        changed = False
        for k, side in enumerate(("left", "right")):
            chain = plan._leg_chain(side)
            if chain is None:
                continue
            planted = np.maximum(contacts[:, 2 * k], contacts[:, 2 * k + 1]) >= lock.threshold
            if not planted.any():
                continue
            hip, knee, ankle = (heads[:, i] for i in chain)
            goal, weight = lock_targets(ankle, planted, lock.blend_keys)
            active = weight > 0
            r1, r2, ok = two_bone_ik(hip, knee, ankle, goal, plan.tgt_fwd)
            r1[~active] = np.eye(3)
            r2[~active] = np.eye(3)
            thigh, shin = chain[0], chain[1]
            rots[thigh] = r1 @ rots[thigh]
            rots[shin] = r2 @ r1 @ rots[shin]
            locked[:, k] = weight >= 1.0
            unreachable += int(np.sum(active & ~ok))
            changed = True
        if changed:
            basis, pose = solve_pose(plan, rots, root)
    bones = tuple(sorted(rots, key=lambda b: plan.target.order().index(b)))
    quats = matrix_to_quaternion(basis[:, list(bones), :3, :3])
    quats = quaternion_sign_continuity(quats, axis=0)
    return TargetAnimation(
        bones=tuple(plan.target.names[b] for b in bones), quaternions=quats,
        root_bone=plan.target.names[plan.root_target],
        root_location=basis[:, plan.root_target, :3, 3].copy(),
        world_heads=world_heads(plan, pose), locked=locked, unreachable=unreachable,
        world_rotations=np.stack([rots[b] for b in bones], axis=1), root_world=root)


def skeleton_from_arrays(names: Sequence[str], parents: Sequence[int], rest: np.ndarray,
                         lengths: Sequence[float]) -> Skeleton:
    """Validated :class:`Skeleton` (rest (B,4,4) armature-space matrices)."""
    rest = np.asarray(rest, np.float64)
    n = len(names)
    if rest.shape != (n, 4, 4) or len(parents) != n or len(lengths) != n:
        raise RetargetMathError("names, parents, rest (B,4,4) and lengths must agree in B")
    if not np.all(np.isfinite(rest)):
        raise RetargetMathError("rest matrices must be finite")
    return Skeleton(names=tuple(names), parents=np.asarray(parents, np.int64), rest=rest,
                    lengths=np.asarray(lengths, np.float64))
