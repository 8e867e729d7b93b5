"""Bone maps from the SMPL source skeleton onto a humanoid target rig (stdlib + numpy only).

A *bone map* says which SMPL joint drives which target bone: ``{target_bone: source}`` where
``source`` is one of the 24 SMPL joint names or ``"spine"`` (the whole SMPL spine chain
spine1 -> spine2 -> spine3 -> neck, spread over however many target bones map to it). When several
target bones map to the same source they form a chain (ordered by hierarchy depth) and share
that source segment by length; e.g. Unreal's ``neck_01``/``neck_02`` both map to ``neck``.

Three ways to get a map, tried in this order by :func:`auto_map`:

1. a preset (``presets/*.json`` or a user preset) whose names are found in the rig; names are
   compared without namespace prefixes (``mixamorig:``, ``mixamorig1:``, ``Armature|``) and
   case-insensitively;
2. name tokens: ``LeftUpLeg``, ``thigh_l``, ``DEF-thigh.L``, ``J_Bip_L_UpperLeg``... are split
   into lower-case tokens, a side is read from ``left/right/l/r`` tokens, and the rest matched
   against keyword sets. Where a rig has several bones for one role (a generated Rigify rig:
   ``upper_arm_fk.L``, ``DEF-upper_arm.L``...), animator controls win over plain names and
   plain names over deform (``DEF-``) bones; mechanism/original/tweak/IK bones never map.
   Chains keep the longest run of bones that are ancestors of each other and rise. A spine
   numbered to the head (Rigify metarig: ``spine`` .. ``spine.006``) is split at the bone the
   clavicles hang from: pelvis below, neck above, head at the top;
3. hierarchy only (bones called ``b0..b20``): the hips are the first bone with three or more
   children; the legs are the two longest downward chains below it, the spine the upward one;
   the chest is where the spine branches into neck and arms.

Left/right for the hierarchy method come from positions: the toes point forward, so with Z up
the character's left is ``up x forward``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .atomic_files import atomic_output
from .skeleton import SMPL_JOINT_NAMES

#: Virtual source for a spine chain spread over SMPL spine1..spine3 (up to the neck).
SPINE_CHAIN = "spine"
#: Every value a bone map may use.
SOURCE_NAMES: tuple[str, ...] = SMPL_JOINT_NAMES + (SPINE_CHAIN,)
#: SMPL polyline each source drives: joint -> its anatomical child (None for the leaves).
SOURCE_SEGMENTS: dict[str, tuple[str, ...]] = {
    "pelvis": ("pelvis", "spine1"),
    "spine1": ("spine1", "spine2"),
    "spine2": ("spine2", "spine3"),
    "spine3": ("spine3", "neck"),
    SPINE_CHAIN: ("spine1", "spine2", "spine3", "neck"),
    "neck": ("neck", "head"),
    "head": ("head",),
    "left_collar": ("left_collar", "left_shoulder"),
    "right_collar": ("right_collar", "right_shoulder"),
    "left_shoulder": ("left_shoulder", "left_elbow"),
    "right_shoulder": ("right_shoulder", "right_elbow"),
    "left_elbow": ("left_elbow", "left_wrist"),
    "right_elbow": ("right_elbow", "right_wrist"),
    "left_wrist": ("left_wrist", "left_hand"),
    "right_wrist": ("right_wrist", "right_hand"),
    "left_hand": ("left_hand",),
    "right_hand": ("right_hand",),
    "left_hip": ("left_hip", "left_knee"),
    "right_hip": ("right_hip", "right_knee"),
    "left_knee": ("left_knee", "left_ankle"),
    "right_knee": ("right_knee", "right_ankle"),
    "left_ankle": ("left_ankle", "left_foot"),
    "right_ankle": ("right_ankle", "right_foot"),
    "left_foot": ("left_foot",),
    "right_foot": ("right_foot",),
}
#: Sources a usable map must contain (otherwise the rig is not a humanoid we can drive).
REQUIRED_SOURCES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "left_knee", "right_knee",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
)
#: Sources that can be chains (several target bones).
CHAIN_SOURCES: frozenset[str] = frozenset({SPINE_CHAIN, "neck", "spine1", "spine2", "spine3"})

PRESET_DIR = Path(__file__).resolve().parent.parent / "presets"
BUILTIN_PRESETS: tuple[str, ...] = ("mixamo", "rigify", "unreal", "vrm", "makehuman")


class BoneMapError(ValueError):
    """A preset or bone map is malformed, or a rig cannot be mapped; the text says why."""


@dataclass(frozen=True)
class BoneInfo:
    """One target bone at rest: name, parent name ('' for roots), head/tail (armature space, m)."""

    name: str
    parent: str
    head: tuple[float, float, float]
    tail: tuple[float, float, float]


@dataclass(frozen=True)
class Preset:
    """A named bone-map preset.

    bones: source -> candidate target names. For chain sources every candidate found is used;
    for the others the first candidate found wins. ``pose_properties``: pose-bone custom
    properties to set before baking (e.g. Rigify's IK/FK switches ``{"thigh_parent.L":
    {"IK_FK": 1.0}}``; only properties that already exist are changed).
    """

    name: str
    label: str
    description: str
    bones: Mapping[str, tuple[str, ...]]
    pose_properties: Mapping[str, Mapping[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class BoneMap:
    """Resolved map ``target bone -> source`` plus how it was found (preset name or method)."""

    pairs: tuple[tuple[str, str], ...]
    method: str
    pose_properties: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, str]:
        return dict(self.pairs)

    def sources(self) -> set[str]:
        return {s for _, s in self.pairs}

    def missing_required(self) -> list[str]:
        have = self.sources()
        if SPINE_CHAIN in have:
            have |= {"spine1", "spine2", "spine3"}
        return [s for s in REQUIRED_SOURCES if s not in have]


# ----------------------------------------------------------------------------- presets


def _parse_preset(data: object, origin: str) -> Preset:
    if not isinstance(data, dict):
        raise BoneMapError(f"{origin}: a preset must be a JSON object")
    bones_raw = data.get("bones")
    if not isinstance(bones_raw, dict) or not bones_raw:
        raise BoneMapError(f"{origin}: 'bones' must be a non-empty object source -> [names]")
    bones: dict[str, tuple[str, ...]] = {}
    for source, names in bones_raw.items():
        if source not in SOURCE_NAMES:
            raise BoneMapError(
                f"{origin}: unknown source {source!r}; use one of {', '.join(SOURCE_NAMES)}")
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
            raise BoneMapError(f"{origin}: bones[{source!r}] must be a list of bone names")
        bones[source] = tuple(names)
    props_raw = data.get("pose_properties", {})
    if not isinstance(props_raw, dict):
        raise BoneMapError(f"{origin}: 'pose_properties' must be an object")
    props = {str(b): {str(k): float(v) for k, v in p.items()} for b, p in props_raw.items()}
    name = str(data.get("name") or Path(origin).stem)
    return Preset(name=name, label=str(data.get("label") or name),
                  description=str(data.get("description", "")), bones=bones,
                  pose_properties=props)


def load_preset(name_or_path: str | Path) -> Preset:
    """Load a built-in preset by name (``"mixamo"``) or any preset JSON file by path."""
    p = Path(name_or_path)
    if p.suffix.lower() != ".json":
        p = PRESET_DIR / f"{name_or_path}.json"
    if not p.is_file():
        raise BoneMapError(
            f"bone-map preset {str(name_or_path)!r} not found; built-in presets: "
            f"{', '.join(BUILTIN_PRESETS)}")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BoneMapError(f"cannot read bone-map preset {p}: {exc}") from exc
    return _parse_preset(data, str(p))


def save_user_preset(path: str | Path, name: str, pairs: Iterable[tuple[str, str]],
                     description: str = "") -> Path:
    """Write a bone map as a preset JSON (atomic: temp file + ``os.replace``)."""
    bones: dict[str, list[str]] = {}
    for target, source in pairs:
        if source not in SOURCE_NAMES:
            raise BoneMapError(f"bone {target!r}: unknown source {source!r}")
        bones.setdefault(source, []).append(target)
    if not bones:
        raise BoneMapError("the bone map is empty: nothing to save")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"name": name, "label": name, "description": description,
                       "bones": bones}, indent=2)
    with atomic_output(out) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return out


def strip_namespace(name: str) -> str:
    """``'mixamorig1:LeftArm' -> 'LeftArm'``, ``'Armature|Hips' -> 'Hips'``."""
    return re.split(r"[:|]", name)[-1]


def _depths(bones: Iterable[BoneInfo]) -> dict[str, int]:
    parent = {b.name: b.parent for b in bones}
    out: dict[str, int] = {}
    for name in parent:
        d, cur, seen = 0, parent[name], set()
        while cur and cur in parent and cur not in seen:
            seen.add(cur)
            d += 1
            cur = parent[cur]
        out[name] = d
    return out


def apply_preset(preset: Preset, bones: list[BoneInfo]) -> BoneMap:
    """Resolve a preset against a rig's bones (namespace-free, case-insensitive names)."""
    by_key: dict[str, str] = {b.name.lower(): b.name for b in bones}
    for b in bones:
        by_key.setdefault(strip_namespace(b.name).lower(), b.name)
    depth = _depths(bones)
    used: set[str] = set()
    pairs: list[tuple[str, str]] = []
    for source, candidates in preset.bones.items():
        hits = [by_key.get(c.lower()) or by_key.get(strip_namespace(c).lower())
                for c in candidates]
        found = [f for f in dict.fromkeys(h for h in hits if h) if f not in used]
        if not found:
            continue
        if source not in CHAIN_SOURCES:
            found = found[:1]
        for f in sorted(found, key=lambda n: depth[n]):
            pairs.append((f, source))
            used.add(f)
    props = {bone: dict(vals) for bone, vals in preset.pose_properties.items()}
    return BoneMap(pairs=tuple(pairs), method=f"preset:{preset.name}", pose_properties=props)


