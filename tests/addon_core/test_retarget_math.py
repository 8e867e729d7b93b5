"""Retargeting maths and bone mapping without Blender (numpy only)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from str_blender_addon.core import retarget_map as rmap
from str_blender_addon.core import retarget_math as rm
from str_blender_addon.core.rotations import axis_angle_to_matrix
from str_blender_addon.core.skeleton import (
    SMPL_JOINT_NAMES,
    SMPL_PARENTS,
    SMPL_TEMPLATE_REST_JOINTS,
    bone_tails,
)

RNG = np.random.default_rng(7)


def _rest_matrix(head, tail, twist: float) -> np.ndarray:
    """Blender-like rest matrix: Y along head->tail, X/Z turned by ``twist`` about Y."""
    y = rm.normalize(np.asarray(tail, float) - head)
    helper = np.array([0.0, 0.0, 1.0]) if abs(y[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    x = rm.normalize(np.cross(y, helper))
    z = np.cross(x, y)
    c, s = np.cos(twist), np.sin(twist)
    x, z = c * x - s * z, s * x + c * z
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = x, y, z, head
    return m


def _skeleton(names, parents, heads, tails, twists) -> rm.Skeleton:
    rest = np.stack([_rest_matrix(h, t, w) for h, t, w in zip(heads, tails, twists,
                                                               strict=True)])
    lengths = np.linalg.norm(np.asarray(tails) - np.asarray(heads), axis=-1)
    return rm.skeleton_from_arrays(names, parents, rest, lengths)


def smpl_source() -> rm.Skeleton:
    """SMPL template as a Blender rig: Z-up (x, -z, y), facing -Y."""
    j = SMPL_TEMPLATE_REST_JOINTS.astype(float)
    tails = bone_tails(j)
    zup = lambda p: np.stack([p[:, 0], -p[:, 2], p[:, 1]], -1)  # noqa: E731
    return _skeleton(SMPL_JOINT_NAMES, SMPL_PARENTS, zup(j), zup(tails), np.zeros(24))


def humanoid_target(spine: int = 3, pose: str = "A", leg: float = 1.2, arm: float = 1.3,
                    twist_seed: int = 1, random_tails: bool = False):
    """A humanoid with its own names/proportions; returns (skeleton, role->bone dict)."""
    rng = np.random.default_rng(twist_seed)
    names, parents, heads, nexts = [], [], [], []

    def add(name, parent, head, nxt):
        names.append(name)
        parents.append(names.index(parent) if parent else -1)
        heads.append(np.asarray(head, float))
        nexts.append(np.asarray(nxt, float))

    hip_z = 0.1 + 0.85 * leg
    add("hips", "", [0, 0, hip_z + 0.05], [0, 0, hip_z + 0.12])
    top = hip_z + 0.6
    pts = [np.array([0, 0.01 * i, hip_z + 0.12 + (top - hip_z - 0.12) * i / spine])
           for i in range(spine + 1)]
    prev = "hips"
    for i in range(spine):
        add(f"sp{i}", prev, pts[i], pts[i + 1])
        prev = f"sp{i}"
    add("neck", prev, pts[-1], pts[-1] + [0, 0, 0.1])
    add("head", "neck", pts[-1] + [0, 0, 0.1], pts[-1] + [0, 0, 0.3])
    roles = {"hips": "hips", "neck": "neck", "head": "head"}
    for side, sx in (("left", 1), ("right", -1)):
        d = np.array([sx, 0, 0.0]) if pose == "T" else np.array([sx * 0.7071, 0, -0.7071])
        sh = np.array([0.18 * sx, 0, top - 0.02])
        el, wr = sh + d * 0.28 * arm, sh + d * 0.54 * arm
        add(f"cl_{side}", prev, [0.03 * sx, 0, top - 0.03], sh)
        add(f"ua_{side}", f"cl_{side}", sh, el)
        add(f"fa_{side}", f"ua_{side}", el, wr)
        add(f"ha_{side}", f"fa_{side}", wr, wr + d * 0.15)
        hp = np.array([0.1 * sx, 0, hip_z])
        kn = hp + [0, -0.02, -0.45 * leg]
        an = np.array([0.1 * sx, 0.02, 0.09])
        add(f"th_{side}", "hips", hp, kn)
        add(f"sh_{side}", f"th_{side}", kn, an)
        add(f"ft_{side}", f"sh_{side}", an, [0.1 * sx, -0.12, 0.02])
        add(f"to_{side}", f"ft_{side}", [0.1 * sx, -0.12, 0.02], [0.1 * sx, -0.19, 0.02])
        roles.update({f"{side}_collar": f"cl_{side}", f"{side}_shoulder": f"ua_{side}",
                      f"{side}_elbow": f"fa_{side}", f"{side}_wrist": f"ha_{side}",
                      f"{side}_hip": f"th_{side}", f"{side}_knee": f"sh_{side}",
                      f"{side}_ankle": f"ft_{side}", f"{side}_foot": f"to_{side}"})
    tails = []
    for h, n in zip(heads, nexts, strict=True):
        if random_tails:
            d = rng.normal(size=3)
            tails.append(h + 0.1 * d / np.linalg.norm(d))
        else:
            tails.append(n)
    twists = rng.uniform(-np.pi, np.pi, len(names))
    skel = _skeleton(names, parents, heads, tails, twists)
    return skel, roles, [f"sp{i}" for i in range(spine)]


def _bone_map(roles: dict[str, str], spine_bones: list[str]) -> rmap.BoneMap:
    pairs = [(b, r) for r, b in roles.items() if r in rmap.SOURCE_NAMES and r != "hips"]
    pairs.append((roles["hips"], "pelvis"))
    if len(spine_bones) == 3:
        pairs += list(zip(spine_bones, ("spine1", "spine2", "spine3"), strict=True))
    else:
        pairs += [(b, "spine") for b in spine_bones]
    return rmap.BoneMap(pairs=tuple(pairs), method="manual")


def random_source_motion(src: rm.Skeleton, n: int = 12, scale: float = 0.6) -> np.ndarray:
    """Source world poses (n,24,4,4) with random joint rotations and root motion."""
    basis = np.tile(np.eye(4), (n, 24, 1, 1))
    basis[:, :, :3, :3] = axis_angle_to_matrix(scale * RNG.normal(size=(n, 24, 3)))
    basis[:, 0, :3, 3] = RNG.normal(size=(n, 3)) * 0.3
    return rm.forward_kinematics(src, basis)


# ----------------------------------------------------------------------------- small maths


def test_min_rotation_maps_a_to_b_including_opposite_vectors():
    a = rm.normalize(RNG.normal(size=(200, 3)))
    b = rm.normalize(RNG.normal(size=(200, 3)))
    b[:5] = -a[:5]
    b[5:10] = a[5:10]
    r = rm.min_rotation(a, b)
    np.testing.assert_allclose(np.einsum("fij,fj->fi", r, a), b, atol=1e-9)
    np.testing.assert_allclose(r @ np.swapaxes(r, -1, -2), np.tile(np.eye(3), (200, 1, 1)),
                               atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-9)
    # minimal: the rotation axis is perpendicular to both vectors (angle = angle(a, b))
    ang = np.arccos(np.clip((np.trace(r, axis1=1, axis2=2) - 1) / 2, -1, 1))
    np.testing.assert_allclose(ang[10:], rm.angle_between(a, b)[10:], atol=1e-7)


def test_rotation_part_removes_scale():
    r = axis_angle_to_matrix(np.array([0.3, -1.0, 0.2]))
    np.testing.assert_allclose(rm.rotation_part(r * 0.01), r, atol=1e-12)


# ----------------------------------------------------------------------------- retarget


@pytest.mark.parametrize("pose,spine,random_tails", [("A", 3, False), ("T", 5, True),
                                                     ("A", 1, True)])
def test_target_limb_directions_follow_the_source(pose, spine, random_tails):
    src = smpl_source()
    tgt, roles, spine_bones = humanoid_target(spine=spine, pose=pose, random_tails=random_tails)
    world = np.eye(4)
    world[:3, :3] = axis_angle_to_matrix(np.array([0.0, 0.0, 1.1])) * 0.5  # yawed, scaled
    world[:3, 3] = [2.0, -1.0, 0.0]
    plan = rm.RetargetPlan(src, np.eye(4), tgt, world, _bone_map(roles, spine_bones))
    src_pose = random_source_motion(src)
    anim = rm.retarget(plan, src_pose, foot_lock=False)
    th = anim.world_heads
    sh = src_pose[..., :3, 3]
    si = {n: i for i, n in enumerate(SMPL_JOINT_NAMES)}
    ti = {n: i for i, n in enumerate(tgt.names)}
    for a, b in (("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
                 ("right_shoulder", "right_elbow"), ("left_hip", "left_knee"),
                 ("right_knee", "right_ankle"), ("neck", "head")):
        t_dir = th[:, ti[roles[b]]] - th[:, ti[roles[a]]]
        s_dir = sh[:, si[b]] - sh[:, si[a]]
        assert np.degrees(rm.angle_between(t_dir, s_dir)).max() < 1e-4, (a, b)
    # spine: each target spine bone follows the part of the SMPL spine (spine1 -> neck) that
    # covers the same fraction of the chain's length (1:1 when there are three bones)
    chain_t = [ti[b] for b in spine_bones] + [ti["neck"]]
    chain_s = [si[n] for n in ("spine1", "spine2", "spine3", "neck")]
    rest_t = tgt.heads()[chain_t]
    rest_s = src.heads()[chain_s]
    cut_t = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(rest_t, axis=0), axis=-1))])
    cut_s = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(rest_s, axis=0), axis=-1))])
    if len(spine_bones) == 3:
        cut_t = cut_s / cut_s[-1]
    else:
        cut_t = cut_t / cut_t[-1]
    cut_s = cut_s / cut_s[-1]
    for i in range(len(spine_bones)):
        ends = []
        for u in (cut_t[i], cut_t[i + 1]):
            k = min(int(np.searchsorted(cut_s, u, side="right")) - 1, 2)
            a = (u - cut_s[k]) / (cut_s[k + 1] - cut_s[k])
            ends.append(sh[:, chain_s[k]] * (1 - a) + sh[:, chain_s[k + 1]] * a)
        t_dir = th[:, chain_t[i + 1]] - th[:, chain_t[i]]
        assert np.degrees(rm.angle_between(t_dir, ends[1] - ends[0])).max() < 1e-4
    # horizontal root travel scales with the leg-length ratio (the target is yawed: compare
    # lengths); height: the pelvis's height above the ground under the feet scales, the
    # ground's own height does not
    k = plan.target_leg_length / plan.source_leg_length
    travel_t = th[-1, ti["hips"]] - th[0, ti["hips"]]
    travel_s = sh[-1, 0] - sh[0, 0]
    np.testing.assert_allclose(np.linalg.norm(travel_t[:2]), k * np.linalg.norm(travel_s[:2]),
                               rtol=1e-9)
    ground = plan.ground_heights(src_pose)
    np.testing.assert_allclose(travel_t[2], k * travel_s[2] + (1 - k) * (ground[-1] - ground[0]),
                               atol=1e-9)


def test_result_is_independent_of_bone_rolls_and_axes():
    src = smpl_source()
    src_pose = random_source_motion(src, n=6)
    results = []
    for seed, random_tails in ((1, False), (2, False), (3, True)):
        tgt, roles, spine_bones = humanoid_target(twist_seed=seed, random_tails=random_tails)
        plan = rm.RetargetPlan(src, np.eye(4), tgt, np.eye(4), _bone_map(roles, spine_bones))
        results.append(rm.retarget(plan, src_pose, foot_lock=False).world_heads)
    np.testing.assert_allclose(results[0], results[1], atol=1e-9)
    np.testing.assert_allclose(results[0], results[2], atol=1e-9)


def test_rest_pose_maps_to_rest_pose_when_source_is_at_rest():
    """A T-pose source at rest drives an A-pose target into a T-pose (arms horizontal)."""
    src = smpl_source()
    tgt, roles, spine_bones = humanoid_target(pose="A")
    plan = rm.RetargetPlan(src, np.eye(4), tgt, np.eye(4), _bone_map(roles, spine_bones))
    rest = rm.forward_kinematics(src, np.tile(np.eye(4), (1, 24, 1, 1)))
    anim = rm.retarget(plan, rest, foot_lock=False)
    ti = {n: i for i, n in enumerate(tgt.names)}
    arm = anim.world_heads[0, ti["fa_left"]] - anim.world_heads[0, ti["ua_left"]]
    smpl_arm = rest[0, 18, :3, 3] - rest[0, 16, :3, 3]
    assert np.degrees(rm.angle_between(arm, smpl_arm)) < 1e-6
    assert abs(arm[2]) / np.linalg.norm(arm) < 0.1   # nearly horizontal, not 45 deg down
    # the feet stand on the target's own floor (lowest foot joint at its rest height), the
    # hips stay above their rest point
    feet = [ti[roles[f"{s}_{j}"]] for s in ("left", "right") for j in ("ankle", "foot")]
    assert abs(anim.world_heads[0, feet, 2].min() - tgt.heads()[feet, 2].min()) < 1e-9
    np.testing.assert_allclose(anim.world_heads[0, ti["hips"], :2], tgt.heads()[ti["hips"], :2],
                               atol=1e-9)
    assert abs(plan.height_offset) < 0.03   # SMPL legs splay a few degrees: a small shift


def test_foot_lock_pins_ankle_and_keeps_bone_lengths():
    src = smpl_source()
    tgt, roles, spine_bones = humanoid_target(leg=1.3)
    plan = rm.RetargetPlan(src, np.eye(4), tgt, np.eye(4), _bone_map(roles, spine_bones))
    n = 30
    basis = np.tile(np.eye(4), (n, 24, 1, 1))
    t = np.linspace(0, 1, n)
    basis[:, 0, :3, 3] = np.stack([0.04 * np.sin(6 * t), -0.05 - 0.03 * t, 0 * t], -1)  # down
    aa = np.zeros((n, 24, 3))
    aa[:, 4, 0] = 0.3 + 0.2 * t                       # left knee bends
    aa[:, 5, 0] = 0.3
    basis[:, :, :3, :3] = axis_angle_to_matrix(aa)
    src_pose = rm.forward_kinematics(src, basis)
    contacts = np.zeros((n, 4))
    contacts[5:25, 0] = 1.0                            # left ankle planted
    free = rm.retarget(plan, src_pose, contacts, foot_lock=False)
    locked = rm.retarget(plan, src_pose, contacts, foot_lock=True)
    ti = {b: i for i, b in enumerate(tgt.names)}
    ank = ti[roles["left_ankle"]]
    seg = slice(5, 25)
    drift_free = np.linalg.norm(free.world_heads[seg, ank] - free.world_heads[seg, ank].mean(0),
                                axis=-1).max()
    pos = locked.world_heads[seg, ank]
    drift = np.linalg.norm(pos - pos.mean(0), axis=-1).max()
    assert drift_free > 0.01
    assert drift < 1e-6 and locked.unreachable == 0
    assert locked.locked[seg, 0].all() and not locked.locked[:2, 0].any()
    # blending: the first blend key moves the foot only part of the way
    assert 0 < np.linalg.norm(locked.world_heads[3, ank] - free.world_heads[3, ank]) < \
        np.linalg.norm(pos.mean(0) - free.world_heads[3, ank])
    for a, b in (("left_hip", "left_knee"), ("left_knee", "left_ankle")):
        la = np.linalg.norm(locked.world_heads[:, ti[roles[b]]] - locked.world_heads[
            :, ti[roles[a]]], axis=-1)
        np.testing.assert_allclose(la, la[0], atol=1e-9)
    # the right leg is untouched
    rk = ti[roles["right_knee"]]
    np.testing.assert_allclose(locked.world_heads[:, rk], free.world_heads[:, rk], atol=1e-12)


def _standing_source(n: int, lift: np.ndarray, aa: np.ndarray | None = None) -> np.ndarray:
    """Source world poses (n,24,4,4): the rest pose raised by ``lift`` (n,) metres, optional
    per-joint axis-angle rotations ``aa`` (n,24,3)."""
    src = smpl_source()
    basis = np.tile(np.eye(4), (n, 24, 1, 1))
    if aa is not None:
        basis[:, :, :3, :3] = axis_angle_to_matrix(aa)
    pose = rm.forward_kinematics(src, basis)
    pose[:, :, 2, 3] += np.asarray(lift, np.float64)[:, None]
    return pose


def test_platform_raises_the_target_by_the_platform_height_not_scaled():
    """A person standing on a 1.75 m box drives a long-legged target (k ~ 1.3): its feet stand
    on the box (not 0.53 m above it); hops off a contact are still scaled by k."""
    src = smpl_source()
    tgt, roles, spine_bones = humanoid_target(leg=1.4)
    plan = rm.RetargetPlan(src, np.eye(4), tgt, np.eye(4), _bone_map(roles, spine_bones))
    assert plan.root_scale > 1.25
    ti = {b: i for i, b in enumerate(tgt.names)}
    feet = [ti[roles[f"{s}_{j}"]] for s in ("left", "right") for j in ("ankle", "foot")]
    hips = ti["hips"]
    lift = np.array([0.0, 1.75, 1.75, 1.75, 2.05, 1.75])     # step up, stand, hop 0.3 m
    contacts = np.ones((6, 4))
    contacts[4] = 0.0                                          # in the air during the hop
    src_pose = _standing_source(6, lift)
    for c in (contacts, None):
        anim = rm.retarget(plan, src_pose, c, foot_lock=False)
        floor = anim.world_heads[:, feet, 2].min(axis=1) - tgt.heads()[feet, 2].min()
        np.testing.assert_allclose(floor[[0, 1, 2, 3, 5]], lift[[0, 1, 2, 3, 5]], atol=1e-3)
        rise = anim.world_heads[4, hips, 2] - anim.world_heads[3, hips, 2]
        # with contacts the ground under the hop is the box: the 0.3 m hop is scaled by k;
        # without contacts the lifted feet define the ground and the hop is carried 1:1
        expected = plan.root_scale * 0.3 if c is not None else 0.3
        assert abs(rise - expected) < 1e-6, (c is not None, rise, expected)


def test_limit_rotation_keeps_small_angles_and_saturates_smoothly():
    axis = rm.normalize(np.array([0.3, -0.4, 0.8]))
    angles = np.radians(np.linspace(0.0, 179.0, 300))
    r = axis_angle_to_matrix(axis[None] * angles[:, None])
    out = rm.limit_rotation(r, np.radians(35.0))
    got = np.degrees(np.arccos(np.clip((np.trace(out, axis1=1, axis2=2) - 1) / 2, -1, 1)))
    small = np.degrees(angles) <= 21.0
    np.testing.assert_allclose(got[small], np.degrees(angles[small]), atol=1e-6)
    assert got.max() < 35.0 and got[-1] > 34.0
    assert np.all(np.diff(got) >= -1e-9)                       # monotonic: no pops
    assert np.degrees(np.diff(got)).max() < 1.0 * 180 / np.pi  # continuous
    ax = rm.normalize(np.stack([out[:, 2, 1] - out[:, 1, 2], out[:, 0, 2] - out[:, 2, 0],
                                out[:, 1, 0] - out[:, 0, 1]], -1)[1:])
    np.testing.assert_allclose(ax, np.tile(axis, (299, 1)), atol=1e-6)   # same axis


def test_clavicles_stay_in_range_with_arms_overhead_and_upper_arms_still_follow():
    """Collars rotated 105 degrees (arms overhead, as the capture gives it): the target's
    clavicles turn at most 35 degrees relative to the chest, the upper arms still point along
    the source's upper arms; without the limit the clavicles would follow to 105 degrees."""
    src = smpl_source()
    tgt, roles, spine_bones = humanoid_target(pose="A")
    n = 8
    aa = np.zeros((n, 24, 3))
    ramp = np.linspace(0.0, 1.0, n)
    aa[:, 13, 1] = np.radians(105.0) * ramp        # left collar: about the forward (-Y) axis
    aa[:, 14, 1] = -np.radians(105.0) * ramp
    aa[:, 16, 1] = np.radians(60.0) * ramp         # plus some shoulder elevation
    aa[:, 17, 1] = -np.radians(60.0) * ramp
    aa[:, 9, 0] = 0.2 * ramp                       # the chest bends a little too
    src_pose = _standing_source(n, np.zeros(n), aa)
    si = {nm: i for i, nm in enumerate(SMPL_JOINT_NAMES)}
    ti = {b: i for i, b in enumerate(tgt.names)}
    worst = {}
    for limit in (35.0, 0.0):
        plan = rm.RetargetPlan(src, np.eye(4), tgt, np.eye(4), _bone_map(roles, spine_bones),
                               clavicle_limit_deg=limit)
        anim = rm.retarget(plan, src_pose, foot_lock=False)
        th = anim.world_heads
        sh = src_pose[..., :3, 3]
        rot = dict(zip(anim.bones, np.moveaxis(anim.world_rotations, 1, 0), strict=True))
        for side in ("left", "right"):
            t_dir = th[:, ti[roles[f"{side}_elbow"]]] - th[:, ti[roles[f"{side}_shoulder"]]]
            s_dir = sh[:, si[f"{side}_elbow"]] - sh[:, si[f"{side}_shoulder"]]
            assert np.degrees(rm.angle_between(t_dir, s_dir)).max() < 1e-4
            cl, chest = roles[f"{side}_collar"], spine_bones[-1]
            rest_cl = rm.rotation_part(tgt.rest[ti[cl]])
            rest_chest = rm.rotation_part(tgt.rest[ti[chest]])
            # the clavicle's rotation from its own rest, in the chest's frame
            rel = np.swapaxes(rot[chest] @ rest_chest.T, -1, -2) @ rot[cl] @ rest_cl.T
            ang = np.degrees(np.arccos(np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2,
                                               -1, 1)))
            worst[(limit, side)] = ang.max()
    assert worst[(35.0, "left")] < 35.0 and worst[(35.0, "right")] < 35.0, worst
    assert worst[(0.0, "left")] > 100.0 and worst[(0.0, "right")] > 100.0, worst


