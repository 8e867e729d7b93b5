"""Precompute SPIN ResNet-50 features for a database (facts §4.3-§4.4).

Input: a video (decoded with the project's video reader) or a folder of images (sorted by
name; frame i = the i-th image) plus a box file with one box per (person, frame):

- CSV with a header containing ``frame,cx,cy,w,h`` and optionally ``person`` (or ``vid_name``);
- JSON: a list of objects ``{"frame": i, "bbox": [cx, cy, w, h], "person": "p0"}`` (or the
  same under a top-level ``"boxes"`` key). Boxes are in original-image pixels.

Each box is made square (side max(w, h)), scaled by ``scale`` (TCMR demo 1.2; 3DPW 1.3),
warped to 224x224 (bilinear, black border), normalised with ImageNet mean/std and passed through
the backbone in eval mode. Output: a database (``save_db_npz``) with ``vid_name``
("{source}_{person}"), ``frame_id``, ``img_name``, ``bbox`` (cx, cy, side, side) and
``features`` (N, 2048) float32, one sequence per person, frames in order.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

IMG_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMG_STD = np.array([0.229, 0.224, 0.225], np.float32)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


class BoxFileError(ValueError):
    """The box file is missing, malformed or has no boxes."""


@dataclass(frozen=True)
class Box:
    person: str
    frame: int
    cx: float
    cy: float
    w: float
    h: float


def read_boxes(path: Path) -> list[Box]:
    """Parse a CSV or JSON box file (see module doc)."""
    path = Path(path)
    if not path.is_file():
        raise BoxFileError(f"box file not found: {path}")
    boxes: list[Box] = []
    try:
        if path.suffix.lower() == ".json":
            raw = json.loads(path.read_text(encoding="utf-8"))
            rows = raw.get("boxes", []) if isinstance(raw, dict) else raw
            for r in rows:
                cx, cy, w, h = (float(v) for v in r["bbox"])
                person = str(r.get("person", r.get("vid_name", "0")))
                boxes.append(Box(person, int(r["frame"]), cx, cy, w, h))
        else:
            with path.open(newline="", encoding="utf-8") as fh:
                for r in csv.DictReader(fh):
                    person = str(r.get("person") or r.get("vid_name") or "0")
                    boxes.append(Box(person, int(r["frame"]), float(r["cx"]), float(r["cy"]),
                                     float(r["w"]), float(r["h"])))
    except (KeyError, ValueError, TypeError, json.JSONDecodeError) as exc:
        raise BoxFileError(
            f"{path}: cannot parse boxes ({exc!r}); expected CSV columns frame,cx,cy,w,h[,person] "
            "or JSON [{\"frame\": i, \"bbox\": [cx, cy, w, h], \"person\": ...}]"
        ) from exc
    if not boxes:
        raise BoxFileError(f"{path}: no boxes")
    bad = [b for b in boxes if b.w <= 0 or b.h <= 0 or b.frame < 0]
    if bad:
        raise BoxFileError(f"{path}: {len(bad)} boxes with non-positive size or negative frame")
    return boxes


def crop_224(rgb: np.ndarray, cx: float, cy: float, side: float) -> np.ndarray:
    """Affine crop of the square (side px, centre cx, cy) to (224, 224, 3) uint8."""
    import cv2

    s = 224.0 / side
    m = np.array([[s, 0.0, 112.0 - s * cx], [0.0, s, 112.0 - s * cy]], np.float32)
    return cv2.warpAffine(rgb, m, (224, 224), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


def normalise_crops(crops: np.ndarray) -> torch.Tensor:
    """(B, 224, 224, 3) uint8 RGB -> (B, 3, 224, 224) float32, ImageNet-normalised."""
    x = (crops.astype(np.float32) / 255.0 - IMG_MEAN) / IMG_STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


def iter_source_frames(source: Path) -> Iterator[tuple[int, np.ndarray, str]]:
    """(frame index, RGB uint8, image name) of a video file or an image folder."""
    if source.is_dir():
        import cv2

        files = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise BoxFileError(f"{source}: no images ({', '.join(IMAGE_SUFFIXES)})")
        for i, f in enumerate(files):
            bgr = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if bgr is None:
                raise BoxFileError(f"cannot read image {f}")
            yield i, bgr[:, :, ::-1].copy(), f.name
        return
    from ..config import DecodeConfig
    from ..video_io import iter_frames, probe_video

    # full resolution: boxes are in original pixels (no detection downscale)
    for fr in iter_frames(probe_video(source), DecodeConfig(detect_max_side=1 << 20)):
        yield fr.index, fr.rgb, f"{source.name}#{fr.index:06d}"


def extract_features(
    source: Path, boxes: list[Box], backbone: torch.nn.Module, device: torch.device, *,
    scale: float = 1.2, batch: int = 64,
) -> dict[str, np.ndarray]:
    """Run the backbone over every boxed crop; returns the database dict (see module doc)."""
    by_frame: dict[int, list[Box]] = {}
    for b in boxes:
        by_frame.setdefault(b.frame, []).append(b)
    backbone = backbone.to(device).eval()
    feats: dict[tuple[str, int], np.ndarray] = {}
    names: dict[tuple[str, int], str] = {}
    pending: list[tuple[tuple[str, int], np.ndarray]] = []

    def flush() -> None:
        if not pending:
            return
        x = normalise_crops(np.stack([c for _, c in pending])).to(device)
        with torch.no_grad():
            f = backbone(x).float().cpu().numpy()
        for (key, _), row in zip(pending, f, strict=True):
            feats[key] = row
        pending.clear()

    seen = set()
    last_frame = max(by_frame)
    for index, rgb, img_name in iter_source_frames(source):
        if index > last_frame:
            break
        for b in by_frame.get(index, []):
            side = max(b.w, b.h) * scale
            pending.append(((b.person, b.frame), crop_224(rgb, b.cx, b.cy, side)))
            names[(b.person, b.frame)] = img_name
            seen.add(b.frame)
            if len(pending) >= batch:
                flush()
    flush()
    missing = sorted(set(by_frame) - seen)
    if missing:
        raise BoxFileError(f"{len(missing)} box frames are beyond the source (first: {missing[0]})")
    rows = sorted(feats, key=lambda k: (k[0], k[1]))
    box_of = {(b.person, b.frame): b for b in boxes}
    stem = source.stem
    return {
        "vid_name": np.array([f"{stem}_{p}" for p, _ in rows]),
        "frame_id": np.array([f for _, f in rows], np.int64),
        "img_name": np.array([names[k] for k in rows]),
        "bbox": np.array([[box_of[k].cx, box_of[k].cy, max(box_of[k].w, box_of[k].h),
                           max(box_of[k].w, box_of[k].h)] for k in rows], np.float32),
        "features": np.stack([feats[k] for k in rows]).astype(np.float32),
    }