# ----------------------------------------------------------------------------- names

_SIDE_TOKENS = {"l": "left", "left": "left", "lft": "left", "r": "right", "right": "right",
                "rgt": "right"}
_EXCLUDE = {"twist", "roll", "ik", "pole", "target", "mch", "org", "tweak", "end", "nub",
            "thumb", "index", "middle", "ring", "pinky", "little", "finger", "eye", "jaw",
            "tongue", "teeth", "breast", "ear", "lid", "brow", "lip", "nose", "cheek", "chin",
            "hair", "skirt", "bust", "parent", "socket", "prop", "weapon", "ctrl", "vis",
            "corrective", "helper", "palm", "metacarpal", "share", "tip", "spring"}
#: role keyword sets (after removing side tokens and digits); checked in this order.
_ROLE_RULES: tuple[tuple[str, frozenset[str]], ...] = (
    ("toe", frozenset({"toe", "toes", "toebase", "ball"})),
    ("foot", frozenset({"foot", "ankle"})),
    ("forearm", frozenset({"forearm", "lowerarm", "lowarm", "elbow", "radius"})),
    ("upperarm", frozenset({"upperarm", "uparm", "humerus", "arm", "shldr"})),
    ("hand", frozenset({"hand", "wrist"})),
    ("shin", frozenset({"shin", "calf", "lowerleg", "lowleg", "knee", "leg", "crus"})),
    ("thigh", frozenset({"thigh", "upleg", "upperleg", "femur"})),
    ("clavicle", frozenset({"clavicle", "collar", "shoulder"})),
    ("neck", frozenset({"neck"})),
    ("head", frozenset({"head"})),
    ("spine", frozenset({"spine", "chest", "upperchest", "abdomen", "back"})),
    ("hips", frozenset({"hips", "hip", "pelvis", "torso"})),
)
_ROLE_TO_SOURCE = {
    ("hips", ""): "pelvis", ("spine", ""): SPINE_CHAIN, ("neck", ""): "neck",
    ("head", ""): "head",
    **{(r, side): f"{side}_{s}" for side in ("left", "right") for r, s in (
        ("clavicle", "collar"), ("upperarm", "shoulder"), ("forearm", "elbow"),
        ("hand", "wrist"), ("thigh", "hip"), ("shin", "knee"), ("foot", "ankle"),
        ("toe", "foot"))},
}


