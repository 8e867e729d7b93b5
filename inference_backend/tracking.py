"""Multi-person tracking: stable IDs from per-frame detections (our own, no mediapipe state).

Online stage (``Tracker.update`` once per frame, so memory holds only accepted detections):
1. per-frame clean-up: phantoms (low mean visibility or a tiny box) are dropped, duplicates
   (box IoU above a threshold, or landmarks nearly identical) keep the more visible detection;
2. optimal assignment (``assign``: exhaustive for the usual few people, else scipy's Hungarian
   ``linear_sum_assignment``, imported only then) of detections to live tracks on
   ``w * (1 - IoU) + (1 - w) * min(1, landmark distance / box diagonal)`` against each track's
   constant-velocity prediction (or its last position, whichever fits better); a box whose size
   jumps by more than 1.8x cannot match (merged phantoms); established tracks (>= 5 detections)
   are matched first, young ones get the leftovers; costs above ``max_cost`` start a new track;
3. a track unseen for more than ``max_gap_s`` is closed (within it, it can be re-identified).
Offline stage (``Tracker.finish``): drop short tracks, keep the ``max_people`` with the most
visibility-weighted frames, renumber IDs 1..P by first appearance (ties: left to right).

Units: image pixels of the displayed frame; frames are positions on the capture's frame axis.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from itertools import permutations

import numpy as np

from .config import TrackingConfig
from .landmark_map import NUM_LANDMARKS
from .motion_types import Detection, TrackObservations

_MAX_EXTRAPOLATION_FRAMES = 8
_MAX_SPEED_DIAG_PER_FRAME = 0.05  # cap of the predicted speed, box diagonals per frame
_MAX_SCALE_CHANGE = 1.8  # a match may not change the box diagonal by more than this factor
_ESTABLISHED_FRAMES = 5  # tracks with this many detections are matched before younger ones


#: assignments with at most this many on the smaller side are searched exhaustively (<= 720
#: candidates); importing scipy.optimize costs ~0.3 s of a capture's start-up
_EXHAUSTIVE_MAX = 6


def assign(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-total-cost one-to-one assignment of the rows and columns of ``cost`` (R, C):
    (row indices ascending, their columns), min(R, C) pairs, like scipy's
    ``linear_sum_assignment``."""
    cost = np.asarray(cost, np.float64)
    r, c = cost.shape
    if min(r, c) > _EXHAUSTIVE_MAX:
        from scipy.optimize import linear_sum_assignment

        rows, cols = linear_sum_assignment(cost)
        return np.asarray(rows), np.asarray(cols)
    if r > c:
        cols_t, rows_t = assign(cost.T)
        order = np.argsort(rows_t)
        return rows_t[order], cols_t[order]
    best_cols: tuple[int, ...] = ()
    best = np.inf
    for cols in permutations(range(c), r):
        total = float(cost[np.arange(r), cols].sum())
        if total < best:
            best, best_cols = total, cols
    return np.arange(r), np.array(best_cols, dtype=np.int64)


def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0], np.float32)


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two [x0, y0, x1, y1] boxes (0 when either is empty)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area_a = max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1])
    area_b = max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])
    union = area_a + area_b - inter
    return float(inter / union) if union > 0 else 0.0


def _diag(box: np.ndarray) -> float:
    return float(max(1.0, np.hypot(box[2] - box[0], box[3] - box[1])))


def landmark_distance(a: np.ndarray, b: np.ndarray, scale_box: np.ndarray) -> float:
    """Median 2D distance of two (33, >=2) landmark sets, as a fraction of the box diagonal
    (the median ignores a few landmarks the detector swapped or misplaced)."""
    norms = np.linalg.norm(a[:, :2] - b[:, :2], axis=1)
    mid = len(norms) // 2
    # np.median of an odd count is its middle order statistic: the same value, without
    # np.median's overhead (~50 us a call, several calls per person per frame)
    dist = np.partition(norms, mid)[mid] if len(norms) % 2 else np.median(norms)
    return float(dist / _diag(scale_box))


