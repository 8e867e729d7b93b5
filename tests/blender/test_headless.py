"""Headless CLI in a real subprocess (plain python + bpy): .blend, FBX, BVH, preview MP4."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

ROOT = Path(__file__).resolve().parents[2]
VIDEO = ROOT / "assets" / "sample" / "two_people_backlit.mp4"


def _run(*args, timeout=240):
    return subprocess.run([sys.executable, "-m", "str_blender_addon.headless", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def two_person_file(tmp_path, helpers):
    arrays = helpers.synthetic_walk(45, 30.0, n_persons=2)
    header = helpers.make_header(arrays, video_name=VIDEO.name, video_path=str(VIDEO))
    return helpers.write_motion_file(tmp_path / "two.npz", arrays, header)


def test_blend_fbx_bvh_glb_preview(tmp_path, two_person_file, empty_scene, helpers):
    out = tmp_path / "out"
    proc = _run(two_person_file, "--blend", out / "scene.blend", "--fbx", out / "rigs.fbx",
                "--bvh", out / "motion.bvh", "--glb", out / "people.glb",
                "--preview", out / "preview.mp4",
                "--preview-frames", 4, "--preview-width", 240, "--bake", "gentle")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "rigs.fbx").stat().st_size > 50_000
    for tid in (3, 6):
        bvh = (out / f"motion_track{tid}.bvh").read_text()
        assert bvh.startswith("HIERARCHY") and "JOINT left_knee" in bvh
        assert "Frames: 45" in bvh
        offset = [float(v) for v in bvh.split("OFFSET")[1].split("\n")[0].split()]
        assert offset[1] > 0.5                                  # Y-up: the pelvis is up Y
        assert (out / f"people_track{tid}.glb").read_bytes()[:4] == b"glTF"
        assert f"wrote {out / f'motion_track{tid}.bvh'}" in proc.stdout
    clip = bpy.data.movieclips.load(str(out / "preview.mp4"))
    assert clip.frame_duration == 4 and tuple(clip.size) == (240, 136)
    frame = bpy.data.images.load(str(out / "preview.mp4"))
    pixels = np.empty(240 * 136 * 4, np.float32)
    frame.pixels.foreach_get(pixels)
    assert pixels.reshape(-1, 4)[:, :3].std() > 0.08          # rendered over the video
    assert not list(out.glob(".*tmp*"))                     # temp files were moved or removed
    bpy.ops.wm.open_mainfile(filepath=str(out / "scene.blend"))
    names = {o.name for o in bpy.data.objects}
    assert {"two_people_backlit_track3", "two_people_backlit_track6",
            "two_people_backlit_track3_body", "two_people_backlit_camera"} <= names
    assert {"two_people_backlit_track3_action", "two_people_backlit_track6_action"} <= {
        a.name for a in bpy.data.actions}
    arm = bpy.data.objects["two_people_backlit_track6"]
    assert arm.animation_data.action.name == "two_people_backlit_track6_action"
    assert arm["str_track_id"] == 6
    # the preview rendered from its own copy of the scene: the saved scene keeps the video's
    # size, its engine and frame range, and no preview leftovers
    render = bpy.context.scene.render
    assert (render.resolution_x, render.resolution_y) == (helpers.WIDTH, helpers.HEIGHT)
    assert render.resolution_percentage == 100
    assert render.engine != "BLENDER_WORKBENCH"
    assert bpy.context.scene.frame_end - bpy.context.scene.frame_start + 1 == 45
    assert [s.name for s in bpy.data.scenes] == [bpy.context.scene.name]
    assert "STR preview" not in bpy.data.worlds and "STR preview" not in bpy.data.node_groups


def test_exit_codes(tmp_path, two_person_file):
    assert _run(two_person_file).returncode == 2                         # nothing to write
    assert _run(two_person_file, "--blend", tmp_path / "a.blend",
                "--retarget", tmp_path / "t.blend").returncode == 2      # --armature missing
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file at all")
    proc = _run(bad, "--blend", tmp_path / "b.blend")
    assert proc.returncode == 3 and "corrupt" in proc.stderr
    assert not (tmp_path / "b.blend").exists()
    assert _run(tmp_path / "missing.npz", "--blend", tmp_path / "c.blend").returncode == 3
    blocker = tmp_path / "file_not_dir"
    blocker.write_text("x")
    proc = _run(two_person_file, "--no-mesh", "--blend", blocker / "d.blend")
    assert proc.returncode == 4, proc.stderr[-1000:]


_TYPING_CACHE_EXIT = """
import sys, typing
import bpy
import {module}
if {release}:
    from str_blender_addon.bpy_compat import shut_down_cleanly_at_exit
    shut_down_cleanly_at_exit()
