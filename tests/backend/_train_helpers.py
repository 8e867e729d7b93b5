"""Helpers shared by the STR training tests (a tiny synthetic database and a tiny config).

Not a conftest (owned by someone else); imported by test_trainer/test_evaluate/test_torchrun."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

TINY_MODEL: dict[str, Any] = {
    "seq_len": 16, "feat_dim": 32, "num_fragments": 4, "ttr_hidden": 16, "ste_hidden": 16,
    "part_hidden": 16, "integration_dim": 64, "attention_dim": 16, "attention_layers": 1,
    "self_repeats": 1, "regressor_dropout": 0.0,
}


def tiny_config(**optim: Any) -> dict[str, Any]:
    base = {"batch_size": 8, "lr": 5e-4, "epochs": 100, "iters_per_epoch": 20, "seed": 1,
            "log_every": 1, "val_batch_windows": 64}
    base.update(optim)
    return {
        "name": "tiny",
        "model": dict(TINY_MODEL),
        "data": {"train_3d": [{"name": "3dpw"}], "train_2d": [{"name": "posetrack"}],
                 "val": {"name": "3dpw", "split": "val"}, "seqlen": 16, "ratio_2d": 0.5},
        "optim": base,
        "smpl_dir": "smpl",
    }


def write_tiny_db(out: Path, sequences: int = 4, frames: int = 32, seed: int = 0) -> Path:
    from inference_backend.train.model_glue import make_synthetic_body
    from inference_backend.train.synthetic_db import SyntheticSpec, write_synthetic_db

    body, j_reg = make_synthetic_body(out / "smpl", seed)
    write_synthetic_db(out, SyntheticSpec(sequences=sequences, frames=frames, seed=seed,
                                          feature_dim=TINY_MODEL["feat_dim"]), body, j_reg)
    return out


def write_config(path: Path, cfg: dict[str, Any]) -> Path:
    path.write_text(json.dumps(cfg), encoding="utf-8")
    return path


def subprocess_env(threads: int = 1) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = str(threads)
    return env


def parse_final_line(stdout: str) -> dict[str, float]:
    last = [ln for ln in stdout.strip().splitlines() if ln.startswith("first_loss=")][-1]
    return {k: float(v) for k, v in (kv.split("=") for kv in last.split())}


PYTHON = sys.executable
