"""Skinned body mesh for an SMPL armature: the real SMPL mesh (user's files) or a generated body.

Generated body (no SMPL files): tapered capsules per bone sized from the rig's bone lengths and
body height (elliptical torso, head ellipsoid, flattened feet), skinned rigidly to their bone
with 50/50 blends toward the parent/child near joints. SMPL body: ``v_template + shapedirs @
betas``, nudged so its regressed joints sit on the rig's rest joints (per-vertex translation
blended by the skinning weights), skinned with SMPL's weights. Both use an Armature modifier and
one vertex group per bone, parented to the armature. Geometry is built in numpy first.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import bpy
import numpy as np

from .core.rotations import y_up_to_z_up
from .core.skeleton import SMPL_JOINT_NAMES, SMPL_PARENTS, children, floor_offset
from .core.smpl_model import SmplModel
from .rig_builder import rest_heads_tails_z_up

_FORWARD = np.array([0.0, -1.0, 0.0])
_BLEND = 0.2          # fraction of a segment blended toward its neighbour bone
_SIDES = 14


@dataclass(frozen=True)
class Segment:
    """A capsule from ``a`` to ``b`` (Z-up metres), radii ``r0``/``r1``, cross-section scale
    (``width`` across the body, ``depth`` front-back), owned by bone index ``bone``."""

    bone: int
    a: np.ndarray
    b: np.ndarray
    r0: float
    r1: float
    width: float = 1.0
    depth: float = 1.0
    blend_parent: bool = True
    blend_child: int = -1


@dataclass(frozen=True)
class BodyGeometry:
    vertices: np.ndarray          # (V,3) float64, Z-up armature space
    faces: list                   # list of vertex-index tuples
    weights: np.ndarray           # (V,24) skinning weights, rows sum to 1


def _frame(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors perpendicular to ``axis``: (across, front)."""
    ref = _FORWARD if abs(axis @ _FORWARD) < 0.9 else np.array([0.0, 0.0, 1.0])
    front = ref - axis * (ref @ axis)
    front /= np.linalg.norm(front)
    across = np.cross(front, axis)
    return across, front


def capsule(seg: Segment, rings: int = 6, cap_rings: int = 3) -> tuple[np.ndarray, list,
                                                                     np.ndarray]:
    """Vertices (N,3), faces, and axial parameter t (N,) in [0,1] of one tapered capsule."""
    axis = seg.b - seg.a
    length = float(np.linalg.norm(axis))
    axis = axis / max(length, 1e-9)
    across, front = _frame(axis)
    profile: list[tuple[float, float]] = []           # (axial offset, radius)
    for k in range(cap_rings, 0, -1):
        phi = 0.5 * np.pi * k / (cap_rings + 1)
        profile.append((-seg.r0 * np.sin(phi), seg.r0 * np.cos(phi)))
    for i in range(rings + 1):
        t = i / rings
        profile.append((t * length, (1 - t) * seg.r0 + t * seg.r1))
    for k in range(1, cap_rings + 1):
        phi = 0.5 * np.pi * k / (cap_rings + 1)
        profile.append((length + seg.r1 * np.sin(phi), seg.r1 * np.cos(phi)))
    ang = np.linspace(0, 2 * np.pi, _SIDES, endpoint=False)
    ring_dirs = (np.cos(ang)[:, None] * across * seg.width
                 + np.sin(ang)[:, None] * front * seg.depth)              # (S,3)
    verts = [seg.a - axis * seg.r0]
    tvals = [0.0]
    for z, r in profile:
        verts.extend(seg.a + axis * z + r * ring_dirs)
        tvals.extend([np.clip(z / max(length, 1e-9), 0.0, 1.0)] * _SIDES)
    verts.append(seg.b + axis * seg.r1)
    tvals.append(1.0)
    n_rings = len(profile)
    faces: list = []
    for s in range(_SIDES):
        faces.append((0, 1 + (s + 1) % _SIDES, 1 + s))
    for r in range(n_rings - 1):
        base0, base1 = 1 + r * _SIDES, 1 + (r + 1) * _SIDES
        for s in range(_SIDES):
            s2 = (s + 1) % _SIDES
            faces.append((base0 + s, base0 + s2, base1 + s2, base1 + s))
    last = 1 + (n_rings - 1) * _SIDES
    tip = len(verts) - 1
    for s in range(_SIDES):
        faces.append((last + s, last + (s + 1) % _SIDES, tip))
    return np.array(verts), faces, np.array(tvals)


