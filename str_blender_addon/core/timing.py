"""Time mapping between the motion file's timestamps (seconds) and Blender scene frames.

Keys land at ``start_frame + t * scene_rate`` computed from each absolute timestamp (never by
accumulating frame steps), so there is no drift over long clips and variable frame rate
timestamps are respected. Blender's rate is ``fps / fps_base`` with an integer ``fps``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SceneRate:
    """Blender scene frame rate: ``fps / fps_base`` frames per second."""

    fps: int
    fps_base: float

    @property
    def rate(self) -> float:
        return self.fps / self.fps_base


def scene_rate_for(video_fps: float) -> SceneRate:
    """Blender (fps, fps_base) reproducing ``video_fps`` as exactly as possible.

    NTSC rates (29.97, 23.976, 59.94 ... i.e. N*1000/1001) map to ``(N, 1.001)``; integer
    rates map to ``(N, 1.0)``; anything else to ``(round(r), round(r)/r)``.
    """
    if not np.isfinite(video_fps) or video_fps <= 0:
        raise ValueError(f"invalid video frame rate {video_fps!r}: must be a positive number")
    nearest = round(video_fps)
    if nearest >= 1 and abs(video_fps - nearest) < 1e-6 * nearest:
        return SceneRate(int(nearest), 1.0)
    ntsc = round(video_fps * 1.001)
    if ntsc >= 1 and abs(video_fps - ntsc / 1.001) < 2e-3:
        return SceneRate(int(ntsc), 1.001)
    n = max(1, int(nearest))
    return SceneRate(n, n / video_fps)


def timestamps_to_frames(
    timestamps: np.ndarray, scene_rate: float, start_frame: int = 1
) -> np.ndarray:
    """Scene frame (float64, possibly fractional) of each timestamp (F,) in seconds."""
    t = np.asarray(timestamps, np.float64)
    return start_frame + t * float(scene_rate)


def frames_to_seconds(frames: np.ndarray, scene_rate: float, start_frame: int = 1) -> np.ndarray:
    """Inverse of :func:`timestamps_to_frames`."""
    return (np.asarray(frames, np.float64) - start_frame) / float(scene_rate)
