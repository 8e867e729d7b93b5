"""Capture with cached observations: detection runs once per video, the solver on every call.

``capture(video, output, cache, **options)`` is ``python -m inference_backend capture`` with
the decode + detect + track result (``pipeline.observe``) stored in ``cache`` (an .npz of plain
arrays, no pickle) and reused while the video is unchanged; it writes the same motion file.
Detection dominates a capture's time on the shared CPU, so sweeps of solver settings and
benchmarks of many clips re-use it. Not part of the product.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np


def observe_cached(video: Path, cache: Path, tta: str = "none", max_people: int | None = None):
    """``(tracks, VideoInfo, timestamps, frame_indices, warnings)`` of ``video``, from ``cache``
    when it is newer than the video, else by running the backend's observe stage (with the
    detector's test-time augmentation ``tta``, ``--tta``, and ``--max-people`` when given; the
    cache does not record them: use one cache file per setting)."""
    from inference_backend.motion_types import TrackObservations, VideoInfo  # noqa: PLC0415

    if not (cache.is_file() and cache.stat().st_mtime >= video.stat().st_mtime):
        from inference_backend.config import CaptureConfig  # noqa: PLC0415
        from inference_backend.pipeline import observe  # noqa: PLC0415
        from inference_backend.video_io import probe_video  # noqa: PLC0415

        tta_opt = {} if tta == "none" else {"tta": tta}     # older checkouts lack it
        if max_people is not None:
            tta_opt["max_people"] = max_people
        cfg = CaptureConfig(video=video.resolve(), output=video.with_suffix(".unused.npz"),
                            **tta_opt)
        obs = observe(probe_video(cfg.video), cfg.decode_config(), cfg.max_people,
                      lambda *a: None, lambda: False, tracking=cfg.tracking_config(),
                      detection=cfg.detection_config())
        arrays = {
            "image": np.stack([t.image_landmarks for t in obs.tracks]),
            "world": np.stack([t.world_landmarks for t in obs.tracks]),
            "present": np.stack([t.present for t in obs.tracks]),
            "boxes": np.stack([t.boxes for t in obs.tracks]),
            "track_ids": np.array([t.track_id for t in obs.tracks], np.int64),
            "timestamps": obs.timestamps, "frame_indices": obs.frame_indices,
            "info": np.array(json.dumps(asdict(obs.probe.info))),
            "warnings": np.array(json.dumps(list(obs.warnings))),
        }
        tmp = cache.with_name(cache.stem + ".partial.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, cache)
    with np.load(cache, allow_pickle=False) as d:
        tracks = [TrackObservations(int(tid), d["image"][k], d["world"][k], d["present"][k],
                                    d["boxes"][k]) for k, tid in enumerate(d["track_ids"])]
        info = VideoInfo(**json.loads(str(d["info"])))
        return (tracks, info, d["timestamps"], d["frame_indices"],
                tuple(json.loads(str(d["warnings"]))))


def lines_fov(video: Path, tracks, frame_indices: np.ndarray | None = None):
    """The field of view (deg) the background's straight lines give (the capture's
    ``vanishing_points.FrameSampler`` fed with the decoded frames and the tracks' boxes), or
    None when not observable; also the ``LineFocal`` and the seconds it took (decode excluded).
    None, None, 0 on a checkout without it."""
    import time  # noqa: PLC0415

    try:
        from inference_backend.vanishing_points import FrameSampler  # noqa: PLC0415
    except ImportError:   # an older checkout
        return None, None, 0.0
    from inference_backend.config import CaptureConfig  # noqa: PLC0415
    from inference_backend.video_io import DecodeReport, iter_frames, probe_video  # noqa: PLC0415

    cfg = CaptureConfig(video=video.resolve(), output=video.with_suffix(".unused.npz"))
    sampler = FrameSampler()
    probe = probe_video(cfg.video)
    if hasattr(sampler, "expect"):   # as the capture's decode pass does
        sampler.expect(probe.info.num_frames)
    spent = 0.0
    for pos, frame in enumerate(iter_frames(probe, cfg.decode_config(),
                                            DecodeReport(), lambda: False)):
        boxes = np.array([t.boxes[pos] for t in tracks if pos < len(t.present) and t.present[pos]],
                         float).reshape(-1, 4)
        t0 = time.perf_counter()
        sampler.add(pos, frame.rgb, boxes, frame.scale)
        spent += time.perf_counter() - t0
    t0 = time.perf_counter()
    found = sampler.estimate()
    spent += time.perf_counter() - t0
    if hasattr(sampler, "close"):
        sampler.close()
    return (found.fov_x_deg if found.observable else None), found, spent


def capture(video: Path, output: Path, cache: Path, fov: float | None = None,
            smoothing: str = "medium", scene=None, heights: str | None = None,
            tta: str = "none") -> dict:
    """Solve the cached observations of ``video`` into the motion file ``output`` (the CLI's
    defaults otherwise; ``scene``: a ``SceneConfig`` to use instead of the default); returns
    the file's header."""
    from inference_backend import pipeline  # noqa: PLC0415
    from inference_backend.config import CaptureConfig  # noqa: PLC0415
    from inference_backend.export import write_motion_file  # noqa: PLC0415
    from inference_backend.solvers import SolveInput  # noqa: PLC0415

    tracks, info, timestamps, frame_indices, warnings = observe_cached(video, cache, tta)
    from_lines = lines_fov(video, tracks)[0] if fov is None else None
    sized = {} if heights is None else {"subject_heights": heights}   # older checkouts lack it
    config = CaptureConfig(video=video.resolve(), output=output.resolve(), fov_deg=fov,
                           smoothing=smoothing, **sized)
    # The pipeline's own steps after observe (pipeline.run_capture).
    solver = pipeline.load_solver(config)
    if scene is None:
        scene = (pipeline.scene_config_for(config) if hasattr(pipeline, "scene_config_for")
                 else pipeline.SceneConfig(smoothing=smoothing))   # an older checkout

    observed = (SolveInput(info, tuple(tracks), timestamps, None, from_lines)
                if from_lines is not None else SolveInput(info, tuple(tracks), timestamps))
    solution = pipeline.solve_scene(solver, observed, scene,
                                    lambda *a: None)
    extras = {"solver": {"name": solver.name, "version": solver.version, "models": {}},
              "smoothing": smoothing, "warnings": list(warnings)}
    return write_motion_file(config.output, solution, info, timestamps, frame_indices, extras)