def body_segments(heads: np.ndarray, tails: np.ndarray) -> list[Segment]:
    """Capsules of a generated body for Z-up rest heads/tails (24,3) of the SMPL bones."""
    n = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}
    height = float(heads[:, 2].max() - heads[:, 2].min()) + 0.2
    s = height / 1.75
    kids = children()
    segs: list[Segment] = []

    def add(bone: str, r0: float, r1: float, a=None, b=None, width=1.0, depth=1.0,
            child: str | None = None, blend_parent: bool = True) -> None:
        j = n[bone]
        segs.append(Segment(j, heads[j] if a is None else a, tails[j] if b is None else b,
                            r0 * s, r1 * s, width, depth, blend_parent,
                            n[child] if child else (kids[j][0] if len(kids[j]) == 1 else -1)))

    hips = 0.5 * (heads[n["left_hip"]] + heads[n["right_hip"]])
    hip_half = 0.5 * np.linalg.norm(heads[n["left_hip"]] - heads[n["right_hip"]])
    pelvis_w = (hip_half + 0.07 * s) / (0.11 * s)
    add("pelvis", 0.11, 0.11, a=hips - np.array([0, 0, 0.03 * s]), b=heads[n["spine1"]],
        width=pelvis_w, depth=1.0, child="spine1", blend_parent=False)
    add("spine1", 0.11, 0.115, width=1.45, depth=0.95, child="spine2")
    add("spine2", 0.115, 0.12, width=1.5, depth=0.95, child="spine3")
    add("spine3", 0.12, 0.075, width=1.45, depth=0.9, child="neck")
    add("neck", 0.05, 0.048, child="head")
    head_j = heads[n["head"]]
    add("head", 0.085, 0.085, a=head_j + (tails[n["head"]] - head_j) * 0.2,
        b=head_j + (tails[n["head"]] - head_j) * 0.6, width=0.95, depth=1.1)
    for side in ("left", "right"):
        add(f"{side}_collar", 0.055, 0.05, child=f"{side}_shoulder")
        add(f"{side}_shoulder", 0.055, 0.042)
        add(f"{side}_elbow", 0.04, 0.032)
        add(f"{side}_wrist", 0.032, 0.03)
        add(f"{side}_hand", 0.03, 0.022, width=1.3, depth=0.6)
        add(f"{side}_hip", 0.085, 0.058)
        add(f"{side}_knee", 0.055, 0.04)
        ankle = heads[n[f"{side}_ankle"]]
        toe_tail = tails[n[f"{side}_foot"]]
        heel = ankle - (toe_tail - ankle) * np.array([1, 1, 0]) * 0.25
        heel[2] = ankle[2] - 0.02 * s
        toe = toe_tail.copy()
        toe[2] = heel[2]
        add(f"{side}_ankle", 0.045, 0.04, a=heel, b=heads[n[f"{side}_foot"]] + [0, 0, -0.02 * s],
            width=1.0, depth=0.6, child=f"{side}_foot")
        add(f"{side}_foot", 0.04, 0.03, a=heads[n[f"{side}_foot"]] + [0, 0, -0.02 * s], b=toe,
            width=1.0, depth=0.55)
    return segs


