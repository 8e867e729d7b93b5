"""Kinematic SMPL fit (inference_backend.fitting) on synthetic landmarks with known truth."""

from __future__ import annotations

import time
import tracemalloc
from dataclasses import replace

import numpy as np
import pytest
from synthetic_landmarks import (
    bone_lengths,
    make_camera,
    observe,
    procrustes_aligned_error,
    random_person,
)

from inference_backend.camera import solve_root_translation
from inference_backend.fitting import (
    FitConfig,
    build_rest_joints,
    estimate_bone_lengths,
    fit_skeleton,
    globals_to_locals,
    initial_global_rotations,
    minimal_rotation,
    refine,
    segment_rotation,
)
from inference_backend.kinematics import forward_kinematics, geodesic_deg, rodrigues
from inference_backend.landmark_map import LANDMARK_TO_SMPL, smpl_targets
from inference_backend.smpl_constants import SMPL_JOINT_NAMES, SMPL_TEMPLATE_REST_JOINTS

FPS = 30.0
#: Joints whose twist the landmarks determine -> (mean, 90th percentile) geodesic error limits
#: in degrees at 15 mm (3D, per axis) and 2 px noise, per frame (no temporal smoothing yet).
#: Measured (seeds 7/8/9, means): pelvis 6-7, hips 7-8, knees 4-5, ankles 6-7, head 11-15,
#: shoulders 10-11, elbows 7-9, wrists 7-10.
ROTATION_LIMITS_DEG: dict[str, tuple[float, float]] = {
    "pelvis": (8, 12), "left_hip": (10, 15), "right_hip": (10, 15),
    "left_knee": (6, 9), "right_knee": (6, 9), "left_ankle": (9, 13),
    "right_ankle": (9, 13), "head": (16, 24), "left_shoulder": (13, 21),
    "right_shoulder": (13, 21), "left_elbow": (11, 19), "right_elbow": (11, 19),
    "left_wrist": (12, 17), "right_wrist": (12, 17),
}
LIMB_BONES = {"left_knee": 4, "right_knee": 5, "left_ankle": 7, "right_ankle": 8,
              "left_elbow": 18, "right_elbow": 19, "left_wrist": 20, "right_wrist": 21,
              "left_hip": 1, "right_hip": 2}


def _fit(person, cam, rng, noise3d: float, noise2d: float):
    obs = observe(person, cam, rng, noise3d=noise3d, noise2d=noise2d)
    met = obs.world_landmarks.astype(float)
    img = obs.image_landmarks[..., :2].astype(float)
    vis = obs.image_landmarks[..., 2].astype(float)
    t3, c3 = smpl_targets(met, vis)
    t2, c2 = smpl_targets(img, vis)
    root0, _ = solve_root_translation(t3, t2, c2, cam.K)
    start = time.perf_counter()
    fit = fit_skeleton(met, t3, c3, t2, c2, root0, cam.K, np.ones(len(met), bool),
                       aux=(met, img, vis))
    ms_per_frame = 1000 * (time.perf_counter() - start) / len(met)
    return fit, t3, ms_per_frame


def _gt_in_camera(person, cam):
    local = person.local.copy()
    local[:, 0] = cam.R @ person.local[:, 0]
    joints = person.joints @ cam.R.T + cam.t
    return local, joints


@pytest.fixture(scope="module")
def noisy_fit():
    times = np.arange(120) / FPS
    rng = np.random.default_rng(7)
    person = random_person(times, rng, (0.4, 0.0, 0.5))
    cam = make_camera()
    fit, t3, ms = _fit(person, cam, rng, noise3d=0.015, noise2d=2.0)
    return person, cam, fit, t3, ms


def test_bone_lengths_within_a_few_mm(noisy_fit) -> None:
    person, _, fit, _, _ = noisy_fit
    truth = bone_lengths(person.rest)
    err_mm = {name: 1000 * (fit.lengths[j] - truth[j]) for name, j in LIMB_BONES.items()}
    assert max(abs(e) for e in err_mm.values()) < 5.0, err_mm
    # The rest pose stays an SMPL T-pose: template bone directions.
    tmpl = np.asarray(SMPL_TEMPLATE_REST_JOINTS, float)
    for j in (4, 7, 18, 20):
        d_fit = fit.rest_joints[j] - fit.rest_joints[j - 3 if j in (4, 7) else j - 2]
        d_tmp = tmpl[j] - tmpl[j - 3 if j in (4, 7) else j - 2]
        assert np.allclose(d_fit / np.linalg.norm(d_fit), d_tmp / np.linalg.norm(d_tmp),
                           atol=1e-9)


