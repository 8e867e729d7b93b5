"""Write keyframed motion onto an SMPL armature in bulk (one action per person).

All curves are filled with ``keyframe_points.add(n)`` + ``foreach_set('co', ...)`` and LINEAR
interpolation set in bulk; the action's slot is created and assigned explicitly
(``bpy_compat``), so it works with legacy (4.2) and slotted (4.5, 5.0) actions.
"""

from __future__ import annotations

from dataclasses import dataclass

import bpy
import numpy as np

from . import bpy_compat
from .core.skeleton import CONTACT_PROPERTY_NAMES, SMPL_JOINT_NAMES, blender_pose_channels
from .rig_builder import rest_matrices

_LINEAR = 1  # raw enum value of 'LINEAR' in Keyframe.interpolation
_CONSTANT = 0  # raw enum value of 'CONSTANT'
#: Object properties keyed by ``key_visibility`` (viewport and render).
VISIBILITY_PATHS: tuple[str, ...] = ("hide_viewport", "hide_render")


@dataclass(frozen=True)
class Channel:
    """One F-curve to write: ``values`` (F,) at the shared key frames."""

    data_path: str
    index: int
    group: str
    values: np.ndarray


def write_curves(
    id_data: bpy.types.ID, action_name: str, frames: np.ndarray, channels: list[Channel],
    constant: bool = False, new_action: bool = True,
) -> bpy.types.Action:
    """Write every channel in bulk at ``frames`` (F,) into a new action on ``id_data`` (or, with
    ``new_action=False``, into the one it has, creating it only when it has none). Keys are
    LINEAR, or CONSTANT (steps) with ``constant``."""
    ad = id_data.animation_data
    if new_action or ad is None or ad.action is None:
        action = bpy_compat.ensure_action(id_data, action_name)
    else:
        action = ad.action
    new_curve = bpy_compat.fcurve_factory(id_data)
    frames = np.asarray(frames, np.float64)
    n = frames.shape[0]
    co = np.empty((n, 2), np.float32)
    co[:, 0] = frames
    interp = np.full(n, _CONSTANT if constant else _LINEAR, np.int32)
    for ch in channels:
        fc = new_curve(ch.data_path, ch.index, ch.group)
        kp = fc.keyframe_points
        kp.add(n)
        co[:, 1] = ch.values
        kp.foreach_set("co", co.ravel())
        kp.foreach_set("interpolation", interp)
        fc.update()
    return action


def key_frames_for(timestamps: np.ndarray, scene_rate: float, start_frame: int) -> np.ndarray:
    """Scene frames of the timestamps; values within 1e-4 of an integer are snapped to it."""
    frames = start_frame + np.asarray(timestamps, np.float64) * scene_rate
    rounded = np.round(frames)
    return np.where(np.abs(frames - rounded) < 1e-4, rounded, frames)


def write_person_animation(
    armature_obj: bpy.types.Object,
    action_name: str,
    frames: np.ndarray,
    global_orient: np.ndarray,
    body_pose: np.ndarray,
    transl: np.ndarray,
    contacts: np.ndarray | None = None,
    valid: np.ndarray | None = None,
) -> bpy.types.Action:
    """Key all 24 bone quaternions, the pelvis location, foot contacts and validity.

    frames (F,) scene frames; global_orient (F,3), body_pose (F,23,3) axis-angle (Y-up world);
    transl (F,3) Y-up metres; contacts (F,4) in [0,1] (object custom properties
    ``str_contact_*``); valid (F,) bool (custom property ``str_valid``, 1.0/0.0).
    """
    rest = rest_matrices(armature_obj)
    offset = np.asarray(armature_obj.get("str_rest_offset", (0.0, 0.0, 0.0)), np.float64)
    quats, loc = blender_pose_channels(rest[:, :3, :3], offset, global_orient, body_pose, transl)
    channels: list[Channel] = []
    for j, joint in enumerate(SMPL_JOINT_NAMES):
        path = f'pose.bones["{joint}"].rotation_quaternion'
        for i in range(4):
            channels.append(Channel(path, i, joint, quats[:, j, i]))
    root = SMPL_JOINT_NAMES[0]
    for i in range(3):
        channels.append(Channel(f'pose.bones["{root}"].location', i, root, loc[:, i]))
    if contacts is not None:
        for k, prop in enumerate(CONTACT_PROPERTY_NAMES):
            _unit_property(armature_obj, prop, float(contacts[0, k]),
                           "Foot contact probability (keyed per frame)")
            channels.append(Channel(f'["{prop}"]', 0, "STR", np.asarray(contacts[:, k])))
    if valid is not None:
        _unit_property(armature_obj, "str_valid", 1.0,
                       "1 where the person was observed (or bridged), 0 where values are held")
        channels.append(Channel('["str_valid"]', 0, "STR", np.asarray(valid, np.float32)))
    return write_curves(armature_obj, action_name, frames, channels)


def key_visibility(obj: bpy.types.Object, action_name: str, frames: np.ndarray,
                   valid: np.ndarray) -> bool:
    """Hide ``obj`` in the viewport and the render on the frames where ``valid`` (F,) is False.

    frames (F,) scene frames. Step keys (CONSTANT) at the first frame and wherever validity
    changes, on ``hide_viewport`` and ``hide_render``, in the object's action (one is created
    named ``action_name`` when it has none). A motion valid everywhere gets no keys. Returns
    whether anything was keyed."""
    ok = np.asarray(valid, bool)
    if ok.size == 0 or ok.all():
        return False
    change = np.flatnonzero(np.concatenate([[True], ok[1:] != ok[:-1]]))
    hidden = (~ok[change]).astype(np.float32)
    channels = [Channel(path, 0, "Visibility", hidden) for path in VISIBILITY_PATHS]
    write_curves(obj, action_name, np.asarray(frames, np.float64)[change], channels,
                 constant=True, new_action=False)
    return True


def _unit_property(obj: bpy.types.Object, name: str, value: float, description: str) -> None:
    """A float custom property in [0, 1] with a tooltip (animatable)."""
    obj[name] = value
    try:
        obj.id_properties_ui(name).update(min=0.0, max=1.0, description=description)
    except (AttributeError, TypeError):
        pass
