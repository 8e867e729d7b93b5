"""SMPL 24-joint skeleton: names, parents, template rest pose, forward kinematics (numpy only).

The add-on keeps its own copy of the constants (the two processes never import each other);
the motion file carries names and parents anyway and the reader checks they match.
Units are metres; arrays are float64 unless stated.
"""

from __future__ import annotations

import numpy as np

from .rotations import axis_angle_to_matrix

SMPL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hand", "right_hand",
)
NUM_JOINTS = 24
SMPL_PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)
#: Foot-contact channels of the motion file (left ankle, left foot, right ankle, right foot).
CONTACT_JOINTS: tuple[int, ...] = (7, 10, 8, 11)
CONTACT_PROPERTY_NAMES: tuple[str, ...] = (
    "str_contact_left_ankle", "str_contact_left_foot",
    "str_contact_right_ankle", "str_contact_right_foot",
)

#: Rest joints of the gender-neutral SMPL template (betas = 0), SMPL body frame (Y up, +Z
#: forward, +X subject's left), metres. Same numbers as the backend's constants.
SMPL_TEMPLATE_REST_JOINTS: np.ndarray = np.array(
    [
        [-0.0018, -0.2233, 0.0282], [0.0695, -0.3141, 0.0239], [-0.0677, -0.3147, 0.0214],
        [-0.0025, -0.1034, 0.0024], [0.1040, -0.6998, 0.0276], [-0.1054, -0.7000, 0.0249],
        [0.0055, 0.0327, 0.0296], [0.0880, -1.0962, -0.0127], [-0.0883, -1.0990, -0.0149],
        [0.0012, 0.0810, 0.0029], [0.1201, -1.1530, 0.1081], [-0.1195, -1.1540, 0.1063],
        [-0.0017, 0.2938, -0.0119], [0.0782, 0.2071, -0.0059], [-0.0752, 0.2069, -0.0108],
        [0.0053, 0.3813, 0.0509], [0.1700, 0.2386, -0.0184], [-0.1681, 0.2321, -0.0213],
        [0.4299, 0.2171, -0.0312], [-0.4130, 0.2128, -0.0372], [0.6781, 0.2216, -0.0355],
        [-0.6880, 0.2217, -0.0309], [0.7604, 0.2184, -0.0483], [-0.7650, 0.2133, -0.0562],
    ],
    dtype=np.float64,
)
SMPL_TEMPLATE_REST_JOINTS.setflags(write=False)

#: Which child a bone's tail points to when the joint has several children.
_PREFERRED_CHILD: dict[int, int] = {0: 3, 9: 12}


def children(parents: tuple[int, ...] = SMPL_PARENTS) -> list[list[int]]:
    """List of child indices per joint."""
    out: list[list[int]] = [[] for _ in parents]
    for j, p in enumerate(parents):
        if p >= 0:
            out[p].append(j)
    return out


def smpl_forward_kinematics(
    rest_joints: np.ndarray,
    global_orient: np.ndarray,
    body_pose: np.ndarray,
    transl: np.ndarray,
    parents: tuple[int, ...] = SMPL_PARENTS,
) -> tuple[np.ndarray, np.ndarray]:
    """SMPL (smplx-identical) FK in the file's Y-up world.

    rest_joints (24,3); global_orient (F,3); body_pose (F,23,3) axis-angle; transl (F,3).
    Returns (joints (F,24,3) world metres, global rotations (F,24,3,3)).
    """
    rest = np.asarray(rest_joints, np.float64)
    local = np.concatenate(
        [np.asarray(global_orient, np.float64)[:, None], np.asarray(body_pose, np.float64)], 1)
    rot_local = axis_angle_to_matrix(local)                      # (F,24,3,3)
    n_frames = rot_local.shape[0]
    g_rot = np.empty_like(rot_local)
    g_pos = np.empty((n_frames, len(parents), 3))
    for j, p in enumerate(parents):
        if p < 0:
            g_rot[:, j] = rot_local[:, j]
            g_pos[:, j] = rest[j]
        else:
            g_rot[:, j] = g_rot[:, p] @ rot_local[:, j]
            g_pos[:, j] = g_pos[:, p] + g_rot[:, p] @ (rest[j] - rest[p])
    return g_pos + np.asarray(transl, np.float64)[:, None, :], g_rot