def test_joint_rotations_recovered_where_twist_is_determined(noisy_fit) -> None:
    person, cam, fit, _, _ = noisy_fit
    gt_local, _ = _gt_in_camera(person, cam)
    err = geodesic_deg(fit.local_rots, gt_local)                  # (F, 24) degrees
    report = {}
    for name, (mean_lim, p90_lim) in ROTATION_LIMITS_DEG.items():
        j = SMPL_JOINT_NAMES.index(name)
        mean, p90 = float(err[:, j].mean()), float(np.percentile(err[:, j], 90))
        report[name] = (round(mean, 1), round(p90, 1))
        assert mean < mean_lim and p90 < p90_lim, (name, mean, p90, report)


def test_fit_beats_the_noisy_landmarks_and_places_the_root(noisy_fit) -> None:
    person, cam, fit, t3, ms = noisy_fit
    _, gt_joints = _gt_in_camera(person, cam)
    pa_fit = procrustes_aligned_error(fit.joints_cam, gt_joints).mean()
    # The landmark targets themselves (with the spine / collar interpolations).
    pa_targets = procrustes_aligned_error(t3, gt_joints).mean()
    assert pa_fit < 0.75 * pa_targets, (pa_fit, pa_targets)
    assert pa_fit < 0.018, pa_fit
    root_err = np.linalg.norm(fit.root_cam - gt_joints[:, 0], axis=1)
    assert np.median(root_err) < 0.05, np.median(root_err)
    # FK of the returned skeleton reproduces joints_cam.
    pos, _ = forward_kinematics(fit.rest_joints, fit.local_rots)
    assert np.allclose(pos - pos[:, :1] + fit.root_cam[:, None], fit.joints_cam, atol=1e-9)
    assert ms < 200.0, ms          # generous: the real target is a few ms (see the report)


def test_noise_free_fit_is_nearly_exact() -> None:
    times = np.arange(40) / FPS
    rng = np.random.default_rng(11)
    person = random_person(times, rng, (-0.5, 0.0, 0.0))
    cam = make_camera()
    fit, _, _ = _fit(person, cam, rng, noise3d=0.0, noise2d=0.0)
    gt_local, gt_joints = _gt_in_camera(person, cam)
    # Segment (global) orientations: what the landmarks determine directly. The limits are
    # not 0 because the synthetic subject's face / hand / foot landmark offsets differ from
    # the solver's by up to 5 mm and its spine bends between hips and shoulders invisibly.
    _, glob_fit = forward_kinematics(fit.rest_joints, fit.local_rots)
    _, glob_gt = forward_kinematics(person.rest, gt_local)
    err = geodesic_deg(glob_fit, glob_gt)
    limits = {"head": 4, "left_shoulder": 4, "right_shoulder": 4, "left_ankle": 4,
              "right_ankle": 4, "left_hip": 6, "right_hip": 6, "left_knee": 6,
              "right_knee": 6, "pelvis": 6, "left_elbow": 10, "right_elbow": 10}
    for name, lim in limits.items():
        j = SMPL_JOINT_NAMES.index(name)
        assert err[:, j].mean() < lim, (name, err[:, j].mean())
    assert np.abs(fit.lengths[[4, 7, 18, 20]] - bone_lengths(person.rest)[[4, 7, 18, 20]]
                  ).max() < 1e-3
    # About 1.4 cm: the interpolated pelvis / spine / collar targets do not sit on the true
    # (bent) spine of the synthetic subject, and they pull the whole body a little.
    assert np.median(np.linalg.norm(fit.joints_cam - gt_joints, axis=2)) < 0.02


