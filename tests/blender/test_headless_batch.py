"""Headless batch import (a folder of motion files -> .blend + FBX each) in a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

bpy = pytest.importorskip("bpy")

ROOT = Path(__file__).resolve().parents[2]


def _run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "str_blender_addon.headless", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_folder_of_motion_files_to_blend_and_fbx(tmp_path, helpers, empty_scene):
    motions = tmp_path / "motions"
    (motions / "day2").mkdir(parents=True)
    for path, persons in ((motions / "a.mp4.npz", 1), (motions / "day2" / "b.mov.npz", 2)):
        arrays = helpers.synthetic_walk(12, 30.0, n_persons=persons)
        helpers.write_motion_file(path, arrays, helpers.make_header(arrays))
    (motions / "day2" / "broken.npz").write_bytes(b"not a zip")
    out = tmp_path / "out"
    proc = _run("--batch", motions, "-o", out, "--formats", "blend,fbx", "--no-mesh")
    assert proc.returncode == 3, proc.stdout + proc.stderr[-2000:]   # the broken file's code
    assert "ok: a.mp4.npz" in proc.stdout and "ok: day2/b.mov.npz" in proc.stdout
    assert "failed (3): day2/broken.npz" in proc.stdout
    assert "batch: 2 converted, 1 failed, 0 skipped of 3" in proc.stdout
    for stem in ("a.mp4", "day2/b.mov"):
        assert (out / f"{stem}.fbx").stat().st_size > 10_000
        assert (out / f"{stem}.blend").is_file()
    assert not (out / "day2" / "broken.blend").exists()
    assert not [p for p in out.rglob(".*") if p.is_file()]        # no temp files left
    bpy.ops.wm.open_mainfile(filepath=str(out / "day2" / "b.mov.blend"))
    armatures = [o for o in bpy.data.objects if o.type == "ARMATURE"]
    assert len(armatures) == 2 and all(a.animation_data.action for a in armatures)

    before = (out / "a.mp4.blend").stat().st_mtime_ns
    time.sleep(0.05)
    os.utime(motions / "day2" / "b.mov.npz")  # newer than its outputs: converted again
    again = _run("--batch", motions, "-o", out, "--formats", "blend,fbx", "--no-mesh",
                 "--skip-existing")
    assert "skipped: a.mp4.npz" in again.stdout and "ok: day2/b.mov.npz" in again.stdout
    assert (out / "a.mp4.blend").stat().st_mtime_ns == before


def test_batch_usage_errors(tmp_path):
    assert _run("--batch", tmp_path / "nope", "-o", tmp_path / "o").returncode == 2
    (tmp_path / "empty").mkdir()
    proc = _run("--batch", tmp_path / "empty", "-o", tmp_path / "o")
    assert proc.returncode == 2 and "no motion files" in proc.stderr
    assert _run("--batch", tmp_path, "-o", tmp_path / "o", "--formats", "obj").returncode == 2