def name_tokens(name: str) -> list[str]:
    """Lower-case tokens of a bone name: camelCase, digits and separators split.

    ``'mixamorig:LeftUpLeg' -> ['left', 'up', 'leg']``, ``'DEF-thigh.L' -> ['def', 'thigh',
    'l']``, ``'upperarm_twist_01_l' -> ['upperarm', 'twist', 'l']``.
    """
    base = strip_namespace(name)
    base = re.sub(r"([a-z])([A-Z])", r"\1 \2", base)
    base = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", base)
    parts = re.split(r"[^A-Za-z]+", base)
    return [p.lower() for p in parts if p]


def _side_and_words(tokens: list[str]) -> tuple[str, list[str]]:
    side = ""
    words: list[str] = []
    for t in tokens:
        if t in _SIDE_TOKENS and not side:
            side = _SIDE_TOKENS[t]
        elif t not in {"def", "j", "bip", "c", "mixamorig", "bone", "jnt", "joint", "b", "sk",
                       "bn", "cc", "base"} or t == "base" and words[-1:] == ["toe"]:
            words.append(t)
    return side, words


def classify_name(name: str) -> tuple[str, str] | None:
    """(role, side) read from a bone name, side '' for centre bones; None when not a body bone.

    Roles: hips spine neck head clavicle upperarm forearm hand thigh shin foot toe.
    """
    side, words = _side_and_words(name_tokens(name))
    if not words or any(w in _EXCLUDE for w in words):
        return None
    joined = "".join(words)
    wordset = set(words) | {joined}
    # multi-word forms: "up leg", "upper arm", "lower leg", "fore arm", "toe base"
    for a, b in (("up", "leg"), ("upper", "leg"), ("up", "arm"), ("upper", "arm"),
                 ("lower", "leg"), ("lower", "arm"), ("low", "leg"), ("low", "arm"),
                 ("fore", "arm"), ("toe", "base"), ("upper", "chest")):
        if a in words and b in words:
            wordset.add(a + b)
    for role, keys in _ROLE_RULES:
        if wordset & keys:
            if role == "upperarm" and wordset & {"forearm", "lowerarm", "lowarm"}:
                continue
            if role == "shin" and wordset & {"upleg", "upperleg"}:
                continue
            if role == "hips" and side:  # "LeftHip" is a thigh in several rigs; a sided
                # "pelvis.L" (Rigify metarig) is a pelvis helper, not a leg
                return ("thigh", side) if wordset & {"hip", "hips"} else None
            if role in ("hips", "spine", "neck", "head"):
                return (role, "") if not side else None
            if role == "clavicle" and "arm" in wordset:
                continue
            return (role, side) if side else None
    return None


