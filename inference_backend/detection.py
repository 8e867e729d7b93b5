"""Offline multi-person pose detection with the pose models shipped inside the mediapipe wheel.

mediapipe 0.10.21 ships ``pose_detection.tflite`` and ``pose_landmark_full.tflite`` (the
model_complexity=1 landmark model; the lite/heavy ones would be downloaded, which we never do).
The Tasks ``PoseLandmarker`` (the only multi-person API) needs a ``.task`` bundle; we build one
from those two files, after giving the landmark model the TFLite input-normalisation metadata the
Tasks graph expects (mean 0, std 255: the legacy graph feeds [0, 1] floats). The bundle is built
once per mediapipe version / model hash and cached in the user's cache folder.

Why the Tasks bundle also for one person: on the bundled clip with --max-people 1 (2-core CPU,
machine shared, 135 frames) the Tasks landmarker (num_poses=2, keep the best track) kept a
person for 121 frames with an image-landmark jitter (mean |second difference|) of 5.1 px/frame^2
and 62 mm/frame^2 in world landmarks; the legacy ``mp.solutions.pose.Pose(model_complexity=1,
smooth_landmarks=True)`` was faster (6.6 s vs 10.4 s) but kept its person for only 99 frames,
with 13.3 px/frame^2 and 112 mm/frame^2 (it follows whoever its detector picks first and loses
them on occlusion). The legacy path stays available (``DetectionConfig.use_legacy_single_person``)
but is off by default.

Output units: ``image_landmarks`` are pixels of the *displayed* frame (u right, v down) plus the
landmark visibility; ``world_landmarks`` are MediaPipe's metric, hip-centred, camera-aligned
landmarks (metres, x right, y down, z away from the camera).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .config import ENV_CACHE, DetectionConfig
from .errors import CaptureError, ExitCode
from .landmark_map import NUM_LANDMARKS
from .motion_types import Detection

log = logging.getLogger(__name__)

_LANDMARK_OUTPUTS = ("Identity", "Identity_1", "Identity_2", "Identity_3", "Identity_4")


def user_cache_dir() -> Path:
    """Platform-aware cache folder for STR Mocap (``STR_MOCAP_CACHE`` overrides)."""
    override = os.environ.get(ENV_CACHE)
    if override:
        return Path(override)
    if sys.platform.startswith("win"):
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "str-mocap" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "str-mocap"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "str-mocap"


def wheel_model_paths() -> tuple[Path, Path]:
    """(pose detector, full pose landmark model) tflite files inside the installed wheel."""
    try:
        import mediapipe
    except ImportError as exc:  # pragma: no cover - the backend extra pins mediapipe
        raise CaptureError(ExitCode.MODEL_PROBLEM, f"mediapipe is not installed: {exc}") from exc
    root = Path(mediapipe.__file__).resolve().parent / "modules"
    detector = root / "pose_detection" / "pose_detection.tflite"
    landmarker = root / "pose_landmark" / "pose_landmark_full.tflite"
    for path in (detector, landmarker):
        if not path.is_file():
            raise CaptureError(
                ExitCode.MODEL_PROBLEM,
                f"mediapipe pose model missing from the installed wheel: {path}; reinstall "
                "mediapipe==0.10.21 in the backend environment",
            )
    return detector, landmarker


def _bundle_key(detector: Path, landmarker: Path) -> str:
    import mediapipe

    digest = hashlib.sha256()
    for path in (detector, landmarker):
        digest.update(path.read_bytes())
    return f"{mediapipe.__version__}-{digest.hexdigest()[:16]}"


def _landmarker_with_metadata(model: bytes) -> bytes:
    from mediapipe.tasks.python.metadata.metadata_writers import metadata_writer

    writer = metadata_writer.MetadataWriter.create(bytearray(model))
    writer.add_general_info("BlazePose GHUM 3D full", "pose landmarks (wheel copy + metadata)")
    writer.add_image_input(norm_mean=[0.0], norm_std=[255.0])
    for name in _LANDMARK_OUTPUTS:
        writer.add_feature_output(name=name)
    model_with_metadata, _ = writer.populate()
    return bytes(model_with_metadata)


def pose_landmarker_bundle(cache_dir: Path | None = None) -> Path:
    """Path of the cached ``.task`` bundle, building it (atomically) if it is not there yet."""
    detector, landmarker = wheel_model_paths()
    folder = Path(cache_dir) if cache_dir is not None else user_cache_dir()
    target = folder / f"pose_landmarker_wheel_{_bundle_key(detector, landmarker)}.task"
    if target.is_file() and target.stat().st_size > 0:
        return target
    try:
        from mediapipe.tasks.python.metadata.metadata_writers import model_asset_bundle_utils
    except ImportError as exc:
        raise CaptureError(
            ExitCode.MODEL_PROBLEM, f"mediapipe metadata writer missing: {exc}"
        ) from exc
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".bundle-", suffix=".task.tmp", dir=folder)
        os.close(fd)
    except OSError as exc:
        raise CaptureError(
            ExitCode.MODEL_PROBLEM,
            f"cannot write the pose model cache in {folder} ({exc}); set {ENV_CACHE} to a "
            "writable folder",
        ) from exc
    try:
        models = {
            "pose_detector.tflite": detector.read_bytes(),
            "pose_landmarks_detector.tflite": _landmarker_with_metadata(landmarker.read_bytes()),
        }
        model_asset_bundle_utils.create_model_asset_bundle(models, tmp_name)
        os.replace(tmp_name, target)
    except Exception:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    log.info("built pose landmarker bundle %s", target)
    return target


def _box_from_landmarks(uv: np.ndarray, vis: np.ndarray) -> np.ndarray:
    """Box around the landmarks that are reasonably visible (all if too few), pixels."""
    keep = vis > 0.3
    pts = uv[keep] if int(keep.sum()) >= 4 else uv
    x0, y0 = pts.min(axis=0)
    x1, y1 = pts.max(axis=0)
    return np.array([x0, y0, x1, y1], dtype=np.float32)


def make_detection(image_xyv: np.ndarray, world_xyz: np.ndarray, width: int, height: int) -> Detection:
    """Detection from normalised image landmarks (33, 3: x, y in 0..1 of the frame, visibility).

    Normalised coordinates are resolution independent, so scaling by the displayed size gives
    displayed-frame pixels even when the detector saw a downscaled frame.
    """
    image = np.empty((NUM_LANDMARKS, 3), np.float32)
    image[:, 0] = image_xyv[:, 0] * width
    image[:, 1] = image_xyv[:, 1] * height
    image[:, 2] = np.clip(image_xyv[:, 2], 0.0, 1.0)
    world = np.asarray(world_xyz, np.float32).reshape(NUM_LANDMARKS, 3)
    box = _box_from_landmarks(image[:, :2], image[:, 2])
    return Detection(image, world, box, float(image[:, 2].mean()))


def _landmark_array(landmarks: Sequence[Any], with_visibility: bool) -> np.ndarray:
    out = np.zeros((NUM_LANDMARKS, 3), np.float32)
    for i, lm in enumerate(landmarks[:NUM_LANDMARKS]):
        vis = getattr(lm, "visibility", None)
        out[i] = (lm.x, lm.y, (vis if vis is not None else 0.0) if with_visibility else lm.z)
    return out


class PoseDetector:
    """Per-frame pose detection in VIDEO mode (monotonic integer millisecond timestamps).

    Use as a context manager; ``detect(rgb, time_s, width, height)`` returns the people in one
    frame. ``width``/``height`` are the displayed-frame size the landmarks are reported in.
    """

    def __init__(self, config: DetectionConfig | None = None, cache_dir: Path | None = None) -> None:
        self.config = config if config is not None else DetectionConfig()
        self._last_ms = -1
        self._legacy = self.config.use_legacy_single_person and self.config.max_people == 1
        self._impl: Any = self._create_legacy() if self._legacy else self._create_tasks(cache_dir)

    def _create_tasks(self, cache_dir: Path | None) -> Any:
        from mediapipe.tasks.python import vision
        from mediapipe.tasks.python.core.base_options import BaseOptions

        bundle = pose_landmarker_bundle(cache_dir)
        options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(bundle)),
            running_mode=vision.RunningMode.VIDEO,
            num_poses=self.config.max_people + 1,
            min_pose_detection_confidence=self.config.min_pose_detection_confidence,
            min_pose_presence_confidence=self.config.min_pose_presence_confidence,
            min_tracking_confidence=self.config.min_tracking_confidence,
            output_segmentation_masks=False,
        )
        try:
            return vision.PoseLandmarker.create_from_options(options)
        except Exception as exc:
            raise CaptureError(
                ExitCode.MODEL_PROBLEM,
                f"cannot load the pose landmarker bundle {bundle} ({exc}); delete it to rebuild",
            ) from exc

    def _create_legacy(self) -> Any:
        import mediapipe as mp

        return mp.solutions.pose.Pose(
            static_image_mode=False,
            model_complexity=1,
            smooth_landmarks=True,
            enable_segmentation=False,
            min_detection_confidence=self.config.min_pose_detection_confidence,
            min_tracking_confidence=self.config.min_tracking_confidence,
        )

    def __enter__(self) -> PoseDetector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._impl is not None:
            self._impl.close()
            self._impl = None

    def _timestamp_ms(self, time_s: float) -> int:
        ms = int(round(time_s * 1000.0))
        ms = max(ms, self._last_ms + 1)
        self._last_ms = ms
        return ms

    def detect(self, rgb: np.ndarray, time_s: float, width: int, height: int) -> list[Detection]:
        """People in one RGB uint8 frame (h, w, 3) shown at ``time_s`` seconds."""
        rgb = np.ascontiguousarray(rgb)
        ms = self._timestamp_ms(time_s)
        if self._legacy:
            result = self._impl.process(rgb)
            if result.pose_landmarks is None or result.pose_world_landmarks is None:
                return []
            image = _landmark_array(result.pose_landmarks.landmark, True)
            world = _landmark_array(result.pose_world_landmarks.landmark, False)
            return [make_detection(image, world, width, height)]
        import mediapipe as mp

        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
        result = self._impl.detect_for_video(image, ms)
        detections = []
        for image_lms, world_lms in zip(
            result.pose_landmarks, result.pose_world_landmarks, strict=False
        ):
            detections.append(
                make_detection(
                    _landmark_array(image_lms, True),
                    _landmark_array(world_lms, False),
                    width,
                    height,
                )
            )
        return detections
