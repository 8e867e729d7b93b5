"""Capture-quality facts of the bundled sample clip (reported, never tuned on).

Usage (repository root):
    .venv/bin/python bench/sample_quality.py [--motion MOTION.npz] [--out-dir out/sample]

Without ``--motion`` it captures ``assets/sample/two_people_backlit.mp4`` (detection cached
under ``--out-dir``/observations.npz, see bench/synthetic_accuracy/cached_capture.py). Prints per
person: valid frames, the share of frames with a foot in contact, the ankle distance over the
track's first frames, the highest thigh extension behind the body, the feet's height above the
ground (or the platform level the ground fit found), and the track's edges. Person 0 is the man
standing on the box, person 1 the walking woman (the tracker's order on this clip).

For the man it also prints the share of his *standing* frames with a foot planted and of his
*airborne* frames (jumping-jack flights) with one, from hand labels of the video
(``bench/sample_labels.json``: frame ranges, how they were decided; ``load_labels``).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench" / "synthetic_accuracy"))
LABELS = REPO / "bench" / "sample_labels.json"
LABEL_CLASSES: tuple[str, ...] = ("standing", "airborne", "uncertain")


@dataclass(frozen=True)
class SampleLabels:
    """Hand labels of the man's frames: boolean masks (frames,) per class (``LABEL_CLASSES``);
    frames in no class are unlabelled (outside his track)."""

    frames: int
    masks: dict[str, np.ndarray]
    definition: str


def load_labels(path: Path = LABELS) -> SampleLabels:
    """Read a labels file (JSON: ``frames``, ``definition`` and per class a list of inclusive
    ``[first, last]`` frame ranges). Raises ValueError naming the problem: a malformed range, a
    range outside the video, or a frame given two classes."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read the sample labels {path}: {exc}") from exc
    n = raw.get("frames")
    if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
        raise ValueError(f"{path}: 'frames' must be a positive integer, got {n!r}")
    masks: dict[str, np.ndarray] = {}
    seen = np.full(n, "", dtype=object)
    for name in LABEL_CLASSES:
        mask = np.zeros(n, bool)
        for rng in raw.get(name, []):
            ok = (isinstance(rng, list) and len(rng) == 2
                  and all(isinstance(x, int) and not isinstance(x, bool) for x in rng))
            if not ok or not 0 <= rng[0] <= rng[1] < n:
                raise ValueError(f"{path}: {name} range {rng!r} is not [first, last] with "
                                 f"0 <= first <= last < {n}")
            clash = seen[rng[0]:rng[1] + 1]
            if any(clash):
                other = next(c for c in clash if c)
                raise ValueError(f"{path}: frames {rng} are labelled both {other} and {name}")
            seen[rng[0]:rng[1] + 1] = name
            mask[rng[0]:rng[1] + 1] = True
        masks[name] = mask
    return SampleLabels(frames=n, masks=masks, definition=str(raw.get("definition", "")))


def planted_share(contacts: np.ndarray, valid: np.ndarray, frame_indices: np.ndarray,
                  labels: SampleLabels) -> dict[str, float | int]:
    """Per label class: the number of labelled frames and the percentage of them with a foot
    planted (any contact channel >= 0.5; invalid frames count as not planted). contacts
    (F, 4) and valid (F,) of one person on the motion file's frames ``frame_indices`` (F,)."""
    planted = (np.asarray(contacts) >= 0.5).any(1) & np.asarray(valid, bool)
    frames = np.asarray(frame_indices)
    out: dict[str, float | int] = {}
    for name in ("standing", "airborne"):
        sel = labels.masks[name][np.clip(frames, 0, labels.frames - 1)] & (frames < labels.frames)
        out[f"{name}_frames"] = int(sel.sum())
        out[f"planted_in_{name}_pct"] = (float(100.0 * planted[sel].mean()) if sel.any()
                                         else float("nan"))
    return out


def thigh_extension_deg(global_orient: np.ndarray, body_pose: np.ndarray,
                        rest: np.ndarray) -> np.ndarray:
    """(F, 2) left / right thigh angle behind the body (deg; > 0 behind, from straight down),
    in the pelvis frame."""
    from inference_backend.kinematics import rodrigues  # noqa: PLC0415

    out = []
    for hip, knee in ((1, 4), (2, 5)):
        d = rodrigues(body_pose[:, hip - 1].astype(float)) @ (rest[knee] - rest[hip])
        out.append(np.degrees(np.arctan2(-d[:, 2], -d[:, 1])))
    return np.stack(out, 1)


def report(motion_path: Path, labels: SampleLabels | None = None) -> dict:
    from inference_backend.contacts import CHANNEL_CLEARANCE_M  # noqa: PLC0415
    from inference_backend.smpl_constants import CONTACT_JOINTS  # noqa: PLC0415

    with np.load(motion_path, allow_pickle=False) as d:
        m = {k: d[k] for k in d.files}
    header = json.loads(str(m["header"]))
    levels = [0.0, *header["camera"].get("ground_levels_m", [])]
    out = {"camera": {k: header["camera"].get(k) for k in
                      ("fov_x_deg", "focal_source", "height_m", "ground_levels_m")},
           "persons": []}
    for p in range(len(m["track_ids"])):
        v = m["valid"][p]
        f = np.flatnonzero(v)
        j = m["joints3d"][p]
        on = (m["contacts"][p] >= 0.5)
        sole = j[:, list(CONTACT_JOINTS), 1] - np.asarray(CHANNEL_CLEARANCE_M)
        low = sole.min(1)
        level = np.array([min(levels, key=lambda lv, x=x: abs(x - lv)) for x in low])
        ank = np.linalg.norm(j[:, 7] - j[:, 8], axis=1)
        ext = thigh_extension_deg(m["global_orient"][p], m["body_pose"][p],
                                  m["rest_joints"][p].astype(float))
        out["persons"].append({
            "track_id": int(m["track_ids"][p]), "valid_frames": [int(f[0]), int(f[-1])],
            "contact_any_foot_pct": float(100 * on[v].any(1).mean()),
            "first_frames_ankle_dist_m": [round(float(x), 2) for x in ank[f[:6]]],
            "median_ankle_dist_m": float(np.median(ank[v])),
            "max_thigh_extension_deg": float(ext[v].max()),
            "lowest_sole_above_support_m": {
                "median": float(np.median((low - level)[v])),
                "p90": float(np.percentile((low - level)[v], 90))},
            "support_levels_m": sorted({round(float(x), 3) for x in level[v]}),
        })
    if labels is not None and len(m["track_ids"]):
        out["persons"][0]["labelled"] = planted_share(m["contacts"][0], m["valid"][0],
                                                      m["frame_indices"], labels)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--motion", type=Path, default=None)
    ap.add_argument("--out-dir", type=Path, default=REPO / "out" / "sample",
                    help="where the capture and its cached detection are written")
    ap.add_argument("--labels", type=Path, default=LABELS)
    args = ap.parse_args(argv)
    motion = args.motion
    if motion is None:
        from cached_capture import capture  # noqa: PLC0415

        video = REPO / "assets" / "sample" / "two_people_backlit.mp4"
        out = args.out_dir
        out.mkdir(parents=True, exist_ok=True)
        motion = out / "capture_medium.npz"
        capture(video, motion, out / "observations.npz")
    print(json.dumps(report(motion, load_labels(args.labels)), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
