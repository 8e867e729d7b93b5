#!/usr/bin/env python3
"""Developer bootstrap: one command to set up and run the main job, one to run the tests.

    python3 dev.py demo      # venv + backend + Blender module, capture the bundled clip,
                             # build out/sample.blend (+ preview) headlessly
    python3 dev.py test      # venv + everything, then the whole test suite
    python3 dev.py test-blender-matrix   # the whole add-on suite on bpy 4.2 LTS and 5.0

Works on Windows, macOS and Linux with Python 3.11 (Blender's Python version). Only the standard
library is used here; everything else is installed into ./.venv (or ./.venv-bpyXY).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SAMPLE = ROOT / "assets" / "sample" / "two_people_backlit.mp4"
OUT = ROOT / "out"
MATRIX = {"4.2": "bpy==4.2.23", "5.0": "bpy==5.0.1"}
#: Everything on the Blender side (no torch, no mediapipe): extension install, rigs, animation,
#: camera, bake, headless, UI registration, retargeting, and the bpy-free add-on core.
BLENDER_SIDE_TESTS = ["tests/addon_core", "tests/blender"]


def venv_python(venv_dir: Path) -> Path:
    """The interpreter inside a venv, on every platform."""
    if os.name == "nt":
        return venv_dir / "Scripts" / "python.exe"
    return venv_dir / "bin" / "python"


def run(cmd: list[str | Path], **kwargs) -> None:
    printable = " ".join(str(c) for c in cmd)
    print(f"+ {printable}", flush=True)
    result = subprocess.run([str(c) for c in cmd], cwd=ROOT, **kwargs)
    if result.returncode != 0:
        sys.exit(result.returncode)


def ensure_venv(venv_dir: Path, requirements: list[str]) -> Path:
    """Create the venv if needed and install ``requirements`` into it; return its python."""
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"Python 3.11 is required (Blender's Python); this is {sys.version.split()[0]}")
    python = venv_python(venv_dir)
    if not python.exists():
        print(f"creating {venv_dir.name}", flush=True)
        venv.EnvBuilder(with_pip=True).create(venv_dir)
    run([python, "-m", "pip", "install", "--disable-pip-version-check", "-q", *requirements])
    return python


def cmd_demo(args: argparse.Namespace) -> None:
    python = ensure_venv(ROOT / ".venv", ["-e", ".[backend,blender]"])
    OUT.mkdir(exist_ok=True)
    motion = OUT / "sample.npz"
    run([python, "-m", "inference_backend", "capture", args.video, "-o", motion,
         "--max-people", "2", "--smoothing", "medium"])
    run([python, "-m", "str_blender_addon.headless", motion, "--blend", OUT / "sample.blend",
         "--fbx", OUT / "sample.fbx", "--bvh", OUT / "sample.bvh",
         "--preview", OUT / "sample_preview.mp4"])
    print(f"\ndone: {motion}, {OUT / 'sample.blend'}, {OUT / 'sample_preview.mp4'}")


def cmd_test(args: argparse.Namespace) -> None:
    python = ensure_venv(ROOT / ".venv", ["-e", ".[all]"])
    run([python, "-m", "pytest", *args.pytest_args])


def cmd_test_blender_matrix(args: argparse.Namespace) -> None:
    for version in args.versions:
        tag = version.replace(".", "")
        python = ensure_venv(ROOT / f".venv-bpy{tag}",
                             [MATRIX[version], "numpy>=1.26,<2", "pytest>=8", "pytest-timeout"])
        env = dict(os.environ, PYTHONPATH=str(ROOT), STR_MOCAP_EXPECT_BPY=version)
        run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *BLENDER_SIDE_TESTS],
            env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="set up and capture the bundled sample clip")
    demo.add_argument("video", nargs="?", default=str(SAMPLE))
    demo.set_defaults(func=cmd_demo)
    test = sub.add_parser("test", help="set up and run the whole test suite")
    test.set_defaults(func=cmd_test)  # any further arguments go to pytest
    matrix = sub.add_parser("test-blender-matrix", help="the add-on test suite on bpy 4.2 and 5.0")
    matrix.add_argument("--versions", nargs="+", default=list(MATRIX), choices=list(MATRIX))
    matrix.set_defaults(func=cmd_test_blender_matrix)
    args, extra = parser.parse_known_args()
    if extra and args.command != "test":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.pytest_args = extra
    args.func(args)


if __name__ == "__main__":
    main()
