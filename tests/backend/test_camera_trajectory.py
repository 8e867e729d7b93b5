"""Camera intrinsics, root translation, ground plane, world frame (inference_backend.camera) and
root-trajectory helpers (inference_backend.trajectory)."""

from __future__ import annotations

import numpy as np
from synthetic_landmarks import HEIGHT, WIDTH, make_camera, observe, random_person

from inference_backend.camera import (
    GroundPlane,
    camera_to_world_points,
    estimate_focal,
    fit_ground_plane,
    intrinsics_from_fov,
    solve_root_translation,
    world_from_ground,
)
from inference_backend.trajectory import (
    TrajectoryConfig,
    bridge_gaps,
    fill_linear,
    ground_offset,
    keep_pelvis_on_view_ray,
    lift_along_view_rays,
    slide_offset,
)

FPS = 30.0


def _samples(obs):
    return [(obs.world_landmarks.astype(float), obs.image_landmarks[..., :2].astype(float),
             obs.image_landmarks[..., 2].astype(float))]


def test_focal_within_10_percent_when_the_subject_moves_in_depth() -> None:
    times = np.arange(120) / FPS
    rng = np.random.default_rng(0)
    for fov in (45.0, 75.0):                 # both away from the 60 deg prior
        cam = make_camera(fov_deg=fov)
        person = random_person(times, rng, (0.8, 0.0, 1.5), depth_speed=0.8)
        est = estimate_focal(_samples(observe(person, cam, rng)), WIDTH, HEIGHT)
        assert est.source == "estimated"
        rel = abs(est.focal / cam.K[0, 0] - 1.0)
        assert rel < 0.10, (fov, est.fov_x_deg, rel)


def test_focal_falls_back_to_the_prior_when_perspective_is_silent() -> None:
    # A flat (fronto-parallel) body far away: every focal explains it equally well.
    rng = np.random.default_rng(1)
    n = 40
    metric = np.zeros((n, 33, 3))
    metric[..., :2] = rng.uniform(-0.4, 0.4, (1, 33, 2))
    K_true = intrinsics_from_fov(WIDTH, HEIGHT, 40.0)
    T = np.array([0.2, 0.1, 30.0])
    pts = metric + T
    uv = pts[..., :2] / pts[..., 2:] * K_true[0, 0] + K_true[:2, 2]
    est = estimate_focal([(metric, uv, np.ones((n, 33)))], WIDTH, HEIGHT, prior_fov_deg=60.0)
    assert est.source == "prior" and est.fov_x_deg == 60.0


def test_root_translation_is_exact_without_noise() -> None:
    rng = np.random.default_rng(2)
    K = intrinsics_from_fov(WIDTH, HEIGHT, 60.0)
    metric = rng.normal(0, 0.3, (5, 33, 3))
    T_true = np.array([[0.5, -0.2, 4.0], [-1.0, 0.3, 6.0], [0, 0, 3], [2, 1, 9], [0, -1, 5]])
    pts = metric + T_true[:, None]
    uv = pts[..., :2] / pts[..., 2:] * K[0, 0] + K[:2, 2]
    T, rms = solve_root_translation(metric, uv, np.ones((5, 33)), K)
    assert np.abs(T - T_true).max() < 1e-6 and rms.max() < 1e-6
    # Too few weighted points -> NaN, never a made-up answer.
    w = np.zeros((5, 33))
    w[:, :2] = 1
    T_bad, _ = solve_root_translation(metric, uv, w, K)
    assert np.isnan(T_bad).all()


def _camera_points(cam, world_pts: np.ndarray) -> np.ndarray:
    return world_pts @ cam.R.T + cam.t


