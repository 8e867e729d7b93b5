"""Score the capture of a clip filmed by a moving (handheld) camera against the exact truth.

Usage (repository root; render the clip first, e.g.
``make_scene.py --out-dir out/handheld --camera-path handheld --walk-s 5.5 --walk-yaw 90
--start -2.7 5.0 --frames 240``):
    .venv/bin/python bench/synthetic_accuracy/run_handheld.py --out-dir out/handheld
        [--smoothing medium] [--fov DEG] [--reuse]

Captures the video twice in one run: with the camera tracked (``--camera auto``) and with the
static-camera assumption (``--camera static``, the baseline), then reports for both:

- camera: per-frame rotation error (relative to the first frame, so it does not depend on
  how either world is oriented) and the total pan angle (range of the optical axis' heading
  about the world vertical) found vs true;
- world trajectory of the mid-hip point (horizontal): RMS error after one rigid 2D alignment
  (yaw + translation) over the whole clip, the error over the last second after that same
  alignment, walked distance and net displacement over the walk segment.

Prints a table, the machine load, and a final ``key=value`` line; writes
``results_handheld.json`` in --out-dir. Targets (issue 11): pan within 3 % (or 1 deg), rotation
error <= 1 deg per frame, walked distance within 5 %, trajectory error <= 15 % of the static
baseline's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[2]))   # this checkout's backend

from metrics import path_length, rigid_align_2d  # noqa: E402
from run_bench import load_gt, load_motion, pick_person, run_capture  # noqa: E402

from inference_backend.kinematics import geodesic_deg  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SMOOTH_PATH_FRAMES = 15


def relative_rotations(R: np.ndarray) -> np.ndarray:
    """(F, 3, 3) world-to-camera -> camera rotation relative to the first frame."""
    return R @ np.swapaxes(R[:1], -1, -2)


def headings_deg(R_yup: np.ndarray) -> np.ndarray:
    """Heading (deg, unwrapped) of the optical axis about the Y-up world's vertical."""
    axis = np.swapaxes(R_yup, -1, -2)[:, :, 2]
    return np.degrees(np.unwrap(np.arctan2(axis[:, 0], axis[:, 2])))


