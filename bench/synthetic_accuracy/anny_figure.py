"""Pose the CC0 anny body with the procedural motion; ground-truth joints; clothing colours.

Needs torch and ``anny==0.6.2`` (the ``bench`` extra). anny conventions (verified here): Z up,
metres, the rest figure faces -y, its left is +x, the root bone head sits at the pelvis centre
(origin of the rest model). ``pose_parameters`` are (B, 104, 4, 4) ``local-ref`` deltas: rotations
expressed in world-aligned axes at the reference pose, composed down the chain like SMPL's local
rotations (G_child = G_parent @ D_child); the root delta is its world transform.

World of the synthetic scene ("scene world"): Blender's Z-up, ground plane z = 0, metres. The
motion file's Y-up world is ``(x, y, z)_scene -> (x, z, -y)`` (see ``scene_to_yup``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from procedural_motion import MotionConfig, build_angles

#: SMPL-like joint subset of the ground truth, with the anny bone whose *head* defines it.
#: Definitional notes (see docs/accuracy.md): anny's ``root`` head is the pelvis centre, ~1 cm
#: above the hip-joint line (SMPL's pelvis joint is ~9 cm above it); ``neck01`` head is the base
#: of the neck (C7 level), ``head`` head is the skull base (atlas), ``toe2-1`` head is the ball of
#: the foot. Hips/knees/ankles/shoulders/elbows/wrists are anatomical joint centres, as in SMPL.
GT_JOINTS: tuple[tuple[str, str], ...] = (
    ("pelvis", "root"),
    ("left_hip", "upperleg01.L"), ("right_hip", "upperleg01.R"),
    ("left_knee", "lowerleg01.L"), ("right_knee", "lowerleg01.R"),
    ("left_ankle", "foot.L"), ("right_ankle", "foot.R"),
    ("left_foot", "toe2-1.L"), ("right_foot", "toe2-1.R"),
    ("neck", "neck01"), ("head", "head"),
    ("left_shoulder", "upperarm01.L"), ("right_shoulder", "upperarm01.R"),
    ("left_elbow", "lowerarm01.L"), ("right_elbow", "lowerarm01.R"),
    ("left_wrist", "wrist.L"), ("right_wrist", "wrist.R"),
)
GT_JOINT_NAMES: tuple[str, ...] = tuple(n for n, _ in GT_JOINTS)

#: Clothing palette (linear-ish sRGB in [0, 1]) by dominant skinning bone.
PALETTE: dict[str, tuple[float, float, float]] = {
    "skin": (0.80, 0.58, 0.46),
    "hair": (0.17, 0.11, 0.07),
    "eyes": (0.08, 0.08, 0.09),
    "shirt": (0.16, 0.36, 0.70),
    "pants": (0.20, 0.20, 0.24),
    "shoes": (0.55, 0.55, 0.55),
}


@dataclass(frozen=True)
class FigureSequence:
    """A posed anny sequence in the scene world (Z up, ground z = 0, metres).

    vertices: (F, V, 3) float32; faces: (T, 3) int32; colors: (V, 3) float32 in [0, 1];
    rest_height: standing height (m) of the figure in anny's reference pose;
    joints: (F, J, 3) float64 ground-truth joints (``GT_JOINT_NAMES`` order);
    root_translation: (F, 3) the root bone head (pelvis centre) per frame;
    stance: (F,) int8, 0 = left foot locked, 1 = right foot locked;
    foot_lowest: (F, 2) height (m) of the lowest vertex of the left / right foot (vertices whose
    dominant skinning bone is a ``foot`` or ``toe`` bone of that side): contact truth.
    """

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray
    joints: np.ndarray
    root_translation: np.ndarray
    stance: np.ndarray
    rest_height: float = 0.0
    foot_lowest: np.ndarray | None = None


def _rx(deg: np.ndarray) -> np.ndarray:
    t = np.radians(deg)
    c, s = np.cos(t), np.sin(t)
    o, z = np.ones_like(t), np.zeros_like(t)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1),
                     np.stack([z, s, c], -1)], -2)


def _ry(deg: np.ndarray) -> np.ndarray:
    t = np.radians(deg)
    c, s = np.cos(t), np.sin(t)
    o, z = np.ones_like(t), np.zeros_like(t)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1),
                     np.stack([-s, z, c], -1)], -2)


def _rz(deg: np.ndarray) -> np.ndarray:
    t = np.radians(deg)
    c, s = np.cos(t), np.sin(t)
    o, z = np.ones_like(t), np.zeros_like(t)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1),
                     np.stack([z, z, o], -1)], -2)


def axis_angle_matrix(axis: np.ndarray, deg: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) about the unit ``axis`` (3,) by ``deg`` (...,) degrees."""
    k = np.asarray(axis, np.float64) / np.linalg.norm(axis)
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    t = np.radians(np.asarray(deg, np.float64))[..., None, None]
    return np.eye(3) + np.sin(t) * kx + (1.0 - np.cos(t)) * (kx @ kx)