def test_two_bone_ik_reaches_and_clamps():
    hip = np.zeros((3, 3))
    knee = np.tile([0.0, -0.05, -0.4], (3, 1))
    ankle = np.tile([0.0, 0.0, -0.8], (3, 1))
    goal = np.array([[0.1, 0.0, -0.7], [0.0, 0.2, -0.6], [0.0, 0.0, -2.0]])
    r1, r2, ok = rm.two_bone_ik(hip, knee, ankle, goal, np.array([0.0, -1.0, 0.0]))
    new_knee = np.einsum("fij,fj->fi", r1, knee - hip) + hip
    new_ankle = new_knee + np.einsum("fij,fj->fi", r2 @ r1, ankle - knee)
    np.testing.assert_allclose(new_ankle[:2], goal[:2], atol=1e-9)
    assert ok.tolist() == [True, True, False]
    reach = np.linalg.norm(knee[0] - hip[0]) + np.linalg.norm(ankle[0] - knee[0])
    np.testing.assert_allclose(new_ankle[2], [0, 0, -reach], atol=1e-5)   # fully stretched


def test_lock_targets_blends_in_and_out():
    free = np.zeros((20, 3))
    free[:, 0] = np.arange(20) * 0.1
    planted = np.zeros(20, bool)
    planted[8:12] = True
    goal, w = rm.lock_targets(free, planted, blend_keys=3)
    assert w[8:12].tolist() == [1.0] * 4
    np.testing.assert_allclose(w[5:8], [0.25, 0.5, 0.75])
    np.testing.assert_allclose(w[12:15], [0.75, 0.5, 0.25])
    assert w[:5].sum() == 0 and w[15:].sum() == 0
    np.testing.assert_allclose(goal[8:12, 0], free[8:12, 0].mean())
    assert rm.contact_segments(planted) == [(8, 11)]


