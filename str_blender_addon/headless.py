"""Headless import: motion file -> .blend / FBX / BVH / preview MP4, with plain ``python`` + bpy.

    python -m str_blender_addon.headless MOTION.npz --blend OUT.blend [--fbx OUT.fbx]
        [--bvh OUT.bvh] [--preview OUT.mp4] [--bake off|gentle|moderate|firm]
        [--smpl-dir DIR] [--retarget TARGET.blend --armature NAME [--preset auto|...]]
    python -m str_blender_addon.headless --batch IN_DIR -o OUT_DIR [--formats blend,fbx,bvh]
        (a folder of motion files, see ``headless_batch``)

Uses the same builders as the UI (``importer.import_motion``). Every output is written to a
temporary file in the destination folder and moved into place with ``os.replace``.
With several people, BVH files get a ``_track<ID>`` suffix (one skeleton per BVH file).
Exit codes: 0 ok, 1 internal error (a bug), 2 usage, 3 bad input file (motion/AMASS file, SMPL
folder, target .blend), 4 write failure, 130 cancelled (Ctrl+C). Every failure ends with one
``error: ...`` line on stderr naming what to fix.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_BAD_INPUT, EXIT_WRITE = 0, 1, 2, 3, 4
EXIT_CANCELLED = 130
RETARGET_PRESETS = ("auto", "mixamo", "rigify", "unreal", "vrm", "makehuman")


class _WriteError(RuntimeError):
    pass


@dataclass(frozen=True)
class PreviewOptions:
    width: int = 480                  # output width in pixels (height follows the video aspect)
    max_frames: int = 0               # 0 = whole clip
    over_video: bool = True


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m str_blender_addon.headless",
        description="Build SMPL rigs from an STR Mocap motion file without the Blender UI.")
    p.add_argument("motion", help="motion file (.npz) or AMASS .npz")
    p.add_argument("--blend", help="write the scene to this .blend")
    p.add_argument("--fbx", help="export rigs (+ meshes) with animation to this .fbx")
    p.add_argument("--bvh", help="export the motion to this .bvh (one per person)")
    p.add_argument("--preview", help="render a Workbench preview video (.mp4)")
    p.add_argument("--preview-width", type=int, default=480)
    p.add_argument("--preview-frames", type=int, default=0, help="0 = whole clip")
    p.add_argument("--bake", choices=("off", "gentle", "moderate", "firm"), default="off",
                   help="smoothing bake of the imported keys (bake.BAKE_PRESETS)")
    p.add_argument("--smpl-dir", default="", help="folder with the SMPL model files")
    p.add_argument("--persons", default="", help="comma-separated track ids (default: all)")
    p.add_argument("--fps-mode", choices=("MATCH_VIDEO", "KEEP_SCENE"), default="MATCH_VIDEO")
    p.add_argument("--start-frame", type=int, default=1)
    p.add_argument("--no-mesh", action="store_true", help="skip the body mesh")
    p.add_argument("--no-camera", action="store_true", help="skip the camera")
    p.add_argument("--retarget", help=".blend holding the target character")
    p.add_argument("--armature", help="name of the target armature in --retarget")
    p.add_argument("--preset", choices=RETARGET_PRESETS, default="auto")
    return p


def _fail(code: int, message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a == "--batch" or a.startswith("--batch=") for a in argv):
        from .headless_batch import main as batch_main  # a folder of motion files

        return batch_main(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not any((args.blend, args.fbx, args.bvh, args.preview)):
        parser.print_usage(sys.stderr)
        return _fail(EXIT_USAGE, "nothing to write: give --blend, --fbx, --bvh and/or --preview")
    if args.retarget and not args.armature:
        return _fail(EXIT_USAGE, "--retarget needs --armature NAME (the target armature)")
    try:
        persons = tuple(int(x) for x in args.persons.split(",") if x.strip()) or None
    except ValueError:
        return _fail(EXIT_USAGE, f"--persons must be comma-separated integers, got {args.persons!r}")
    if not Path(args.motion).is_file():
        return _fail(EXIT_BAD_INPUT, f"motion file not found: {args.motion}")
    try:
        import bpy  # noqa: F401
    except ImportError:
        return _fail(EXIT_USAGE, "the 'bpy' module is not installed: pip install bpy (Blender "
                                 "as a Python module) or run inside Blender")
    try:
        return _run(args, persons)
    except KeyboardInterrupt:
        return _fail(EXIT_CANCELLED, "cancelled (outputs not yet written were not started)")
    except Exception as exc:  # a bug, not a bad input: keep the traceback for the report
        import traceback

        traceback.print_exc(file=sys.stderr)
        return _fail(EXIT_INTERNAL, f"internal error ({type(exc).__name__}: {exc}); please "
                                    "report it with the lines above")


def _run(args: argparse.Namespace, persons: tuple[int, ...] | None) -> int:
    import bpy

    from .core.motion_file import MotionFileError
    from .core.smpl_model import SmplLoadError
    from .importer import EmptyMotionError, ImportOptions, StrImportError, import_motion

    bpy.ops.wm.read_factory_settings(use_empty=True)
    options = ImportOptions(
        persons=persons, fps_mode=args.fps_mode, start_frame=args.start_frame,
        build_body_mesh=not args.no_mesh, smpl_dir=args.smpl_dir,
        create_camera=not args.no_camera, video_background=True, bake=args.bake)
    try:
        result = import_motion(bpy.context, args.motion, options)
    except (MotionFileError, SmplLoadError, EmptyMotionError) as exc:
        return _fail(EXIT_BAD_INPUT, str(exc))
    except StrImportError as exc:  # the options do not fit the file (persons, SMPL folder, ...)
        return _fail(EXIT_USAGE, str(exc))
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"imported {len(result.armatures)} rig(s): "
          + ", ".join(a.name for a in result.armatures))

    if args.retarget:
        code = _retarget(args, result.armatures[0])
        if code:
            return code
    try:
        if args.fbx:
            _export_fbx(Path(args.fbx))
        if args.bvh:
            for path in _export_bvh(Path(args.bvh), result.armatures):
                print(f"wrote {path}")
        if args.preview:
            _render_preview(Path(args.preview), PreviewOptions(args.preview_width,
                                                               args.preview_frames))
            print(f"wrote {args.preview}")
        if args.blend:
            _save_blend(Path(args.blend))
            print(f"wrote {args.blend}")
    except (_WriteError, OSError, RuntimeError) as exc:
        return _fail(EXIT_WRITE, f"could not write output: {exc}")
    return EXIT_OK


def _retarget(args: argparse.Namespace, source) -> int:
    import bpy

    try:
        from .retarget import RetargetOptions, append_target_from_blend, retarget
    except ImportError as exc:
        return _fail(EXIT_USAGE, f"retargeting is not available in this installation ({exc})")
    if not Path(args.retarget).is_file():
        return _fail(EXIT_BAD_INPUT, f"target .blend not found: {args.retarget}")
    try:
        target = append_target_from_blend(args.retarget, args.armature)
        report = retarget(bpy.context, source, target, RetargetOptions(preset=args.preset))
    except Exception as exc:  # the retargeter's own errors carry the user-facing message
        return _fail(EXIT_BAD_INPUT, f"retarget failed: {exc}")
    action = getattr(report, "action_name", "")
    print(f"retargeted {source.name} onto {target.name}" + (f" (action {action})" if action else ""))
    for w in getattr(report, "warnings", ()):
        print(f"warning: {w}", file=sys.stderr)
    return 0


def _tmp_for(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    return out.with_name(f".{out.stem}.tmp{os.getpid()}{out.suffix}")


def _finish(tmp: Path, out: Path) -> None:
    if not tmp.is_file() or tmp.stat().st_size == 0:
        raise _WriteError(f"{out}: nothing was written")
    os.replace(tmp, out)


def _save_blend(out: Path) -> None:
    import bpy

    tmp = _tmp_for(out)
    try:
        bpy.ops.wm.save_as_mainfile(filepath=str(tmp), copy=True, check_existing=False)
        _finish(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _ensure_addon(module: str) -> None:
    import addon_utils

    loaded_default, loaded_state = addon_utils.check(module)
    if not loaded_state:
        addon_utils.enable(module, default_set=True)


def _export_fbx(out: Path) -> None:
    import bpy

    _ensure_addon("io_scene_fbx")
    tmp = _tmp_for(out)
    try:
        result = bpy.ops.export_scene.fbx(
            filepath=str(tmp), use_selection=False, object_types={"ARMATURE", "MESH"},
            add_leaf_bones=False, bake_anim=True, bake_anim_use_all_actions=False,
            bake_anim_use_nla_strips=False, bake_anim_simplify_factor=0.0)
        if "FINISHED" not in result:
            raise _WriteError(f"FBX export returned {result}")
        _finish(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _export_bvh(out: Path, armatures) -> list[Path]:
    import bpy

    _ensure_addon("io_anim_bvh")
    scene = bpy.context.scene
    written = []
    for arm in armatures:
        path = out if len(armatures) == 1 else out.with_name(
            f"{out.stem}_track{int(arm['str_track_id'])}{out.suffix}")
        for obj in bpy.context.view_layer.objects:
            obj.select_set(False)
        bpy.context.view_layer.objects.active = arm
        arm.select_set(True)
        tmp = _tmp_for(path)
        try:
            result = bpy.ops.export_anim.bvh(
                filepath=str(tmp), frame_start=scene.frame_start, frame_end=scene.frame_end,
                rotate_mode="NATIVE", root_transform_only=True)
            if "FINISHED" not in result:
                raise _WriteError(f"BVH export returned {result}")
            _finish(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        written.append(path)
    return written


def _render_preview(out: Path, options: PreviewOptions) -> None:
    import bpy

    from . import bpy_compat

    scene = bpy.context.scene
    if scene.camera is None:
        raise _WriteError("no camera to render the preview from (drop --no-camera)")
    render = scene.render
    render.engine = bpy_compat.workbench_engine()
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "MATERIAL"
    # H.264 needs even sizes: set the size directly (the camera's shift is size-invariant).
    aspect = render.resolution_y / max(1, render.resolution_x)
    render.resolution_x = max(16, options.width // 2 * 2)
    render.resolution_y = max(16, int(round(render.resolution_x * aspect / 2)) * 2)
    render.resolution_percentage = 100
    if options.max_frames > 0:
        scene.frame_end = min(scene.frame_end, scene.frame_start + options.max_frames - 1)
    if scene.world is None:
        scene.world = bpy.data.worlds.new("STR preview")
    scene.world.color = (0.35, 0.37, 0.4)
    over_video = options.over_video and _video_compositing(scene)
    render.film_transparent = over_video
    bpy_compat.set_video_output(scene)
    tmp = _tmp_for(out)
    render.filepath = str(tmp)
    render.use_file_extension = False
    try:
        bpy.ops.render.render(animation=True)
        _finish(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _video_compositing(scene) -> bool:
    """Composite the render over the camera's background movie clip.

    Feature-detected: Blender 5.0 node-group compositor (``scene.compositing_node_group``,
    node options as menu sockets) or the 4.2/4.5 scene node tree. Returns False (plain
    background) when there is no clip or the compositor API is not as expected.
    """
    import bpy

    cam = scene.camera
    clips = [bg.clip for bg in cam.data.background_images if bg.clip is not None]
    if not clips:
        return False
    new_api = hasattr(scene, "compositing_node_group")
    try:
        if new_api:
            tree = bpy.data.node_groups.new("STR preview", "CompositorNodeTree")
            tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
            out_node = tree.nodes.new("NodeGroupOutput")
        else:
            scene.use_nodes = True
            tree = scene.node_tree
            tree.nodes.clear()
            out_node = tree.nodes.new("CompositorNodeComposite")
        layers = tree.nodes.new("CompositorNodeRLayers")
        clip_node = tree.nodes.new("CompositorNodeMovieClip")
        clip_node.clip = clips[0]
        scale = tree.nodes.new("CompositorNodeScale")
        if "Type" in scale.inputs:                           # 5.0: options are menu sockets
            scale.inputs["Type"].default_value = "Render Size"
        else:
            scale.space = "RENDER_SIZE"
        over = tree.nodes.new("CompositorNodeAlphaOver")
        if "Background" in over.inputs:                      # 5.0 socket names
            background, foreground = over.inputs["Background"], over.inputs["Foreground"]
        else:                                                # 4.x: Fac, Image, Image
            background, foreground = over.inputs[1], over.inputs[2]
        tree.links.new(clip_node.outputs["Image"], scale.inputs[0])
        tree.links.new(scale.outputs[0], background)
        tree.links.new(layers.outputs["Image"], foreground)
        tree.links.new(over.outputs[0], out_node.inputs[0])
        if new_api:
            scene.compositing_node_group = tree
        return True
    except (AttributeError, KeyError, RuntimeError, TypeError, IndexError) as exc:
        print(f"warning: preview without the video background ({exc})", file=sys.stderr)
        if new_api:
            scene.compositing_node_group = None
        else:
            scene.use_nodes = False
        return False


if __name__ == "__main__":
    sys.exit(main())
