"""Square person crops for the SPIN backbone: boxes -> 224x224 normalised tensors.

A tracker box (x0, y0, x1, y1) in displayed-frame pixels becomes a square of side
``max(w, h) * scale`` (scale 1.2 = TCMR's demo) around the box centre, warped to 224x224 with a
bilinear affine transform (cv2.warpAffine, constant black border), RGB/255 normalised with the
ImageNet mean/std used by SPIN.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
CROP_SIZE = 224


@dataclass(frozen=True)
class CropConfig:
    """scale: square side / max(box w, h); size: output pixels; min_side: smallest square side."""

    scale: float = 1.2
    size: int = CROP_SIZE
    min_side: float = 8.0


def square_boxes(boxes: np.ndarray, scale: float = 1.2, min_side: float = 8.0) -> np.ndarray:
    """(N,4) [x0,y0,x1,y1] -> (N,3) [cx, cy, side] with side = max(w, h) * scale."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    cx = (b[:, 0] + b[:, 2]) / 2.0
    cy = (b[:, 1] + b[:, 3]) / 2.0
    side = np.maximum(np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) * scale, min_side)
    return np.stack((cx, cy, side), axis=1)


def crop_affine(cx: float, cy: float, side: float, size: int = CROP_SIZE) -> np.ndarray:
    """2x3 affine matrix mapping the square (centre, side) of the image onto [0, size)^2."""
    k = size / side
    return np.array([[k, 0.0, size / 2.0 - k * cx], [0.0, k, size / 2.0 - k * cy]], np.float64)


def crop_rgb(rgb: np.ndarray, cx: float, cy: float, side: float, size: int = CROP_SIZE) -> np.ndarray:
    """(H,W,3) uint8 -> (size,size,3) uint8 bilinear crop (black outside the image)."""
    return cv2.warpAffine(rgb, crop_affine(cx, cy, side, size), (size, size),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))


def normalise(crops: np.ndarray) -> np.ndarray:
    """(N,S,S,3) uint8 RGB -> (N,3,S,S) float32 ImageNet-normalised."""
    x = crops.astype(np.float32) / 255.0
    x = (x - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