def generated_body(heads: np.ndarray, tails: np.ndarray) -> BodyGeometry:
    """Numpy geometry + weights of the generated body."""
    all_v, all_f, rows = [], [], []
    offset = 0
    for seg in body_segments(heads, tails):
        v, f, t = capsule(seg)
        w = np.zeros((v.shape[0], 24))
        own = np.ones(v.shape[0])
        parent = SMPL_PARENTS[seg.bone]
        if seg.blend_parent and parent >= 0:
            wp = np.clip(0.5 * (1 - t / _BLEND), 0, 0.5)
            w[:, parent] += wp
            own -= wp
        if seg.blend_child >= 0:
            wc = np.clip(0.5 * (t - (1 - _BLEND)) / _BLEND, 0, 0.5)
            w[:, seg.blend_child] += wc
            own -= wc
        w[:, seg.bone] += own
        all_v.append(v)
        all_f.extend(tuple(i + offset for i in face) for face in f)
        rows.append(w)
        offset += v.shape[0]
    return BodyGeometry(np.concatenate(all_v), all_f, np.concatenate(rows))


def smpl_body(model: SmplModel, rest_joints_smpl: np.ndarray, betas: np.ndarray
              ) -> BodyGeometry:
    """The user's SMPL mesh for ``betas``, fitted onto the rig's rest joints (Z-up)."""
    rest = np.asarray(rest_joints_smpl, np.float64)
    verts = model.shaped_vertices(betas)
    correction = rest - model.rest_joints(betas)                       # (24,3)
    verts = verts + model.weights @ correction
    verts = y_up_to_z_up(verts + floor_offset(rest))
    weights = model.weights / np.maximum(model.weights.sum(1, keepdims=True), 1e-12)
    return BodyGeometry(verts, [tuple(f) for f in model.faces.tolist()], weights)


def build_body_mesh(
    context: bpy.types.Context,
    armature_obj: bpy.types.Object,
    rest_joints_smpl: np.ndarray,
    betas: np.ndarray,
    smpl_model: SmplModel | None = None,
) -> bpy.types.Object:
    """Create the skinned mesh object ``<armature>_body``: the SMPL mesh when ``smpl_model``
    is given (load it once with ``core.smpl_model.load_smpl_model``), else the generated body.
    """
    if smpl_model is not None:
        kind, geometry = "smpl", smpl_body(smpl_model, rest_joints_smpl, betas)
    else:
        heads, tails, _ = rest_heads_tails_z_up(rest_joints_smpl)
        kind, geometry = "generated", generated_body(heads, tails)
    obj = _make_mesh_object(context, f"{armature_obj.name}_body", geometry, armature_obj)
    obj["str_body"] = kind
    # capsules bend better with volume-preserving (dual quaternion) skinning; SMPL is LBS
    obj.modifiers["Armature"].use_deform_preserve_volume = kind == "generated"
    return obj


def _make_mesh_object(context, name: str, geo: BodyGeometry, armature_obj) -> bpy.types.Object:
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(geo.vertices.tolist(), [], geo.faces)
    mesh.update()
    smooth = np.ones(len(mesh.polygons), bool)
    mesh.polygons.foreach_set("use_smooth", smooth)
    obj = bpy.data.objects.new(name, mesh)
    (context.collection or context.scene.collection).objects.link(obj)
    _assign_weights(obj, geo.weights)
    obj.parent = armature_obj
    mod = obj.modifiers.new("Armature", "ARMATURE")
    mod.object = armature_obj
    mod.use_vertex_groups = True
    mat = bpy.data.materials.new(f"{name}_skin")
    tint = (zlib.crc32(armature_obj.name.encode()) % 5) * 0.04
    mat.diffuse_color = (0.78 - tint, 0.56 + tint * 0.5, 0.45 + tint, 1.0)
    mesh.materials.append(mat)
    obj.color = mat.diffuse_color
    return obj


def _assign_weights(obj: bpy.types.Object, weights: np.ndarray) -> None:
    """One vertex group per SMPL bone; weights quantised to 1/1000 and added in batches."""
    q = np.round(weights, 3)
    for j, joint in enumerate(SMPL_JOINT_NAMES):
        group = obj.vertex_groups.new(name=joint)
        column = q[:, j]
        nonzero = np.nonzero(column > 0)[0]
        if nonzero.size == 0:
            continue
        values = column[nonzero]
        for value in np.unique(values):
            idx = nonzero[values == value]
            group.add(idx.tolist(), float(value), "REPLACE")
