"""Retarget an imported SMPL rig's motion onto any humanoid armature and bake it (bpy side).

``retarget(context, source_obj, target_obj, RetargetOptions(...)) -> RetargetReport`` is used
by the UI operator and the headless entry point alike. It reads the source keys straight from
the source action (every key frame, fractional frames included), does all maths in numpy
(``core.retarget_math``), and writes one new action on the target in bulk
(``keyframe_points.add`` + ``foreach_set``; slotted actions on 4.4+ via ``bpy_compat``).
Nothing is changed on the target when the rig cannot be mapped (RetargetError).

The maths assumes Blender's default inheritance (inherit rotation and scale). When a driven
bone or one of its parents has constraints (a generated Rigify rig: FK controls under MCH helper
bones), the wanted world rotations are instead applied key by key through the depsgraph
(``pose_bone.matrix`` uses the evaluated parent), which costs one update per hierarchy level and
key. Constraints on the driven bones themselves are not undone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import bpy
import numpy as np

from . import bpy_compat
from .anim_writer import Channel, write_curves
from .core.retarget_map import (
    BoneInfo,
    BoneMap,
    BoneMapError,
    resolve_map,
)
from .core.retarget_math import (
    CLAVICLE_LIMIT_DEG,
    FOREARM_TWIST_SHARE,
    FootLockSettings,
    RetargetMathError,
    RetargetPlan,
    Skeleton,
    basis_matrices,
    forward_kinematics,
    rotation_part,
    skeleton_from_arrays,
)
from .core.retarget_math import retarget as solve_retarget
from .core.rotations import quaternion_sign_continuity
from .core.skeleton import CONTACT_PROPERTY_NAMES, SMPL_JOINT_NAMES


class RetargetError(RuntimeError):
    """Retargeting is not possible as asked; the message says what to change."""


@dataclass(frozen=True)
class RetargetOptions:
    """preset: 'auto' | built-in name (mixamo, rigify, unreal, vrm, makehuman) | 'names' |
    'hierarchy' | path to a preset JSON. bone_map: explicit {target bone: SMPL joint or
    'spine'} (wins over preset). foot_lock: pin feet during contacts. scale_root: scale root
    travel by the leg-length ratio (not the ground's height: a box stays a box).
    clavicle_limit_deg: soft limit of the clavicles' rotation relative to the chest (0 = follow
    the source's collars fully). forearm_twist_share: share of the upper-arm-to-hand twist the
    forearm carries (the hand the rest; None = follow the capture's elbow, which often wraps a
    skinned elbow). action_name: '' = '<source action>_<target>'."""

    preset: str = "auto"
    foot_lock: bool = True
    scale_root: bool = True
    bone_map: dict[str, str] | None = None
    action_name: str = ""
    contact_threshold: float = 0.5
    blend_keys: int = 3
    clavicle_limit_deg: float = CLAVICLE_LIMIT_DEG
    forearm_twist_share: float | None = FOREARM_TWIST_SHARE


@dataclass(frozen=True)
class RetargetReport:
    """What was baked: action, key count and range, the map used, and warnings."""

    target: str
    action_name: str
    frames: int
    frame_start: float
    frame_end: float
    mapped_bones: tuple[tuple[str, str], ...]
    unmapped_bones: tuple[str, ...]
    method: str
    root_scale: float
    locked_keys: int
    warnings: tuple[str, ...] = field(default_factory=tuple)


# ----------------------------------------------------------------------------- rigs


def is_source_rig(obj: bpy.types.Object | None) -> bool:
    """True for an armature with the 24 SMPL bones (an imported STR rig)."""
    if obj is None or obj.type != "ARMATURE":
        return False
    bones = obj.data.bones
    return all(bones.get(n) is not None for n in SMPL_JOINT_NAMES)


def source_rigs(scene: bpy.types.Scene) -> list[bpy.types.Object]:
    """The scene's SMPL source rigs, sorted by name."""
    return sorted((o for o in scene.objects if is_source_rig(o)), key=lambda o: o.name)


def skeleton_of(obj: bpy.types.Object) -> Skeleton:
    """Rest skeleton (armature space) of an armature object."""
    bones = list(obj.data.bones)
    index = {b.name: i for i, b in enumerate(bones)}
    rest = np.empty((len(bones), 4, 4))
    flat = np.empty(16 * len(bones), np.float32)
    obj.data.bones.foreach_get("matrix_local", flat)
    rest[:] = flat.reshape(-1, 4, 4).transpose(0, 2, 1)
    parents = [index[b.parent.name] if b.parent else -1 for b in bones]
    return skeleton_from_arrays([b.name for b in bones], parents, rest,
                                [b.length for b in bones])


def bone_infos(obj: bpy.types.Object) -> list[BoneInfo]:
    """Bone names, parents and rest heads/tails (armature space) for the mapping code."""
    return [BoneInfo(name=b.name, parent=b.parent.name if b.parent else "",
                     head=tuple(b.head_local), tail=tuple(b.tail_local))
            for b in obj.data.bones]


def _up_axis_armature_space(obj: bpy.types.Object) -> tuple[float, float, float]:
    rot = rotation_part(np.array(obj.matrix_world))
    up = rot.T @ np.array([0.0, 0.0, 1.0])
    return (float(up[0]), float(up[1]), float(up[2]))


def resolve_bone_map(target_obj: bpy.types.Object, preset: str = "auto",
                     bone_map: dict[str, str] | None = None) -> BoneMap:
    """Bone map for ``target_obj`` (raises RetargetError with the reason)."""
    if target_obj is None or target_obj.type != "ARMATURE":
        raise RetargetError("the target must be an armature object")
    try:
        return resolve_map(bone_infos(target_obj), preset, bone_map,
                           up=_up_axis_armature_space(target_obj))
    except BoneMapError as exc:
        raise RetargetError(f"cannot map '{target_obj.name}': {exc}") from exc


# ----------------------------------------------------------------------------- source keys


def _curve_values(fc: bpy.types.FCurve, frames: np.ndarray) -> np.ndarray:
    n = len(fc.keyframe_points)
    co = np.empty(2 * n, np.float32)
    fc.keyframe_points.foreach_get("co", co)
    co = co.reshape(n, 2)
    if n == len(frames) and np.allclose(co[:, 0], frames, atol=1e-4):
        return co[:, 1].astype(np.float64)
    return np.array([fc.evaluate(float(f)) for f in frames], np.float64)


def read_source_keys(source_obj: bpy.types.Object
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, str]:
    """(frames (F,), basis (F,24,4,4), contacts (F,4) or None, action name) of a source rig.

    Frames are the union of the key frames of the SMPL bone channels (fractional allowed).
    """
    action = source_obj.animation_data.action if source_obj.animation_data else None
    if action is None:
        raise RetargetError(f"source '{source_obj.name}' has no action to retarget")
    curves = {(fc.data_path, fc.array_index): fc for fc in bpy_compat.action_fcurves(source_obj)}
    bone_paths = [p for p in curves if p[0].startswith("pose.bones[")]
    if not bone_paths:
        raise RetargetError(f"source '{source_obj.name}' has no bone keys")
    all_frames = []
    for key in bone_paths:
        fc = curves[key]
        n = len(fc.keyframe_points)
        co = np.empty(2 * n, np.float32)
        fc.keyframe_points.foreach_get("co", co)
        all_frames.append(co[0::2])
    frames = np.unique(np.round(np.concatenate(all_frames).astype(np.float64), 4))
    n = len(frames)
    basis = np.tile(np.eye(4), (n, len(SMPL_JOINT_NAMES), 1, 1))
    for j, name in enumerate(SMPL_JOINT_NAMES):
        pb = source_obj.pose.bones[name]
        if pb.rotation_mode != "QUATERNION":
            raise RetargetError(
                f"source bone '{name}' uses {pb.rotation_mode} rotation; STR rigs use "
                "quaternions (re-import the motion file)")
        q = np.empty((n, 4))
        loc = np.empty((n, 3))
        for i in range(4):
            fc = curves.get((f'pose.bones["{name}"].rotation_quaternion', i))
            q[:, i] = _curve_values(fc, frames) if fc else pb.rotation_quaternion[i]
        for i in range(3):
            fc = curves.get((f'pose.bones["{name}"].location', i))
            loc[:, i] = _curve_values(fc, frames) if fc else pb.location[i]
        basis[:, j] = basis_matrices(loc, q)
    contacts = None
    found = [curves.get((f'["{p}"]', 0)) for p in CONTACT_PROPERTY_NAMES]
    if any(fc is not None for fc in found):
        contacts = np.zeros((n, 4))
        for k, fc in enumerate(found):
            if fc is not None:
                contacts[:, k] = _curve_values(fc, frames)
            else:
                contacts[:, k] = float(source_obj.get(CONTACT_PROPERTY_NAMES[k], 0.0))
    return frames, basis, contacts, action.name


def source_world_poses(source_obj: bpy.types.Object, basis: np.ndarray) -> np.ndarray:
    """World matrices (F,24,4,4) of the SMPL bones from basis matrices (F,24,4,4)."""
    skel = skeleton_of(source_obj)
    order = [skel.index(n) for n in SMPL_JOINT_NAMES]
    full = np.tile(np.eye(4), (basis.shape[0], len(skel.names), 1, 1))
    full[:, order] = basis
    pose = forward_kinematics(skel, full)
    return np.array(source_obj.matrix_world)[None, None] @ pose[:, order]


def _smpl_skeleton(source_obj: bpy.types.Object) -> Skeleton:
    skel = skeleton_of(source_obj)
    order = [skel.index(n) for n in SMPL_JOINT_NAMES]
    remap = {old: new for new, old in enumerate(order)}
    parents = [remap.get(int(skel.parents[o]), -1) for o in order]
    return skeleton_from_arrays(SMPL_JOINT_NAMES, parents, skel.rest[order], skel.lengths[order])


# ----------------------------------------------------------------------------- retarget


def _source_leg_length(source_obj: bpy.types.Object) -> float | None:
    value = source_obj.get("str_leg_length")
    if value is None:
        return None
    scale = float(np.cbrt(abs(np.linalg.det(np.array(source_obj.matrix_world)[:3, :3]))))
    return float(value) * scale if float(value) > 0 else None


def check_inputs(source_obj: bpy.types.Object | None, target_obj: bpy.types.Object | None
                 ) -> None:
    """Raise RetargetError (changing nothing) when this pair cannot be baked as it stands;
    the operator checks every person first, so a bad pair leaves no half-done bake."""
    if not is_source_rig(source_obj):
        raise RetargetError(
            f"'{getattr(source_obj, 'name', source_obj)}' is not an STR (SMPL) rig: it needs the "
            "24 SMPL bones")
    if target_obj is None or target_obj.type != "ARMATURE":
        raise RetargetError("the target must be an armature object")
    if target_obj == source_obj:
        raise RetargetError("source and target are the same object")
    if target_obj.library is not None:
        raise RetargetError(
            f"'{target_obj.name}' is linked from {Path(target_obj.library.filepath).name}: a "
            "bake on it would not be saved. Make it a library override (Object > Library "
            "Override > Make) or append it, then retarget onto that")
    ad = target_obj.animation_data
    if ad is not None and ad.use_tweak_mode:
        raise RetargetError(
            f"'{target_obj.name}' is editing an NLA strip (tweak mode): leave it (Tab in the "
            "NLA editor) and retarget again")


def retarget(context: bpy.types.Context, source_obj: bpy.types.Object,
             target_obj: bpy.types.Object, options: RetargetOptions = RetargetOptions()
             ) -> RetargetReport:
    """Bake ``source_obj``'s motion onto ``target_obj`` as a new action (see module doc)."""
    check_inputs(source_obj, target_obj)
    active = context.view_layer.objects.active
    if active is not None and active.mode == "EDIT":
        bpy.ops.object.mode_set(mode="OBJECT")   # edit-mode bone changes reach the data
    # matrix_world of objects just appended, linked or moved by script is only valid after
    # an evaluation; every world-space number below depends on it
    context.view_layer.update()
    bone_map = resolve_bone_map(target_obj, options.preset, options.bone_map)
    warnings: list[str] = []
    frames, basis, contacts, src_action = read_source_keys(source_obj)
    src_world = source_world_poses(source_obj, basis)
    try:
        plan = RetargetPlan(
            _smpl_skeleton(source_obj), np.array(source_obj.matrix_world),
            skeleton_of(target_obj), np.array(target_obj.matrix_world), bone_map,
            scale_root=options.scale_root, source_leg_length=_source_leg_length(source_obj),
            clavicle_limit_deg=options.clavicle_limit_deg,
            forearm_twist_share=options.forearm_twist_share)
        if options.foot_lock and contacts is None:
            warnings.append("source has no foot-contact keys: foot locking skipped")
        anim = solve_retarget(
            plan, src_world, contacts, foot_lock=options.foot_lock,
            lock=FootLockSettings(options.contact_threshold, options.blend_keys))
    except RetargetMathError as exc:
        raise RetargetError(f"cannot retarget onto '{target_obj.name}': {exc}") from exc
    if anim.unreachable:
        warnings.append(f"{anim.unreachable} keys: a locked foot was out of the leg's reach")
    warnings.extend(_prepare_target(target_obj, bone_map, set(anim.bones)))
    quats, root_loc = anim.quaternions, anim.root_location
    if _constrained(target_obj, bone_map):
        quats, root_loc = _solve_through_depsgraph(context, target_obj, anim)
        warnings.append("the rig has constraints (or non-inherited rotations) at or above the "
                        "driven bones: solved by evaluating the rig at every key")
    if anim.root_bone and target_obj.data.bones[anim.root_bone].use_connect:
        warnings.append(f"'{anim.root_bone}' is connected to its parent: Blender ignores its "
                        "location keys, so the root motion will not show")
    warnings.extend(_scene_state_warnings(target_obj))
    name = options.action_name or f"{src_action}_{target_obj.name}"
    previous = target_obj.animation_data.action if target_obj.animation_data else None
    channels: list[Channel] = []
    for m, bone in enumerate(anim.bones):
        path = f'pose.bones["{_escape(bone)}"].rotation_quaternion'
        for i in range(4):
            channels.append(Channel(path, i, bone, quats[:, m, i]))
    if anim.root_bone is not None and root_loc is not None:
        path = f'pose.bones["{_escape(anim.root_bone)}"].location'
        for i in range(3):
            channels.append(Channel(path, i, anim.root_bone, root_loc[:, i]))
    action = write_curves(target_obj, name, frames, channels)
    action[BAKE_PROPERTY] = source_obj.name
    warnings.extend(_keep_or_replace(previous, action, name, source_obj.name))
    target_obj["str_retarget_source"] = source_obj.name
    unmapped = tuple(b.name for b in target_obj.data.bones if b.name not in bone_map.as_dict())
    return RetargetReport(
        target=target_obj.name, action_name=action.name, frames=int(len(frames)),
        frame_start=float(frames[0]), frame_end=float(frames[-1]),
        mapped_bones=bone_map.pairs, unmapped_bones=unmapped, method=bone_map.method,
        root_scale=float(plan.root_scale), locked_keys=int(anim.locked.any(axis=1).sum()),
        warnings=tuple(warnings))


#: Custom property on the actions this module bakes (value: the source rig's name).
BAKE_PROPERTY = "str_retarget_bake"


def _keep_or_replace(previous: bpy.types.Action | None, action: bpy.types.Action,
                     name: str, source_name: str) -> list[str]:
    """Deal with the action the target had before the bake: an earlier bake from the same
    source that nothing else uses is replaced (the new one takes its name); any other action
    that would be left without users (and so be lost when the file is saved), a bake of
    another person included, gets a fake user."""
    if previous is None or previous == action or previous.users > 0:
        return []
    if previous.get(BAKE_PROPERTY) == source_name and not previous.use_fake_user:
        bpy.data.actions.remove(previous)
        action.name = name
        return []
    if not previous.use_fake_user:
        previous.use_fake_user = True
        return [f"the character's action '{previous.name}' was replaced; it is kept in the "
                "file (fake user) and can be reassigned in the Action Editor"]
    return []


def _scene_state_warnings(target_obj: bpy.types.Object) -> list[str]:
    """What about the character's scene set-up changes how the bake plays back."""
    out = []
    ad = target_obj.animation_data
    tracks = [t for t in ad.nla_tracks if not t.mute] if ad is not None else []
    if tracks:
        out.append(f"'{target_obj.name}' has {len(tracks)} unmuted NLA track(s): they still "
                   "play under the new action, so bones it does not key (fingers, twist bones) "
                   "follow them; mute them in the NLA editor if that is not wanted")
    parent = target_obj.parent
    while parent is not None:
        pad = parent.animation_data
        if (pad is not None and (pad.action is not None or len(pad.nla_tracks))) or any(
                not c.mute for c in parent.constraints):
            out.append(f"'{target_obj.name}' is parented to '{parent.name}', which moves: the "
                       "motion is baked relative to it as it is now, so the character moves "
                       "with it (unparent it to follow the capture in world space)")
            break
        parent = parent.parent
    return out


def _escape(name: str) -> str:
    return name.replace("\\", "\\\\").replace('"', '\\"')


def _prepare_target(target_obj: bpy.types.Object, bone_map: BoneMap,
                    driven: set[str]) -> list[str]:
    """Rest pose on every bone, quaternion mode on driven ones, preset switches (IK->FK)."""
    warnings = []
    switched = []
    for pb in target_obj.pose.bones:
        if pb.name in driven and pb.rotation_mode != "QUATERNION":
            pb.rotation_mode = "QUATERNION"
            switched.append(pb.name)
        pb.location = (0.0, 0.0, 0.0)
        pb.rotation_quaternion = (1.0, 0.0, 0.0, 0.0)
        pb.rotation_euler = (0.0, 0.0, 0.0)
        pb.scale = (1.0, 1.0, 1.0)
    if switched:
        warnings.append(f"rotation mode set to QUATERNION on {len(switched)} bones "
                        f"(e.g. {switched[0]})")
    for bone, props in bone_map.pose_properties.items():
        pb = target_obj.pose.bones.get(bone)
        if pb is None:
            continue
        for key, value in props.items():
            if key in pb.keys():
                pb[key] = value
    return warnings


def _constrained(target_obj: bpy.types.Object, bone_map: BoneMap) -> bool:
    """True when the plain-parenting maths may not hold: a driven bone or one of its parents
    has an active constraint, does not inherit rotation, or a driven bone's location is not
    local (``pose_bone.matrix`` then gets these cases right)."""
    pose = target_obj.pose.bones
    for name, _ in bone_map.pairs:
        pb = pose.get(name)
        if pb is not None and not pb.bone.use_local_location:
            return True
        while pb is not None:
            if any(not c.mute and c.influence > 0 for c in pb.constraints):
                return True
            if not pb.bone.use_inherit_rotation:
                return True
            pb = pb.parent
    return False


def _dependency_levels(target_obj: bpy.types.Object, driven: list[str]) -> dict[str, int]:
    """Level per driven bone: 1 + the highest level of the driven bones its evaluation depends
    on (through parents and the same-armature subtargets of their constraints), so bones of
    one level can be set together."""
    pose = target_obj.pose.bones
    driven_set = set(driven)
    upstream_cache: dict[str, set[str]] = {}

    def upstream(name: str, seen: set[str]) -> set[str]:
        """Driven bones that ``name``'s evaluated matrix depends on (itself excluded)."""
        if name in upstream_cache:
            return upstream_cache[name]
        out: set[str] = set()
        pb = pose.get(name)
        chain = []
        p = pb.parent if pb is not None else None
        while p is not None:
            chain.append(p)
            p = p.parent
        for bone in ([pb] if pb is not None else []) + chain:
            if bone is not pb and bone.name in driven_set:
                out.add(bone.name)
            for c in bone.constraints:
                sub = getattr(c, "subtarget", "")
                if getattr(c, "target", None) == target_obj and sub and sub not in seen:
                    if sub in driven_set:
                        out.add(sub)
                    out |= upstream(sub, seen | {sub})
        upstream_cache[name] = out
        return out

    levels: dict[str, int] = {}

    def level(name: str, stack: tuple[str, ...] = ()) -> int:
        if name in levels:
            return levels[name]
        deps = [d for d in upstream(name, {name}) if d != name and d not in stack]
        levels[name] = 1 + max((level(d, stack + (name,)) for d in deps), default=-1)
        return levels[name]

    return {n: level(n) for n in driven}


def _solve_through_depsgraph(context: bpy.types.Context, target_obj: bpy.types.Object,
                             anim) -> tuple[np.ndarray, np.ndarray | None]:
    """Pose channels that give the wanted world rotations (and root head) on a rig whose
    driven bones sit under constraint-driven helpers: per key, bones are set parents first
    with ``pose_bone.matrix`` (which uses the evaluated parent), evaluating between levels.

    Cost: keys x levels depsgraph updates; bones that do not depend on each other (through
    parents or constraint targets) share a level.
    """
    pose = target_obj.pose.bones
    bones = [pose[b] for b in anim.bones]
    depth = _dependency_levels(target_obj, [pb.name for pb in bones])
    levels = sorted({depth[pb.name] for pb in bones})
    by_level = [[(m, pb) for m, pb in enumerate(bones) if depth[pb.name] == lv] for lv in levels]
    world = np.array(target_obj.matrix_world)
    obj_rot_t = rotation_part(world).T
    inv_world = np.linalg.inv(world)
    n = anim.world_rotations.shape[0]
    quats = np.empty((n, len(bones), 4))
    root_loc = None if anim.root_bone is None else np.empty((n, 3))
    view_layer = context.view_layer
    from mathutils import Matrix

    for f in range(n):
        for level in by_level:
            for m, pb in level:
                current = np.array(pb.matrix)
                want = current.copy()
                want[:3, :3] = obj_rot_t @ anim.world_rotations[f, m]
                if pb.name == anim.root_bone and anim.root_world is not None:
                    want[:3, 3] = inv_world[:3, :3] @ anim.root_world[f] + inv_world[:3, 3]
                pb.matrix = Matrix(want.tolist())
            view_layer.update()
        for m, pb in enumerate(bones):
            quats[f, m] = tuple(pb.rotation_quaternion)
        if root_loc is not None:
            root_loc[f] = tuple(pose[anim.root_bone].location)
    return quaternion_sign_continuity(quats, axis=0), root_loc


# ----------------------------------------------------------------------------- append


def append_target_from_blend(blend_path: str | Path, armature_name: str) -> bpy.types.Object:
    """Append armature ``armature_name`` and the objects parented to it from another .blend
    into the current scene's collection; returns the armature object."""
    path = Path(blend_path)
    if not path.is_file():
        raise RetargetError(f"character file not found: {path}")
    with bpy.data.libraries.load(str(path), link=False) as (data_from, data_to):
        names = list(data_from.objects)
        if armature_name not in names:
            raise RetargetError(
                f"'{armature_name}' is not an object in {path.name}; objects there: "
                f"{', '.join(names[:20])}")
        data_to.objects = names
    loaded = [o for o in data_to.objects if o is not None]
    arm = next((o for o in loaded if o.name == armature_name or o.name.startswith(
        armature_name + ".")), None)
    if arm is None or arm.type != "ARMATURE":
        for o in loaded:
            bpy.data.objects.remove(o)
        raise RetargetError(f"'{armature_name}' in {path.name} is not an armature")

    def belongs(o: bpy.types.Object) -> bool:
        p = o
        while p is not None:
            if p == arm:
                return True
            p = p.parent
        return any(m.type == "ARMATURE" and m.object == arm for m in getattr(o, "modifiers", []))

    keep = [o for o in loaded if belongs(o)]
    collection = bpy.context.collection or bpy.context.scene.collection
    dropped_data = []
    for o in loaded:
        if o in keep:
            collection.objects.link(o)
        else:
            if o.data is not None:
                dropped_data.append(o.data)
            bpy.data.objects.remove(o)
    for data in dropped_data:  # appended only to be dropped: leave no orphans behind
        kind = _DATA_COLLECTIONS.get(type(data).__name__)
        try:
            if kind and data.users == 0:
                getattr(bpy.data, kind).remove(data)
        except (ReferenceError, RuntimeError):
            pass
    # An appended object's matrix_world is identity until the depsgraph evaluates it: without
    # this, an FBX-style rig (rotated 90 degrees about X, scaled 0.01) is solved as if it
    # were not rotated and comes out lying on its back.
    bpy.context.view_layer.update()
    return arm


_DATA_COLLECTIONS = {"Mesh": "meshes", "Armature": "armatures", "Curve": "curves",
                     "Camera": "cameras", "Light": "lights"}


__all__ = ["RetargetError", "RetargetOptions", "RetargetReport", "append_target_from_blend",
           "check_inputs", "is_source_rig", "resolve_bone_map", "retarget", "source_rigs"]
