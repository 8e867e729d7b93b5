"""Write the scene's rigs to files other tools read: .blend, FBX, BVH, glTF binary (bpy side).

Used by the headless entry point and the add-on's export operator. Every file is written to a
temporary name in the destination folder and moved into place with ``os.replace``
(``core.atomic_files``; a failed export leaves nothing behind). With several people, BVH and glTF give one file per person,
``<name>_track<ID>.<ext>`` (one skeleton per file; ``person_paths``).

Axes: Blender is Z-up, facing -Y. BVH readers (Blender's own import defaults, MotionBuilder,
three.js's BVHLoader) assume Y-up, so BVH is written Y-up by default (character facing +Z);
``up="z"`` keeps Blender's axes. glTF is Y-up by specification (Blender's exporter converts).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import bpy

from .core import atomic_files

BVH_UP_AXES = ("y", "z")


class ExportError(RuntimeError):
    """An export did not produce its file; the text says which and why."""


@contextmanager
def atomic_output(out: Path) -> Iterator[Path]:
    """``core.atomic_files.atomic_output`` raising :class:`ExportError` when nothing was
    written: yield a temporary path to write; on success it is moved to ``out``."""
    with atomic_files.atomic_output(out, ExportError) as tmp:
        yield tmp


def ensure_addon(module: str) -> bool:
    """Enable one of Blender's bundled add-ons (io_scene_fbx, io_anim_bvh, io_scene_gltf2);
    True when this call enabled it."""
    import addon_utils

    _, loaded = addon_utils.check(module)
    if not loaded:
        addon_utils.enable(module, default_set=True)
    return not loaded


@contextmanager
def bundled_addon(module: str) -> Iterator[None]:
    """A bundled add-on enabled for the duration, disabled again if it was off: an add-on
    left registered makes bpy-as-a-module crash (4.2) or hang (4.5) at interpreter exit."""
    enabled_here = ensure_addon(module)
    try:
        yield
    finally:
        if enabled_here:
            import addon_utils

            addon_utils.disable(module, default_set=True)


def person_paths(out: Path, armatures: Sequence[bpy.types.Object]) -> list[Path]:
    """``out`` for one person; ``<stem>_track<ID><suffix>`` per person for several."""
    if len(armatures) == 1:
        return [out]
    return [out.with_name(f"{out.stem}_track{int(a.get('str_track_id', i))}{out.suffix}")
            for i, a in enumerate(armatures)]


def save_blend(out: Path) -> Path:
    with atomic_output(out) as tmp:
        bpy.ops.wm.save_as_mainfile(filepath=str(tmp), copy=True, check_existing=False)
    return out


def write_fbx(out: Path) -> Path:
    """Every armature and mesh with its baked animation."""
    with bundled_addon("io_scene_fbx"), atomic_output(out) as tmp:
        result = bpy.ops.export_scene.fbx(
            filepath=str(tmp), use_selection=False, object_types={"ARMATURE", "MESH"},
            add_leaf_bones=False, bake_anim=True, bake_anim_use_all_actions=False,
            bake_anim_use_nla_strips=False, bake_anim_simplify_factor=0.0)
        if "FINISHED" not in result:
            raise ExportError(f"FBX export returned {result}")
    return out


def _select_only(objects: Sequence[bpy.types.Object], active: bpy.types.Object) -> None:
    view_layer = bpy.context.view_layer
    for obj in view_layer.objects:
        obj.select_set(False)
    for obj in objects:
        obj.select_set(True)
    view_layer.objects.active = active


def _bvh_axes(up: str):
    """Matrix taking Blender world coordinates to the BVH file's (Y-up: x, z, -y)."""
    from mathutils import Matrix

    if up == "z":
        return Matrix.Identity(4)
    return Matrix.Rotation(-math.pi / 2.0, 4, "X")


@contextmanager
def _armature_in_file_axes(arm: bpy.types.Object, up: str) -> Iterator[bpy.types.Object]:
    """A temporary copy of ``arm`` (same action) whose armature data holds its world rest pose
    in the file's axes: Blender's BVH writer writes armature space and ignores the object."""
    from mathutils import Matrix

    copy = arm.copy()
    copy.data = arm.data.copy()
    (bpy.context.collection or bpy.context.scene.collection).objects.link(copy)
    try:
        loc, rot, _ = arm.matrix_world.decompose()
        copy.data.transform(_bvh_axes(up) @ Matrix.Translation(loc) @ rot.to_matrix().to_4x4())
        copy.matrix_world = Matrix.Identity(4)
        bpy.context.view_layer.update()
        yield copy
    finally:
        data = copy.data
        bpy.data.objects.remove(copy)
        bpy.data.armatures.remove(data)


