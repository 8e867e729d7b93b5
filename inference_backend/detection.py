"""Offline multi-person pose detection with the pose models shipped inside the mediapipe wheel.

mediapipe 0.10.21 ships ``pose_detection.tflite`` and ``pose_landmark_full.tflite`` (the
model_complexity=1 landmark model; the lite/heavy ones would be downloaded, which we never do).
The Tasks ``PoseLandmarker`` (the only multi-person API) needs a ``.task`` bundle; we build one
from those two files, after giving the landmark model the TFLite input-normalisation metadata the
Tasks graph expects (mean 0, std 255: the legacy graph feeds [0, 1] floats). The bundle is built
once per mediapipe version / model hash and cached in the user's cache folder.

Which graph runs them (``DetectionConfig.graph``):
- "roi" (default): our own region-of-interest tracking over mediapipe's Tasks subgraphs (the
  person detector graph and the single-pose landmark graph, both registered in the wheel). Each
  followed person's landmarks give the region for the next frame; the full-frame person detector
  runs only when nobody is followed, on the frame after a person was lost, and every
  ``redetect_every`` = 5 frames to pick up people who come into view; while ``max_people`` healthy
  people are followed (``is_healthy``: the tracker would not call them phantoms) only every
  ``redetect_every_full`` = 15 frames, since then it only looks for a candidate for the spare
  slot (its regions re-seed the people
  they overlap, as in mediapipe's graph, except that a person the landmark model does not find in
  the detector's region is looked for again in their own region). One more person than
  ``max_people`` is followed, so the tracker can still reject phantoms and keep the best track. Landmark passes of different people,
  and a scheduled detector run, go to parallel threads (TFLite releases the GIL), so on a
  multi-core CPU several people cost about one landmark pass of wall time each frame. Each
  landmark model has its own thread, and with ``chain_ahead`` each person is a chain on it: when
  the caller hands over the next frame (``PoseDetector.detect(..., upcoming=)``), a person's pass
  on that frame starts as soon as their pass on this one has given the region, not after the
  other people's passes and the frame's bookkeeping; the frame uses it only if it follows that
  very region (else it is discarded), so the detections are the same as frame by frame.
  With ``tta="mirror"`` every person found also gets a landmark pass on the mirrored frame in
  the mirrored region; the two are averaged (``pose_tta.py``), the plain pass's region is
  followed.
- "tasks": mediapipe's multi-person ``PoseLandmarker`` with ``num_poses = max_people + 1``. Its
  graph skips the detector only while ``num_poses`` poses are followed, so with up to
  ``max_people`` people in view it re-runs the full-frame detector on every frame; kept as the
  reference the "roi" graph is compared against (``bench/detection_accuracy.py``).
- "legacy": ``mp.solutions.pose.Pose(model_complexity=1)``, one person, only for max_people 1.

Why a multi-person graph also for one person: on the bundled clip with --max-people 1 (2-core
CPU, machine shared, 135 frames) the Tasks landmarker (num_poses=2, keep the best track) kept a
person for 121 frames with an image-landmark jitter (mean |second difference|) of 5.1 px/frame^2
and 62 mm/frame^2 in world landmarks; the legacy ``mp.solutions.pose.Pose(model_complexity=1,
smooth_landmarks=True)`` kept its person for only 99 frames, with 13.3 px/frame^2 and
112 mm/frame^2 (it follows whoever its detector picks first and loses them on occlusion). The
"roi" graph keeps those properties: 120 frames, 4.8 px/frame^2 and 63 mm/frame^2, at about one
landmark pass per followed person (``python bench/detection_accuracy.py``; README "Speed").

Output units: ``image_landmarks`` are pixels of the *displayed* frame (u right, v down) plus the
landmark visibility; ``world_landmarks`` are MediaPipe's metric, hip-centred, camera-aligned
landmarks (metres, x right, y down, z away from the camera).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import sys
import tempfile
import threading
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import ENV_CACHE, TTA_MODES, DetectionConfig
from .errors import CaptureError, ExitCode
from .landmark_map import NUM_LANDMARKS
from .mediapipe_import import lean_mediapipe, mediapipe_version
from .motion_types import Detection
from .pose_tta import fuse_passes, mirror_image_landmarks, mirror_roi, mirror_world_landmarks

log = logging.getLogger(__name__)

GRAPHS: tuple[str, ...] = ("roi", "tasks", "legacy")
_LANDMARK_OUTPUTS = ("Identity", "Identity_1", "Identity_2", "Identity_3", "Identity_4")
_BUNDLE_DETECTOR = "pose_detector.tflite"
_BUNDLE_LANDMARKER = "pose_landmarks_detector.tflite"


def user_cache_dir() -> Path:
    """The platform's user cache folder for STR Mocap (the default of
    ``DetectionConfig.cache_dir``; ``$STR_MOCAP_CACHE`` is read by the CLI, not here)."""
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
        mediapipe = lean_mediapipe()
    except ImportError as exc:  # pragma: no cover - the backend extra pins mediapipe
        raise CaptureError(ExitCode.MODEL_PROBLEM, f"mediapipe is not installed: {exc}") from exc
    root = Path(str(mediapipe.__file__)).resolve().parent / "modules"
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
    digest = hashlib.sha256()
    for path in (detector, landmarker):
        digest.update(path.read_bytes())
    return f"{mediapipe_version()}-{digest.hexdigest()[:16]}"


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
            _BUNDLE_DETECTOR: detector.read_bytes(),
            _BUNDLE_LANDMARKER: _landmarker_with_metadata(landmarker.read_bytes()),
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
    """(33, 3) float32 of mediapipe landmark protos: x, y and the visibility (0 when absent) or
    z; rows past the landmarks given stay 0. Built from one list in one call (assigning row by
    row cost ~0.1 ms per pose, two poses per landmark pass)."""
    if with_visibility:
        rows = [(lm.x, lm.y, 0.0 if (vis := getattr(lm, "visibility", None)) is None else vis)
                for lm in landmarks[:NUM_LANDMARKS]]
    else:
        rows = [(lm.x, lm.y, lm.z) for lm in landmarks[:NUM_LANDMARKS]]
    out = np.zeros((NUM_LANDMARKS, 3), np.float32)
    if rows:
        out[: len(rows)] = np.array(rows, np.float64)
    return out



@dataclass(frozen=True)
class Roi:
    """A landmark model's region of interest, normalised to the frame it was found in.

    x, y: centre as fractions of the frame width / height; w, h: size in the same fractions;
    rotation: radians (the person's hip-to-shoulder direction made upright).
    fallback: for a detector region that re-seeds a followed person, the region that person's
        landmarks gave; the landmark model runs there when it sees nobody in the detector's
        region (not part of equality).
    """

    x: float
    y: float
    w: float
    h: float
    rotation: float = 0.0
    fallback: Roi | None = dataclasses.field(default=None, compare=False, repr=False)

    def _intersection(self, other: Roi) -> float:
        ix = min(self.x + self.w / 2, other.x + other.w / 2) - max(self.x - self.w / 2, other.x - other.w / 2)
        iy = min(self.y + self.h / 2, other.y + other.h / 2) - max(self.y - self.h / 2, other.y - other.h / 2)
        return max(0.0, ix) * max(0.0, iy)

    def iou(self, other: Roi) -> float:
        """Intersection over union of the two regions, rotation ignored (axis-aligned)."""
        inter = self._intersection(other)
        union = self.w * self.h + other.w * other.h - inter
        return inter / union if union > 0 else 0.0

    def contains(self, x: float, y: float) -> bool:
        return abs(x - self.x) <= self.w / 2 and abs(y - self.y) <= self.h / 2

    def same_person(self, other: Roi, min_iou: float) -> bool:
        """Whether two regions frame one person: IoU above ``min_iou``, or each contains the
        other's centre (the detector's region of a person is often twice the size of the one
        their landmarks give, so IoU alone would call them two people; a second person next to
        or below the first has their centre outside the first's region)."""
        if self.iou(other) > min_iou:
            return True
        return self.contains(other.x, other.y) and other.contains(self.x, self.y)


def merge_rois(followed: Sequence[Roi], detected: Sequence[Roi], min_iou: float,
               cap: int) -> list[Roi]:
    """Regions to run the landmark model on: the followed ones no detector region frames too
    (``Roi.same_person``), then the detector's regions (a detection re-seeds the person it
    frames, as in mediapipe's PoseLandmarkerGraph); at most ``cap``. A detector region that
    re-seeds a followed person carries that person's region as its ``fallback``: a detector
    region can frame a person too loosely for the landmark model (a small person in a large
    region), and the person must not be lost for it."""
    kept = [roi for roi in followed if not any(roi.same_person(d, min_iou) for d in detected)]
    seeds = []
    for d in detected:
        replaced = next((roi for roi in followed if roi.same_person(d, min_iou)), None)
        seeds.append(d if replaced is None else seeded(d, replaced))
    return (kept + seeds)[:cap]


def seeded(detected: Roi, followed: Roi) -> Roi:
    """``detected`` re-seeding the person followed in ``followed`` (kept as its fallback)."""
    return dataclasses.replace(detected, fallback=followed)


def distinct_people(landmarks: Sequence[np.ndarray], rois: Sequence[Roi], presences: Sequence[float],
                    max_distance: float) -> list[int]:
    """Indices of the poses to keep following: by falling presence, dropping any pose whose
    landmarks (33, >=2, normalised x, y) lie within ``max_distance`` (median, as a fraction of its
    region's height) of an already kept one: two regions that drifted onto one person."""
    kept: list[int] = []
    for i in sorted(range(len(rois)), key=lambda k: -presences[k]):
        scale = max(rois[i].h, 1e-6)
        if all(float(np.median(np.linalg.norm(landmarks[i][:, :2] - landmarks[k][:, :2], axis=1)))
               > max_distance * scale for k in kept):
            kept.append(i)
    return sorted(kept)


def is_healthy(image_xyv: np.ndarray, min_visibility: float, min_height: float) -> bool:
    """Whether a followed pose (33, 3: normalised x, y, visibility) passes the tracker's phantom
    tests: mean visibility at least ``min_visibility`` and a landmark box at least
    ``min_height`` of the frame height (``tracking``'s rules, on normalised coordinates)."""
    vis = np.clip(image_xyv[:, 2], 0.0, 1.0)
    box = _box_from_landmarks(image_xyv[:, :2], vis)
    return float(vis.mean()) >= min_visibility and float(box[3] - box[1]) >= min_height


def detector_period(healthy_followed: int, max_people: int, every: int, every_full: int) -> int:
    """Frames between scheduled detector runs: ``every_full`` while ``max_people`` healthy people
    are followed (a run then only looks for a spare-slot candidate), else ``every``."""
    return every_full if healthy_followed >= max_people else every


def needs_detection(followed: int, slots: int, frames_since: int, lost: bool, every: int) -> bool:
    """Whether the full-frame person detector runs on this frame: never while all ``slots`` are
    followed; otherwise when nobody is followed, after a person was lost on the last frame, and
    every ``every`` frames (to pick up people who come into view)."""
    if followed >= slots:
        return False
    return followed == 0 or lost or frames_since >= every


@dataclass
class DetectionStats:
    """Counters of one detector's work (for benchmarks and the closing stage-time summary)."""

    frames: int = 0
    detector_runs: int = 0
    landmark_runs: int = 0
    ahead_used: int = 0  # chain_ahead passes whose result a frame used (in landmark_runs)
    ahead_wasted: int = 0  # chain_ahead passes run and then discarded (not in landmark_runs)


def bundle_models(bundle: Path) -> tuple[bytes, bytes]:
    """(person detector, landmark model with metadata) tflite bytes from the cached bundle."""
    try:
        with zipfile.ZipFile(bundle) as archive:
            return archive.read(_BUNDLE_DETECTOR), archive.read(_BUNDLE_LANDMARKER)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise CaptureError(
            ExitCode.MODEL_PROBLEM,
            f"cannot read the pose landmarker bundle {bundle} ({exc}); delete it to rebuild",
        ) from exc


def _task_runner(graph: str, inputs: list[str], outputs: list[str], options: Any) -> Any:
    """A synchronous mediapipe TaskRunner around one registered Tasks subgraph."""
    lean_mediapipe()
    from mediapipe.framework import calculator_options_pb2, calculator_pb2
    from mediapipe.framework.formats import landmark_pb2, rect_pb2  # noqa: F401 (output types)
    from mediapipe.python._framework_bindings import task_runner

    node = calculator_pb2.CalculatorGraphConfig.Node(
        calculator=graph, input_stream=inputs, output_stream=outputs
    )
    node_options = calculator_options_pb2.CalculatorOptions()
    node_options.Extensions[options.ext].CopyFrom(options)
    node.options.CopyFrom(node_options)
    config = calculator_pb2.CalculatorGraphConfig(
        node=[node], input_stream=inputs, output_stream=outputs
    )
    try:
        return task_runner.TaskRunner.create(config)
    except Exception as exc:
        raise CaptureError(
            ExitCode.MODEL_PROBLEM, f"cannot start mediapipe's {graph.rsplit('.', 1)[-1]} ({exc})"
        ) from exc


def _base_options(model: bytes) -> Any:
    from mediapipe.tasks.cc.core.proto import base_options_pb2, external_file_pb2

    return base_options_pb2.BaseOptions(
        model_asset=external_file_pb2.ExternalFile(file_content=model), use_stream_mode=False
    )


def _rect_proto(roi: Roi) -> Any:
    from mediapipe.framework.formats import rect_pb2

    return rect_pb2.NormalizedRect(
        x_center=roi.x, y_center=roi.y, width=roi.w, height=roi.h, rotation=roi.rotation
    )


def _roi(rect: Any) -> Roi:
    return Roi(rect.x_center, rect.y_center, rect.width, rect.height, rect.rotation)


def image_packet(rgb: np.ndarray) -> Any:
    """A mediapipe Image packet over ``rgb`` ((h, w, 3) uint8, C-contiguous) without copying it:
    the packet keeps a read-only view (and so the array) alive. Every landmark and detector pass
    of the frame shares it (mediapipe's own ``create_image`` would copy the 5 MB frame per pass,
    about 0.6 ms each at 1768x994)."""
    from mediapipe.python import packet_creator
    from mediapipe.python._framework_bindings.image_frame import ImageFormat

    view = rgb.view()
    view.flags.writeable = False  # mediapipe shares read-only arrays instead of copying them
    return packet_creator.create_image(view, image_format=ImageFormat.SRGB, copy=False)


_WHOLE_FRAME = Roi(0.5, 0.5, 1.0, 1.0)
#: two followed poses whose landmarks are this close (median, fraction of the region height)
#: are one person seen twice
_DUPLICATE_DISTANCE = 0.05


class _PersonDetector:
    """mediapipe's PoseDetectorGraph: full-frame person regions, best first."""

    def __init__(self, model: bytes, config: DetectionConfig, num_poses: int) -> None:
        from mediapipe.tasks.cc.vision.pose_detector.proto import pose_detector_graph_options_pb2

        options = pose_detector_graph_options_pb2.PoseDetectorGraphOptions(
            base_options=_base_options(model),
            min_detection_confidence=config.min_pose_detection_confidence,
            num_poses=num_poses,
        )
        self._runner = _task_runner(
            "mediapipe.tasks.vision.pose_detector.PoseDetectorGraph",
            ["IMAGE:image", "NORM_RECT:norm_rect"], ["EXPANDED_POSE_RECTS:rects"], options,
        )

    def regions(self, image: Any) -> list[Roi]:
        """Regions in ``image`` (a mediapipe Image packet, ``image_packet``)."""
        from mediapipe.python import packet_creator, packet_getter

        out = self._runner.process({
            "image": image,
            "norm_rect": packet_creator.create_proto(_rect_proto(_WHOLE_FRAME)),
        })
        if out["rects"].is_empty():
            return []
        return [_roi(rect) for rect in packet_getter.get_proto_list(out["rects"])]

    def close(self) -> None:
        self._runner.close()


@dataclass(frozen=True)
class _Pose:
    image_xyv: np.ndarray  # (33, 3) normalised x, y, visibility
    world_xyz: np.ndarray  # (33, 3) metres
    next_roi: Roi
    presence: float
    roi: Roi | None = None  # the region this pose was found in


class _LandmarkModel:
    """mediapipe's SinglePoseLandmarksDetectorGraph: one person's landmarks inside a region."""

    def __init__(self, model: bytes, config: DetectionConfig) -> None:
        from mediapipe.tasks.cc.vision.pose_landmarker.proto import (
            pose_landmarks_detector_graph_options_pb2 as options_pb2,
        )

        options = options_pb2.PoseLandmarksDetectorGraphOptions(
            base_options=_base_options(model),
            min_detection_confidence=config.min_pose_presence_confidence,
        )
        self._runner = _task_runner(
            "mediapipe.tasks.vision.pose_landmarker.SinglePoseLandmarksDetectorGraph",
            ["IMAGE:image", "NORM_RECT:norm_rect"],
            ["LANDMARKS:landmarks", "WORLD_LANDMARKS:world", "POSE_RECT_NEXT_FRAME:next",
             "PRESENCE_SCORE:presence"],
            options,
        )

    def run(self, image: Any, roi: Roi) -> _Pose | None:
        """The person in ``roi`` of ``image`` (a mediapipe Image packet, ``image_packet``), or
        None when the model sees nobody there."""
        from mediapipe.python import packet_creator, packet_getter

        try:
            out = self._runner.process({
                "image": image,
                "norm_rect": packet_creator.create_proto(_rect_proto(roi)),
            })
        except RuntimeError as exc:  # e.g. a degenerate region: the person is lost
            log.debug("landmark pass failed on %s: %s", roi, exc)
            return None
        if out["landmarks"].is_empty() or out["world"].is_empty():
            return None
        return _Pose(
            _landmark_array(packet_getter.get_proto(out["landmarks"]).landmark, True),
            _landmark_array(packet_getter.get_proto(out["world"]).landmark, False),
            _roi(packet_getter.get_proto(out["next"])),
            float(packet_getter.get_float(out["presence"])),
            roi,
        )

    def close(self) -> None:
        self._runner.close()


class _RoiGraph:
    """Region-of-interest tracking over the wheel's two models (see the module docstring)."""

    def __init__(self, config: DetectionConfig, bundle: Path, stats: DetectionStats) -> None:
        self.config = config
        self.stats = stats
        self.slots = config.max_people + 1
        self._detector_model, self._landmark_model = bundle_models(bundle)
        self._detector = _PersonDetector(self._detector_model, config, self.slots)
        self._models = [_LandmarkModel(self._landmark_model, config)]
        self._pool: ThreadPoolExecutor | None = None  # the detector's thread (detect_alongside)
        self._lanes: list[ThreadPoolExecutor] = []  # one thread per landmark model
        # chain_ahead: passes already started on the next frame's packet, by region identity
        self._ahead: dict[int, tuple[Roi, Future[_Pose | None], int]] = {}
        self._ahead_image: Any = None
        self._ready: dict[int, tuple[Roi, Future[_Pose | None], int]] = {}  # this frame's
        self._ready_image: Any = None
        self._followed: list[Roi] = []
        self._since_detection = 0
        self._lost = True
        self._healthy = 0  # followed people that pass the tracker's phantom tests

    def _executor(self) -> ThreadPoolExecutor:
        """The person detector's thread (``detect_alongside``); landmark passes run on their
        own lanes (``_lane``)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1,
                                            thread_name_prefix="str-mocap-person-detector")
        return self._pool

    def _landmark_models(self, wanted: int) -> list[_LandmarkModel]:
        """Up to ``landmark_threads`` models (one per thread), the extra ones built on demand."""
        wanted = max(1, min(wanted, self.config.landmark_threads))
        while len(self._models) < wanted:
            self._models.append(_LandmarkModel(self._landmark_model, self.config))
        return self._models[:wanted]

    def _lane(self, k: int) -> ThreadPoolExecutor:
        """Landmark model ``k``'s thread: every pass of that model runs there, in order."""
        while len(self._lanes) <= k:
            self._lanes.append(ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=f"str-mocap-pose{len(self._lanes)}"))
        return self._lanes[k]

    def _landmarks(self, image: Any, rois: list[Roi], upcoming: Any = None,
                   reseeded: Callable[[Roi], bool] | None = None) -> list[_Pose | None]:
        """Landmark passes over ``rois``: model ``k`` takes every n-th region, on its own thread
        (``_lane``). A region whose pass already ran ahead (``chain_ahead``: the very region
        object a pose of the last frame gave, on this very image) is not run again. With
        ``upcoming`` (the next frame's Image packet) each pose found starts its person's pass on
        the next frame in its ``next_roi`` at once, on the same thread (``_ahead``), unless
        ``reseeded(roi)`` says a detector region will replace that person's next region (the
        pass would be discarded)."""
        # one model per person (up to landmark_threads), counting the chains already started
        # on this frame (detect_alongside's second call: newcomers)
        ready = self._ready if self._ready_image is image else {}
        models = self._landmark_models(max([len(rois) + len(self._ahead)]
                                           + [k + 1 for _, _, k in ready.values()]))
        fallbacks: list[Roi] = []  # list.append is thread-safe
        chained: list[tuple[Roi, Future[_Pose | None], int]] = []
        load = [0] * len(models)  # chains started on each lane for the upcoming frame
        for _, _, k in self._ahead.values():
            load[k] += 1
        lock = threading.Lock()

        def follow(pose: _Pose | None, roi: Roi) -> _Pose | None:
            """Start ``pose``'s person's pass on the upcoming frame, on the lane with the fewest
            such passes (people spread over the threads)."""
            if (pose is not None and upcoming is not None and pose.next_roi.fallback is None
                    and (reseeded is None or not reseeded(roi))):
                roi = pose.next_roi
                with lock:
                    k = load.index(min(load))
                    load[k] += 1
                    chained.append((roi, self._lane(k).submit(models[k].run, upcoming, roi), k))
            return pose

        def run(k: int, roi: Roi) -> _Pose | None:
            pose = self._models[k].run(image, roi)
            if pose is None and roi.fallback is not None:  # see merge_rois
                fallbacks.append(roi.fallback)
                pose = self._models[k].run(image, roi.fallback)
            return follow(pose, roi)

        def resume(ahead: Future[_Pose | None], roi: Roi) -> _Pose | None:
            return follow(ahead.result(), roi)  # ran earlier on this same lane: done

        futures: dict[int, Future[_Pose | None]] = {}
        busy = [0] * len(models)  # this frame's passes on each lane
        todo = []
        for i, roi in enumerate(rois):
            found = ready.pop(id(roi), None)
            if found is not None and found[0] is roi:
                self.stats.ahead_used += 1
                busy[found[2]] += 1
                futures[i] = self._lane(found[2]).submit(resume, found[1], roi)
            else:
                todo.append(i)
        for i in todo:  # the other regions on the least busy lanes
            k = busy.index(min(busy))
            busy[k] += 1
            futures[i] = self._lane(k).submit(run, k, rois[i])
        results = [futures[i].result() for i in range(len(rois))]
        self.stats.landmark_runs += len(fallbacks)
        if upcoming is not None:
            self._ahead.update({id(roi): (roi, f, k) for roi, f, k in chained})
            self._ahead_image = upcoming
        return results

    def _take_ahead(self, image: Any) -> None:
        """Start of a frame: the passes run ahead on ``image`` become usable; any others are
        dropped."""
        self._drop_ready()
        if self._ahead_image is image:
            self._ready, self._ready_image = self._ahead, image
        else:
            self._ready = self._ahead
            self._drop_ready()
        self._ahead, self._ahead_image = {}, None

    def _drop_ready(self) -> None:
        """Passes run ahead that this frame did not use: cancelled if not started yet."""
        for _, future, _ in self._ready.values():
            if not future.cancel():
                self.stats.ahead_wasted += 1
        self._ready, self._ready_image = {}, None

    def _detect_then_landmarks(self, image: Any, due: bool,
                               upcoming: Any = None) -> tuple[list[_Pose], int]:
        """mediapipe's order: detector first, its regions re-seed the people they overlap."""
        cfg = self.config
        detected = self._detector.regions(image) if due else []
        rois = merge_rois(self._followed, detected, cfg.min_tracking_confidence, self.slots)
        results = self._landmarks(image, rois, upcoming)
        return [p for p in results if p is not None], len(rois)

    def _detect_alongside_landmarks(self, image: Any,
                                    upcoming: Any = None) -> tuple[list[_Pose], int]:
        """The detector on a pool thread while the followed people's landmarks run; a detection
        overlapping a person found on this frame re-seeds that person's region for the next
        frame (one frame later than mediapipe's order, at no extra landmark pass); the others
        (newcomers, people just lost) get their landmark pass on this frame."""
        cfg = self.config
        pending = self._executor().submit(self._detector.regions, image)
        followed = self._followed
        def reseeded(roi: Roi) -> bool:  # on a landmark thread; see below
            return any(d.same_person(roi, cfg.min_tracking_confidence) for d in pending.result())

        results = self._landmarks(image, followed, upcoming, reseeded)
        detected = pending.result()
        poses: list[_Pose] = []
        for roi, pose in zip(followed, results, strict=True):
            if pose is None:
                continue
            seed = next((d for d in detected if d.same_person(roi, cfg.min_tracking_confidence)),
                        None)
            poses.append(pose if seed is None
                         else dataclasses.replace(pose, next_roi=seeded(seed, pose.next_roi)))
        found = [roi for roi, pose in zip(followed, results, strict=True) if pose is not None]
        fresh = [d for d in detected
                 if not any(d.same_person(roi, cfg.min_tracking_confidence) for roi in found)]
        fresh = fresh[: max(0, self.slots - len(found))]
        poses += ([p for p in self._landmarks(image, fresh, upcoming) if p is not None]
                  if fresh else [])
        return poses, len(followed) + len(fresh)

    def _mirror_passes(self, rgb: np.ndarray, poses: list[_Pose]) -> list[_Pose]:
        """``DetectionConfig.tta == "mirror"``: each pose averaged with the landmark model's
        pass on the mirrored frame in its mirrored region (pose_tta); a pose whose mirrored
        pass finds nobody stays as it was. ``next_roi`` stays the plain pass's, so the people
        are followed exactly as without the augmentation."""
        todo = [k for k, p in enumerate(poses) if p.roi is not None]
        if not todo:
            return poses
        mirrored = image_packet(np.ascontiguousarray(rgb[:, ::-1]))
        rois = []
        for k in todo:
            roi = poses[k].roi
            assert roi is not None
            rois.append(Roi(*mirror_roi(roi.x, roi.y, roi.w, roi.h, roi.rotation)))
        results = self._landmarks(mirrored, rois)
        self.stats.landmark_runs += len(rois)
        out = list(poses)
        for k, seen in zip(todo, results, strict=True):
            if seen is None:
                continue
            image, world = fuse_passes([
                (poses[k].image_xyv, poses[k].world_xyz),
                (mirror_image_landmarks(seen.image_xyv), mirror_world_landmarks(seen.world_xyz)),
            ])
            out[k] = dataclasses.replace(poses[k], image_xyv=image, world_xyz=world)
        return out

    def detect(self, image: Any, rgb: np.ndarray | None = None,
               upcoming: Any = None) -> list[_Pose]:
        """The people in ``image`` (a mediapipe Image packet of ``rgb``; ``rgb`` is needed for
        ``tta="mirror"`` only). ``upcoming``: the next frame's Image packet, if known (then,
        with ``chain_ahead``, each person's pass on it starts as soon as possible; the next call
        must then pass that very packet as ``image`` to use them)."""
        cfg = self.config
        self._take_ahead(image)
        if not cfg.chain_ahead:
            upcoming = None
        self._since_detection += 1
        every = detector_period(self._healthy, cfg.max_people, cfg.redetect_every,
                                cfg.redetect_every_full)
        due = needs_detection(len(self._followed), self.slots, self._since_detection,
                              self._lost, every)
        if due:
            self._since_detection = 0
            self.stats.detector_runs += 1
        if due and self._followed and cfg.landmark_threads > 1 and cfg.detect_alongside:
            poses, passes = self._detect_alongside_landmarks(image, upcoming)
        else:
            poses, passes = self._detect_then_landmarks(image, due, upcoming)
        self.stats.landmark_runs += passes
        # lost: fewer people found than were followed (a detector region where the landmark
        # model sees nobody is a phantom, not a loss: it must not trigger the detector again)
        self._lost = len(poses) < len(self._followed)
        keep = distinct_people([p.image_xyv for p in poses], [p.next_roi for p in poses],
                               [p.presence for p in poses], _DUPLICATE_DISTANCE)
        poses = [poses[i] for i in keep]
        self._followed = [p.next_roi for p in poses]
        self._healthy = sum(is_healthy(p.image_xyv, cfg.healthy_visibility, cfg.healthy_height)
                            for p in poses)
        if cfg.tta == "mirror" and poses and rgb is not None:
            poses = self._mirror_passes(rgb, poses)
        return poses

    def close(self) -> None:
        self._take_ahead(None)  # cancels the passes not started yet
        self._drop_ready()
        for lane in self._lanes:
            lane.shutdown(wait=True, cancel_futures=True)
        self._lanes = []
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for model in self._models:
            model.close()
        self._models = []
        self._detector.close()


