"""Run our capture on the synthetic video and score it against the exact ground truth.

Usage (repository root; run make_scene.py first):
    .venv/bin/python bench/synthetic_accuracy/run_bench.py [--out-dir out/synthetic_accuracy]
        [--motion EXISTING.npz] [--fov DEG] [--smoothing medium] [--rerun-raw]

Compares, on the 12 limb joints both define (hips, knees, ankles, shoulders, elbows, wrists),
OUR SMPL joints (motion file ``joints3d``, mapped to camera axes with the file's own camera)
with the RAW MediaPipe world landmarks (camera-aligned, the same frames and the same track the
solver consumed) and the ground truth in camera axes:
MPJPE (mid-hip aligned), PA-MPJPE (similarity Procrustes), accel error (mid-hip aligned), bone-
length spread; plus camera height and walked distance from our world trajectory.
Prints a table and a final ``key=value`` line; writes ``results_<motion stem>.json`` in --out-dir.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from metrics import (  # noqa: E402
    COMPARE_JOINTS,
    accel_error,
    bone_length_spread,
    mpjpe,
    offset_corrected_pa_mpjpe,
    pa_mpjpe,
    path_length,
    similarity_procrustes,
    trajectory_ate,
)
from raw_landmarks import MP_COMPARE, best_track, load_or_run  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SMPL_INDEX: dict[str, int] = {
    "left_hip": 1, "right_hip": 2, "left_knee": 4, "right_knee": 5, "left_ankle": 7,
    "right_ankle": 8, "left_shoulder": 16, "right_shoulder": 17, "left_elbow": 18,
    "right_elbow": 19, "left_wrist": 20, "right_wrist": 21,
}
SMPL_COMPARE: tuple[int, ...] = tuple(SMPL_INDEX[n] for n in COMPARE_JOINTS)
SMOOTH_PATH_FRAMES = 15  # 0.5 s moving average before measuring path lengths (GT and ours alike)


def load_gt(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as d:
        gt = {k: d[k] for k in d.files}
    gt["header"] = json.loads(str(gt["header"]))
    names = gt["header"]["joint_names"]
    gt["compare_idx"] = np.array([names.index(n) for n in COMPARE_JOINTS])
    gt["pelvis_idx"] = names.index("pelvis")
    return gt


def run_capture(video: Path, out: Path, fov: float | None, smoothing: str,
                height: str | None = None, extra: tuple[str, ...] = ()) -> float:
    """``python -m inference_backend capture`` (plus ``extra`` options); returns wall seconds.
    Raises on failure."""
    cmd = [sys.executable, "-m", "inference_backend", "capture", str(video), "-o", str(out),
           "--progress", "none", "--smoothing", smoothing, *extra]
    if fov is not None:
        cmd += ["--fov", f"{fov}"]
    if height is not None:
        cmd += ["--height", height]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"capture failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return time.perf_counter() - t0


def load_motion(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as d:
        m = {k: d[k] for k in d.files}
    m["header"] = json.loads(str(m["header"]))
    return m


def pick_person(motion: dict, gt: dict) -> int:
    """The person whose reprojected joints are closest to the ground-truth 2D joints."""
    frames = motion["frame_indices"]
    best, best_cost = 0, np.inf
    for p in range(motion["joints3d"].shape[0]):
        ok = motion["valid"][p] & (frames < len(gt["uv"]))
        if not ok.any():
            continue
        cam = ours_camera_joints(motion, p)[ok][:, SMPL_COMPARE]
        uv = cam @ motion["cam_K"].T
        uv = uv[..., :2] / np.maximum(uv[..., 2:3], 1e-6)
        cost = np.linalg.norm(uv - gt["uv"][frames[ok]][:, gt["compare_idx"]], axis=-1).mean()
        cost -= 1e-3 * ok.sum()
        if cost < best_cost:
            best, best_cost = p, cost
    return best


def ours_camera_joints(motion: dict, p: int) -> np.ndarray:
    """Our world joints (F, 24, 3) in OpenCV camera axes through our own estimated camera."""
    return np.einsum("fij,fkj->fki", motion["cam_R"], motion["joints3d"][p]) + \
        motion["cam_t"][:, None, :]


def pose_metrics(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> dict[str, float]:
    """Scores of one method on the compared joints (F, 12, 3), camera axes, over ``valid``."""
    root = 0.5 * (pred[:, 0:1] + pred[:, 1:2])
    groot = 0.5 * (gt[:, 0:1] + gt[:, 1:2])
    return {
        "mpjpe_mm": mpjpe(pred[valid], gt[valid]),
        "pa_mpjpe_mm": pa_mpjpe(pred[valid], gt[valid]),
        "accel_mm_f2": accel_error(pred - root, gt - groot, valid),
        "bone_std_mm": bone_length_spread(pred, valid),
    }


def segment_masks(gt: dict, frames: np.ndarray) -> dict[str, np.ndarray]:
    fps = gt["header"]["scene"]["fps"]
    out = {}
    for name, (a, b) in gt["header"]["segments"].items():
        if name in ("idle", "tail"):
            continue
        out[name] = (frames >= round(a * fps)) & (frames < round(b * fps))
    return out


def _dilate(mask: np.ndarray) -> np.ndarray:
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    return out


def contact_scores(contacts: np.ndarray, valid: np.ndarray, frames: np.ndarray,
                   truth: np.ndarray) -> dict:
    """Per-foot contact precision / recall / F1 with a +-1 frame tolerance (a predicted contact
    frame counts when the truth has contact within a frame, and vice versa) over our valid
    frames. contacts (F, 4) of the motion file, truth (F_gt, 2) left / right."""
    pred = np.stack([contacts[:, :2].max(1), contacts[:, 2:].max(1)], 1) >= 0.5
    ok = valid & (frames < len(truth))
    pred, tru = pred[ok], np.asarray(truth, bool)[frames[ok]]
    tp_p = float(np.sum(pred & _dilate(tru)))
    tp_r = float(np.sum(tru & _dilate(pred)))
    precision = tp_p / max(float(pred.sum()), 1.0)
    recall = tp_r / max(float(tru.sum()), 1.0)
    f1 = 2 * precision * recall / max(precision + recall, 1e-9)
    return {"precision": precision, "recall": recall, "f1": f1,
            "predicted_fraction": float(pred.mean()), "true_fraction": float(tru.mean())}


def camera_height_from_extrinsics(cam_R: np.ndarray, cam_t: np.ndarray) -> float:
    centre = -np.einsum("ji,j->i", cam_R[0], cam_t[0])
    return float(centre[1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", type=Path, default=REPO / "out" / "synthetic_accuracy")
    ap.add_argument("--motion", type=Path, default=None, help="score this file, do not capture")
    ap.add_argument("--fov", default=None,
                    help="pass a horizontal FOV (degrees, or 'true' for the render's) to capture")
    ap.add_argument("--smoothing", default="medium")
    ap.add_argument("--height", default=None,
                    help="pass --height (metres, or 'true' for the figure's true height)")
    ap.add_argument("--rerun-raw", action="store_true", help="recompute the raw landmarks")
    ap.add_argument("--cached", action="store_true",
                    help="solve cached observations (cached_capture.py) instead of running the "
                         "capture CLI: detection runs once per video")
    ap.add_argument("--work-dir", type=Path, default=None,
                    help="write the motion file and results here instead of --out-dir (which "
                         "then is only read: several people can score the same cached clip)")
    ap.add_argument("--overlay-png", type=Path, default=None,
                    help="save a frame with GT (green), raw MP (red), ours (blue) 2D skeletons")
    ap.add_argument("--overlay-frame", type=int, default=300)
    ap.add_argument("--tta", default="none",
                    help="the detector's test-time augmentation (capture --tta); with --cached "
                         "its observations are cached in the work dir as "
                         "observations_tta_<mode>.npz. The raw reference stays the single pass "
                         "(--out-dir's observations.npz, or raw_landmarks.npz)")
    args = ap.parse_args(argv)

    out_dir: Path = args.out_dir
    video, gt_path = out_dir / "synthetic.mp4", out_dir / "scene_gt.npz"
    if not video.is_file() or not gt_path.is_file():
        raise SystemExit(f"{video} / {gt_path} missing: run bench/synthetic_accuracy/make_scene.py")
    work_dir: Path = args.work_dir or out_dir
    work_dir.mkdir(parents=True, exist_ok=True)
    gt = load_gt(gt_path)
    n_gt = gt["joints_cam"].shape[0]

    if args.fov is not None:
        args.fov = float(gt["header"]["scene"]["hfov_deg"] if args.fov == "true" else args.fov)
    capture_s = None
    motion_path = args.motion
    if motion_path is None:
        tag = "capture" if args.fov is None else f"capture_fov{args.fov:g}"
        if args.height == "true":
            args.height = f"{gt['header']['figure_height_m']:.3f}"
        if args.height is not None:
            tag += f"_h{args.height}"
        if args.tta != "none":
            tag += f"_tta{args.tta}"
        motion_path = work_dir / f"{tag}_{args.smoothing}.npz"
        if args.cached:
            from cached_capture import capture  # noqa: PLC0415

            cache = (out_dir / "observations.npz" if args.tta == "none"
                     else work_dir / f"observations_tta_{args.tta}.npz")
            tta_opt = {} if args.tta == "none" else {"tta": args.tta}
            t0 = time.perf_counter()
            capture(video, motion_path, cache, args.fov, args.smoothing, heights=args.height,
                    **tta_opt)
            capture_s = time.perf_counter() - t0
        else:
            extra = () if args.tta == "none" else ("--tta", args.tta)
            capture_s = run_capture(video, motion_path, args.fov, args.smoothing, args.height,
                                    extra)
    motion = load_motion(motion_path)
    p = pick_person(motion, gt)
    frames = motion["frame_indices"]
    if frames.max() >= n_gt:
        raise SystemExit("the motion file has more frames than the ground truth")

    if args.cached:
        with np.load(out_dir / "observations.npz", allow_pickle=False) as d:
            raw = {k: d[k] for k in ("image", "world", "present", "timestamps",
                                     "frame_indices", "track_ids")}
    else:
        raw = load_or_run(video, out_dir / "raw_landmarks.npz", rerun=args.rerun_raw)
    k = best_track(raw, gt["uv"][:, gt["compare_idx"]])

    # everything on the ground-truth frame axis
    ours = np.zeros((n_gt, 12, 3))
    ours_ok = np.zeros(n_gt, bool)
    ours[frames] = ours_camera_joints(motion, p)[:, SMPL_COMPARE]
    ours_ok[frames] = motion["valid"][p]
    rawj = np.zeros((n_gt, 12, 3))
    raw_ok = np.zeros(n_gt, bool)
    rawj[raw["frame_indices"]] = raw["world"][k][:, MP_COMPARE]
    raw_ok[raw["frame_indices"]] = raw["present"][k]
    gtj = gt["joints_cam"][:, gt["compare_idx"]]
    both = ours_ok & raw_ok

    res: dict = {
        "frames_gt": int(n_gt), "frames_ours_valid": int(ours_ok.sum()),
        "frames_raw_present": int(raw_ok.sum()), "frames_compared": int(both.sum()),
        "ours": pose_metrics(ours, gtj, both), "raw": pose_metrics(rawj, gtj, both),
        "gt_bone_std_mm": bone_length_spread(gtj, both),
        "gt_mean_accel_mm_f2": accel_error(gtj - 0.5 * (gtj[:, 0:1] + gtj[:, 1:2]),
                                           np.zeros_like(gtj), both),
        "capture_wall_s": capture_s, "motion_file": str(motion_path),
        "num_persons_in_file": int(motion["joints3d"].shape[0]),
    }
    # 2D check of the raw landmarks (and of left/right semantics)
    uv_raw = raw["image"][k][:, MP_COMPARE, :2]
    uv_gt = gt["uv"][raw["frame_indices"]][:, gt["compare_idx"]]
    okr = raw["present"][k]
    swap = np.array([1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10])
    res["raw_2d_err_px"] = float(np.linalg.norm(uv_raw - uv_gt, axis=-1)[okr].mean())
    res["raw_2d_err_px_if_lr_swapped"] = float(
        np.linalg.norm(uv_raw[:, swap] - uv_gt, axis=-1)[okr].mean())
    proj = ours @ motion["cam_K"].T
    proj = proj[..., :2] / np.maximum(proj[..., 2:3], 1e-6)
    res["ours_2d_err_px"] = float(
        np.linalg.norm(proj - gt["uv"][:, gt["compare_idx"]], axis=-1)[ours_ok].mean())
    res["ours_cam_space_err_mm"] = float(
        np.linalg.norm(ours - gtj, axis=-1)[ours_ok].mean() * 1000.0)

    # per joint PA errors and the definitional-offset diagnostic (oracle, see metrics.py)
    res["per_joint_pa_mm"] = {}
    for name, x in (("ours", ours), ("raw", rawj)):
        err = np.linalg.norm(similarity_procrustes(x[both], gtj[both]) - gtj[both], axis=-1)
        res["per_joint_pa_mm"][name] = dict(zip(COMPARE_JOINTS, (err.mean(0) * 1000).tolist(),
                                                strict=True))
        corrected, offsets = offset_corrected_pa_mpjpe(x[both], gtj[both])
        res[name]["pa_mpjpe_offset_corrected_mm"] = corrected
        res[name]["mean_offset_mm"] = float(np.linalg.norm(offsets, axis=-1).mean() * 1000.0)

    # per segment PA-MPJPE
    res["segments"] = {}
    for name, mask in segment_masks(gt, np.arange(n_gt)).items():
        m = mask & both
        if m.sum() >= 3:
            res["segments"][name] = {
                "frames": int(m.sum()),
                "ours_pa_mpjpe_mm": pa_mpjpe(ours[m], gtj[m]),
                "raw_pa_mpjpe_mm": pa_mpjpe(rawj[m], gtj[m]),
                "ours_mpjpe_mm": mpjpe(ours[m], gtj[m]),
                "raw_mpjpe_mm": mpjpe(rawj[m], gtj[m]),
            }

    # world trajectory: camera height and walked distance (mid-hip, Y-up world, horizontal x/z)
    cam_h_true = float(gt["header"]["camera_height_m"])
    cam_h = motion["header"].get("camera", {}).get("height_m")
    cam_h = float(cam_h) if cam_h is not None else camera_height_from_extrinsics(
        motion["cam_R"], motion["cam_t"])
    # the mid-hip point: defined alike for SMPL and anny (SMPL's pelvis joint sits ~9 cm higher)
    pelvis_ours = np.zeros((n_gt, 3))
    pelvis_ours[frames] = motion["joints3d"][p][:, 1:3].mean(1)
    hips_gt = gt["compare_idx"][:2]
    pelvis_gt = gt["joints_yup"][:, hips_gt].mean(1)
    fps = gt["header"]["scene"]["fps"]
    w0, w1 = gt["header"]["segments"]["walk"]
    walk = np.arange(round(w0 * fps), round(w1 * fps))
    walk = walk[ours_ok[walk]]
    allf = np.flatnonzero(ours_ok)
    if len(walk) < 2:          # a script without a walk (inplace): the whole clip
        walk = allf
    d_true = path_length(pelvis_gt[walk][:, [0, 2]], SMOOTH_PATH_FRAMES)
    d_ours = path_length(pelvis_ours[walk][:, [0, 2]], SMOOTH_PATH_FRAMES)
    disp_true = float(np.linalg.norm(pelvis_gt[walk[-1], [0, 2]] - pelvis_gt[walk[0], [0, 2]]))
    disp_ours = float(np.linalg.norm(pelvis_ours[walk[-1], [0, 2]] - pelvis_ours[walk[0], [0, 2]]))
    res["pelvis_path"] = {
        "true_m": path_length(pelvis_gt[allf][:, [0, 2]], SMOOTH_PATH_FRAMES),
        "ours_m": path_length(pelvis_ours[allf][:, [0, 2]], SMOOTH_PATH_FRAMES),
    }
    if "contact_truth" in gt:
        res["contacts"] = contact_scores(motion["contacts"][p], motion["valid"][p], frames,
                                         gt["contact_truth"])
        # Planted feet touch the ground: our lowest foot-channel sole height while contact.
        from inference_backend.contacts import CHANNEL_CLEARANCE_M  # noqa: PLC0415
        from inference_backend.smpl_constants import CONTACT_JOINTS  # noqa: PLC0415

        sole = motion["joints3d"][p][:, list(CONTACT_JOINTS), 1] - np.asarray(CHANNEL_CLEARANCE_M)
        on = (motion["contacts"][p] >= 0.5) & motion["valid"][p][:, None]
        res["contacts"]["planted_sole_height_median_m"] = (
            float(np.median(sole[on])) if on.any() else None)
    res["trajectory"] = {
        "camera_height_true_m": cam_h_true, "camera_height_ours_m": cam_h,
        "camera_height_err_m": cam_h - cam_h_true,
        "fov_y_true_deg": float(np.degrees(2 * np.arctan(gt["cam_K"][1, 2] / gt["cam_K"][1, 1]))),
        "fov_y_ours_deg": motion["header"].get("camera", {}).get("fov_y_deg"),
        "walk_frames": int(len(walk)),
        "walked_distance_true_m": d_true, "walked_distance_ours_m": d_ours,
        "walked_distance_err_pct": 100.0 * (d_ours - d_true) / d_true,
        "walk_displacement_true_m": disp_true, "walk_displacement_ours_m": disp_ours,
        "walked_distance_ours_unsmoothed_m": path_length(pelvis_ours[walk][:, [0, 2]], 1),
        "ate_rigid2d_m": trajectory_ate(pelvis_ours[allf][:, [0, 2]],
                                        pelvis_gt[allf][:, [0, 2]]),
        "midhip_height_mae_m": float(np.abs(pelvis_ours[allf][:, 1]
                                            - pelvis_gt[allf][:, 1]).mean()),
        "person_height_true_m": gt["header"].get("figure_height_m"),
        "person_height_ours_m": (motion["header"].get("persons") or [{}])[p].get("height_m"),
        "focal_source": motion["header"].get("camera", {}).get("focal_source", "?"),
        "pitch_true_deg": float(np.degrees(np.arcsin(-gt["cam_R_yup"][2, 1]))),
        "pitch_ours_deg": float(np.degrees(np.arcsin(-motion["cam_R"][0, 2, 1]))),
        "depth_ratio": float(np.median(ours[ours_ok][:, :2, 2].mean(1)
                                       / gtj[ours_ok][:, :2, 2].mean(1))),
        "focal_ratio": float(motion["cam_K"][0, 0] / gt["cam_K"][0, 0]),
        "min_joint_height_ours_m": float(motion["joints3d"][p][motion["valid"][p]][..., 1].min()),
    }
    print_report(res)
    if args.overlay_png is not None:
        f = min(args.overlay_frame, n_gt - 1)
        draw_overlay(out_dir / "frames" / f"frame_{f:05d}.png", args.overlay_png, {
            (60, 200, 60): gt["uv"][f, gt["compare_idx"]],
            (40, 40, 230): raw["image"][k][list(raw["frame_indices"]).index(f), MP_COMPARE, :2],
            (230, 120, 30): proj[f],
        })
    final = work_dir / f"results_{Path(motion_path).stem}.json"
    tmp = final.with_name(final.stem + ".partial.json")
    tmp.write_text(json.dumps(res, indent=2))
    os.replace(tmp, final)
    return 0


def draw_overlay(frame_png: Path, out_png: Path, skeletons: dict) -> None:
    """Draw 12-joint skeletons (BGR colour -> (12, 2) pixels) on a frame; save a cropped PNG."""
    import cv2  # noqa: PLC0415
    from metrics import COMPARE_BONES  # noqa: PLC0415

    img = cv2.imread(str(frame_png))
    for colour, uv in skeletons.items():
        for a, b in COMPARE_BONES:
            pa, pb = (tuple(int(round(c)) for c in uv[i]) for i in (a, b))
            cv2.line(img, pa, pb, colour, 2, cv2.LINE_AA)
    allp = np.concatenate(list(skeletons.values()))
    cx, cy = allp.mean(0)
    half = 150
    x0 = int(np.clip(cx - half, 0, img.shape[1] - 2 * half))
    y0 = int(np.clip(cy - half, 0, img.shape[0] - 2 * half))
    out_png.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out_png), img[y0:y0 + 2 * half, x0:x0 + 2 * half],
                [cv2.IMWRITE_PNG_COMPRESSION, 9])


def print_report(r: dict) -> None:
    o, w, t = r["ours"], r["raw"], r["trajectory"]
    print(f"frames: gt {r['frames_gt']}, ours valid {r['frames_ours_valid']}, raw present "
          f"{r['frames_raw_present']}, compared {r['frames_compared']}")
    print(f"{'metric (12 limb joints, camera axes)':40s} {'ours':>10s} {'raw MP':>10s}")
    for key, label in (("mpjpe_mm", "MPJPE, mid-hip aligned (mm)"),
                       ("pa_mpjpe_mm", "PA-MPJPE (mm)"),
                       ("accel_mm_f2", "accel error (mm/frame^2)"),
                       ("bone_std_mm", "bone-length std (mm)")):
        print(f"{label:40s} {o[key]:10.1f} {w[key]:10.1f}")
    print(f"{'(ground truth bone-length std, mm)':40s} {r['gt_bone_std_mm']:10.3f}")
    print(f"{'(ground truth mean |accel|, mm/frame^2)':40s} {r['gt_mean_accel_mm_f2']:10.1f}")
    print(f"{'diagnostic: PA-MPJPE minus mean offsets':40s} "
          f"{o['pa_mpjpe_offset_corrected_mm']:10.1f} {w['pa_mpjpe_offset_corrected_mm']:10.1f}")
    print(f"{'  (mean per-joint definitional offset, mm)':40s} {o['mean_offset_mm']:10.1f} "
          f"{w['mean_offset_mm']:10.1f}")
    print("per-joint PA error (mm), ours / raw:")
    pj = r["per_joint_pa_mm"]
    print("  " + "  ".join(f"{n}: {pj['ours'][n]:.0f}/{pj['raw'][n]:.0f}" for n in pj["ours"]))
    print(f"2D error vs GT projection: ours {r['ours_2d_err_px']:.1f} px, raw "
          f"{r['raw_2d_err_px']:.1f} px (raw with L/R swapped: {r['raw_2d_err_px_if_lr_swapped']:.1f})")
    print(f"ours camera-space joint error, no alignment: {r['ours_cam_space_err_mm']:.0f} mm")
    print(f"{'segment':10s} {'frames':>6s} {'PA ours':>8s} {'PA raw':>8s} {'MPJPE ours':>11s} "
          f"{'MPJPE raw':>10s}")
    for name, s in r["segments"].items():
        print(f"{name:10s} {s['frames']:6d} {s['ours_pa_mpjpe_mm']:8.1f} {s['raw_pa_mpjpe_mm']:8.1f}"
              f" {s['ours_mpjpe_mm']:11.1f} {s['raw_mpjpe_mm']:10.1f}")
    print(f"camera height: true {t['camera_height_true_m']:.3f} m, ours "
          f"{t['camera_height_ours_m']:.3f} m; fov_y true {t['fov_y_true_deg']:.1f}, ours "
          f"{t['fov_y_ours_deg']} (focal source: {t['focal_source']}); pitch true "
          f"{t['pitch_true_deg']:.1f}, ours {t['pitch_ours_deg']:.1f} deg; root depth ratio "
          f"ours/true {t['depth_ratio']:.3f}")
    print(f"walked distance ({t['walk_frames']} frames, 0.5 s smoothed path): true "
          f"{t['walked_distance_true_m']:.2f} m, ours {t['walked_distance_ours_m']:.2f} m "
          f"(unsmoothed {t['walked_distance_ours_unsmoothed_m']:.2f}); displacement true "
          f"{t['walk_displacement_true_m']:.2f}, ours {t['walk_displacement_ours_m']:.2f} m; "
          f"ATE (2D rigid) {t['ate_rigid2d_m']:.3f} m")
    if t["person_height_true_m"] is not None and t["person_height_ours_m"] is not None:
        print(f"person height: true {t['person_height_true_m']:.3f} m (anny rest, vertex span), "
              f"ours {t['person_height_ours_m']:.3f} m")
    pp = r["pelvis_path"]
    print(f"pelvis path, whole clip (0.5 s smoothed): true {pp['true_m']:.2f} m, ours "
          f"{pp['ours_m']:.2f} m (ours - true {pp['ours_m'] - pp['true_m']:+.2f} m)")
    c = r.get("contacts")
    if c:
        print(f"foot contacts (+-1 frame): precision {c['precision']:.2f} recall {c['recall']:.2f}"
              f" F1 {c['f1']:.2f}; predicted in {100 * c['predicted_fraction']:.0f} % of "
              f"foot-frames, true in {100 * c['true_fraction']:.0f} %; planted sole height "
              f"median {c['planted_sole_height_median_m']} m")
    print(f"ratios: PA-MPJPE ours/raw {o['pa_mpjpe_mm'] / w['pa_mpjpe_mm']:.3f}; camera height "
          f"error/truth {t['camera_height_err_m'] / t['camera_height_true_m']:+.3f}; walked "
          f"distance error/truth {t['walked_distance_err_pct'] / 100:+.3f}; focal ours/true "
          f"{t['focal_ratio']:.3f}")
    if r["capture_wall_s"] is not None:
        print(f"capture wall time: {r['capture_wall_s']:.1f} s for {r['frames_gt']} frames")
    print(f"ours_pa_mpjpe={o['pa_mpjpe_mm']:.1f} raw_pa_mpjpe={w['pa_mpjpe_mm']:.1f} "
          f"ours_accel={o['accel_mm_f2']:.1f} raw_accel={w['accel_mm_f2']:.1f} "
          f"camera_height_err_m={t['camera_height_err_m']:.3f} "
          f"walked_distance_err_pct={t['walked_distance_err_pct']:.1f} "
          f"pelvis_path_err_m={pp['ours_m'] - pp['true_m']:.2f} "
          f"contact_f1={c['f1'] if c else float('nan'):.2f} focal_ratio={t['focal_ratio']:.3f}")


if __name__ == "__main__":
    raise SystemExit(main())
