"""Does the region-of-interest graph find the same people and landmarks as mediapipe's Tasks graph?

    python bench/detection_accuracy.py [VIDEO] [--redetect-every N]

Runs the backend's PoseDetector over the same decoded frames with ``graph="tasks"`` (mediapipe's
multi-person PoseLandmarker, what the capture used before the "roi" graph), ``graph="roi"`` (the
default) and "roi-seq" (the roi graph with ``detect_alongside=False``: the detector first, in
mediapipe's order), for --max-people 1 and 2, then the backend's own Tracker. Prints per setting:
detector and landmark passes per frame, CPU ms per frame, the frames the tracks keep a person,
jitter of the kept tracks (mean |second difference| over three consecutive present frames, all 33
landmarks: image px/frame^2, world mm/frame^2), and, for people both graphs found in a frame,
the 2D distance between their landmarks (median / mean / 95th percentile px, the worst landmark's
mean). The last line is ``key=value`` pairs.

    python bench/detection_accuracy.py --synthetic out/synthetic_accuracy/... [...]

instead scores each graph's raw landmarks against the ground truth of rendered clips (folders made
by ``bench/synthetic_accuracy/make_scene.py``): 2D error of the 12 compared joints in pixels and
PA-MPJPE of the world landmarks in mm.

Measured 2026-12-06 on the shared 2-core CPU (under load: CPU ms are indicative only), bundled
clip (960x540, 135 frames) and three rendered clips: README "Speed".
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: a person found by both graphs in a frame: mean landmark distance under this many pixels
_SAME_PERSON_PX = 40.0


def decode(video: Path) -> tuple[object, list]:
    from inference_backend.video_io import iter_frames, probe_video

    probe = probe_video(video)
    return probe, list(iter_frames(probe))


def run_graph(probe, frames: list, graph: str, max_people: int, redetect_every: int,
              **options) -> dict:
    """Detections per frame, the tracker's tracks and the work counters of one graph."""
    from inference_backend.config import DetectionConfig, TrackingConfig
    from inference_backend.detection import PoseDetector
    from inference_backend.tracking import Tracker

    info = probe.info
    config = DetectionConfig(max_people=max_people, graph=graph, redetect_every=redetect_every,
                             **options)
    tracker = Tracker((info.width, info.height), info.fps, TrackingConfig(max_people=max_people))
    per_frame = []
    with PoseDetector(config) as detector:
        cpu, wall = time.process_time(), time.perf_counter()
        for pos, frame in enumerate(frames):
            people = detector.detect(frame.rgb, frame.time, info.width, info.height)
            per_frame.append(people)
            tracker.update(pos, people)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        stats = detector.stats
    return {
        "detections": per_frame, "tracks": tracker.finish(len(frames)),
        "cpu_ms": 1000.0 * cpu / len(frames), "fps": len(frames) / wall,
        "detector_per_frame": stats.detector_runs / len(frames),
        "landmarks_per_frame": stats.landmark_runs / len(frames),
    }


def jitter(tracks: list) -> tuple[float, float]:
    """Mean |second difference| of image (px) and world (mm) landmarks over the tracks' frames
    whose neighbours are present too."""
    image, world = [], []
    for t in tracks:
        ok = t.present[1:-1] & t.present[:-2] & t.present[2:]
        for arr, out, scale in ((t.image_landmarks[..., :2], image, 1.0),
                                (t.world_landmarks, world, 1000.0)):
            second = arr[2:] - 2.0 * arr[1:-1] + arr[:-2]
            out.append(scale * np.linalg.norm(second[ok], axis=-1).reshape(-1))
    image_all, world_all = np.concatenate(image), np.concatenate(world)
    return float(image_all.mean()) if image_all.size else 0.0, float(world_all.mean()) if world_all.size else 0.0


def landmark_differences(reference: list, other: list) -> dict:
    """2D distances (px) between the landmarks of people both graphs found in the same frame."""
    dists, missing, extra = [], 0, 0
    for ref_people, people in zip(reference, other, strict=True):
        used: set[int] = set()
        for ref in ref_people:
            errors = [np.linalg.norm(ref.image_landmarks[:, :2] - p.image_landmarks[:, :2], axis=1)
                      for p in people]
            means = [e.mean() if i not in used else np.inf for i, e in enumerate(errors)]
            if not means or min(means) > _SAME_PERSON_PX:
                missing += 1
                continue
            best = int(np.argmin(means))
            used.add(best)
            dists.append(errors[best])
        extra += len(people) - len(used)
    d = np.stack(dists) if dists else np.zeros((1, 33))
    return {
        "matched": len(dists), "missing": missing, "extra": extra,
        "median_px": float(np.median(d)), "mean_px": float(d.mean()),
        "p95_px": float(np.percentile(d, 95)), "worst_landmark_px": float(d.mean(axis=0).max()),
    }