#: Preference of a bone family when several bones play one role (lower wins).
_RANK_CONTROL, _RANK_PLAIN, _RANK_DEFORM = 0, 1, 2


def name_rank(name: str) -> int:
    """0 for animator controls (``*_fk``, ``*_ctrl``-free FK names), 1 for plain names, 2 for
    deform bones (``DEF-``): which of several bones with one role a name map drives."""
    tokens = name_tokens(name)
    if "def" in tokens or "deform" in tokens:
        return _RANK_DEFORM
    if "fk" in tokens:
        return _RANK_CONTROL
    return _RANK_PLAIN


def map_by_names(bones: list[BoneInfo], up: tuple[float, float, float] = (0, 0, 1)
                 ) -> BoneMap:
    """Bone map from name tokens (see module docstring, method 2).

    Single roles: the best-ranked family, then the shallowest bone. Chains (spine, neck): the
    best-ranked family's longest ancestor run that rises along ``up``.
    """
    depth = _depths(bones)
    found = _named_candidates(bones)
    chosen: dict[str, list[str]] = {}
    for source, names in found.items():
        best = min(name_rank(n) for n in names)
        family = sorted((n for n in names if name_rank(n) == best), key=lambda n: depth[n])
        chosen[source] = (_rising_chain(family, bones, up) if source in CHAIN_SOURCES
                          else family[:1])
    _split_numbered_spine(chosen, bones)
    pairs = [(n, source) for source, names in chosen.items() for n in names]
    return BoneMap(pairs=tuple(_order_pairs(pairs, depth)), method="names",
                   pose_properties=_fk_switches(bones, [n for n, _ in pairs]))


