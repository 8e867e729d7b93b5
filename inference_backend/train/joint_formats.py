"""Joint orders of the VIBE/TCMR databases and conversion between them (by joint name).

Orders (facts file §2): ``spin`` (49: 25 OpenPose + 24 named), ``common`` (14 LSP joints used for
evaluation), ``mpii3d_test`` (17), ``h36m`` (17, output order of ``J_regressor_h36m``) and
``insta`` (25, InstaVariety 2D labels). A joint missing in the source is zero-filled (so its
confidence is 0), exactly like TCMR's ``convert_kps``.
"""

from __future__ import annotations

import numpy as np

SPIN_JOINTS: tuple[str, ...] = (
    "OP Nose", "OP Neck", "OP RShoulder", "OP RElbow", "OP RWrist", "OP LShoulder", "OP LElbow",
    "OP LWrist", "OP MidHip", "OP RHip", "OP RKnee", "OP RAnkle", "OP LHip", "OP LKnee",
    "OP LAnkle", "OP REye", "OP LEye", "OP REar", "OP LEar", "OP LBigToe", "OP LSmallToe",
    "OP LHeel", "OP RBigToe", "OP RSmallToe", "OP RHeel",
    "rankle", "rknee", "rhip", "lhip", "lknee", "lankle", "rwrist", "relbow", "rshoulder",
    "lshoulder", "lelbow", "lwrist", "neck", "headtop", "hip", "thorax", "Spine (H36M)",
    "Jaw (H36M)", "Head (H36M)", "nose", "leye", "reye", "lear", "rear",
)
COMMON_JOINTS: tuple[str, ...] = (
    "rankle", "rknee", "rhip", "lhip", "lknee", "lankle", "rwrist", "relbow", "rshoulder",
    "lshoulder", "lelbow", "lwrist", "neck", "headtop",
)
MPII3D_TEST_JOINTS: tuple[str, ...] = (
    "headtop", "neck", "rshoulder", "relbow", "rwrist", "lshoulder", "lelbow", "lwrist", "rhip",
    "rknee", "rankle", "lhip", "lknee", "lankle", "hip", "Spine (H36M)", "Head (H36M)",
)
INSTA_JOINTS: tuple[str, ...] = (
    "OP RHeel", "OP RKnee", "OP RHip", "OP LHip", "OP LKnee", "OP LHeel", "OP RWrist",
    "OP RElbow", "OP RShoulder", "OP LShoulder", "OP LElbow", "OP LWrist", "OP Neck", "headtop",
    "OP Nose", "OP LEye", "OP REye", "OP LEar", "OP REar", "OP LBigToe", "OP RBigToe",
    "OP LSmallToe", "OP RSmallToe", "OP LAnkle", "OP RAnkle",
)

JOINT_FORMATS: dict[str, tuple[str, ...]] = {
    "spin": SPIN_JOINTS,
    "common": COMMON_JOINTS,
    "mpii3d_test": MPII3D_TEST_JOINTS,
    "insta": INSTA_JOINTS,
}

#: H36M 17-joint regressor output -> common-14 order (facts §2.4).
H36M_TO_J17: tuple[int, ...] = (6, 5, 4, 1, 2, 3, 16, 15, 14, 11, 12, 13, 8, 10, 0, 7, 9)
H36M_TO_J14: tuple[int, ...] = H36M_TO_J17[:14]
#: Indices 25..38 of the spin-49 set are the common-14 joints in common order.
SPIN_COMMON_SLICE = slice(25, 39)
#: Mid-hip alignment in the common-14 order uses (rhip, lhip).
COMMON_HIP_INDICES: tuple[int, int] = (2, 3)
#: Pelvis of the mpii3d_test order.
MPII3D_PELVIS_INDEX = 14


def convert_kps(joints: np.ndarray, src: str, dst: str) -> np.ndarray:
    """Reorder ``joints`` (..., J_src, C) from format ``src`` to ``dst`` (..., J_dst, C) by name.

    Joints absent from ``src`` are zero-filled (confidence 0 for 2D arrays).
    """
    src_names = JOINT_FORMATS[src]
    dst_names = JOINT_FORMATS[dst]
    if joints.shape[-2] != len(src_names):
        raise ValueError(
            f"expected {len(src_names)} joints for format '{src}', got shape {joints.shape}"
        )
    out = np.zeros(joints.shape[:-2] + (len(dst_names), joints.shape[-1]), dtype=joints.dtype)
    index = {name: i for i, name in enumerate(src_names)}
    for j, name in enumerate(dst_names):
        i = index.get(name)
        if i is not None:
            out[..., j, :] = joints[..., i, :]
    return out
