"""Camera and render settings of the synthetic scene, and the ground-truth camera maths (numpy).

Scene world: Blender's Z up, metres, ground plane z = 0. The camera sits at ``(0, 0, height_m)``
looking along +y, pitched down by ``pitch_deg``, with a horizontal field of view ``hfov_deg``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SceneConfig:
    """Known camera and image of the benchmark (the ground truth the capture must recover)."""

    width: int = 960
    height: int = 540
    fps: float = 30.0
    camera_height_m: float = 1.6
    pitch_deg: float = 10.0
    hfov_deg: float = 60.0
    start_xy: tuple[float, float] = (-1.8, 6.0)   # figure's root at frame 0 (scene world)
    aa_samples: str = "FXAA"                        # Workbench anti-aliasing samples
    #: ``room``: side walls with vertical panel seams, pillars and a tiled floor, all turned by
    #: ``room_yaw_deg`` about the vertical through ``room_centre_xy`` (the camera is unchanged),
    #: so the floor's and walls' horizontal lines meet at two finite vanishing points, as in
    #: a real room; off: the plain scene (floor tiles along the view, a striped back wall).
    room: bool = False
    room_yaw_deg: float = 30.0
    room_centre_xy: tuple[float, float] = (0.0, 6.0)
    room_half_size_m: float = 9.0

    @property
    def focal_px(self) -> float:
        """Focal length in pixels (square pixels, horizontal sensor fit)."""
        return 0.5 * self.width / np.tan(np.radians(self.hfov_deg) / 2.0)

    def intrinsics(self) -> np.ndarray:
        """OpenCV K (3, 3) for pixel centres at integer coordinates."""
        f = self.focal_px
        return np.array([[f, 0.0, self.width / 2.0 - 0.5],
                         [0.0, f, self.height / 2.0 - 0.5],
                         [0.0, 0.0, 1.0]])

    def world_to_camera(self) -> tuple[np.ndarray, np.ndarray]:
        """OpenCV extrinsics in the scene world: R (3, 3), t (3,) with x_cam = R @ X + t."""
        p = np.radians(self.pitch_deg)
        right = np.array([1.0, 0.0, 0.0])
        forward = np.array([0.0, np.cos(p), -np.sin(p)])
        down = np.cross(forward, right)
        rot = np.stack([right, down, forward])
        centre = np.array([0.0, 0.0, self.camera_height_m])
        return rot, -rot @ centre

    def project(self, points: np.ndarray) -> np.ndarray:
        """Pixel coordinates (..., 2) of scene-world points (..., 3)."""
        rot, t = self.world_to_camera()
        cam = points @ rot.T + t
        uvw = cam @ self.intrinsics().T
        return uvw[..., :2] / uvw[..., 2:3]

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """Scene-world points (..., 3) in OpenCV camera axes (x right, y down, z forward)."""
        rot, t = self.world_to_camera()
        return points @ rot.T + t
