"""Cost of the detector's mirror test-time augmentation, side by side in one run.

    python bench/tta_speed.py [--clip VIDEO] [--repeats 2] [--work-dir DIR]

Runs ``python -m inference_backend capture CLIP`` with ``--tta none`` and ``--tta mirror``
alternately (separate processes, ``--repeats`` each) and prints per run the wall seconds, the
CPU-seconds (user + system of the process) per frame and the capture's stage line; at the end
the best of each and the ratios mirror / none. CPU-seconds are less sensitive to a loaded
machine than wall time; say so when the machine was shared.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "assets" / "sample" / "two_people_backlit.mp4"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(clip: Path, out: Path, tta: str) -> tuple[float, float, str]:
    """(wall s, CPU s, last stderr line) of one capture."""
    cmd = [sys.executable, "-m", "inference_backend", "capture", str(clip), "-o", str(out),
           "--progress", "bar", "--tta", tta]
    cpu0, t0 = children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, children_cpu() - cpu0
    if proc.returncode != 0:
        raise SystemExit(f"capture --tta {tta} failed:\n{proc.stderr[-2000:]}")
    lines = [ln for ln in proc.stderr.replace("\r", "\n").splitlines() if ln.strip()]
    return wall, cpu, lines[-1] if lines else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path, default=SAMPLE)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--work-dir", type=Path, default=None)
    args = ap.parse_args()
    import av  # noqa: PLC0415

    with av.open(str(args.clip)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="tta_speed_"))
    work.mkdir(parents=True, exist_ok=True)
    best: dict[str, tuple[float, float]] = {}
    for rep in range(args.repeats):
        for tta in ("none", "mirror"):
            wall, cpu, line = run(args.clip, work / f"{tta}_{rep}.npz", tta)
            print(f"{tta:6s} run {rep}: wall {wall:6.1f} s, CPU {cpu / frames:.3f} s/frame "
                  f"({cpu / wall:.2f} cores) | {line}", flush=True)
            old = best.get(tta, (float("inf"), float("inf")))
            best[tta] = (min(old[0], wall), min(old[1], cpu))
    (w0, c0), (w1, c1) = best["none"], best["mirror"]
    print(f"{args.clip.name}, {frames} frames, best of {args.repeats}: none {c0 / frames:.3f} "
          f"CPU-s/frame, wall {w0:.1f} s; mirror {c1 / frames:.3f} CPU-s/frame, wall {w1:.1f} s")
    print(f"ratios mirror/none: CPU {c1 / c0:.2f}, wall {w1 / w0:.2f}")


if __name__ == "__main__":
    main()
