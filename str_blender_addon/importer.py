"""Import a motion file (or an AMASS .npz) into the Blender scene: rigs, motion, mesh, camera.

``import_motion`` is what the UI operator and the headless CLI both call. It validates the file
first (core), then builds everything; on any failure after that every data-block it created is
removed and the scene's settings (fps, frame range, camera, active object) are restored, so the
scene is exactly as before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import bpy
import numpy as np

from .anim_writer import key_frames_for, key_visibility, write_person_animation
from .bake import BAKE_PRESETS
from .core.motion_file import Motion, MotionFileError, read_motion_file
from .core.timing import scene_rate_for
from .rig_builder import build_smpl_armature

FPS_MODES = ("MATCH_VIDEO", "KEEP_SCENE")
_MAX_NAME = 50


class StrImportError(Exception):
    """The import could not be done; the message tells the user what to change. (Not the
    built-in ImportError: that one means a Python module failed to import.)"""


class EmptyMotionError(StrImportError):
    """The file is valid but holds nobody to import (a problem of the input, not the options)."""


@dataclass(frozen=True)
class ImportOptions:
    """What to build. ``persons`` are track ids (None = all).

    Time mapping: every key lands at ``start_frame + t * scene_rate`` from its absolute
    timestamp ``t`` (never by counting frames), so nothing drifts and variable-frame-rate
    timestamps are kept. MATCH_VIDEO first sets the scene rate to the video's (29.97 ->
    fps=30, fps_base=1.001), so keys of a constant-rate video land on whole frames.
    KEEP_SCENE keeps the scene rate and keys the exact, possibly fractional, scene frame of
    each timestamp (no resampling); LINEAR interpolation gives the in-between frames.
    """

    persons: tuple[int, ...] | None = None
    fps_mode: str = "MATCH_VIDEO"       # MATCH_VIDEO | KEEP_SCENE (exact time mapping)
    start_frame: int = 1
    build_body_mesh: bool = True
    smpl_dir: str = ""                  # user's SMPL folder ("" = generated body)
    create_camera: bool = True
    video_background: bool = True
    bake: str = "off"                   # a bake.BAKE_PRESETS name (add-on side smoothing bake)


@dataclass(frozen=True)
class ImportResult:
    """What ``import_motion`` built."""

    armatures: tuple[bpy.types.Object, ...]
    meshes: tuple[bpy.types.Object, ...]
    camera: bpy.types.Object | None
    action_names: tuple[str, ...]
    frame_start: int
    frame_end: int
    warnings: tuple[str, ...] = field(default_factory=tuple)
    lens: str = ""    # Motion.lens_summary: the lens the capture solved with, for the report


def load_any_motion(path: str | Path, smpl_dir: str = "") -> Motion:
    """Read an STR motion file or an AMASS-style .npz (detected by its keys)."""
    from .core.amass_file import is_amass_file, read_amass_file

    p = Path(path)
    if p.is_file() and is_amass_file(p):
        return read_amass_file(p, smpl_dir=smpl_dir)
    return read_motion_file(p)


def object_base_name(motion: Motion, track_id: int) -> str:
    stem = Path(motion.video_name).stem or "motion"
    return f"{stem[:_MAX_NAME]}_track{int(track_id)}"


def import_motion(
    context: bpy.types.Context, path: str | Path, options: ImportOptions = ImportOptions()
) -> ImportResult:
    """Build one keyframed SMPL armature per selected person (+ mesh, camera) from ``path``.

    Raises MotionFileError (bad file) or StrImportError (bad options / scene problem).
    """
    _check_options(options)
    motion = load_any_motion(path, options.smpl_dir)
    persons = _select_persons(motion, options.persons)
    scene = context.scene
    warnings: list[str] = list(motion.warnings)

    smpl_model = _load_smpl(options, motion, warnings)

    before = _snapshot()
    saved_scene = _scene_settings(scene)
    saved_active = context.view_layer.objects.active
    armatures: list[bpy.types.Object] = []
    meshes: list[bpy.types.Object] = []
    actions: list[str] = []
    camera_obj = None
    try:
        if options.fps_mode == "MATCH_VIDEO":
            rate = scene_rate_for(motion.fps)
            scene.render.fps = rate.fps
            scene.render.fps_base = rate.fps_base
        scene_rate = scene.render.fps / scene.render.fps_base
        frames = key_frames_for(motion.timestamps, scene_rate, options.start_frame)
        frame_start = int(options.start_frame)
        frame_end = max(int(math.ceil(float(frames[-1]))), frame_start)
        _check_frame_range(motion, frame_start, frame_end, scene_rate)
        for p in persons:
            track_id = int(motion.track_ids[p])
            name = object_base_name(motion, track_id)
            arm = build_smpl_armature(context, name, motion.rest_joints[p])
            arm["str_motion_file"] = str(Path(motion.path).resolve())
            arm["str_track_id"] = track_id
            arm["str_video"] = motion.video_name
            arm["str_source"] = motion.source
            action = write_person_animation(
                arm, f"{name}_action", frames, motion.global_orient[p], motion.body_pose[p],
                motion.transl[p], contacts=motion.contacts[p], valid=motion.valid[p])
            armatures.append(arm)
            actions.append(action.name)
            # Nothing is shown outside the track: rig and mesh are hidden where not valid.
            key_visibility(arm, f"{name}_action", frames, motion.valid[p])
            if options.build_body_mesh:
                from .body_mesh import build_body_mesh

                meshes.append(build_body_mesh(
                    context, arm, motion.rest_joints[p], motion.betas[p], smpl_model))
                key_visibility(meshes[-1], f"{name}_body_visibility", frames, motion.valid[p])
            if options.bake != "off":
                from .bake import BakeOptions, bake_smoothing

                bake_smoothing(arm, BakeOptions(strength=BAKE_PRESETS[options.bake]))
        if options.create_camera and motion.cam_K is not None:
            from .camera_builder import build_camera

            camera_obj, cam_warnings = build_camera(
                context, motion, frames, video_background=options.video_background,
                start_frame=options.start_frame)
            warnings.extend(cam_warnings)
        scene.frame_start = frame_start
        scene.frame_end = frame_end
    except BaseException:
        # leave the scene exactly as it was: every new data-block, the scene settings and the
        # active object (KeyboardInterrupt included)
        _remove_new(before)
        _restore_scene_settings(scene, saved_scene)
        _restore_active(context, saved_active)
        raise

    if armatures:
        context.view_layer.objects.active = armatures[0]
    return ImportResult(
        armatures=tuple(armatures), meshes=tuple(meshes), camera=camera_obj,
        action_names=tuple(actions), frame_start=frame_start, frame_end=frame_end,
        warnings=tuple(dict.fromkeys(warnings)), lens=motion.lens_summary)


def _load_smpl(options: ImportOptions, motion: Motion, warnings: list[str]):
    """The user's SMPL model (once per import), or None with a warning if it cannot be used."""
    if not (options.build_body_mesh and options.smpl_dir):
        return None
    from .core.smpl_model import SmplLoadError, load_smpl_model

    try:
        return load_smpl_model(options.smpl_dir, str(motion.header.get("gender", "neutral")))
    except SmplLoadError as exc:
        warnings.append(f"SMPL mesh not used ({exc}); built the generated body instead")
        return None