def bone_tails(heads: np.ndarray, parents: tuple[int, ...] = SMPL_PARENTS) -> np.ndarray:
    """Tail position (24,3) of every bone given its head (24,3), in the Y-up SMPL frame.

    A bone points to its (preferred) child. Leaf bones get a direction/length that reads
    well: the head continues neck->head up to the crown (about 2x the neck->head distance,
    at least 12 cm), the toes continue ankle->toe flattened to horizontal, the hands continue
    wrist->hand (0.6x, at least 5 cm).
    """
    heads = np.asarray(heads, np.float64)
    kids = children(parents)
    tails = np.empty_like(heads)
    for j in range(len(parents)):
        if kids[j]:
            c = _PREFERRED_CHILD.get(j, kids[j][0])
            tails[j] = heads[c]
            if np.linalg.norm(tails[j] - heads[j]) < 1e-4:      # degenerate: nudge
                tails[j] = heads[j] + _fallback_direction(heads, j, parents) * 0.05
            continue
        p = parents[j]
        direction = heads[j] - heads[p]
        length = float(np.linalg.norm(direction))
        name = SMPL_JOINT_NAMES[j] if len(parents) == NUM_JOINTS else ""
        if name.endswith("_foot"):
            direction = direction * np.array([1.0, 0.0, 1.0])
        norm = float(np.linalg.norm(direction))
        direction = direction / norm if norm > 1e-6 else _fallback_direction(heads, j, parents)
        if name == "head":
            leaf_len = max(2.0 * length, 0.12)
        else:
            leaf_len = max(0.6 * length, 0.05)
        tails[j] = heads[j] + direction * leaf_len
    return tails


def _fallback_direction(heads: np.ndarray, j: int, parents: tuple[int, ...]) -> np.ndarray:
    p = parents[j]
    if p >= 0:
        d = heads[j] - heads[p]
        n = np.linalg.norm(d)
        if n > 1e-6:
            return d / n
    return np.array([0.0, 1.0, 0.0])


def leg_length(rest_joints: np.ndarray) -> float:
    """Mean rest length hip -> knee -> ankle of both legs, metres."""
    r = np.asarray(rest_joints, np.float64)
    left = np.linalg.norm(r[4] - r[1]) + np.linalg.norm(r[7] - r[4])
    right = np.linalg.norm(r[5] - r[2]) + np.linalg.norm(r[8] - r[5])
    return float(0.5 * (left + right))


#: Height of the lowest rest joint (the ball of the foot) above the sole of an SMPL body, m.
FOOT_JOINT_HEIGHT = 0.045


def floor_offset(rest_joints: np.ndarray) -> np.ndarray:
    """Y-up offset (3,) that stands the rest skeleton on the floor, pelvis over the origin.

    ``rest_joints + floor_offset`` has its lowest joint at ``FOOT_JOINT_HEIGHT`` (so the soles
    of the body mesh touch y = 0) and the pelvis at x = z = 0. Only the rest pose uses it; the
    animation compensates it exactly.
    """
    r = np.asarray(rest_joints, np.float64)
    return np.array([-r[0, 0], FOOT_JOINT_HEIGHT - r[:, 1].min(), -r[0, 2]])