def align_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation (3, 3) taking direction ``a`` to direction ``b``."""
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    axis = np.cross(a, b)
    s = np.linalg.norm(axis)
    if s < 1e-9:
        return np.eye(3)
    return axis_angle_matrix(axis / s, np.degrees(np.arctan2(s, float(a @ b))))


def scene_to_yup(x: np.ndarray) -> np.ndarray:
    """Scene world (Z up) points (..., 3) -> the motion file's Y-up world: (x, z, -y)."""
    return np.stack([x[..., 0], x[..., 2], -x[..., 1]], -1)


def load_anny(cache_dir: Path):
    """Build the anny model offline with its 790 MB cache under ``cache_dir`` (first time ~1 min)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("ANNY_CACHE_DIR", str(cache_dir))
    try:
        import anny  # noqa: PLC0415  (optional bench dependency)
    except ImportError as exc:  # pragma: no cover - environment message
        raise SystemExit("anny is not installed: pip install -e .[bench]  (anny==0.6.2)") from exc
    return anny.Anny()


class _Bones:
    """Bone index lookup by anny label."""

    def __init__(self, labels: list[str]) -> None:
        self.index = {name: i for i, name in enumerate(labels)}

    def __getitem__(self, name: str) -> int:
        return self.index[name]


def _arm_geometry(ref_heads: np.ndarray, bones: _Bones, side: str):
    """Straightening rotation and elbow hinge axis of one arm at anny's reference pose."""
    sh, el, wr = (ref_heads[bones[f"{n}.{side}"]] for n in ("upperarm01", "lowerarm01", "wrist"))
    upper, fore = el - sh, wr - el
    straighten = align_rotation(fore, upper)
    hinge = np.cross(upper / np.linalg.norm(upper), np.array([0.0, -1.0, 0.0]))
    return straighten, hinge / np.linalg.norm(hinge)


def pose_deltas(angles: dict[str, np.ndarray], ref_heads: np.ndarray,
                bones: _Bones, n_bones: int) -> np.ndarray:
    """anny local-ref delta rotations (F, n_bones, 3, 3) for the per-frame angles (degrees)."""
    n = len(angles["yaw"])
    d = np.tile(np.eye(3), (n, n_bones, 1, 1))
    d[:, bones["root"]] = _rz(angles["yaw"])
    for b in ("spine04", "spine03", "spine02"):
        d[:, bones[b]] = _rx(angles["spine_flex"] / 3.0)
    hang = 30.0  # anny's reference arms are abducted ~42 deg; bring them down to ~12 deg
    for side, s, sign in (("l", "L", 1.0), ("r", "R", -1.0)):
        hip, knee = angles[f"hip_flex_{side}"], angles[f"knee_flex_{side}"]
        d[:, bones[f"upperleg01.{s}"]] = _rx(-hip)
        d[:, bones[f"lowerleg01.{s}"]] = _rx(knee)
        d[:, bones[f"foot.{s}"]] = _rx(hip - knee - angles[f"ankle_flex_{side}"])
        abd, flex = angles[f"shoulder_abd_{side}"], angles[f"shoulder_flex_{side}"]
        d[:, bones[f"upperarm01.{s}"]] = _rx(-flex) @ _ry(sign * (hang - abd))
        straighten, hinge = _arm_geometry(ref_heads, bones, s)
        d[:, bones[f"lowerarm01.{s}"]] = axis_angle_matrix(
            hinge, np.maximum(angles[f"elbow_flex_{side}"], 0.0)) @ straighten
    return d


def clothing_colors(model, rest_vertices: np.ndarray) -> np.ndarray:
    """Per-vertex RGB (V, 3) from each vertex's dominant skinning bone, plus hair on the head."""
    w = model.vertex_bone_weights.detach().cpu().numpy()
    idx = model.vertex_bone_indices.detach().cpu().numpy()
    dom = idx[np.arange(len(idx)), w.argmax(1)]
    labels = list(model.bone_labels)
    cats = []
    for b in dom:
        name = labels[b]
        if name.startswith(("eye",)):
            cats.append("eyes")
        elif name.startswith(("head", "neck", "lowerarm", "wrist", "finger", "metacarpal")):
            cats.append("skin")
        elif name.startswith(("spine01", "spine02", "spine03", "spine04", "clavicle",
                              "shoulder", "upperarm")):
            cats.append("shirt")
        elif name.startswith(("foot", "toe")):
            cats.append("shoes")
        else:
            cats.append("pants")
    colors = np.array([PALETTE[c] for c in cats], np.float32)
    # hair: the top and back of the skull (rest pose: head top ~ max z, face toward -y)
    head = np.array([c == "skin" for c in cats]) & (rest_vertices[:, 2] > 0.62)
    top = rest_vertices[:, 2].max()
    hair = head & ((rest_vertices[:, 2] > top - 0.07) | (rest_vertices[:, 1] > 0.0))
    colors[hair] = PALETTE["hair"]
    return colors


