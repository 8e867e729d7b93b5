"""Retargeting in real bpy: imported SMPL rigs (real importer, synthetic motion files) onto
generated Mixamo / Rigify / Unreal / VRM / MakeHuman / unnamed rigs; checked by Blender's own
evaluation of the baked actions (``scene.frame_set`` + pose-bone heads in world space)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import retarget_rigs as rigs  # noqa: E402

from str_blender_addon import bpy_compat  # noqa: E402
from str_blender_addon.core.retarget_math import contact_segments  # noqa: E402
from str_blender_addon.core.skeleton import FOOT_JOINT_HEIGHT  # noqa: E402
from str_blender_addon.importer import ImportOptions, import_motion  # noqa: E402
from str_blender_addon.retarget import (  # noqa: E402
    RetargetError,
    RetargetOptions,
    append_target_from_blend,
    retarget,
)

MAX_ANGLE_DEG = 2.0
SAMPLE_FRAMES = (1, 23, 47, 71, 90)
FAST_IMPORT = ImportOptions(build_body_mesh=False, create_camera=False)


def _import(context, helpers, tmp_path, arrays, name="walk.npz", options=FAST_IMPORT):
    path = helpers.write_motion_file(tmp_path / name, arrays, helpers.make_header(arrays))
    return import_motion(context, path, options).armatures


def march_arrays(helpers, n=90, fps=30.0, stand_first=True):
    """One person marching on the spot with sway and yaw (``stand_first``: after standing still
    in the rest pose for 0.3 s); the feet are planted (contact 1) whenever not lifted."""
    arrays = helpers.synthetic_walk(n, fps, 1)
    ts = arrays["timestamps"]
    rest = arrays["rest_joints"][0].astype(np.float64)
    start = 0.3 if stand_first else 0.0
    moving = np.clip((ts - start) / 0.3, 0.0, 1.0) if stand_first else np.ones_like(ts)
    phase = 2 * np.pi * 0.75 * np.clip(ts - start, 0.0, None)
    lift_l = np.maximum(0.0, np.sin(phase)) * moving
    lift_r = np.maximum(0.0, -np.sin(phase)) * moving
    pose = np.zeros((n, 23, 3))
    pose[:, 0, 0], pose[:, 3, 0] = -0.9 * lift_l, 1.5 * lift_l + 0.25 * moving
    pose[:, 1, 0], pose[:, 4, 0] = -0.9 * lift_r, 1.5 * lift_r + 0.25 * moving
    pose[:, 15, 2], pose[:, 16, 2] = -1.1 * moving, 1.1 * moving
    pose[:, 17, 1] = 0.5 * np.sin(phase) * moving
    go = np.zeros((n, 3))
    go[:, 1] = 0.2 * np.sin(0.5 * phase)
    transl = np.zeros((n, 3))
    transl[:, 0] = 0.06 * np.sin(phase) * moving
    transl[:, 1] = FOOT_JOINT_HEIGHT - rest[:, 1].min() - 0.03 * moving
    planted_l = (lift_l < 0.02).astype(np.float32)
    planted_r = (lift_r < 0.02).astype(np.float32)
    arrays["global_orient"] = go[None].astype(np.float32)
    arrays["body_pose"] = pose[None].astype(np.float32)
    arrays["transl"] = transl[None].astype(np.float32)
    arrays["joints3d"] = helpers.forward_kinematics(rest, go, pose, transl)[None].astype(
        np.float32)
    arrays["contacts"] = np.stack([planted_l, planted_l, planted_r, planted_r], -1)[None]
    return arrays


def world_head(obj, bone: str) -> np.ndarray:
    return np.array(obj.matrix_world @ obj.pose.bones[bone].head)


def rest_head(obj, bone: str) -> np.ndarray:
    return np.array(obj.matrix_world @ obj.data.bones[bone].head_local)


def angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    c = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def spine_checks(names: dict, mapped: dict[str, str]):
    """[(target a, target b, expected source (joint, next joint, fraction u0, u1))]: each target
    spine bone must follow the part of SMPL spine1->spine2->spine3->neck covering the same
    fraction of the chain (by the target's rest lengths for a spread chain, 1:1 for three
    explicitly mapped bones)."""
    spine = list(names["spine"])
    chain = spine + [list(names["neck"])[0]]
    out = []
    if all(mapped.get(b, "").startswith("spine") and mapped[b] != "spine" for b in spine):
        for i, b in enumerate(spine):
            j = mapped[b]
            nxt = {"spine1": "spine2", "spine2": "spine3", "spine3": "neck"}[j]
            out.append((b, chain[i + 1], (j, nxt, None)))
    else:
        assert all(mapped[b] == "spine" for b in spine)
        out.append(("__spread__", chain, None))
    return out


def spread_spine_error(src, tgt, chain) -> float:
    src_names = ["spine1", "spine2", "spine3", "neck"]
    rest_t = np.array([rest_head(tgt, b) for b in chain])
    rest_s = np.array([rest_head(src, b) for b in src_names])
    cut_t = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(rest_t, axis=0), axis=1))])
    cut_s = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(rest_s, axis=0), axis=1))])
    cut_t, cut_s = cut_t / cut_t[-1], cut_s / cut_s[-1]
    now_s = np.array([world_head(src, b) for b in src_names])
    worst = 0.0
    for i in range(len(chain) - 1):
        ends = []
        for u in (cut_t[i], cut_t[i + 1]):
            k = min(int(np.searchsorted(cut_s, u, side="right")) - 1, 2)
            a = (u - cut_s[k]) / (cut_s[k + 1] - cut_s[k])
            ends.append(now_s[k] * (1 - a) + now_s[k + 1] * a)
        t_dir = world_head(tgt, chain[i + 1]) - world_head(tgt, chain[i])
        worst = max(worst, angle_deg(t_dir, ends[1] - ends[0]))
    return worst


CASES = {
    "mixamo": (rigs.RigSpec("Mixamo", rigs.mixamo_names("mixamorig1:"), pose="A", cm_y_up=True,
                            tails="random", roll_seed=1), "preset:mixamo"),
    "rigify": (rigs.RigSpec("RigifyRig", rigs.rigify_names(), leg_scale=1.3, roll_seed=2),
               "preset:rigify"),
    "unreal": (rigs.RigSpec("UE5", rigs.unreal_names(), scale=1.1, tails="random",
                            roll_seed=3, cm_y_up=True), "preset:unreal"),
    "vrm": (rigs.RigSpec("VRoid", rigs.vrm_names(), scale=0.8, pose="A", roll_seed=4),
            "preset:vrm"),
    "makehuman": (rigs.RigSpec("MakeHuman", rigs.makehuman_names(), arm_scale=1.4,
                               roll_seed=5), "preset:makehuman"),
    "unnamed": (rigs.RigSpec("Bones", rigs.unnamed_names(spine=4, neck=2), yaw_deg=90.0,
                             location=(1.5, 0.5, 0.0), roll_seed=6, arm_scale=1.25),
                "hierarchy"),
}


def worst_direction_error(context, src, tgt, names, mapped, frames=SAMPLE_FRAMES) -> float:
    """Largest angle (degrees) between a target limb/neck/spine direction and the source's,
    over ``frames``, evaluated by Blender."""
    n = names
    limbs = [(n[f"{s}_{a}"], n[f"{s}_{b}"], f"{s}_{j}", f"{s}_{k}")
             for s in ("left", "right")
             for a, b, j, k in (("upperarm", "forearm", "shoulder", "elbow"),
                                ("forearm", "hand", "elbow", "wrist"),
                                ("thigh", "shin", "hip", "knee"),
                                ("shin", "foot", "knee", "ankle"))]
    limbs.append((list(n["neck"])[0], n["head"], "neck", "head"))
    worst = 0.0
    for frame in frames:
        context.scene.frame_set(frame)
        for ta, tb, sa, sb in limbs:
            err = angle_deg(world_head(tgt, tb) - world_head(tgt, ta),
                            world_head(src, sb) - world_head(src, sa))
            worst = max(worst, err)
        for ta, tb, expected in spine_checks(n, mapped):
            if ta == "__spread__":
                worst = max(worst, spread_spine_error(src, tgt, tb))
            else:
                ja, jb, _ = expected
                worst = max(worst, angle_deg(world_head(tgt, tb) - world_head(tgt, ta),
                                             world_head(src, jb) - world_head(src, ja)))
    return worst


@pytest.mark.parametrize("case", list(CASES))
def test_target_bone_directions_follow_the_source(empty_scene, tmp_path, helpers, case):
    spec, method = CASES[case]
    (src,) = _import(empty_scene, helpers, tmp_path, helpers.synthetic_walk(90, 30.0, 1))
    tgt = rigs.build_rig(empty_scene, spec)
    report = retarget(empty_scene, src, tgt, RetargetOptions(foot_lock=False))
    assert report.method == method
    mapped = dict(report.mapped_bones)
    worst = worst_direction_error(empty_scene, src, tgt, spec.names, mapped)
    print(f"{case}: worst direction error {worst:.4f} deg")
    assert worst < MAX_ANGLE_DEG, f"{case}: worst direction error {worst:.3f} deg"
    # the bake: one new action, every source key, only mapped bones keyed
    action = tgt.animation_data.action
    assert action.name == report.action_name
    assert report.action_name.startswith(src.animation_data.action.name)
    src_frames = sorted({kp.co[0] for fc in bpy_compat.action_fcurves(src)
                         if fc.data_path.startswith("pose.bones") for kp in fc.keyframe_points})
    curves = bpy_compat.action_fcurves(tgt)
    keyed = {fc.data_path.split('"')[1] for fc in curves}
    assert keyed == set(mapped)
    for fc in curves:
        np.testing.assert_allclose([kp.co[0] for kp in fc.keyframe_points], src_frames,
                                   atol=1e-4)
    assert report.frames == len(src_frames) == 90
    assert set(report.unmapped_bones).isdisjoint(mapped)


#: Characters saved in their own .blend and appended, as a user's file would be: an FBX-style
#: Mixamo import (object rotated 90 degrees about X, scaled 0.01, data in centimetres, A-pose,
#: random rolls and bone axes), a centimetre Unreal rig moved and turned, a yawed MakeHuman rig.
APPENDED = {
    "fbx_mixamo": rigs.RigSpec("Armature", rigs.mixamo_names("mixamorig:"), pose="A",
                               cm_y_up=True, tails="random", roll_seed=21),
    "unreal_cm_moved": rigs.RigSpec("SK_Mannequin", rigs.unreal_names(), cm_y_up=True,
                                    yaw_deg=-30.0, location=(1.0, 2.0, 0.0), roll_seed=22),
    "makehuman_yawed": rigs.RigSpec("MH", rigs.makehuman_names(), pose="A", yaw_deg=150.0,
                                    roll_seed=23),
}


@pytest.mark.parametrize("case", list(APPENDED))
def test_characters_appended_from_blend_files_follow_the_source(empty_scene, tmp_path,
                                                                 helpers, case):
    """The rig comes from another .blend through ``append_target_from_blend`` (the headless
    ``--retarget`` path): its object transform must be read after the append (issue: an FBX
    Mixamo rig came out rotated by its object's 90 degrees, lying on its back)."""
    spec = APPENDED[case]
    character = tmp_path / f"{case}.blend"
    tgt = rigs.build_rig(empty_scene, spec)
    shapes = rigs.add_bone_shapes(empty_scene, tgt)
    bpy.data.libraries.write(str(character), {tgt, shapes})
    for obj in (shapes, tgt):
        bpy.data.objects.remove(obj)
    (src,) = _import(empty_scene, helpers, tmp_path, helpers.synthetic_walk(48, 30.0, 1))
    arm = append_target_from_blend(character, spec.name)
    report = retarget(empty_scene, src, arm, RetargetOptions(foot_lock=False))
    worst = worst_direction_error(empty_scene, src, arm, spec.names, dict(report.mapped_bones),
                                  frames=(1, 24, 48))
    print(f"appended {case}: worst direction error {worst:.4f} deg")
    assert worst < MAX_ANGLE_DEG, f"{case}: worst direction error {worst:.3f} deg"
    empty_scene.scene.frame_set(1)                 # and it stands upright on its own floor
    head = world_head(arm, spec.names["head"])
    toe = world_head(arm, spec.names["left_toe"])
    assert head[2] - toe[2] > 1.0 * spec.scale, (head, toe)


def _drifts(context, src_contacts, tgt, foot_bone, column):
    planted = src_contacts[:, column] >= 0.5
    out = []
    for a, b in contact_segments(planted):
        pos = []
        for f in range(a, b + 1):
            context.scene.frame_set(1 + f)
            pos.append(world_head(tgt, foot_bone))
        pos = np.array(pos)
        out.append(float(np.linalg.norm(pos - pos.mean(0), axis=1).max()))
    return out


def test_foot_lock_keeps_planted_feet_still(empty_scene, tmp_path, helpers):
    arrays = march_arrays(helpers, stand_first=False)
    (src,) = _import(empty_scene, helpers, tmp_path, arrays)
    spec = rigs.RigSpec("Mixamo", rigs.mixamo_names(), leg_scale=1.25, arm_scale=0.9,
                        pose="A", roll_seed=8)
    contacts = arrays["contacts"][0]
    names = spec.names
    results = {}
    for lock in (False, True):
        tgt = rigs.build_rig(empty_scene, spec)
        report = retarget(empty_scene, src, tgt, RetargetOptions(foot_lock=lock))
        assert not [w for w in report.warnings if "reach" in w]
        results[lock] = (_drifts(empty_scene, contacts, tgt, names["left_foot"], 0)
                         + _drifts(empty_scene, contacts, tgt, names["right_foot"], 2))
        print(f"foot lock {lock}: max drift while planted {max(results[lock]) * 100:.2f} cm")
        assert (report.locked_keys > 0) == lock
        bpy.data.objects.remove(tgt)
    assert len(results[True]) >= 4
    assert max(results[True]) < 0.01, results[True]        # < 1 cm while planted
    assert max(results[False]) > 0.02, results[False]      # the lock is what keeps them


def test_feet_meet_the_floor_when_the_source_stands(empty_scene, tmp_path, helpers):
    (src,) = _import(empty_scene, helpers, tmp_path, march_arrays(helpers))
    for spec in (rigs.RigSpec("Tall", rigs.vrm_names(), scale=1.15, leg_scale=1.2),
                 rigs.RigSpec("Small", rigs.unreal_names(), scale=0.7, cm_y_up=True,
                              location=(2.0, 0.0, 0.0))):
        tgt = rigs.build_rig(empty_scene, spec)
        retarget(empty_scene, src, tgt, RetargetOptions(foot_lock=False))
        empty_scene.scene.frame_set(1)
        for side in ("left", "right"):
            for role in ("foot", "toe"):
                bone = spec.names[f"{side}_{role}"]
                z_now = world_head(tgt, bone)[2]
                z_rest = rest_head(tgt, bone)[2]
                assert abs(z_now - z_rest) < 0.005, (spec.name, bone, z_now, z_rest)


@pytest.mark.parametrize("scale_root", [True, False])
def test_root_travel_scales_with_leg_length(empty_scene, tmp_path, helpers, scale_root):
    (src,) = _import(empty_scene, helpers, tmp_path, helpers.synthetic_walk(90, 30.0, 1))
    spec = rigs.RigSpec("Long", rigs.mixamo_names(), scale=0.9, leg_scale=1.35, roll_seed=9,
                        cm_y_up=True)
    tgt = rigs.build_rig(empty_scene, spec)
    report = retarget(empty_scene, src, tgt, RetargetOptions(foot_lock=False,
                                                             scale_root=scale_root))
    n = spec.names

    def leg(obj, hip, knee, ankle):
        h, k, a = (rest_head(obj, b) for b in (hip, knee, ankle))
        return np.linalg.norm(k - h) + np.linalg.norm(a - k)

    tgt_leg = np.mean([leg(tgt, n[f"{s}_thigh"], n[f"{s}_shin"], n[f"{s}_foot"])
                       for s in ("left", "right")])
    src_leg = np.mean([leg(src, f"{s}_hip", f"{s}_knee", f"{s}_ankle")
                       for s in ("left", "right")])
    expected = tgt_leg / src_leg if scale_root else 1.0
    assert abs(tgt_leg / src_leg - 1.0) > 0.2           # the proportions really differ
    pos = {}
    for frame in (1, 90):
        empty_scene.scene.frame_set(frame)
        pos[frame] = (world_head(src, "pelvis"), world_head(tgt, n["hips"]))
    travel_src = np.linalg.norm((pos[90][0] - pos[1][0])[:2])
    travel_tgt = np.linalg.norm((pos[90][1] - pos[1][1])[:2])
    assert travel_src > 2.0
    assert abs(travel_tgt / travel_src / expected - 1.0) < 0.02
    assert abs(report.root_scale / expected - 1.0) < 0.02


def test_fractional_source_frames_are_kept(empty_scene, tmp_path, helpers):
    empty_scene.scene.render.fps = 24
    options = ImportOptions(build_body_mesh=False, create_camera=False, fps_mode="KEEP_SCENE")
    (src,) = _import(empty_scene, helpers, tmp_path, helpers.synthetic_walk(30, 30.0, 1),
                     options=options)
    src_frames = sorted({kp.co[0] for fc in bpy_compat.action_fcurves(src)
                         if fc.data_path.startswith("pose.bones") for kp in fc.keyframe_points})
    assert any(abs(f - round(f)) > 0.1 for f in src_frames)
    tgt = rigs.build_rig(empty_scene, rigs.RigSpec("VRoid", rigs.vrm_names()))
    report = retarget(empty_scene, src, tgt, RetargetOptions())
    for fc in bpy_compat.action_fcurves(tgt):
        np.testing.assert_allclose([kp.co[0] for kp in fc.keyframe_points], src_frames,
                                   atol=1e-4)
    assert report.frame_start == pytest.approx(src_frames[0])
    assert report.frame_end == pytest.approx(src_frames[-1])


def test_bad_inputs_raise_and_leave_the_target_untouched(empty_scene, tmp_path, helpers):
    (src,) = _import(empty_scene, helpers, tmp_path, helpers.synthetic_walk(20, 30.0, 1))
    arm = bpy.data.armatures.new("Stick")
    stick = bpy.data.objects.new("Stick", arm)
    empty_scene.collection.objects.link(stick)
    empty_scene.view_layer.objects.active = stick
    bpy.ops.object.mode_set(mode="EDIT")
    a = arm.edit_bones.new("a")
    a.head, a.tail = (0, 0, 0), (0, 0, 1)
    b = arm.edit_bones.new("b")
    b.head, b.tail, b.parent = (0, 0, 1), (0, 0, 2), a
    bpy.ops.object.mode_set(mode="OBJECT")
    with pytest.raises(RetargetError, match="cannot map 'Stick'"):
        retarget(empty_scene, src, stick, RetargetOptions())
    assert stick.animation_data is None
    with pytest.raises(RetargetError, match="does not cover"):
        retarget(empty_scene, src, stick, RetargetOptions(preset="mixamo"))
    with pytest.raises(RetargetError, match="not an STR"):
        retarget(empty_scene, stick, src, RetargetOptions())
    tgt = rigs.build_rig(empty_scene, rigs.RigSpec("Mixamo", rigs.mixamo_names()))
    with pytest.raises(RetargetError, match="unknown sources"):
        retarget(empty_scene, src, tgt, RetargetOptions(bone_map={"mixamorig:Hips": "root"}))
    src.animation_data.action = None
    with pytest.raises(RetargetError, match="no action"):
        retarget(empty_scene, src, tgt, RetargetOptions())
    assert tgt.animation_data is None


def test_append_target_from_blend(empty_scene, tmp_path):
    tgt = rigs.build_rig(empty_scene, rigs.RigSpec("Hero", rigs.mixamo_names()))
    shapes = rigs.add_bone_shapes(empty_scene, tgt)
    other = bpy.data.objects.new("Unrelated", bpy.data.meshes.new("UnrelatedMesh"))
    empty_scene.collection.objects.link(other)
    path = tmp_path / "hero.blend"
    bpy.data.libraries.write(str(path), {tgt, shapes, other})
    bpy.ops.wm.read_factory_settings(use_empty=True)
    with pytest.raises(RetargetError, match="'Villain' is not an object"):
        append_target_from_blend(path, "Villain")
    with pytest.raises(RetargetError, match="not found"):
        append_target_from_blend(tmp_path / "missing.blend", "Hero")
    arm = append_target_from_blend(path, "Hero")
    scene_objects = {o.name for o in bpy.context.scene.objects}
    assert arm.type == "ARMATURE" and arm.name in scene_objects
    assert shapes_name(arm) in scene_objects
    assert "Unrelated" not in bpy.data.objects
    assert "UnrelatedMesh" not in bpy.data.meshes          # nothing appended then orphaned
    assert len(arm.data.bones) == len(tgt_bone_names())


def shapes_name(arm) -> str:
    return next(o.name for o in bpy.data.objects if o.parent == arm)


def tgt_bone_names() -> list[str]:
    spec = rigs.RigSpec("x", rigs.mixamo_names())
    return [b[0] for b in rigs.joint_layout(spec)]


def test_panel_operators_bake_every_person_and_save_a_preset(addon, tmp_path, helpers):
    from str_blender_addon import retarget_ui

    context = bpy.context
    assert "UNDO" in retarget_ui.STRMOCAP_OT_retarget_bake.bl_options
    assert retarget_ui.STRMOCAP_PT_retarget.bl_parent_id == "STRMOCAP_PT_main"
    srcs = _import(context, helpers, tmp_path, helpers.synthetic_walk(40, 30.0, 2))
    targets = [rigs.build_rig(context, rigs.RigSpec("Mixamo", rigs.mixamo_names())),
               rigs.build_rig(context, rigs.RigSpec("UE5", rigs.unreal_names(),
                                                    location=(2, 0, 0)))]
    assert bpy.ops.strmocap.retarget_find_sources() == {"FINISHED"}
    settings = context.scene.strmocap_retarget
    assert [p.source.name for p in settings.persons] == sorted(s.name for s in srcs)
    for person, target in zip(settings.persons, targets, strict=True):
        person.target = target
    # edit the map of the second target: unmap its head
    settings.map_target = targets[1]
    assert bpy.ops.strmocap.retarget_load_map() == {"FINISHED"}
    items = {b.target: b for b in settings.bones}
    assert items["upperarm_l"].source == "left_shoulder"
    assert items["upperarm_twist_01_l"].source == retarget_ui.UNMAPPED
    items["head"].source = retarget_ui.UNMAPPED
    assert bpy.ops.strmocap.retarget_bake() == {"FINISHED"}
    for target in targets:
        curves = bpy_compat.action_fcurves(target)
        assert curves and all(len(fc.keyframe_points) == 40 for fc in curves)
    assert 'pose.bones["head"].rotation_quaternion' not in {
        fc.data_path for fc in bpy_compat.action_fcurves(targets[1])}
    assert 'pose.bones["mixamorig:Head"].rotation_quaternion' in {
        fc.data_path for fc in bpy_compat.action_fcurves(targets[0])}
    _check_panel_draw(retarget_ui.STRMOCAP_PT_retarget, context)
    settings.preset_name = "my ue"
    assert bpy.ops.strmocap.retarget_save_preset() == {"FINISHED"}
    saved = Path(os.environ["STR_MOCAP_USER_DIR"]) / "retarget_presets" / "my ue.json"
    assert saved.is_file()
    ids = [i[0] for i in retarget_ui._preset_items(settings, context)]
    assert "user:my ue" in ids
    settings.preset = "user:my ue"
    settings.use_edited_map = False
    settings.persons[0].target = None
    targets[1].animation_data.action = None
    assert bpy.ops.strmocap.retarget_bake() == {"FINISHED"}
    assert 'pose.bones["head"].rotation_quaternion' not in {
        fc.data_path for fc in bpy_compat.action_fcurves(targets[1])}


@pytest.fixture
def rigify_addon():
    """Blender's bundled Rigify add-on, enabled for one test and always disabled again."""
    import addon_utils

    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon_utils.enable("rigify", default_set=True)
    try:
        yield bpy.context
    finally:
        addon_utils.disable("rigify", default_set=True)
        bpy.ops.wm.read_factory_settings(use_empty=True)


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["auto", "names"])
def test_generated_rigify_rig_fk_controls(rigify_addon, tmp_path, helpers, preset):
    """A real rig generated by Rigify: FK controls under constraint-driven helper bones, so the
    bake goes through the depsgraph; the deforming DEF- bones must follow the source. 'By
    Names' must find the same controls (not DEF-/ORG-/MCH- bones) and switch IK to FK."""
    context = rigify_addon
    (src,) = _import(context, helpers, tmp_path, helpers.synthetic_walk(24, 30.0, 1))
    bpy.ops.object.armature_human_metarig_add()
    bpy.ops.pose.rigify_generate()
    rig = bpy.data.objects["rig"]
    for bone in ("upper_arm_parent.L", "thigh_parent.R"):
        rig.pose.bones[bone]["IK_FK"] = 0.0               # IK: the preset must switch to FK
    report = retarget(context, src, rig, RetargetOptions(preset=preset, foot_lock=False))
    assert report.method == ("preset:rigify" if preset == "auto" else "names")
    assert not [b for b, _ in report.mapped_bones if b.startswith(("DEF-", "ORG-", "MCH-"))]
    assert any("evaluating the rig" in w for w in report.warnings)
    assert rig.pose.bones["upper_arm_parent.L"]["IK_FK"] == 1.0
    assert rig.pose.bones["thigh_parent.R"]["IK_FK"] == 1.0
    pairs = [("DEF-upper_arm.L", "DEF-forearm.L", "left_shoulder", "left_elbow"),
             ("DEF-forearm.R", "DEF-hand.R", "right_elbow", "right_wrist"),
             ("DEF-thigh.L", "DEF-shin.L", "left_hip", "left_knee"),
             ("DEF-shin.R", "DEF-foot.R", "right_knee", "right_ankle"),
             ("DEF-spine.004", "DEF-spine.006", "neck", "head")]
    worst = spine = 0.0
    for frame in (1, 12, 24):
        context.scene.frame_set(frame)
        for ta, tb, sa, sb in pairs:
            worst = max(worst, angle_deg(world_head(rig, tb) - world_head(rig, ta),
                                         world_head(src, sb) - world_head(src, sa)))
        spine = max(spine, angle_deg(world_head(rig, "DEF-spine.004") -
                                     world_head(rig, "DEF-spine.001"),
                                     world_head(src, "neck") - world_head(src, "spine1")))
    print(f"generated Rigify: limbs/neck {worst:.4f} deg, spine chain {spine:.3f} deg")
    assert worst < MAX_ANGLE_DEG, worst
    # Rigify's spine below the torso pivot follows the hips, so the whole chain is looser
    assert spine < 3.0, spine