def _named_candidates(bones: list[BoneInfo]) -> dict[str, list[str]]:
    """source -> bones whose names say they play it (every family)."""
    found: dict[str, list[str]] = {}
    for b in bones:
        cls = classify_name(b.name)
        source = _ROLE_TO_SOURCE.get(cls) if cls is not None else None
        if source is not None:
            found.setdefault(source, []).append(b.name)
    return found


def _ancestors(bones: list[BoneInfo]) -> dict[str, set[str]]:
    parent = {b.name: b.parent for b in bones}
    out: dict[str, set[str]] = {}
    for name in parent:
        seen: set[str] = set()
        cur = parent[name]
        while cur and cur in parent and cur not in seen:
            seen.add(cur)
            cur = parent[cur]
        out[name] = seen
    return out


def _rising_chain(names: list[str], bones: list[BoneInfo],
                  up: tuple[float, float, float]) -> list[str]:
    """Longest run of ``names`` (sorted by depth) where each bone descends from the previous
    one and its head is higher (a chain, not parallel FK/reverse bones sharing a pivot)."""
    if len(names) <= 1:
        return list(names)
    info = {b.name: b for b in bones}
    anc = _ancestors(bones)
    up_v = np.asarray(up, np.float64) / max(float(np.linalg.norm(up)), 1e-12)
    height = {n: float(np.asarray(info[n].head) @ up_v) for n in names}
    span = max(height.values()) - min(height.values())
    eps = max(1e-4, 0.01 * span)
    best: list[list[str]] = []
    for i, n in enumerate(names):
        prev = [best[j] for j in range(i) if names[j] in anc[n]
                and height[n] > height[names[j]] + eps]
        best.append(max(prev, key=len, default=[]) + [n])
    return max(best, key=len)


def _split_numbered_spine(chosen: dict[str, list[str]], bones: list[BoneInfo]) -> None:
    """A spine chain running past the chest to the head (no neck/head names, e.g. the Rigify
    metarig's spine..spine.006): the lowest bone becomes the pelvis when none is named and it
    carries the legs, bones above the one the clavicles (or upper arms) hang from become the
    neck and the top one the head. Changes ``chosen`` in place."""
    spine = chosen.get(SPINE_CHAIN, [])
    if len(spine) < 3:
        return
    parent = {b.name: b.parent for b in bones}
    thighs = chosen.get("left_hip", []) + chosen.get("right_hip", [])
    if "pelvis" not in chosen and thighs and all(parent.get(t) == spine[0] for t in thighs):
        chosen["pelvis"] = [spine[0]]
        spine = spine[1:]
    if "neck" in chosen or "head" in chosen:
        chosen[SPINE_CHAIN] = spine
        return
    arm_roots = [chosen[s][0] for s in ("left_collar", "right_collar", "left_shoulder",
                                        "right_shoulder") if chosen.get(s)]
    chest = next((parent[a] for a in arm_roots if parent.get(a) in spine), None)
    if chest is None or spine.index(chest) == len(spine) - 1:
        chosen[SPINE_CHAIN] = spine
        return
    above = spine[spine.index(chest) + 1:]
    chosen[SPINE_CHAIN] = spine[:spine.index(chest) + 1]
    chosen["head"] = above[-1:]
    if len(above) > 1:
        chosen["neck"] = above[:-1]


def _fk_switches(bones: list[BoneInfo], driven: list[str]) -> dict[str, dict[str, float]]:
    """IK/FK switches to set to FK when FK controls are driven (Rigify keeps them on the limbs'
    ``*_parent`` bones; only properties that exist are changed when baking)."""
    if not any("fk" in name_tokens(n) for n in driven):
        return {}
    return {b.name: {"IK_FK": 1.0} for b in bones
            if "parent" in name_tokens(b.name) and not name_rank(b.name) == _RANK_DEFORM
            and not b.name.upper().startswith("MCH")}


def _order_pairs(pairs: list[tuple[str, str]], depth: dict[str, int]) -> list[tuple[str, str]]:
    return sorted(pairs, key=lambda p: (depth.get(p[0], 0), p[0]))


# ----------------------------------------------------------------------------- hierarchy


