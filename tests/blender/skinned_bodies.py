"""Skinned characters for retargeting tests (real bpy): the CC0 anny body and a generated
MakeHuman-type body, plus the shoulder-deformation measure used to catch collapsed shoulders.

``anny_character`` builds an armature with anny's own 104-bone MakeHuman skeleton (``root``,
``spine05..01``, ``clavicle.L``, ``shoulder01.L``, ``upperarm01.L``...) at anny's rest pose (arms
abducted ~42 degrees) and its 13 718-vertex mesh skinned with anny's own weights (up to 9 bones
per vertex) through an Armature modifier. It needs ``anny==0.6.2`` (the ``bench`` extra, torch)
and its ~790 MB model cache, built once (about 5 min on 2 cores) under ``.cache/anny``.

``makehuman_character`` needs nothing: a MakeHuman-named rig from ``retarget_rigs`` with a
tube body around the torso, neck and arms whose vertices are weighted smoothly between the two
nearest bones (linear blend skinning like any exported character).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import bpy
import numpy as np
from mathutils import Vector

sys.path.insert(0, str(Path(__file__).resolve().parent))
import retarget_rigs as rigs  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
ANNY_CACHE = ROOT / ".cache" / "anny"
#: Bones whose skin makes the shoulder region (MakeHuman names, both sides).
SHOULDER_BONES = tuple(f"{b}.{s}" for s in ("L", "R")
                       for b in ("clavicle", "shoulder01", "upperarm01"))


def anny_cache_dir() -> Path:
    return Path(os.environ.get("ANNY_CACHE_DIR", str(ANNY_CACHE)))


def anny_rest_data(cache_dir: Path) -> dict[str, np.ndarray]:
    """anny's rest skeleton and skinned mesh as numpy arrays (Z up, metres, faces -Y).

    Raises ImportError without anny/torch."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("ANNY_CACHE_DIR", str(cache_dir))
    import anny  # noqa: PLC0415  (optional test dependency)
    import torch  # noqa: PLC0415

    model = anny.Anny()
    nb = model.bone_count
    with torch.no_grad():
        out = model(torch.eye(4, dtype=torch.float64).expand(1, nb, 4, 4).clone())
    return {
        "labels": np.array(list(model.bone_labels)),
        "parents": np.array(model.bone_parents, np.int64),
        "heads": out["bone_poses"][0, :, :3, 3].numpy().astype(np.float64),
        "vertices": out["vertices"][0].numpy().astype(np.float64),
        "faces": model.faces.detach().cpu().numpy().astype(np.int64),
        "weights": model.vertex_bone_weights.detach().cpu().numpy().astype(np.float64),
        "indices": model.vertex_bone_indices.detach().cpu().numpy().astype(np.int64),
    }


def _skin(context, arm_obj, name: str, verts: np.ndarray, faces: np.ndarray,
          groups: dict[str, tuple[np.ndarray, np.ndarray]]) -> bpy.types.Object:
    """Mesh object from (V,3) verts and (T,k) faces, vertex groups {bone: (vertex ids,
    weights)}, an Armature modifier on ``arm_obj`` and parented to it."""
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(verts.tolist(), [], faces.tolist())
    mesh.update()
    obj = bpy.data.objects.new(name, mesh)
    (context.collection or context.scene.collection).objects.link(obj)
    for bone, (ids, w) in groups.items():
        vg = obj.vertex_groups.new(name=bone)
        for i, wi in zip(ids.tolist(), w.tolist(), strict=True):
            vg.add([i], wi, "REPLACE")
    mod = obj.modifiers.new("Armature", "ARMATURE")
    mod.object = arm_obj
    obj.parent = arm_obj
    return obj


