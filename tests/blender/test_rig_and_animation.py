"""Import a synthetic walk into real bpy and check evaluated bone heads against joints3d."""

from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from str_blender_addon.core.rotations import y_up_to_z_up  # noqa: E402
from str_blender_addon.core.skeleton import SMPL_JOINT_NAMES  # noqa: E402
from str_blender_addon.importer import ImportOptions, StrImportError, import_motion  # noqa: E402


def world_heads(context, arm) -> np.ndarray:
    """Evaluated pose-bone heads in world space (24,3) at the current frame."""
    mw = np.array(arm.matrix_world)
    heads = np.array([list(arm.pose.bones[n].head) + [1.0] for n in SMPL_JOINT_NAMES])
    return (mw @ heads.T).T[:, :3]


def _opts(**kw):
    base = dict(build_body_mesh=False, create_camera=False)
    base.update(kw)
    return ImportOptions(**base)


def test_bone_heads_match_joints3d(empty_scene, tmp_path, helpers):
    arrays = helpers.synthetic_walk(90, 30.0, n_persons=2)
    path = helpers.write_motion_file(tmp_path / "walk.npz", arrays, helpers.make_header(arrays))
    result = import_motion(empty_scene, path, _opts())
    scene = empty_scene.scene
    assert len(result.armatures) == 2
    assert scene.render.fps == 30 and scene.render.fps_base == pytest.approx(1.0)
    assert (scene.frame_start, scene.frame_end) == (1, 90)
    worst = 0.0
    for p, arm in enumerate(result.armatures):
        assert arm.name == f"walk_track{int(arrays['track_ids'][p])}"
        assert arm.animation_data.action.name == result.action_names[p]
        assert all(pb.rotation_mode == "QUATERNION" for pb in arm.pose.bones)
        for f in (0, 17, 45, 89):
            scene.frame_set(1 + f)
            expected = y_up_to_z_up(arrays["joints3d"][p, f])
            worst = max(worst, float(np.abs(world_heads(empty_scene, arm) - expected).max()))
    assert worst < 0.01, worst
    assert worst < 1e-4  # in practice float precision: the conversion is exact


def test_rest_pose_stands_on_floor_with_bone_names(empty_scene, walk_file):
    arm = import_motion(empty_scene, walk_file, _opts()).armatures[0]
    bones = arm.data.bones
    assert sorted(b.name for b in bones) == sorted(SMPL_JOINT_NAMES)
    heads = np.array([bones[n].head_local for n in SMPL_JOINT_NAMES])
    assert heads[:, 2].min() == pytest.approx(0.045, abs=1e-6)     # ball of the foot
    assert heads[15, 2] > 1.4                           # head joint up high, Z up
    assert bones["left_knee"].parent.name == "left_hip"
    # bone tails point at the child joint
    assert np.allclose(bones["left_hip"].tail_local, bones["left_knee"].head_local, atol=1e-6)
    assert arm["str_leg_length"] == pytest.approx(
        np.linalg.norm(heads[4] - heads[1]) / 2 + np.linalg.norm(heads[5] - heads[2]) / 2
        + np.linalg.norm(heads[7] - heads[4]) / 2 + np.linalg.norm(heads[8] - heads[5]) / 2,
        rel=1e-4)
    assert arm["str_track_id"] == 3 and arm["str_video"] == "walk.mp4"
    assert arm["str_motion_file"] == str(walk_file.resolve())


def test_contacts_and_valid_are_keyed(empty_scene, tmp_path, helpers):
    arrays = helpers.synthetic_walk(60, 30.0)
    arrays["valid"][0, 20:25] = False
    path = helpers.write_motion_file(tmp_path / "w.npz", arrays, helpers.make_header(arrays))
    arm = import_motion(empty_scene, path, _opts()).armatures[0]
    scene = empty_scene.scene
    for f in (5, 22, 40):
        scene.frame_set(1 + f)
        got = [arm["str_contact_left_ankle"], arm["str_contact_left_foot"],
               arm["str_contact_right_ankle"], arm["str_contact_right_foot"]]
        assert np.allclose(got, arrays["contacts"][0, f])
        assert arm["str_valid"] == (0.0 if 20 <= f < 25 else 1.0)