def test_rigify_metarig_by_names(rigify_addon, tmp_path, helpers):
    """Rigify's human metarig mapped 'By Names': spine..spine.006 read as pelvis, spine, neck
    and head (it used to fail with 'does not cover pelvis')."""
    context = rigify_addon
    (src,) = _import(context, helpers, tmp_path, helpers.synthetic_walk(24, 30.0, 1))
    bpy.ops.object.armature_human_metarig_add()
    meta = context.object
    report = retarget(context, src, meta, RetargetOptions(preset="names", foot_lock=False))
    mapped = dict(report.mapped_bones)
    assert mapped["spine"] == "pelvis" and mapped["spine.006"] == "head"
    assert mapped["spine.004"] == mapped["spine.005"] == "neck"
    assert "pelvis.L" not in mapped and mapped["thigh.L"] == "left_hip"
    worst = 0.0
    for frame in (1, 12, 24):
        context.scene.frame_set(frame)
        for ta, tb, sa, sb in (("upper_arm.L", "forearm.L", "left_shoulder", "left_elbow"),
                               ("shin.R", "foot.R", "right_knee", "right_ankle"),
                               ("spine.004", "spine.006", "neck", "head")):
            worst = max(worst, angle_deg(world_head(meta, tb) - world_head(meta, ta),
                                         world_head(src, sb) - world_head(src, sa)))
    assert worst < MAX_ANGLE_DEG, worst


