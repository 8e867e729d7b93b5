"""Offline pose detection: the Tasks bundle built from the wheel finds both people in the clip."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import mediapipe
import numpy as np
import pytest

from inference_backend.config import DecodeConfig, DetectionConfig, TrackingConfig
from inference_backend.detection import (
    PoseDetector,
    Roi,
    detector_period,
    distinct_people,
    is_healthy,
    merge_rois,
    needs_detection,
    pose_landmarker_bundle,
    user_cache_dir,
)
from inference_backend.video_io import iter_frames, probe_video


@pytest.fixture(scope="module")
def bundle(model_cache: Path) -> Path:
    return pose_landmarker_bundle()


def _no_network(*args, **kwargs):
    raise OSError("network disabled in this test")


def test_bundle_builds_offline_from_the_wheel(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    monkeypatch.setattr(socket, "create_connection", _no_network)
    path = pose_landmarker_bundle(tmp_path)
    assert path.parent == tmp_path and path.suffix == ".task"
    assert mediapipe.__version__ in path.name
    assert 8_000_000 < path.stat().st_size < 12_000_000
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind
    mtime = path.stat().st_mtime_ns
    assert pose_landmarker_bundle(tmp_path) == path and path.stat().st_mtime_ns == mtime


def test_cache_dir_env_override(monkeypatch, tmp_path: Path) -> None:
    """$STR_MOCAP_CACHE is read by the command line and reaches the detector as configuration;
    the detect stage itself only knows the platform's default folder."""
    from inference_backend.cli import build_parser, capture_config

    monkeypatch.setenv("STR_MOCAP_CACHE", str(tmp_path / "c"))
    config = capture_config(build_parser().parse_args(["capture", "v.mp4", "-o", "o.npz"]))
    assert config.cache_dir == (tmp_path / "c").absolute()
    assert config.detection_config().cache_dir == config.cache_dir
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    import sys

    if sys.platform.startswith("linux"):
        assert user_cache_dir() == tmp_path / "xdg" / "str-mocap"


def _frames(sample_clip: Path, start: float, end: float, max_side: int = 1920):
    probe = probe_video(sample_clip)
    return probe, list(iter_frames(probe, DecodeConfig(start=start, end=end, detect_max_side=max_side)))


def test_two_people_found_with_pixel_and_metric_landmarks(sample_clip: Path, bundle: Path) -> None:
    probe, frames = _frames(sample_clip, 0.0, 1.0)
    w, h = probe.info.width, probe.info.height
    with PoseDetector(DetectionConfig(max_people=2)) as detector:
        results = [detector.detect(f.rgb, f.time, w, h) for f in frames]
    people = results[-1]
    assert len(people) >= 2
    for det in people:
        assert det.image_landmarks.shape == (33, 3) and det.world_landmarks.shape == (33, 3)
        assert det.image_landmarks.dtype == np.float32
        u, v, vis = det.image_landmarks.T
        assert np.all((vis >= 0) & (vis <= 1)) and det.score > 0.5
        assert -50 < u.min() and u.max() < w + 50 and -50 < v.min() and v.max() < h + 50
        x0, y0, x1, y1 = det.box
        assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h and (y1 - y0) > 100  # a whole person
        world = det.world_landmarks
        hip_mid = world[[23, 24]].mean(axis=0)
        assert np.linalg.norm(hip_mid) < 0.05  # metres, origin between the hips
        shoulders = np.linalg.norm(world[11] - world[12])
        assert 0.2 < shoulders < 0.5
        assert world[0, 1] < world[27, 1] - 1.0  # y down: nose ~1.5 m above the ankle
    centres = sorted(float(d.box[[0, 2]].mean()) for d in people[:2])
    assert centres[1] - centres[0] > 100  # two different people, not a duplicate


