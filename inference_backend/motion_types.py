"""Dataclasses passed between backend stages (``pipeline`` is the only module that wires them).

Shapes use F = frames of the capture, L = 33 MediaPipe landmarks, J = 24 SMPL joints.
All arrays are numpy; frames are the capture's frame axis (shared by every person).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .smpl_constants import CONTACT_JOINTS


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
class Detection:
    """One person seen in one frame (the detect stage's output, the track stage's input).

    image_landmarks: (33, 3) float32 [u px, v px, visibility in 0..1], displayed-frame pixels.
    world_landmarks: (33, 3) float32 metres, hip-centred, camera-aligned (y down).
    box: (4,) float32 [x0, y0, x1, y1] displayed-frame pixels around the landmarks.
    score: mean landmark visibility in 0..1.
    """

    image_landmarks: np.ndarray
    world_landmarks: np.ndarray
    box: np.ndarray
    score: float


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


#: SMPL joints every solver reports in the camera frame besides the pelvis transform
#: (``CameraTrack.key_joints_cam``): pelvis, neck (spine3's child) and the four foot-contact
#: joints (``CONTACT_JOINTS``: ankles and feet). The scene stage finds the ground from them.
KEY_JOINTS: tuple[int, ...] = (0, 12, *CONTACT_JOINTS)


@dataclass(frozen=True)
class CameraTrack:
    """One person as a solver placed them in the camera frame, on the Fo frames it solved.

    The scene stage (``scene.place_in_world``) turns it into a world-frame ``PersonMotion``;
    frames not in ``frames`` are bridged or held there.

    frames: (Fo,) int64 increasing capture-frame indices the solver estimated.
    orient_cam: (Fo, 3, 3) pelvis (global) orientation in the camera frame (OpenCV axes).
    body_pose: (Fo, 23, 3) local joint rotations, axis-angle (SMPL order, joints 1..23).
    root_cam: (Fo, 3) pelvis position in camera coordinates, metres.
    key_joints_cam: (Fo, len(KEY_JOINTS), 3) those joints in camera coordinates, metres.
    rest_joints: (24, 3) the subject's rest skeleton, metres (pelvis at rest_joints[0]).
    confidence: (Fo, 24) per-joint confidence in [0, 1].
    betas: (10,) SMPL shape, zeros when the solver does not estimate shape.
    noise_scale: >= 1, how much noisier than clean input this track is; the scene stage widens
        its smoothing kernels by it and its contact bands by its square root.
    info: per-person facts for the motion file header (e.g. ``bone_lengths_m``).
    """

    track_id: int
    frames: np.ndarray
    orient_cam: np.ndarray
    body_pose: np.ndarray
    root_cam: np.ndarray
    key_joints_cam: np.ndarray
    rest_joints: np.ndarray
    confidence: np.ndarray
    betas: np.ndarray = field(default_factory=lambda: np.zeros(10, np.float32))
    noise_scale: float = 1.0
    info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class CameraIntrinsics:
    """The pinhole intrinsics a solver worked with: K (3, 3) pixels, the horizontal field of
    view (degrees) and where it came from ("estimated" | "prior" | "override")."""

    K: np.ndarray
    fov_x_deg: float
    source: str


@dataclass(frozen=True)
class CameraFrameTracks:
    """What every solver returns: its intrinsics, one ``CameraTrack`` per solved person and
    the warnings it raised. Nothing in it knows about the ground or the world frame."""

    intrinsics: CameraIntrinsics
    tracks: tuple[CameraTrack, ...]
    warnings: tuple[str, ...] = ()


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
    """What the scene stage produces for one capture: the camera and one motion per person."""

    camera: CameraEstimate
    persons: tuple[PersonMotion, ...]
    warnings: tuple[str, ...] = ()