# ----------------------------------------------------------------------------- mapping


@pytest.mark.parametrize("name,expected", [
    ("mixamorig:LeftUpLeg", ("thigh", "left")), ("mixamorig1:RightForeArm", ("forearm", "right")),
    ("LeftShoulder", ("clavicle", "left")), ("LeftArm", ("upperarm", "left")),
    ("thigh_l", ("thigh", "left")), ("calf_r", ("shin", "right")), ("ball_l", ("toe", "left")),
    ("upperarm_twist_01_l", None), ("DEF-upper_arm.L", ("upperarm", "left")),
    ("DEF-shin.R", ("shin", "right")), ("J_Bip_L_UpperLeg", ("thigh", "left")),
    ("J_Bip_C_Hips", ("hips", "")), ("Spine2", ("spine", "")), ("spine_03", ("spine", "")),
    ("neck_01", ("neck", "")), ("Head", ("head", "")), ("mixamorig:LeftHandIndex1", None),
    ("hand.R", ("hand", "right")), ("lowerleg01.L", ("shin", "left")),
    ("Left leg", ("shin", "left")), ("b7", None), ("MCH-thigh_ik.L", None),
    ("LeftToeBase", ("toe", "left")), ("foot_r", ("foot", "right")),
    ("pelvis.L", None), ("DEF-pelvis.R", None), ("LeftHip", ("thigh", "left")),
    ("torso", ("hips", "")), ("upper_arm_fk.L", ("upperarm", "left")),
    ("upper_arm_parent.L", None), ("tweak_spine.001", None), ("ORG-spine.003", None),
])
def test_classify_name(name, expected):
    assert rmap.classify_name(name) == expected


