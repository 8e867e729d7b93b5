"""Retargeting UI: a sub-panel of the STR Mocap sidebar, its operators, bone-map UIList and
scene properties. ``register()`` / ``unregister()`` are called by the package's ``__init__``.

Workflow in the panel: 'Find Captured People' lists every SMPL rig in the scene with a target
armature picker each; 'Load Bone Map' fills the editable list for one target from the chosen
preset (or auto-mapping); 'Save Preset' writes that list as a user preset (in the add-on's user
folder, never the add-on folder); 'Retarget' bakes every person that has a target (one undo
step).
"""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

from .core.retarget_map import BUILTIN_PRESETS, SOURCE_NAMES, BoneMapError, save_user_preset
from .core.retarget_math import CLAVICLE_LIMIT_DEG, FOREARM_TWIST_SHARE

USER_PRESET_FOLDER = "retarget_presets"


def user_preset_dir() -> Path:
    """Folder of the user's bone-map presets (under the add-on's per-user folder)."""
    from .paths import user_dir

    return user_dir() / USER_PRESET_FOLDER


def _preset_items(self, context):
    items = [("auto", "Auto", "Try every preset, then bone names, then the hierarchy")]
    for name in BUILTIN_PRESETS:
        items.append((name, name.capitalize() if name != "vrm" else "VRM", f"{name} bone names"))
    items.append(("names", "By Names", "Match bone names (left/right from .L/_l/Left...)"))
    items.append(("hierarchy", "By Hierarchy", "Ignore names: match the bone tree's shape"))
    try:
        folder = user_preset_dir()
        for p in sorted(folder.glob("*.json")):
            items.append((f"user:{p.stem}", f"User: {p.stem}", str(p)))
    except OSError:
        pass
    _preset_items.cache = items  # Blender needs the strings kept alive
    return items


UNMAPPED = "NONE"
_SOURCE_ITEMS = [(UNMAPPED, "(unmapped)", "This bone is not driven")] + [
    (s, s, f"Driven by SMPL '{s}'") for s in SOURCE_NAMES]


def _is_armature(self, obj) -> bool:
    return obj is not None and obj.type == "ARMATURE"


class STRMOCAP_PG_retarget_bone(bpy.types.PropertyGroup):
    target: StringProperty(name="Bone", description="Bone of the target armature")
    source: EnumProperty(name="Source", description="SMPL joint that drives this bone",
                         items=_SOURCE_ITEMS, default=UNMAPPED)


class STRMOCAP_PG_retarget_person(bpy.types.PropertyGroup):
    source: PointerProperty(name="Captured", type=bpy.types.Object, poll=_is_armature,
                            description="Imported SMPL rig of one captured person")
    target: PointerProperty(name="Character", type=bpy.types.Object, poll=_is_armature,
                            description="Armature to receive this person's motion")


class STRMOCAP_PG_retarget(bpy.types.PropertyGroup):
    persons: CollectionProperty(type=STRMOCAP_PG_retarget_person)
    preset: EnumProperty(name="Bone Map", items=_preset_items,
                         description="How target bones are matched to the SMPL joints")
    foot_lock: BoolProperty(name="Foot Locking", default=True,
                            description="Pin the feet during contacts (IK on thigh and shin)")
    scale_root: BoolProperty(name="Scale Root Motion", default=True,
                             description="Scale root travel by the leg-length ratio")
    clavicle_limit: FloatProperty(
        name="Clavicle Limit", default=CLAVICLE_LIMIT_DEG, min=0.0, max=180.0,
        description="Largest clavicle rotation from rest, relative to the chest, in degrees "
                    "(arms overhead: the rest goes to the upper arm). 0 follows the capture")
    spread_forearm_twist: BoolProperty(
        name="Spread Forearm Twist", default=True,
        description="The forearm takes half of the twist between upper arm and hand, the hand "
                    "the rest (captures often put it all in the elbow, which wraps a skinned "
                    "elbow). Off: follow the capture's elbow")
    map_target: PointerProperty(name="Edit Map Of", type=bpy.types.Object, poll=_is_armature,
                                description="Target whose bone map is listed below")
    use_edited_map: BoolProperty(
        name="Use Edited Map", default=False,
        description="Bake the target above with the list below instead of the preset")
    bones: CollectionProperty(type=STRMOCAP_PG_retarget_bone)
    bone_index: IntProperty(default=0)
    preset_name: StringProperty(name="Name", default="my_rig",
                                description="Name of the user preset to save")


