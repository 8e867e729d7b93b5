"""Why does the fitted body come out the wrong size or distance? Per-frame size and depth ratios.

Usage (repository root, after make_scene.py and one ``run_bench.py --cached`` of the clip):
    .venv/bin/python bench/synthetic_accuracy/scale_diagnosis.py out/sa/tall [--fov true]
        [--height true]

Solves the clip's cached observations with the default solver (camera frame, before the scene
stage) and compares, on the 12 limb joints, per frame:

- 2D size (RMS distance of the joints from their centroid, pixels): the projected truth, the
  MediaPipe image landmarks, our fitted skeleton's projection;
- 3D size (same, metres): truth, MediaPipe's metric landmarks, our fit;
- depth of the joints' centroid: truth, ours;
- bone lengths: truth (median over frames), MediaPipe's metric landmarks (median), our rest
  skeleton;
- standing height: the figure's (mesh span), ours (``subject_size.standing_height``).

Prints medians of the ratios ours / truth. Not part of the product.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from metrics import COMPARE_JOINTS  # noqa: E402
from raw_landmarks import MP_COMPARE  # noqa: E402
from run_bench import SMPL_COMPARE, load_gt  # noqa: E402

#: Bones by the names of COMPARE_JOINTS (both sides averaged).
BONES = {"thigh": ("hip", "knee"), "shin": ("knee", "ankle"), "upper arm": ("shoulder", "elbow"),
         "forearm": ("elbow", "wrist")}


def spread(points: np.ndarray) -> np.ndarray:
    """RMS distance (F,) of points (F, N, D) from their centroid."""
    c = points - points.mean(axis=1, keepdims=True)
    return np.sqrt(np.mean(np.sum(c * c, axis=-1), axis=1))


def project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    uvw = points @ K.T
    return uvw[..., :2] / uvw[..., 2:3]


def bone_lengths(joints: np.ndarray) -> dict[str, float]:
    """Median bone lengths (m) of joints (F, 12, 3) in COMPARE_JOINTS order, plus widths and
    the trunk (mid-hip to mid-shoulder)."""
    idx = {n: i for i, n in enumerate(COMPARE_JOINTS)}
    out = {}
    for name, (a, b) in BONES.items():
        d = [np.linalg.norm(joints[:, idx[f"{s}_{a}"]] - joints[:, idx[f"{s}_{b}"]], axis=-1)
             for s in ("left", "right")]
        out[name] = float(np.median(np.concatenate(d)))
    for name, a in (("hip width", "hip"), ("shoulder width", "shoulder")):
        out[name] = float(np.median(np.linalg.norm(
            joints[:, idx[f"left_{a}"]] - joints[:, idx[f"right_{a}"]], axis=-1)))
    mid_h = 0.5 * (joints[:, idx["left_hip"]] + joints[:, idx["right_hip"]])
    mid_s = 0.5 * (joints[:, idx["left_shoulder"]] + joints[:, idx["right_shoulder"]])
    out["trunk"] = float(np.median(np.linalg.norm(mid_s - mid_h, axis=-1)))
    return out


def diagnose(clip: Path, fov: float | None, height: float | None) -> dict:
    from cached_capture import observe_cached  # noqa: PLC0415

    from inference_backend.kinematics import fk_axis_angle, log_map  # noqa: PLC0415
    from inference_backend.solver_default import SolverConfig, solve_default  # noqa: PLC0415
    from inference_backend.subject_size import scale_track, standing_height  # noqa: PLC0415

    gt = load_gt(clip / "scene_gt.npz")
    if not (clip / "observations.npz").is_file():
        raise SystemExit(f"{clip}/observations.npz missing: run run_bench.py --cached first")
    tracks, info, times, frame_idx, _ = observe_cached(clip / "synthetic.mp4",
                                                       clip / "observations.npz")
    uv_gt_all = gt["uv"][:, gt["compare_idx"]]
    # the track that follows the figure
    best, best_err = 0, np.inf
    for k, tr in enumerate(tracks):
        ok = np.asarray(tr.present, bool)
        if ok.sum() == 0:
            continue
        err = np.linalg.norm(tr.image_landmarks[ok][:, MP_COMPARE, :2]
                             - uv_gt_all[frame_idx[ok]], axis=-1).mean()
        if err < best_err:
            best, best_err = k, err
    tr = tracks[best]
    solved = solve_default([tr], info, times, SolverConfig(fov_deg=fov))
    ct = solved.tracks[0]
    if height is not None:
        ct = scale_track(ct, height)
    K = np.asarray(solved.intrinsics.K, float)
    rest = np.asarray(ct.rest_joints, float)
    go = log_map(np.asarray(ct.orient_cam, float))
    joints = fk_axis_angle(rest, go, np.asarray(ct.body_pose, float),
                           np.asarray(ct.root_cam, float) - rest[0])[:, list(SMPL_COMPARE)]
    fr = frame_idx[ct.frames]
    gt3 = gt["joints_cam"][fr][:, gt["compare_idx"]]
    gt2 = gt["uv"][fr][:, gt["compare_idx"]]
    mp2 = np.asarray(tr.image_landmarks, float)[ct.frames][:, MP_COMPARE, :2]
    mp3 = np.asarray(tr.world_landmarks, float)[ct.frames][:, MP_COMPARE]
    ours2 = project(joints, K)
    r = {
        "frames": len(fr), "focal_ratio": float(K[0, 0] / gt["cam_K"][0, 0]),
        "size2d_mp_over_truth": float(np.median(spread(mp2) / spread(gt2))),
        "size2d_ours_over_truth": float(np.median(spread(ours2) / spread(gt2))),
        "size2d_ours_over_mp": float(np.median(spread(ours2) / spread(mp2))),
        "size3d_mp_over_truth": float(np.median(spread(mp3) / spread(gt3))),
        "size3d_ours_over_truth": float(np.median(spread(joints) / spread(gt3))),
        "depth_ours_over_truth": float(np.median(joints[..., 2].mean(1) / gt3[..., 2].mean(1))),
        "err2d_mp_px": float(np.linalg.norm(mp2 - gt2, axis=-1).mean()),
        "err2d_ours_px": float(np.linalg.norm(ours2 - gt2, axis=-1).mean()),
        "height_truth_m": float(gt["header"]["figure_height_m"]),
        "height_ours_m": standing_height(rest),
    }
    bt, bm, bo = bone_lengths(gt3), bone_lengths(mp3), bone_lengths(joints)
    r["bones"] = {n: (bt[n], bm[n], bo[n]) for n in bt}
    return r


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clip", type=Path)
    ap.add_argument("--fov", default=None, help="degrees, or 'true'")
    ap.add_argument("--height", default=None, help="metres, or 'true'")
    args = ap.parse_args(argv)
    gt = load_gt(args.clip / "scene_gt.npz")
    fov = (gt["header"]["scene"]["hfov_deg"] if args.fov == "true"
           else None if args.fov is None else float(args.fov))
    height = (gt["header"]["figure_height_m"] if args.height == "true"
              else None if args.height is None else float(args.height))
    r = diagnose(args.clip, fov, height)
    print(f"{args.clip.name}: {r['frames']} frames, focal ours/true {r['focal_ratio']:.3f}")
    print(f"  2D size  MediaPipe/truth {r['size2d_mp_over_truth']:.3f}  ours/truth "
          f"{r['size2d_ours_over_truth']:.3f}  ours/MediaPipe {r['size2d_ours_over_mp']:.3f}")
    print(f"  3D size  MediaPipe/truth {r['size3d_mp_over_truth']:.3f}  ours/truth "
          f"{r['size3d_ours_over_truth']:.3f}   depth ours/truth {r['depth_ours_over_truth']:.3f}")
    print(f"  2D error (px)  MediaPipe {r['err2d_mp_px']:.1f}  ours {r['err2d_ours_px']:.1f}")
    print(f"  standing height truth {r['height_truth_m']:.3f}  ours {r['height_ours_m']:.3f}")
    for n, (t, m, o) in r["bones"].items():
        print(f"  {n:15s} truth {t:.3f}  MediaPipe {m:.3f} ({m / t:.3f})  ours {o:.3f} "
              f"({o / t:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