_SCENE_SETTINGS = (("render", "fps"), ("render", "fps_base"), ("render", "resolution_x"),
                   ("render", "resolution_y"), ("render", "resolution_percentage"),
                   ("", "frame_start"), ("", "frame_end"), ("", "frame_current"),
                   ("", "camera"))


def _scene_settings(scene: bpy.types.Scene) -> dict[tuple[str, str], object]:
    return {(owner, attr): getattr(getattr(scene, owner) if owner else scene, attr)
            for owner, attr in _SCENE_SETTINGS}


def _restore_scene_settings(scene: bpy.types.Scene, saved: dict) -> None:
    for (owner, attr), value in saved.items():
        try:
            setattr(getattr(scene, owner) if owner else scene, attr, value)
        except (ReferenceError, TypeError, AttributeError):
            pass


def _check_options(options: ImportOptions) -> None:
    if options.fps_mode not in FPS_MODES:
        raise StrImportError(f"fps_mode must be one of {FPS_MODES}, got {options.fps_mode!r}")
    if options.bake not in BAKE_PRESETS:
        raise StrImportError(
            f"bake must be one of {tuple(BAKE_PRESETS)}, got {options.bake!r}")
    if options.smpl_dir and not Path(options.smpl_dir).is_dir():
        raise StrImportError(
            f"SMPL folder not found: {options.smpl_dir!r}; set it in the add-on preferences or "
            "leave it empty for the generated body")


