"""Shared fixtures of the backend tests: the bundled clip, a PyAV video writer, an isolated
model cache and the environment for ``python -m inference_backend`` subprocesses."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from inference_backend.motion_types import CameraEstimate, PersonMotion, SceneSolution
from inference_backend.smpl_constants import SMPL_TEMPLATE_REST_JOINTS

REPO = Path(__file__).resolve().parents[2]
SAMPLE_CLIP = REPO / "assets" / "sample" / "two_people_backlit.mp4"

VideoWriter = Callable[..., Path]


def write_video(
    path: Path,
    frames: Iterable[np.ndarray],
    fps: int = 30,
    pts: Iterable[int] | None = None,
    rotation: int = 0,
    gop: int = 10,
) -> Path:
    """Encode RGB uint8 frames (H, W, 3; H and W even) as H.264 in an MP4 with PyAV.

    pts: per-frame presentation times in units of 1/fps seconds (default 0, 1, 2, ...), so
    leaving numbers out makes a variable-frame-rate file. rotation: display rotation, degrees
    counter-clockwise (stored as the container's display matrix).
    """
    import av

    frames = list(frames)
    stamps = list(pts) if pts is not None else list(range(len(frames)))
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"g": str(gop)})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        if rotation:
            stream.set_display_rotation(rotation)
        for rgb, stamp in zip(frames, stamps, strict=True):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts, frame.time_base = int(stamp), Fraction(1, fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_zero_frame_video(path: Path) -> Path:
    """A valid MP4 (header, track, sample table) whose sample data is all zero bytes, so not a
    single frame decodes: the closest real file to 'a video with zero frames'."""
    write_video(path, [np.full((48, 64, 3), 20 * i, np.uint8) for i in range(10)])
    data = bytearray(path.read_bytes())
    mdat = data.find(b"mdat")
    size = int.from_bytes(data[mdat - 4:mdat], "big")
    data[mdat + 4:mdat - 4 + size] = bytes(size - 8)
    path.write_bytes(bytes(data))
    return path


def smpl_fk(
    rest_joints: np.ndarray, global_orient: np.ndarray, body_pose: np.ndarray, transl: np.ndarray
) -> np.ndarray:
    """SMPL forward kinematics of docs/motion_file.md, written independently of the backend.

    rest_joints (24, 3); global_orient (F, 3); body_pose (F, 23, 3); transl (F, 3) ->
    joints (F, 24, 3).
    """
    from scipy.spatial.transform import Rotation

    from inference_backend.smpl_constants import SMPL_PARENTS

    F = global_orient.shape[0]
    rots = np.concatenate([global_orient[:, None], body_pose], axis=1).reshape(-1, 3)
    local = Rotation.from_rotvec(rots.astype(np.float64)).as_matrix().reshape(F, 24, 3, 3)
    world_rot = np.zeros((F, 24, 3, 3))
    joints = np.zeros((F, 24, 3))
    for j, parent in enumerate(SMPL_PARENTS):
        if parent < 0:
            world_rot[:, j] = local[:, j]
            joints[:, j] = rest_joints[j]
        else:
            world_rot[:, j] = world_rot[:, parent] @ local[:, j]
            offset = rest_joints[j] - rest_joints[parent]
            joints[:, j] = joints[:, parent] + world_rot[:, parent] @ offset
    return joints + transl[:, None, :]


def make_scene_solution(persons: int = 2, seed: int = 0, F: int = 12) -> SceneSolution:
    """A synthetic two-person SceneSolution whose joints3d is the FK of its parameters; person 2
    appears at frame 2. Camera: f = 600 px, centre at y = -1.4 (identity rotation)."""
    rng = np.random.default_rng(seed)
    motions = []
    for p in range(persons):
        orient = rng.normal(0, 0.3, (F, 3)).astype(np.float32)
        pose = rng.normal(0, 0.2, (F, 23, 3)).astype(np.float32)
        transl = np.column_stack([np.linspace(0, 1, F), np.full(F, 0.9), np.full(F, 3.0 + p)])
        rest = SMPL_TEMPLATE_REST_JOINTS.copy()
        joints = smpl_fk(rest, orient, pose, transl).astype(np.float32)
        valid = np.ones(F, bool)
        valid[:2] = p == 0  # person 2 appears at frame 2
        motions.append(PersonMotion(
            track_id=p + 1, global_orient=orient, body_pose=pose, transl=transl.astype(np.float32),
            rest_joints=rest, joints3d=joints, valid=valid,
            contacts=rng.random((F, 4)).astype(np.float32),
            confidence=rng.random((F, 24)).astype(np.float32),
        ))
    K = np.array([[600.0, 0, 480], [0, 600.0, 270], [0, 0, 1]], np.float32)
    R = np.repeat(np.eye(3, dtype=np.float32)[None], F, axis=0)
    t = np.repeat(np.array([[0.0, 1.4, 0.0]], np.float32), F, axis=0)  # camera centre y = -1.4
    return SceneSolution(CameraEstimate(K, R, t), tuple(motions), ("solver note",))


def sample_frames(count: int, size: tuple[int, int] | None = None, step: int = 1) -> list[np.ndarray]:
    """The first ``count`` frames (every ``step``-th) of the bundled clip, optionally resized
    to size = (width, height)."""
    import av
    import cv2

    out: list[np.ndarray] = []
    with av.open(str(SAMPLE_CLIP)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % step:
                continue
            rgb = frame.to_ndarray(format="rgb24")
            if size is not None:
                rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
            out.append(rgb)
            if len(out) == count:
                break
    return out


@pytest.fixture(scope="session")
def sample_clip() -> Path:
    assert SAMPLE_CLIP.is_file(), f"bundled sample clip missing: {SAMPLE_CLIP}"
    return SAMPLE_CLIP


@pytest.fixture(scope="session")
def make_video() -> VideoWriter:
    return write_video


@pytest.fixture(scope="session")
def make_scene() -> Callable[..., SceneSolution]:
    return make_scene_solution


@pytest.fixture(scope="session")
def fk() -> Callable[..., np.ndarray]:
    return smpl_fk


@pytest.fixture(scope="session")
def make_zero_frame_video() -> Callable[[Path], Path]:
    return write_zero_frame_video


@pytest.fixture(scope="session")
def make_sample_frames() -> Callable[..., list[np.ndarray]]:
    return sample_frames


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An isolated pose-model cache for the session (the bundle is built there once):
    ``STR_MOCAP_CACHE`` for backend processes (their CLI reads it), and the default folder of
    in-process detectors (``detection.user_cache_dir``)."""
    import inference_backend.detection as detection

    folder = tmp_path_factory.mktemp("str_mocap_cache")
    previous = os.environ.get("STR_MOCAP_CACHE")
    os.environ["STR_MOCAP_CACHE"] = str(folder)
    default = detection.user_cache_dir
    detection.user_cache_dir = lambda: folder
    yield folder
    detection.user_cache_dir = default
    if previous is None:
        os.environ.pop("STR_MOCAP_CACHE", None)
    else:
        os.environ["STR_MOCAP_CACHE"] = previous


@pytest.fixture(scope="session")
def backend_env(model_cache: Path) -> dict[str, str]:
    """Environment for ``python -m inference_backend`` subprocesses."""
    env = dict(os.environ)
    env["STR_MOCAP_CACHE"] = str(model_cache)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("STR_MOCAP_STR_CHECKPOINT", None)
    return env


@pytest.fixture(scope="session")
def backend_cmd() -> list[str]:
    return [sys.executable, "-m", "inference_backend"]


@pytest.fixture()
def motion_path(tmp_path: Path) -> Path:
    """A valid two-person, 12-frame, 25 fps motion file written by the backend's writer."""
    from inference_backend.export import write_motion_file
    from inference_backend.motion_types import VideoInfo

    video = VideoInfo(path="/v/clip.mp4", width=640, height=480, rotation=0, fps=25.0,
                      num_frames=12, duration=0.48)
    path = tmp_path / "take.npz"
    write_motion_file(path, make_scene_solution(), video, np.arange(12) / 25.0, np.arange(12))
    return path
