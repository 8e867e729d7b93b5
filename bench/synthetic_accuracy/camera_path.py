"""A handheld camera that pans to follow the figure, with shake (pure numpy, no bpy).

Scene world: Blender's Z up, metres (``scene_config``). The camera starts where ``SceneConfig``
puts it (``(0, 0, height)``, looking along +y, pitched down) and then, per frame:

- pans (turns about the world vertical) toward the figure's root, lagging behind it like a
  person following a walker (the bearing smoothed with a Gaussian of ``follow_sigma_s`` and
  delayed by ``follow_lag_s``);
- shakes: a sum of three sinusoids per axis (pan, tilt, roll) with random phases, scaled to
  ``shake_deg`` RMS;
- optionally walks: its centre moves ``walk_m`` along +x (the figure's walking direction in
  the handheld clip) with a ``bob_m`` vertical bob at step frequency.

``world_to_camera`` gives OpenCV extrinsics per frame (``x_cam = R X + t``) and
``blender_matrices`` the camera objects' world matrices for the renderer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HandheldPath:
    """Parameters of the handheld camera (angles in degrees, lengths in metres)."""

    follow: bool = True
    follow_sigma_s: float = 0.35
    follow_lag_s: float = 0.25
    shake_deg: float = 0.5
    walk_m: float = 0.0
    bob_m: float = 0.0
    seed: int = 3


def _gaussian_smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return x.copy()
    r = int(np.ceil(3 * sigma))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    pad = np.concatenate([np.repeat(x[:1], r), x, np.repeat(x[-1:], r)])
    return np.convolve(pad, k, mode="valid")


def camera_angles(root_xy: np.ndarray, fps: float, path: HandheldPath,
                  base_xy: np.ndarray | None = None) -> np.ndarray:
    """(F, 3) pan (+ = toward +x, i.e. image right), tilt (+ = up), roll, degrees.

    root_xy: (F, 2) the figure's root on the floor; base_xy: (F, 2) the camera's position.
    """
    n = len(root_xy)
    base_xy = np.zeros((n, 2)) if base_xy is None else base_xy
    out = np.zeros((n, 3))
    if path.follow:
        d = root_xy - base_xy
        bearing = np.degrees(np.arctan2(d[:, 0], d[:, 1]))
        lag = int(round(path.follow_lag_s * fps))
        delayed = np.concatenate([np.repeat(bearing[:1], lag), bearing[:n - lag]]) if lag else bearing
        out[:, 0] = _gaussian_smooth(delayed, path.follow_sigma_s * fps)
        out[:, 0] -= out[0, 0] - bearing[0]     # start on the figure
    rng = np.random.default_rng(path.seed)
    t = np.arange(n) / fps
    for axis, scale in ((0, 1.0), (1, 1.0), (2, 0.6)):
        freqs = rng.uniform(0.6, 3.0, 3)
        phases = rng.uniform(0, 2 * np.pi, 3)
        amps = rng.uniform(0.5, 1.0, 3)
        s = sum(a * np.sin(2 * np.pi * f * t + p) for a, f, p in zip(amps, freqs, phases,
                                                                       strict=True))
        s = s / max(float(np.std(s)), 1e-9) * path.shake_deg * scale
        out[:, axis] += s - s[0]
    return out


def camera_centres(n: int, fps: float, height: float, path: HandheldPath) -> np.ndarray:
    """(F, 3) camera centres: a slow walk along +x with a vertical bob (scene world)."""
    t = np.arange(n) / fps
    duration = max(t[-1], 1e-9) if n else 1.0
    ramp = 0.5 - 0.5 * np.cos(np.pi * np.clip(t / duration, 0, 1))    # ease in/out
    c = np.zeros((n, 3))
    c[:, 0] = path.walk_m * ramp
    c[:, 2] = height + path.bob_m * np.sin(2 * np.pi * 1.9 * t) * (path.walk_m > 0)
    return c


def world_to_camera(angles: np.ndarray, centres: np.ndarray, base_pitch_deg: float
                    ) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV extrinsics per frame: R (F, 3, 3) rows = (right, down, forward), t (F, 3)."""
    pan = np.radians(angles[:, 0])
    pitch = np.radians(base_pitch_deg - angles[:, 1])      # tilt up = less pitch down
    roll = np.radians(angles[:, 2])
    fwd = np.stack([np.sin(pan) * np.cos(pitch), np.cos(pan) * np.cos(pitch), -np.sin(pitch)], 1)
    right0 = np.stack([np.cos(pan), -np.sin(pan), np.zeros_like(pan)], 1)
    down0 = np.cross(fwd, right0)
    c, s = np.cos(roll)[:, None], np.sin(roll)[:, None]
    right = c * right0 + s * down0                          # roll about the optical axis
    down = np.cross(fwd, right)
    R = np.stack([right, down, fwd], axis=1)
    t = -np.einsum("fij,fj->fi", R, centres)
    return R, t


def blender_matrices(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(F, 4, 4) Blender camera object matrices (camera looks along local -Z, +Y up)."""
    n = len(R)
    M = np.tile(np.eye(4), (n, 1, 1))
    M[:, :3, 0] = R[:, 0]              # local X = right
    M[:, :3, 1] = -R[:, 1]             # local Y = up = -down
    M[:, :3, 2] = -R[:, 2]             # local Z = -forward
    M[:, :3, 3] = -np.einsum("fji,fj->fi", R, t)
    return M
