"""3D viewport sidebar, tab "STR Mocap": capture settings, progress + cancel, smoothing bake.

The retargeting UI adds its own sub-panel with ``bl_parent_id = "STRMOCAP_PT_main"``.
"""

from __future__ import annotations

import bpy

from .preferences import backend_settings, draw_progress, get_preferences

CATEGORY = "STR Mocap"


class _SidebarPanel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = CATEGORY


class STRMOCAP_PT_main(_SidebarPanel, bpy.types.Panel):
    """Capture motion from a video."""

    bl_idname = "STRMOCAP_PT_main"
    bl_label = "STR Mocap"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        settings = context.scene.str_mocap
        if get_preferences(context) is not None and not backend_settings(context).backend_python:
            box = layout.box()
            box.label(text="Backend not set up", icon="ERROR")
            box.operator("strmocap.setup_backend", icon="IMPORT")

        col = layout.column()
        col.enabled = not settings.job_running
        col.prop(settings, "video_path", text="")
        col.prop(settings, "whole_video")
        if not settings.whole_video:
            row = col.row(align=True)
            row.prop(settings, "start_time")
            row.prop(settings, "end_time")
        col.prop(settings, "max_people")
        col.prop(settings, "smoothing")
        col.prop(settings, "subject_height")
        col.prop(settings, "fov")
        col.prop(settings, "camera_motion")
        col.prop(settings, "detector_tta")
        col.prop(settings, "solver")

        if settings.job_running:
            draw_progress(layout, settings.job_progress, settings.job_stage or "Starting")
            if settings.job_message:
                layout.label(text=settings.job_message)
            layout.operator("strmocap.cancel_capture", icon="CANCEL")
        else:
            row = layout.row()
            row.scale_y = 1.4
            row.operator("strmocap.capture", icon="REC")
            if settings.job_message:
                layout.label(text=settings.job_message, icon="INFO")
            if settings.last_persons:
                layout.label(text=f"Persons imported: {settings.last_persons}", icon="ARMATURE_DATA")


class STRMOCAP_PT_import_options(_SidebarPanel, bpy.types.Panel):
    """How captured motion is brought into the scene."""

    bl_idname = "STRMOCAP_PT_import_options"
    bl_label = "Import Options"
    bl_parent_id = "STRMOCAP_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        settings = context.scene.str_mocap
        col = self.layout.column()
        col.enabled = not settings.job_running
        col.prop(settings, "fps_mode")
        col.prop(settings, "start_frame")
        col.prop(settings, "build_body_mesh")
        col.prop(settings, "create_camera")
        sub = col.column()
        sub.enabled = settings.create_camera
        sub.prop(settings, "video_background")
        col.operator("strmocap.import_motion", icon="IMPORT")


class STRMOCAP_PT_bake(_SidebarPanel, bpy.types.Panel):
    """Smooth the active rig's keyframes (one undo step)."""

    bl_idname = "STRMOCAP_PT_bake"
    bl_label = "Smoothing Bake"
    bl_parent_id = "STRMOCAP_PT_main"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        settings = context.scene.str_mocap
        obj = context.active_object
        if obj is None or obj.type != "ARMATURE":
            layout.label(text="Select a captured rig", icon="INFO")
        col = layout.column()
        col.prop(settings, "bake_method")
        col.prop(settings, "bake_strength", slider=True)
        row = col.row(align=True)
        row.operator("strmocap.bake_preview", icon="HIDE_OFF")
        row.operator("strmocap.bake_smoothing", icon="MOD_SMOOTH")
        if settings.bake_has_numbers:
            box = col.box()
            kind = "Preview" if settings.bake_is_preview else "Baked"
            box.label(text=f"{kind} jitter (mm/frame²):")
            box.label(
                text=f"before {settings.bake_jitter_before:.2f}  →  after "
                f"{settings.bake_jitter_after:.2f}"
            )


_CLASSES = (STRMOCAP_PT_main, STRMOCAP_PT_import_options, STRMOCAP_PT_bake)


def register() -> None:
    for cls in _CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(_CLASSES):
        if cls.is_registered:  # tolerate a partial registration
            bpy.utils.unregister_class(cls)
