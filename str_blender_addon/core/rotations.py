"""Rotation maths (numpy only) and the single Y-up -> Z-up axis conversion of the add-on.

Quaternions are (w, x, y, z), Blender's order. Rotation matrices act on column vectors.
"""

from __future__ import annotations

import numpy as np

#: Change of basis from the motion file's Y-up world to Blender's Z-up world:
#: ``(x, y, z) -> (x, -z, y)``. ``Y_UP_TO_Z_UP @ v_yup == v_zup``.
Y_UP_TO_Z_UP: np.ndarray = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
Y_UP_TO_Z_UP.setflags(write=False)


def y_up_to_z_up(points: np.ndarray) -> np.ndarray:
    """Convert points/vectors (..., 3) from the Y-up file world to Blender's Z-up world.

    The one place the add-on changes axis convention: ``(x, y, z) -> (x, -z, y)``.
    """
    p = np.asarray(points)
    out = np.empty(p.shape, dtype=np.result_type(p.dtype, np.float32))
    out[..., 0] = p[..., 0]
    out[..., 1] = -p[..., 2]
    out[..., 2] = p[..., 1]
    return out


def z_up_to_y_up(points: np.ndarray) -> np.ndarray:
    """Inverse of :func:`y_up_to_z_up`: ``(x, y, z) -> (x, z, -y)`` for (..., 3) arrays."""
    p = np.asarray(points)
    out = np.empty(p.shape, dtype=np.result_type(p.dtype, np.float32))
    out[..., 0] = p[..., 0]
    out[..., 1] = p[..., 2]
    out[..., 2] = -p[..., 1]
    return out


def axis_angle_to_matrix(aa: np.ndarray) -> np.ndarray:
    """Rodrigues: axis-angle vectors (..., 3) (length = angle, radians) -> matrices (..., 3, 3)."""
    aa = np.asarray(aa, dtype=np.float64)
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    small = angle < 1e-12
    axis = np.where(small, 0.0, aa / np.where(small, 1.0, angle))
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    a = angle[..., 0]
    c, s = np.cos(a), np.sin(a)
    t = 1.0 - c
    m = np.empty(aa.shape[:-1] + (3, 3))
    m[..., 0, 0] = c + x * x * t
    m[..., 0, 1] = x * y * t - z * s
    m[..., 0, 2] = x * z * t + y * s
    m[..., 1, 0] = y * x * t + z * s
    m[..., 1, 1] = c + y * y * t
    m[..., 1, 2] = y * z * t - x * s
    m[..., 2, 0] = z * x * t - y * s
    m[..., 2, 1] = z * y * t + x * s
    m[..., 2, 2] = c + z * z * t
    return m


