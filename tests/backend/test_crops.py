"""Square person crops: geometry of the affine warp, borders and ImageNet normalisation."""

from __future__ import annotations

import numpy as np

from inference_backend.crops import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    crop_affine,
    crop_rgb,
    normalise,
    square_boxes,
)


def test_square_boxes_scale_the_longer_side() -> None:
    sq = square_boxes(np.array([[100, 50, 200, 250], [0, 0, 40, 10]]), scale=1.2)
    assert np.allclose(sq[0], [150, 150, 240])
    assert np.allclose(sq[1], [20, 5, 48])
    assert square_boxes(np.array([[5, 5, 5, 5]]), min_side=8)[0, 2] == 8


def test_crop_places_the_box_in_the_centre_at_the_right_scale() -> None:
    img = np.zeros((540, 960, 3), np.uint8)
    img[50:250, 100:200] = 255          # a 100 x 200 white "person" exactly filling the box
    cx, cy, side = square_boxes(np.array([[100, 50, 200, 250]]), scale=1.2)[0]
    crop = crop_rgb(img, cx, cy, side)
    assert crop.shape == (224, 224, 3) and crop.dtype == np.uint8
    cols = np.flatnonzero(crop[112, :, 0] > 127)
    rows = np.flatnonzero(crop[:, 112, 0] > 127)
    k = 224 / 240
    assert abs(len(cols) - 100 * k) <= 2 and abs(len(rows) - 200 * k) <= 2
    assert abs((cols[0] + cols[-1]) / 2 - 111.5) <= 1 and abs((rows[0] + rows[-1]) / 2 - 111.5) <= 1


def test_outside_the_image_is_black_and_affine_maps_centre() -> None:
    img = np.full((100, 100, 3), 200, np.uint8)
    crop = crop_rgb(img, 0.0, 0.0, 100.0)   # centred on the top-left corner
    assert crop[:100, :100].max() == 0 and crop[150:, 150:].min() == 200
    m = crop_affine(30.0, 40.0, 64.0)
    assert np.allclose(m @ np.array([30.0, 40.0, 1.0]), [112.0, 112.0])
    assert np.allclose(m @ np.array([30.0 + 32.0, 40.0, 1.0]), [224.0, 112.0])


def test_normalise_uses_imagenet_statistics() -> None:
    crops = np.zeros((2, 224, 224, 3), np.uint8)
    crops[1] = 255
    x = normalise(crops)
    assert x.shape == (2, 3, 224, 224) and x.dtype == np.float32
    assert np.allclose(x[0, :, 0, 0], -IMAGENET_MEAN / IMAGENET_STD, atol=1e-6)
    assert np.allclose(x[1, :, 5, 7], (1 - IMAGENET_MEAN) / IMAGENET_STD, atol=1e-6)