def _bones(rows) -> list[rmap.BoneInfo]:
    """BoneInfo list from (name, parent, head z, head x) rows; tails 5 cm above the head."""
    return [rmap.BoneInfo(n, p, (x, 0.0, z), (x, 0.0, z + 0.05)) for n, p, z, x in rows]


def _rigify_like(generated: bool) -> list[rmap.BoneInfo]:
    """The layout of Rigify's human metarig (spine..spine.006, shoulder/upper_arm/..., pelvis.L,
    heel.02) and, when ``generated``, what rigify_generate adds around it (positions and
    parents as in a rig generated by Blender 4.5's Rigify): torso/hips/chest, FK controls under
    MCH helpers (the hips-part spine_fk/spine_fk.001 reversed, sharing the torso pivot with
    spine_fk.002), DEF-/ORG-/MCH-/tweak bones and the IK/FK switch holders."""
    z = {"spine": 1.01, "spine.001": 1.157, "spine.002": 1.293, "spine.003": 1.466,
         "spine.004": 1.658, "spine.005": 1.72, "spine.006": 1.781}
    rows = []
    for pre in ([""] if not generated else ["DEF-", "ORG-"]):
        prev = "root" if generated else ""
        for name, height in z.items():
            rows.append((pre + name, prev, height, 0.0))
            prev = pre + name
    chest_parent = "spine.003" if not generated else "ORG-spine.003"
    hip_parent = "spine" if not generated else "ORG-spine"
    for side, sx in (("L", 1.0), ("R", -1.0)):
        rows.append((f"pelvis.{side}", hip_parent, 1.01, 0.0))
        limb_rows = [("shoulder", chest_parent, 1.605, 0.02), ("upper_arm", "shoulder", 1.585,
                     0.195), ("forearm", "upper_arm", 1.45, 0.44), ("hand", "forearm", 1.306,
                     0.659), ("thigh", hip_parent, 1.072, 0.098), ("shin", "thigh", 0.537,
                     0.098), ("foot", "shin", 0.085, 0.098), ("toe", "foot", 0.017, 0.098),
                     ("heel.02", "foot", 0.0, 0.06)]
        for name, parent, height, x in limb_rows:
            par = parent if parent in (chest_parent, hip_parent) else f"{parent}.{side}"
            if not generated:
                rows.append((f"{name}.{side}", par, height, sx * x))
                continue
            rows.append((f"DEF-{name}.{side}", par if "spine" in par else f"DEF-{par}",
                         height, sx * x))
            rows.append((f"ORG-{name}.{side}", par if "spine" in par else f"ORG-{par}",
                         height, sx * x))
            if name in ("shoulder", "heel.02"):
                if name == "shoulder":
                    rows.append((f"shoulder.{side}", chest_parent, height, sx * x))
                continue
            fk_parent = {"upper_arm": f"MCH-upper_arm_parent.{side}",
                         "thigh": f"MCH-thigh_parent.{side}"}.get(name, f"{parent}_fk.{side}")
            rows.append((f"MCH-upper_arm_parent.{side}", f"ORG-shoulder.{side}", 1.585,
                         sx * 0.195))
            rows.append((f"MCH-thigh_parent.{side}", "ORG-spine", 1.072, sx * 0.098))
            rows.append((f"{name}_fk.{side}", fk_parent, height, sx * x))
            rows.append((f"{name}_ik.{side}", f"MCH-{name}_ik_swing.{side}", height, sx * x))
            rows.append((f"MCH-{name}_ik_swing.{side}", "root", height, sx * x))
            rows.append((f"{name}_tweak.{side}", f"MCH-{name}_tweak.{side}", height, sx * x))
            rows.append((f"MCH-{name}_tweak.{side}", "root", height, sx * x))
        if generated:
            rows += [(f"upper_arm_parent.{side}", f"ORG-shoulder.{side}", 1.585, sx * 0.195),
                     (f"thigh_parent.{side}", "ORG-spine", 1.072, sx * 0.098)]
    if generated:
        rows += [("root", "", 0.0, 0.0), ("MCH-torso.parent", "root", 1.084, 0.0),
                 ("torso", "MCH-torso.parent", 1.084, 0.0), ("hips", "torso", 1.293, 0.0),
                 ("chest", "torso", 1.293, 0.0), ("MCH-spine.001", "torso", 1.293, 0.0),
                 ("spine_fk.001", "MCH-spine.001", 1.293, 0.0),
                 ("MCH-spine", "spine_fk.001", 1.157, 0.0), ("spine_fk", "MCH-spine", 1.157, 0.0),
                 ("MCH-spine.002", "torso", 1.293, 0.0),
                 ("spine_fk.002", "MCH-spine.002", 1.293, 0.0),
                 ("MCH-spine.003", "spine_fk.002", 1.466, 0.0),
                 ("spine_fk.003", "MCH-spine.003", 1.466, 0.0),
                 ("tweak_spine.003", "spine_fk.003", 1.466, 0.0),
                 ("MCH-ROT-neck", "spine_fk.003", 1.658, 0.0), ("neck", "MCH-ROT-neck", 1.658, 0.0),
                 ("MCH-ROT-head", "neck", 1.781, 0.0), ("head", "MCH-ROT-head", 1.781, 0.0)]
        rows = [(n, "tweak_spine.003" if p == "ORG-spine.003" and n.startswith("ORG-sh") else p,
                 zz, x) for n, p, zz, x in rows]
    return _bones(rows)


