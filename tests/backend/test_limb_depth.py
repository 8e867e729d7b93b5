"""limb_depth: limb depths from image rays and fixed bone lengths where a bone is clearly
inclined in depth; the detector's offset elsewhere; the upper arms' order from anatomy or the
shoulder's range of motion (exact synthetic geometry)."""

from __future__ import annotations

import numpy as np

from inference_backend.landmark_map import LM
from inference_backend.limb_depth import (
    LimbDepthConfig,
    ShoulderRange,
    bone_candidates,
    lift_limbs,
    torso_forward,
)

K = np.array([[800.0, 0, 320], [0, 800.0, 180], [0, 0, 1]])


def _project(x: np.ndarray) -> np.ndarray:
    uv = x @ K.T
    return uv[..., :2] / uv[..., 2:3]


def _body(frames: int, thigh_depth: np.ndarray) -> np.ndarray:
    """Camera-frame landmarks (F, 33, 3): hips 4 m away, the left thigh (0.4 m) tilted in
    depth by ``thigh_depth`` (F,) metres, everything else in the image plane."""
    pts = np.zeros((frames, 33, 3))
    pts[..., 2] = 4.0
    pts[:, LM["left_hip"]] = [0.1, 0.0, 4.0]
    pts[:, LM["right_hip"]] = [-0.1, 0.0, 4.0]
    down = np.sqrt(0.4 ** 2 - thigh_depth ** 2)
    pts[:, LM["left_knee"]] = np.stack([np.full(frames, 0.1), down, 4.0 + thigh_depth], -1)
    pts[:, LM["left_ankle"]] = pts[:, LM["left_knee"]] + [0.0, 0.4, 0.0]
    return pts


def test_candidates_lie_on_the_ray_at_the_bone_length() -> None:
    parent = np.array([[0.1, -0.2, 4.0]])
    ray = np.array([[0.025, 0.025, 1.0]])                 # passes 0.3 m from the parent
    near, far = bone_candidates(parent, ray, 0.5)
    for c in (near, far):
        assert abs(np.linalg.norm(c - parent) - 0.5) < 1e-9
        assert np.allclose(np.cross(c, ray), 0.0, atol=1e-9)
    assert near[0, 2] < far[0, 2]


def test_inclined_bone_gets_the_image_depth_with_the_detector_sign() -> None:
    n = 20
    depth = np.where(np.arange(n) < 10, -0.3, 0.3)          # knee 30 cm in front, then behind
    truth = _body(n, depth)
    root = 0.5 * (truth[:, LM["left_hip"]] + truth[:, LM["right_hip"]])
    metric = truth - root[:, None]
    # The detector: right sign, wrong size (half the depth) and a bone 20 % short.
    det = metric.copy()
    det[:, LM["left_knee"], 2] *= 0.5
    det[:, LM["left_knee"], 1] *= 0.8
    det[:, LM["left_ankle"]] = det[:, LM["left_knee"]] + [0.0, 0.4, 0.0]
    # The bone's length comes from frames where it lies in the image plane: add some.
    flat = _body(3 * n, np.zeros(3 * n)) - np.repeat(root, 3, 0)[:, None]
    det = np.concatenate([det, flat])
    roots = np.concatenate([root, np.repeat(root, 3, 0)])
    img = _project(np.concatenate([truth, flat + roots[n:, None]]))
    w = np.ones(det.shape[:2])
    out = lift_limbs(det, img, w, K, roots, LimbDepthConfig(min_depth_fraction=0.55))
    knee = out[:n, LM["left_knee"]] + root
    assert np.abs(knee - truth[:, LM["left_knee"]]).max() < 0.01    # exact up to the length
    # The shin lies in the image plane: it keeps the detector's offset from the moved knee.
    shin = out[:n, LM["left_ankle"]] - out[:n, LM["left_knee"]]
    assert np.allclose(shin, [0.0, 0.4, 0.0], atol=1e-9)
    # Bones in the image plane are left as the detector had them.
    assert np.allclose(out[n:], det[n:], atol=1e-9)
    # Off (the default): the input unchanged.
    off = lift_limbs(det, img, w, K, roots)
    assert np.array_equal(off, det)


def _torso(frames: int, facing_camera: bool) -> np.ndarray:
    """Camera-frame landmarks (F, 33, 3) of an upright torso 4 m away, hips 0.2 m and
    shoulders 0.4 m wide, facing the camera (its left on the image's right) or away."""
    side = 1.0 if facing_camera else -1.0
    pts = np.zeros((frames, 33, 3))
    pts[..., 2] = 4.0
    pts[:, LM["left_hip"]] = [0.1 * side, 0.0, 4.0]
    pts[:, LM["right_hip"]] = [-0.1 * side, 0.0, 4.0]
    pts[:, LM["left_shoulder"]] = [0.2 * side, -0.5, 4.0]
    pts[:, LM["right_shoulder"]] = [-0.2 * side, -0.5, 4.0]
    return pts