def _select_persons(motion: Motion, persons: tuple[int, ...] | None) -> list[int]:
    if motion.num_persons == 0:
        raise EmptyMotionError(
            "the motion file contains no people (nobody was tracked in the video): nothing to "
            "import")
    if persons is None:
        return list(range(motion.num_persons))
    out = []
    for tid in persons:
        hits = np.nonzero(motion.track_ids == int(tid))[0]
        if hits.size == 0:
            raise StrImportError(
                f"person (track id) {tid} is not in this file; available: "
                f"{motion.track_ids.tolist()}")
        out.append(int(hits[0]))
    if not out:
        raise StrImportError("no person selected to import")
    return out


#: Blender's last frame (MAXFRAME): keys beyond it cannot be shown or played.
MAX_SCENE_FRAME = 1_048_574


def _check_frame_range(motion: Motion, frame_start: int, frame_end: int, rate: float) -> None:
    if frame_start < -MAX_SCENE_FRAME or frame_end > MAX_SCENE_FRAME:
        raise StrImportError(
            f"the motion spans scene frames {frame_start}..{frame_end} ({motion.num_frames} "
            f"frames over {float(motion.timestamps[-1]):.1f} s at {rate:g} fps), beyond "
            f"Blender's frame range (up to {MAX_SCENE_FRAME}); use a smaller start frame")


def _id_collections() -> list[str]:
    """Names of every ``bpy.data`` collection of data-blocks (objects, actions, images, ...)."""
    return sorted(
        prop.identifier for prop in bpy.types.BlendData.bl_rna.properties
        if prop.type == "COLLECTION" and getattr(prop, "fixed_type", None) is not None
        and _is_id_type(prop.fixed_type) and prop.identifier not in _NOT_OURS)


#: Data-blocks an import never creates on its own (UI and files) or that go with their owner.
_NOT_OURS = frozenset({"window_managers", "screens", "workspaces", "scenes", "libraries",
                       "shape_keys"})


def _is_id_type(rna_struct) -> bool:  # type: ignore[no-untyped-def]
    base = rna_struct
    while base is not None:
        if base.identifier == "ID":
            return True
        base = base.base
    return False


def _snapshot() -> dict[str, set[int]]:
    """Pointers of every data-block now in ``bpy.data``, per collection."""
    return {kind: {item.as_pointer() for item in getattr(bpy.data, kind)}
            for kind in _id_collections()}


def _remove_new(before: dict[str, set[int]]) -> None:
    """Delete every data-block created since ``before`` (all collections at once)."""
    new = []
    for kind, known in before.items():
        new.extend(i for i in getattr(bpy.data, kind) if i.as_pointer() not in known)
    if not new:
        return
    try:
        bpy.data.batch_remove(new)
    except (RuntimeError, ReferenceError, TypeError):
        for kind in before:
            collection = getattr(bpy.data, kind)
            for item in [i for i in collection if i.as_pointer() not in before[kind]]:
                try:
                    collection.remove(item)
                except (ReferenceError, RuntimeError):
                    pass


def _restore_active(context: bpy.types.Context, obj) -> None:  # type: ignore[no-untyped-def]
    try:
        context.view_layer.objects.active = obj
    except (ReferenceError, RuntimeError, TypeError):
        pass


__all__ = ["EmptyMotionError", "ImportOptions", "ImportResult", "MotionFileError",
           "StrImportError", "import_motion"]
