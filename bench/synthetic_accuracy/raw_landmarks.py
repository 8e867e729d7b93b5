"""The raw MediaPipe baseline: the very landmarks our solver consumes, before any fitting.

Runs the backend's own decode + detect + track stage (``inference_backend.pipeline.observe``,
the pose models of the mediapipe wheel through ``detection.py``'s default graph, same
DetectionConfig/TrackingConfig defaults as ``capture``) and keeps the track that best matches the ground-truth 2D joints.
Cached as an npz so metrics can be recomputed without re-running mediapipe.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from metrics import COMPARE_JOINTS

#: MediaPipe BlazePose landmark index for each of ``metrics.COMPARE_JOINTS`` (subject's side).
MP_INDEX: dict[str, int] = {
    "left_shoulder": 11, "right_shoulder": 12, "left_elbow": 13, "right_elbow": 14,
    "left_wrist": 15, "right_wrist": 16, "left_hip": 23, "right_hip": 24,
    "left_knee": 25, "right_knee": 26, "left_ankle": 27, "right_ankle": 28,
}
MP_COMPARE: tuple[int, ...] = tuple(MP_INDEX[n] for n in COMPARE_JOINTS)


def run_observe(video: Path) -> dict[str, np.ndarray]:
    """All tracks of ``video`` as arrays: image (T, F, 33, 3), world (T, F, 33, 3), present (T, F),
    timestamps (F,), frame_indices (F,), track_ids (T,)."""
    import inspect  # noqa: PLC0415

    from inference_backend.config import CaptureConfig  # noqa: PLC0415
    from inference_backend.pipeline import observe  # noqa: PLC0415
    from inference_backend.video_io import probe_video  # noqa: PLC0415

    cfg = CaptureConfig(video=video.resolve(), output=video.with_suffix(".unused.npz"))
    first = next(iter(inspect.signature(observe).parameters))
    source = probe_video(cfg.video) if first == "probe" else cfg.video
    obs = observe(source, cfg.decode_config(), cfg.max_people, lambda *a: None,
                  lambda: False, tracking=cfg.tracking_config(),
                  detection=cfg.detection_config())
    return {
        "image": np.stack([t.image_landmarks for t in obs.tracks]).astype(np.float32),
        "world": np.stack([t.world_landmarks for t in obs.tracks]).astype(np.float32),
        "present": np.stack([t.present for t in obs.tracks]),
        "timestamps": obs.timestamps, "frame_indices": obs.frame_indices,
        "track_ids": np.array([t.track_id for t in obs.tracks], np.int64),
    }


def load_or_run(video: Path, cache: Path, rerun: bool = False) -> dict[str, np.ndarray]:
    """Cached ``run_observe`` (recomputed when the video is newer than the cache)."""
    if cache.is_file() and not rerun and cache.stat().st_mtime >= video.stat().st_mtime:
        with np.load(cache, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    out = run_observe(video)
    tmp = cache.with_name(cache.stem + ".partial.npz")
    np.savez(tmp, **out)
    os.replace(tmp, cache)
    return out


def best_track(raw: dict[str, np.ndarray], gt_uv: np.ndarray) -> int:
    """Index of the track whose image landmarks are closest to the ground-truth 2D joints.

    gt_uv: (F_gt, 12, 2) pixels of ``COMPARE_JOINTS``, indexed by decoded frame index.
    """
    frames = raw["frame_indices"]
    best, best_cost = 0, np.inf
    for k in range(len(raw["track_ids"])):
        ok = raw["present"][k] & (frames < len(gt_uv))
        if not ok.any():
            continue
        uv = raw["image"][k][ok][:, MP_COMPARE, :2]
        cost = np.linalg.norm(uv - gt_uv[frames[ok]], axis=-1).mean() - 1e-3 * ok.sum()
        if cost < best_cost:
            best, best_cost = k, cost
    return best
