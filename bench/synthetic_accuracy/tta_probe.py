"""Probe: does test-time augmentation of the landmark model beat the single pass?

For every decoded frame of a bench clip, runs the backend's "roi" detection graph (as capture
does) and, for the pose nearest the ground-truth 2D joints, extra landmark passes in the same
region: on the horizontally mirrored frame (landmarks mirrored back), and on regions scaled /
shifted a little. Saves all passes (npz) and prints PA-MPJPE of each pass and of their fusions
on the 12 compare joints. Not part of the product.

Usage: python bench/synthetic_accuracy/tta_probe.py out/sa/inplace --save out/pose/inplace/tta_probe.npz
           [--fused-clip out/pose/inplace/mirror]
--fused-clip writes a clip folder (video and truth copied) whose observations.npz is the clip's
cached one with the single + mirror mean in place of the landmarks, for
``run_bench.py --cached --out-dir that/folder`` (its "raw" column is then the fused landmarks;
the single-pass raw reference is the original clip's).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from metrics import pa_mpjpe  # noqa: E402
from raw_landmarks import MP_COMPARE  # noqa: E402
from run_bench import load_gt  # noqa: E402

#: extra passes: name -> (mirrored frame?, region scale, region x shift as a fraction of its width)
PASSES = {
    "mirror": (True, 1.0, 0.0),
    "scale110": (False, 1.1, 0.0),
    "scale090": (False, 0.9, 0.0),
    "shift": (False, 1.0, 0.05),
    "mirror_scale110": (True, 1.1, 0.0),
}


def run_passes(video: Path, gt_uv: np.ndarray) -> dict[str, np.ndarray]:
    from inference_backend import detection as det  # noqa: PLC0415
    from inference_backend.config import CaptureConfig  # noqa: PLC0415
    from inference_backend.pose_tta import (  # noqa: PLC0415
        mirror_image_landmarks,
        mirror_roi,
        mirror_world_landmarks,
    )
    from inference_backend.video_io import DecodeReport, iter_frames, probe_video  # noqa: PLC0415

    cfg = CaptureConfig(video=video.resolve(), output=video.with_suffix(".unused.npz"))
    dcfg = cfg.detection_config()
    probe = probe_video(cfg.video)
    stats = det.DetectionStats()
    graph = det._RoiGraph(dcfg, det.pose_landmarker_bundle(dcfg.cache_dir), stats)
    model = det._LandmarkModel(graph._landmark_model, dcfg)
    names = ["single", *PASSES]
    out = {n: np.full((len(gt_uv), 2, 33, 3), np.nan, np.float32) for n in names}
    times = {n: 0.0 for n in names}
    for frame in iter_frames(probe, cfg.decode_config(), DecodeReport()):
        rgb = np.ascontiguousarray(frame.rgb)
        t0 = time.process_time()
        poses = graph.detect(det.image_packet(rgb))
        times["single"] += time.process_time() - t0
        if not poses or frame.index >= len(gt_uv):
            continue
        h, w = rgb.shape[:2]
        cost = [np.linalg.norm(p.image_xyv[MP_COMPARE, :2] * (w, h) * (probe.info.width / w)
                               - gt_uv[frame.index], axis=-1).mean() for p in poses]
        pose = poses[int(np.argmin(cost))]
        out["single"][frame.index] = (pose.image_xyv, pose.world_xyz)
        mirrored = None
        for name, (mirror, scale, shift) in PASSES.items():
            roi = pose.roi
            r = dataclasses.replace(roi, w=roi.w * scale, h=roi.h * scale,
                                    x=roi.x + shift * roi.w, fallback=None)
            t0 = time.process_time()
            if mirror:
                if mirrored is None:
                    mirrored = np.ascontiguousarray(rgb[:, ::-1])
                r = det.Roi(*mirror_roi(r.x, r.y, r.w, r.h, r.rotation))
                p = model.run(det.image_packet(mirrored), r)
            else:
                p = model.run(det.image_packet(rgb), r)
            times[name] += time.process_time() - t0
            if p is None:
                continue
            img, wld = p.image_xyv, p.world_xyz
            if mirror:
                img, wld = mirror_image_landmarks(img), mirror_world_landmarks(wld)
            out[name][frame.index] = (img, wld)
    graph.close()
    model.close()
    out["cpu_s"] = np.array([times[n] for n in names])
    out["names"] = np.array(names)
    return out


def score(world: np.ndarray, gtj: np.ndarray, ok: np.ndarray) -> float:
    return pa_mpjpe(world[ok][:, MP_COMPARE].astype(float), gtj[ok])


def write_fused_clip(clip: Path, res: dict[str, np.ndarray], names: tuple[str, ...],
                     out: Path) -> int:
    """A copy of ``clip`` whose cached observations carry the mean of the passes ``names`` on
    the frames where all of them found the person; returns how many frames were fused."""
    with np.load(clip / "observations.npz", allow_pickle=False) as d:
        arrays = {k: d[k] for k in d.files}
    if len(arrays["track_ids"]) != 1:
        raise SystemExit("write_fused_clip handles one-track clips only")
    frames = arrays["frame_indices"]
    passes = np.stack([res[n][frames] for n in names])             # (P, F, 2, 33, 3)
    single = res["single"][frames]
    ok = arrays["present"][0] & np.isfinite(passes).all(axis=(0, 2, 3, 4))
    # the probe's single pass is the cached track (same graph, same frames): check it
    if not np.allclose(single[ok, 1], arrays["world"][0][ok], atol=1e-6):
        raise SystemExit("the probe's single pass differs from the cached observations")
    fused = passes.mean(axis=0)
    info = json.loads(str(arrays["info"]))
    scale = np.array([info["width"], info["height"], 1.0], np.float32)
    image, world = arrays["image"].copy(), arrays["world"].copy()
    image[0, ok] = fused[ok, 0] * scale
    world[0, ok] = fused[ok, 1]
    arrays["image"], arrays["world"] = image, world
    out.mkdir(parents=True, exist_ok=True)
    for name in ("synthetic.mp4", "scene_gt.npz"):
        shutil.copy2(clip / name, out / name)
    tmp = out / "observations.partial.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, out / "observations.npz")
    return int(ok.sum())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("clip", type=Path)
    ap.add_argument("--save", type=Path, required=True)
    ap.add_argument("--fused-clip", type=Path, default=None)
    args = ap.parse_args()
    gt = load_gt(args.clip / "scene_gt.npz")
    if args.save.is_file():
        with np.load(args.save) as d:
            res = {k: d[k] for k in d.files}
    else:
        res = run_passes(args.clip / "synthetic.mp4", gt["uv"][:, gt["compare_idx"]])
        args.save.parent.mkdir(parents=True, exist_ok=True)
        np.savez(args.save, **res)
    gtj = gt["joints_cam"][:, gt["compare_idx"]]
    names = [str(n) for n in res["names"]]
    ok = np.all([np.isfinite(res[n][:, 1]).all(axis=(1, 2)) for n in names], axis=0)
    print(f"{args.clip.name}: {ok.sum()} frames with all passes; cpu s/frame "
          + ", ".join(f"{n} {c / len(ok):.3f}" for n, c in zip(names, res["cpu_s"], strict=True)))
    single = score(res["single"][:, 1], gtj, ok)
    for n in names:
        print(f"  {n:18s} {score(res[n][:, 1], gtj, ok):6.1f}")
    for combo in (("single", "mirror"), ("single", "scale110"), ("single", "scale110", "scale090"),
                  ("single", "mirror", "scale110", "mirror_scale110"), tuple(names)):
        fused = np.mean([res[n][:, 1] for n in combo], axis=0)
        v = score(fused, gtj, ok)
        print(f"  mean{combo!s:60s} {v:6.1f}  ({v / single:.3f} of single)")
    # depth order of the 8 limb bones: how often the passes agree where the single pass is wrong
    bones = ((0, 2), (1, 3), (2, 4), (3, 5), (6, 8), (7, 9), (8, 10), (9, 11))
    gt_ok = gtj[ok]

    def dz(x: np.ndarray) -> np.ndarray:
        return np.stack([x[:, c, 2] - x[:, p, 2] for p, c in bones], axis=1)

    length = np.stack([np.linalg.norm(gt_ok[:, c] - gt_ok[:, p], axis=-1) for p, c in bones], 1)
    clear = np.abs(dz(gt_ok)) > 0.3 * length   # inclined more than ~17 deg in depth
    sign = {n: np.sign(dz(res[n][ok][:, 1][:, MP_COMPARE])) for n in ("single", "mirror")}
    wrong = clear & (sign["single"] != np.sign(dz(gt_ok)))
    agree = sign["single"] == sign["mirror"]
    print(f"  depth order, bones inclined > 17 deg: {clear.sum()}; single wrong {wrong.sum()}, "
          f"of which the mirror pass agrees {(wrong & agree).sum()}; the passes disagree on "
          f"{(clear & ~agree).sum()}")
    if args.fused_clip is not None:
        n = write_fused_clip(args.clip, res, ("single", "mirror"), args.fused_clip)
        print(f"  wrote {args.fused_clip} ({n} frames fused)")


if __name__ == "__main__":
    main()
