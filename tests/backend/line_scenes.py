"""Synthetic line images for the vanishing-point tests: a room's straight edges projected by a
pinhole camera of known focal length and drawn with OpenCV (numpy + cv2; no rendering)."""

from __future__ import annotations

import numpy as np


def camera(pitch_deg: float, yaw_deg: float, height_m: float):
    """World (Z up) -> OpenCV camera: R (3, 3), t (3,); the camera at (0, 0, height) looks
    along +y turned by ``yaw_deg`` about z, pitched down by ``pitch_deg``."""
    p, a = np.radians(pitch_deg), np.radians(yaw_deg)
    fwd = np.array([np.sin(a) * np.cos(p), np.cos(a) * np.cos(p), -np.sin(p)])
    right = np.array([np.cos(a), -np.sin(a), 0.0])
    down = np.cross(fwd, right)
    rot = np.stack([right, down, fwd])
    return rot, -rot @ np.array([0.0, 0.0, height_m])


def room_edges(directions: str = "xyz", spacing: float = 0.6, size: float = 8.0,
               centre=(0.0, 7.0), wall_h: float = 3.0) -> np.ndarray:
    """3D segments (N, 2, 3) of a room's edges: floor grid lines along x and/or y
    (``directions`` containing "x", "y") and vertical wall seams ("z") on its far walls."""
    cx, cy = centre
    ticks = np.arange(-size, size + 1e-9, spacing)
    seg = []
    if "x" in directions:
        seg += [((cx - size, cy + s, 0.0), (cx + size, cy + s, 0.0)) for s in ticks]
        seg += [((cx - size, cy + size, z), (cx + size, cy + size, z)) for z in (1.0, wall_h)]
    if "y" in directions:
        seg += [((cx + s, cy - size, 0.0), (cx + s, cy + size, 0.0)) for s in ticks]
        seg += [((cx + size, cy - size, z), (cx + size, cy + size, z)) for z in (1.0, wall_h)]
    if "z" in directions:
        seg += [((cx + s, cy + size, 0.0), (cx + s, cy + size, wall_h)) for s in ticks[::2]]
        seg += [((cx + size, cy + s, 0.0), (cx + size, cy + s, wall_h)) for s in ticks[::2]]
    return np.array(seg, float)


def draw(segments: np.ndarray, focal: float, rot: np.ndarray, t: np.ndarray,
         size=(640, 360), noise: float = 4.0, seed: int = 0) -> np.ndarray:
    """A grey uint8 image (h, w) with the segments (N, 2, 3) drawn 2 px wide (clipped to the
    part in front of the camera), plus Gaussian pixel noise."""
    import cv2

    w, h = size
    img = np.full((h, w), 90, np.uint8)
    for a, b in segments:
        pa, pb = rot @ a + t, rot @ b + t
        if pa[2] < 0.2 and pb[2] < 0.2:
            continue
        if pa[2] < 0.2 or pb[2] < 0.2:          # clip at z = 0.2 m
            s = (0.2 - pa[2]) / (pb[2] - pa[2])
            cut = pa + s * (pb - pa)
            pa, pb = (cut, pb) if pa[2] < 0.2 else (pa, cut)
        ua = (focal * pa[:2] / pa[2] + (w / 2, h / 2)) * 16
        ub = (focal * pb[:2] / pb[2] + (w / 2, h / 2)) * 16
        if np.abs(np.concatenate([ua, ub])).max() > 2 ** 28:
            continue
        cv2.line(img, tuple(int(round(v)) for v in ua), tuple(int(round(v)) for v in ub), 200,
                 2, cv2.LINE_AA, shift=4)
    rng = np.random.default_rng(seed)
    return np.clip(img + rng.normal(0.0, noise, img.shape), 0, 255).astype(np.uint8)