def test_torso_forward_points_out_of_the_chest() -> None:
    assert np.allclose(torso_forward(_torso(2, True)), [0.0, 0.0, -1.0])
    assert np.allclose(torso_forward(_torso(2, False)), [0.0, 0.0, 1.0])
    flat = np.zeros((1, 33, 3))
    assert np.isnan(torso_forward(flat)).all()


def _arm_case(facing_camera: bool, forward_m: float, detector_back_m: float
              ) -> tuple[np.ndarray, ...]:
    """Three equal frames (``lift_limbs`` measures a bone on >= 3): the left upper arm (0.3 m) reaching ``forward_m`` in front of the body; the
    detector has the elbow ``detector_back_m`` behind it at the same bone length. Returns
    (truth, detector metric, image, weights, root) as ``lift_limbs`` takes them."""
    truth = _torso(3, facing_camera)
    toward = -1.0 if facing_camera else 1.0          # camera z of 'in front of the body'
    shoulder = truth[0, LM["left_shoulder"]]
    truth[:, LM["left_elbow"]] = shoulder + [0.0, np.sqrt(0.09 - forward_m ** 2),
                                             toward * forward_m]
    truth[:, LM["left_wrist"]] = truth[:, LM["left_elbow"]] + [0.0, 0.25, 0.0]
    root = 0.5 * (truth[:, LM["left_hip"]] + truth[:, LM["right_hip"]])
    det = truth - root[:, None]
    det[:, LM["left_elbow"]] = det[:, LM["left_shoulder"]] + [
        0.0, np.sqrt(0.09 - detector_back_m ** 2), -toward * detector_back_m]
    det[:, LM["left_wrist"]] = det[:, LM["left_elbow"]] + [0.0, 0.25, 0.0]
    return truth, det, _project(truth), np.ones((3, 33)), root


def test_front_order_puts_an_inclined_upper_arm_in_front_of_the_body() -> None:
    for facing in (True, False):
        truth, det, img, w, root = _arm_case(facing, forward_m=0.18, detector_back_m=0.05)
        config = LimbDepthConfig(front_fraction=0.2)
        out = lift_limbs(det, img, w, K, root, config) + root[:, None]
        elbow, wrist = LM["left_elbow"], LM["left_wrist"]
        assert np.linalg.norm(out[:, elbow] - truth[:, elbow], axis=-1).max() < 0.005, facing
        # the forearm keeps the detector's offset from the moved elbow
        assert np.allclose(out[:, wrist] - out[:, elbow], [0.0, 0.25, 0.0], atol=1e-9)
        # the detector's own order (the limb lift alone) keeps the elbow behind
        behind = lift_limbs(det, img, w, K, root, LimbDepthConfig(min_depth_fraction=0.2))
        toward = -1.0 if facing else 1.0
        assert (toward * (behind[:, elbow, 2] - behind[:, LM["left_shoulder"], 2]) < -0.1).all()
        # off by default: unchanged
        assert np.array_equal(lift_limbs(det, img, w, K, root), det)


def test_front_order_leaves_arms_near_the_image_plane_and_other_bones() -> None:
    # inclined 0.1 of its length (below the 0.2 threshold): the detector's offset stays
    truth, det, img, w, root = _arm_case(True, forward_m=0.03, detector_back_m=0.05)
    out = lift_limbs(det, img, w, K, root, LimbDepthConfig(front_fraction=0.2))
    assert np.allclose(out, det, atol=1e-9)
    # a thigh the detector puts behind stays behind: the order applies to the upper arms only
    n = 4
    body = _body(n, np.full(n, 0.25))
    body[:, LM["left_shoulder"]] = [0.2, -0.5, 4.0]
    body[:, LM["right_shoulder"]] = [-0.2, -0.5, 4.0]
    root = 0.5 * (body[:, LM["left_hip"]] + body[:, LM["right_hip"]])
    metric = body - root[:, None]
    out = lift_limbs(metric, _project(body), np.ones((n, 33)), K, root,
                     LimbDepthConfig(front_fraction=0.2))
    assert np.allclose(out, metric, atol=1e-9)