class _Tree:
    """A rig's bone tree with heights along its up axis (the helpers of ``map_by_hierarchy``)."""

    def __init__(self, bones: list[BoneInfo], up: tuple[float, float, float]) -> None:
        self.by_name = {b.name: b for b in bones}
        self.kids: dict[str, list[str]] = {b.name: [] for b in bones}
        for b in bones:
            if b.parent in self.kids:
                self.kids[b.parent].append(b.name)
        up_v = np.asarray(up, np.float64)
        self.up = up_v / np.linalg.norm(up_v)
        self.head = {b.name: np.asarray(b.head, np.float64) for b in bones}
        self.roots = [b.name for b in bones if b.parent not in self.by_name]

    def height(self, n: str) -> float:
        return float(self.head[n] @ self.up)

    def tail(self, n: str) -> np.ndarray:
        return np.asarray(self.by_name[n].tail)

    def chain_from(self, start: str) -> list[str]:
        """Main path from ``start``: through single children, and past leaf side bones (twist
        or helper bones); stops where two or more children carry chains (hand, chest)."""
        kids = self.kids
        out = [start]
        while kids[out[-1]]:
            branches = [c for c in kids[out[-1]] if kids[c]]
            if len(kids[out[-1]]) == 1:
                out.append(kids[out[-1]][0])
            elif len(branches) == 1:
                out.append(branches[0])
            else:
                break
        return out

    def subtree(self, n: str) -> list[str]:
        stack, out = [n], []
        while stack:
            c = stack.pop()
            out.append(c)
            stack.extend(self.kids[c])
        return out

    def subtree_end_height(self, n: str) -> float:
        return min([self.height(n)] + [min(self.height(c), float(self.tail(c) @ self.up))
                                       for c in self.subtree(n)])

    def subtree_top_height(self, n: str) -> float:
        return max([self.height(n)] + [max(self.height(c), float(self.tail(c) @ self.up))
                                       for c in self.subtree(n)])

    def subtree_size(self, n: str) -> int:
        return len(self.subtree(n))


def _find_hips(tree: _Tree) -> str:
    """The first bone, breadth-first from the roots, with >= 3 children (spine + two legs)."""
    queue = list(tree.roots)
    while queue:
        n = queue.pop(0)
        if len(tree.kids[n]) >= 3:
            return n
        queue.extend(tree.kids[n])
    raise BoneMapError("no hips found: no bone has three children (spine and two legs)")


def _legs_and_spine(tree: _Tree, hips: str) -> tuple[list[str], list[str]]:
    """(the two leg roots, the spine: the single-child path up to the chest)."""
    children = tree.kids[hips]
    legs = sorted(children, key=tree.subtree_end_height)[:2]
    ups = [c for c in children if c not in legs]
    spine_start = max(ups, key=tree.subtree_size)
    if tree.subtree_end_height(legs[1]) > tree.height(hips) - 0.2 * _scale(tree.head):
        raise BoneMapError("no legs found: the hips' children do not reach down")
    spine = tree.chain_from(spine_start)
    if len(tree.kids[spine[-1]]) < 3:
        raise BoneMapError(f"no chest found above the hips (chain ends at {spine[-1]!r})")
    return legs, spine


def _neck_and_arms(tree: _Tree, chest: str) -> tuple[list[str], list[str]]:
    """(the neck chain up to the head, stopped before a bone that does not rise (a jaw); the
    two arm roots: the chest's largest other children)."""
    chest_kids = tree.kids[chest]
    neck_start = max(chest_kids, key=tree.subtree_top_height)
    arms = sorted((c for c in chest_kids if c != neck_start), key=tree.subtree_size,
                  reverse=True)[:2]
    if len(arms) < 2:
        raise BoneMapError("no arms found at the chest")
    neck_chain = tree.chain_from(neck_start)
    rise = 0.005 * _scale(tree.head)
    for i in range(1, len(neck_chain)):
        if tree.height(neck_chain[i]) < tree.height(neck_chain[i - 1]) + rise:
            return neck_chain[:i], arms
    return neck_chain, arms


def _left_axis(tree: _Tree, leg_chains: list[list[str]]) -> np.ndarray:
    """The rig's left: up x forward, forward being where the toes point (ankle -> toe),
    projected off the up axis."""
    fwd = np.zeros(3)
    for ch in leg_chains:
        if len(ch) >= 3:
            ankle = tree.head[ch[2]]
            tip = tree.head[ch[3]] if len(ch) >= 4 else tree.tail(ch[2])
            fwd += tip - ankle
    fwd -= (fwd @ tree.up) * tree.up
    if np.linalg.norm(fwd) < 1e-9:
        raise BoneMapError("cannot tell front from back: the feet do not point forward")
    return np.cross(tree.up, fwd / np.linalg.norm(fwd))