def test_ground_is_the_lowest_supported_level_of_two() -> None:
    rng = np.random.default_rng(3)
    cam = make_camera()
    floor = np.stack([rng.uniform(-2.5, 1.0, 300), np.zeros(300), rng.uniform(-1, 2, 300)], 1)
    box = np.stack([rng.uniform(0.5, 2.5, 250), np.full(250, 2.0), rng.uniform(-3, -1, 250)], 1)
    pts = np.concatenate([floor, box]) + rng.normal(0, 0.015, (550, 3))
    up_prior = cam.R @ np.array([0.05, 1.0, 0.03])           # a few degrees off
    plane = fit_ground_plane(_camera_points(cam, pts), up_prior / np.linalg.norm(up_prior))
    assert plane is not None and plane.source == "feet"
    true_n = cam.R @ np.array([0.0, 1.0, 0.0])
    angle = np.degrees(np.arccos(np.clip(plane.normal @ true_n, -1, 1)))
    assert angle < 1.0, angle
    assert abs(-plane.offset - cam.height) < 0.03, plane.offset    # camera height
    assert len(plane.levels) == 1 and abs(plane.levels[0] - 2.0) < 0.03, plane.levels


def test_ground_prior_fixes_the_direction_a_strip_of_points_cannot() -> None:
    rng = np.random.default_rng(4)
    cam = make_camera()
    # Feet along a straight line (one person walking): 10 cm wide strip.
    s = rng.uniform(-2, 2, 200)
    pts = np.stack([s, np.zeros(200), 0.5 * s + rng.normal(0, 0.05, 200)], 1)
    pts += rng.normal(0, 0.01, pts.shape)
    up = cam.R @ np.array([0.0, 1.0, 0.0])
    plane = fit_ground_plane(_camera_points(cam, pts), up)
    assert plane is not None
    assert np.degrees(np.arccos(min(1.0, plane.normal @ up))) < 1.5
    assert fit_ground_plane(np.zeros((5, 3)), up) is None       # too few points


def test_world_frame_axes_height_and_anchor() -> None:
    cam = make_camera()
    n = cam.R @ np.array([0.0, 1.0, 0.0])
    plane = GroundPlane(normal=n, offset=float(n @ cam.t), source="feet")
    anchor_world = np.array([0.7, 0.95, -1.0])
    world = world_from_ground(plane, _camera_points(cam, anchor_world[None])[0])
    R = world.R
    assert np.allclose(R.T @ R, np.eye(3), atol=1e-12) and np.isclose(np.linalg.det(R), 1.0)
    assert abs(world.camera_height - cam.height) < 1e-9
    back = camera_to_world_points(_camera_points(cam, anchor_world[None]), world)[0]
    assert np.allclose(back, [0.0, 0.95, 0.0], atol=1e-9)       # origin under the anchor
    # The camera centre is on the +Z side, at the camera height.
    centre = camera_to_world_points(np.zeros((1, 3)), world)[0]
    assert abs(centre[0]) < 1e-9 and centre[2] > 0 and abs(centre[1] - cam.height) < 1e-9


def test_bridge_gaps_interpolates_short_and_holds_long() -> None:
    times = np.arange(60) / FPS
    present = np.ones(60, bool)
    present[:3] = False                       # leading: held, invalid
    present[10:16] = False                    # 0.2 s: bridged
    present[30:50] = False                    # 0.67 s: held, invalid
    valid, a, b, alpha = bridge_gaps(present, times, max_gap_s=0.5)
    assert not valid[:3].any() and valid[10:16].all() and not valid[30:50].any()
    values = times[:, None] * 2.0
    filled = fill_linear(np.where(present[:, None], values, np.nan), a, b, alpha)
    assert np.all(np.isfinite(filled))
    assert np.allclose(filled[10:16], values[10:16])           # linear signal exact
    assert np.allclose(filled[30:40], values[29]) and np.allclose(filled[40:50], values[50])
    assert np.allclose(filled[:3], values[3])