def anny_character(context, cache_dir: Path | None = None, name: str = "Anny"
                   ) -> tuple[bpy.types.Object, bpy.types.Object]:
    """(armature, skinned mesh) of the anny body (see module docstring)."""
    data = anny_rest_data(cache_dir or anny_cache_dir())
    labels, parents, heads = data["labels"], data["parents"], data["heads"]
    kids: dict[int, list[int]] = {}
    for b, p in enumerate(parents):
        if p >= 0:
            kids.setdefault(int(p), []).append(b)
    arm = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, arm)
    (context.collection or context.scene.collection).objects.link(obj)
    context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        ebs = []
        for b, label in enumerate(labels):
            eb = arm.edit_bones.new(str(label))
            head = heads[b]
            chain_kids = [c for c in kids.get(b, [])
                          if np.linalg.norm(heads[c] - head) > 1e-3]
            if str(label) == "root":           # pelvis centre -> lowest spine bone
                chain_kids = [int(np.nonzero(labels == "spine05")[0][0])]
            if chain_kids:
                tail = heads[chain_kids].mean(axis=0)
            elif parents[b] >= 0:
                d = head - heads[parents[b]]
                tail = head + 0.5 * d if np.linalg.norm(d) > 1e-3 else head + [0, 0, 0.03]
            else:
                tail = head + np.array([0.0, 0.0, 0.1])
            if np.linalg.norm(tail - head) < 1e-3:
                tail = head + np.array([0.0, 0.0, 0.02])
            eb.head, eb.tail = Vector(head.tolist()), Vector(tail.tolist())
            ebs.append(eb)
        for b, p in enumerate(parents):
            if p >= 0:
                ebs[b].parent = ebs[int(p)]
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
    groups: dict[str, tuple[list[int], list[float]]] = {}
    w, idx = data["weights"], data["indices"]
    for v, k in zip(*np.nonzero(w > 1e-4), strict=True):
        ids, ws = groups.setdefault(str(labels[idx[v, k]]), ([], []))
        ids.append(int(v))
        ws.append(float(w[v, k]))
    mesh = _skin(context, obj, name + "_body", data["vertices"], data["faces"],
                 {b: (np.array(i), np.array(x)) for b, (i, x) in groups.items()})
    context.view_layer.update()
    return obj, mesh


def makehuman_character(context, name: str = "MakeHuman", pose: str = "A"
                        ) -> tuple[bpy.types.Object, bpy.types.Object]:
    """(armature, skinned tube body) with MakeHuman names (see module docstring)."""
    spec = rigs.RigSpec(name, rigs.makehuman_names(), pose=pose, roll_seed=31)
    arm = rigs.build_rig(context, spec)
    bones = [(b.name, np.array(b.head_local), np.array(b.tail_local)) for b in arm.data.bones]
    names = spec.names
    body = [names["hips"], *names["spine"], *names["neck"], names["head"]]
    limbs = [names[f"{s}_{r}"] for s in ("left", "right")
             for r in ("clavicle", "upperarm", "forearm", "hand")]
    radius = {names["hips"]: 0.15, names["head"]: 0.09}
    for b in names["spine"]:
        radius[b] = 0.15
    for b in names["neck"]:
        radius[b] = 0.06
    for s in ("left", "right"):
        radius[names[f"{s}_clavicle"]] = 0.07
        radius[names[f"{s}_upperarm"]] = 0.055
        radius[names[f"{s}_forearm"]] = 0.045
        radius[names[f"{s}_hand"]] = 0.035
    verts, faces, ring = [], [], 16
    for bone, head, tail in bones:
        if bone not in body and bone not in limbs:
            continue
        axis = tail - head
        length = float(np.linalg.norm(axis))
        z = axis / length
        x = np.cross(z, [0.0, 1.0, 0.0] if abs(z[1]) < 0.9 else [1.0, 0.0, 0.0])
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        rows = max(3, int(length / 0.025))
        base = len(verts)
        for i in range(rows + 1):
            c = head + axis * i / rows
            for k in range(ring):
                a = 2 * np.pi * k / ring
                verts.append(c + radius[bone] * (np.cos(a) * x + np.sin(a) * y))
        for i in range(rows):
            for k in range(ring):
                a, b = base + i * ring + k, base + i * ring + (k + 1) % ring
                faces.append((a, b, b + ring, a + ring))
    verts_a = np.array(verts)
    # weights: inverse-square distance to the bone segments, the nearest three bones
    segs = [(n, h, t) for n, h, t in bones if n in body or n in limbs]
    dist = np.stack([_segment_distance(verts_a, h, t) for _, h, t in segs], axis=1)
    near = np.argsort(dist, axis=1)[:, :3]
    w = 1.0 / np.maximum(np.take_along_axis(dist, near, axis=1), 1e-3) ** 4
    w /= w.sum(axis=1, keepdims=True)
    groups = {}
    for j, (bone, _, _) in enumerate(segs):
        hit = np.nonzero(near == j)
        groups[bone] = (hit[0], w[hit])
    world = np.array(arm.matrix_world)
    verts_world = verts_a @ world[:3, :3].T + world[:3, 3]
    mesh = _skin(context, arm, name + "_body", verts_world, np.array(faces), groups)
    context.view_layer.update()
    return arm, mesh


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    t = np.clip((p - a) @ ab / max(float(ab @ ab), 1e-12), 0.0, 1.0)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=1)


