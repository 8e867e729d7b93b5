"""SMPL skeleton constants shared by every backend stage (names, parents, template rest joints).

Pure data: no torch, no I/O. The add-on keeps its own copy in ``str_blender_addon/core`` because
the two processes never import each other; the motion file carries names and parents anyway.
"""

from __future__ import annotations

import numpy as np

SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hand", "right_hand",
)
NUM_JOINTS = 24

#: Parent of each joint in ``SMPL_JOINT_NAMES`` order (-1 for the root).
SMPL_PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)

#: Approximate rest joints of the gender-neutral SMPL template (betas = 0), in the SMPL body
#: frame: metres, Y up, +Z forward (the way the body faces), +X to the subject's left.
#: Used when no SMPL model files are available: a plausible adult skeleton (about 1.7 m tall)
#: whose bone lengths the kinematic fit then replaces with the subject's own.
SMPL_TEMPLATE_REST_JOINTS: np.ndarray = np.array(
    [
        [-0.0018, -0.2233, 0.0282],   # pelvis
        [0.0695, -0.3141, 0.0239],    # left_hip
        [-0.0677, -0.3147, 0.0214],   # right_hip
        [-0.0025, -0.1034, 0.0024],   # spine1
        [0.1040, -0.6998, 0.0276],    # left_knee
        [-0.1054, -0.7000, 0.0249],   # right_knee
        [0.0055, 0.0327, 0.0296],     # spine2
        [0.0880, -1.0962, -0.0127],   # left_ankle
        [-0.0883, -1.0990, -0.0149],  # right_ankle
        [0.0012, 0.0810, 0.0029],     # spine3
        [0.1201, -1.1530, 0.1081],    # left_foot
        [-0.1195, -1.1540, 0.1063],   # right_foot
        [-0.0017, 0.2938, -0.0119],   # neck
        [0.0782, 0.2071, -0.0059],    # left_collar
        [-0.0752, 0.2069, -0.0108],   # right_collar
        [0.0053, 0.3813, 0.0509],     # head
        [0.1700, 0.2386, -0.0184],    # left_shoulder
        [-0.1681, 0.2321, -0.0213],   # right_shoulder
        [0.4299, 0.2171, -0.0312],    # left_elbow
        [-0.4130, 0.2128, -0.0372],   # right_elbow
        [0.6781, 0.2216, -0.0355],    # left_wrist
        [-0.6880, 0.2217, -0.0309],   # right_wrist
        [0.7604, 0.2184, -0.0483],    # left_hand
        [-0.7650, 0.2133, -0.0562],   # right_hand
    ],
    dtype=np.float32,
)
SMPL_TEMPLATE_REST_JOINTS.setflags(write=False)

#: Foot-contact channels of the motion file's ``contacts`` array, as SMPL joint indices.
CONTACT_JOINTS: tuple[int, ...] = (7, 10, 8, 11)  # left_ankle, left_foot, right_ankle, right_foot

#: MediaPipe BlazePose 33-landmark names, in the model's output order.
MEDIAPIPE_LANDMARK_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder",
    "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_pinky",
    "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb", "left_hip",
    "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
    "right_heel", "left_foot_index", "right_foot_index",
)