def foot_vertex_masks(model) -> np.ndarray:
    """(2, V) bool: vertices whose dominant skinning bone is a left / right foot or toe bone."""
    w = model.vertex_bone_weights.detach().cpu().numpy()
    idx = model.vertex_bone_indices.detach().cpu().numpy()
    labels = list(model.bone_labels)
    dom = [labels[b] for b in idx[np.arange(len(idx)), w.argmax(1)]]
    return np.array([[n.startswith(("foot", "toe")) and n.endswith(f".{s}") for n in dom]
                     for s in ("L", "R")])


def _foot_lock(ankles: np.ndarray, lowest_z: np.ndarray,
               stance: np.ndarray) -> np.ndarray:
    """Root translation (F, 3) keeping the stance foot planted and the lowest vertex on z = 0.

    ankles: (F, 2, 3) left/right ankle positions relative to the root (root at the origin,
    heading applied); lowest_z: (F,) lowest vertex z relative to the root; stance: (F,) int,
    0 = left foot planted, 1 = right. The horizontal root motion is minus the planted ankle's
    motion relative to the root, so the planted foot does not slide.
    """
    n = len(ankles)
    xy = np.zeros((n, 2))
    for f in range(1, n):
        s = int(stance[f])
        xy[f] = xy[f - 1] - (ankles[f, s, :2] - ankles[f - 1, s, :2])
    return np.concatenate([xy, -lowest_z[:, None]], 1)


def pose_sequence(model, cfg: MotionConfig, start_xy: tuple[float, float],
                  batch: int = 64, phenotype: dict[str, float] | None = None) -> FigureSequence:
    """Pose anny with the script; the root starts at ``start_xy`` (scene world, metres).

    phenotype: anny phenotype values in [0, 1] (gender, age, muscle, weight, height,
    proportions); None keeps anny's default (all 0.5, ~1.63 m).
    """
    import torch  # noqa: PLC0415

    bones = _Bones(list(model.bone_labels))
    nb = model.bone_count
    with torch.no_grad():
        eye = torch.eye(4, dtype=torch.float64).expand(1, nb, 4, 4).clone()
        ref = model(eye, phenotype_kwargs=phenotype)
        ref_heads = ref["bone_poses"][0, :, :3, 3].cpu().numpy()
        rest_vertices = ref["vertices"][0].cpu().numpy()
        angles = build_angles(cfg)
        rot = pose_deltas(angles, ref_heads, bones, nb)
        n = rot.shape[0]
        verts = np.empty((n, rest_vertices.shape[0], 3), np.float64)
        heads = np.empty((n, nb, 3), np.float64)
        for i in range(0, n, batch):
            p = torch.zeros((min(batch, n - i), nb, 4, 4), dtype=torch.float64)
            p[:, :, :3, :3] = torch.from_numpy(rot[i:i + batch])
            p[:, :, 3, 3] = 1.0
            out = model(p, phenotype_kwargs=phenotype)
            verts[i:i + batch] = out["vertices"].cpu().numpy()
            heads[i:i + batch] = out["bone_poses"][:, :, :3, 3].cpu().numpy()
    ankles = heads[:, [bones["foot.L"], bones["foot.R"]]]
    stance = angles["stance_right"].astype(np.int8)
    trans = _foot_lock(ankles, verts[:, :, 2].min(1), stance)
    trans[:, :2] += np.asarray(start_xy, np.float64)
    verts += trans[:, None]
    heads += trans[:, None]
    joints = heads[:, [bones[b] for _, b in GT_JOINTS]]
    feet = foot_vertex_masks(model)
    foot_lowest = np.stack([verts[:, m, 2].min(1) for m in feet], axis=1)
    faces = model.faces.detach().cpu().numpy().astype(np.int32)
    return FigureSequence(
        vertices=verts.astype(np.float32), faces=faces,
        colors=clothing_colors(model, rest_vertices), joints=joints,
        root_translation=heads[:, bones["root"]], stance=stance,
        rest_height=float(np.ptp(rest_vertices[:, 2])), foot_lowest=foot_lowest,
    )
