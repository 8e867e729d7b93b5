"""Mirror test-time augmentation maths (inference_backend.pose_tta), on exact inputs and on the
real bundled landmark model with a real decoded frame of the bundled clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from inference_backend.pose_tta import (
    MIRROR_INDEX,
    fuse_passes,
    mirror_image_landmarks,
    mirror_roi,
    mirror_world_landmarks,
)
from inference_backend.smpl_constants import MEDIAPIPE_LANDMARK_NAMES as NAMES


def test_mirror_index_swaps_left_and_right_only() -> None:
    assert sorted(MIRROR_INDEX.tolist()) == list(range(33))
    assert np.array_equal(MIRROR_INDEX[MIRROR_INDEX], np.arange(33))  # an involution
    assert MIRROR_INDEX[NAMES.index("nose")] == NAMES.index("nose")
    for i, name in enumerate(NAMES):
        partner = NAMES[MIRROR_INDEX[i]]
        if "left" in name:
            assert partner == name.replace("left", "right")
        elif "right" in name:
            assert partner == name.replace("right", "left")
        else:
            assert partner == name


def test_mirroring_twice_is_identity_and_changes_an_asymmetric_pose() -> None:
    rng = np.random.default_rng(0)
    image = np.concatenate([rng.random((4, 33, 2)), rng.random((4, 33, 1))], -1).astype(np.float32)
    world = rng.normal(0, 0.3, (4, 33, 3)).astype(np.float32)
    assert np.allclose(mirror_image_landmarks(mirror_image_landmarks(image)), image, atol=1e-6)
    assert np.allclose(mirror_world_landmarks(mirror_world_landmarks(world)), world, atol=1e-7)
    assert np.abs(mirror_world_landmarks(world) - world).max() > 0.1
    assert np.abs(mirror_image_landmarks(image)[..., :2] - image[..., :2]).max() > 0.1


def test_a_left_right_symmetric_pose_maps_to_itself() -> None:
    rng = np.random.default_rng(1)
    world = np.zeros((33, 3), np.float32)
    image = np.zeros((33, 3), np.float32)
    for i in range(33):
        j = int(MIRROR_INDEX[i])
        if j < i:
            continue
        p = rng.normal(0, 0.3, 3)
        q = rng.random(3)
        if j == i:  # on the mirror plane
            p[0], q[0] = 0.0, 0.5
        world[i], world[j] = p, p * (-1, 1, 1)
        image[i], image[j] = q, (1 - q[0], q[1], q[2])
    assert np.allclose(mirror_world_landmarks(world), world, atol=1e-7)
    assert np.allclose(mirror_image_landmarks(image), image, atol=1e-6)


def test_mirror_roi_is_an_involution_that_flips_x_and_rotation() -> None:
    roi = (0.3, 0.6, 0.2, 0.5, 0.4)
    assert mirror_roi(*roi) == pytest.approx((0.7, 0.6, 0.2, 0.5, -0.4))
    assert mirror_roi(*mirror_roi(*roi)) == pytest.approx(roi)


def test_fusion_of_equal_passes_is_identity_and_otherwise_the_mean() -> None:
    rng = np.random.default_rng(2)
    a = (rng.random((33, 3)).astype(np.float32), rng.normal(size=(33, 3)).astype(np.float32))
    b = (rng.random((33, 3)).astype(np.float32), rng.normal(size=(33, 3)).astype(np.float32))
    img, wld = fuse_passes([a, a])
    assert np.allclose(img, a[0]) and np.allclose(wld, a[1])
    img, wld = fuse_passes([a, b])
    assert np.allclose(wld, (a[1] + b[1]) / 2, atol=1e-6)
    with pytest.raises(ValueError):
        fuse_passes([])


def test_real_model_on_a_mirrored_frame_agrees_after_mirroring_back(
    model_cache: Path, make_sample_frames
) -> None:
    """The bundled landmark model run on a decoded frame and on its mirror image: mirrored back,
    each person's landmarks lie where the plain pass put them (image within a few pixels, world
    within about a decimetre), and much closer than without the left/right swap (so the swap is right)."""
    for frame in make_sample_frames(8, step=10)[3::2]:  # frames 30, 50, 70: one person found
        _check_mirrored_pass(frame)


def _check_mirrored_pass(frame: np.ndarray) -> None:
    from inference_backend.config import DetectionConfig
    from inference_backend.detection import PoseDetector

    h, w = frame.shape[:2]
    with PoseDetector(DetectionConfig(max_people=2)) as det:
        plain = det.detect(frame, 0.0, w, h)
    with PoseDetector(DetectionConfig(max_people=2)) as det:
        mirrored = det.detect(np.ascontiguousarray(frame[:, ::-1]), 0.0, w, h)
    assert plain and len(mirrored) == len(plain)
    norm = np.array([w, h, 1.0], np.float32)
    for person in plain:
        candidates = []
        for m in mirrored:
            back = mirror_image_landmarks(m.image_landmarks / norm) * norm
            offset = np.linalg.norm(back[:, :2] - person.image_landmarks[:, :2], axis=1)
            candidates.append((float(np.median(offset)), m))
        dist_px, m = min(candidates, key=lambda c: c[0])
        box_h = float(person.box[3] - person.box[1])
        assert dist_px < 0.06 * box_h  # measured 1-8 px on ~205 px tall people
        err = np.linalg.norm(mirror_world_landmarks(m.world_landmarks) - person.world_landmarks,
                             axis=1)
        unswapped = m.world_landmarks * np.array([-1, 1, 1], np.float32)
        err_unswapped = np.linalg.norm(unswapped - person.world_landmarks, axis=1)
        # measured: 4-13 cm (the passes differ on this real backlit clip), 22-42 cm unswapped
        assert np.median(err) < 0.2
        assert np.median(err) < 0.6 * np.median(err_unswapped)


def test_tta_is_checked_when_the_detector_is_made(model_cache: Path) -> None:
    from inference_backend.config import DetectionConfig
    from inference_backend.detection import PoseDetector

    with pytest.raises(ValueError, match="unknown test-time augmentation"):
        PoseDetector(DetectionConfig(tta="flip"))
    with pytest.raises(ValueError, match="needs the 'roi' detection graph"):
        PoseDetector(DetectionConfig(tta="mirror", graph="tasks"))


def test_mirror_tta_reaches_the_detector_on_a_real_clip(model_cache: Path, sample_clip: Path
                                                        ) -> None:
    """Decoded frames of the bundled clip through the real detector with and without
    ``tta="mirror"``: twice the landmark passes, the same people followed (the plain pass's
    region is followed), landmarks moved a little toward the mirrored pass (not identical,
    within a tenth of the person's height)."""
    from inference_backend.config import DecodeConfig, DetectionConfig
    from inference_backend.detection import PoseDetector
    from inference_backend.video_io import iter_frames, probe_video

    probe = probe_video(sample_clip)
    frames = [f for _, f in zip(range(50), iter_frames(probe, DecodeConfig(), None),
                                strict=False)][30:50]
    w, h = probe.info.width, probe.info.height
    found = {}
    runs = {}
    for mode in ("none", "mirror"):
        with PoseDetector(DetectionConfig(max_people=2, tta=mode)) as det:
            found[mode] = [det.detect(f.rgb, f.time, w, h) for f in frames]
            runs[mode] = (det.stats.landmark_runs, det.stats.frames)
    people = sum(len(d) for d in found["none"])
    assert people >= len(frames)                                # someone in every frame
    assert [len(d) for d in found["mirror"]] == [len(d) for d in found["none"]]
    assert runs["mirror"][0] == runs["none"][0] + people        # one mirrored pass per person
    moved = []
    for plain, fused in zip(found["none"], found["mirror"], strict=True):
        for a, b in zip(plain, fused, strict=True):
            box_h = float(a.box[3] - a.box[1])
            shift = np.linalg.norm(b.image_landmarks[:, :2] - a.image_landmarks[:, :2], axis=1)
            assert np.median(shift) < 0.1 * box_h
            moved.append(float(np.abs(b.world_landmarks - a.world_landmarks).max()))
    assert max(moved) > 0.005                                   # the mirrored pass counted