RIGIFY_CONTROLS = {
    "torso": "pelvis", "spine_fk.002": "spine", "spine_fk.003": "spine", "neck": "neck",
    "head": "head", **{f"{b}.{s}": f"{side}_{j}" for s, side in (("L", "left"), ("R", "right"))
                       for b, j in (("shoulder", "collar"), ("upper_arm_fk", "shoulder"),
                                    ("forearm_fk", "elbow"), ("hand_fk", "wrist"),
                                    ("thigh_fk", "hip"), ("shin_fk", "knee"),
                                    ("foot_fk", "ankle"), ("toe_fk", "foot"))}}
METARIG = {
    "spine": "pelvis", "spine.001": "spine", "spine.002": "spine", "spine.003": "spine",
    "spine.004": "neck", "spine.005": "neck", "spine.006": "head",
    **{f"{b}.{s}": f"{side}_{j}" for s, side in (("L", "left"), ("R", "right"))
       for b, j in (("shoulder", "collar"), ("upper_arm", "shoulder"), ("forearm", "elbow"),
                    ("hand", "wrist"), ("thigh", "hip"), ("shin", "knee"), ("foot", "ankle"),
                    ("toe", "foot"))}}


@pytest.mark.parametrize("generated", [True, False])
def test_names_prefer_controls_and_read_rigify_metarig_names(generated):
    """'By Names' on a generated Rigify rig drives the FK controls (not DEF-/ORG-/MCH- bones,
    and a spine chain that rises: spine_fk.002/.003, not the reversed hips-part bones sharing
    the torso pivot); on the metarig it reads spine..spine.006 as pelvis, spine, neck, head."""
    bones = _rigify_like(generated)
    m = rmap.resolve_map(bones, "names")
    assert m.method == "names"
    assert m.as_dict() == (RIGIFY_CONTROLS if generated else METARIG)
    if generated:   # and the limbs' IK/FK switches are set to FK, like the Rigify preset
        assert set(m.pose_properties) == {f"{b}_parent.{s}" for b in ("upper_arm", "thigh")
                                          for s in "LR"}
    # with only deform bones left (a game export of the rig), those are used
    deform_only = [b for b in bones if not generated or b.name.startswith("DEF-")]
    if generated:
        deform_only = [rmap.BoneInfo(b.name, b.parent.replace("ORG-", "DEF-"), b.head, b.tail)
                       for b in deform_only]
        d = rmap.map_by_names(deform_only)
        assert not d.missing_required()
        assert d.as_dict()["DEF-upper_arm.L"] == "left_shoulder"
        assert d.as_dict()["DEF-spine.006"] == "head"


