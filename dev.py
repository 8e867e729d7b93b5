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
import json
import os
import shutil
import subprocess
import sys
import time
import venv
from collections import deque
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SAMPLE = ROOT / "assets" / "sample" / "two_people_backlit.mp4"
OUT = ROOT / "out"
LOGS = OUT / "logs"
#: The Khronos glTF validator, installed by ``test`` and ``test-blender-matrix`` into this
#: ignored folder when npm exists.
GLTF_VALIDATOR = "gltf-validator@2.0.0-dev.3.10"
GLTF_DIR = ROOT / ".gl"
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


def ensure_venv(venv_dir: Path, requirements: list[str], quiet: bool = False) -> Path:
    """Create the venv if needed and install ``requirements`` into it; return its python.

    quiet: show a short progress line instead of pip's output (the full log goes to
    ``out/logs/pip.log`` and its tail is shown if pip fails)."""
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"Python 3.11 is required (Blender's Python); this is {sys.version.split()[0]}")
    python = venv_python(venv_dir)
    if not python.exists():
        print(f"creating {venv_dir.name}", flush=True)
        venv.EnvBuilder(with_pip=True).create(venv_dir)
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check"]
    if not quiet:
        run([*pip, "-q", *requirements])
        return python
    progress = PipProgress()
    code = run_logged([*pip, "--progress-bar", "off", *requirements], LOGS / "pip.log",
                      progress.line, merge_stderr=True)
    progress.finish(code)
    if code != 0:
        sys.exit(code)
    return python


class Status:
    """One status line: rewritten in place on a terminal, else printed at most every 10 s."""

    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()
        self.last = 0.0
        self.width = 0

    def show(self, text: str, force: bool = False) -> None:
        now = time.monotonic()
        if self.tty:
            pad = max(0, self.width - len(text))
            print("\r" + text + " " * pad, end="", flush=True)
            self.width = len(text)
        elif force or now - self.last >= 10.0:
            print(text, flush=True)
            self.last = now

    def done(self) -> None:
        if self.tty and self.width:
            print("\r" + " " * self.width + "\r", end="", flush=True)
        self.width = 0


class PipProgress:
    """Turns pip's output into one progress line: packages found, what is downloading."""

    def __init__(self) -> None:
        self.status = Status()
        self.collected = 0
        self.current = ""
        self.tail: deque[str] = deque(maxlen=40)
        self.start = time.monotonic()

    def line(self, text: str) -> None:
        self.tail.append(text)
        words = text.split()
        if text.startswith("Collecting ") and len(words) > 1:
            self.collected += 1
            self.current = f"resolving {words[1]}"
        elif text.lstrip().startswith("Downloading ") and len(words) > 1:
            name = words[1].rsplit("/", 1)[-1].split("-")[0]
            size = text[text.rfind("(") + 1:text.rfind(")")] if "(" in text else ""
            self.current = f"downloading {name} {size}".strip()
        elif text.startswith("Installing collected packages"):
            self.current = f"installing {len(text.split(':', 1)[1].split(','))} packages"
        else:
            return
        elapsed = time.monotonic() - self.start
        self.status.show(f"  pip: {self.collected} packages checked, {self.current} "
                         f"({elapsed:.0f} s)")

    def finish(self, code: int) -> None:
        self.status.done()
        if code != 0:
            print("pip failed; its last lines:", *self.tail, sep="\n  ", file=sys.stderr)
            print(f"full log: {LOGS / 'pip.log'}", file=sys.stderr)
        elif self.collected:
            print(f"  pip: {self.collected} packages checked, all installed "
                  f"({time.monotonic() - self.start:.0f} s)", flush=True)
        else:
            print("  pip: everything was already installed", flush=True)


def run_logged(cmd: list[str | Path], log: Path, on_line: Callable[[str], None],
               merge_stderr: bool = False, env: dict[str, str] | None = None) -> int:
    """Run ``cmd``; every stdout line goes to ``on_line`` and to ``log``; stderr goes to the
    log only (merged into the lines when ``merge_stderr``). Returns the exit code."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w", encoding="utf-8", errors="replace") as fh:
        fh.write("+ " + " ".join(str(c) for c in cmd) + "\n")
        fh.flush()
        proc = subprocess.Popen(
            [str(c) for c in cmd], cwd=ROOT, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else fh, text=True, encoding="utf-8",
            errors="replace", bufsize=1, env=env)
        assert proc.stdout is not None
        for raw in proc.stdout:
            fh.write(raw)
            on_line(raw.rstrip("\n"))
        return proc.wait()


def _tail(path: Path, n: int = 25) -> str:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join("  " + x for x in lines[-n:])


class Steps:
    """Numbered steps with elapsed time: ``with steps.step("Capture"): ...``."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.start = time.monotonic()
        self.index = 0

    def step(self, name: str):
        steps = self

        class _Step:
            def __enter__(self):
                steps.index += 1
                self.t0 = time.monotonic()
                print(f"\n[{steps.index}/{len(steps.names)}] {name}", flush=True)
                return self

            def __exit__(self, kind, exc, tb):
                took = time.monotonic() - self.t0
                total = time.monotonic() - steps.start
                mark = "done" if kind is None else "FAILED"
                print(f"    {mark} in {took:.1f} s (total {total:.0f} s)", flush=True)
                return False

        return _Step()