def test_ground_offset_puts_contact_soles_on_the_floor() -> None:
    times = np.arange(90) / FPS
    joints = np.zeros((90, 24, 3))
    joints[:, [7, 8], 1] = 0.07 + 0.05          # ankles 5 cm too high (clearance 7 cm)
    joints[:, [10, 11], 1] = 0.043 + 0.05
    contacts = np.ones((90, 4), np.float32)
    off = ground_offset(joints, contacts, times)
    assert np.allclose(off, -0.05, atol=1e-6)
    # A platform 2 m up stays a platform.
    joints[..., 1] += 2.0
    assert np.allclose(ground_offset(joints, contacts, times), 0.0)


def test_slide_offset_cancels_short_term_sliding_and_is_bounded() -> None:
    times = np.arange(90) / FPS
    rng = np.random.default_rng(5)
    joints = np.zeros((90, 24, 3))
    wobble = rng.normal(0, 0.01, (90, 2))       # the planted foot jitters by 1 cm
    joints[:, [7, 10, 8, 11], 0] = wobble[:, :1]
    joints[:, [7, 10, 8, 11], 2] = wobble[:, 1:]
    contacts = np.ones((90, 4), np.float32)
    off = slide_offset(joints, contacts, times)
    corrected = wobble + off
    assert np.std(np.diff(corrected, axis=0)) < 0.3 * np.std(np.diff(wobble, axis=0))
    assert np.linalg.norm(off, axis=1).max() <= 0.08 + 1e-9
    assert np.allclose(slide_offset(joints, np.zeros((90, 4)), times), 0.0)


def test_torso_prior_fallback_plane() -> None:
    from inference_backend.camera import plane_from_torso_prior, torso_up_prior

    cam = make_camera()
    up_true = cam.R @ np.array([0.0, 1.0, 0.0])
    rng = np.random.default_rng(6)
    # Upright torsos leaning randomly by a few degrees around the true up direction.
    trunks = up_true + rng.normal(0, 0.05, (200, 3))
    up = torso_up_prior(trunks * rng.uniform(0.4, 0.6, (200, 1)))
    assert np.degrees(np.arccos(up @ up_true)) < 1.0
    pelvis_world = np.stack([rng.uniform(-1, 1, 50), np.full(50, 0.95), rng.uniform(-1, 1, 50)], 1)
    plane = plane_from_torso_prior(up, _camera_points(cam, pelvis_world), pelvis_height=0.95)
    assert plane.source == "torso_prior"
    assert abs(-plane.offset - cam.height) < 0.05, plane.offset


def _dipping_soles(times: np.ndarray, depth: float) -> np.ndarray:
    """World joints (F, 24, 3): the four contact channels at their flat-foot heights, sinking
    ``depth`` m under the ground between 1.4 s and 2.6 s (a deep squat fitted too far away)."""
    from inference_backend.contacts import CHANNEL_CLEARANCE_M

    joints = np.zeros((len(times), 24, 3))
    x = np.clip((times - 1.4) / 1.2, 0.0, 1.0)
    for c, j in enumerate((7, 10, 8, 11)):
        joints[:, j, 1] = CHANNEL_CLEARANCE_M[c] - depth * np.sin(np.pi * x) ** 2
    return joints


def test_ground_offset_lifts_sunken_feet_only_where_they_sink() -> None:
    # Regression (synthetic benchmark, squat): contacts were found only at the bottom of the
    # dip, the offset was interpolated across the contact-free second around it (the body rose
    # from ~0.7 s before the squat), and soles more than 0.25 m under the ground stayed there.
    times = np.arange(int(4 * FPS)) / FPS
    for depth in (0.15, 0.3, 0.45):
        joints = _dipping_soles(times, depth)
        contacts = np.zeros((len(times), 4), np.float32)
        contacts[(times < 1.0) | (times > 3.0)] = 1.0
        contacts[(times > 1.9) & (times < 2.1)] = 1.0          # the bottom of the dip
        off = ground_offset(joints, contacts, times)
        soles = joints[:, [7, 10, 8, 11], 1] - np.array([0.07, 0.043, 0.07, 0.043])
        tol = TrajectoryConfig().ground_sink_tolerance_m
        assert (soles + off[:, None]).min() >= -tol - 1e-9, depth
        # No lift where the feet are on the ground, 0.3 s or more away from the dip.
        far = (times < 1.1) | (times > 2.9)
        assert np.abs(off[far]).max() < 0.005, (depth, np.abs(off[far]).max())
        # Within the dip the lift follows the sinking (the smoothing rounds it by < 3 cm).
        dip = (times > 1.5) & (times < 2.5)
        lowest = soles[dip].min(1)
        assert np.all(off[dip] <= np.maximum(-lowest, 0.0) + 0.03), depth


