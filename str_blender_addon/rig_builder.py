"""Build an SMPL 24-joint armature in Blender from rest joints (edit bones; no animation).

Rest pose: the file's ``rest_joints`` (the subject's own proportions, SMPL body frame, Y-up),
shifted by ``core.skeleton.floor_offset`` so the skeleton stands on the floor with the pelvis
over the origin, then converted to Z-up by ``core.rotations.y_up_to_z_up`` (the one axis
conversion). The shift is stored on the object as ``str_rest_offset`` (Y-up, metres); the
animation writer subtracts it from the root translation. The armature object sits at the world
origin, unrotated, unscaled.
"""

from __future__ import annotations

import bpy
import numpy as np
from mathutils import Vector

from .core.rotations import y_up_to_z_up
from .core.skeleton import (
    SMPL_JOINT_NAMES,
    SMPL_PARENTS,
    bone_tails,
    floor_offset,
    leg_length,
)

#: Blender direction the body faces (SMPL +Z forward -> Blender -Y).
_FORWARD = np.array([0.0, -1.0, 0.0])
_UP = np.array([0.0, 0.0, 1.0])


class RigBuildError(RuntimeError):
    """The armature could not be built (bad rest joints)."""


def rest_heads_tails_z_up(rest_joints_smpl: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                 np.ndarray]:
    """(heads (24,3), tails (24,3), offset_y_up (3,)) of the armature's rest bones, Z-up."""
    rest = np.asarray(rest_joints_smpl, np.float64)
    if rest.shape != (24, 3) or not np.all(np.isfinite(rest)):
        raise RigBuildError(f"rest joints must be a finite (24, 3) array, got {rest.shape}")
    offset = floor_offset(rest)
    shifted = rest + offset
    heads = y_up_to_z_up(shifted)
    tails = y_up_to_z_up(bone_tails(shifted))
    return heads, tails, offset


def build_smpl_armature(
    context: bpy.types.Context, name: str, rest_joints_smpl: np.ndarray
) -> bpy.types.Object:
    """Create and link an armature object ``name`` with the 24 SMPL bones (names = joint names).

    rest_joints_smpl: (24,3) Y-up rest joints (metres). Pose bones use QUATERNION rotation.
    Returns the armature object (active, in OBJECT mode).
    """
    heads, tails, offset = rest_heads_tails_z_up(rest_joints_smpl)
    if context.object is not None and context.object.mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")
    arm = bpy.data.armatures.new(name)
    arm.display_type = "OCTAHEDRAL"
    obj = bpy.data.objects.new(name, arm)
    obj.show_in_front = True                       # bones stay visible inside the body mesh
    collection = context.collection or context.scene.collection
    collection.objects.link(obj)
    for other in context.view_layer.objects:
        other.select_set(False)
    context.view_layer.objects.active = obj
    obj.select_set(True)
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        edit_bones = arm.edit_bones
        created = []
        for j, joint in enumerate(SMPL_JOINT_NAMES):
            eb = edit_bones.new(joint)
            eb.head = Vector(heads[j].tolist())
            eb.tail = Vector(tails[j].tolist())
            direction = tails[j] - heads[j]
            direction = direction / max(np.linalg.norm(direction), 1e-9)
            ref = _UP if abs(float(direction @ _FORWARD)) > 0.7 else _FORWARD
            eb.align_roll(Vector(ref.tolist()))
            eb.use_deform = True
            created.append(eb)
        for j, p in enumerate(SMPL_PARENTS):
            if p >= 0:
                created[j].parent = created[p]
                created[j].use_connect = False
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
    for pb in obj.pose.bones:
        pb.rotation_mode = "QUATERNION"
    obj["str_rest_offset"] = [float(v) for v in offset]
    obj["str_leg_length"] = leg_length(rest_joints_smpl)
    return obj


def rest_matrices(armature_obj: bpy.types.Object) -> np.ndarray:
    """``bone.matrix_local`` (armature-space rest matrices) of the 24 SMPL bones, (24,4,4)."""
    bones = armature_obj.data.bones
    out = np.empty((len(SMPL_JOINT_NAMES), 4, 4))
    for j, joint in enumerate(SMPL_JOINT_NAMES):
        bone = bones.get(joint)
        if bone is None:
            raise RigBuildError(f"armature '{armature_obj.name}' has no bone '{joint}'")
        out[j] = np.array(bone.matrix_local)
    return out
