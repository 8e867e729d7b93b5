"""Score limb-depth settings (limb_depth.LimbDepthConfig) on bench clips, cached detections.

Usage: limb_depth_sweep.py CLIP_DIR [CLIP_DIR ...] --work-root out/me
    [--setting NAME=field:value,field:value ...]
(``range_of_motion:1`` turns the shoulder's range on, ``margin_deg:5`` sets its margin)
Each setting solves the clip's cached observations (run_bench.py --cached must have run once)
with ``SolverConfig(limb_depth=LimbDepthConfig(**fields))`` and the capture's other defaults,
then scores it with run_bench.py; prints one line per clip and setting. Not part of the product.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def parse_setting(text: str) -> tuple[str, dict]:
    name, _, body = text.partition("=")
    fields: dict = {}
    for item in filter(None, body.split(",")):
        key, _, value = item.partition(":")
        if key == "margin_deg":     # the shoulder's range of motion: its margin
            from inference_backend.limb_depth import ShoulderRange  # noqa: PLC0415
            fields["shoulder_range"] = ShoulderRange(margin_deg=float(value))
        elif key == "range_of_motion":
            fields[key] = bool(float(value))
        elif key == "front_bones":    # arms, thighs or both
            pairs = {"arms": (("shoulder", "elbow"),), "thighs": (("hip", "knee"),),
                     "both": (("shoulder", "elbow"), ("hip", "knee"))}[value]
            fields[key] = tuple((f"{s}_{a}", f"{s}_{b}") for a, b in pairs
                                for s in ("left", "right"))
        else:
            fields[key] = float(value)
    return name, fields


def solve(clip: Path, out: Path, fields: dict) -> None:
    import cached_capture  # noqa: PLC0415

    from inference_backend import pipeline  # noqa: PLC0415
    from inference_backend.limb_depth import LimbDepthConfig  # noqa: PLC0415

    original = pipeline.load_solver

    def load_solver(config):
        solver = original(config)
        cfg = replace(solver.config, limb_depth=replace(LimbDepthConfig(), **fields))
        return replace(solver, config=cfg)

    pipeline.load_solver = load_solver
    try:
        cached_capture.capture(clip / "synthetic.mp4", out, clip / "observations.npz")
    finally:
        pipeline.load_solver = original


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="+", type=Path)
    ap.add_argument("--work-root", type=Path, required=True)
    ap.add_argument("--setting", action="append", default=[])
    args = ap.parse_args(argv)
    import run_bench  # noqa: PLC0415

    settings = [("default", {})] + [parse_setting(s) for s in args.setting]
    for clip in args.clips:
        for name, fields in settings:
            work = args.work_root / clip.name
            work.mkdir(parents=True, exist_ok=True)
            motion = work / f"sweep_{name}.npz"
            solve(clip, motion, fields)
            with contextlib.redirect_stdout(io.StringIO()):
                run_bench.main(["--cached", "--out-dir", str(clip), "--work-dir", str(work),
                                "--motion", str(motion)])
            r = json.loads((work / f"results_sweep_{name}.json").read_text())
            o, w, t = r["ours"], r["raw"], r["trajectory"]
            seg = " ".join(f"{k} {v['ours_pa_mpjpe_mm']:.1f}/{v['raw_pa_mpjpe_mm']:.1f}"
                           for k, v in r["segments"].items())
            c = r.get("contacts") or {}
            print(f"{clip.name:8s} {name:14s} PA {o['pa_mpjpe_mm']:5.1f} raw {w['pa_mpjpe_mm']:5.1f}"
                  f" ratio {o['pa_mpjpe_mm'] / w['pa_mpjpe_mm']:.3f} accel {o['accel_mm_f2']:.1f}"
                  f" bone {o['bone_std_mm']:.1f} camh {t['camera_height_err_m']:+.3f}"
                  f" walk {t['walked_distance_err_pct']:+.1f}%"
                  f" path {r['pelvis_path']['ours_m'] - r['pelvis_path']['true_m']:+.2f}"
                  f" F1 {c.get('f1', float('nan')):.2f} | {seg}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
