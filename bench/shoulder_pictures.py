"""Render the README picture of the clavicle limit (Workbench, headless) into docs/images/.

The CC0 anny body (``anny==0.6.2``, the ``bench`` extra; its model cache is built once under
``.cache/anny``, about 5 min) is skinned to its own MakeHuman skeleton
(``tests/blender/skinned_bodies.py``) and driven by a capture whose arms go straight up with the
collars carrying 105 degrees (``tests/blender/test_retarget_characters.py``), twice: with the
default clavicle limit (35 degrees) and with 0 (following the collars). Both are rendered from
the same camera and put side by side.

Usage: ``.venv/bin/python bench/shoulder_pictures.py [--out docs/images]``
Writes ``clavicle_limit_anny.png`` (PNG, RGB, 8 bit) and prints its size.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def render(out_dir: Path, tmp: Path) -> Path:
    import bpy
    from mathutils import Vector

    from str_blender_addon.importer import ImportOptions, import_motion
    from str_blender_addon.retarget import RetargetOptions, retarget

    sys.path.insert(0, str(ROOT / "tests" / "blender"))
    motion = _load("str_test_motion", ROOT / "tests" / "addon_core" / "conftest.py")
    bodies = _load("skinned_bodies", ROOT / "tests" / "blender" / "skinned_bodies.py")
    chars = _load("test_retarget_characters",
                  ROOT / "tests" / "blender" / "test_retarget_characters.py")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    context = bpy.context
    n = 12
    arrays = chars.standing_arrays(motion, n, chars.arms_overhead_pose(n), np.zeros(n))
    path = motion.write_motion_file(tmp / "overhead.npz", arrays, motion.make_header(arrays))
    source = import_motion(context, path, ImportOptions(build_body_mesh=False,
                                                        create_camera=False)).armatures[0]
    arm, mesh = bodies.anny_character(context, bodies.anny_cache_dir())
    scene = context.scene
    cam = bpy.data.objects.new("camera", bpy.data.cameras.new("camera"))
    scene.collection.objects.link(cam)
    scene.camera = cam
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.render.resolution_x = scene.render.resolution_y = 420
    scene.display.shading.light = "STUDIO"
    images = []
    for limit in (35.0, 0.0):
        retarget(context, source, arm, RetargetOptions(foot_lock=False,
                                                       clavicle_limit_deg=limit))
        scene.frame_set(n)
        neck = arm.matrix_world @ arm.pose.bones["neck01"].head
        cam.location = neck + Vector((0.45, -1.3, 0.15))
        cam.rotation_euler = (neck - cam.location).to_track_quat("-Z", "Y").to_euler()
        file = tmp / f"limit_{int(limit)}.png"
        scene.render.filepath = str(file)
        bpy.ops.render.render(write_still=True)
        img = bpy.data.images.load(str(file))
        px = np.array(img.pixels[:], np.float32).reshape(img.size[1], img.size[0], 4)
        images.append(px[::-1, :, :3])
    side = np.concatenate(images, axis=1)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "clavicle_limit_anny.png"
    img = bpy.data.images.new("side", side.shape[1], side.shape[0])
    rgba = np.concatenate([side[::-1], np.ones(side.shape[:2] + (1,), np.float32)], axis=2)
    img.pixels.foreach_set(rgba.ravel())
    img.filepath_raw = str(out)
    img.file_format = "PNG"
    img.save()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = render(args.out, Path(tmp))
    print(f"{out} {out.stat().st_size / 1024:.0f} KB")
    import os

    sys.stdout.flush()
    os._exit(0)   # bpy as a module can hang in its teardown


if __name__ == "__main__":
    sys.exit(main())
