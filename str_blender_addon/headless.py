"""Headless import: motion file -> .blend / FBX / BVH / preview MP4, with plain ``python`` + bpy.

    python -m str_blender_addon.headless MOTION.npz --blend OUT.blend [--fbx OUT.fbx]
        [--bvh OUT.bvh [--bvh-up y|z]] [--glb OUT.glb] [--preview OUT.mp4]
        [--bake off|gentle|moderate|firm]
        [--smpl-dir DIR] [--retarget TARGET.blend --armature NAME [--preset auto|...]]
    python -m str_blender_addon.headless --batch IN_DIR -o OUT_DIR [--formats blend,fbx,bvh]
        (a folder of motion files, see ``headless_batch``)

Uses the same builders as the UI (``importer.import_motion``) and writers (``export_files``,
``preview``). Every output is written to a temporary file in the destination folder and moved
into place with ``os.replace``. With several people, BVH and glTF files get a ``_track<ID>``
suffix (one skeleton per file). BVH is Y-up unless ``--bvh-up z``. The preview renders from a
temporary copy of the scene, so the saved .blend keeps the video's size and the scene's engine.
Exit codes: 0 ok, 1 internal error (a bug), 2 usage, 3 bad input file (motion/AMASS file, SMPL
folder, target .blend), 4 write failure, 130 cancelled (Ctrl+C). Every failure ends with one
``error: ...`` line on stderr naming what to fix.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .core.retarget_math import CLAVICLE_LIMIT_DEG

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_BAD_INPUT, EXIT_WRITE = 0, 1, 2, 3, 4
EXIT_CANCELLED = 130
RETARGET_PRESETS = ("auto", "mixamo", "rigify", "unreal", "vrm", "makehuman")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m str_blender_addon.headless",
        description="Build SMPL rigs from an STR Mocap motion file without the Blender UI.")
    p.add_argument("motion", help="motion file (.npz) or AMASS .npz")
    p.add_argument("--blend", help="write the scene to this .blend")
    p.add_argument("--fbx", help="export rigs (+ meshes) with animation to this .fbx")
    p.add_argument("--bvh", help="export the motion to this .bvh (one per person: "
                                 "NAME_track<ID>.bvh when there are several)")
    p.add_argument("--bvh-up", choices=("y", "z"), default="y",
                   help="up axis of the BVH file: y (default; what BVH readers expect) or z "
                        "(Blender's axes)")
    p.add_argument("--glb", help="export each person (skinned body, armature, animation) to "
                                 "this glTF binary (NAME_track<ID>.glb when there are several)")
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
    p.add_argument("--clavicle-limit", type=float, default=CLAVICLE_LIMIT_DEG, metavar="DEG",
                   help="largest clavicle rotation of the retargeted character, relative to "
                        f"its chest (default {CLAVICLE_LIMIT_DEG:g}; 0 follows the capture)")
    return p


def _fail(code: int, message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a == "--batch" or a.startswith("--batch=") for a in argv):
        from .headless_batch import main as batch_main  # a folder of motion files

        return batch_main(argv, convert_one=main)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not any((args.blend, args.fbx, args.bvh, args.glb, args.preview)):
        parser.print_usage(sys.stderr)
        return _fail(EXIT_USAGE, "nothing to write: give --blend, --fbx, --bvh, --glb and/or "
                                 "--preview")
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
    from .bpy_compat import shut_down_cleanly_at_exit

    shut_down_cleanly_at_exit()   # bpy 4.2 would crash (4.5 hang) at exit after a glTF export
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
    from . import export_files
    from .preview import PreviewOptions, render_preview

    try:
        if args.fbx:
            print(f"wrote {export_files.write_fbx(Path(args.fbx))}")
        if args.bvh:
            for path in export_files.write_bvh(Path(args.bvh), result.armatures,
                                               up=args.bvh_up):
                print(f"wrote {path}")
        if args.glb:
            for path in export_files.write_glb(Path(args.glb), result.armatures):
                print(f"wrote {path}")
        if args.preview:
            render_preview(Path(args.preview), PreviewOptions(args.preview_width,
                                                              args.preview_frames))
            print(f"wrote {args.preview}")
        if args.blend:
            print(f"wrote {export_files.save_blend(Path(args.blend))}")
    except (OSError, RuntimeError) as exc:   # export_files.ExportError is a RuntimeError
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
        report = retarget(bpy.context, source, target, RetargetOptions(
            preset=args.preset, clavicle_limit_deg=args.clavicle_limit))
    except Exception as exc:  # the retargeter's own errors carry the user-facing message
        return _fail(EXIT_BAD_INPUT, f"retarget failed: {exc}")
    action = getattr(report, "action_name", "")
    print(f"retargeted {source.name} onto {target.name}" + (f" (action {action})" if action else ""))
    for w in getattr(report, "warnings", ()):
        print(f"warning: {w}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
