"""Smoothing bake on a real imported rig: jitter drops, the motion stays, preview is read-only."""

from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from str_blender_addon import bpy_compat  # noqa: E402
from str_blender_addon.bake import (  # noqa: E402
    BakeError,
    BakeOptions,
    bake_smoothing,
    measure_jitter,
    preview_bake,
)
from str_blender_addon.core.rotations import y_up_to_z_up  # noqa: E402
from str_blender_addon.core.skeleton import SMPL_JOINT_NAMES  # noqa: E402
from str_blender_addon.importer import ImportOptions, import_motion  # noqa: E402


def _noisy_import(context, tmp_path, helpers, n=120):
    clean = helpers.synthetic_walk(n, 30.0)
    noisy = {k: v.copy() for k, v in clean.items()}
    rng = np.random.default_rng(1)
    noisy["body_pose"] += (0.03 * rng.standard_normal(noisy["body_pose"].shape)).astype(np.float32)
    noisy["global_orient"] += (0.02 * rng.standard_normal((1, n, 3))).astype(np.float32)
    noisy["transl"] += (0.01 * rng.standard_normal((1, n, 3))).astype(np.float32)
    noisy["joints3d"] = helpers.forward_kinematics(
        noisy["rest_joints"][0].astype(np.float64), noisy["global_orient"][0].astype(np.float64),
        noisy["body_pose"][0].astype(np.float64), noisy["transl"][0].astype(np.float64)
    )[None].astype(np.float32)
    path = helpers.write_motion_file(tmp_path / "noisy.npz", noisy, helpers.make_header(noisy))
    arm = import_motion(context, path, ImportOptions(build_body_mesh=False,
                                                     create_camera=False)).armatures[0]
    return arm, clean, noisy


def _heads(context, arm, frames):
    out = []
    for f in frames:
        context.scene.frame_set(int(f))
        out.append([list(arm.matrix_world @ arm.pose.bones[n].head) for n in SMPL_JOINT_NAMES])
    return np.array(out)


def _values(arm):
    return [tuple(kp.co) for fc in bpy_compat.action_fcurves(arm) for kp in fc.keyframe_points]


def test_measure_jitter_matches_blender_evaluation(empty_scene, tmp_path, helpers):
    arm, _, noisy = _noisy_import(empty_scene, tmp_path, helpers, n=40)
    heads = _heads(empty_scene, arm, range(1, 41))
    expected = np.linalg.norm(np.diff(heads, 2, axis=0), axis=-1).mean() * 1000
    assert measure_jitter(arm) == pytest.approx(expected, rel=1e-3)


@pytest.mark.parametrize("method", ["GAUSSIAN", "BUTTERWORTH", "ONE_EURO"])
def test_bake_reduces_jitter_and_keeps_motion(empty_scene, tmp_path, helpers, method):
    arm, clean, noisy = _noisy_import(empty_scene, tmp_path, helpers)
    before_values = _values(arm)
    preview = preview_bake(arm, BakeOptions(method=method, strength=0.5))
    assert _values(arm) == before_values                     # preview leaves the scene alone
    assert not preview.baked and preview.jitter_before == pytest.approx(measure_jitter(arm))
    report = bake_smoothing(arm, BakeOptions(method=method, strength=0.5))
    assert report.baked and report.num_curves == 24 * 4 + 3
    assert report.jitter_after == pytest.approx(preview.jitter_after, rel=1e-4)
    assert report.ratio < 0.5, report
    assert measure_jitter(arm) == pytest.approx(report.jitter_after, rel=1e-3)
    frames = np.arange(10, 111, 10)
    baked = _heads(empty_scene, arm, frames + 1)
    target = y_up_to_z_up(clean["joints3d"][0, frames])
    noisy_target = y_up_to_z_up(noisy["joints3d"][0, frames])
    err_baked = np.linalg.norm(baked - target, axis=-1).mean()
    err_noisy = np.linalg.norm(noisy_target - target, axis=-1).mean()
    assert err_baked < 0.65 * err_noisy, (err_baked, err_noisy)
    worst_baked = np.linalg.norm(baked - target, axis=-1).max()
    worst_noisy = np.linalg.norm(noisy_target - target, axis=-1).max()
    assert worst_baked < 0.7 * worst_noisy, (worst_baked, worst_noisy)
    for pb in arm.pose.bones:                                # renormalised quaternions
        assert abs(np.linalg.norm(pb.rotation_quaternion) - 1) < 1e-5


def test_bake_options_and_object_checks(empty_scene, tmp_path, helpers):
    arm, _, _ = _noisy_import(empty_scene, tmp_path, helpers, n=20)
    with pytest.raises(BakeError, match="method"):
        bake_smoothing(arm, BakeOptions(method="MEDIAN"))
    with pytest.raises(BakeError, match="strength"):
        preview_bake(arm, BakeOptions(strength=2.0))
    bare = bpy.data.objects.new("bare", bpy.data.armatures.new("bare"))
    with pytest.raises(BakeError, match="no keyed"):
        measure_jitter(bare)
    rot_only = bake_smoothing(arm, BakeOptions(locations=False))
    assert rot_only.num_curves == 24 * 4
    with pytest.raises(BakeError, match="armature"):
        measure_jitter(None)
    body = bpy.data.objects.new("body", bpy.data.meshes.new("body"))
    body.parent = arm                                       # selecting the body bakes its rig
    assert measure_jitter(body) == pytest.approx(measure_jitter(arm))