class PoseDetector:
    """Per-frame multi-person pose detection over a video's frames, in order.

    Use as a context manager; ``detect(rgb, time_s, width, height)`` returns the people in one
    frame. ``width``/``height`` are the displayed-frame size the landmarks are reported in.
    ``stats`` counts the detector and landmark passes run so far.
    """

    def __init__(self, config: DetectionConfig | None = None, cache_dir: Path | None = None) -> None:
        self.config = config if config is not None else DetectionConfig()
        if self.config.graph not in GRAPHS:
            raise ValueError(f"unknown detection graph {self.config.graph!r}; one of {GRAPHS}")
        if self.config.tta not in TTA_MODES:
            raise ValueError(f"unknown test-time augmentation {self.config.tta!r}; one of "
                             f"{TTA_MODES}")
        self.stats = DetectionStats()
        lean_mediapipe()
        self._last_ms = -1
        self._upcoming: tuple[np.ndarray, Any] | None = None  # (next frame, its Image packet)
        self._graph = self.config.graph
        if self._graph == "legacy" and self.config.max_people != 1:
            self._graph = "tasks"  # the legacy graph follows one person only
        if self.config.tta != "none" and self._graph != "roi":
            raise ValueError(f"tta={self.config.tta!r} needs the 'roi' detection graph, not "
                             f"{self._graph!r}")
        if cache_dir is None:
            cache_dir = self.config.cache_dir
        self._impl: Any
        if self._graph == "legacy":
            self._impl = self._create_legacy()
        elif self._graph == "tasks":
            self._impl = self._create_tasks(cache_dir)
        else:
            self._impl = _RoiGraph(self.config, pose_landmarker_bundle(cache_dir), self.stats)
    def _create_tasks(self, cache_dir: Path | None) -> Any:
        from mediapipe.tasks.python import vision
        from mediapipe.tasks.python.core.base_options import BaseOptions

        bundle = pose_landmarker_bundle(cache_dir)
        options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(bundle)),
            running_mode=vision.RunningMode.VIDEO,
            num_poses=self.config.max_people + 1,  # the tracker rejects phantoms
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

    def detect(self, rgb: np.ndarray, time_s: float, width: int, height: int,
               upcoming: np.ndarray | None = None) -> list[Detection]:
        """People in one RGB uint8 frame (h, w, 3) shown at ``time_s`` seconds. ``upcoming``:
        the next frame, when the caller already has it (the "roi" graph then starts the people's
        passes on it early, ``DetectionConfig.chain_ahead``); the next call must pass that
        same array. The detections do not depend on it."""
        given = rgb
        rgb = np.ascontiguousarray(rgb)
        ms = self._timestamp_ms(time_s)
        self.stats.frames += 1
        if self._graph == "legacy":
            self.stats.landmark_runs += 1
            result = self._impl.process(rgb)
            if result.pose_landmarks is None or result.pose_world_landmarks is None:
                return []
            image = _landmark_array(result.pose_landmarks.landmark, True)
            world = _landmark_array(result.pose_world_landmarks.landmark, False)
            return [make_detection(image, world, width, height)]
        if self._graph == "roi":
            ahead, self._upcoming = self._upcoming, None
            image = ahead[1] if ahead is not None and ahead[0] is given else image_packet(rgb)
            if upcoming is not None and self.config.chain_ahead:
                self._upcoming = (upcoming, image_packet(np.ascontiguousarray(upcoming)))
            return [
                make_detection(pose.image_xyv, pose.world_xyz, width, height)
                for pose in self._impl.detect(
                    image, rgb, self._upcoming[1] if self._upcoming is not None else None)
            ]
        from mediapipe.python._framework_bindings.image import Image
        from mediapipe.python._framework_bindings.image_frame import ImageFormat

        image = Image(image_format=ImageFormat.SRGB, data=rgb)
        result = self._impl.detect_for_video(image, ms)
        return [
            make_detection(
                _landmark_array(image_lms, True), _landmark_array(world_lms, False), width, height
            )
            for image_lms, world_lms in zip(
                result.pose_landmarks, result.pose_world_landmarks, strict=False
            )
        ]