def _settings(context) -> STRMOCAP_PG_retarget:
    return context.scene.strmocap_retarget


def _preset_value(settings) -> str:
    value = settings.preset
    if value.startswith("user:"):
        return str(user_preset_dir() / f"{value[5:]}.json")
    return value


class STRMOCAP_OT_retarget_find_sources(bpy.types.Operator):
    """List the captured (SMPL) rigs of the scene, one row per person"""

    bl_idname = "strmocap.retarget_find_sources"
    bl_label = "Find Captured People"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        from .retarget import source_rigs

        settings = _settings(context)
        old = {p.source.name: p.target for p in settings.persons if p.source is not None}
        settings.persons.clear()
        rigs = source_rigs(context.scene)
        for rig in rigs:
            row = settings.persons.add()
            row.source = rig
            row.target = old.get(rig.name)
        self.report({"INFO"}, f"{len(rigs)} captured people found")
        return {"FINISHED"}


class STRMOCAP_OT_retarget_load_map(bpy.types.Operator):
    """Fill the bone-map list from the chosen preset for the chosen target"""

    bl_idname = "strmocap.retarget_load_map"
    bl_label = "Load Bone Map"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        from .retarget import RetargetError, resolve_bone_map

        settings = _settings(context)
        target = settings.map_target
        if target is None:
            self.report({"ERROR"}, "Pick the character whose bone map to edit")
            return {"CANCELLED"}
        try:
            bone_map = resolve_bone_map(target, _preset_value(settings))
        except RetargetError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        mapped = bone_map.as_dict()
        settings.bones.clear()
        for bone in target.data.bones:
            item = settings.bones.add()
            item.target = bone.name
            item.source = mapped.get(bone.name, UNMAPPED)
        settings.use_edited_map = True
        self.report({"INFO"}, f"{len(mapped)} bones mapped ({bone_map.method})")
        return {"FINISHED"}


class STRMOCAP_OT_retarget_save_preset(bpy.types.Operator):
    """Save the bone-map list as a user preset (in the add-on's user folder)"""

    bl_idname = "strmocap.retarget_save_preset"
    bl_label = "Save Preset"

    def execute(self, context):
        settings = _settings(context)
        name = "".join(c for c in settings.preset_name if c.isalnum() or c in "-_ ").strip()
        if not name:
            self.report({"ERROR"}, "Give the preset a name (letters, digits, - or _)")
            return {"CANCELLED"}
        pairs = [(b.target, b.source) for b in settings.bones if b.source != UNMAPPED]
        try:
            path = save_user_preset(user_preset_dir() / f"{name}.json", name, pairs)
        except (BoneMapError, OSError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Saved bone-map preset {path}")
        return {"FINISHED"}


class STRMOCAP_OT_retarget_bake(bpy.types.Operator):
    """Bake every captured person onto its character as a new action"""

    bl_idname = "strmocap.retarget_bake"
    bl_label = "Retarget"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        from .retarget import (
            RetargetError,
            RetargetOptions,
            check_inputs,
            resolve_bone_map,
            retarget,
        )

        settings = _settings(context)
        jobs = [(p.source, p.target) for p in settings.persons
                if p.source is not None and p.target is not None]
        if not jobs:
            self.report({"ERROR"}, "Pick a character for at least one captured person")
            return {"CANCELLED"}
        edited = {b.target: b.source for b in settings.bones if b.source != UNMAPPED}
        planned = []
        for source, target in jobs:
            bone_map = edited if (settings.use_edited_map and edited
                                  and target == settings.map_target) else None
            options = RetargetOptions(preset=_preset_value(settings),
                                      foot_lock=settings.foot_lock,
                                      scale_root=settings.scale_root, bone_map=bone_map,
                                      clavicle_limit_deg=settings.clavicle_limit,
                                      forearm_twist_share=(FOREARM_TWIST_SHARE
                                                           if settings.spread_forearm_twist
                                                           else None))
            try:   # every person is checked before anything is baked
                check_inputs(source, target)
                resolve_bone_map(target, options.preset, options.bone_map)
            except RetargetError as exc:
                self.report({"ERROR"}, f"Nothing was baked: {exc}")
                return {"CANCELLED"}
            planned.append((source, target, options))
        done = []
        for source, target, options in planned:
            try:
                report = retarget(context, source, target, options)
            except RetargetError as exc:
                self.report({"ERROR"}, f"{exc} (baked before it: {', '.join(done) or 'none'})")
                return {"FINISHED"} if done else {"CANCELLED"}
            for w in report.warnings:
                self.report({"WARNING"}, f"{target.name}: {w}")
            done.append(f"{target.name} ({report.frames} keys)")
        self.report({"INFO"}, "Retargeted: " + ", ".join(done))
        return {"FINISHED"}


class STRMOCAP_UL_retarget_bones(bpy.types.UIList):
    """Target bone | SMPL source."""

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname,
                  index=0):
        row = layout.row(align=True)
        row.label(text=item.target, icon="BONE_DATA")
        row.prop(item, "source", text="")