def test_lift_along_view_rays_keeps_the_anchor_where_the_camera_sees_it() -> None:
    rng = np.random.default_rng(7)
    n = 50
    joints = rng.normal(0.0, 0.3, (n, 24, 3)) + np.array([0.5, 0.8, 5.0])
    joints[:, [7, 10, 8, 11], 1] = 0.05 + rng.normal(0, 0.01, (n, 4))
    centre = np.array([0.0, 1.6, 0.0])
    lift = np.linspace(-0.1, 0.3, n)
    move = lift_along_view_rays(joints, lift, centre)
    assert np.allclose(move[:, 1], lift)                          # the lift is exact
    cfg = TrajectoryConfig()
    big = np.abs(lift) >= cfg.ray_full_m
    small = np.abs(lift) <= cfg.ray_from_m
    assert big.sum() > 20 and small.sum() > 5
    feet = joints[:, [7, 10, 8, 11]].mean(1)
    before = (feet - centre) / np.linalg.norm(feet - centre, axis=1, keepdims=True)
    after = feet + move - centre
    after /= np.linalg.norm(after, axis=1, keepdims=True)
    assert np.linalg.norm(np.cross(before, after), axis=1)[big].max() < 1e-9   # same direction
    assert np.all(np.sign(move[big, 2]) == -np.sign(lift[big]))   # lifting = coming closer
    assert np.allclose(move[small][:, [0, 2]], 0.0)               # noise-sized lifts: straight up
    # A camera at the feet's height cannot lift along its rays: straight up instead.
    flat = lift_along_view_rays(joints, lift, np.array([0.0, 0.05, 0.0]))
    assert np.allclose(flat[:, 1], lift)
    horiz = np.linalg.norm(flat[:, [0, 2]], axis=1)
    bound = TrajectoryConfig().ray_max_fraction * np.linalg.norm(feet[:, [0, 2]], axis=1)
    assert np.all(horiz <= bound + 1e-9)


def test_keep_pelvis_on_view_ray_bends_the_legs_and_pins_the_feet() -> None:
    from inference_backend.kinematics import forward_kinematics, geodesic_deg, rodrigues
    from inference_backend.smpl_constants import SMPL_TEMPLATE_REST_JOINTS as rest

    rng = np.random.default_rng(8)
    n = 6
    aa = rng.normal(0.0, 0.15, (n, 24, 3))
    aa[:, 1:3, 0] -= 0.9                                          # hips flexed,
    aa[:, 4:6, 0] += 1.0                                          # knees bent: a squat
    local = rodrigues(aa)
    seen = np.array([0.3, 0.6, 4.0]) + rng.normal(0, 0.05, (n, 3))
    centre = np.array([0.0, 1.6, 0.0])
    lifted = seen.copy()
    lifted[:, 1] += np.array([0.0, 0.02, 0.07, 0.12, 0.15, 0.2])  # ground-correction lifts
    pos0, glob0 = forward_kinematics(rest, local, lifted)
    new_local, new_t = keep_pelvis_on_view_ray(rest, local, seen, lifted, centre)
    pos1, glob1 = forward_kinematics(rest, new_local, new_t)
    # The ankles and the feet's orientation stay where the ground correction put them.
    assert np.abs(pos1[:, [7, 8]] - pos0[:, [7, 8]]).max() < 1e-9
    assert geodesic_deg(glob1[:, [7, 8]], glob0[:, [7, 8]]).max() < 1e-6
    # Only the legs change; the upper body moves rigidly with the pelvis.
    upper = [0, 3, 6, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]
    assert np.allclose(new_local[:, upper], local[:, upper])
    # Small lifts are left alone (pose and all); large ones put the pelvis back on its ray.
    assert np.allclose(new_t[:2], lifted[:2]) and np.allclose(new_local[:2], local[:2])
    ray = rest[0] + seen[4:] - centre
    ray /= np.linalg.norm(ray, axis=1, keepdims=True)
    off = pos1[4:, 0] - centre
    perp = off - np.sum(off * ray, 1, keepdims=True) * ray
    assert np.linalg.norm(perp, axis=1).max() < 1e-9
    assert np.all(pos1[3:, 0, 1] < pos0[3:, 0, 1])                # the pelvis came down


