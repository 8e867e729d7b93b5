"""Generated humanoid target rigs for retargeting tests and README pictures (real bpy).

``build_rig(context, RigSpec(...))`` makes an armature in the naming of a preset (Mixamo,
Rigify, Unreal UE5, VRM/VRoid, MakeHuman) or with meaningless names (``b0``, ``b1``, ...), with
a T-, A- or arms-forward rest, legs apart, twist bones inside the limb chains, random bone rolls, bones that point to their child or anywhere (FBX-like
axes), chosen proportions, an optional centimetre/Y-up data space (object rotated 90 degrees
about X and scaled 0.01, like many FBX imports), a yaw and a location. The character faces -Y
with its left side at +X (Blender's convention, like the imported SMPL rigs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import bpy
import numpy as np
from mathutils import Vector

SIDES = {"left": 1.0, "right": -1.0}


def _sided(fmt_left: str, fmt_right: str) -> dict[str, str]:
    roles = ("clavicle", "upperarm", "forearm", "hand", "thigh", "shin", "foot", "toe")
    return {f"{side}_{r}": (fmt_left if side == "left" else fmt_right).format(r=r)
            for side in SIDES for r in roles}


def mixamo_names(prefix: str = "mixamorig:") -> dict[str, object]:
    words = {"clavicle": "Shoulder", "upperarm": "Arm", "forearm": "ForeArm", "hand": "Hand",
             "thigh": "UpLeg", "shin": "Leg", "foot": "Foot", "toe": "ToeBase"}
    out: dict[str, object] = {"hips": prefix + "Hips",
                              "spine": [prefix + n for n in ("Spine", "Spine1", "Spine2")],
                              "neck": [prefix + "Neck"], "head": prefix + "Head"}
    for side in SIDES:
        for role, w in words.items():
            out[f"{side}_{role}"] = f"{prefix}{side.capitalize()}{w}"
    return out


def rigify_names() -> dict[str, object]:
    """Rigify metarig naming (what a metarig, or a rig keeping its names, has)."""
    words = {"clavicle": "shoulder", "upperarm": "upper_arm", "forearm": "forearm",
             "hand": "hand", "thigh": "thigh", "shin": "shin", "foot": "foot", "toe": "toe"}
    out: dict[str, object] = {"hips": "spine",
                              "spine": ["spine.001", "spine.002", "spine.003"],
                              "neck": ["spine.004", "spine.005"], "head": "spine.006"}
    for side, s in (("left", "L"), ("right", "R")):
        for role, w in words.items():
            out[f"{side}_{role}"] = f"{w}.{s}"
    return out


def unreal_names() -> dict[str, object]:
    words = {"clavicle": "clavicle", "upperarm": "upperarm", "forearm": "lowerarm",
             "hand": "hand", "thigh": "thigh", "shin": "calf", "foot": "foot", "toe": "ball"}
    out: dict[str, object] = {"root": "root", "hips": "pelvis",
                              "spine": [f"spine_0{i}" for i in range(1, 6)],
                              "neck": ["neck_01", "neck_02"], "head": "head",
                              "twist": "{bone}_twist_01_{s}"}
    for side, s in (("left", "l"), ("right", "r")):
        for role, w in words.items():
            out[f"{side}_{role}"] = f"{w}_{s}"
    return out


def vrm_names() -> dict[str, object]:
    words = {"clavicle": "Shoulder", "upperarm": "UpperArm", "forearm": "LowerArm",
             "hand": "Hand", "thigh": "UpperLeg", "shin": "LowerLeg", "foot": "Foot",
             "toe": "ToeBase"}
    out: dict[str, object] = {"root": "Root", "hips": "J_Bip_C_Hips",
                              "spine": ["J_Bip_C_Spine", "J_Bip_C_Chest", "J_Bip_C_UpperChest"],
                              "neck": ["J_Bip_C_Neck"], "head": "J_Bip_C_Head"}
    for side, s in (("left", "L"), ("right", "R")):
        for role, w in words.items():
            out[f"{side}_{role}"] = f"J_Bip_{s}_{w}"
    return out


def makehuman_names() -> dict[str, object]:
    words = {"clavicle": "clavicle", "upperarm": "upperarm01", "forearm": "lowerarm01",
             "hand": "wrist", "thigh": "upperleg01", "shin": "lowerleg01", "foot": "foot",
             "toe": "toe1-1"}
    out: dict[str, object] = {"hips": "root",
                              "spine": ["spine05", "spine04", "spine03", "spine02", "spine01"],
                              "neck": ["neck01"], "head": "head"}
    for side, s in (("left", "L"), ("right", "R")):
        for role, w in words.items():
            out[f"{side}_{role}"] = f"{w}.{s}"
    return out


def unnamed_names(spine: int = 3, neck: int = 1) -> dict[str, object]:
    """Bones b0..bN (no meaning in the names: the hierarchy method must map them)."""
    counter = iter(range(1000))
    out: dict[str, object] = {"hips": f"b{next(counter)}",
                              "spine": [f"b{next(counter)}" for _ in range(spine)],
                              "neck": [f"b{next(counter)}" for _ in range(neck)],
                              "head": f"b{next(counter)}"}
    for side in SIDES:
        for role in ("clavicle", "upperarm", "forearm", "hand", "thigh", "shin", "foot", "toe"):
            out[f"{side}_{role}"] = f"b{next(counter)}"
    return out


PRESET_NAMES = {"mixamo": mixamo_names, "rigify": rigify_names, "unreal": unreal_names,
                "vrm": vrm_names, "makehuman": makehuman_names}


@dataclass(frozen=True)
class RigSpec:
    """What to build (see module docstring). Lengths in metres at scale 1 (about 1.75 m)."""

    name: str
    names: dict[str, object]
    pose: str = "T"                      # "T" | "A" (arms 45 degrees down) | "F" (arms forward)
    scale: float = 1.0
    arm_scale: float = 1.0
    leg_scale: float = 1.0
    roll_seed: int | None = 0            # None: zero rolls
    tails: str = "child"                 # "child" | "random" (FBX-like bone axes)
    cm_y_up: bool = False
    yaw_deg: float = 0.0
    location: tuple[float, float, float] = (0.0, 0.0, 0.0)
    extra: dict[str, object] = field(default_factory=dict)
    leg_spread_deg: float = 0.0          # legs apart: each leg turned outwards at the hip
    #: "" or a name format like "{bone}Twist": a twist bone inserted *in* the arm and leg chains
    #: (upper arm -> twist -> forearm, thigh -> twist -> shin), the upper bone ending halfway
    twist_in_chain: str = ""


def joint_layout(spec: RigSpec) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """[(bone name, parent name, head, child point)] in Z-up metres, parents first."""
    s, a, g = spec.scale, spec.arm_scale, spec.leg_scale
    n = spec.names
    v = lambda x, y, z: np.array([x, y, z], np.float64) * s  # noqa: E731
    hip_z = 0.08 + 0.85 * g
    pelvis = v(0, 0, hip_z + 0.05)
    chest_top = pelvis + v(0, 0, 0.55)
    out: list[tuple[str, str, np.ndarray, np.ndarray]] = []
    spine = list(n["spine"])
    neck = list(n["neck"])
    root = n.get("root")
    top_parent = ""
    if root:
        out.append((str(root), "", v(0, 0, 0), v(0, 0.2, 0)))
        top_parent = str(root)
    s0 = pelvis + v(0, 0, 0.07)
    spine_heads = [s0 + (chest_top - s0) * i / len(spine) + v(0, 0.02 * math.sin(
        math.pi * i / len(spine)), 0) for i in range(len(spine))]
    head_base = chest_top + v(0, 0, 0.1)
    neck_heads = [chest_top + (head_base - chest_top) * i / len(neck) for i in range(len(neck))]
    out.append((str(n["hips"]), top_parent, pelvis, spine_heads[0]))
    chain = spine_heads + neck_heads + [head_base]
    parent = str(n["hips"])
    for name, head, nxt in zip(spine + neck, chain[:-1], chain[1:], strict=True):
        out.append((name, parent, head, nxt))
        parent = name
    chest = spine[-1]
    out.append((str(n["head"]), parent, head_base, head_base + v(0, 0, 0.2)))
    for side, sx in SIDES.items():
        if spec.pose == "A":
            d = np.array([sx * math.cos(math.radians(45)), 0.0, -math.sin(math.radians(45))])
        elif spec.pose == "F":
            d = np.array([0.0, -1.0, 0.0])
        else:
            d = np.array([sx, 0.0, 0.0])
        clav = chest_top + v(0.03 * sx, 0, -0.03)
        shoulder = chest_top + v(0.17 * sx, 0.02, -0.02)
        elbow = shoulder + d * 0.28 * a * s
        wrist = elbow + d * 0.26 * a * s
        tip = wrist + d * 0.18 * a * s
        names = [str(n[f"{side}_{r}"]) for r in ("clavicle", "upperarm", "forearm", "hand")]
        pts = [clav, shoulder, elbow, wrist, tip]
        out.extend(_chain(chest, names, pts, spec.twist_in_chain))
        hip = v(0.09 * sx, 0, hip_z)
        knee = hip + np.array([0.0, -0.01, -0.43 * g]) * s
        ankle = v(0.09 * sx, 0.02, 0.08)
        ball = v(0.09 * sx, -0.11, 0.02)
        toe_tip = v(0.09 * sx, -0.18, 0.02)
        if spec.leg_spread_deg:
            c, si = math.cos(math.radians(spec.leg_spread_deg)), math.sin(
                math.radians(spec.leg_spread_deg))
            turn = np.array([[c, 0.0, -sx * si], [0.0, 1.0, 0.0], [sx * si, 0.0, c]])
            knee, ankle, ball, toe_tip = (hip + turn @ (p - hip)
                                          for p in (knee, ankle, ball, toe_tip))
        names = [str(n[f"{side}_{r}"]) for r in ("thigh", "shin", "foot", "toe")]
        pts = [hip, knee, ankle, ball, toe_tip]
        out.extend(_chain(str(n["hips"]), names, pts, spec.twist_in_chain))
        twist = n.get("twist")
        if twist:
            s_tag = "l" if side == "left" else "r"
            out.append((str(twist).format(bone="upperarm", s=s_tag), str(n[f"{side}_upperarm"]),
                        0.5 * (shoulder + elbow), elbow))
            out.append((str(twist).format(bone="calf", s=s_tag), str(n[f"{side}_shin"]),
                        0.5 * (knee + ankle), ankle))
    return out


def _chain(parent: str, names: list[str], pts: list[np.ndarray], twist_fmt: str
           ) -> list[tuple[str, str, np.ndarray, np.ndarray]]:
    """Bones along ``pts``; with ``twist_fmt`` the second bone (upper arm, thigh) ends halfway
    and a twist bone named ``twist_fmt.format(bone=name)`` covers the other half."""
    out = []
    for i, nm in enumerate(names):
        if i == 1 and twist_fmt:
            mid = 0.5 * (pts[i] + pts[i + 1])
            out.append((nm, parent, pts[i], mid))
            twist = twist_fmt.format(bone=nm)
            out.append((twist, nm, mid, pts[i + 1]))
            parent = twist
            continue
        out.append((nm, parent, pts[i], pts[i + 1]))
        parent = nm
    return out


def build_rig(context: bpy.types.Context, spec: RigSpec) -> bpy.types.Object:
    """Create, link and return the armature object described by ``spec`` (OBJECT mode)."""
    layout = joint_layout(spec)
    rng = np.random.default_rng(spec.roll_seed if spec.roll_seed is not None else 0)
    arm = bpy.data.armatures.new(spec.name)
    obj = bpy.data.objects.new(spec.name, arm)
    (context.collection or context.scene.collection).objects.link(obj)
    context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        ebs = {}
        for name, parent, head, nxt in layout:
            eb = arm.edit_bones.new(name)
            tail = np.array(nxt, np.float64)
            if spec.tails == "random" and name != layout[0][0]:
                d = rng.normal(size=3)
                tail = head + d / np.linalg.norm(d) * max(np.linalg.norm(nxt - head), 0.05)
            h, t = _data_space(head, spec), _data_space(tail, spec)
            if np.linalg.norm(t - h) < 1e-4:
                t = h + np.array([0.0, 0.0, 0.05])
            eb.head, eb.tail = Vector(h.tolist()), Vector(t.tolist())
            eb.roll = float(rng.uniform(-math.pi, math.pi)) if spec.roll_seed is not None else 0.0
            if parent:
                eb.parent = ebs[parent]
            ebs[name] = eb
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
    if spec.cm_y_up:
        obj.rotation_euler = (math.pi / 2, 0.0, 0.0)
        obj.scale = (0.01, 0.01, 0.01)
    obj.rotation_euler[2] = math.radians(spec.yaw_deg)
    obj.location = spec.location
    context.view_layer.update()
    return obj


def _data_space(p: np.ndarray, spec: RigSpec) -> np.ndarray:
    if not spec.cm_y_up:
        return np.asarray(p, np.float64)
    return np.array([p[0], p[2], -p[1]]) * 100.0


def add_bone_shapes(context: bpy.types.Context, obj: bpy.types.Object, radius: float = 0.035,
                    color: tuple[float, float, float, float] = (0.8, 0.5, 0.2, 1.0)
                    ) -> bpy.types.Object:
    """A mesh of one tapered box per bone (head->tail), skinned rigidly to the bones.

    Used for pictures: armatures themselves do not render."""
    import bmesh

    mesh = bpy.data.meshes.new(obj.name + "_shapes")
    mobj = bpy.data.objects.new(obj.name + "_shapes", mesh)
    (context.collection or context.scene.collection).objects.link(mobj)
    bm = bmesh.new()
    groups: list[tuple[str, list[int]]] = []
    world = obj.matrix_world
    for bone in obj.data.bones:
        head = world @ bone.head_local
        tail = world @ bone.tail_local
        axis = tail - head
        if axis.length < 1e-4:
            continue
        z = axis.normalized()
        x = z.orthogonal().normalized()
        y = z.cross(x)
        r = min(radius, 0.25 * axis.length + 0.01)
        verts = []
        for end, rr in ((head, r), (tail, 0.6 * r)):
            for cx, cy in ((1, 1), (-1, 1), (-1, -1), (1, -1)):
                verts.append(bm.verts.new(end + (x * cx + y * cy) * rr))
        for f in ((0, 1, 2, 3), (7, 6, 5, 4), (0, 4, 5, 1), (1, 5, 6, 2), (2, 6, 7, 3),
                  (3, 7, 4, 0)):
            bm.faces.new([verts[i] for i in f])
        bm.verts.index_update()
        groups.append((bone.name, [v.index for v in verts]))
    bm.to_mesh(mesh)
    bm.free()
    for name, idx in groups:
        vg = mobj.vertex_groups.new(name=name)
        vg.add(idx, 1.0, "REPLACE")
    mod = mobj.modifiers.new("Armature", "ARMATURE")
    mod.object = obj
    mobj.parent = obj
    mobj.matrix_parent_inverse = obj.matrix_world.inverted()
    mat = bpy.data.materials.new(obj.name + "_mat")
    mat.diffuse_color = color
    mesh.materials.append(mat)
    return mobj
