"""Batch capture scaling on this machine: 1 vs 2 Ray workers, and Ray's per-video overhead
against a plain loop of ``capture`` commands, on the same clips, measured side by side.

    python bench/batch_scaling.py [--clips 8] [--frames 90] [--size 960x540] [--keep DIR]
        [--repeats R] [--no-pin-cores]

Clips: ``--clips`` excerpts of ``--frames`` frames cut from the bundled sample at different
offsets (re-encoded H.264, ``--size``). Runs, one after the other (batches via the real CLI):
  loop       ``python -m inference_backend capture`` once per clip (a new process each: what a
             shell loop does; decoder/BLAS threads as the library picks them)
  one proc   one Python process importing the backend once and calling ``run_capture`` per
             clip (no Ray, no process per video: Ray's own cost is the batch minus this)
  batch 1x   ``batch --workers 1 --cpus-per-task C`` (C = this machine's cores: one video at a
             time with the whole machine, the like-for-like comparison with the loop)
  batch 2w   ``batch --workers 2 --cpus-per-task 1`` and ``batch --workers 1 --cpus-per-task 1``
             (the scaling pair: same per-task resources, one vs two at once)
Each batch starts and stops its own local Ray runtime (the default); the bench timestamps the
JSON-line events, so the runtime's start-up/shut-down is reported apart from the video work.
Prints the 1 -> 2 worker throughput ratio (target >= 1.6 on 2 cores) and the per-video
overhead of Ray vs the loop (target <= 10 %), with and without the runtime start-up, vs one
process capturing the clips in turn, and the marginal cost of each further video (time per
video after the first, batch vs one process). With ``--repeats R`` every configuration runs R
times, interleaved, and the best of each is used. About 3 minutes per repeat on an idle 2-core
machine with the defaults.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "assets" / "sample" / "two_people_backlit.mp4"


def make_clips(folder: Path, count: int, frames: int, size: tuple[int, int]) -> list[Path]:
    """``count`` clips of ``frames`` frames from the sample, at spread-out start offsets."""
    import av
    import cv2
    import numpy as np

    with av.open(str(SAMPLE)) as container:
        source = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    span = max(0, len(source) - frames)
    paths = []
    for i in range(count):
        offset = (span * i) // max(1, count - 1) if count > 1 else 0
        chunk = source[offset:offset + frames]
        path = folder / f"clip{i:02d}.mp4"
        with av.open(str(path), "w") as out:
            stream = out.add_stream("libx264", rate=30)
            stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
            stream.codec_context.time_base = Fraction(1, 30)
            for k, rgb in enumerate(chunk):
                img = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
                frame.pts, frame.time_base = k, Fraction(1, 30)
                for packet in stream.encode(frame):
                    out.mux(packet)
            for packet in stream.encode():
                out.mux(packet)
        paths.append(path)
    return paths


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("GLOG_minloglevel", "2")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    return env


def run_loop(clips: list[Path], out: Path) -> tuple[float, list[str]]:
    """(seconds, names of the clips whose capture failed: they cost time in both runs)."""
    out.mkdir(parents=True, exist_ok=True)
    failed = []
    start = time.perf_counter()
    for clip in clips:
        cmd = [sys.executable, "-m", "inference_backend", "capture", str(clip), "-o",
               str(out / f"{clip.name}.npz"), "--progress", "none"]
        proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True)
        if proc.returncode != 0:
            failed.append(clip.name)
            last = (proc.stderr.strip().splitlines() or ["?"])[-1]
            print(f"warning: capture of {clip.name} failed ({proc.returncode}): {last}",
                  flush=True)
    return time.perf_counter() - start, failed


_IN_PROCESS = """
import sys, time
from pathlib import Path
start = time.perf_counter()
from inference_backend.config import CaptureConfig
from inference_backend.pipeline import run_capture
out = Path(sys.argv[1])
for clip in sys.argv[2:]:
    try:
        run_capture(CaptureConfig(video=Path(clip), output=out / (Path(clip).name + ".npz")))
    except Exception:  # a failing clip costs its time here too, as in the other runs
        pass
    print("clip", time.perf_counter() - start, flush=True)