def test_downscaled_frames_give_displayed_pixel_landmarks(sample_clip: Path, bundle: Path) -> None:
    probe, full = _frames(sample_clip, 0.0, 1.0)
    _, small = _frames(sample_clip, 0.0, 1.0, max_side=720)
    w, h = probe.info.width, probe.info.height
    assert small[0].rgb.shape[:2] == (404, 720)  # even sizes for the scaler
    with PoseDetector(DetectionConfig(max_people=2)) as a, PoseDetector(DetectionConfig(max_people=2)) as b:
        res_full = [a.detect(f.rgb, f.time, w, h) for f in full][-1]
        res_small = [b.detect(f.rgb, f.time, w, h) for f in small][-1]
    assert res_full and res_small
    for det in res_small:
        # the same person in the full-resolution run lies within a few displayed pixels
        # (a detection on the 720 px frame is in 960 px units, not in the smaller frame's)
        errors = [np.abs(det.image_landmarks[:, :2] - o.image_landmarks[:, :2]).mean()
                  for o in res_full]
        assert min(errors) < 12.0


def test_video_mode_timestamps_are_strictly_increasing(bundle: Path) -> None:
    with PoseDetector(DetectionConfig(max_people=1)) as detector:
        assert detector._timestamp_ms(0.0) == 0
        assert detector._timestamp_ms(0.0001) == 1  # same millisecond -> pushed forward
        assert detector._timestamp_ms(0.5) == 500
        blank = np.zeros((64, 64, 3), np.uint8)
        assert detector.detect(blank, 0.6, 64, 64) == []


def test_roi_geometry_merge_and_dedupe() -> None:
    a = Roi(0.5, 0.5, 0.2, 0.4)
    assert a.iou(a) == pytest.approx(1.0)
    assert a.iou(Roi(0.6, 0.5, 0.2, 0.4)) == pytest.approx(1 / 3)  # half overlap: 0.04 / 0.12
    assert a.iou(Roi(0.9, 0.5, 0.2, 0.4)) == 0.0
    big = Roi(0.5, 0.55, 0.4, 0.8)  # the detector's region around the same person
    assert a.iou(big) == pytest.approx(0.25) and a.same_person(big, 0.5)
    below = Roi(0.45, 0.9, 0.4, 0.8)  # someone standing lower down, overlapping a lot
    assert not a.same_person(below, 0.5)
    followed = [Roi(0.2, 0.5, 0.2, 0.4), Roi(0.5, 0.5, 0.2, 0.4)]
    detected = [Roi(0.51, 0.5, 0.2, 0.4), Roi(0.8, 0.5, 0.2, 0.4)]
    # a detection re-seeds the person it overlaps; new ones come after the followed; capped
    assert merge_rois(followed, detected, 0.5, 3) == [followed[0], detected[0], detected[1]]
    assert merge_rois(followed, detected, 0.5, 2) == [followed[0], detected[0]]
    assert merge_rois(followed, [], 0.5, 3) == followed
    # the re-seeding detection keeps the followed region to fall back on; a newcomer has none
    merged = merge_rois(followed, detected, 0.5, 3)
    assert merged[1].fallback is followed[1] and merged[2].fallback is None
    # two regions drifted onto one person: the more present one is kept
    base = np.random.default_rng(0).uniform(0.3, 0.7, (33, 3)).astype(np.float32)
    other = base + np.float32(0.3)
    rois = [Roi(0.5, 0.5, 0.4, 0.5)] * 3
    assert distinct_people([base, base + 0.001, other], rois, [0.9, 0.95, 0.8], 0.05) == [1, 2]


@pytest.mark.parametrize(
    ("followed", "since", "lost", "expected"),
    [
        (0, 0, False, True),    # nobody followed: every frame
        (1, 1, False, False),   # someone followed, not due yet
        (2, 5, False, True),    # due (every 5 frames): newcomers
        (1, 1, True, True),     # a person was lost on the last frame
        (3, 9, True, False),    # all slots (max_people + 1) followed: never
    ],
)
def test_when_the_person_detector_runs(followed, since, lost, expected) -> None:
    assert needs_detection(followed, 3, since, lost, 5) is expected


