"""Background points tracked through the video, people masked out (OpenCV; no camera model).

``BackgroundTracker.update`` is fed every decoded frame (the frame the detector sees, with the
people's boxes) and keeps only a downscaled grey copy of the previous frame (and, while the view
is still, of the frames skipped since: ``BackgroundTrackingConfig.still_stride``). Corners
(``cv2.goodFeaturesToTrack``) are found in a *keyframe* outside the people's boxes (plus a
margin) and followed frame to frame by pyramidal Lucas-Kanade flow with a forward-backward
check (optional); points that enter a person's box are dropped; a RANSAC homography against the keyframe
positions drops the rest of the outliers (things that move by themselves). Each frame records
its surviving points and their keyframe positions (``camera_motion.FrameMatches``, displayed-frame
pixels); the camera model (focal length, rotation) is applied later, once the focal length is
known (``camera_motion.solve_camera_motion``). A new keyframe starts when too few points
survive or they have drifted into too small a part of the frame.

Cost: one grey conversion + resize of the frame to ``max_side`` (512 px) and LK on a few hundred
points, a few milliseconds per frame (``bench/camera_tracking_speed.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .camera_motion import FrameMatches, KeyframeLink


@dataclass(frozen=True)
class BackgroundTrackingConfig:
    """Tracking resolution and thresholds (pixels are tracking-resolution pixels).

    max_side: frames are downscaled so their longer side is at most this for tracking.
    max_corners / min_distance / quality: ``goodFeaturesToTrack`` settings.
    person_margin: people's boxes grow by this fraction of their size on each side.
    min_points: below this many surviving points a new keyframe starts.
    min_spread: ... or when the points' bounding box covers less than this fraction of the frame.
    forward_backward: also track back and drop points whose round trip misses by more than
        ``fb_max_px`` (doubles the flow cost; the RANSAC filter and the robust rotation fit
        already drop bad tracks, so it is off by default).
    ransac_px: RANSAC reprojection threshold of the homography filter.
    keep: at most this many matches are stored per frame (evenly subsampled).
    anchor_memory: keyframes remembered (grey image + corners, ~0.15 MB each at 512 px; the
        first is always kept) for re-anchoring: a new keyframe that the chained homographies
        predict to overlap an older one by ``anchor_overlap`` of its corners is matched to the
        oldest such keyframe directly (``KeyframeLink``) when ``anchor_min_points`` survive.
    still_stride: while every tracked frame so far shows a still view, only every
        ``still_stride``-th frame is tracked (LK across the gap; the frames in between are kept
        as grey copies, at most ``still_stride - 1`` of them, ~0.15 MB each at 512 px). The
        first tracked frame that shows motion sends the skipped frames before it through the
        ordinary per-frame path, in order, and every frame is tracked from then on. 1: every
        frame is tracked (the behaviour before this option).
    still_px: a tracked frame shows a still view when its surviving points lie within this
        median distance of their keyframe positions and the RANSAC homography moves them by
        less than this (median; tracking px; 0.5 px at 512 px is ~0.07 deg at a 60 deg field
        of view, well under ``CameraMotionConfig.static_deg``).
    """

    max_side: int = 512
    max_corners: int = 200
    min_distance: int = 10
    quality: float = 0.01
    person_margin: float = 0.15
    min_points: int = 60
    min_spread: float = 0.25
    forward_backward: bool = False
    fb_max_px: float = 1.0
    ransac_px: float = 1.5
    keep: int = 80
    lk_window: int = 15
    lk_levels: int = 3
    anchor_memory: int = 40
    anchor_overlap: float = 0.5
    anchor_min_points: int = 30
    still_stride: int = 4
    still_px: float = 0.5


class BackgroundTracker:
    """Online tracker: call ``update`` once per frame in order, then read ``matches``."""

    def __init__(self, config: BackgroundTrackingConfig = BackgroundTrackingConfig()) -> None:
        self.config = config
        self.matches: list[FrameMatches] = []
        self.links: list[KeyframeLink] = []
        self.frames = 0
        self.keyframes: list[int] = []
        # Re-anchoring: remembered keyframes (position, grey, corners, homography from the
        # first frame, tracking px) and the current keyframe's homography from the first frame
        # (None once the chain broke).
        self._memory: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
        self._key_from_first: np.ndarray | None = np.eye(3)
        self._prev: np.ndarray | None = None
        self._key_pts = np.zeros((0, 2), np.float32)   # keyframe positions (tracking px)
        self._cur_pts = np.zeros((0, 2), np.float32)   # positions in the previous frame
        self._key = -1
        # still_stride: while the view is still, frames waiting since the last tracked one
        # (position, grey, boxes, scale) and the frames that were never tracked
        self._still = True
        self._pending: list[tuple[int, np.ndarray, np.ndarray, float]] = []
        self._untracked: list[int] = []
        self._scale = 1.0                               # displayed px per tracking px
        self._lk = dict(winSize=(config.lk_window, config.lk_window), maxLevel=config.lk_levels,
                        criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03))

    def grey(self, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        """(h, w, 3) uint8 RGB (or (h, w) grey) -> grey downscaled to ``max_side`` and the
        factor (given-image pixels per returned pixel). The decoder can hand over such a grey
        frame directly (``DecodeConfig.track_max_side``), which is cheaper."""
        img = rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        h, w = img.shape[:2]
        longest = max(h, w)
        if longest <= self.config.max_side:
            return img, 1.0
        s = self.config.max_side / float(longest)
        size = (max(2, int(round(w * s))), max(2, int(round(h * s))))
        return cv2.resize(img, size, interpolation=cv2.INTER_AREA), w / float(size[0])

    def update(self, image: np.ndarray, boxes: np.ndarray, pixel_scale: float = 1.0) -> None:
        """Track into the next frame.

        image: the frame, (h, w, 3) uint8 RGB or (h, w) uint8 grey, any size (downscaled here
        to ``max_side`` when larger); boxes: (N, 4) [x0, y0, x1, y1] of the people in
        displayed-frame pixels; pixel_scale: displayed-frame pixels per ``image`` pixel.
        """
        grey, s = self.grey(image)
        scale = s * pixel_scale
        pos = self.frames
        self.frames += 1
        if not self._still or self.config.still_stride <= 1 or self._prev is None:
            self._step(grey, boxes, scale, pos)
            return
        self._pending.append((pos, grey, boxes, scale))
        if len(self._pending) < self.config.still_stride:
            return                                   # skipped for now (kept for a replay)
        saved = self._save()
        if self._step(grey, boxes, scale, pos):
            self._untracked.extend(p for p, *_ in self._pending[:-1])
            self._pending = []
            return
        # The view moved: undo the frame tracked across the gap and track every frame since
        # the last tracked one through the ordinary per-frame path (exactly what tracking every
        # frame from there gives), and every frame from now on.
        self._restore(saved)
        self._still = False
        pending, self._pending = self._pending, []
        for p, g, b, sc in pending:
            self._step(g, b, sc, p)

    @property
    def untracked(self) -> list[int]:
        """Frames never tracked (skipped on a still view, ``still_stride``); they have no
        matches and ``camera_motion.solve_camera_motion`` interpolates them."""
        return sorted(self._untracked + [p for p, *_ in self._pending])

    def _save(self) -> tuple:
        return (self._prev, self._key_pts, self._cur_pts, self._key, self._key_from_first,
                list(self._memory), len(self.matches), len(self.links), len(self.keyframes),
                self._scale)

    def _restore(self, saved: tuple) -> None:
        (self._prev, self._key_pts, self._cur_pts, self._key, self._key_from_first,
         self._memory, n_matches, n_links, n_keyframes, self._scale) = saved
        del self.matches[n_matches:], self.links[n_links:], self.keyframes[n_keyframes:]

    def _step(self, grey: np.ndarray, boxes: np.ndarray, scale: float, pos: int) -> bool:
        """Track the frame ``pos`` (grey at tracking resolution) from the previous tracked
        one; True when it shows a still view (``still_px``)."""
        cfg = self.config
        self._scale = scale
        mask = self._background_mask(grey.shape, boxes)
        if self._prev is None or len(self._cur_pts) == 0:
            if self._prev is not None:
                self._key_from_first = None          # the chain broke: nothing to predict with
            self._new_keyframe(grey, mask, pos)
            self._prev = grey
            return False
        key, cur = self._track(self._prev, grey, mask)
        self._prev = grey
        spread = np.inf
        H = None
        if len(cur) >= 8:
            H, inl = cv2.findHomography(key, cur, cv2.RANSAC, cfg.ransac_px)
            if H is not None and inl is not None:
                keep = inl.ravel().astype(bool)
                key, cur = key[keep], cur[keep]
                mapped = cv2.perspectiveTransform(key.reshape(-1, 1, 2), H).reshape(-1, 2)
                spread = float(np.sqrt(np.mean(np.sum((mapped - cur) ** 2, axis=1))))
        still = H is not None and np.isfinite(spread) and len(cur) >= 8 \
            and self._is_still(key, cur, H)
        self._key_pts, self._cur_pts = key, cur
        if len(cur) >= 8 and np.isfinite(spread):
            idx = np.linspace(0, len(cur) - 1, min(len(cur), cfg.keep)).round().astype(int)
            self.matches.append(FrameMatches(
                frame=pos, keyframe=self._key,
                key_points=(key[idx] * self._scale).astype(np.float32),
                points=(cur[idx] * self._scale).astype(np.float32), spread_px=spread))
        if len(cur) < cfg.min_points or self._spread(cur, grey.shape) < cfg.min_spread:
            if H is None or not np.isfinite(spread) or self._key_from_first is None:
                self._key_from_first = None
            else:
                self._key_from_first = H @ self._key_from_first
            self._new_keyframe(grey, mask, pos, survivors=cur)
            self._anchor(grey, mask, pos)
        return still

    def _is_still(self, key: np.ndarray, cur: np.ndarray, H: np.ndarray) -> bool:
        """The surviving points (N, 2) lie within ``still_px`` (median) of their keyframe
        positions (tracking px), and so do the positions the RANSAC homography ``H`` (keyframe
        -> frame) maps them to. Distances, not vectors: a roll or zoom about the frame's
        centre moves most points too. (The homography is judged at the points, where it is
        supported: extrapolated to the frame's corners it is off by ~1 px on still footage.)"""
        limit = self.config.still_px
        if float(np.median(np.linalg.norm(cur - key, axis=1))) >= limit:
            return False
        mapped = cv2.perspectiveTransform(key.reshape(-1, 1, 2).astype(np.float64), H)
        return float(np.median(np.linalg.norm(mapped.reshape(-1, 2) - key, axis=1))) < limit

    def _background_mask(self, shape: tuple[int, ...], boxes: np.ndarray) -> np.ndarray:
        mask = np.full(shape[:2], 255, np.uint8)
        h, w = shape[:2]
        for box in np.asarray(boxes, float).reshape(-1, 4):
            if not np.all(np.isfinite(box)) or box[2] <= box[0] or box[3] <= box[1]:
                continue
            b = box / self._scale
            mx = self.config.person_margin * (b[2] - b[0])
            my = self.config.person_margin * (b[3] - b[1])
            x0, y0 = int(max(0, b[0] - mx)), int(max(0, b[1] - my))
            x1, y1 = int(min(w, np.ceil(b[2] + mx))), int(min(h, np.ceil(b[3] + my)))
            mask[y0:y1, x0:x1] = 0
        return mask

    def _new_keyframe(self, grey: np.ndarray, mask: np.ndarray, pos: int,
                      survivors: np.ndarray | None = None) -> None:
        cfg = self.config
        kept = np.zeros((0, 2), np.float32) if survivors is None else survivors
        pts = cv2.goodFeaturesToTrack(grey, cfg.max_corners, cfg.quality, cfg.min_distance,
                                      mask=mask)
        new = np.zeros((0, 2), np.float32) if pts is None else pts.reshape(-1, 2)
        if len(kept) and len(new):
            d = np.min(np.linalg.norm(new[:, None] - kept[None], axis=-1), axis=1)
            new = new[d >= cfg.min_distance]
        pts = np.concatenate([kept, new]).astype(np.float32)[:cfg.max_corners]
        self._key_pts = pts.copy()
        self._cur_pts = pts.copy()
        self._key = pos
        self.keyframes.append(pos)
        if self._key_from_first is not None and len(pts) >= self.config.anchor_min_points:
            self._memory.append((pos, grey, pts.copy(), self._key_from_first.copy()))
            if len(self._memory) > self.config.anchor_memory + 1:
                del self._memory[1]                    # the first keyframe is always kept

    def _anchor(self, grey: np.ndarray, mask: np.ndarray, pos: int) -> None:
        """Match the new keyframe ``pos`` to the oldest remembered keyframe (not the previous
        one, already chained) that the chained homographies say it overlaps."""
        cfg = self.config
        if self._key_from_first is None or len(self.keyframes) < 3:
            return
        previous = self.keyframes[-2]
        h, w = grey.shape
        for old_pos, old_grey, old_pts, old_from_first in self._memory:
            if old_pos >= previous:
                break
            predict = self._key_from_first @ np.linalg.inv(old_from_first)
            guess = cv2.perspectiveTransform(old_pts.reshape(-1, 1, 2), predict).reshape(-1, 2)
            inside = (guess[:, 0] >= 0) & (guess[:, 1] >= 0) & (guess[:, 0] < w - 1) \
                & (guess[:, 1] < h - 1)
            if inside.mean() < cfg.anchor_overlap:
                continue
            p0 = old_pts[inside].reshape(-1, 1, 2)
            p1 = guess[inside].astype(np.float32).reshape(-1, 1, 2)
            p1, st, _ = cv2.calcOpticalFlowPyrLK(old_grey, grey, p0, p1.copy(),
                                                 flags=cv2.OPTFLOW_USE_INITIAL_FLOW, **self._lk)
            p0, p1 = p0.reshape(-1, 2), p1.reshape(-1, 2)
            ok = st.ravel() == 1
            xi = np.clip(p1[:, 0], 0, w - 1).astype(int)
            yi = np.clip(p1[:, 1], 0, h - 1).astype(int)
            ok &= mask[yi, xi] > 0
            p0, p1 = p0[ok], p1[ok]
            if len(p1) < cfg.anchor_min_points:
                return
            H, inl = cv2.findHomography(p0, p1, cv2.RANSAC, cfg.ransac_px)
            if H is None or inl is None or int(inl.sum()) < cfg.anchor_min_points:
                return
            keep = inl.ravel().astype(bool)
            p0, p1 = p0[keep], p1[keep]
            mapped = cv2.perspectiveTransform(p0.reshape(-1, 1, 2), H).reshape(-1, 2)
            spread = float(np.sqrt(np.mean(np.sum((mapped - p1) ** 2, axis=1))))
            self.links.append(KeyframeLink(
                keyframe=pos, anchor=old_pos,
                anchor_points=(p0 * self._scale).astype(np.float32),
                points=(p1 * self._scale).astype(np.float32), spread_px=spread))
            return

    def _track(self, prev: np.ndarray, grey: np.ndarray,
               mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """LK prev -> grey (optionally checked backward); drops points in a person's box."""
        p0 = self._cur_pts.reshape(-1, 1, 2)
        p1, st, _ = cv2.calcOpticalFlowPyrLK(prev, grey, p0, None, **self._lk)
        ok = st.ravel() == 1
        if self.config.forward_backward:
            back, st_b, _ = cv2.calcOpticalFlowPyrLK(grey, prev, p1, None, **self._lk)
            ok &= st_b.ravel() == 1
            ok &= np.linalg.norm(back.reshape(-1, 2) - p0.reshape(-1, 2), axis=1) \
                < self.config.fb_max_px
        p0, p1 = p0.reshape(-1, 2), p1.reshape(-1, 2)
        h, w = grey.shape
        x, y = p1[:, 0], p1[:, 1]
        inside = (x >= 0) & (y >= 0) & (x < w - 1) & (y < h - 1)
        ok &= inside
        xi = np.clip(x, 0, w - 1).astype(int)
        yi = np.clip(y, 0, h - 1).astype(int)
        ok &= mask[yi, xi] > 0
        return self._key_pts[ok], p1[ok].astype(np.float32)

    @staticmethod
    def _spread(points: np.ndarray, shape: tuple[int, ...]) -> float:
        if len(points) < 2:
            return 0.0
        span = points.max(0) - points.min(0)
        return float(span[0] * span[1] / (shape[0] * shape[1]))
