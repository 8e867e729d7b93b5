"""Render the README pictures of retargeting (Workbench, headless) into docs/images/.

One captured person (a synthetic walk written as a real motion file and loaded with the real
importer, generated body mesh) and three characters side by side, retargeted with
``retarget.retarget``: a Mixamo-named rig in A-pose with FBX-like centimetre/Y-up data and random bone rolls, an
Unreal UE5 rig with long legs, and a rig whose bones are called b0..b20 (hierarchy mapping,
long arms). Each character is drawn as one box per bone. Foot locking is off here: the synthetic walk's
contact flags do not match planted feet (the test suite checks foot locking on a motion whose
feet really are planted).

Usage: ``.venv/bin/python bench/retarget_pictures.py [--out docs/images]``
Writes ``retarget_walk_<frame>.png`` (PNG, RGB, 8 bit; each < 150 KB) and prints their sizes.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FRAMES = (8, 30, 52)


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def build_scene(tmp: Path):
    import bpy

    from str_blender_addon.importer import ImportOptions, import_motion
    from str_blender_addon.retarget import RetargetOptions, retarget

    motion = _load("str_test_motion", ROOT / "tests" / "addon_core" / "conftest.py")
    rigs = _load("retarget_rigs", ROOT / "tests" / "blender" / "retarget_rigs.py")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    context = bpy.context
    arrays = motion.synthetic_walk(60, 30.0, 1)
    path = motion.write_motion_file(tmp / "walk.npz", arrays, motion.make_header(arrays))
    result = import_motion(context, path, ImportOptions(create_camera=False))
    source = result.armatures[0]
    for mesh in result.meshes:
        mesh.color = (0.85, 0.62, 0.5, 1.0)
    specs = [
        (rigs.RigSpec("Mixamo", rigs.mixamo_names(), pose="A", cm_y_up=True,
                      location=(0.9, 0.0, 0.0), roll_seed=1), (0.25, 0.55, 0.85, 1.0)),
        (rigs.RigSpec("UE5", rigs.unreal_names(), leg_scale=1.3, location=(1.8, 0.0, 0.0),
                      roll_seed=2), (0.35, 0.7, 0.35, 1.0)),
        (rigs.RigSpec("Bones", rigs.unnamed_names(), arm_scale=1.35, scale=0.85,
                      location=(2.7, 0.0, 0.0), roll_seed=3), (0.75, 0.4, 0.75, 1.0)),
    ]
    for spec, color in specs:
        target = rigs.build_rig(context, spec)
        shapes = rigs.add_bone_shapes(context, target, radius=0.04, color=color)
        shapes.color = color
        t0 = time.perf_counter()
        report = retarget(context, source, target, RetargetOptions(foot_lock=False))
        print(f"{spec.name}: {report.method}, {report.frames} keys, root x{report.root_scale:.2f}"
              f", {time.perf_counter() - t0:.2f} s, warnings {list(report.warnings)}")
    bpy.ops.mesh.primitive_plane_add(size=30.0, location=(1.3, -1.5, 0.0))
    context.object.color = (0.82, 0.82, 0.8, 1.0)
    cam_data = bpy.data.cameras.new("cam")
    cam_data.lens = 40
    cam = bpy.data.objects.new("cam", cam_data)
    context.scene.collection.objects.link(cam)
    context.scene.camera = cam
    return context.scene, cam, source


def render(out_dir: Path) -> list[Path]:
    import bpy
    from mathutils import Vector

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        scene, cam, source = build_scene(Path(tmp))
        scene.render.engine = "BLENDER_WORKBENCH"
        shading = scene.display.shading
        shading.light = "STUDIO"
        shading.color_type = "OBJECT"
        shading.show_shadows = True
        shading.shadow_intensity = 0.4
        shading.show_cavity = False
        scene.render.resolution_x, scene.render.resolution_y = 640, 320
        scene.render.resolution_percentage = 100
        scene.render.film_transparent = False
        scene.world = scene.world or bpy.data.worlds.new("World")
        scene.world.color = (0.95, 0.95, 0.95)
        settings = scene.render.image_settings
        settings.file_format = "PNG"
        settings.color_mode = "RGB"
        settings.color_depth = "8"
        settings.compression = 100
        for frame in FRAMES:
            scene.frame_set(frame)
            pelvis = source.matrix_world @ source.pose.bones["pelvis"].head
            target = Vector((1.35, pelvis.y, 0.85))
            cam.location = target + Vector((1.6, -5.2, 0.7))
            cam.rotation_euler = (target - cam.location).to_track_quat("-Z", "Y").to_euler()
            path = out_dir / f"retarget_walk_{frame:02d}.png"
            scene.render.filepath = str(path)
            bpy.ops.render.render(write_still=True)
            written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    t0 = time.perf_counter()
    paths = render(args.out)
    for p in paths:
        print(f"{p.relative_to(ROOT) if p.is_relative_to(ROOT) else p}: "
              f"{p.stat().st_size / 1024:.0f} KB")
    print(f"total {time.perf_counter() - t0:.1f} s")
    sys.stdout.flush()
    import os

    os._exit(0 if all(p.stat().st_size < 150 * 1024 for p in paths) else 1)


if __name__ == "__main__":
    main()