def test_detector_pace_while_every_wanted_person_is_followed_and_healthy() -> None:
    # max_people healthy people followed: a scheduled run only looks for a spare-slot candidate
    assert detector_period(2, 2, 5, 15) == 15
    assert detector_period(1, 2, 5, 15) == 5   # a free slot: newcomers are looked for sooner
    assert detector_period(1, 1, 5, 15) == 15  # one person wanted and followed
    assert detector_period(0, 1, 5, 15) == 5
    rng = np.random.default_rng(1)
    pose = np.empty((33, 3), np.float32)
    pose[:, 0] = rng.uniform(0.40, 0.50, 33)
    pose[:, 1] = rng.uniform(0.20, 0.80, 33)  # 0.6 of the frame tall
    pose[:, 2] = 0.9
    assert is_healthy(pose, 0.3, 0.04)
    faint = pose.copy()
    faint[:, 2] = 0.2  # the tracker's phantom: mean visibility under 0.3
    assert not is_healthy(faint, 0.3, 0.04)
    tiny = pose.copy()
    tiny[:, 1] = rng.uniform(0.50, 0.53, 33)  # 3 % of the frame tall
    assert not is_healthy(tiny, 0.3, 0.04)
    assert DetectionConfig().healthy_visibility == TrackingConfig().min_visibility
    assert DetectionConfig().healthy_height == TrackingConfig().min_box_fraction


def _man_painted_out(frames: list, paint: list[bool]) -> list[np.ndarray]:
    """The frames' RGB with the man on the box replaced by the static background where ``paint``
    is set (his region, bench/capture_speed.py MAN_REGION, by its per-pixel median over the
    frames: he moves, the wall behind him does not)."""
    x0, y0, x1, y1 = 240, 0, 640, 285
    background = np.median(np.stack([f.rgb[y0:y1, x0:x1] for f in frames]), axis=0)
    images = []
    for f, hide in zip(frames, paint, strict=True):
        rgb = f.rgb.copy()
        if hide:
            rgb[y0:y1, x0:x1] = background.astype(np.uint8)
        images.append(rgb)
    return images


def _run(config: DetectionConfig, frames: list, images: list, w: int, h: int):
    """People found per frame and the frames the person detector ran on."""
    found, runs = [], []
    with PoseDetector(config) as detector:
        for pos, (rgb, f) in enumerate(zip(images, frames, strict=True)):
            before = detector.stats.detector_runs
            found.append(len(detector.detect(rgb, f.time, w, h)))
            if detector.stats.detector_runs > before:
                runs.append(pos)
    return found, runs


#: the sample's first 3 s: the woman from the first frame; the man on the box is first found by
#: the Tasks graph (its detector runs on every frame until num_poses people are followed) at
#: frame 14, and followed by both graphs from then on
_MAN_FOUND_BY_TASKS = 14


def test_two_people_followed_run_the_detector_every_15_frames(sample_clip: Path, bundle: Path) -> None:
    """Until the man is found one slot of max_people 2 is free: the detector runs every 5
    frames. Once both are followed (and healthy) it runs every 15 frames, and both people are
    found in every frame with either pace."""
    probe, frames = _frames(sample_clip, 0.0, 3.0)
    w, h = probe.info.width, probe.info.height
    images = [f.rgb for f in frames]
    n = len(frames)
    assert n >= 90
    for every_full in (5, 15):
        found, runs = _run(DetectionConfig(max_people=2, redetect_every_full=every_full),
                           frames, images, w, h)
        assert found == [1] * 15 + [2] * (n - 15), every_full
        assert runs == [0, 5, 10] + list(range(15, n, every_full)), every_full


def test_a_newcomer_is_picked_up_at_the_next_scheduled_run(sample_clip: Path, bundle: Path) -> None:
    """The man on the box comes into the detector's view at frame 14 (the Tasks graph finds
    him there). With a free slot (max_people 2) the 5-frame pace finds him one frame later; with
    every wanted person followed (max_people 1, him as the spare slot's candidate) the 15-frame
    pace happens to find him one frame later too, and at worst 14 frames later (0.47 s at 30
    fps: a track shorter than 0.5 s is dropped by the tracker anyway)."""
    probe, frames = _frames(sample_clip, 0.0, 3.0)
    w, h = probe.info.width, probe.info.height
    images = [f.rgb for f in frames]
    for max_people, pace in ((2, 5), (1, 15)):
        tasks, _ = _run(DetectionConfig(max_people=max_people, graph="tasks"), frames, images, w, h)
        roi, runs = _run(DetectionConfig(max_people=max_people), frames, images, w, h)
        assert tasks.index(2) == _MAN_FOUND_BY_TASKS, max_people
        delay = roi.index(2) - tasks.index(2)
        assert 0 <= delay < pace and delay == 1, (max_people, delay)
        assert runs[:2] == [0, pace], max_people  # the first frame, then on schedule


