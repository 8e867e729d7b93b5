"""limb_depth: limb depths from image rays and fixed bone lengths where a bone is clearly
inclined in depth; the detector's offset elsewhere (exact synthetic geometry)."""

from __future__ import annotations

import numpy as np

from inference_backend.landmark_map import LM
from inference_backend.limb_depth import LimbDepthConfig, bone_candidates, lift_limbs

K = np.array([[800.0, 0, 320], [0, 800.0, 180], [0, 0, 1]])


def _project(x: np.ndarray) -> np.ndarray:
    uv = x @ K.T
    return uv[..., :2] / uv[..., 2:3]


def _body(frames: int, thigh_depth: np.ndarray) -> np.ndarray:
    """Camera-frame landmarks (F, 33, 3): hips 4 m away, the left thigh (0.4 m) tilted in
    depth by ``thigh_depth`` (F,) metres, everything else in the image plane."""
    pts = np.zeros((frames, 33, 3))
    pts[..., 2] = 4.0
    pts[:, LM["left_hip"]] = [0.1, 0.0, 4.0]
    pts[:, LM["right_hip"]] = [-0.1, 0.0, 4.0]
    down = np.sqrt(0.4 ** 2 - thigh_depth ** 2)
    pts[:, LM["left_knee"]] = np.stack([np.full(frames, 0.1), down, 4.0 + thigh_depth], -1)
    pts[:, LM["left_ankle"]] = pts[:, LM["left_knee"]] + [0.0, 0.4, 0.0]
    return pts


def test_candidates_lie_on_the_ray_at_the_bone_length() -> None:
    parent = np.array([[0.1, -0.2, 4.0]])
    ray = np.array([[0.025, 0.025, 1.0]])                 # passes 0.3 m from the parent
    near, far = bone_candidates(parent, ray, 0.5)
    for c in (near, far):
        assert abs(np.linalg.norm(c - parent) - 0.5) < 1e-9
        assert np.allclose(np.cross(c, ray), 0.0, atol=1e-9)
    assert near[0, 2] < far[0, 2]


def test_inclined_bone_gets_the_image_depth_with_the_detector_sign() -> None:
    n = 20
    depth = np.where(np.arange(n) < 10, -0.3, 0.3)          # knee 30 cm in front, then behind
    truth = _body(n, depth)
    root = 0.5 * (truth[:, LM["left_hip"]] + truth[:, LM["right_hip"]])
    metric = truth - root[:, None]
    # The detector: right sign, wrong size (half the depth) and a bone 20 % short.
    det = metric.copy()
    det[:, LM["left_knee"], 2] *= 0.5
    det[:, LM["left_knee"], 1] *= 0.8
    det[:, LM["left_ankle"]] = det[:, LM["left_knee"]] + [0.0, 0.4, 0.0]
    # The bone's length comes from frames where it lies in the image plane: add some.
    flat = _body(3 * n, np.zeros(3 * n)) - np.repeat(root, 3, 0)[:, None]
    det = np.concatenate([det, flat])
    roots = np.concatenate([root, np.repeat(root, 3, 0)])
    img = _project(np.concatenate([truth, flat + roots[n:, None]]))
    w = np.ones(det.shape[:2])
    out = lift_limbs(det, img, w, K, roots, LimbDepthConfig(min_depth_fraction=0.55))
    knee = out[:n, LM["left_knee"]] + root
    assert np.abs(knee - truth[:, LM["left_knee"]]).max() < 0.01    # exact up to the length
    # The shin lies in the image plane: it keeps the detector's offset from the moved knee.
    shin = out[:n, LM["left_ankle"]] - out[:n, LM["left_knee"]]
    assert np.allclose(shin, [0.0, 0.4, 0.0], atol=1e-9)
    # Bones in the image plane are left as the detector had them.
    assert np.allclose(out[n:], det[n:], atol=1e-9)
    # Off (the default): the input unchanged.
    off = lift_limbs(det, img, w, K, roots)
    assert np.array_equal(off, det)
