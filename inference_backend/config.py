"""Frozen configuration of one capture run (built by ``cli``, consumed by ``pipeline``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SMOOTHING_LEVELS: tuple[str, ...] = ("none", "light", "medium", "strong")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
PROGRESS_MODES: tuple[str, ...] = ("bar", "jsonl", "none")
CAMERA_MODES: tuple[str, ...] = ("auto", "static", "moving")
#: Test-time augmentation of the landmark model (``DetectionConfig.tta``): "none", or
#: "mirror": a second landmark pass on the mirrored frame, averaged in (pose_tta.py).
TTA_MODES: tuple[str, ...] = ("none", "mirror")
#: Longer side (pixels) of the grey frames the camera tracker follows background points in.
CAMERA_TRACK_MAX_SIDE = 512

#: Detections with a lower mean landmark visibility, or a landmark box lower than this fraction
#: of the frame height, are phantoms (``TrackingConfig``; ``DetectionConfig``'s health test).
PHANTOM_VISIBILITY = 0.3
PHANTOM_BOX_FRACTION = 0.04

#: Environment variables the backend reads (documented in ``doctor``).
ENV_SMPL_DIR = "STR_MOCAP_SMPL_DIR"
ENV_STR_CHECKPOINT = "STR_MOCAP_STR_CHECKPOINT"
ENV_SPIN_CHECKPOINT = "STR_MOCAP_SPIN_CHECKPOINT"
ENV_CACHE = "STR_MOCAP_CACHE"


@dataclass(frozen=True)
class DecodeConfig:
    """How frames are decoded for detection.

    start/end: seconds from the start of the stream (None = from the first / to the last frame).
    detect_max_side: frames whose longer displayed side exceeds this many pixels are downscaled
        (aspect kept) before detection; landmarks are always reported in displayed-frame pixels.
    threads: decoder (slice) threads for pictures beyond 4K UHD (0 = as many as the decoder
        likes, about one per core; 1 = one thread there too). Pictures up to 3840x2160 are
        always decoded on one thread, so that a damaged file decodes the same on every run
        (``video_io._thread_type``).
    track_max_side: when > 0, each frame also comes with a grey copy whose longer side is at
        most this many pixels (``DecodedFrame.grey``; the camera tracker's input), made by the
        decoder's own scaler from the same decoded picture (the video is decoded once).
    """

    start: float | None = None
    end: float | None = None
    detect_max_side: int = 1920
    threads: int = 0
    track_max_side: int = 0


@dataclass(frozen=True)
class DetectionConfig:
    """Pose detector settings. max_people bounds the tracks kept; the detector follows one more
    person than that so phantoms and duplicates can be rejected instead of displacing a real one.

    redetect_every: the full-frame person detector runs every this many frames (to pick up
        people who come into view), and also when nobody is followed or a person was lost.
    redetect_every_full: the same while ``max_people`` people are followed and each of them
        is healthy (passes the tracker's phantom tests, ``healthy_visibility`` and
        ``healthy_height``): a scheduled run then only looks for a candidate for the spare slot
        (the people followed are re-found after a loss anyway, on the next frame): 15 frames,
        0.5 s at 30 fps, the shortest track the tracker keeps (``TrackingConfig.min_track_s``),
        so a better candidate still gets a track in time.
    healthy_visibility / healthy_height: a followed person counts towards "all followed" only
        with a mean landmark visibility and a landmark-box height (fraction of the frame
        height) at least these: ``TrackingConfig.min_visibility`` / ``min_box_fraction``,
        below which the tracker drops a detection as a phantom.
    landmark_threads: landmark passes of different people run in parallel on this many threads.
    detect_alongside: with more than one thread, a scheduled detector run on a frame where
        people are followed runs in parallel with their landmark passes (its regions re-seed
        those people one frame later); False runs it first, as mediapipe's graph does.
    chain_ahead: each followed person's landmark pass on the next frame starts as soon as
        their pass on this frame has given the next region (one chain per person, on that
        person's landmark thread) instead of after every person's pass and the frame's
        bookkeeping; the pass is used only if the next frame follows exactly that region (no
        detector re-seed, no duplicate dropped), else discarded: detections are identical.
    graph: "roi" (our region-of-interest tracking over the wheel's models, the default), "tasks"
        (mediapipe's multi-person PoseLandmarker, the reference the "roi" graph was checked
        against) or "legacy" (``mp.solutions.pose``, one person; only with max_people == 1).
    tta: "none", or "mirror" (graph "roi" only): each person's landmarks also from the
        horizontally mirrored frame in the mirrored region, mirrored back and averaged with
        the plain pass (image, world and visibility); the region followed into the next frame
        stays the plain pass's. About twice the landmark model's CPU time; PA-MPJPE 0.3-3.9 mm
        lower on the synthetic bench (docs/accuracy.md, "Mirror test-time augmentation").
    """

    max_people: int = 2
    min_pose_detection_confidence: float = 0.5
    min_pose_presence_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    redetect_every: int = 5
    redetect_every_full: int = 15
    healthy_visibility: float = PHANTOM_VISIBILITY
    healthy_height: float = PHANTOM_BOX_FRACTION
    landmark_threads: int = 2
    detect_alongside: bool = True
    chain_ahead: bool = True
    graph: str = "roi"
    tta: str = "none"
    #: Folder of the built pose-landmarker bundle (None: the platform's user cache folder,
    #: ``detection.user_cache_dir``); the CLI sets it from ``$STR_MOCAP_CACHE``.
    cache_dir: Path | None = None


@dataclass(frozen=True)
class TrackingConfig:
    """Tracker thresholds (frames are converted from seconds with the nominal fps).

    max_gap_s: a track missing for up to this long can be re-identified.
    min_track_frames / min_track_s: shorter tracks are dropped (both must be met).
    duplicate_iou: detections overlapping more than this are duplicates (keep the more visible).
    duplicate_landmark_dist: mean landmark distance, as a fraction of the box diagonal, under
        which two detections are the same person.
    min_visibility: detections whose mean visibility is lower are phantoms.
    min_box_fraction: detections whose box height is below this fraction of the image height
        are phantoms.
    max_cost: matches costlier than this start a new track instead.
    """

    max_people: int = 2
    max_gap_s: float = 1.0
    min_track_frames: int = 15
    min_track_s: float = 0.5
    duplicate_iou: float = 0.5
    duplicate_landmark_dist: float = 0.08
    min_visibility: float = PHANTOM_VISIBILITY
    min_box_fraction: float = PHANTOM_BOX_FRACTION
    max_cost: float = 0.85
    iou_weight: float = 0.5


@dataclass(frozen=True)
class CaptureConfig:
    """Everything ``pipeline.run_capture`` needs; paths are absolute after ``cli`` builds it."""

    video: Path
    output: Path
    solver: str = "default"
    max_people: int = 2
    smoothing: str = "medium"
    start: float | None = None
    end: float | None = None
    device: str = "auto"
    str_checkpoint: Path | None = None
    spin_checkpoint: Path | None = None
    smpl_dir: Path | None = None
    fov_deg: float | None = None
    #: ``--height``: "1.85" (everyone) or "1:1.85,2:1.62" (per track id); None = estimated.
    subject_heights: str | None = None
    detect_max_side: int = 1920
    threads: int = 0  # CPU threads for decoding and numeric libraries (0 = library defaults)
    camera: str = "auto"               # auto | static | moving (see camera_motion.choose_camera)
    cache_dir: Path | None = None      # pose-model cache (None: the platform's user cache)
    tta: str = "none"                  # ``--tta``: detector test-time augmentation (TTA_MODES)

    def decode_config(self) -> DecodeConfig:
        """The decode settings; a grey copy of each frame for the camera tracker unless the
        camera is declared static."""
        track = 0 if self.camera == "static" else CAMERA_TRACK_MAX_SIDE
        return DecodeConfig(start=self.start, end=self.end, detect_max_side=self.detect_max_side,
                            threads=self.threads, track_max_side=track)

    def detection_config(self) -> DetectionConfig:
        return DetectionConfig(max_people=self.max_people, cache_dir=self.cache_dir, tta=self.tta)

    def tracking_config(self) -> TrackingConfig:
        return TrackingConfig(max_people=self.max_people)