def _infos(skel: rm.Skeleton) -> list[rmap.BoneInfo]:
    heads, tails = skel.heads(), skel.tails()
    return [rmap.BoneInfo(n, skel.names[p] if p >= 0 else "", tuple(heads[i]), tuple(tails[i]))
            for i, (n, p) in enumerate(zip(skel.names, skel.parents, strict=True))]


@pytest.mark.parametrize("preset", rmap.BUILTIN_PRESETS)
def test_builtin_presets_load_and_name_known_sources(preset):
    p = rmap.load_preset(preset)
    assert set(p.bones) <= set(rmap.SOURCE_NAMES)
    assert {"pelvis", "left_hip", "right_knee", "left_elbow"} <= set(p.bones)


def test_mixamo_preset_with_numbered_namespace_and_user_preset_roundtrip(tmp_path):
    tgt, roles, _ = humanoid_target()
    rename = {"hips": "Hips", "sp0": "Spine", "sp1": "Spine1", "sp2": "Spine2", "neck": "Neck",
              "head": "Head"}
    for side, s in (("left", "Left"), ("right", "Right")):
        for short, w in (("cl", "Shoulder"), ("ua", "Arm"), ("fa", "ForeArm"), ("ha", "Hand"),
                         ("th", "UpLeg"), ("sh", "Leg"), ("ft", "Foot"), ("to", "ToeBase")):
            rename[f"{short}_{side}"] = s + w
    infos = [rmap.BoneInfo("mixamorig7:" + rename[b.name], "mixamorig7:" + rename[b.parent]
                           if b.parent else "", b.head, b.tail) for b in _infos(tgt)]
    m = rmap.resolve_map(infos, "auto")
    assert m.method == "preset:mixamo"
    d = m.as_dict()
    assert d["mixamorig7:LeftShoulder"] == "left_collar"
    assert d["mixamorig7:LeftArm"] == "left_shoulder"
    assert d["mixamorig7:Spine1"] == "spine2"
    path = rmap.save_user_preset(tmp_path / "presets" / "mine.json", "mine", m.pairs)
    data = json.loads(path.read_text())
    assert data["bones"]["left_shoulder"] == ["mixamorig7:LeftArm"]
    again = rmap.apply_preset(rmap.load_preset(path), infos)
    assert again.as_dict() == d


