"""Synthetic videos of a textured scene filmed by a turning camera, with known rotations.

A rotating camera sees every frame as a homography of one wide reference image:
``u_f = K R_f K_ref^-1 u_ref`` (``x_cam_f = R_f x_cam_0``); a camera that also translates by
``t_f`` in front of a plane ``z = depth`` (camera-0 coordinates) sees
``u_f = K (R_f + t_f n^T / depth) K_ref^-1 u_ref``. A textured "person" rectangle moves over
each frame independently of the background; its box is returned as the detector's box.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from inference_backend.kinematics import rodrigues


def texture(width: int, height: int, seed: int = 0) -> np.ndarray:
    """(height, width, 3) uint8 multi-scale noise with rectangles (plenty of corners)."""
    rng = np.random.default_rng(seed)
    img = np.zeros((height, width), np.float32)
    for cell, amp in ((64, 0.5), (16, 0.3), (4, 0.2)):
        small = rng.random((height // cell + 2, width // cell + 2)).astype(np.float32)
        big = cv2.resize(small, (width + 2 * cell, height + 2 * cell),
                         interpolation=cv2.INTER_CUBIC)
        img += amp * big[:height, :width]
    for _ in range(width * height // 16000):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(10, 60)), int(rng.integers(10, 60))
        cv2.rectangle(img, (x, y), (x + w, y + h), float(rng.random()), -1)
    img = (255 * (img - img.min()) / max(float(np.ptp(img)), 1e-6)).astype(np.uint8)
    return np.repeat(img[..., None], 3, axis=2)


@dataclass(frozen=True)
class SyntheticClip:
    """frames (F, H, W, 3) uint8, boxes (F, 1, 4) person boxes, rotations (F, 3, 3) true
    ``x_cam_f = R_f x_cam_0``, K (3, 3)."""

    frames: np.ndarray
    boxes: np.ndarray
    rotations: np.ndarray
    K: np.ndarray


def handheld_rotations(n: int, fps: float = 30.0, pan_deg: float = 25.0,
                       shake_deg: float = 1.0) -> np.ndarray:
    """(n, 3, 3): a pan swinging +-pan_deg with a tilt and roll shake of about shake_deg,
    relative to the first frame (``R_0 = I``)."""
    t = np.arange(n) / fps
    s = np.radians(shake_deg)
    aa = np.stack([s * np.sin(5.1 * t), np.radians(pan_deg) * np.sin(1.2 * t),
                   0.5 * s * np.sin(7.3 * t + 1.0)], axis=1)
    rots = rodrigues(aa)
    return rots @ rots[0].T


def render_clip(rotations: np.ndarray, width: int = 640, height: int = 360,
                focal: float = 500.0, translations: np.ndarray | None = None,
                depth: float = 3.0, person: bool = True, background: np.ndarray | None = None,
                noise: float = 0.0, seed: int = 0) -> SyntheticClip:
    """Render frames of a camera with the given rotations (and optional translations (n, 3),
    metres, in front of a plane at ``depth``)."""
    rng = np.random.default_rng(seed)
    K = np.array([[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]])
    if background is None:
        background = texture(3 * width, 3 * height, seed)
    bh, bw = background.shape[:2]
    K_ref = np.array([[focal, 0.0, bw / 2], [0.0, focal, bh / 2], [0.0, 0.0, 1.0]])
    n = len(rotations)
    frames = np.empty((n, height, width, 3), np.uint8)
    boxes = np.zeros((n, 1, 4))
    body = texture(120, 270, seed + 99)
    normal = np.array([0.0, 0.0, 1.0])
    for i, R in enumerate(rotations):
        A = R if translations is None else R + np.outer(translations[i], normal) / depth
        M = K_ref @ np.linalg.inv(A) @ np.linalg.inv(K)
        frame = cv2.warpPerspective(background, M, (width, height),
                                    flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                    borderMode=cv2.BORDER_REFLECT)
        if person:
            x0 = int(width * 0.15 + 3 * i) % (width - 140)
            y0 = height // 2 - 135 + int(10 * np.sin(i / 3))
            frame[max(y0, 0):y0 + 270, x0:x0 + 120] = body[max(-y0, 0):]
            boxes[i, 0] = (x0, y0, x0 + 120, y0 + 270)
        if noise > 0:
            frame = np.clip(frame + rng.normal(0, noise, frame.shape), 0, 255).astype(np.uint8)
        frames[i] = frame
    return SyntheticClip(frames=frames, boxes=boxes, rotations=np.asarray(rotations), K=K)
