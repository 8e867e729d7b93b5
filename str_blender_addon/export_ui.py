"""Sidebar sub-panel "Export": the captured people to glTF binary (.glb) or BVH (bpy side).

Both operators write through ``export_files`` (the headless writers): one file per person,
``<name>_track<ID>.<ext>`` when there are several. By default every captured (SMPL) rig in the
scene is exported; *Selected Only* exports the selected armatures instead (e.g. a character the
motion was retargeted onto, with its skinned meshes).
"""

from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import BoolProperty, EnumProperty, StringProperty
from bpy_extras.io_utils import ExportHelper


def _armatures(context, only_selected: bool) -> list[bpy.types.Object]:
    if only_selected:
        return sorted((o for o in context.selected_objects if o.type == "ARMATURE"),
                      key=lambda o: o.name)
    from .retarget import source_rigs

    return source_rigs(context.scene)


class _ExportBase(ExportHelper):
    only_selected: BoolProperty(
        name="Selected Only", default=False,
        description="Export the selected armatures instead of every captured person")

    def _run(self, context, write) -> set[str]:
        from .export_files import ExportError

        arms = _armatures(context, self.only_selected)
        if not arms:
            self.report({"ERROR"}, "Nothing to export: import a capture first, or select "
                                   "armatures and tick Selected Only")
            return {"CANCELLED"}
        try:
            paths = write(Path(self.filepath), arms)
        except (ExportError, OSError, RuntimeError) as exc:
            self.report({"ERROR"}, f"Export failed: {exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, "Wrote " + ", ".join(p.name for p in paths))
        return {"FINISHED"}


class STRMOCAP_OT_export_glb(_ExportBase, bpy.types.Operator):
    """Export each captured person (skinned body, armature, animation) as glTF binary"""

    bl_idname = "strmocap.export_glb"
    bl_label = "Export glTF (.glb)"
    bl_options = {"REGISTER"}

    filename_ext = ".glb"
    filter_glob: StringProperty(default="*.glb", options={"HIDDEN"})

    def execute(self, context: bpy.types.Context) -> set[str]:
        from .export_files import write_glb

        return self._run(context, write_glb)


class STRMOCAP_OT_export_bvh(_ExportBase, bpy.types.Operator):
    """Export each captured person's motion as BVH (Y-up by default, like BVH readers expect)"""

    bl_idname = "strmocap.export_bvh"
    bl_label = "Export BVH"
    bl_options = {"REGISTER"}

    filename_ext = ".bvh"
    filter_glob: StringProperty(default="*.bvh", options={"HIDDEN"})
    up_axis: EnumProperty(
        name="Up", default="y",
        items=(("y", "Y Up", "What BVH readers assume (Blender's import default, "
                             "MotionBuilder, three.js)"),
               ("z", "Z Up", "Blender's own axes")))

    def execute(self, context: bpy.types.Context) -> set[str]:
        from .export_files import write_bvh

        return self._run(context, lambda out, arms: write_bvh(out, arms, up=self.up_axis))


class STRMOCAP_PT_export(bpy.types.Panel):
    bl_idname = "STRMOCAP_PT_export"
    bl_label = "Export"
    bl_parent_id = "STRMOCAP_PT_main"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "STR Mocap"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        col = self.layout.column(align=True)
        col.operator(STRMOCAP_OT_export_glb.bl_idname, icon="EXPORT")
        col.operator(STRMOCAP_OT_export_bvh.bl_idname, icon="EXPORT")


_CLASSES = (STRMOCAP_OT_export_glb, STRMOCAP_OT_export_bvh, STRMOCAP_PT_export)


def register() -> None:
    for cls in _CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(_CLASSES):
        if cls.is_registered:
            bpy.utils.unregister_class(cls)
