"""``python -m inference_backend train --config FILE [--db DIR] [--out DIR] [--max-steps N]
[--resume CKPT] [--device auto|cpu|cuda] [--smpl-dir DIR]``.

Trains STR with TCMR's recipe (see ``inference_backend.train.trainer``). ``--config`` is a JSON
file or the name of a shipped config: one per row of the paper's Table 1 (``str_3dpw``,
``str_h36m_mpii3d``, ``str_no3dpw_3dpw``, ``str_no3dpw_mpii3d``, ``str_no3dpw_h36m``), Table 2's
base (``str_mpii3d_table2``) and ``str_synthetic``. ``--set KEY=VALUE`` (repeatable) changes an
STRConfig field, e.g. ``--set use_ttr=false`` for Table 2's "w/o TTR". Multi-GPU / multi-node:
``torchrun --nproc_per_node K -m inference_backend train ...`` (DDP; gloo on CPU). The last line
on stdout is ``first_loss=... last_loss=... ...``.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

from ..config import ENV_SMPL_DIR
from ..errors import ExitCode


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="training config (.json) or shipped name")
    parser.add_argument("--db", type=Path, default=None,
                        help="folder with the {dataset}_{set}_db.(pt|npz) files (required)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default runs/<name>)")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="stop after this many global steps (default: epochs x iterations)")
    parser.add_argument("--resume", type=Path, default=None, help="checkpoint.pt to continue from")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--smpl-dir", type=Path, default=None,
                        help="SMPL files (SMPL_NEUTRAL, J_regressor_extra/h36m); default from config")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.add_argument("--set", dest="model_set", action="append", default=[], metavar="KEY=VALUE",
                        help="override an STRConfig field of the config's model (repeatable), "
                             "e.g. --set use_ttr=false --set ste_kind=senet")
    parser.add_argument("--amp", action="store_true",
                        help="float16 mixed precision on CUDA (default: fp32, as the paper)")


def run(args: argparse.Namespace) -> int:
    from ..train.model_glue import build_model, make_body, save_model_checkpoint
    from ..train.train_config import load_config, with_model_overrides
    from ..train.trainer import RunOptions, Trainer

    try:
        cfg = with_model_overrides(load_config(args.config), args.model_set)
        if args.amp:
            cfg = replace(cfg, optim=replace(cfg.optim, amp=True))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        print(f"train: bad --config: {exc}", file=sys.stderr)
        return int(ExitCode.USAGE)
    if args.db is None:
        print("train: --db DIR is required (folder with the preprocessed databases)", file=sys.stderr)
        return int(ExitCode.USAGE)
    if args.max_steps is not None and args.max_steps < 1:
        print("train: --max-steps must be >= 1", file=sys.stderr)
        return int(ExitCode.USAGE)
    if args.resume is not None and not args.resume.is_file():
        print(f"train: --resume file not found: {args.resume}", file=sys.stderr)
        return int(ExitCode.FILE_MISSING)
    out = args.out or Path("runs") / cfg.name
    opts = RunOptions(db_dir=args.db, out_dir=out, max_steps=args.max_steps, resume=args.resume,
                      device=args.device, smpl_dir=args.smpl_dir, progress=not args.no_progress,
                      fallback_smpl_dir=Path(env) if (env := os.environ.get(ENV_SMPL_DIR)) else None)
    from ..errors import CaptureError
    from ..train.datasets import DatabaseError

    try:
        trainer = Trainer(cfg, opts, build_model=build_model, make_body=make_body,
                          save_model_checkpoint=save_model_checkpoint)
        summary = trainer.run()
    except CaptureError as exc:  # e.g. an unreadable SPIN checkpoint
        print(f"train: {exc}", file=sys.stderr)
        return int(exc.code)
    except (DatabaseError, FileNotFoundError) as exc:
        print(f"train: {exc}", file=sys.stderr)
        return int(ExitCode.FILE_MISSING)
    except ValueError as exc:
        print(f"train: {exc}", file=sys.stderr)
        return int(ExitCode.USAGE)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"trained {summary.steps} steps in {summary.seconds:.1f}s; outputs in {out}",
              file=sys.stderr)
        print(summary.final_line(), flush=True)
    return int(ExitCode.OK)