def pose_bone_world_heads(
    rest_matrices: np.ndarray,
    basis_rot: np.ndarray,
    basis_loc: np.ndarray,
    parents: tuple[int, ...] | list[int] = SMPL_PARENTS,
) -> np.ndarray:
    """Blender-style pose FK: armature-space heads of posed bones (scale ignored).

    rest_matrices (J,4,4): ``bone.matrix_local`` (armature-space rest). basis_rot (F,J,3,3) and
    basis_loc (F,J,3): each bone's ``matrix_basis`` rotation and location (in its rest frame).
    parents: parent index per bone (-1 for roots), parents listed before children.
    Pose matrix: ``P_j = P_parent @ inv(L_parent) @ L_j @ basis_j`` (roots: ``L_j @ basis_j``).
    Returns heads (F,J,3) in armature space.
    """
    rest = np.asarray(rest_matrices, np.float64)
    n_frames = basis_rot.shape[0]
    pose = np.zeros((n_frames, len(parents), 4, 4))
    for j, p in enumerate(parents):
        basis = np.zeros((n_frames, 4, 4))
        basis[:, :3, :3] = basis_rot[:, j]
        basis[:, :3, 3] = basis_loc[:, j]
        basis[:, 3, 3] = 1.0
        if p < 0:
            pose[:, j] = rest[j] @ basis
        else:
            rel = np.linalg.inv(rest[p]) @ rest[j]
            pose[:, j] = pose[:, p] @ rel @ basis
    return pose[:, :, :3, 3]


def blender_pose_channels(
    bone_rest_rot: np.ndarray,
    rest_offset: np.ndarray,
    global_orient: np.ndarray,
    body_pose: np.ndarray,
    transl: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Convert SMPL parameters to Blender pose-bone channels (quaternions + root location).

    bone_rest_rot (24,3,3): B_j, each bone's rest rotation in armature space (Z-up), i.e. the
    3x3 part of ``bone.matrix_local``. rest_offset (3,): the Y-up shift the rig builder added
    to the rest joints (see :func:`floor_offset`). global_orient (F,3), body_pose (F,23,3)
    axis-angle; transl (F,3) Y-up metres.

    With C the Y-up -> Z-up change of basis, bone j's basis rotation is
    ``B_j^T (C R_j C^T) B_j`` and the root bone's location is ``B_0^T C (transl - offset)``
    (the armature object sits at the origin, unrotated). Returns quaternions (F,24,4) (w,x,y,z)
    with sign continuity over time, and root locations (F,3).

    Derivation: Blender poses bone j in armature space as ``P_j = P_p L_p^-1 L_j X_j`` with
    ``L_j = [B_j | h_j]`` its rest matrix (``h_j = C (J_j + offset)``) and ``X_j`` its basis.
    Require ``rot(P_j) = C G_j C^T B_j`` (SMPL's world rotation G_j, moved to Z-up, applied to
    the rest bone). For the root, ``B_0 X_0 = C R_0 C^T B_0``; for a child, ``rot(P_p) B_p^T B_j
    X_j = C G_p C^T B_j X_j = C G_p R_j C^T B_j`` - both give ``X_j = B_j^T C R_j C^T B_j``.
    Heads: ``P_p`` maps ``h_j - h_p = C (J_j - J_p)`` to ``C G_p (J_j - J_p)`` (SMPL's FK), and
    the root head ``h_0 + B_0 loc = C (J_0 + transl)`` gives the location above.
    """
    from .rotations import (
        Y_UP_TO_Z_UP,
        axis_angle_to_quaternion,
        matrix_to_quaternion,
        quaternion_conjugate,
        quaternion_multiply,
        quaternion_sign_continuity,
    )

    b = np.asarray(bone_rest_rot, np.float64)
    local = np.concatenate(
        [np.asarray(global_orient, np.float64)[:, None], np.asarray(body_pose, np.float64)], 1)
    q_r = axis_angle_to_quaternion(local)                          # (F,24,4)
    q_m = matrix_to_quaternion(Y_UP_TO_Z_UP.T[None] @ b)[None]     # (1,24,4): M_j = C^T B_j
    # M^T R M as quaternions: conj(q_M) * q_R * q_M  (cheaper than 3x3 products per frame)
    basis = quaternion_multiply(quaternion_multiply(quaternion_conjugate(q_m), q_r), q_m)
    quats = quaternion_sign_continuity(basis, axis=0)
    t = np.asarray(transl, np.float64) - np.asarray(rest_offset, np.float64)
    loc = (b[0].T @ (Y_UP_TO_Z_UP @ t.T)).T
    return quats, loc