def _path(xz: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(xz, axis=0), axis=1).sum())


def test_plant_offset_pins_planted_feet_and_removes_root_drift() -> None:
    """Standing in place, the fit's whole body wanders 5 cm a frame (monocular depth jitter):
    with the planted feet pinned the pelvis path shrinks to the skeleton's own motion."""
    from inference_backend.trajectory import TrajectoryConfig, plant_offset

    exact = TrajectoryConfig(plant_smooth_s=0.0)      # the pinning itself, unsmoothed
    times = np.arange(120) / FPS
    rng = np.random.default_rng(6)
    joints = np.zeros((120, 24, 3))
    joints[:, [7, 10], 0], joints[:, [8, 11], 0] = 0.1, -0.1       # feet apart
    joints[:, 0, 1] = 0.9
    wander = np.cumsum(rng.normal(0, 0.02, (120, 2)), axis=0)      # the whole body moves
    joints[..., 0] += wander[:, None, 0]
    joints[..., 2] += wander[:, None, 1]
    contacts = np.ones((120, 4), np.float32)
    off = plant_offset(joints, contacts, times, exact)
    pelvis = joints[:, 0, [0, 2]] + off
    feet = joints[:, [7, 10, 8, 11]][..., [0, 2]] + off[:, None]
    assert _path(joints[:, 0, [0, 2]]) > 2.0
    assert _path(pelvis) < 0.01
    assert np.ptp(feet, axis=0).max() < 1e-9                       # feet exactly pinned
    assert np.allclose(plant_offset(joints, np.zeros((120, 4)), times, exact), 0.0)


def test_plant_offset_keeps_a_walk_where_the_camera_saw_it() -> None:
    """A real walk: planted feet stop sliding, the walked distance stays within 2 %."""
    from synthetic_landmarks import walking_person

    from inference_backend.trajectory import TrajectoryConfig, plant_offset

    times = np.arange(int(5 * FPS)) / FPS
    rng = np.random.default_rng(7)
    walk = walking_person(times, rng, start=(0.0, 0.0), heading_deg=30)
    noisy = walk.joints + rng.normal(0, 0.03, (len(times), 1, 3))  # body-wide jitter
    contacts = walk.contacts.astype(np.float32)
    off = plant_offset(noisy, contacts, times, TrajectoryConfig(plant_smooth_s=0.0))
    fixed = noisy[:, 0, [0, 2]] + off
    truth = walk.joints[:, 0, [0, 2]]
    moved = np.linalg.norm(fixed[-1] - fixed[0])
    assert abs(moved / np.linalg.norm(truth[-1] - truth[0]) - 1.0) < 0.02
    err_raw = np.linalg.norm(noisy[:, 0, [0, 2]] - truth, axis=1).mean()
    assert np.linalg.norm(fixed - truth, axis=1).mean() < 0.75 * err_raw
    assert _path(fixed) < 1.3 * _path(truth) < _path(noisy[:, 0, [0, 2]])