def cmd_demo(args: argparse.Namespace) -> None:
    """Set up, capture the clip, build the scene and exports; show steps, not tool noise
    (every tool's full output is kept in out/logs/)."""
    steps = Steps(["Set up", "Capture", "Build scene and exports", "Summary"])
    OUT.mkdir(exist_ok=True)
    with steps.step("Set up .venv (first run: about 3 GB to download and install)"):
        python = ensure_venv(ROOT / ".venv", ["-e", ".[backend,blender]"], quiet=True)
    motion = OUT / "sample.npz"
    with steps.step(f"Capture {Path(args.video).name}"):
        capture = CaptureProgress()
        code = run_logged([python, "-m", "inference_backend", "capture", args.video, "-o",
                           motion, "--max-people", "2", "--smoothing", "medium",
                           "--progress", "jsonl"], LOGS / "capture.log", capture.line)
        capture.finish()
        _stop_on_failure(code, LOGS / "capture.log")
    with steps.step("Build out/sample.blend, FBX, BVH, glTF and a preview video in Blender"):
        build = HeadlessProgress()
        code = run_logged([python, "-m", "str_blender_addon.headless", motion,
                           "--blend", OUT / "sample.blend", "--fbx", OUT / "sample.fbx",
                           "--bvh", OUT / "sample.bvh", "--glb", OUT / "sample.glb",
                           "--preview", OUT / "sample_preview.mp4"],
                          LOGS / "headless.log", build.line)
        build.status.done()
        _stop_on_failure(code, LOGS / "headless.log")
    with steps.step("Summary"):
        print_summary([motion, *build.written], capture)


class CaptureProgress:
    """Progress events (JSON lines) of ``capture --progress jsonl`` as one status line."""

    def __init__(self) -> None:
        self.status = Status()
        self.stage = ""
        self.result: dict = {}
        self.warnings: list[str] = []

    def line(self, text: str) -> None:
        try:
            event = json.loads(text)
        except ValueError:
            return
        if not isinstance(event, dict):
            return
        kind = event.get("event")
        if kind == "progress":
            stage, done, total = event.get("stage", ""), event.get("done", 0), event.get("total")
            changed = stage != self.stage
            if changed and self.stage:
                self.status.done()
            self.stage = stage
            count = f"{done}/{total}" if total else f"{done}"
            eta = event.get("eta")
            self.status.show(f"  {stage}: {count}" + (f", about {eta:.0f} s left" if eta
                                                      else ""), force=changed)
        elif kind == "warning":
            self.warnings.append(str(event.get("message", "")))
        elif kind == "result":
            self.result = event

    def finish(self) -> None:
        self.status.done()
        if self.result:
            print(f"  {self.result.get('persons')} people, {self.result.get('frames')} frames",
                  flush=True)
        for w in self.warnings:
            print(f"  warning: {w}", flush=True)


class HeadlessProgress:
    """The headless build's stdout: 'wrote PATH' lines are kept, rendered frames counted."""

    def __init__(self) -> None:
        self.status = Status()
        self.written: list[Path] = []
        self.frames = 0

    def line(self, text: str) -> None:
        if text.startswith("wrote "):
            self.written.append(Path(text[len("wrote "):].strip()))
            self.status.show(f"  wrote {self.written[-1].name}", force=True)
        elif text.startswith("Fra:"):
            frame = text.split()[0][4:]
            if frame.isdigit() and int(frame) > self.frames:
                self.frames = int(frame)
                self.status.show(f"  rendering the preview: frame {self.frames}")


def _stop_on_failure(code: int, log: Path) -> None:
    if code != 0:
        print(f"\nfailed (exit code {code}); the last lines of {log}:\n{_tail(log)}",
              file=sys.stderr)
        sys.exit(code)


def print_summary(paths: list[Path], capture: CaptureProgress) -> None:
    """The files written, with sizes and what each is for."""
    what = {".npz": "motion file (open in Blender: STR Mocap > Import Options > Import)",
            ".blend": "Blender scene: rigs, body meshes, camera over the video",
            ".fbx": "rigs and meshes with animation (game engines, Maya, MotionBuilder)",
            ".bvh": "motion only, Y-up (one file per person: NAME_track<ID>.bvh)",
            ".glb": "glTF binary per person: skinned body, armature, animation (web, engines)",
            ".mp4": "preview video: the rigs drawn over the footage"}
    print(f"  {len(paths)} files in {OUT}:")
    for p in paths:
        p = p if p.is_absolute() else ROOT / p
        size = p.stat().st_size if p.is_file() else 0
        try:
            shown = p.relative_to(ROOT)
        except ValueError:
            shown = p
        print(f"    {str(shown):<34} {size / 1e6:8.2f} MB  {what.get(p.suffix, '')}")
    print(f"  full tool output: {LOGS}")


def ensure_gltf_validator() -> None:
    """Install the Khronos glTF validator (npm) into .gl/ for the glTF export tests; without
    Node.js/npm those tests skip and say why."""
    if (GLTF_DIR / "node_modules" / "gltf-validator").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        print("note: Node.js/npm not found: the glTF validator tests will be skipped")
        return
    print(f"+ npm install --prefix .gl {GLTF_VALIDATOR}", flush=True)
    result = subprocess.run([npm, "install", "--prefix", str(GLTF_DIR), "--no-audit",
                             "--no-fund", "--loglevel=error", GLTF_VALIDATOR], cwd=ROOT)
    if result.returncode != 0:   # the glTF tests then fail and say how to install it
        print(f"warning: npm could not install {GLTF_VALIDATOR} (exit {result.returncode})")


def cmd_test(args: argparse.Namespace) -> None:
    python = ensure_venv(ROOT / ".venv", ["-e", ".[all]"])
    ensure_gltf_validator()
    run([python, "-m", "pytest", *args.pytest_args])


def cmd_test_blender_matrix(args: argparse.Namespace) -> None:
    ensure_gltf_validator()
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