def score(motion: dict, gt: dict) -> dict:
    n_gt = gt["joints_cam"].shape[0]
    frames = motion["frame_indices"]
    p = pick_person(motion, gt)
    ok = np.zeros(n_gt, bool)
    ok[frames] = motion["valid"][p]
    R_gt = gt["cam_R"] if gt["cam_R"].ndim == 3 else np.repeat(gt["cam_R"][None], n_gt, 0)
    R_gt_yup = gt["cam_R_yup"] if gt["cam_R_yup"].ndim == 3 else \
        np.repeat(gt["cam_R_yup"][None], n_gt, 0)
    R_ours = np.asarray(motion["cam_R"], float)
    rot_err = geodesic_deg(relative_rotations(R_ours), relative_rotations(R_gt[frames]))
    pan_true = float(np.ptp(headings_deg(R_gt_yup[frames])))
    pan_ours = float(np.ptp(headings_deg(R_ours)))

    hips = gt["compare_idx"][:2]
    mid_gt = gt["joints_yup"][:, hips].mean(1)[:, [0, 2]]
    mid_ours = np.zeros((n_gt, 2))
    mid_ours[frames] = motion["joints3d"][p][:, 1:3].mean(1)[:, [0, 2]]
    allf = np.flatnonzero(ok)
    aligned = rigid_align_2d(mid_ours[allf], mid_gt[allf])
    err = np.linalg.norm(aligned - mid_gt[allf], axis=1)
    fps = gt["header"]["scene"]["fps"]
    last = allf >= allf[-1] - fps + 1
    w0, w1 = gt["header"]["segments"]["walk"]
    walk = np.arange(round(w0 * fps), min(round(w1 * fps), n_gt))
    walk = walk[ok[walk]]
    d_true = path_length(mid_gt[walk], SMOOTH_PATH_FRAMES)
    d_ours = path_length(mid_ours[walk], SMOOTH_PATH_FRAMES)
    header_cam = motion["header"].get("camera", {})
    return {
        "camera_static_in_file": bool(header_cam.get("static", True)),
        "camera_report": header_cam.get("tracking"),
        "fov_x_ours_deg": header_cam.get("fov_x_deg"),
        "focal_source": header_cam.get("focal_source"),
        "rotation_err_mean_deg": float(rot_err.mean()),
        "rotation_err_p95_deg": float(np.percentile(rot_err, 95)),
        "rotation_err_max_deg": float(rot_err.max()),
        "pan_true_deg": pan_true, "pan_ours_deg": pan_ours,
        "pan_err_deg": pan_ours - pan_true,
        "traj_rms_m": float(np.sqrt(np.mean(err ** 2))),
        "traj_last_second_m": float(err[last].mean()),
        "traj_max_m": float(err.max()),
        "walked_true_m": d_true, "walked_ours_m": d_ours,
        "walked_err_pct": 100.0 * (d_ours - d_true) / d_true,
        "displacement_true_m": float(np.linalg.norm(mid_gt[walk[-1]] - mid_gt[walk[0]])),
        "displacement_ours_m": float(np.linalg.norm(mid_ours[walk[-1]] - mid_ours[walk[0]])),
        "frames_valid": int(ok.sum()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", type=Path, default=REPO / "out" / "handheld")
    ap.add_argument("--smoothing", default="medium")
    ap.add_argument("--fov", type=float, default=None)
    ap.add_argument("--reuse", action="store_true", help="score existing captures")
    args = ap.parse_args(argv)
    video, gt_path = args.out_dir / "synthetic.mp4", args.out_dir / "scene_gt.npz"
    if not video.is_file() or not gt_path.is_file():
        raise SystemExit(f"{video} / {gt_path} missing: run make_scene.py first")
    gt = load_gt(gt_path)
    results: dict = {"load_avg_1min": os.getloadavg()[0], "cpus": os.cpu_count(),
                     "camera_path": gt["header"].get("camera_path")}
    for mode in ("auto", "static"):
        out = args.out_dir / f"capture_{mode}_{args.smoothing}.npz"
        wall = None
        if not (args.reuse and out.is_file()):
            wall = run_capture(video, out, args.fov, args.smoothing, extra=("--camera", mode))
        results[mode] = {**score(load_motion(out), gt), "capture_wall_s": wall}
    a, s = results["auto"], results["static"]
    results["traj_ratio_vs_static"] = a["traj_rms_m"] / max(s["traj_rms_m"], 1e-9)
    print(f"clip: {results['camera_path']}")
    print(f"{'':34s} {'tracked':>10s} {'static':>10s}")
    rows = (("camera rotation error mean (deg)", "rotation_err_mean_deg", 2),
            ("camera rotation error p95 (deg)", "rotation_err_p95_deg", 2),
            ("camera rotation error max (deg)", "rotation_err_max_deg", 2),
            ("pan found (deg)", "pan_ours_deg", 1), ("pan true (deg)", "pan_true_deg", 1),
            ("trajectory RMS, rigid yaw+xy (m)", "traj_rms_m", 3),
            ("trajectory error last 1 s (m)", "traj_last_second_m", 3),
            ("walked distance (m)", "walked_ours_m", 2), ("walked true (m)", "walked_true_m", 2),
            ("walked distance error (%)", "walked_err_pct", 1),
            ("net displacement (m)", "displacement_ours_m", 2),
            ("net displacement true (m)", "displacement_true_m", 2))
    for label, key, digits in rows:
        print(f"{label:34s} {a[key]:10.{digits}f} {s[key]:10.{digits}f}")
    print(f"camera in file: tracked static={a['camera_static_in_file']}, "
          f"fov_x {a['fov_x_ours_deg']} ({a['focal_source']}); tracking {a['camera_report']}")
    print(f"machine: {results['cpus']} CPUs, 1-min load average {results['load_avg_1min']:.1f}"
          f"{' (under load)' if results['load_avg_1min'] > 0.5 * (results['cpus'] or 1) else ''}")
    print(f"pan_err_deg={a['pan_err_deg']:.2f} rot_err_max_deg={a['rotation_err_max_deg']:.2f} "
          f"walked_err_pct={a['walked_err_pct']:.1f} traj_rms_m={a['traj_rms_m']:.3f} "
          f"static_traj_rms_m={s['traj_rms_m']:.3f} "
          f"traj_ratio={results['traj_ratio_vs_static']:.3f}")
    final = args.out_dir / "results_handheld.json"
    tmp = final.with_name(final.stem + ".partial.json")
    tmp.write_text(json.dumps(results, indent=2))
    os.replace(tmp, final)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
