"""The focal length from the background's straight lines (inference_backend.vanishing_points)
on benchmark clips, against the truth: the capture's own frame sampler fed with the decoded
video and the cached tracks' boxes.

Usage (from the repository root):
    .venv/bin/python bench/synthetic_accuracy/line_focal.py out/sa/room60 out/sa/fov40 ...
    .venv/bin/python bench/synthetic_accuracy/line_focal.py --video assets/sample/two_people_backlit.mp4

A clip folder without ``observations.npz`` (its cached detections) gets them under --cache-dir.

Prints one line per clip: estimated/true focal (or "not observable" with the reason), the
1-sigma, the frames used of those sampled, the per-frame estimates and the seconds spent
(sampling and estimating; decoding excluded). A clip without ``scene_gt.npz`` has no truth.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cached_capture import lines_fov, observe_cached  # noqa: E402


def report(video: Path, cache: Path, gt_path: Path | None) -> str:
    tracks, info, *_ = observe_cached(video, cache)
    fov, found, seconds = lines_fov(video, tracks)
    truth = None
    if gt_path is not None and gt_path.is_file():
        with np.load(gt_path, allow_pickle=False) as gt:
            k = gt["cam_K"]
            truth = float(k[0, 0])
    per_frame = " ".join("-" if not np.isfinite(r.focal) else f"{r.focal:.0f}"
                         for r in found.frames)
    head = f"{video.parent.name or video.name}: "
    if found.observable:
        ratio = "" if truth is None else f" ratio {found.focal / truth:.3f} (true {truth:.0f} px)"
        head += (f"focal {found.focal:.0f} px, hfov {found.fov_x_deg:.1f} deg{ratio}, 1-sigma "
                 f"{found.rel_sigma:.1%}")
    else:
        head += f"not observable ({found.reason})" + ("" if truth is None else f"; true {truth:.0f} px")
    reasons = sorted({r.reason for r in found.frames if r.reason})
    return (f"{head}\n  frames used {found.frames_used}/{len(found.frames)}; per frame (analysed px): "
            f"{per_frame}; refusals: {reasons or '-'}; {seconds:.2f} s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="*", type=Path, help="clip folders (synthetic.mp4, scene_gt.npz)")
    ap.add_argument("--video", type=Path, action="append", default=[],
                    help="a video without truth (its detections are cached under --cache-dir)")
    ap.add_argument("--cache-dir", type=Path, default=Path("out/lens/cache"))
    args = ap.parse_args(argv)
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    for clip in args.clips:
        # a clip's own detections when they exist; never written into a clip folder
        cache = clip / "observations.npz"
        if not cache.is_file():
            cache = args.cache_dir / f"{clip.name}.observations.npz"
        print(report(clip / "synthetic.mp4", cache, clip / "scene_gt.npz"), flush=True)
    for video in args.video:
        print(report(video, args.cache_dir / f"{video.stem}.observations.npz", None), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