def test_segment_frames_and_minimal_rotation() -> None:
    rng = np.random.default_rng(3)
    R = rodrigues(rng.normal(0, 1, (50, 3)))
    a, b = rng.normal(size=3), rng.normal(size=3)
    got = segment_rotation(R @ a, R @ b, a, b)
    assert np.allclose(got, R, atol=1e-9)
    u, v = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    M = minimal_rotation(u, v)
    mapped = np.einsum("fab,fb->fa", M, u / np.linalg.norm(u, axis=1, keepdims=True))
    assert np.allclose(mapped, v / np.linalg.norm(v, axis=1, keepdims=True), atol=1e-9)
    # Minimal: no rotation about the source direction beyond what is needed.
    assert np.allclose(np.einsum("fa,fab,fb->f", np.cross(u, v), M, np.cross(u, v)),
                       np.sum(np.cross(u, v) ** 2, 1), atol=1e-9)


def test_bone_length_estimate_is_robust_and_symmetric() -> None:
    rng = np.random.default_rng(4)
    tmpl = np.asarray(SMPL_TEMPLATE_REST_JOINTS, float)
    targets = np.repeat(tmpl[None], 50, 0) + rng.normal(0, 0.002, (50, 24, 3))
    targets[:5, 20] += 0.5                           # 10% wild outliers on the left wrist
    conf = np.ones((50, 24))
    conf[5:8] = 0.1                                  # low-confidence frames ignored
    lengths = estimate_bone_lengths(targets, conf)
    assert lengths[18] == lengths[19] and lengths[20] == lengths[21]
    truth = 0.5 * (np.linalg.norm(tmpl[20] - tmpl[18]) + np.linalg.norm(tmpl[21] - tmpl[19]))
    assert abs(lengths[20] - truth) < 0.01
    rest = build_rest_joints(lengths)
    assert rest.shape == (24, 3) and np.all(np.isfinite(rest))
    assert np.allclose(LANDMARK_TO_SMPL.sum(1), 1.0)


def test_left_right_swaps_are_found_and_undone() -> None:
    from synthetic_landmarks import walking_person

    from inference_backend.landmark_map import (
        SWAP_GROUPS,
        apply_left_right_swaps,
        detect_left_right_swaps,
    )

    times = np.arange(90) / FPS
    rng = np.random.default_rng(12)
    walk = walking_person(times, rng, start=(0.0, 0.0), heading_deg=90)   # side view
    obs = observe(walk, make_camera(), rng)
    img = obs.image_landmarks.astype(float)
    scale = np.hypot(obs.boxes[:, 2] - obs.boxes[:, 0], obs.boxes[:, 3] - obs.boxes[:, 1])
    clean = detect_left_right_swaps(img[..., :2], scale)
    assert not clean["legs"].any() and not clean["arms"].any()
    truth = np.zeros(90, bool)
    for start in (10, 33, 60):                       # detector flickers of 2-4 frames
        truth[start:start + rng.integers(2, 5)] = True
    flipped = apply_left_right_swaps(img, {"legs": truth})
    found = detect_left_right_swaps(flipped[..., :2], scale)
    assert np.array_equal(found["legs"], truth), (np.where(found["legs"])[0], np.where(truth)[0])
    assert not found["arms"].any()
    restored = apply_left_right_swaps(flipped, found)
    assert np.array_equal(restored, img)
    assert set(SWAP_GROUPS) == {"legs", "arms"}


def _fit_inputs(n_frames: int, seed: int):
    """Targets and initial values of ``fit_skeleton`` for a noisy synthetic subject."""
    times = np.arange(n_frames) / FPS
    rng = np.random.default_rng(seed)
    person = random_person(times, rng, (0.3, 0.0, 0.6), depth_speed=0.1)
    cam = make_camera()
    obs = observe(person, cam, rng, noise3d=0.015, noise2d=2.0)
    met = obs.world_landmarks.astype(float)
    img = obs.image_landmarks[..., :2].astype(float)
    vis = obs.image_landmarks[..., 2].astype(float)
    t3, c3 = smpl_targets(met, vis)
    t2, c2 = smpl_targets(img, vis)
    root0, _ = solve_root_translation(t3, t2, c2, cam.K)
    return met, img, vis, t3, c3, t2, c2, root0, cam


