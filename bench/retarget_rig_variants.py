"""Retarget a real capture onto rig variants that user downloads differ by (real bpy, real
add-on operators) and print one row per variant: how it was mapped, the worst limb direction
error against the source, and planted-foot drift.

    PYTHONPATH=$PWD nice python bench/retarget_rig_variants.py MOTION.npz [--only NAME ...]

MOTION.npz: e.g. ``python -m inference_backend capture assets/sample/two_people_backlit.mp4
-o MOTION.npz``; the first captured person is used. The rigs come from
``tests/blender/retarget_rigs.py``. Numbers:

* ``dir``: worst angle (deg) between a target limb (upper arm, forearm, thigh, shin, neck) and
  the source's, over 5 frames, evaluated by Blender.
* ``dir`` is measured with foot locking off (the lock bends the legs on purpose).
* ``drift`` / ``locked`` (foot locking off / on): planted-foot drift: over each contact segment of the source (>= 6 keys), the
  largest distance of the target ankle from its mean position, divided by the target's leg
  length (%); ``src`` is the same for the SMPL source's ankle and its own leg length.

Only keys where the person was seen (``str_valid``) count: elsewhere the source rig is hidden,
and Blender does not evaluate hidden rigs.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import bpy
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "blender"))
import retarget_rigs as rigs  # noqa: E402

from str_blender_addon.core.retarget_math import contact_segments  # noqa: E402
from str_blender_addon.core.skeleton import CONTACT_PROPERTY_NAMES  # noqa: E402

LIMBS = (("upperarm", "forearm", "shoulder", "elbow"), ("forearm", "hand", "elbow", "wrist"),
         ("thigh", "shin", "hip", "knee"), ("shin", "foot", "knee", "ankle"))


def _head(obj, bone):
    return np.array(obj.matrix_world @ obj.pose.bones[bone].head)


def _rest(obj, bone):
    return np.array(obj.matrix_world @ obj.data.bones[bone].head_local)


def _angle(a, b):
    c = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))


def direction_error(scene, src, tgt, names, frames):
    worst = 0.0
    for f in frames:
        scene.frame_set(f)
        for side in ("left", "right"):
            for a, b, ja, jb in LIMBS:
                ta, tb = names[f"{side}_{a}"], names[f"{side}_{b}"]
                if tgt.pose.bones.get(tb) is None:
                    continue
                worst = max(worst, _angle(_head(tgt, tb) - _head(tgt, ta),
                                          _head(src, f"{side}_{jb}") - _head(src, f"{side}_{ja}")))
        if names.get("neck"):
            worst = max(worst, _angle(_head(tgt, names["head"]) - _head(tgt, names["neck"][0]),
                                      _head(src, "head") - _head(src, "neck")))
    return worst


def leg_length(obj, hip, knee, ankle):
    h, k, a = (_rest(obj, b) for b in (hip, knee, ankle))
    return float(np.linalg.norm(k - h) + np.linalg.norm(a - k))


def contacts_of(src, frames):
    out = np.zeros((len(frames), 4))
    curves = {fc.data_path: fc for fc in _fcurves(src)}
    for k, p in enumerate(CONTACT_PROPERTY_NAMES):
        fc = curves.get(f'["{p}"]')
        if fc is not None:
            out[:, k] = [fc.evaluate(f) for f in frames]
    return out


def _fcurves(obj):
    from str_blender_addon import bpy_compat

    return bpy_compat.action_fcurves(obj)


def foot_drift(scene, src, tgt, names, frames):
    """(target %, source %) worst planted ankle drift over contact segments of >= 6 keys."""
    contacts = contacts_of(src, frames)
    legs_t = np.mean([leg_length(tgt, names[f"{s}_thigh"], names[f"{s}_shin"],
                                 names[f"{s}_foot"]) for s in ("left", "right")])
    legs_s = np.mean([leg_length(src, f"{s}_hip", f"{s}_knee", f"{s}_ankle")
                      for s in ("left", "right")])
    worst_t = worst_s = 0.0
    for k, side in enumerate(("left", "right")):
        planted = np.maximum(contacts[:, 2 * k], contacts[:, 2 * k + 1]) >= 0.5
        for a, b in contact_segments(planted):
            if b - a < 5:
                continue
            pt, ps = [], []
            for f in frames[a:b + 1]:
                scene.frame_set(int(f))
                pt.append(_head(tgt, names[f"{side}_foot"]))
                ps.append(_head(src, f"{side}_ankle"))
            pt, ps = np.array(pt), np.array(ps)
            worst_t = max(worst_t, float(np.linalg.norm(pt - pt.mean(0), axis=1).max()))
            worst_s = max(worst_s, float(np.linalg.norm(ps - ps.mean(0), axis=1).max()))
    return 100 * worst_t / legs_t, 100 * worst_s / legs_s


def variants():
    mix = rigs.mixamo_names
    out = {
        "mixamo_T": rigs.RigSpec("T", mix()),
        "mixamo1_A_fbx": rigs.RigSpec("A", mix("mixamorig1:"), pose="A", cm_y_up=True,
                                      tails="random", roll_seed=1),
        "arms_forward": rigs.RigSpec("F", mix(), pose="F", roll_seed=2),
        "legs_apart_20": rigs.RigSpec("Legs", mix(), leg_spread_deg=20.0, roll_seed=3),
        "unreal_cm_root": rigs.RigSpec("UE", rigs.unreal_names(), cm_y_up=True, roll_seed=4),
        "twist_in_chain": rigs.RigSpec("Twist", mix(), twist_in_chain="{bone}Twist",
                                       roll_seed=5),
        "twist_in_chain_unnamed": rigs.RigSpec("TwistB", rigs.unnamed_names(),
                                               twist_in_chain="{bone}_t", roll_seed=6),
        "no_neck": rigs.RigSpec("NoNeck", {**mix(), "neck": []}, roll_seed=7),
        "two_spine": rigs.RigSpec("Spine2", {**mix(), "spine": ["mixamorig:Spine",
                                                                 "mixamorig:Spine1"]}),
        "sides_dot_LR": rigs.RigSpec("DotLR", rigs.rigify_names()),
        "sides_Left_Right_words": rigs.RigSpec("Words", _renamed(
            mix(""), lambda n: n.replace("Left", "Left_").replace("Right", "Right_"))),
        "sides_l_r_suffix": rigs.RigSpec("LR", rigs.unreal_names()),
        "daz_genesis8_names": rigs.RigSpec("Genesis8", daz_names(), twist_in_chain="{bone}Twist",
                                           pose="A", roll_seed=8),
        "rigify_DEF_ORG_MCH": rigs.RigSpec("Layers", rigs.rigify_names(), roll_seed=9),
        "japanese_names": rigs.RigSpec("MMD", _renamed(mix(""), _japanese), roll_seed=10),
        "parented_moving_empty": rigs.RigSpec("Parented", mix(), roll_seed=11),
    }
    return out


def daz_names():
    words = {"clavicle": "Collar", "upperarm": "ShldrBend", "forearm": "ForearmBend",
             "hand": "Hand", "thigh": "ThighBend", "shin": "Shin", "foot": "Foot", "toe": "Toe"}
    out = {"hips": "hip", "spine": ["abdomenLower", "abdomenUpper", "chestLower", "chestUpper"],
           "neck": ["neckLower", "neckUpper"], "head": "head"}
    for side in ("left", "right"):
        for role, w in words.items():
            out[f"{side}_{role}"] = side[0] + w
    return out


_JA = {"Hips": "センター", "Spine": "上半身", "Spine1": "上半身2", "Spine2": "上半身3",
       "Neck": "首", "Head": "頭", "Shoulder": "肩", "Arm": "腕", "ForeArm": "ひじ",
       "Hand": "手首", "UpLeg": "足", "Leg": "ひざ", "Foot": "足首", "ToeBase": "つま先"}


def _japanese(name):
    for side, ja in (("Left", "左"), ("Right", "右")):
        if name.startswith(side):
            return ja + _JA[name[len(side):]]
    return _JA[name]


def add_layers(obj, prefixes=("DEF-", "ORG-", "MCH-")):
    """Copies of every bone under each prefix (Rigify's deform/original/mechanism layers)."""
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    ebs = obj.data.edit_bones
    base = [(b.name, b.parent.name if b.parent else "", b.head.copy(), b.tail.copy(), b.roll)
            for b in ebs]
    for pre in prefixes:
        for name, parent, head, tail, roll in base:
            eb = ebs.new(pre + name)
            eb.head, eb.tail, eb.roll = head, tail, roll
            if parent:
                eb.parent = ebs[pre + parent]
    bpy.ops.object.mode_set(mode="OBJECT")


def parent_to_moving_empty(obj, frames):
    empty = bpy.data.objects.new("Carrier", None)
    bpy.context.scene.collection.objects.link(empty)
    obj.parent = empty
    empty.location = (0.0, 0.0, 0.0)
    empty.keyframe_insert("location", frame=int(frames[0]))
    empty.location = (3.0, 1.0, 0.0)
    empty.rotation_euler = (0.0, 0.0, 1.0)
    empty.keyframe_insert("location", frame=int(frames[-1]))
    empty.keyframe_insert("rotation_euler", frame=int(frames[-1]))
    empty.rotation_euler = (0.0, 0.0, 0.0)
    empty.keyframe_insert("rotation_euler", frame=int(frames[0]))


def _renamed(names, fn):
    out = {}
    for k, v in names.items():
        out[k] = [fn(x) for x in v] if isinstance(v, list) else fn(v) if isinstance(v, str) else v
    return out


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("motion")
    ap.add_argument("--only", nargs="*")
    ap.add_argument("--skin", action="store_true",
                    help="instead: skinned MakeHuman-type body, elbow/wrist skin volume per "
                         "person with the forearm twist followed vs spread")
    args = ap.parse_args(argv)
    import str_blender_addon

    bpy.ops.wm.read_factory_settings(use_empty=True)
    str_blender_addon.register()
    try:
        skin(args) if args.skin else run(args)
    finally:
        str_blender_addon.unregister()


def run(args):
    context = bpy.context
    r = bpy.ops.strmocap.import_motion(filepath=str(Path(args.motion).resolve()),
                                       build_body_mesh=False, create_camera=False,
                                       video_background=False)
    assert r == {"FINISHED"}, r
    src = sorted((o for o in context.scene.objects if o.type == "ARMATURE"),
                 key=lambda o: o.name)[0]
    frames = sorted({kp.co[0] for fc in _fcurves(src) for kp in fc.keyframe_points})
    frames = np.array(frames)
    valid = {fc.data_path: fc for fc in _fcurves(src)}.get('["str_valid"]')
    if valid is not None:   # the source is hidden (so not evaluated) where it was not seen
        frames = np.array([f for f in frames if valid.evaluate(f) > 0.5])
    sample = [int(frames[int(i)]) for i in np.linspace(0, len(frames) - 1, 5)]
    print(f"source {src.name}: {len(frames)} keys")
    for name, spec in variants().items():
        if args.only and name not in args.only:
            continue
        tgt = rigs.build_rig(context, spec)
        if name == "rigify_DEF_ORG_MCH":
            add_layers(tgt)
        if name == "parented_moving_empty":
            parent_to_moving_empty(tgt, frames)
        settings = context.scene.strmocap_retarget
        bpy.ops.strmocap.retarget_find_sources()
        for p in settings.persons:
            p.target = tgt if p.source == src else None
        row = []
        for lock in (False, True):
            settings.foot_lock = lock
            try:
                res = bpy.ops.strmocap.retarget_bake()
            except RuntimeError as exc:
                row = [f"FAILED: {str(exc).strip()[:200]}"]
                break
            ft, fs = foot_drift(context.scene, src, tgt, spec.names, frames)
            if not lock:
                d = direction_error(context.scene, src, tgt, spec.names, sample)
                row += [f"{res}", f"dir {d:6.2f} deg", f"drift {ft:5.2f}%"]
            else:
                row += [f"locked {ft:5.2f}%", f"(src {fs:5.2f}%)"]
        print(f"{name:26s} " + "  ".join(row))
        bpy.data.objects.remove(tgt)


def _blend_region(mesh, a, b, weight=0.2):
    ga, gb = mesh.vertex_groups[a].index, mesh.vertex_groups[b].index
    return np.array([v.index for v in mesh.data.vertices
                     if {g.group for g in v.groups if g.weight >= weight} >= {ga, gb}])


def skin(args):
    """Convex-hull volume of the elbow and wrist skin (vertices weighted >= 0.2 to both
    bones) against rest, worst key and 10th percentile over the keys each person was seen."""
    import skinned_bodies as bodies
    from test_retarget_characters import convex_hull_volume

    from str_blender_addon.retarget import RetargetOptions, retarget

    context = bpy.context
    bpy.ops.strmocap.import_motion(filepath=str(Path(args.motion).resolve()),
                                   build_body_mesh=False, create_camera=False,
                                   video_background=False)
    srcs = sorted((o for o in context.scene.objects if o.type == "ARMATURE"),
                  key=lambda o: o.name)
    arm, mesh = bodies.makehuman_character(context)
    regions = {f"{k}.{s}": _blend_region(mesh, f"{a}.{s}", f"{b}.{s}") for s in "LR"
               for k, a, b in (("elbow", "upperarm01", "lowerarm01"),
                               ("wrist", "lowerarm01", "wrist"))}
    arm.data.pose_position = "REST"
    context.view_layer.update()
    rest = bodies.evaluated_vertices(context, mesh)
    rest_volume = {k: convex_hull_volume(rest[i]) for k, i in regions.items()}
    arm.data.pose_position = "POSE"
    for src in srcs:
        valid = {fc.data_path: fc for fc in _fcurves(src)}.get('["str_valid"]')
        keys = sorted({kp.co[0] for fc in _fcurves(src) for kp in fc.keyframe_points})
        keys = [f for f in keys if valid is None or valid.evaluate(f) > 0.5]
        for share in (None, 0.5):
            retarget(context, src, arm, RetargetOptions(foot_lock=False,
                                                        forearm_twist_share=share))
            ratios = {k: [] for k in regions}
            for f in keys:
                context.scene.frame_set(int(f))
                posed = bodies.evaluated_vertices(context, mesh)
                for k, i in regions.items():
                    ratios[k].append(convex_hull_volume(posed[i]) / rest_volume[k])
            text = "  ".join(f"{k} {min(v):.2f}/{np.percentile(v, 10):.2f}"
                             for k, v in ratios.items())
            print(f"{src.name} share {share}: worst/p10 {text}")


if __name__ == "__main__":
    main()
