"""Peak memory of a capture of a 10-minute video vs a 10-second one (same content and rate).

    python bench/capture_memory.py [--minutes 10] [--seconds 10] [--fps 30] [--width 640]

What it does, exactly: it builds two H.264 videos with PyAV by looping the frames of the bundled
sample clip (two people), resized to ``--width`` (640x360 by default) and resampled to ``--fps``
(30 fps by default, the clip's own rate: 18000 frames for 10 minutes; ``--fps 5`` takes every
6th frame, 3000 frames, a quicker run whose per-frame growth shows over 6x fewer frames), one
``--minutes`` long, one ``--seconds`` long. Each is captured for real (decode, mediapipe
detection of every frame, tracking, default solver, write) by ``python -m inference_backend
capture`` in a child process that reports its own peak RSS (``resource.getrusage``). At 30 fps
the 10-minute capture takes about 7-20 minutes on a shared 2-core CPU (mostly detection).
Prints ``long_mb=... short_mb=... ratio=<long/short> plumbing_ratio=...`` (target <= 1.3); the
plumbing ratio is the same measure taken when the solver starts (decode + detect + track only),
which separates this module's growth from the solver's. POSIX only.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "assets" / "sample" / "two_people_backlit.mp4"

# Child process: run the capture in-process and report the peak RSS twice: when the "solve"
# stage starts (decode + detect + track so far: the capture plumbing) and at the end.
_MEASURE = """
import resource, sys
from pathlib import Path
from inference_backend.config import CaptureConfig
from inference_backend.pipeline import run_capture
from inference_backend.progress import ProgressReporter

def peak_kb():
    # VmHWM is this address space's own peak; on Linux ru_maxrss also carries the forking
    # parent's high-water mark across exec, so prefer VmHWM where /proc exists
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

class Probe(ProgressReporter):
    before_solve = 0
    def progress(self, stage, done, total):
        if stage == "solve" and not self.before_solve:
            self.before_solve = peak_kb()

probe = Probe()
video, out = Path(sys.argv[1]), Path(sys.argv[2])
run_capture(CaptureConfig(video=video.absolute(), output=out.absolute(), max_people=2), probe)
print("PEAKS_KB", probe.before_solve, peak_kb(), file=sys.stderr)
"""


def loop_frames(width: int, fps: int) -> list[np.ndarray]:
    import av
    import cv2

    step = max(1, round(30 / fps))
    frames = []
    with av.open(str(SAMPLE)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % step == 0:
                rgb = frame.to_ndarray(format="rgb24")
                height = int(round(rgb.shape[0] * width / rgb.shape[1])) // 2 * 2
                frames.append(cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA))
    return frames


def write_looped(path: Path, frames: list[np.ndarray], fps: int, seconds: float) -> int:
    import av

    total = int(round(seconds * fps))
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "g": "50"})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        for i in range(total):
            # play the clip forwards then backwards so the people move continuously
            cycle = 2 * len(frames) - 2
            k = i % cycle
            rgb = frames[k if k < len(frames) else cycle - k]
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return total


def capture_peak_mb(video: Path, out: Path) -> tuple[float, float, float]:
    """(peak MB before the solver starts, peak MB of the whole capture, seconds)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    cmd = [sys.executable, "-c", _MEASURE, str(video), str(out)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"capture of {video.name} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("PEAKS_KB")][-1]
    before_solve, total = (int(v) / 1024.0 for v in line.split()[1:3])
    return before_solve, total, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fps", type=int, default=30,
                        help="frame rate of both videos (30: the clip's own; 5: a quick run)")
    parser.add_argument("--width", type=int, default=640)
    args = parser.parse_args()
    frames = loop_frames(args.width, args.fps)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ.setdefault("STR_MOCAP_CACHE", str(folder / "cache"))
        n_short = write_looped(folder / "short.mp4", frames, args.fps, args.seconds)
        n_long = write_looped(folder / "long.mp4", frames, args.fps, args.minutes * 60)
        short_obs, short_mb, short_s = capture_peak_mb(folder / "short.mp4", folder / "short.npz")
        long_obs, long_mb, long_s = capture_peak_mb(folder / "long.mp4", folder / "long.npz")
    frames = max(1, n_long - n_short)
    print(f"  short: {n_short} frames {short_s:.1f} s; long: {n_long} frames {long_s:.1f} s",
          file=sys.stderr)
    print(f"  decode+detect+track only: long_mb={long_obs:.1f} short_mb={short_obs:.1f} "
          f"ratio={long_obs / short_obs:.3f} growth={(long_obs - short_obs) * 1024 / frames:.2f} "
          f"kB/frame", file=sys.stderr)
    print(f"  whole capture growth={(long_mb - short_mb) * 1024 / frames:.2f} kB/frame",
          file=sys.stderr)
    print(f"long_mb={long_mb:.1f} short_mb={short_mb:.1f} ratio={long_mb / short_mb:.3f} "
          f"plumbing_ratio={long_obs / short_obs:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