def test_chunked_refinement_matches_all_at_once() -> None:
    """400 frames refined in windows of 128 frames (three seams) with the default halo (32
    context frames each side) vs all frames in one system: within 0.05 deg per joint rotation
    and 0.5 mm per joint anywhere, seams included (measured: < 1e-6 deg, < 1e-7 m). With the
    exact halo (``chunk_halo=None``: every frame a window's kept part depends on) the result
    is the same up to rounding."""
    met, img, vis, t3, c3, t2, c2, root0, cam = _fit_inputs(400, seed=21)
    mask = np.ones(len(met), bool)

    def fit(config: FitConfig):
        return fit_skeleton(met, t3, c3, t2, c2, root0, cam.K, mask, config, aux=(met, img, vis))

    whole = fit(FitConfig(chunk_frames=0))
    chunked = fit(FitConfig(chunk_frames=128))
    exact = fit(FitConfig(chunk_frames=128, chunk_halo=None))
    rot = geodesic_deg(chunked.local_rots, whole.local_rots)
    assert rot.max() < 0.05, rot.max()
    assert np.abs(chunked.joints_cam - whole.joints_cam).max() < 5e-4
    assert geodesic_deg(exact.local_rots, whole.local_rots).max() < 1e-6
    assert np.abs(exact.root_cam - whole.root_cam).max() < 1e-9
    # Sanity: the windows did not skip or shift frames (frame-wise fits differ by frame).
    assert geodesic_deg(chunked.local_rots[1:], whole.local_rots[:-1]).max() > 1.0


def test_windows_refined_side_by_side_give_the_same_fit() -> None:
    """``refine``'s windows on threads (``FitConfig.workers``) read only the inputs and write
    only their own frames: the fit is bit-identical to one window after the other."""
    met, img, vis, t3, c3, t2, c2, root0, cam = _fit_inputs(300, seed=5)
    rest = build_rest_joints(estimate_bone_lengths(t3, c3))
    local = globals_to_locals(initial_global_rotations(t3, met, rest))
    args = [np.concatenate([x, x[::-1], x[:100]]) for x in (local, root0, t3, c3, t2, c2)]
    aux = tuple(np.concatenate([x, x[::-1], x[:100]]) for x in (met, img, vis))
    fits = [refine(args[0], args[1], rest, *args[2:], cam.K,
                   FitConfig(iterations=2, chunk_frames=128, workers=w), aux=aux)
            for w in (1, 3)]
    assert len(args[0]) == 700     # six windows, three at a time
    for one, side_by_side in zip(*fits, strict=True):
        assert np.array_equal(one, side_by_side)


def test_refinement_memory_is_bounded() -> None:
    """Peak memory of ``refine`` (tracemalloc) over 3000 vs 300 frames (the same per-frame
    data tiled). Its working memory (peak minus the returned arrays, 1.75 kB per frame) must
    stay within 1.3x + 1 MB, and the whole peak grow by at most 4 kB per frame (all frames
    in one system needed ~580 kB per frame). One iteration: the windows' working set does not
    depend on the iteration count. Windows refined side by side (``FitConfig.workers``) hold
    one working set each: two of them at most twice one's, whatever the length."""
    met, img, vis, t3, c3, t2, c2, root0, cam = _fit_inputs(300, seed=22)
    lengths = estimate_bone_lengths(t3, c3)
    rest = build_rest_joints(lengths)
    local = globals_to_locals(initial_global_rotations(t3, met, rest))
    config = FitConfig(iterations=1, workers=1)

    def peak_and_output_bytes(reps: int, config: FitConfig = config) -> tuple[int, int]:
        args = [np.concatenate([x] * reps) for x in (local, root0, t3, c3, t2, c2)]
        aux = tuple(np.concatenate([x] * reps) for x in (met, img, vis))
        tracemalloc.start()
        try:
            base, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            out = refine(args[0], args[1], rest, *args[2:], cam.K, config, aux=aux)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert out[0].shape == (300 * reps, 24, 3, 3)
        return peak - base, sum(x.nbytes for x in out)

    (short, short_out), (long, long_out) = peak_and_output_bytes(1), peak_and_output_bytes(10)
    report = {"short_mb": short / 1e6, "long_mb": long / 1e6, "outputs_mb": long_out / 1e6}
    assert long - long_out <= 1.3 * (short - short_out) + 1e6, report
    assert (long - short) / 2700 < 4096, report
    pair, pair_out = peak_and_output_bytes(10, replace(config, workers=2))
    report["two_windows_at_once_mb"] = pair / 1e6
    assert pair - pair_out <= 2.3 * (long - long_out) + 1e6, report