def test_keep_scene_24fps_exact_late_time(empty_scene, tmp_path, helpers):
    """30 fps file, sparse over 120 s, into a 24 fps scene: the pose at t=100 s lands exactly."""
    ts = np.concatenate([np.arange(0, 120, 0.5), [100.0 + 1 / 30]])
    ts = np.unique(ts)
    arrays = helpers.synthetic_walk(timestamps=ts)
    path = helpers.write_motion_file(tmp_path / "long.npz", arrays, helpers.make_header(arrays))
    scene = empty_scene.scene
    scene.render.fps, scene.render.fps_base = 24, 1.0
    arm = import_motion(empty_scene, path, _opts(fps_mode="KEEP_SCENE")).armatures[0]
    assert scene.render.fps == 24
    k = int(np.argmin(np.abs(ts - 100.0)))
    scene.frame_set(1 + 2400)                       # t = 100 s exactly at 24 fps
    expected = y_up_to_z_up(arrays["joints3d"][0, k])
    assert np.abs(world_heads(empty_scene, arm) - expected).max() < 1e-3


def test_match_video_ntsc_rate(empty_scene, tmp_path, helpers):
    fps = 30000 / 1001
    arrays = helpers.synthetic_walk(200, fps)
    header = helpers.make_header(arrays, fps=29.97)
    path = helpers.write_motion_file(tmp_path / "ntsc.npz", arrays, header)
    arm = import_motion(empty_scene, path, _opts(start_frame=10)).armatures[0]
    scene = empty_scene.scene
    assert (scene.render.fps, scene.render.fps_base) == (30, pytest.approx(1.001))
    assert scene.frame_start == 10 and scene.frame_end == 209
    scene.frame_set(10 + 199)
    expected = y_up_to_z_up(arrays["joints3d"][0, 199])
    assert np.abs(world_heads(empty_scene, arm) - expected).max() < 1e-4


def test_selected_person_and_bad_person(empty_scene, tmp_path, helpers):
    arrays = helpers.synthetic_walk(30, 30.0, n_persons=2)
    path = helpers.write_motion_file(tmp_path / "two.npz", arrays, helpers.make_header(arrays))
    res = import_motion(empty_scene, path, _opts(persons=(6,)))
    assert [a["str_track_id"] for a in res.armatures] == [6]
    n_objects = len(bpy.data.objects)
    with pytest.raises(StrImportError, match="available"):
        import_motion(empty_scene, path, _opts(persons=(99,)))
    assert len(bpy.data.objects) == n_objects
    empty = {k: (v[:0] if k in ("track_ids", "valid", "global_orient", "body_pose", "transl",
                                "betas", "rest_joints", "joints3d", "contacts", "confidence")
                 else v) for k, v in arrays.items()}
    path0 = helpers.write_motion_file(tmp_path / "nobody.npz", empty, helpers.make_header(empty))
    with pytest.raises(StrImportError, match="no people"):
        import_motion(empty_scene, path0, _opts())


def _evaluated_vertices(context, obj) -> np.ndarray:
    deps = context.evaluated_depsgraph_get()
    ev = obj.evaluated_get(deps)
    mesh = ev.to_mesh()
    co = np.empty(3 * len(mesh.vertices))
    mesh.vertices.foreach_get("co", co)
    ev.to_mesh_clear()
    mw = np.array(obj.matrix_world)
    co = co.reshape(-1, 3)
    return co @ mw[:3, :3].T + mw[:3, 3]


