"""Smoothing bake of an armature's rotation and location F-curves, with jitter numbers.

Jitter = mean |second difference| of the bone heads' world positions over the keyed samples,
in millimetres per frame^2 (scene frames). ``preview_bake`` computes numbers only and leaves
the scene unchanged; ``bake_smoothing`` writes the filtered values back into the same keys (the
UI wraps it in one undo step). Quaternion signs are made continuous before filtering and the
quaternions renormalised after. Bones with Euler rotations are not filtered or measured by
rotation (STR rigs use quaternions).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import bpy
import numpy as np

from . import bpy_compat
from .core.filters import METHODS, smooth
from .core.rotations import quaternion_sign_continuity, quaternion_to_matrix
from .core.skeleton import pose_bone_world_heads

_PATH = re.compile(r'^pose\.bones\["(?P<bone>(?:[^"\\]|\\.)*)"\]\.(?P<prop>rotation_quaternion|location)$')


#: Named bake strengths (``BakeOptions.strength``) offered on import. Their own names: the
#: capture's smoothing levels (none/light/medium/strong) are the backend's presets, another
#: filter with another meaning.
BAKE_PRESETS: dict[str, float] = {"off": 0.0, "gentle": 0.25, "moderate": 0.5, "firm": 0.8}
BAKE_PRESET_ITEMS = [
    ("off", "Off", "Keep the keys as imported"),
    ("gentle", "Gentle", "Bake strength 0.25"),
    ("moderate", "Moderate", "Bake strength 0.5"),
    ("firm", "Firm", "Bake strength 0.8"),
]


class BakeError(RuntimeError):
    """The chosen object cannot be smoothed (no armature, no keyed motion)."""


@dataclass(frozen=True)
class BakeOptions:
    method: str = "GAUSSIAN"          # GAUSSIAN | BUTTERWORTH | ONE_EURO
    strength: float = 0.5             # 0 (unchanged) .. 1 (strongest)
    rotations: bool = True
    locations: bool = True


@dataclass(frozen=True)
class BakeReport:
    jitter_before: float              # mm / frame^2
    jitter_after: float               # mm / frame^2
    max_change_mm: float              # largest bone-head displacement the bake causes
    num_curves: int
    num_keys: int
    baked: bool

    @property
    def ratio(self) -> float:
        return self.jitter_after / self.jitter_before if self.jitter_before > 0 else 1.0


@dataclass
class _Curves:
    frames: np.ndarray                                 # (F,) scene frames
    bones: list[str]                                   # topological order
    parents: list[int]
    rest: np.ndarray                                   # (J,4,4)
    quat: dict[str, list]                              # bone -> 4 fcurves
    loc: dict[str, list]                               # bone -> fcurves by index (None gaps)
    values: dict[int, np.ndarray]                      # id(fcurve) -> (F,) values


def _resolve(obj: bpy.types.Object | None) -> bpy.types.Object:
    """The armature to work on: the object itself, or the rig of a selected body mesh."""
    if (obj is not None and obj.type == "MESH" and obj.parent is not None
            and obj.parent.type == "ARMATURE"):
        obj = obj.parent
    if obj is None or obj.type != "ARMATURE":
        raise BakeError("select an STR rig (armature) to smooth")
    return obj


def _collect(armature_obj: bpy.types.Object) -> _Curves:
    fcurves = bpy_compat.action_fcurves(armature_obj)
    quat: dict[str, list] = {}
    loc: dict[str, list] = {}
    for fc in fcurves:
        m = _PATH.match(fc.data_path)
        if not m or fc.array_index > 3:
            continue
        target = quat if m["prop"] == "rotation_quaternion" else loc
        slots = target.setdefault(m["bone"], [None] * (4 if target is quat else 3))
        if fc.array_index < len(slots):
            slots[fc.array_index] = fc
    quat = {b: c for b, c in quat.items() if all(c)}
    used = [fc for c in list(quat.values()) + list(loc.values()) for fc in c if fc is not None]
    if not used:
        raise BakeError(f"'{armature_obj.name}' has no keyed bone rotations or locations")
    frames, values = _sample(used)
    bones, parents, rest = _bone_tree(armature_obj)
    return _Curves(frames, bones, parents, rest, quat, loc, values)


def _sample(curves: list) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    cos = []
    for fc in curves:
        co = np.empty(2 * len(fc.keyframe_points), np.float32)
        fc.keyframe_points.foreach_get("co", co)
        cos.append(co.reshape(-1, 2).astype(np.float64))
    frames = cos[0][:, 0]
    same = all(c.shape == cos[0].shape and np.array_equal(c[:, 0], frames) for c in cos)
    if same:
        return frames, {id(fc): c[:, 1] for fc, c in zip(curves, cos, strict=True)}
    frames = np.unique(np.concatenate([c[:, 0] for c in cos]))
    return frames, {id(fc): np.array([fc.evaluate(f) for f in frames]) for fc in curves}


def _bone_tree(armature_obj) -> tuple[list[str], list[int], np.ndarray]:
    bones = armature_obj.data.bones
    order: list[str] = []
    stack = [b for b in bones if b.parent is None][::-1]
    while stack:
        b = stack.pop()
        order.append(b.name)
        stack.extend(list(b.children)[::-1])
    index = {n: i for i, n in enumerate(order)}
    parents = [index[bones[n].parent.name] if bones[n].parent else -1 for n in order]
    rest = np.array([np.array(bones[n].matrix_local) for n in order])
    return order, parents, rest


def _heads_world(armature_obj, cur: _Curves, values: dict[int, np.ndarray]) -> np.ndarray:
    n = cur.frames.shape[0]
    j = len(cur.bones)
    rot = np.broadcast_to(np.eye(3), (n, j, 3, 3)).copy()
    locs = np.zeros((n, j, 3))
    for k, name in enumerate(cur.bones):
        pb = armature_obj.pose.bones.get(name)
        if name in cur.quat:
            q = np.stack([values[id(fc)] for fc in cur.quat[name]], -1)
            rot[:, k] = quaternion_to_matrix(q)
        elif pb is not None and pb.rotation_mode == "QUATERNION":
            rot[:, k] = quaternion_to_matrix(np.array(pb.rotation_quaternion))
        for i, fc in enumerate(cur.loc.get(name, [])):
            if fc is not None:
                locs[:, k, i] = values[id(fc)]
    heads = pose_bone_world_heads(cur.rest, rot, locs, cur.parents)
    mw = np.array(armature_obj.matrix_world)
    return heads @ mw[:3, :3].T + mw[:3, 3]


def _jitter_mm(heads: np.ndarray, frames: np.ndarray) -> float:
    if heads.shape[0] < 3:
        return 0.0
    step = float(np.median(np.diff(frames)))
    acc = np.diff(heads, 2, axis=0) / (step * step)
    return float(np.linalg.norm(acc, axis=-1).mean() * 1000.0)


def measure_jitter(armature_obj: bpy.types.Object) -> float:
    """Mean |second difference| of world bone heads over the keys, mm / frame^2."""
    armature_obj = _resolve(armature_obj)
    cur = _collect(armature_obj)
    return _jitter_mm(_heads_world(armature_obj, cur, cur.values), cur.frames)


def _filtered(cur: _Curves, options: BakeOptions, fs: float) -> dict[int, np.ndarray]:
    out = dict(cur.values)
    if options.rotations and cur.quat:
        names = list(cur.quat)
        q = np.stack([np.stack([cur.values[id(fc)] for fc in cur.quat[n]], -1) for n in names],
                     1)                                                  # (F,B,4)
        q = quaternion_sign_continuity(q, axis=0)
        flat = smooth(q.reshape(q.shape[0], -1), fs, options.method, options.strength)
        q = flat.reshape(q.shape)
        q /= np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), 1e-12)
        for b, n in enumerate(names):
            for i, fc in enumerate(cur.quat[n]):
                out[id(fc)] = q[:, b, i]
    if options.locations and cur.loc:
        fcs = [fc for c in cur.loc.values() for fc in c if fc is not None]
        x = np.stack([cur.values[id(fc)] for fc in fcs], -1)
        y = smooth(x, fs, options.method, options.strength)
        for i, fc in enumerate(fcs):
            out[id(fc)] = y[:, i]
    return out


def _check(options: BakeOptions) -> None:
    if options.method not in METHODS:
        raise BakeError(f"unknown smoothing method {options.method!r}; use one of {METHODS}")
    if not 0.0 <= options.strength <= 1.0:
        raise BakeError(f"smoothing strength must be between 0 and 1, got {options.strength}")


def _run(armature_obj, options: BakeOptions, write: bool) -> BakeReport:
    _check(options)
    armature_obj = _resolve(armature_obj)
    cur = _collect(armature_obj)
    scene = bpy.context.scene
    scene_rate = scene.render.fps / scene.render.fps_base
    step = float(np.median(np.diff(cur.frames))) if cur.frames.shape[0] > 1 else 1.0
    fs = scene_rate / step
    new_values = _filtered(cur, options, fs)
    before = _heads_world(armature_obj, cur, cur.values)
    after = _heads_world(armature_obj, cur, new_values)
    report = BakeReport(
        jitter_before=_jitter_mm(before, cur.frames), jitter_after=_jitter_mm(after, cur.frames),
        max_change_mm=float(np.linalg.norm(after - before, axis=-1).max() * 1000.0),
        num_curves=sum(1 for k in new_values if new_values[k] is not cur.values[k]),
        num_keys=int(cur.frames.shape[0]), baked=write)
    if write:
        _write_back(cur, new_values)
    return report


def _write_back(cur: _Curves, values: dict[int, np.ndarray]) -> None:
    fcs = [fc for c in list(cur.quat.values()) + list(cur.loc.values()) for fc in c
           if fc is not None]
    for fc in fcs:
        v = values[id(fc)]
        if v is cur.values[id(fc)]:
            continue
        kp = fc.keyframe_points
        n = len(kp)
        co = np.empty(2 * n, np.float32)
        kp.foreach_get("co", co)
        co = co.reshape(-1, 2)
        if n == cur.frames.shape[0] and np.array_equal(co[:, 0], cur.frames.astype(np.float32)):
            co[:, 1] = v
            kp.foreach_set("co", co.ravel())
        else:                                   # keys differed: rewrite on the shared frames
            kp.clear()
            kp.add(cur.frames.shape[0])
            new = np.stack([cur.frames, v], -1).astype(np.float32)
            kp.foreach_set("co", new.ravel())
            kp.foreach_set("interpolation", np.full(cur.frames.shape[0], 1, np.int32))
        fc.update()


def preview_bake(armature_obj: bpy.types.Object, options: BakeOptions) -> BakeReport:
    """Jitter before/after the bake, without changing the scene."""
    return _run(armature_obj, options, write=False)


def bake_smoothing(armature_obj: bpy.types.Object, options: BakeOptions) -> BakeReport:
    """Filter the armature's keyed rotations/locations in place; returns the jitter numbers."""
    return _run(armature_obj, options, write=True)