def synthetic_scores(folder: Path, redetect_every: int) -> None:
    """2D error (px) and PA-MPJPE (mm) of the raw landmarks of each graph against the ground
    truth of a rendered clip (``synthetic.mp4`` + ``scene_gt.npz``, bench/synthetic_accuracy)."""
    sys.path.insert(0, str(REPO / "bench" / "synthetic_accuracy"))
    from metrics import pa_mpjpe  # noqa: PLC0415
    from raw_landmarks import MP_COMPARE  # noqa: PLC0415
    from run_bench import load_gt  # noqa: PLC0415

    gt = load_gt(folder / "scene_gt.npz")
    probe, frames = decode(folder / "synthetic.mp4")
    indices = np.array([f.index for f in frames])
    variants = {"tasks": {}, "roi": {}, "roi-seq": {"detect_alongside": False}}
    for name, options in variants.items():
        graph = "tasks" if name == "tasks" else "roi"
        run = run_graph(probe, frames, graph, 2, redetect_every, **options)
        best = None
        for track in run["tracks"]:
            ok = track.present & (indices < len(gt["uv"]))
            uv = track.image_landmarks[ok][:, MP_COMPARE, :2]
            err = np.linalg.norm(uv - gt["uv"][indices[ok]][:, gt["compare_idx"]], axis=-1)
            if ok.any() and (best is None or err.mean() < best[0]):
                best = (float(err.mean()), track, ok)
        assert best is not None, f"no track in {folder}"
        err_px, track, ok = best
        world = track.world_landmarks[ok][:, MP_COMPARE]
        pa = pa_mpjpe(world, gt["joints_cam"][indices[ok]][:, gt["compare_idx"]])
        print(f"{folder.name} {name:>7}: person in {int(ok.sum())} of {len(frames)} frames, 2D error "
              f"{err_px:.2f} px, PA-MPJPE {pa:.1f} mm, {run['cpu_ms']:.1f} CPU ms/frame")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", type=Path,
                        default=REPO / "assets" / "sample" / "two_people_backlit.mp4")
    parser.add_argument("--redetect-every", type=int, default=5)
    parser.add_argument("--synthetic", type=Path, nargs="*", default=[],
                        help="rendered clip folders (synthetic.mp4 + scene_gt.npz) to score")
    args = parser.parse_args()
    for folder in args.synthetic:
        synthetic_scores(folder, args.redetect_every)
    if args.synthetic:
        return 0
    probe, frames = decode(args.video)
    summary = {}
    for max_people in (1, 2):
        runs = {
            "tasks": run_graph(probe, frames, "tasks", max_people, args.redetect_every),
            "roi": run_graph(probe, frames, "roi", max_people, args.redetect_every),
            "roi-seq": run_graph(probe, frames, "roi", max_people, args.redetect_every,
                                 detect_alongside=False),
        }
        for graph, run in runs.items():
            kept = [int(t.present.sum()) for t in run["tracks"]]
            jit_px, jit_mm = jitter(run["tracks"])
            print(f"max_people={max_people} {graph:>7}: detector {run['detector_per_frame']:.2f}/frame, "
                  f"landmarks {run['landmarks_per_frame']:.2f}/frame, {run['cpu_ms']:.1f} CPU ms/frame "
                  f"({run['fps']:.1f} fps); tracks keep {kept} of {len(frames)} frames; jitter "
                  f"{jit_px:.2f} px/frame^2, {jit_mm:.1f} mm/frame^2")
            summary[f"p{max_people}_{graph}_kept"] = "/".join(map(str, kept))
            summary[f"p{max_people}_{graph}_jitter_px"] = f"{jit_px:.2f}"
            summary[f"p{max_people}_{graph}_cpu_ms"] = f"{run['cpu_ms']:.1f}"
        for graph in ("roi", "roi-seq"):
            diff = landmark_differences(runs["tasks"]["detections"], runs[graph]["detections"])
            print(f"max_people={max_people} {graph} vs tasks: {diff['matched']} people matched, "
                  f"{diff['missing']} only in tasks, {diff['extra']} only in {graph}; 2D distance "
                  f"median {diff['median_px']:.2f} px, mean {diff['mean_px']:.2f} px, p95 "
                  f"{diff['p95_px']:.2f} px, worst landmark mean {diff['worst_landmark_px']:.2f} px")
            for key in ("median_px", "mean_px", "p95_px", "missing", "extra"):
                summary[f"p{max_people}_{graph}_diff_{key}"] = (
                    f"{diff[key]:.2f}" if isinstance(diff[key], float) else diff[key])
    print(" ".join(f"{k}={v}" for k, v in summary.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