def _sagittal_arm(facing_camera: bool, flexion_deg: float, detector_flexion_deg: float,
                  length: float = 0.3) -> tuple[np.ndarray, ...]:
    """Three equal frames of the upright torso with the left upper arm swung ``flexion_deg``
    forwards (negative: backwards, extension) from hanging, in the sagittal plane; the
    detector has it at ``detector_flexion_deg``. Returns (truth, detector metric, image,
    weights, root) as ``lift_limbs`` takes them."""
    truth = _torso(3, facing_camera)
    toward = -1.0 if facing_camera else 1.0          # camera z of 'in front of the body'

    def elbow(deg: float) -> np.ndarray:
        a = np.radians(deg)
        return truth[0, LM["left_shoulder"]] + length * np.array(
            [0.0, np.cos(a), toward * np.sin(a)])

    truth[:, LM["left_elbow"]] = elbow(flexion_deg)
    truth[:, LM["left_wrist"]] = truth[:, LM["left_elbow"]] + [0.0, 0.25, 0.0]
    root = 0.5 * (truth[:, LM["left_hip"]] + truth[:, LM["right_hip"]])
    det = truth - root[:, None]
    det[:, LM["left_elbow"]] = elbow(detector_flexion_deg) - root
    det[:, LM["left_wrist"]] = det[:, LM["left_elbow"]] + [0.0, 0.25, 0.0]
    return truth, det, _project(truth), np.ones((3, 33)), root


ROM = LimbDepthConfig(range_of_motion=True)


def test_shoulder_range_limits_follow_the_clinical_anchors() -> None:
    r = ShoulderRange()
    assert np.allclose(r.behind_limit_deg(np.array([0.0, 30.0, 60.0, 90.0, 135.0, 180.0])),
                       [60.0, 60.0, 60.0, 45.0, 22.5, 0.0])
    up, fwd = np.array([[0.0, -1.0, 0.0]]), np.array([[0.0, 0.0, -1.0]])   # facing the camera

    def direction(elevation: float, behind: float) -> np.ndarray:
        """Sagittal (behind = elevation) or horizontal (elevation 90) arm directions."""
        e, b = np.radians(elevation), np.radians(behind)
        if elevation == 90.0:      # sideways at shoulder height, swung back by b
            return np.array([[np.cos(b), 0.0, np.sin(b)]])
        return np.array([[0.0, np.cos(e), np.sin(e) * np.sign(b)]])

    out = lambda d: bool(r.out_of_range(d, up, fwd)[0])   # noqa: E731
    assert not out(direction(65.0, 65.0))          # extension 65: within 60 + the 10 margin
    assert out(direction(75.0, 75.0))              # extension 75: out
    assert not out(direction(90.0, 50.0))          # horizontal extension 50: 45 + 10
    assert out(direction(90.0, 60.0))
    for e in (10.0, 60.0, 90.0, 120.0, 170.0):    # in front of the body: always in range
        assert not out(direction(e, -e if e != 90.0 else -80.0))
    assert not r.out_of_range(np.full((1, 3), np.nan), up, fwd)[0]


def test_range_of_motion_puts_an_arm_raised_forward_in_front() -> None:
    for facing in (True, False):
        # raised forwards 80 deg; the detector has it hanging 10 deg behind the body
        truth, det, img, w, root = _sagittal_arm(facing, 80.0, -10.0)
        out = lift_limbs(det, img, w, K, root, ROM) + root[:, None]
        elbow, wrist = LM["left_elbow"], LM["left_wrist"]
        # the candidate behind would be ~80 deg of extension: out of range, the front one taken
        assert np.linalg.norm(out[:, elbow] - truth[:, elbow], axis=-1).max() < 0.005, facing
        assert np.allclose(out[:, wrist] - out[:, elbow], [0.0, 0.25, 0.0], atol=1e-9)
        # off by default: unchanged
        assert np.array_equal(lift_limbs(det, img, w, K, root), det)


def test_range_of_motion_keeps_an_arm_swung_back_within_range() -> None:
    # a walking arm 25 deg behind the body; its mirror (25 deg forwards) is in range too,
    # so the detector's depth stays whether it has the order right or wrong
    for detector_deg in (-15.0, 20.0):
        _, det, img, w, root = _sagittal_arm(True, -25.0, detector_deg)
        assert np.allclose(lift_limbs(det, img, w, K, root, ROM), det, atol=1e-12)
    # the "always in front" order would put it in front
    truth, det, img, w, root = _sagittal_arm(True, -25.0, -15.0)
    front = lift_limbs(det, img, w, K, root, LimbDepthConfig(front_fraction=0.2))
    assert (front[:, LM["left_elbow"], 2] < front[:, LM["left_shoulder"], 2]).all()


def test_range_of_motion_leaves_a_hanging_arm() -> None:
    for truth_deg in (0.0, 5.0):
        _, det, img, w, root = _sagittal_arm(True, truth_deg, -8.0)
        assert np.allclose(lift_limbs(det, img, w, K, root, ROM), det, atol=1e-12)
    # an arm swung 75 deg back is itself past the range (60 + 10 margin) while its mirror,
    # 75 deg forwards, is in range: the rule takes the mirror (the limitation of any range prior)
    truth, det, img, w, root = _sagittal_arm(True, -75.0, -75.0)
    out = lift_limbs(det, img, w, K, root, ROM)
    assert (out[:, LM["left_elbow"], 2] < out[:, LM["left_shoulder"], 2]).all()