def _hierarchy_pairs(hips: str, spine: list[str], neck_chain: list[str],
                     leg_chains: list[list[str]], arm_chains: list[list[str]],
                     side_of: Callable[[list[str]], str]) -> list[tuple[str, str]]:
    """(bone, SMPL joint) pairs of the found chains."""
    pairs: list[tuple[str, str]] = [(hips, "pelvis")]
    if len(spine) == 3:
        pairs += list(zip(spine, ("spine1", "spine2", "spine3"), strict=True))
    else:
        pairs += [(name, SPINE_CHAIN) for name in spine]
    if len(neck_chain) >= 2:
        pairs += [(name, "neck") for name in neck_chain[:-1]] + [(neck_chain[-1], "head")]
    else:
        pairs.append((neck_chain[0], "head"))
    for ch in leg_chains:
        side = side_of(ch)
        for bone, s in zip(ch, ("hip", "knee", "ankle", "foot"), strict=False):
            pairs.append((bone, f"{side}_{s}"))
    for ch in arm_chains:
        side = side_of(ch)
        roles = ("collar", "shoulder", "elbow", "wrist") if len(ch) >= 4 else (
            "shoulder", "elbow", "wrist")
        for bone, s in zip(ch, roles, strict=False):
            pairs.append((bone, f"{side}_{s}"))
    return pairs


def map_by_hierarchy(bones: list[BoneInfo], up: tuple[float, float, float] = (0, 0, 1)
                     ) -> BoneMap:
    """Bone map from the tree shape and rest positions only (any bone names): the hips, the
    legs and the spine, the neck and the arms, left from right, then the pairs.

    up: the rig's up axis in the space of ``head``/``tail`` (armature space; Blender: +Z).
    Raises BoneMapError when no humanoid structure is found.
    """
    tree = _Tree(bones, up)
    hips = _find_hips(tree)
    legs, spine = _legs_and_spine(tree, hips)
    neck_chain, arms = _neck_and_arms(tree, spine[-1])
    leg_chains = [_without_split_bones(tree.chain_from(leg), tree.head)[:4] for leg in legs]
    arm_chains = [_arm_chain(_without_split_bones(tree.chain_from(a), tree.head), tree.head)
                  for a in arms]
    left_axis = _left_axis(tree, leg_chains)

    def side_of(chain: list[str]) -> str:
        return "left" if float(tree.head[chain[-1]] @ left_axis) > float(
            tree.head[hips] @ left_axis) else "right"

    pairs = _hierarchy_pairs(hips, spine, neck_chain, leg_chains, arm_chains, side_of)
    sides = [side_of(c) for c in leg_chains] + [side_of(c) for c in arm_chains]
    if sorted(sides[:2]) != ["left", "right"] or sorted(sides[2:]) != ["left", "right"]:
        raise BoneMapError("could not tell the left limbs from the right ones")
    return BoneMap(pairs=tuple(pairs), method="hierarchy")


def _without_split_bones(chain: list[str], head: dict[str, np.ndarray]) -> list[str]:
    """A limb's main path without the second halves of limb segments split in two (a twist
    bone inserted *in* the chain: upper arm -> upper-arm twist -> forearm, as Daz Genesis rigs
    have). Bone i+1 is such a half when it continues bone i's direction (within 10 degrees),
    the two are of similar length (0.5-2x: not a short clavicle in line with a T-pose upper
    arm), bone i alone is much shorter than a neighbouring segment (< 0.6x) and the two
    together match it (0.75-1.33x): upper arm and forearm, thigh and shin are of similar
    length. The
    half keeps its rest pose relative to the bone before it. Segments are head-to-head chords
    (the last bone has none)."""
    out = list(chain)

    def length(k: int) -> float:
        if k < 0 or k + 1 >= len(out):
            return 0.0
        return float(np.linalg.norm(head[out[k + 1]] - head[out[k]]))

    i = 0
    while i + 2 < len(out):
        a = head[out[i + 1]] - head[out[i]]
        b = head[out[i + 2]] - head[out[i + 1]]
        la, lb = length(i), length(i + 1)
        straight = la > 1e-9 and lb > 1e-9 and float(a @ b) / (la * lb) > np.cos(
            np.radians(10.0))
        halves = [n for n in (length(i - 1), length(i + 2))
                  if n > 1e-9 and la < 0.6 * n and 0.75 < (la + lb) / n < 1.33
                  and 0.5 < la / max(lb, 1e-9) < 2.0]
        if straight and halves:
            del out[i + 1]
            continue
        i += 1
    return out


