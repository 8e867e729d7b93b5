"""Blender 4.2 / 4.5 / 5.0 differences in one place (feature detection, never version numbers).

* Actions: 4.2 has legacy ``Action.fcurves``; 4.4+ has slotted actions (slots, layers, strips,
  channelbags) and 5.0 removed ``Action.fcurves``. We create and assign the slot explicitly.
* Video output: 5.0 needs ``image_settings.media_type = 'VIDEO'`` before ``FFMPEG``.
* Exit of a process that imported bpy as a module: see ``shut_down_cleanly_at_exit``.
"""

from __future__ import annotations

import atexit
from collections.abc import Callable

import bpy

FCurveFactory = Callable[[str, int, str], "bpy.types.FCurve"]


def is_slotted(action: bpy.types.Action) -> bool:
    """True when the action uses layered/slotted storage (Blender 4.4+)."""
    return hasattr(action, "layers") and hasattr(action, "slots")


def ensure_action(id_data: bpy.types.ID, action_name: str) -> bpy.types.Action:
    """Create a fresh action named ``action_name`` and assign it (and its slot) to ``id_data``."""
    ad = id_data.animation_data or id_data.animation_data_create()
    action = bpy.data.actions.new(action_name)
    ad.action = action
    if is_slotted(action):
        slot = action.slots.new(id_type=_id_type(id_data), name=id_data.name)
        ad.action_slot = slot
    return action


def _id_type(id_data: bpy.types.ID) -> str:
    rna = id_data.bl_rna.identifier
    return {"Object": "OBJECT", "Camera": "CAMERA", "Armature": "ARMATURE"}.get(rna, "OBJECT")


def _channelbag(id_data: bpy.types.ID, create: bool):
    ad = id_data.animation_data
    if ad is None or ad.action is None:
        return None
    action = ad.action
    slot = ad.action_slot
    if slot is None:
        if not create:
            return None
        slot = action.slots.new(id_type=_id_type(id_data), name=id_data.name)
        ad.action_slot = slot
    if len(action.layers):
        layer = action.layers[0]
    elif create:
        layer = action.layers.new("Layer")
    else:
        return None
    if len(layer.strips):
        strip = layer.strips[0]
    elif create:
        strip = layer.strips.new(type="KEYFRAME")
    else:
        return None
    if create:
        return strip.channelbag(slot, ensure=True)
    return strip.channelbag(slot)


def fcurve_factory(id_data: bpy.types.ID) -> FCurveFactory:
    """Return ``new(data_path, index, group) -> FCurve`` creating curves in ``id_data``'s action.

    The action (and on 4.4+ its slot) must already be assigned, e.g. by :func:`ensure_action`.
    """
    action = id_data.animation_data.action
    if is_slotted(action):
        bag = _channelbag(id_data, create=True)

        def new_slotted(path: str, index: int, group: str):
            fc = bag.fcurves.new(path, index=index)
            if group:
                fc.group = bag.groups.get(group) or bag.groups.new(group)
            return fc

        return new_slotted

    def new_legacy(path: str, index: int, group: str):
        if group:
            return action.fcurves.new(path, index=index, action_group=group)
        return action.fcurves.new(path, index=index)

    return new_legacy


def action_fcurves(id_data: bpy.types.ID) -> list:
    """All F-curves animating ``id_data`` through its assigned action (and slot)."""
    ad = id_data.animation_data
    if ad is None or ad.action is None:
        return []
    if is_slotted(ad.action):
        bag = _channelbag(id_data, create=False)
        return list(bag.fcurves) if bag is not None else []
    return list(ad.action.fcurves)


def set_video_output(scene: bpy.types.Scene) -> None:
    """Configure MP4 (FFMPEG, H.264) output on 4.2-5.0."""
    settings = scene.render.image_settings
    if hasattr(settings, "media_type"):
        settings.media_type = "VIDEO"
    settings.file_format = "FFMPEG"
    ff = scene.render.ffmpeg
    ff.format = "MPEG4"
    ff.codec = "H264"
    ff.constant_rate_factor = "MEDIUM"


def workbench_engine() -> str:
    return "BLENDER_WORKBENCH"


def shut_down_cleanly_at_exit() -> None:
    """Let Blender shut down normally when this Python process (bpy as a module) exits.

    bpy shuts Blender down (``WM_exit``) when the bpy module object is freed during interpreter
    finalization. ``typing``'s parametrization caches (``typing.List[Keyframe]`` and the like,
    used by Blender's own glTF exporter) keep classes alive, their functions' module globals and
    with them the bpy module, so it is never freed: Blender's space types are then destroyed by
    C++ static destructors after Python is gone. bpy 4.2 crashes there (SIGSEGV, exit code 139,
    in ``bpy_class_free``), bpy 4.5 hangs; 5.0 is unaffected. Clearing those caches at exit (before
    finalization, see ``atexit``) removes the last references. Idempotent."""
    atexit.unregister(_clear_typing_caches)
    atexit.register(_clear_typing_caches)


def _clear_typing_caches() -> None:
    import typing

    for clear in getattr(typing, "_cleanups", ()):   # the caches' cache_clear functions
        clear()