def clean_frame(
    detections: list[Detection], image_height: int, config: TrackingConfig
) -> list[Detection]:
    """Drop phantoms (low visibility, tiny) and duplicates (keep the more visible one)."""
    min_height = config.min_box_fraction * image_height
    kept: list[Detection] = []
    candidates = [
        d for d in detections
        if d.score >= config.min_visibility and (d.box[3] - d.box[1]) >= min_height
    ]
    for det in sorted(candidates, key=lambda d: -d.score):
        duplicate = any(
            box_iou(det.box, other.box) > config.duplicate_iou
            or landmark_distance(det.image_landmarks, other.image_landmarks, other.box)
            < config.duplicate_landmark_dist
            for other in kept
        )
        if not duplicate:
            kept.append(det)
    return kept


_ROW = 2 * NUM_LANDMARKS * 3 + 4  # packed detection: image (99), world (99), box (4)
_CHUNK_ROWS = 512


@dataclass
class _Track:
    """A live or finished track. Accepted detections are packed into float32 chunks
    (``_ROW`` values, ~0.8 kB per detection) so a long video costs little memory; only the last
    detection is kept as an object, for prediction."""

    key: int
    frames: array = field(default_factory=lambda: array("q"))
    chunks: list[np.ndarray] = field(default_factory=list)
    first: Detection | None = None
    last: Detection | None = None
    score_sum: float = 0.0
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))

    @property
    def last_frame(self) -> int:
        return int(self.frames[-1])

    def predict(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """Constant-velocity prediction of (landmarks (33,2), box (4,)) at ``frame``: the last
        detection shifted by the box-centre velocity (extrapolated at most a few frames)."""
        assert self.last is not None
        steps = min(frame - self.last_frame, _MAX_EXTRAPOLATION_FRAMES)
        shift = (self.velocity * steps).astype(np.float32)
        return self.last.image_landmarks[:, :2] + shift, self.last.box + np.concatenate([shift, shift])

    def add(self, frame: int, det: Detection) -> None:
        if self.last is not None:
            gap = frame - self.last_frame
            step = (_centre(det.box) - _centre(self.last.box)) / gap
            velocity = 0.5 * self.velocity + 0.5 * step if len(self.frames) > 1 else step
            limit = _MAX_SPEED_DIAG_PER_FRAME * _diag(self.last.box)
            norm = float(np.linalg.norm(velocity))
            self.velocity = velocity * (limit / norm) if norm > limit else velocity
        used = len(self.frames) - sum(len(c) for c in self.chunks[:-1])
        if not self.chunks or used == len(self.chunks[-1]):
            # geometric growth (16, 16, 32, ... 512 rows) so short-lived tracks stay tiny
            size = min(_CHUNK_ROWS, max(16, len(self.frames)))
            self.chunks.append(np.empty((size, _ROW), np.float32))
            used = 0
        packed = self.chunks[-1][used]
        packed[:99] = det.image_landmarks.reshape(-1)
        packed[99:198] = det.world_landmarks.reshape(-1)
        packed[198:] = det.box
        self.frames.append(frame)
        self.first = self.first or det
        self.last = det
        self.score_sum += det.score

    def weight(self) -> float:
        return self.score_sum

    def rows(self) -> np.ndarray:
        """(n, _ROW) packed detections in frame order."""
        return np.concatenate(self.chunks)[: len(self.frames)]


class Tracker:
    """Online multi-person tracker; see the module docstring for the algorithm.

    fps converts the second-based thresholds of ``TrackingConfig`` to frames.
    """

    def __init__(self, image_size: tuple[int, int], fps: float, config: TrackingConfig) -> None:
        self.width, self.height = image_size
        self.fps = fps if fps > 0 else 30.0
        self.config = config
        self.max_gap_frames = max(1, int(round(config.max_gap_s * self.fps)))
        self.min_len = max(config.min_track_frames, int(np.ceil(config.min_track_s * self.fps)))
        self._live: list[_Track] = []
        self._done: list[_Track] = []
        self._next_key = 0
        self.num_frames = 0
        #: frames in which at least one person passed the phantom filter, and the most frames
        #: any track (kept or dropped as too short) followed: they tell "nobody seen" from
        #: "seen, but too briefly" when ``finish`` returns no track
        self.frames_with_people = 0
        self.longest_track = 0

    def _pair_cost(self, uv: np.ndarray, box: np.ndarray, det: Detection) -> float:
        scale = _diag(det.box) / _diag(box)
        if not 1.0 / _MAX_SCALE_CHANGE <= scale <= _MAX_SCALE_CHANGE:
            return 1.0  # a sudden size jump: a merged phantom or another person, not this one
        iou = box_iou(box, det.box)
        dist = min(1.0, landmark_distance(uv, det.image_landmarks, box))
        w = self.config.iou_weight
        return w * (1.0 - iou) + (1.0 - w) * dist

    def _cost(self, track: _Track, frame: int, det: Detection) -> float:
        """Cost against the constant-velocity prediction, or against the last position when
        that fits better (a person who stopped, or a velocity spoilt by a bad detection)."""
        uv, box = track.predict(frame)
        last = track.last
        assert last is not None
        return min(
            self._pair_cost(uv, box, det),
            self._pair_cost(last.image_landmarks[:, :2], last.box, det),
        )

    def update(self, frame: int, detections: list[Detection]) -> None:
        """Feed the detections of capture frame position ``frame`` (call with increasing frames)."""
        self.num_frames = max(self.num_frames, frame + 1)
        still_live: list[_Track] = []
        for track in self._live:
            if frame - track.last_frame <= self.max_gap_frames:
                still_live.append(track)
            elif len(track.frames) >= self.min_len:
                self._done.append(track)  # closed for good; too-short ones are dropped now
            else:
                self.longest_track = max(self.longest_track, len(track.frames))
        self._live = still_live
        dets = clean_frame(detections, self.height, self.config)
        self.frames_with_people += bool(dets)
        unmatched = set(range(len(dets)))
        # cascade: established tracks choose first, young ones (possibly phantoms) get the rest
        established = [t for t in self._live if len(t.frames) >= _ESTABLISHED_FRAMES]
        young = [t for t in self._live if len(t.frames) < _ESTABLISHED_FRAMES]
        for group in (established, young):
            free = sorted(unmatched)
            if not group or not free:
                continue
            cost = np.array([[self._cost(t, frame, dets[c]) for c in free] for t in group])
            rows, cols = assign(cost)
            for r, c in zip(rows, cols, strict=True):
                if cost[r, c] <= self.config.max_cost:
                    group[r].add(frame, dets[free[c]])
                    unmatched.discard(free[c])
        for c in sorted(unmatched):
            track = _Track(key=self._next_key)
            self._next_key += 1
            track.add(frame, dets[c])
            self._live.append(track)

    def finish(self, num_frames: int | None = None) -> list[TrackObservations]:
        """Filter, rank and renumber tracks; arrays cover ``num_frames`` capture frames."""
        total = self.num_frames if num_frames is None else num_frames
        tracks = self._done + self._live
        self.longest_track = max([self.longest_track, *(len(t.frames) for t in tracks)])
        tracks = [t for t in tracks if len(t.frames) >= self.min_len]
        tracks.sort(key=lambda t: -t.weight())
        tracks = tracks[: self.config.max_people]
        tracks.sort(key=lambda t: (t.frames[0], float(t.first.box[0]) if t.first else 0.0))
        self._live, self._done = [], []
        out = []
        for i, track in enumerate(tracks):
            out.append(_observations(i + 1, track, total))
            track.chunks.clear()  # free the packed copy as soon as the dense one exists
        return out


def _observations(track_id: int, track: _Track, num_frames: int) -> TrackObservations:
    image = np.zeros((num_frames, NUM_LANDMARKS, 3), np.float32)
    world = np.zeros((num_frames, NUM_LANDMARKS, 3), np.float32)
    present = np.zeros(num_frames, bool)
    boxes = np.zeros((num_frames, 4), np.float32)
    frames = np.frombuffer(track.frames, np.int64) if len(track.frames) else np.zeros(0, np.int64)
    rows = track.rows()
    image[frames] = rows[:, :99].reshape(-1, NUM_LANDMARKS, 3)
    world[frames] = rows[:, 99:198].reshape(-1, NUM_LANDMARKS, 3)
    boxes[frames] = rows[:, 198:]
    present[frames] = True
    return TrackObservations(track_id, image, world, present, boxes)


def track_people(
    detections_per_frame: list[list[Detection]],
    image_size: tuple[int, int],
    fps: float,
    config: TrackingConfig | None = None,
) -> list[TrackObservations]:
    """Offline convenience wrapper: run the online tracker over all frames at once."""
    tracker = Tracker(image_size, fps, config if config is not None else TrackingConfig())
    for frame, dets in enumerate(detections_per_frame):
        tracker.update(frame, dets)
    return tracker.finish(len(detections_per_frame))
