"""Import speed: bulk keyframe writing vs per-frame keyframe_insert (run with the bpy venv).

    python bench/import_speed.py [--frames 10000] [--slice 300]

Prints seconds to import FRAMES frames x 24 bones + root (reader + rig + bulk keys; no mesh or
camera) and ``ratio=`` = (per-frame keyframe_insert seconds per frame measured on a SLICE-frame
import, extrapolated linearly to FRAMES) / (bulk seconds). keyframe_insert grows faster than
linearly, so the extrapolation understates its real cost: the ratio is conservative.
Target: bulk import <= 2 s for 10,000 frames.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _helpers():
    spec = importlib.util.spec_from_file_location("str_test_motion",
                                                  ROOT / "tests" / "addon_core" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def per_frame_insert(context, motion, n_frames: int) -> float:
    """Import the first n_frames with pose_bone.keyframe_insert per frame; seconds."""
    import numpy as np

    from str_blender_addon.core.skeleton import SMPL_JOINT_NAMES, blender_pose_channels
    from str_blender_addon.rig_builder import build_smpl_armature, rest_matrices

    t0 = time.perf_counter()
    arm = build_smpl_armature(context, "insert_rig", motion.rest_joints[0])
    rest = rest_matrices(arm)
    quats, loc = blender_pose_channels(
        rest[:, :3, :3], np.asarray(arm["str_rest_offset"]), motion.global_orient[0, :n_frames],
        motion.body_pose[0, :n_frames], motion.transl[0, :n_frames])
    bones = [arm.pose.bones[n] for n in SMPL_JOINT_NAMES]
    for f in range(n_frames):
        for j, pb in enumerate(bones):
            pb.rotation_quaternion = quats[f, j].tolist()
            pb.keyframe_insert("rotation_quaternion", frame=1 + f)
        bones[0].location = loc[f].tolist()
        bones[0].keyframe_insert("location", frame=1 + f)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--slice", type=int, default=300)
    args = parser.parse_args()

    import bpy

    from str_blender_addon.core.motion_file import read_motion_file
    from str_blender_addon.importer import ImportOptions, import_motion

    h = _helpers()
    with tempfile.TemporaryDirectory() as tmp:
        arrays = h.synthetic_walk(args.frames, 30.0)
        path = h.write_motion_file(Path(tmp) / "long.npz", arrays, h.make_header(arrays))
        bpy.ops.wm.read_factory_settings(use_empty=True)
        t0 = time.perf_counter()
        result = import_motion(bpy.context, path,
                               ImportOptions(build_body_mesh=False, create_camera=False))
        bulk = time.perf_counter() - t0
        arm = result.armatures[0]
        bpy.context.scene.frame_set(args.frames)       # sanity: the last key evaluates
        assert arm.animation_data.action is not None

        motion = read_motion_file(path)
        bpy.ops.wm.read_factory_settings(use_empty=True)
        slice_s = per_frame_insert(bpy.context, motion, args.slice)
    per_frame = slice_s / args.slice
    extrapolated = per_frame * args.frames
    print(f"bpy {bpy.app.version_string}")
    print(f"bulk import: frames={args.frames} bones=24+root seconds={bulk:.3f} "
          f"target<=2s {'OK' if bulk <= 2.0 else 'MISSED'}")
    print(f"keyframe_insert: slice={args.slice} seconds={slice_s:.3f} "
          f"per_frame_ms={1000 * per_frame:.3f} extrapolated_seconds={extrapolated:.2f}")
    print(f"ratio={extrapolated / bulk:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