def test_generated_body_mesh_is_skinned_and_follows_the_rig(empty_scene, walk_file, helpers):
    res = import_motion(empty_scene, walk_file, ImportOptions(create_camera=False))
    arm, body = res.armatures[0], res.meshes[0]
    assert body.parent == arm and body["str_body"] == "generated"
    mods = [m for m in body.modifiers if m.type == "ARMATURE"]
    assert len(mods) == 1 and mods[0].object == arm
    assert sorted(g.name for g in body.vertex_groups) == sorted(SMPL_JOINT_NAMES)
    mesh = body.data
    assert len(mesh.vertices) > 2000 and len(mesh.polygons) > 2000
    sums = np.zeros(len(mesh.vertices))
    for v in mesh.vertices:
        sums[v.index] = sum(g.weight for g in v.groups)
    assert np.allclose(sums, 1.0, atol=2e-3)
    rest = np.array([v.co for v in mesh.vertices])
    assert 1.55 < rest[:, 2].max() - rest[:, 2].min() < 1.95      # a 1.7 m person
    assert -0.02 < rest[:, 2].min() < 0.02                           # soles on the floor
    torso_width = np.ptp(rest[(rest[:, 2] > 1.0) & (rest[:, 2] < 1.3)][:, 0])
    assert torso_width > 0.25                                        # a body, not sticks
    # deforms with the rig: the hand-ish vertices follow the left wrist bone
    wrist_group = body.vertex_groups["left_wrist"].index
    hand_idx = [v.index for v in mesh.vertices
                if any(g.group == wrist_group and g.weight > 0.99 for g in v.groups)]
    assert hand_idx
    scene = empty_scene.scene
    for f in (10, 60):
        scene.frame_set(f)
        verts = _evaluated_vertices(empty_scene, body)[hand_idx]
        wrist = np.array(arm.matrix_world @ arm.pose.bones["left_wrist"].head)
        assert np.linalg.norm(verts.mean(0) - wrist) < 0.08
    scene.frame_set(10)
    a = _evaluated_vertices(empty_scene, body)
    scene.frame_set(60)
    b = _evaluated_vertices(empty_scene, body)
    assert np.abs(a - b).max() > 0.3


def test_smpl_body_mesh_from_user_folder(empty_scene, tmp_path, helpers):
    rng = np.random.default_rng(0)
    n_v = 6890
    rest = helpers.TEMPLATE
    weights = np.zeros((n_v, 24))
    owner = np.arange(n_v) % 24
    weights[np.arange(n_v), owner] = 1.0
    v_template = rest[owner] + 0.02 * rng.standard_normal((n_v, 3))
    j_reg = np.zeros((24, n_v))
    for j in range(24):
        j_reg[j, owner == j] = 1.0 / np.sum(owner == j)
    idx = np.arange(13776)
    faces = np.stack([idx % n_v, (idx + 1) % n_v, (idx + 2) % n_v], 1)
    smpl_dir = tmp_path / "smpl"
    smpl_dir.mkdir()
    np.savez(smpl_dir / "SMPL_NEUTRAL.npz", v_template=v_template,
             shapedirs=0.01 * rng.standard_normal((n_v, 3, 10)),
             posedirs=np.zeros((n_v, 3, 207)), J_regressor=j_reg, weights=weights,
             kintree_table=np.stack([[-1] + helpers.PARENTS[1:], list(range(24))]),
             f=faces)
    arrays = helpers.synthetic_walk(30, 30.0)
    arrays["betas"][:] = 0.5
    path = helpers.write_motion_file(tmp_path / "s.npz", arrays, helpers.make_header(arrays))
    res = import_motion(empty_scene, path, ImportOptions(create_camera=False,
                                                         smpl_dir=str(smpl_dir)))
    body = res.meshes[0]
    assert body["str_body"] == "smpl" and not res.warnings
    assert len(body.data.vertices) == n_v and len(body.data.polygons) == 13776
    # regressed joints of the placed mesh sit on the armature's rest bone heads
    co = np.array([v.co for v in body.data.vertices])
    arm = res.armatures[0]
    heads = np.array([arm.data.bones[n].head_local for n in SMPL_JOINT_NAMES])
    assert np.abs(j_reg @ co - heads).max() < 1e-4


def test_failed_import_leaves_nothing_behind(empty_scene, tmp_path, helpers, monkeypatch):
    import str_blender_addon.camera_builder as camera_builder

    arrays = helpers.synthetic_walk(20, 30.0, n_persons=2)
    path = helpers.write_motion_file(tmp_path / "f.npz", arrays, helpers.make_header(arrays))

    def broken_camera(*args, **kwargs):
        raise RuntimeError("disk full while loading the clip")

    monkeypatch.setattr(camera_builder, "build_camera", broken_camera)
    scene = empty_scene.scene
    scene.render.fps, scene.frame_end = 24, 77
    with pytest.raises(RuntimeError, match="disk full"):
        import_motion(empty_scene, path, ImportOptions())
    assert (scene.render.fps, scene.frame_end) == (24, 77)        # scene settings restored
    assert len(bpy.data.objects) == 0 and len(bpy.data.actions) == 0
    assert len(bpy.data.armatures) == 0 and len(bpy.data.meshes) == 0
    assert len(bpy.data.materials) == 0