print(time.perf_counter() - start)
"""


def run_in_process_loop(clips: list[Path], out: Path) -> tuple[float, float]:
    """(seconds, steady seconds per clip) of one process that imports the backend once and
    captures every clip in turn: the work without Ray and without a process per video. The
    steady time per clip is (last finish - first finish) / (clips - 1): no start-up in it."""
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, "-c", _IN_PROCESS, str(out), *map(str, clips)],
                          env=_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"in-process loop failed: {proc.stderr[-2000:]}")
    lines = proc.stdout.strip().splitlines()
    finishes = [float(line.split()[1]) for line in lines if line.startswith("clip ")]
    return float(lines[-1]), _steady(finishes)


def _steady(finishes: list[float]) -> float:
    """Seconds per video between the first and the last one finished (sequential runs)."""
    return (finishes[-1] - finishes[0]) / (len(finishes) - 1) if len(finishes) > 1 else math.nan


def run_batch(folder: Path, out: Path, workers: int, cpus: int,
              expected_failures: int, extra: tuple[str, ...] = ()) -> dict[str, float]:
    """Wall times of one batch CLI run: total, runtime start-up (launch -> batch_start),
    video work (batch_start -> batch_result) and shut-down (batch_result -> exit)."""
    cmd = [sys.executable, "-m", "inference_backend", "batch", str(folder), "-o", str(out),
           "--workers", str(workers), "--cpus-per-task", str(cpus), "--progress", "jsonl", *extra]
    launched = time.perf_counter()
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    marks: dict[str, float] = {}
    videos: list[float] = []
    result: dict = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        event = json.loads(line)
        marks.setdefault(event["event"], time.perf_counter())
        if event["event"] == "video":
            videos.append(time.perf_counter())
        if event["event"] == "batch_result":
            result = event
    proc.wait()
    ended = time.perf_counter()
    clips = len(list(folder.glob("*.mp4")))
    if (proc.returncode not in (0, 10) or result.get("failed") != expected_failures
            or result.get("done") != clips - expected_failures):
        raise SystemExit(f"batch failed ({proc.returncode}): {result}")
    return {"total": ended - launched, "startup": marks["batch_start"] - launched,
            "work": marks["batch_result"] - marks["batch_start"],
            "shutdown": ended - marks["batch_result"], "steady_per_video": _steady(videos)}


def _load() -> str:
    if not hasattr(os, "getloadavg"):
        return "n/a"
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--size", default="960x540", help="WIDTHxHEIGHT of the clips")
    parser.add_argument("--keep", type=Path, default=None, help="keep clips and outputs here")
    parser.add_argument("--repeats", type=int, default=1,
                        help="run every configuration this many times, interleaved, and use the "
                             "best of each (2 on a shared machine)")
    parser.add_argument("--no-pin-cores", action="store_true",
                        help="pass --no-pin-cores to the batches (compare with the default)")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    cores = os.cpu_count() or 1
    root = Path(tempfile.mkdtemp(prefix="batch_scaling_")) if args.keep is None else args.keep
    root.mkdir(parents=True, exist_ok=True)
    try:
        clips_dir = root / "clips"
        clips_dir.mkdir(exist_ok=True)
        clips = make_clips(clips_dir, args.clips, args.frames, size)
        n = len(clips)
        print(f"{n} clips x {args.frames} frames {size[0]}x{size[1]}, {cores} cores, "
              f"load average {_load()}", flush=True)
        extra = ("--no-pin-cores",) if args.no_pin_cores else ()
        runs: dict[str, list] = {"loop": [], "inproc": [], "whole": [], "one": [], "two": []}
        for repeat in range(args.repeats):  # interleaved, best of each: the machine is shared
            loop_s, failed = run_loop(clips, root / "out_loop")
            runs["loop"].append(loop_s)
            print(f"[{repeat + 1}] loop of capture commands: {loop_s:.1f} s "
                  f"({loop_s / n:.2f} s/video)"
                  + (f"; {len(failed)} failed (in every run alike): {failed}" if failed else ""),
                  flush=True)
            runs["inproc"].append(run_in_process_loop(clips, root / "out_inproc"))
            print(f"[{repeat + 1}] one process, capture after capture: {runs['inproc'][-1][0]:.1f}"
                  f" s ({runs['inproc'][-1][1]:.2f} s per clip after the first)", flush=True)
            for key, workers, cpus in (("whole", 1, cores), ("one", 1, 1), ("two", 2, 1)):
                runs[key].append(run_batch(clips_dir, root / f"out_{key}", workers, cpus,
                                           len(failed), extra))
                print(f"[{repeat + 1}] batch {workers} worker(s) x {cpus} cpu(s): "
                      f"{runs[key][-1]}", flush=True)
        loop = min(runs["loop"])
        inproc, inproc_steady = min(runs["inproc"])
        whole, one, two = (min(runs[k], key=lambda r: r["work"]) for k in ("whole", "one", "two"))
        scaling = one["work"] / two["work"]
        scaling_total = one["total"] / two["total"]
        overhead = (whole["work"] - loop) / loop
        overhead_total = (whole["total"] - loop) / loop
        print(f"throughput_ratio_2v1={scaling:.2f} (videos/s, 2 workers / 1 worker, runtime "
              f"start excluded; incl. start-up {scaling_total:.2f}; target >= 1.6 on 2 cores)")
        print(f"ray_overhead_per_video={100 * overhead:+.1f}% (batch 1 worker vs the capture loop, "
              f"runtime start excluded; incl. start-up/shut-down {100 * overhead_total:+.1f}%; "
              f"target <= 10%)")
        print(f"ray_overhead_vs_one_process={100 * (whole['work'] - inproc) / inproc:+.1f}% "
              "(batch 1 worker vs one process capturing the clips in turn, runtime start "
              "excluded; includes the worker process start once)")
        marginal = whole["steady_per_video"] / inproc_steady - 1
        print(f"ray_marginal_overhead_per_video={100 * marginal:+.1f}% (time per video after the "
              f"first: batch {whole['steady_per_video']:.2f} s vs one process "
              f"{inproc_steady:.2f} s: what each further video costs in Ray)")
        print(f"ray_runtime_start_s={whole['startup']:.1f} stop_s={whole['shutdown']:.1f} "
              f"(once per batch, not per video); load average at the end {_load()} "
              "(more than the cores: the machine was busy and the ratios are not idle numbers)")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