def test_a_lost_person_is_looked_for_on_the_next_frame(sample_clip: Path, bundle: Path) -> None:
    """Both people followed (15-frame pace), then the man is painted out from frame 40: the frame
    after the one where he is no longer found, the detector runs; from then on every 5 frames
    with max_people 2 (a slot is free), every 15 with max_people 1 (the woman fills it)."""
    probe, frames = _frames(sample_clip, 0.0, 3.0)
    w, h = probe.info.width, probe.info.height
    gone = 40
    images = _man_painted_out(frames, [pos >= gone for pos in range(len(frames))])
    # max_people 1 with both followed: every slot (max_people + 1) is taken, no scheduled run
    schedule = {2: [0, 5, 10, 15, 30], 1: [0, 15]}
    for max_people, pace in ((2, 5), (1, 15)):
        found, runs = _run(DetectionConfig(max_people=max_people), frames, images, w, h)
        lost_at = found.index(1, _MAN_FOUND_BY_TASKS + 1)  # first frame with him not found
        assert gone <= lost_at <= gone + 3 and max(found[lost_at:]) == 1, max_people
        before = [r for r in runs if r <= lost_at]
        assert before == schedule[max_people], (max_people, runs)
        assert runs[len(before)] == lost_at + 1, (max_people, runs)
        gaps = np.diff(runs[len(before):])
        assert gaps.size >= 2 and gaps.max() <= pace, (max_people, runs)


def test_roi_graph_matches_the_tasks_graph_with_fewer_detector_runs(
    sample_clip: Path, bundle: Path
) -> None:
    probe, frames = _frames(sample_clip, 0.0, 1.0)
    w, h = probe.info.width, probe.info.height
    people, stats = {}, {}
    for graph in ("tasks", "roi"):
        with PoseDetector(DetectionConfig(max_people=2, graph=graph)) as detector:
            people[graph] = [detector.detect(f.rgb, f.time, w, h) for f in frames]
            stats[graph] = detector.stats
    counts = {graph: [len(p) for p in found] for graph, found in people.items()}
    # a newcomer is picked up at the next scheduled detector run (every 5 frames), not at once
    assert sum(counts["tasks"]) - 5 <= sum(counts["roi"]) <= sum(counts["tasks"])
    assert counts["roi"][-10:] == counts["tasks"][-10:] == [2] * 10
    distances = []
    for ref_people, roi_people in zip(people["tasks"], people["roi"], strict=True):
        for ref in ref_people:
            errors = [np.linalg.norm(ref.image_landmarks[:, :2] - p.image_landmarks[:, :2], axis=1)
                      for p in roi_people]
            nearest = min(errors, key=lambda e: e.mean(), default=None)
            if nearest is not None and nearest.mean() < 40.0:  # the same person
                distances.append(nearest)
    assert len(distances) >= sum(counts["roi"]) - 1
    d = np.concatenate(distances)
    # most landmarks identical; the rest differ where the Tasks graph re-seeds the man from its
    # detector on every frame and misplaces his raised hands and knees (frames 11-15, checked
    # on an overlay), which following the landmarks does not
    assert np.median(d) < 0.5 and d.mean() < 6.0  # pixels of the 960x540 frame
    roi = stats["roi"]
    assert roi.frames == len(frames)
    # the detector runs when nobody is followed, after a loss, and every 5th frame
    assert roi.detector_runs < 0.5 * len(frames)
    # about one landmark pass per person found (plus the detector's candidates that were not)
    found = sum(len(p) for p in people["roi"])
    assert found <= roi.landmark_runs <= found + roi.detector_runs