class STRMOCAP_PT_retarget(bpy.types.Panel):
    bl_idname = "STRMOCAP_PT_retarget"
    bl_label = "Retarget"
    bl_parent_id = "STRMOCAP_PT_main"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "STR Mocap"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        settings = _settings(context)
        layout.operator(STRMOCAP_OT_retarget_find_sources.bl_idname, icon="VIEWZOOM")
        box = layout.box()
        if not settings.persons:
            box.label(text="No captured people listed yet")
        for person in settings.persons:
            row = box.row(align=True)
            row.label(text=person.source.name if person.source else "(missing)",
                      icon="ARMATURE_DATA")
            row.prop(person, "target", text="")
        col = layout.column(align=True)
        col.prop(settings, "preset")
        col.prop(settings, "foot_lock")
        col.prop(settings, "scale_root")
        col.prop(settings, "clavicle_limit")
        col.prop(settings, "spread_forearm_twist")
        map_box = layout.box()
        map_box.label(text="Bone Map", icon="GROUP_BONE")
        map_box.prop(settings, "map_target")
        map_box.operator(STRMOCAP_OT_retarget_load_map.bl_idname, icon="FILE_REFRESH")
        if settings.bones:
            map_box.template_list("STRMOCAP_UL_retarget_bones", "", settings, "bones",
                                  settings, "bone_index", rows=6)
            map_box.prop(settings, "use_edited_map")
            row = map_box.row(align=True)
            row.prop(settings, "preset_name", text="")
            row.operator(STRMOCAP_OT_retarget_save_preset.bl_idname, icon="FILE_TICK")
        layout.operator(STRMOCAP_OT_retarget_bake.bl_idname, icon="ARMATURE_DATA")


_CLASSES = (
    STRMOCAP_PG_retarget_bone,
    STRMOCAP_PG_retarget_person,
    STRMOCAP_PG_retarget,
    STRMOCAP_OT_retarget_find_sources,
    STRMOCAP_OT_retarget_load_map,
    STRMOCAP_OT_retarget_save_preset,
    STRMOCAP_OT_retarget_bake,
    STRMOCAP_UL_retarget_bones,
    STRMOCAP_PT_retarget,
)


def register() -> None:
    """Register classes and ``Scene.strmocap_retarget``; undo everything on failure."""
    done = []
    try:
        for cls in _CLASSES:
            bpy.utils.register_class(cls)
            done.append(cls)
        bpy.types.Scene.strmocap_retarget = PointerProperty(type=STRMOCAP_PG_retarget)
    except Exception:
        for cls in reversed(done):
            bpy.utils.unregister_class(cls)
        raise


def unregister() -> None:
    """Remove the scene property and every class (a left-over class hangs bpy 4.5 at exit)."""
    if hasattr(bpy.types.Scene, "strmocap_retarget"):
        del bpy.types.Scene.strmocap_retarget
    for cls in reversed(_CLASSES):
        if getattr(cls, "is_registered", False) or cls.__name__ in dir(bpy.types):
            try:
                bpy.utils.unregister_class(cls)
            except RuntimeError:
                pass