typing.List[{module}.Keyframe]   # what Blender's glTF exporter does at import
sys.exit(3)
"""


def _exit_after_typing_cache(tmp_path, release: bool) -> subprocess.CompletedProcess:
    """A bpy process whose typing cache holds a class from a module that imports bpy (as the
    glTF exporter's ``typing.List[Keyframe]`` does), leaving with exit code 3."""
    (tmp_path / "holds_bpy.py").write_text("import bpy\n\n\nclass Keyframe:\n"
                                           "    def blender(self):\n        return bpy\n")
    code = _TYPING_CACHE_EXIT.format(module="holds_bpy", release=release)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path), str(ROOT)]))
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


def test_bpy_process_exits_with_its_code_after_typing_cached_a_bpy_class(tmp_path):
    """The cause of headless --glb ending in a crash (bpy 4.2: SIGSEGV, 139) or a hang (4.5):
    the typing cache kept the bpy module alive past Python's teardown. With
    ``shut_down_cleanly_at_exit`` (headless calls it) the process leaves with its own code."""
    assert _exit_after_typing_cache(tmp_path, release=True).returncode == 3
    if bpy.app.version[:2] == (4, 2):    # the failure it prevents (4.5 would hang instead)
        assert _exit_after_typing_cache(tmp_path, release=False).returncode == -11


def _retarget_rigs():
    """The rig generator of the retarget tests (tests/blender/retarget_rigs.py), by path."""
    import importlib.util

    if "retarget_rigs" in sys.modules:
        return sys.modules["retarget_rigs"]
    path = Path(__file__).with_name("retarget_rigs.py")
    spec = importlib.util.spec_from_file_location("retarget_rigs", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["retarget_rigs"] = module
    spec.loader.exec_module(module)
    return module


def test_retarget_onto_character_from_blend(tmp_path, two_person_file, empty_scene):
    rigs = _retarget_rigs()
    # what Blender's FBX importer makes of a Mixamo character: object rotated 90 degrees about
    # X and scaled 0.01, centimetre data, A-pose, rolled bones pointing anywhere
    spec = rigs.RigSpec(name="Hero", names=rigs.mixamo_names(), pose="A", cm_y_up=True,
                        tails="random", roll_seed=12)
    rigs.build_rig(empty_scene, spec)
    target_blend = tmp_path / "hero.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(target_blend), copy=True)
    out = tmp_path / "retargeted.blend"
    proc = _run(two_person_file, "--no-mesh", "--blend", out, "--retarget", target_blend,
                "--armature", "Hero", "--preset", "mixamo")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "onto Hero" in proc.stdout
    bpy.ops.wm.open_mainfile(filepath=str(out))
    hero = bpy.data.objects["Hero"]
    assert hero.animation_data is not None and hero.animation_data.action is not None
    source = bpy.data.objects[bpy.data.objects["Hero"]["str_retarget_source"]]
    worst = 0.0
    n = spec.names
    for frame in (1, 20, 45):          # upright and following: limb directions match (the legs
        bpy.context.scene.frame_set(frame)   # are foot-locked, so arms and neck are compared)
        for ta, tb, sa, sb in ((n["left_forearm"], n["left_hand"], "left_elbow", "left_wrist"),
                               (n["right_upperarm"], n["right_forearm"], "right_shoulder",
                                "right_elbow"), (n["neck"][0], n["head"], "neck", "head")):
            t = [np.array(hero.matrix_world @ hero.pose.bones[b].head) for b in (ta, tb)]
            s = [np.array(source.matrix_world @ source.pose.bones[b].head) for b in (sa, sb)]
            d1, d2 = t[1] - t[0], s[1] - s[0]
            cos = d1 @ d2 / np.linalg.norm(d1) / np.linalg.norm(d2)
            worst = max(worst, float(np.degrees(np.arccos(np.clip(cos, -1, 1)))))
    assert worst < 2.0, worst          # was ~77-90 degrees: the character lay on its back
    missing = _run(two_person_file, "--no-mesh", "--blend", tmp_path / "x.blend", "--retarget",
                   target_blend, "--armature", "Villain")
    assert missing.returncode == 3 and "Villain" in missing.stderr
    assert not (tmp_path / "x.blend").exists()
