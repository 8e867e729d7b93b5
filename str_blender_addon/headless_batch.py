"""Headless batch import: a folder of motion files -> one .blend and/or FBX (and/or BVH) each.

    python -m str_blender_addon.headless --batch IN_DIR -o OUT_DIR [--formats blend,fbx,bvh]
        [--skip-existing] [--bake off|gentle|moderate|firm] [--smpl-dir DIR] [--no-mesh] [--no-camera]
        [--fps-mode ...] [--start-frame N]

Every ``*.npz`` below IN_DIR (hidden files and folders skipped; e.g. the motion files of a
``batch`` capture) goes through the single-file headless import (``headless.main``, the same
builders and atomic writes as the UI) in this one process, a fresh empty scene each time:
``IN_DIR/a/b.mp4.npz`` -> ``OUT_DIR/a/b.mp4.blend`` / ``.fbx`` / ``.bvh``. A file that fails is
reported and the others go on. ``--skip-existing`` leaves files whose outputs all exist and are
newer than the motion file. One line per file on stdout (``ok``/``failed (code)``/``skipped``)
and a summary; exit code 0 when every file converted, otherwise the first failure's code.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

FORMATS: tuple[str, ...] = ("blend", "fbx", "bvh")
EXIT_OK, EXIT_USAGE = 0, 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m str_blender_addon.headless --batch",
        description="Convert a folder of STR Mocap motion files to .blend/FBX/BVH files.")
    p.add_argument("--batch", type=Path, required=True, metavar="IN_DIR",
                   help="folder searched recursively for motion files (.npz)")
    p.add_argument("-o", "--out", type=Path, required=True, metavar="OUT_DIR")
    p.add_argument("--formats", default="blend",
                   help="comma-separated output formats: blend, fbx, bvh (default blend)")
    p.add_argument("--skip-existing", action="store_true",
                   help="skip files whose outputs exist and are newer than the motion file")
    p.add_argument("--bake", choices=("off", "gentle", "moderate", "firm"), default="off",
                   help="smoothing bake of the imported keys (bake.BAKE_PRESETS)")
    p.add_argument("--smpl-dir", default="")
    p.add_argument("--fps-mode", choices=("MATCH_VIDEO", "KEEP_SCENE"), default="MATCH_VIDEO")
    p.add_argument("--start-frame", type=int, default=1)
    p.add_argument("--no-mesh", action="store_true")
    p.add_argument("--no-camera", action="store_true")
    return p


def motion_files(folder: Path) -> list[Path]:
    """``*.npz`` below ``folder``, sorted, hidden entries skipped."""
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(root) / f for f in sorted(files)
                     if f.lower().endswith(".npz") and not f.startswith("."))
    return found


def output_stem(motion: Path, in_dir: Path, out_dir: Path) -> Path:
    """``IN_DIR/a/b.mp4.npz`` -> ``OUT_DIR/a/b.mp4`` (the format's suffix is appended)."""
    relative = motion.relative_to(in_dir)
    return out_dir / relative.parent / relative.name[: -len(".npz")]


def _up_to_date(motion: Path, outputs: list[Path]) -> bool:
    mtime = motion.stat().st_mtime
    return all(p.is_file() and p.stat().st_mtime >= mtime for p in outputs)


def _file_argv(args: argparse.Namespace, motion: Path, stem: Path,
               formats: list[str]) -> list[str]:
    argv = [str(motion)]
    for fmt in formats:
        argv += [f"--{fmt}", f"{stem}.{fmt}"]
    argv += ["--bake", args.bake, "--fps-mode", args.fps_mode,
             "--start-frame", str(args.start_frame)]
    if args.smpl_dir:
        argv += ["--smpl-dir", args.smpl_dir]
    if args.no_mesh:
        argv.append("--no-mesh")
    if args.no_camera:
        argv.append("--no-camera")
    return argv


def _outputs(stem: Path, formats: list[str]) -> list[Path]:
    # BVH files of several people get a _track<ID> suffix; the plain name is what --skip-existing
    # can check only for one person, so BVH alone never counts as up to date
    return [Path(f"{stem}.{fmt}") for fmt in formats if fmt != "bvh"]


def main(argv: list[str], convert_one: Callable[[list[str]], int]) -> int:
    """Convert every motion file below ``--batch`` with ``convert_one`` (``headless.main``,
    passed in by it: this module never imports headless, so there is no import circle)."""
    args = build_parser().parse_args(argv)
    formats = [f.strip().lower() for f in args.formats.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        print(f"error: --formats takes {', '.join(FORMATS)}; got {args.formats!r}", file=sys.stderr)
        return EXIT_USAGE
    in_dir, out_dir = args.batch.expanduser().absolute(), args.out.expanduser().absolute()
    if not in_dir.is_dir():
        print(f"error: not a folder: {args.batch}", file=sys.stderr)
        return EXIT_USAGE
    files = motion_files(in_dir)
    if not files:
        print(f"error: no motion files (.npz) in {in_dir}", file=sys.stderr)
        return EXIT_USAGE
    first_failure = EXIT_OK
    counts = {"ok": 0, "failed": 0, "skipped": 0}
    for motion in files:
        stem = output_stem(motion, in_dir, out_dir)
        relative = motion.relative_to(in_dir).as_posix()
        outputs = _outputs(stem, formats)
        if args.skip_existing and outputs and _up_to_date(motion, outputs):
            counts["skipped"] += 1
            print(f"skipped: {relative}", flush=True)
            continue
        try:
            code = convert_one(_file_argv(args, motion, stem, formats))
        except SystemExit as exc:  # argparse of the single-file import
            code = int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
        except Exception as exc:  # one bad file must not stop the others
            print(f"error: {relative}: {type(exc).__name__}: {exc}", file=sys.stderr)
            code = 1
        if code == EXIT_OK:
            counts["ok"] += 1
            print(f"ok: {relative}", flush=True)
        else:
            counts["failed"] += 1
            first_failure = first_failure or code
            print(f"failed ({code}): {relative}", flush=True)
    print(f"batch: {counts['ok']} converted, {counts['failed']} failed, "
          f"{counts['skipped']} skipped of {len(files)}", flush=True)
    return first_failure