def test_hierarchy_mapping_of_unnamed_bones_finds_sides_and_chains():
    tgt, roles, spine_bones = humanoid_target(spine=4, pose="T")
    rename = {n: f"b{i}" for i, n in enumerate(tgt.names)}
    infos = [rmap.BoneInfo(rename[b.name], rename.get(b.parent, ""), b.head, b.tail)
             for b in _infos(tgt)]
    m = rmap.resolve_map(infos, "auto")
    assert m.method == "hierarchy"
    got = m.as_dict()
    for role in ("left_shoulder", "right_elbow", "left_hip", "right_knee", "left_ankle",
                 "left_collar", "right_wrist", "head", "neck"):
        assert got[rename[roles[role]]] == role
    assert [got[rename[b]] for b in spine_bones] == ["spine"] * 4
    assert got[rename["hips"]] == "pelvis"


def test_unmappable_rig_raises_clear_error():
    infos = [rmap.BoneInfo("a", "", (0, 0, 0), (0, 0, 1)), rmap.BoneInfo("b", "a", (0, 0, 1),
                                                                        (0, 0, 2))]
    with pytest.raises(rmap.BoneMapError, match="cannot map this rig automatically"):
        rmap.resolve_map(infos, "auto")
    with pytest.raises(rmap.BoneMapError, match="not found"):
        rmap.load_preset("no_such_preset")
    with pytest.raises(rmap.BoneMapError, match="does not cover"):
        rmap.resolve_map(infos, "mixamo")
    with pytest.raises(rmap.BoneMapError, match="unknown sources"):
        rmap.resolve_map(infos, bone_map={"a": "left_toe_tip"})


