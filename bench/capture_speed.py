"""Capture speed vs the bare detector, measured side by side in one process.

    python bench/capture_speed.py [VIDEO] [--max-people N] [--repeats R]

detector loop = decode (PyAV, the same streaming reader) + PoseLandmarker.detect_for_video with
the same num_poses as the capture; capture = pipeline.run_capture (decode, detect, track, solve,
smooth, write). Each is run R times, alternating, and the best time of each is used (the machine
is shared). The capture decodes in a background thread (``video_io.prefetch``) so decoding
overlaps detection; the bare loop decodes inline, as the plain reference. Per-run stage times of
the capture are printed on stderr. Prints ``detector_fps=... capture_fps=... ratio=<capture fps / detector fps>``;
target ratio >= 0.85 on CPU.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def detector_loop(video: Path, max_people: int) -> tuple[int, float]:
    from inference_backend.config import DecodeConfig, DetectionConfig
    from inference_backend.detection import PoseDetector
    from inference_backend.video_io import iter_frames, probe_video

    start = time.perf_counter()
    probe = probe_video(video)
    frames = 0
    with PoseDetector(DetectionConfig(max_people=max_people)) as detector:
        for frame in iter_frames(probe, DecodeConfig()):
            detector.detect(frame.rgb, frame.time, probe.info.width, probe.info.height)
            frames += 1
    return frames, time.perf_counter() - start


def full_capture(video: Path, max_people: int, out: Path) -> tuple[int, float, dict[str, float]]:
    """(frames, seconds, seconds spent per stage, from the first progress event of a stage to
    the first of the next; "setup" is the time before the first frame is detected)."""
    from inference_backend.config import CaptureConfig
    from inference_backend.pipeline import run_capture
    from inference_backend.progress import ProgressReporter

    marks: list[tuple[str, float]] = []

    class StageClock(ProgressReporter):
        def progress(self, stage: str, done: int, total: int) -> None:
            if not marks or marks[-1][0] != stage:
                marks.append((stage, time.perf_counter()))

    start = time.perf_counter()
    result = run_capture(
        CaptureConfig(video=video.absolute(), output=out, max_people=max_people), StageClock()
    )
    end = time.perf_counter()
    stages = {"setup": marks[0][1] - start if marks else 0.0}
    for (name, t0), (_, t1) in zip(marks, [*marks[1:], ("end", end)], strict=True):
        stages[name] = stages.get(name, 0.0) + t1 - t0
    return result.frames, end - start, stages


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", type=Path,
                        default=REPO / "assets" / "sample" / "two_people_backlit.mp4")
    parser.add_argument("--max-people", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("STR_MOCAP_CACHE", str(Path(tmp) / "cache"))
        out = Path(tmp) / "bench.npz"
        full_capture(args.video, args.max_people, out)  # warm-up: bundle, imports, JIT caches
        det, cap = [], []
        for _ in range(args.repeats):
            n_det, t_det = detector_loop(args.video, args.max_people)
            n_cap, t_cap, stages = full_capture(args.video, args.max_people, out)
            det.append(n_det / t_det)
            cap.append(n_cap / t_cap)
            split = " ".join(f"{k}={v:.2f}" for k, v in stages.items())
            print(f"  run: detector {n_det} frames {t_det:.2f} s; capture {n_cap} frames "
                  f"{t_cap:.2f} s ({split})", file=sys.stderr)
    detector_fps, capture_fps = max(det), max(cap)
    print(f"detector_fps={detector_fps:.2f} capture_fps={capture_fps:.2f} "
          f"ratio={capture_fps / detector_fps:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