def shoulder_vertices(mesh_obj: bpy.types.Object, min_weight: float = 0.3) -> np.ndarray:
    """Indices of the vertices skinned to the shoulder bones with at least ``min_weight``."""
    ids = {g.index for g in mesh_obj.vertex_groups if g.name in SHOULDER_BONES}
    out = [v.index for v in mesh_obj.data.vertices
           if sum(g.weight for g in v.groups if g.group in ids) >= min_weight]
    return np.array(out, np.int64)


def evaluated_vertices(context, mesh_obj: bpy.types.Object) -> np.ndarray:
    """World positions (V,3) of the deformed mesh at the current frame."""
    depsgraph = context.evaluated_depsgraph_get()
    ev = mesh_obj.evaluated_get(depsgraph)
    me = ev.to_mesh()
    try:
        co = np.empty(3 * len(me.vertices))
        me.vertices.foreach_get("co", co)
    finally:
        ev.to_mesh_clear()
    co = co.reshape(-1, 3)
    m = np.array(ev.matrix_world)
    return co @ m[:3, :3].T + m[:3, 3]


def region_edges(mesh_obj: bpy.types.Object, vertex_ids: np.ndarray) -> np.ndarray:
    """(E,2) mesh edges with both ends in ``vertex_ids``."""
    me = mesh_obj.data
    e = np.empty(2 * len(me.edges), np.int64)
    me.edges.foreach_get("vertices", e)
    e = e.reshape(-1, 2)
    keep = np.isin(e, vertex_ids).all(axis=1)
    return e[keep]


def edge_length_change(rest: np.ndarray, posed: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """|log(posed length / rest length)| per edge (0 = unchanged; 0.69 = halved or doubled)."""
    lr = np.linalg.norm(rest[edges[:, 1]] - rest[edges[:, 0]], axis=1)
    lp = np.linalg.norm(posed[edges[:, 1]] - posed[edges[:, 0]], axis=1)
    return np.abs(np.log(np.maximum(lp, 1e-9) / np.maximum(lr, 1e-9)))


def folded_fraction(mesh_obj: bpy.types.Object, vertex_ids: np.ndarray, verts: np.ndarray,
                    threshold_deg: float = 90.0) -> float:
    """Fraction of the region's interior edges whose two faces meet at more than
    ``threshold_deg`` (normals apart): creases and folds of collapsed skin."""
    me = mesh_obj.data
    loops = np.empty(len(me.loops), np.int64)
    me.loops.foreach_get("vertex_index", loops)
    starts = np.empty(len(me.polygons), np.int64)
    counts = np.empty(len(me.polygons), np.int64)
    me.polygons.foreach_get("loop_start", starts)
    me.polygons.foreach_get("loop_total", counts)
    inside = set(vertex_ids.tolist())
    normals, edge_faces = [], {}
    for f, (s, c) in enumerate(zip(starts.tolist(), counts.tolist(), strict=True)):
        vs = loops[s:s + c]
        p = verts[vs]
        nrm = np.zeros(3)
        for i in range(c):                          # Newell normal (any polygon)
            a, b = p[i], p[(i + 1) % c]
            nrm += np.cross(a, b)
        normals.append(nrm / max(np.linalg.norm(nrm), 1e-12))
        for i in range(c):
            a, b = int(vs[i]), int(vs[(i + 1) % c])
            if a in inside and b in inside:
                edge_faces.setdefault((min(a, b), max(a, b)), []).append(f)
    pairs = [fs for fs in edge_faces.values() if len(fs) == 2]
    if not pairs:
        return 0.0
    normals_a = np.array(normals)
    fa, fb = np.array(pairs).T
    cos = np.sum(normals_a[fa] * normals_a[fb], axis=1)
    return float(np.mean(cos < np.cos(np.radians(threshold_deg))))