def test_hierarchy_mapping_skips_twist_bones_and_finds_arms_without_clavicles():
    """Unnamed bones; twist leaves on the limbs, fingers on the hands, a jaw chain on the head,
    and no clavicles (the upper arms hang straight off the chest)."""
    tgt, roles, spine_bones = humanoid_target(spine=2, pose="T")
    infos = {b.name: b for b in _infos(tgt)}
    bones = [b for b in infos.values() if not b.name.startswith("cl_")]
    extra = []
    for side in ("left", "right"):
        ua = infos[f"ua_{side}"]
        bones = [rmap.BoneInfo(b.name, spine_bones[-1] if b.name == ua.name else b.parent,
                               b.head, b.tail) for b in bones]
        for limb in (f"ua_{side}", f"th_{side}", f"sh_{side}"):
            b = infos[limb]
            mid = tuple((np.asarray(b.head) + np.asarray(b.tail)) / 2)
            extra.append(rmap.BoneInfo(f"{limb}_twist", limb, mid, b.tail))
        hand = infos[f"ha_{side}"]
        for k in range(3):
            base = np.asarray(hand.tail) + [0, 0.02 * k, 0]
            extra.append(rmap.BoneInfo(f"f{k}a_{side}", hand.name, tuple(base),
                                       tuple(base + [0.03, 0, 0])))
            extra.append(rmap.BoneInfo(f"f{k}b_{side}", f"f{k}a_{side}",
                                       tuple(base + [0.03, 0, 0]), tuple(base + [0.06, 0, 0])))
    head = infos["head"]
    extra.append(rmap.BoneInfo("jaw", "head", head.head, tuple(np.asarray(head.head) +
                                                               [0, -0.1, -0.05])))
    extra.append(rmap.BoneInfo("chin", "jaw", tuple(np.asarray(head.head) + [0, -0.1, -0.05]),
                               tuple(np.asarray(head.head) + [0, -0.12, -0.08])))
    rename = {b.name: f"b{i}" for i, b in enumerate(bones + extra)}
    anon = [rmap.BoneInfo(rename[b.name], rename.get(b.parent, ""), b.head, b.tail)
            for b in bones + extra]
    got = rmap.map_by_hierarchy(anon).as_dict()
    for role in ("left_shoulder", "right_elbow", "left_wrist", "left_hip", "right_knee",
                 "right_ankle", "left_foot", "head", "neck"):
        assert got[rename[roles[role]]] == role, role
    assert "left_collar" not in got.values()
    assert not any(rename[e.name] in got for e in extra)


def test_split_limb_halves_are_skipped_but_a_short_clavicle_in_line_is_not():
    """Hierarchy chains: a twist bone *in* the chain (upper arm split in two halves) is
    skipped; a short clavicle in line with a T-pose upper arm is a bone of its own."""
    x = lambda v: np.array([v, 0.0, 0.0])  # noqa: E731
    split = {"cl": x(0.0), "ua": x(0.14), "ua_t": x(0.28), "fa": x(0.42), "ha": x(0.68),
             "tip": x(0.86)}
    assert rmap._without_split_bones(list(split), split) == ["cl", "ua", "fa", "ha", "tip"]
    short_clavicle = {"cl": x(0.0), "ua": x(0.05), "fa": x(0.33), "ha": x(0.59), "tip": x(0.77)}
    assert rmap._without_split_bones(list(short_clavicle), short_clavicle) == list(
        short_clavicle)
    legs = {"th": x(0.0), "sh": x(0.43), "sh_t": x(0.655), "ft": x(0.88), "toe": x(1.0)}
    assert rmap._without_split_bones(list(legs), legs) == ["th", "sh", "ft", "toe"]