def test_roi_graph_keeps_a_small_person_as_the_tasks_graph_does(
    sample_clip: Path, bundle: Path
) -> None:
    """At 480 px the man is small; at 1.4 s the detector frames him with a region so loose
    that the landmark model sees nobody in it. That region re-seeded him and he was lost for
    good (nobody found from frame 11 on); the region his landmarks gave must be kept instead,
    whatever the detector schedule."""
    probe, frames = _frames(sample_clip, 1.0, 1.5, max_side=480)
    assert frames[0].rgb.shape[1] == 480
    w, h = probe.info.width, probe.info.height
    settings = {"tasks": {"graph": "tasks"}, "roi": {}, "roi-detector-first":
                {"detect_alongside": False}, "roi-detector-every-frame": {"redetect_every": 1}}
    found = {}
    for name, extra in settings.items():
        with PoseDetector(DetectionConfig(max_people=2, **extra)) as detector:
            found[name] = [len(detector.detect(f.rgb, f.time, w, h)) > 0 for f in frames]
    assert sum(found["tasks"]) == len(frames) == 16
    assert all(f == found["tasks"] for f in found.values()), found


def test_landmark_protos_become_a_33_row_array() -> None:
    """The landmark model's protos -> (33, 3) float32: x, y and visibility (image) or z
    (world); visibility 0 when a proto leaves it out; rows past the landmarks given stay 0."""
    from mediapipe.framework.formats import landmark_pb2

    from inference_backend.detection import _landmark_array

    image = landmark_pb2.NormalizedLandmarkList()
    for i in range(33):
        lm = image.landmark.add(x=0.01 * i, y=1.0 - 0.02 * i, z=-0.5 * i)
        if i != 5:
            lm.visibility = 0.9 - 0.01 * i
    got = _landmark_array(image.landmark, True)
    assert got.dtype == np.float32 and got.shape == (33, 3)
    expected = np.array([(lm.x, lm.y, lm.visibility) for lm in image.landmark], np.float32)
    np.testing.assert_array_equal(got, expected)
    assert got[5, 2] == 0.0 and got[6, 2] == np.float32(0.84)
    world = _landmark_array(image.landmark[:20], False)
    np.testing.assert_array_equal(world[:20, 2], np.float32([-0.5 * i for i in range(20)]))
    assert not world[20:].any()
    assert not _landmark_array([], True).any()


def test_unknown_graph_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown detection graph"):
        PoseDetector(DetectionConfig(graph="magic"))


def test_detector_does_not_import_matplotlib_or_opencv(backend_env: dict[str, str]) -> None:
    """The lean mediapipe import: start-up skips mediapipe's package __init__, and a later plain
    ``import mediapipe`` still gets the whole package."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from inference_backend.config import DetectionConfig\n"
        "from inference_backend.detection import PoseDetector\n"
        "import numpy as np\n"
        "import os, pathlib\n"
        "cache = pathlib.Path(os.environ['STR_MOCAP_CACHE'])\n"
        "with PoseDetector(DetectionConfig(max_people=1, cache_dir=cache)) as d:\n"
        "    d.detect(np.zeros((64, 64, 3), np.uint8), 0.0, 64, 64)\n"
        "heavy = [m for m in ('matplotlib', 'cv2', 'mediapipe.python.solutions') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "import mediapipe\n"
        "assert mediapipe.solutions.pose.Pose and mediapipe.__version__ == '0.10.21'\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env=backend_env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")


def test_one_person_capture_runs_the_detector_every_15_frames(sample_clip: Path, bundle: Path) -> None:
    """With --max-people 1 a scheduled detector run only looks for a spare-slot candidate: on a
    one-person clip (the sample with the man on the box painted out by the static background,
    as bench/capture_speed.py does) it runs every 15 frames instead of every 5, and the person
    is found in every frame either way."""
    probe, frames = _frames(sample_clip, 1.0, 3.0)
    x0, y0, x1, y1 = 240, 0, 640, 285  # the man on the box (bench/capture_speed.py MAN_REGION)
    background = np.median(np.stack([f.rgb[y0:y1, x0:x1] for f in frames]), axis=0)
    images = []
    for f in frames:
        rgb = f.rgb.copy()
        rgb[y0:y1, x0:x1] = background.astype(np.uint8)
        images.append(rgb)
    w, h = probe.info.width, probe.info.height
    found, runs = {}, {}
    for every in (5, 15):
        config = DetectionConfig(max_people=1, redetect_every_full=every)
        with PoseDetector(config) as detector:
            found[every] = [len(detector.detect(rgb, f.time, w, h))
                            for rgb, f in zip(images, frames, strict=True)]
            runs[every] = detector.stats.detector_runs
    n = len(frames)
    assert n >= 60
    assert found[5] == found[15] == [1] * n
    # first frame, then every 5th / 15th (no loss on this clip)
    assert runs[5] == 1 + (n - 1) // 5 and runs[15] == 1 + (n - 1) // 15
    assert DetectionConfig().redetect_every_full == 15


def _chained(config: DetectionConfig, frames: list, images: list, w: int, h: int,
             upcoming: list) -> tuple[list, Any]:
    """Detections per frame, the caller handing each call ``upcoming[pos]`` as the next frame;
    the detector's stats."""
    out = []
    with PoseDetector(config) as detector:
        for pos, (rgb, f) in enumerate(zip(images, frames, strict=True)):
            out.append(detector.detect(rgb, f.time, w, h, upcoming[pos]))
        stats = detector.stats
    return out, stats