def _arm_chain(chain: list[str], head: dict[str, np.ndarray]) -> list[str]:
    """[clavicle, upper arm, forearm, hand] or [upper arm, forearm, hand] from an arm's main
    path: the first bone is a clavicle when it is clearly shorter than the next one while the
    next two (upper arm, forearm) are of similar length."""
    def seg(i: int) -> float:
        return float(np.linalg.norm(head[chain[i + 1]] - head[chain[i]]))

    if len(chain) >= 4:
        upper, fore = seg(1), seg(2)
        if seg(0) < 0.75 * upper and 0.6 < upper / max(fore, 1e-9) < 1.6:
            return chain[:4]
    return chain[:3]


def _scale(head: dict[str, np.ndarray]) -> float:
    pts = np.stack(list(head.values()))
    return float(np.linalg.norm(pts.max(0) - pts.min(0))) or 1.0


# ----------------------------------------------------------------------------- auto


def _score(m: BoneMap) -> tuple[int, int]:
    return (len(REQUIRED_SOURCES) - len(m.missing_required()), len(m.pairs))


def auto_map(bones: list[BoneInfo], presets: Iterable[Preset] | None = None,
             up: tuple[float, float, float] = (0, 0, 1)) -> BoneMap:
    """Best map for a rig: a complete preset, else name tokens, else the hierarchy.

    Raises BoneMapError (with what is missing) when no method maps the required bones.
    """
    if presets is None:
        presets = [load_preset(n) for n in BUILTIN_PRESETS]
    best: BoneMap | None = None
    for p in presets:
        m = apply_preset(p, bones)
        if not m.missing_required() and (best is None or _score(m) > _score(best)):
            best = m
    if best is not None:
        return best
    by_names = map_by_names(bones, up)
    if not by_names.missing_required():
        return by_names
    try:
        return map_by_hierarchy(bones, up)
    except BoneMapError as exc:
        raise BoneMapError(
            f"cannot map this rig automatically: by names it lacks "
            f"{', '.join(by_names.missing_required())}; by hierarchy: {exc}. "
            "Pick a preset or edit the bone map by hand.") from exc


def resolve_map(bones: list[BoneInfo], preset: str = "auto",
                bone_map: Mapping[str, str] | None = None,
                up: tuple[float, float, float] = (0, 0, 1)) -> BoneMap:
    """The map to use: an explicit ``bone_map``, a named/JSON preset, or ``"auto"``.

    Validates that every target bone exists, every source is known, and the required
    sources are present; raises BoneMapError otherwise.
    """
    names = {b.name for b in bones}
    if bone_map:
        unknown = [t for t in bone_map if t not in names]
        if unknown:
            raise BoneMapError(f"bone map names bones the rig does not have: {unknown[:5]}")
        bad = [s for s in bone_map.values() if s not in SOURCE_NAMES]
        if bad:
            raise BoneMapError(f"bone map uses unknown sources {bad[:5]}; use SMPL joint names")
        depth = _depths(bones)
        m = BoneMap(pairs=tuple(_order_pairs(list(bone_map.items()), depth)), method="manual")
    elif preset in ("", "auto"):
        m = auto_map(bones, up=up)
    elif preset == "names":
        m = map_by_names(bones, up)
    elif preset == "hierarchy":
        m = map_by_hierarchy(bones, up)
    else:
        m = apply_preset(load_preset(preset), bones)
    missing = m.missing_required()
    if missing:
        raise BoneMapError(
            f"bone map ({m.method}) does not cover {', '.join(missing)}; "
            "choose another preset or map those bones by hand")
    return m