def write_bvh(out: Path, armatures: Sequence[bpy.types.Object], up: str = "y",
              frame_range: tuple[int, int] | None = None) -> list[Path]:
    """One BVH per armature (see ``person_paths``), Y-up (default) or Z-up, every scene frame.

    Root: position and rotation; other joints: rotation only (``root_transform_only``)."""
    if up not in BVH_UP_AXES:
        raise ValueError(f"up must be one of {BVH_UP_AXES}, got {up!r}")
    scene = bpy.context.scene
    start, end = frame_range or (scene.frame_start, scene.frame_end)
    written = []
    with bundled_addon("io_anim_bvh"):
        for arm, path in zip(armatures, person_paths(out, armatures), strict=True):
            with _armature_in_file_axes(arm, up) as copy, atomic_output(path) as tmp:
                _select_only([copy], copy)
                result = bpy.ops.export_anim.bvh(
                    filepath=str(tmp), frame_start=start, frame_end=end,
                    rotate_mode="NATIVE", root_transform_only=True)
                if "FINISHED" not in result:
                    raise ExportError(f"BVH export returned {result}")
            written.append(path)
    return written


def _gltf_options() -> dict[str, object]:
    """Keyword arguments of ``export_scene.gltf`` for a skinned, animated character, limited
    to those this Blender's exporter has (4.2 ... 5.0 differ)."""
    wanted = {
        "export_format": "GLB", "use_selection": False, "use_visible": False,
        "use_active_collection": True, "use_active_collection_with_nested": False,
        "export_yup": True,
        "export_apply": False, "export_animations": True, "export_skins": True,
        "export_force_sampling": True, "export_frame_range": True,
        # SCENE: each exported object's animation as the scene plays it (4.2's ACTIVE_ACTIONS
        # merged every armature's action onto the same-named joints)
        "export_animation_mode": "SCENE", "export_current_frame": False,
        "export_cameras": False, "export_lights": False, "export_extras": False,
        "export_def_bones": False, "export_anim_single_armature": True,
        "export_optimize_animation_size": False, "export_reset_pose_bones": True,
    }
    props = bpy.ops.export_scene.gltf.get_rna_type().properties
    return {k: v for k, v in wanted.items() if k in props}


def write_glb(out: Path, armatures: Sequence[bpy.types.Object]) -> list[Path]:
    """One glTF binary per armature (see ``person_paths``): the armature, its skinned body
    mesh(es) and its action, through Blender's own glTF exporter (Y-up, metres)."""
    written = []
    with bundled_addon("io_scene_gltf2"):
        options = _gltf_options()
        for arm, path in zip(armatures, person_paths(out, armatures), strict=True):
            meshes = [o for o in bpy.context.scene.objects
                      if o.type == "MESH" and (o.parent == arm or any(
                          m.type == "ARMATURE" and m.object == arm for m in o.modifiers))]
            with _active_collection_of([arm, *meshes]), atomic_output(path) as tmp:
                result = bpy.ops.export_scene.gltf(filepath=str(tmp), **options)
                if "FINISHED" not in result:
                    raise ExportError(f"glTF export returned {result}")
            written.append(path)
    return written


@contextmanager
def _active_collection_of(objects: Sequence[bpy.types.Object]) -> Iterator[None]:
    """A temporary collection holding ``objects``, made the active one (what the glTF exporter
    exports with ``use_active_collection``). Selection is not used: a person hidden at the
    current frame (keyed visibility from the capture's validity) cannot be selected."""
    view_layer = bpy.context.view_layer
    previous = view_layer.active_layer_collection
    collection = bpy.data.collections.new("STR export")
    bpy.context.scene.collection.children.link(collection)
    try:
        for obj in objects:
            collection.objects.link(obj)
        view_layer.active_layer_collection = view_layer.layer_collection.children[
            collection.name]
        yield
    finally:
        view_layer.active_layer_collection = previous
        bpy.data.collections.remove(collection)


__all__ = ["BVH_UP_AXES", "ExportError", "atomic_output", "bundled_addon", "ensure_addon",
           "person_paths", "save_blend", "write_bvh", "write_fbx", "write_glb"]
