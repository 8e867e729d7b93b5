"""The solve stage (fit + scene) on threads vs one window and one person at a time, side by side.

    python bench/solve_speed.py [--frames 540] [--repeats 5] [--work-dir DIR]

The solve stage runs after every frame is detected, so its wall time adds to a capture's
fixed costs. The default solver refines each person's windows two at a time and, on clips up
to ``SolverConfig.side_by_side_frames``, fits the people side by side (``FitConfig.workers``;
the same motion either way). This bench replays it on ``capture_speed.py``'s two clips (made
in --work-dir if missing; the one-person clip with ``--max-people 1`` as there): detection
runs once per clip and is cached there (bench/synthetic_accuracy/cached_capture.py; no camera
tracking, so the camera stage is not part of it), then each repeat solves the cached tracks with ``workers=1`` and with the default,
alternated, in this one process. Printed: wall and CPU seconds per run, the medians, and the
wall ratio threads / one at a time (below 1: the threads help on this machine now; they need
free cores, which a capture has once detection is over).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "bench" / "synthetic_accuracy"))

from cached_capture import observe_cached  # noqa: E402
from capture_speed import make_clips  # noqa: E402


def solve_once(tracks, info, timestamps, workers: int | None) -> tuple[float, float]:
    """(wall, CPU) seconds of one solve stage (solver + scene) on the cached tracks."""
    from inference_backend.pipeline import solve_scene  # noqa: PLC0415
    from inference_backend.scene import SceneConfig  # noqa: PLC0415
    from inference_backend.solver_default import DefaultSolver, SolverConfig  # noqa: PLC0415
    from inference_backend.solvers import SolveInput  # noqa: PLC0415

    config = SolverConfig()
    if workers is not None:
        config = replace(config, fit=replace(config.fit, workers=workers))
    wall, cpu = time.perf_counter(), time.process_time()
    solve_scene(DefaultSolver(config), SolveInput(info, tuple(tracks), timestamps), SceneConfig())
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=540, help="frames per clip")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--work-dir", type=Path, default=REPO / "out" / "capture_speed")
    args = parser.parse_args()
    one, two = make_clips(args.work_dir, args.frames)
    variants = {"one at a time": 1, "threads (default)": None}
    # as capture_speed.py runs them: the one-person clip with --max-people 1
    for clip, max_people in ((two, None), (one, 1)):
        cache = clip.with_name(f"{clip.stem}.tracks_max{max_people or 'default'}.npz")
        tracks, info, timestamps, _, _ = observe_cached(clip, cache, max_people=max_people)
        people = sum(1 for t in tracks if t.present.sum() >= 3)
        print(f"{clip.name}: {people} {'person' if people == 1 else 'people'}, "
              f"{len(timestamps)} frames", flush=True)
        solve_once(tracks, info, timestamps, None)            # warm-up (imports, caches)
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
        for repeat in range(args.repeats):
            for name, workers in variants.items():
                runs[name].append(solve_once(tracks, info, timestamps, workers))
                wall, cpu = runs[name][-1]
                print(f"  [{repeat + 1}] {name}: wall {wall:.3f} s, CPU {cpu:.3f} s", flush=True)
        med = {name: (statistics.median(w for w, _ in r), statistics.median(c for _, c in r))
               for name, r in runs.items()}
        for name, (wall, cpu) in med.items():
            print(f"  median {name}: wall {wall:.3f} s, CPU {cpu:.3f} s")
        ratio = med["threads (default)"][0] / med["one at a time"][0]
        print(f"  wall ratio threads / one at a time: {ratio:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
