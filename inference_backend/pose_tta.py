"""Test-time augmentation of the landmark model: mirroring landmarks back, fusing passes.

A horizontally mirrored frame is a different input to the landmark network; its landmarks,
mirrored back, are averaged with the plain pass's (``DetectionConfig.tta = "mirror"``, CLI
``--tta mirror``; ``detection.py`` runs the passes). Measured on the synthetic bench
(``docs/accuracy.md``, "Mirror test-time augmentation"): the two passes mostly make the *same*
depth-order mistakes, so the gain is small: PA-MPJPE after the fit 0.1-0.3 mm lower on the
tuning clips and 0.9-3.9 mm on the held-out ones, for about twice the landmark model's CPU
time. Off by default.

Pure numpy, no mediapipe.

Conventions (those of ``detection.py``): normalised image landmarks (33, 3): x, y as fractions
of the frame width / height, then visibility; world landmarks (33, 3): metres, x right, y down,
z away from the camera, hip-centred. A region of interest is (x, y, w, h, rotation) in frame
fractions and radians.
"""

from __future__ import annotations

import numpy as np

from .smpl_constants import MEDIAPIPE_LANDMARK_NAMES


def _mirror_permutation() -> np.ndarray:
    names = list(MEDIAPIPE_LANDMARK_NAMES)
    perm = np.arange(len(names))
    for i, name in enumerate(names):
        for a, b in (("left", "right"), ("right", "left")):
            if a in name:
                perm[i] = names.index(name.replace(a, b))
    return perm


#: Index of each landmark's mirror image (left <-> right; nose to itself), shape (33,).
MIRROR_INDEX: np.ndarray = _mirror_permutation()
MIRROR_INDEX.setflags(write=False)


def mirror_image_landmarks(image_xyv: np.ndarray) -> np.ndarray:
    """Normalised image landmarks (..., 33, 3) seen in the mirrored frame -> the same person's
    landmarks in the original frame (x -> 1 - x, left <-> right; y and visibility kept)."""
    out = np.array(image_xyv, dtype=np.float32, copy=True)[..., MIRROR_INDEX, :]
    out[..., 0] = 1.0 - out[..., 0]
    return out


def mirror_world_landmarks(world_xyz: np.ndarray) -> np.ndarray:
    """Metric camera-aligned landmarks (..., 33, 3) from the mirrored frame -> the original
    frame's (x -> -x, left <-> right)."""
    out = np.array(world_xyz, dtype=np.float32, copy=True)[..., MIRROR_INDEX, :]
    out[..., 0] = -out[..., 0]
    return out


def mirror_roi(x: float, y: float, w: float, h: float, rotation: float
               ) -> tuple[float, float, float, float, float]:
    """The same region in the horizontally mirrored frame: centre x -> 1 - x, rotation negated
    (a region turned clockwise turns anticlockwise in the mirror)."""
    return 1.0 - x, y, w, h, -rotation


def fuse_passes(passes: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Mean of several passes' (image (33, 3), world (33, 3)) landmarks, all in the original
    frame's convention: positions averaged, visibility averaged too. Equal inputs give the
    input back. Returns (image, world) as float32."""
    if not passes:
        raise ValueError("fuse_passes needs at least one pass")
    image = np.mean([np.asarray(p[0], np.float64) for p in passes], axis=0)
    world = np.mean([np.asarray(p[1], np.float64) for p in passes], axis=0)
    return image.astype(np.float32), world.astype(np.float32)