def test_import_smoothing_preset_bakes(empty_scene, tmp_path, helpers):
    from str_blender_addon.bake import measure_jitter

    arrays = helpers.synthetic_walk(60, 30.0)
    arrays["body_pose"] += np.random.default_rng(3).normal(
        0, 0.03, arrays["body_pose"].shape).astype(np.float32)
    path = helpers.write_motion_file(tmp_path / "n.npz", arrays, helpers.make_header(arrays))
    raw = import_motion(empty_scene, path, _opts()).armatures[0]
    smoothed = import_motion(empty_scene, path, _opts(bake="moderate")).armatures[0]
    assert measure_jitter(smoothed) < 0.5 * measure_jitter(raw)
    with pytest.raises(StrImportError, match="bake"):
        import_motion(empty_scene, path, _opts(bake="medium"))


def test_unusable_smpl_folder_falls_back_to_generated_body(empty_scene, tmp_path, helpers):
    import pickle

    smpl_dir = tmp_path / "smpl"
    smpl_dir.mkdir()
    marker = tmp_path / "executed"

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    (smpl_dir / "SMPL_NEUTRAL.pkl").write_bytes(pickle.dumps({"v_template": Evil()}))
    arrays = helpers.synthetic_walk(10, 30.0, n_persons=2)
    path = helpers.write_motion_file(tmp_path / "e.npz", arrays, helpers.make_header(arrays))
    res = import_motion(empty_scene, path, ImportOptions(create_camera=False,
                                                         smpl_dir=str(smpl_dir)))
    assert [m["str_body"] for m in res.meshes] == ["generated", "generated"]
    assert len([w for w in res.warnings if "refused" in w]) == 1     # once, not per person
    assert not marker.exists()


def test_keep_scene_keys_land_on_exact_fractional_frames(empty_scene, tmp_path, helpers):
    from str_blender_addon import bpy_compat

    arrays = helpers.synthetic_walk(31, 30.0)
    path = helpers.write_motion_file(tmp_path / "d.npz", arrays, helpers.make_header(arrays))
    scene = empty_scene.scene
    scene.render.fps, scene.render.fps_base = 24, 1.0
    arm = import_motion(empty_scene, path, _opts(fps_mode="KEEP_SCENE", start_frame=1)
                        ).armatures[0]
    curves = bpy_compat.action_fcurves(arm)
    assert len(curves) == 24 * 4 + 3 + 4 + 1
    xs = np.array([kp.co[0] for kp in curves[0].keyframe_points])
    assert np.allclose(xs, 1 + 24 * arrays["timestamps"], atol=1e-4)   # 1, 1.8, 2.6, ...
    assert scene.frame_end == 25 and all(
        kp.interpolation == "LINEAR" for kp in curves[5].keyframe_points)
    scene.frame_set(1, subframe=0.8)                                   # t = 1/30 s exactly
    expected = y_up_to_z_up(arrays["joints3d"][0, 1])
    assert np.abs(world_heads(empty_scene, arm) - expected).max() < 1e-4


def test_rig_and_mesh_hidden_outside_the_track(empty_scene, tmp_path, helpers):
    """Frames where the person is not valid (before the track starts, in a long gap, after it
    ends) show neither the rig nor its mesh, in the viewport or the render; valid frames do."""
    arrays = helpers.synthetic_walk(60, 30.0)
    valid = np.ones(60, bool)
    valid[:8] = False
    valid[30:36] = False
    valid[50:] = False
    arrays["valid"][0] = valid
    path = helpers.write_motion_file(tmp_path / "w.npz", arrays, helpers.make_header(arrays))
    result = import_motion(empty_scene, path, _opts(build_body_mesh=True))
    arm, mesh = result.armatures[0], result.meshes[0]
    scene = empty_scene.scene
    for f in range(60):
        scene.frame_set(1 + f)
        for obj in (arm, mesh):
            assert obj.hide_viewport == (not valid[f]), (obj.name, f)
            assert obj.hide_render == (not valid[f]), (obj.name, f)


def test_fully_valid_person_gets_no_visibility_keys(empty_scene, walk_file):
    from str_blender_addon import bpy_compat

    arm = import_motion(empty_scene, walk_file, _opts()).armatures[0]
    paths = {fc.data_path for fc in bpy_compat.action_fcurves(arm)}
    assert not paths & {"hide_viewport", "hide_render"}
    assert not arm.hide_viewport and not arm.hide_render