def test_bones_that_do_not_inherit_rotation_are_solved_through_blender(empty_scene, tmp_path,
                                                                        helpers):
    (src,) = _import(empty_scene, helpers, tmp_path, helpers.synthetic_walk(12, 30.0, 1))
    spec = rigs.RigSpec("Mixamo", rigs.mixamo_names(), pose="A", roll_seed=11)
    tgt = rigs.build_rig(empty_scene, spec)
    n = spec.names
    for bone in (n["left_forearm"], n["right_shin"]):
        tgt.data.bones[bone].use_inherit_rotation = False
    report = retarget(empty_scene, src, tgt, RetargetOptions(foot_lock=False))
    assert any("evaluating the rig" in w for w in report.warnings)
    worst = 0.0
    for frame in (1, 6, 12):
        empty_scene.scene.frame_set(frame)
        for ta, tb, sa, sb in ((n["left_forearm"], n["left_hand"], "left_elbow", "left_wrist"),
                               (n["right_shin"], n["right_foot"], "right_knee", "right_ankle"),
                               (n["left_upperarm"], n["left_forearm"], "left_shoulder",
                                "left_elbow")):
            worst = max(worst, angle_deg(world_head(tgt, tb) - world_head(tgt, ta),
                                         world_head(src, sb) - world_head(src, sa)))
    assert worst < MAX_ANGLE_DEG, worst