def matrix_to_axis_angle(m: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) -> axis-angle vectors (..., 3) (via quaternions)."""
    return quaternion_to_axis_angle(matrix_to_quaternion(m))


def quaternion_to_axis_angle(q: np.ndarray) -> np.ndarray:
    """Unit quaternions (..., 4) (w, x, y, z) -> axis-angle (..., 3), angle in [0, pi]."""
    q = np.asarray(q, dtype=np.float64)
    q = np.where(q[..., :1] < 0.0, -q, q)
    vec = q[..., 1:]
    s = np.linalg.norm(vec, axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(s, q[..., :1])
    scale = np.where(s < 1e-12, 2.0, angle / np.where(s < 1e-12, 1.0, s))
    return vec * scale


def matrix_to_quaternion(m: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) -> unit quaternions (..., 4) (w, x, y, z), w >= 0.

    Uses the numerically stable branch (largest diagonal term) per element.
    """
    m = np.asarray(m, dtype=np.float64)
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    trace = m00 + m11 + m22
    cand = np.stack([trace, m00, m11, m22], axis=-1)
    pick = np.argmax(cand, axis=-1)
    q = np.empty(m.shape[:-2] + (4,))
    # branch 0: w largest
    s0 = np.sqrt(np.maximum(1.0 + trace, 1e-300)) * 2.0
    q0 = np.stack([0.25 * s0, (m[..., 2, 1] - m[..., 1, 2]) / s0,
                   (m[..., 0, 2] - m[..., 2, 0]) / s0, (m[..., 1, 0] - m[..., 0, 1]) / s0], -1)
    s1 = np.sqrt(np.maximum(1.0 + m00 - m11 - m22, 1e-300)) * 2.0
    q1 = np.stack([(m[..., 2, 1] - m[..., 1, 2]) / s1, 0.25 * s1,
                   (m[..., 0, 1] + m[..., 1, 0]) / s1, (m[..., 0, 2] + m[..., 2, 0]) / s1], -1)
    s2 = np.sqrt(np.maximum(1.0 + m11 - m00 - m22, 1e-300)) * 2.0
    q2 = np.stack([(m[..., 0, 2] - m[..., 2, 0]) / s2, (m[..., 0, 1] + m[..., 1, 0]) / s2,
                   0.25 * s2, (m[..., 1, 2] + m[..., 2, 1]) / s2], -1)
    s3 = np.sqrt(np.maximum(1.0 + m22 - m00 - m11, 1e-300)) * 2.0
    q3 = np.stack([(m[..., 1, 0] - m[..., 0, 1]) / s3, (m[..., 0, 2] + m[..., 2, 0]) / s3,
                   (m[..., 1, 2] + m[..., 2, 1]) / s3, 0.25 * s3], -1)
    for k, qk in enumerate((q0, q1, q2, q3)):
        sel = pick == k
        q[sel] = qk[sel]
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(q[..., :1] < 0.0, -q, q)


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """Quaternions (..., 4) (w, x, y, z), normalised first -> rotation matrices (..., 3, 3)."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    m = np.empty(q.shape[:-1] + (3, 3))
    m[..., 0, 0] = 1 - 2 * (y * y + z * z)
    m[..., 0, 1] = 2 * (x * y - z * w)
    m[..., 0, 2] = 2 * (x * z + y * w)
    m[..., 1, 0] = 2 * (x * y + z * w)
    m[..., 1, 1] = 1 - 2 * (x * x + z * z)
    m[..., 1, 2] = 2 * (y * z - x * w)
    m[..., 2, 0] = 2 * (x * z - y * w)
    m[..., 2, 1] = 2 * (y * z + x * w)
    m[..., 2, 2] = 1 - 2 * (x * x + y * y)
    return m


def quaternion_sign_continuity(q: np.ndarray, axis: int = 0) -> np.ndarray:
    """Flip quaternion signs along ``axis`` (time) so consecutive samples have dot >= 0.

    q: (..., 4) with the time axis ``axis``. Returns a new array; rotations are unchanged.
    """
    q = np.moveaxis(np.array(q, dtype=np.float64, copy=True), axis, 0)
    if q.shape[0] > 1:
        dots = np.sum(q[1:] * q[:-1], axis=-1)
        flips = np.cumprod(np.where(dots < 0.0, -1.0, 1.0), axis=0)
        q[1:] *= flips[..., None]
    return np.moveaxis(q, 0, axis)


#: OpenCV camera axes (x right, y down, z forward) -> Blender camera axes (x right, y up,
#: looking down -z).
OPENCV_TO_BLENDER_CAMERA: np.ndarray = np.diag([1.0, -1.0, -1.0])
OPENCV_TO_BLENDER_CAMERA.setflags(write=False)


def opencv_extrinsics_to_blender(cam_r: np.ndarray, cam_t: np.ndarray) -> tuple[np.ndarray,
                                                                               np.ndarray]:
    """World-to-camera OpenCV extrinsics in the Y-up world -> Blender camera object pose.

    cam_r (F,3,3), cam_t (F,3) with ``x_cam = R X + t`` (X Y-up world). Returns
    (rotation (F,3,3), location (F,3)) of the Blender camera object's world matrix in the
    Z-up world: ``rot = C R^T D`` and ``loc = C (-R^T t)`` with D = diag(1,-1,-1).
    """
    r = np.asarray(cam_r, np.float64)
    t = np.asarray(cam_t, np.float64)
    rt = np.swapaxes(r, -1, -2)
    center = -np.einsum("fab,fb->fa", rt, t)
    rot = Y_UP_TO_Z_UP[None] @ rt @ OPENCV_TO_BLENDER_CAMERA[None]
    return rot, y_up_to_z_up(center)


def axis_angle_to_quaternion(aa: np.ndarray) -> np.ndarray:
    """Axis-angle vectors (..., 3) -> unit quaternions (..., 4) (w, x, y, z)."""
    aa = np.asarray(aa, np.float64)
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    half = 0.5 * angle
    # sin(a/2)/a, with its limit 1/2 near zero
    scale = np.where(angle < 1e-8, 0.5 - angle * angle / 48.0,
                     np.sin(half) / np.where(angle < 1e-8, 1.0, angle))
    return np.concatenate([np.cos(half), aa * scale], axis=-1)


def quaternion_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product a*b of (..., 4) quaternions (w, x, y, z); broadcasts."""
    aw, ax, ay, az = np.moveaxis(np.asarray(a, np.float64), -1, 0)
    bw, bx, by, bz = np.moveaxis(np.asarray(b, np.float64), -1, 0)
    return np.stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ], axis=-1)


def quaternion_conjugate(q: np.ndarray) -> np.ndarray:
    """Conjugate (inverse for unit quaternions) of (..., 4) quaternions."""
    out = np.array(q, np.float64, copy=True)
    out[..., 1:] *= -1.0
    return out
