"""One-command training smoke run of the full-size STR model, for a machine with a GPU.

    python bench/str_train_smoke.py                      # CUDA: 300 steps, batch 32, fp32 and AMP
    python bench/str_train_smoke.py --device cpu --steps 3 --batch 8    # any machine, minutes

Writes a synthetic TCMR-format database with SPIN-sized 2048-d features into a temporary folder
(``--db`` to keep it), then trains the paper-size network (``STRConfig()`` defaults, ~100M
parameters) with the real trainer (``inference_backend.train.trainer.Trainer``: the mixed 19 2D +
13 3D batch, TCMR loss, Adam 5e-5) for ``--steps`` steps in each precision mode (``--modes
fp32,amp``; AMP = float16 autocast + GradScaler, CUDA only; on CPU the "amp" mode runs fp32 and
says so). It prints one JSON line per mode and a summary:

- ``it_per_s`` / ``windows_per_s``: optimisation steps (and windows) per second over the steps
  after ``--warmup`` (CUDA synchronised before every clock read);
- ``peak_gpu_mb``: ``torch.cuda.max_memory_allocated`` of the run (CUDA), else ``peak_rss_mb``
  (the process's peak resident memory, whole process, CPU runs);
- ``loss_first`` / ``loss_last``: mean training loss of the first / last 10 steps (the synthetic
  labels are learnable, so a few hundred steps must lower it);
- ``amp_speedup``: fp32 step time / AMP step time, measured side by side in one process.

Exit code 0 when every loss is finite (and, with >= 100 steps, the loss fell), 1 otherwise.
The numbers depend on the machine: quote the device line the script prints.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import resource
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from inference_backend.train.model_glue import (  # noqa: E402
    build_model,
    make_body,
    make_synthetic_body,
    save_model_checkpoint,
)
from inference_backend.train.synthetic_db import SyntheticSpec, write_synthetic_db  # noqa: E402
from inference_backend.train.train_config import load_config  # noqa: E402
from inference_backend.train.trainer import RunOptions, Trainer  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--steps", type=int, default=None, help="steps per mode (CUDA 300, CPU 3)")
    p.add_argument("--warmup", type=int, default=None, help="untimed first steps (CUDA 10, CPU 1)")
    p.add_argument("--batch", type=int, default=32, help="global batch (TCMR/STR: 32)")
    p.add_argument("--modes", default="fp32,amp", help="comma list of fp32, amp")
    p.add_argument("--sequences", type=int, default=48, help="synthetic 3D training sequences")
    p.add_argument("--frames", type=int, default=48, help="frames per synthetic sequence")
    p.add_argument("--db", type=Path, default=None, help="keep the synthetic database here")
    return p.parse_args(argv)


def device_line(device: torch.device) -> str:
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"{props.name}, {props.total_memory / 2**30:.0f} GiB, torch {torch.__version__}"
    return f"CPU ({platform.processor() or platform.machine()}), {torch.get_num_threads()} threads, torch {torch.__version__}"


def make_db(folder: Path, sequences: int, frames: int) -> Path:
    body, j_reg = make_synthetic_body(folder / "smpl", 0)
    write_synthetic_db(folder, SyntheticSpec(sequences=sequences, frames=frames, seed=0,
                                             feature_dim=2048), body, j_reg)
    return folder


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_mode(db: Path, out: Path, device: torch.device, mode: str, steps: int, warmup: int,
             batch: int) -> dict:
    base = load_config("str_synthetic")
    cfg = replace(
        base, model={},  # STRConfig() defaults: the paper-size network
        optim=replace(base.optim, batch_size=batch, amp=(mode == "amp"), lr=5e-5,
                      iters_per_epoch=steps + warmup + 1, spin_checkpoint=None),
    )
    torch.manual_seed(0)
    trainer = Trainer(cfg, RunOptions(db, out, device=device.type, progress=False),
                      build_model=build_model, make_body=make_body,
                      save_model_checkpoint=save_model_checkpoint)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    losses: list[float] = []
    times: list[float] = []
    for _ in range(warmup + steps):
        sync(device)
        t0 = time.perf_counter()
        loss, _parts = trainer.train_step()
        sync(device)
        times.append(time.perf_counter() - t0)
        losses.append(loss)
    timed = times[warmup:]
    k = max(1, min(10, len(losses) // 4))
    result = {
        "mode": mode,
        "precision": "float16 autocast + GradScaler" if trainer.use_amp else "fp32",
        "steps": steps, "warmup": warmup, "batch": batch,
        "parameters": sum(p.numel() for p in trainer.model.parameters()),
        "it_per_s": round(len(timed) / sum(timed), 4),
        "windows_per_s": round(batch * len(timed) / sum(timed), 2),
        "step_ms_median": round(1000 * float(np.median(timed)), 2),
        "loss_first": round(float(np.mean(losses[:k])), 4),
        "loss_last": round(float(np.mean(losses[-k:])), 4),
        "losses_finite": all(math.isfinite(x) for x in losses),
    }
    if mode == "amp" and not trainer.use_amp:
        result["note"] = "AMP needs CUDA: this mode ran in fp32"
    if device.type == "cuda":
        result["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    else:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result["peak_rss_mb"] = round(rss / (2**20 if sys.platform == "darwin" else 2**10), 1)
    del trainer
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("str_train_smoke: --device cuda but CUDA is not available", file=sys.stderr)
        return 2
    gpu = device.type == "cuda"
    steps = args.steps if args.steps is not None else (300 if gpu else 3)
    warmup = args.warmup if args.warmup is not None else (10 if gpu else 1)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or any(m not in ("fp32", "amp") for m in modes) or steps < 1 or args.batch < 1:
        print("str_train_smoke: need --steps >= 1, --batch >= 1, --modes from fp32,amp",
              file=sys.stderr)
        return 2
    print(f"device: {device_line(device)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="str_smoke_") as tmp:
        db = args.db if args.db is not None else Path(tmp) / "db"
        t0 = time.perf_counter()
        if not (db / "3dpw_train_db.npz").is_file():
            make_db(db, args.sequences, args.frames)
        print(f"synthetic database (2048-d features): {db} ({time.perf_counter() - t0:.1f} s)",
              flush=True)
        results = []
        for mode in modes:
            res = run_mode(db, Path(tmp) / f"run_{mode}", device, mode, steps, warmup, args.batch)
            print(json.dumps(res), flush=True)
            results.append(res)
    summary: dict = {"device": device_line(device),
                     "modes": {r["mode"]: {k: r.get(k) for k in ("it_per_s", "windows_per_s",
                                                                 "peak_gpu_mb", "peak_rss_mb",
                                                                 "loss_first", "loss_last")}
                               for r in results}}
    by_mode = {r["mode"]: r for r in results}
    if "fp32" in by_mode and "amp" in by_mode:
        summary["amp_speedup"] = round(by_mode["amp"]["it_per_s"] / by_mode["fp32"]["it_per_s"], 3)
    ok = all(r["losses_finite"] for r in results)
    if steps >= 100:
        ok = ok and all(r["loss_last"] < r["loss_first"] for r in results)
    summary["ok"] = ok
    print(json.dumps(summary), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
