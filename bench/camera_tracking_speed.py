"""Cost of the camera tracking relative to the capture's per-frame work, side by side.

    python bench/camera_tracking_speed.py [VIDEO] [--height 1080] [--frames 90]

VIDEO (default: the bundled sample clip) is rescaled to ``--height`` (1080p by default, aspect
kept) and written once to a temporary H.264 file, so the numbers are for a real decode of that
size. Then, in one loop over the decoded frames (the capture's own streaming reader and
detector), each frame is timed through (a) the pose detector (what the capture does per frame)
and (b) ``camera_tracking.BackgroundTracker.update`` on the decoder's grey copy with the
detector's boxes (what the moving-camera support adds), interleaved so both see the same
machine load. The grey copy's own cost is measured by decoding the clip with and without it
(twice each, alternating). Prints per-frame milliseconds and
``tracking_share=<(tracking + grey copy) / (decode + detect + tracking)>``; the target is
<= 0.15 at 1080p.

``--captures R`` also runs the whole capture (``pipeline.run_capture``) of the rescaled clip R
times each with ``--camera auto`` and ``--camera static``, alternating, and prints the best
wall time of each and ``capture_overhead=<auto / static - 1>`` (tracking, the camera stage and
the focal length from the camera's turning, end to end).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def rescale_video(src: Path, dst: Path, height: int, frames: int) -> Path:
    """Write the first ``frames`` frames of ``src`` rescaled to ``height`` rows as H.264."""
    import av
    import cv2

    from inference_backend.video_io import iter_frames, probe_video

    probe = probe_video(src)
    width = int(round(probe.info.width * height / probe.info.height)) // 2 * 2
    with av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=30, options={"crf": "20"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i, frame in enumerate(iter_frames(probe)):
            if i >= frames:
                break
            big = cv2.resize(frame.rgb, (width, height), interpolation=cv2.INTER_CUBIC)
            vf = av.VideoFrame.from_ndarray(big, format="rgb24")
            vf.pts, vf.time_base = i, Fraction(1, 30)
            for packet in stream.encode(vf):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return dst


def measure(video: Path, max_people: int) -> dict[str, float]:
    from inference_backend.camera_tracking import BackgroundTracker
    from inference_backend.config import DecodeConfig, DetectionConfig
    from inference_backend.detection import PoseDetector
    from inference_backend.video_io import iter_frames, probe_video

    probe = probe_video(video)
    info = probe.info
    tracker = BackgroundTracker()
    # Decoding alone, with and without the tracker's grey copy (made by the decoder's scaler).
    plain_s = grey_s = 0.0
    for with_grey in (False, True, False, True):
        t0 = time.perf_counter()
        for _ in iter_frames(probe, DecodeConfig(track_max_side=512 if with_grey else 0)):
            pass
        dt = time.perf_counter() - t0
        plain_s, grey_s = (plain_s + dt, grey_s) if not with_grey else (plain_s, grey_s + dt)
    decode_s = detect_s = track_s = 0.0
    n = 0
    frames = iter_frames(probe, DecodeConfig(track_max_side=tracker.config.max_side))
    with PoseDetector(DetectionConfig(max_people=max_people)) as detector:
        while True:
            t0 = time.perf_counter()
            frame = next(frames, None)
            t1 = time.perf_counter()
            if frame is None:
                break
            dets = detector.detect(frame.rgb, frame.time, info.width, info.height)
            t2 = time.perf_counter()
            boxes = np.array([d.box for d in dets], float).reshape(-1, 4)
            tracker.update(frame.grey, boxes, frame.grey_scale)
            t3 = time.perf_counter()
            decode_s += t1 - t0
            detect_s += t2 - t1
            track_s += t3 - t2
            n += 1
    grey_ms = 1000 * max(grey_s - plain_s, 0.0) / 2 / n
    total = decode_s + detect_s + track_s
    return {"frames": n, "width": info.width, "height": info.height,
            "decode_ms": 1000 * decode_s / n, "detect_ms": 1000 * detect_s / n,
            "track_ms": 1000 * track_s / n, "grey_ms": grey_ms,
            "tracking_share": (track_s + grey_ms * n / 1000) / total,
            "keyframes": len(tracker.keyframes), "matched_frames": len(tracker.matches)}


def capture_seconds(video: Path, camera: str, out: Path) -> float:
    from inference_backend.config import CaptureConfig
    from inference_backend.pipeline import run_capture
    from inference_backend.progress import ProgressReporter

    start = time.perf_counter()
    run_capture(CaptureConfig(video=video.absolute(), output=out, camera=camera),
                ProgressReporter())
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video", nargs="?", type=Path,
                    default=REPO / "assets" / "sample" / "two_people_backlit.mp4")
    ap.add_argument("--height", type=int, default=1080, help="rescale to this many rows (0 = as is)")
    ap.add_argument("--frames", type=int, default=90)
    ap.add_argument("--max-people", type=int, default=2)
    ap.add_argument("--captures", type=int, default=0,
                    help="also time R whole captures with --camera auto and static each")
    args = ap.parse_args(argv)
    best = {"auto": float("inf"), "static": float("inf")}
    with tempfile.TemporaryDirectory() as tmp:
        video = args.video
        if args.height:
            video = rescale_video(args.video, Path(tmp) / "scaled.mp4", args.height, args.frames)
        r = measure(video, args.max_people)
        for _ in range(args.captures):
            for camera in best:
                seconds = capture_seconds(video, camera, Path(tmp) / f"{camera}.npz")
                best[camera] = min(best[camera], seconds)
    print(f"{r['frames']} frames at {r['width']}x{r['height']}: decode {r['decode_ms']:.1f} ms, "
          f"detect {r['detect_ms']:.1f} ms, camera tracking {r['track_ms']:.1f} ms + grey copy "
          f"{r['grey_ms']:.1f} ms (in the decoder) per frame "
          f"({r['keyframes']} keyframes, {r['matched_frames']} frames matched)")
    print(f"tracking_share={r['tracking_share']:.3f} track_ms={r['track_ms']:.2f} "
          f"detect_ms={r['detect_ms']:.2f} decode_ms={r['decode_ms']:.2f}")
    if args.captures:
        print(f"whole capture, best of {args.captures}: --camera auto {best['auto']:.1f} s, "
              f"--camera static {best['static']:.1f} s; "
              f"capture_overhead={best['auto'] / best['static'] - 1.0:.3f}")
    print(f"machine: {os.cpu_count()} CPUs, 1-min load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