class _LayoutProbe:
    """Stands in for UILayout (module mode has no UI): records the calls and checks that every
    property and operator the panel names exists."""

    def __init__(self, calls):
        self.calls = calls

    def _sub(self, *args, **kwargs):
        return _LayoutProbe(self.calls)

    box = row = column = _sub

    def label(self, **kwargs):
        self.calls.append(("label", kwargs.get("text", "")))

    def prop(self, data, name, **kwargs):
        assert name in data.bl_rna.properties, name
        self.calls.append(("prop", name))

    def operator(self, idname, **kwargs):
        module, op = idname.split(".")
        assert hasattr(getattr(bpy.ops, module), op), idname
        self.calls.append(("operator", idname))

    def template_list(self, list_type, list_id, data, prop, active_data, active_prop, **kw):
        assert hasattr(bpy.types, list_type), list_type
        assert prop in data.bl_rna.properties and active_prop in active_data.bl_rna.properties
        self.calls.append(("list", prop))


def _check_panel_draw(panel_cls, context):
    calls = []
    panel_cls.draw(type("P", (), {"layout": _LayoutProbe(calls)})(), context)
    kinds = {c[0] for c in calls}
    assert {"operator", "prop", "list"} <= kinds, calls
    assert ("operator", "strmocap.retarget_bake") in calls