def _same_detections(a: list, b: list) -> bool:
    return len(a) == len(b) and all(
        len(x) == len(y) and all(
            np.array_equal(p.image_landmarks, q.image_landmarks)
            and np.array_equal(p.world_landmarks, q.world_landmarks)
            and np.array_equal(p.box, q.box) and p.score == q.score for p, q in zip(x, y, strict=True))
        for x, y in zip(a, b, strict=True))


def test_chain_ahead_keeps_each_person_in_frame_order(sample_clip: Path, bundle: Path) -> None:
    """One chain per person (each person's pass on the next frame starts as soon as their pass
    on this frame gives the next region): on the sample's first 3 s with the man painted out
    from frame 40 (a newcomer, scheduled detector runs re-seeding people, a loss), every frame's
    detections are bit-identical to the frame-by-frame schedule, with the same passes counted;
    most passes ran ahead. Handed a next frame the caller then does not pass (a copy), the
    passes run ahead are discarded, never used for another image."""
    probe, frames = _frames(sample_clip, 0.0, 3.0)
    w, h = probe.info.width, probe.info.height
    images = _man_painted_out(frames, [pos >= 40 for pos in range(len(frames))])
    n = len(frames)
    nexts = images[1:] + [None]
    for max_people in (2, 1):
        plain, plain_stats = _chained(DetectionConfig(max_people=max_people, chain_ahead=False),
                                      frames, images, w, h, nexts)
        chain, chain_stats = _chained(DetectionConfig(max_people=max_people), frames, images,
                                      w, h, nexts)
        assert plain_stats.ahead_used == 0 and plain_stats.ahead_wasted == 0
        assert _same_detections(plain, chain), max_people
        assert sum(map(len, chain)) > n, max_people  # two people on most frames
        assert (chain_stats.landmark_runs, chain_stats.detector_runs) == (
            plain_stats.landmark_runs, plain_stats.detector_runs), max_people
        assert chain_stats.ahead_used > 0.8 * chain_stats.landmark_runs, (max_people, chain_stats)
        copies, copy_stats = _chained(DetectionConfig(max_people=max_people), frames, images,
                                      w, h, [None if x is None else x.copy() for x in nexts])
        assert _same_detections(plain, copies), max_people
        assert copy_stats.ahead_used == 0 and copy_stats.ahead_wasted > 0, max_people


def test_closing_mid_chain_stops_the_landmark_threads(sample_clip: Path, bundle: Path) -> None:
    """Closing the detector while passes on the next frames are queued or running (a cancel
    mid-chain): close returns, the landmark threads are gone, and a new detector still gives
    the same detections for those frames."""
    import threading

    probe, frames = _frames(sample_clip, 0.5, 1.0)
    w, h = probe.info.width, probe.info.height
    detector = PoseDetector(DetectionConfig(max_people=2))
    first = [detector.detect(frames[k].rgb, frames[k].time, w, h, frames[k + 1].rgb)
             for k in range(3)]  # frame 3's passes are now running ahead
    assert detector.stats.ahead_used > 0
    detector.close()
    assert not [t for t in threading.enumerate() if t.name.startswith(("str-mocap-pose", "str-mocap-person-detector"))]
    with PoseDetector(DetectionConfig(max_people=2, chain_ahead=False)) as again:
        assert _same_detections(first, [again.detect(f.rgb, f.time, w, h) for f in frames[:3]])
