"""Checks of the handheld camera path (camera_path.py): the OpenCV extrinsics it writes into the
ground truth are the camera Blender renders with, and the path does what it says.

Run: .venv/bin/python -m pytest bench/synthetic_accuracy/test_camera_path.py -q
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from camera_path import (  # noqa: E402
    HandheldPath,
    blender_matrices,
    camera_angles,
    camera_centres,
    world_to_camera,
)
from scene_config import SceneConfig  # noqa: E402


def _path(kind: str = "handheld", n: int = 120):
    sc = SceneConfig()
    path = HandheldPath(walk_m=0.6 if kind == "walk" else 0.0,
                        bob_m=0.02 if kind == "walk" else 0.0)
    t = np.arange(n) / sc.fps
    root = np.stack([-2.7 + 1.0 * t, np.full(n, 5.0)], axis=1)       # walks across, +x
    centres = camera_centres(n, sc.fps, sc.camera_height_m, path)
    angles = camera_angles(root, sc.fps, path, centres[:, :2])
    return sc, root, centres, angles, world_to_camera(angles, centres, sc.pitch_deg)


def test_still_path_is_the_static_camera() -> None:
    sc = SceneConfig()
    R, t = world_to_camera(np.zeros((3, 3)), np.tile([0.0, 0.0, sc.camera_height_m], (3, 1)),
                           sc.pitch_deg)
    R0, t0 = sc.world_to_camera()
    np.testing.assert_allclose(R, np.broadcast_to(R0, R.shape), atol=1e-12)
    np.testing.assert_allclose(t, np.broadcast_to(t0, t.shape), atol=1e-12)


def test_handheld_path_follows_the_walker_with_shake() -> None:
    sc, root, centres, angles, (R, t) = _path()
    np.testing.assert_allclose(R @ np.swapaxes(R, 1, 2), np.broadcast_to(np.eye(3), R.shape),
                               atol=1e-12)
    assert np.allclose(np.linalg.det(R), 1.0)
    # the figure stays near the image centre column while the camera pans after it
    cam = np.einsum("fij,fj->fi", R, np.c_[root, np.full(len(root), 1.0)]) + t
    u = sc.intrinsics()[0, 0] * cam[:, 0] / cam[:, 2] + sc.intrinsics()[0, 2]
    assert np.all(np.abs(u - sc.width / 2) < 0.3 * sc.width)
    assert np.ptp(angles[:, 0]) > 30.0                                   # a real pan
    shake = angles[:, 1]                                                 # tilt: shake only
    assert 0.3 < np.std(shake) < 0.8 and np.abs(shake).max() < 2.0
    np.testing.assert_allclose(centres, np.broadcast_to(centres[0], centres.shape))


def test_walking_path_moves_the_centre() -> None:
    *_, centres, _, (R, t) = _path("walk")
    assert np.linalg.norm(centres[-1, :2] - centres[0, :2]) == pytest.approx(0.6, abs=1e-6)
    np.testing.assert_allclose(-np.einsum("fji,fj->fi", R, t), centres, atol=1e-12)


def test_blender_camera_projects_like_the_ground_truth() -> None:
    """world_to_camera_view through the per-frame matrices = K [R | t] (pixel centres at
    integer coordinates, as SceneConfig.intrinsics)."""
    bpy = pytest.importorskip("bpy")
    from bpy_extras.object_utils import world_to_camera_view  # noqa: PLC0415
    from mathutils import Matrix, Vector  # noqa: PLC0415

    sc, root, _, _, (R, t) = _path("walk")
    M = blender_matrices(R, t)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    try:
        scene = bpy.context.scene
        data = bpy.data.cameras.new("Camera")
        data.sensor_fit = "HORIZONTAL"
        data.angle = float(np.radians(sc.hfov_deg))
        cam = bpy.data.objects.new("Camera", data)
        scene.collection.objects.link(cam)
        scene.render.resolution_x, scene.render.resolution_y = sc.width, sc.height
        scene.render.resolution_percentage = 100
        rng = np.random.default_rng(0)
        worst = 0.0
        for f in (0, 40, 119):
            cam.matrix_world = Matrix(M[f].tolist())
            bpy.context.view_layer.update()
            pts = np.c_[root[f] + rng.uniform(-0.5, 0.5, (20, 2)), rng.uniform(0, 1.8, 20)]
            xc = pts @ R[f].T + t[f]
            uv = xc @ sc.intrinsics().T
            expected = uv[:, :2] / uv[:, 2:]
            for p, e in zip(pts, expected, strict=True):
                ndc = world_to_camera_view(scene, cam, Vector(p.tolist()))
                got = np.array([ndc.x * sc.width - 0.5, (1.0 - ndc.y) * sc.height - 0.5])
                worst = max(worst, float(np.abs(got - e).max()))
    finally:
        bpy.ops.wm.read_factory_settings(use_empty=True)
    assert worst < 0.05, worst
