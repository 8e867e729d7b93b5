"""Dataclasses passed between backend stages (``pipeline`` is the only module that wires them).

Shapes use F = frames of the capture, L = 33 MediaPipe landmarks, J = 24 SMPL joints.
All arrays are numpy; frames are the capture's frame axis (shared by every person).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about the video, after rotation is applied."""

    path: str
    width: int          # displayed (rotation-corrected) width, pixels
    height: int         # displayed height, pixels
    rotation: int       # degrees the decoder rotated frames by (0, 90, 180, 270)
    fps: float          # nominal average frame rate
    num_frames: int     # frames in the stream if known, else 0
    duration: float     # seconds, 0 if unknown
    codec: str = ""


@dataclass(frozen=True)
class TrackObservations:
    """Per-frame 2D/3D landmarks of one tracked person over the capture's F frames.

    image_landmarks: (F, L, 3) [u, v] in pixels of the displayed frame, plus visibility in [0, 1].
    world_landmarks: (F, L, 3) MediaPipe metric landmarks: metres, origin mid-hip,
        x image-right, y down, z away from the camera (camera-aligned, not gravity-aligned).
    present: (F,) bool, True where the detector saw this person at that frame.
    boxes: (F, 4) float [x0, y0, x1, y1] pixels (zeros where not present).
    """

    track_id: int
    image_landmarks: np.ndarray
    world_landmarks: np.ndarray
    present: np.ndarray
    boxes: np.ndarray


@dataclass(frozen=True)
class CameraEstimate:
    """Pinhole camera in the gravity-aligned world (Y up, ground at y = 0).

    K: (3, 3) intrinsics in pixels. R: (F, 3, 3) and t: (F, 3) world-to-camera (OpenCV axes),
    so x_cam = R[f] @ X + t[f]. A static camera repeats the same R, t for every frame.
    """

    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    static: bool = True
    info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PersonMotion:
    """SMPL motion of one person in the world frame (see docs/motion_file.md for kinematics).

    global_orient (F,3), body_pose (F,23,3) axis-angle; transl (F,3); rest_joints (24,3);
    joints3d (F,24,3) world metres; valid (F,) bool; contacts (F,4) in [0,1];
    confidence (F,24) in [0,1]; betas (10,) (zeros when unknown).
    """

    track_id: int
    global_orient: np.ndarray
    body_pose: np.ndarray
    transl: np.ndarray
    rest_joints: np.ndarray
    joints3d: np.ndarray
    valid: np.ndarray
    contacts: np.ndarray
    confidence: np.ndarray
    betas: np.ndarray = field(default_factory=lambda: np.zeros(10, np.float32))
    info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SceneSolution:
    """Everything a solver produces for one capture: the camera and one motion per person."""

    camera: CameraEstimate
    persons: tuple[PersonMotion, ...]
    warnings: tuple[str, ...] = ()
