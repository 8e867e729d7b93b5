"""``python -m inference_backend make-synthetic-db OUT [--sequences N] [--frames F] [--seed S]``.

Writes a small TCMR-format database with consistent labels and its own synthetic SMPL files
(``OUT/smpl``); see ``inference_backend.train.synthetic_db``. Train on it with
``train --config str_synthetic --db OUT``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ExitCode


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", type=Path, help="output folder")
    parser.add_argument("--sequences", type=int, default=64,
                        help="3D training sequences (default 64; more generalise better)")
    parser.add_argument("--frames", type=int, default=32, help="frames per sequence (default 32)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--feature-dim", type=int, default=256,
                        help="feature size (default 256, as configs/str_synthetic.json; SPIN: 2048)")
    parser.add_argument("--eval-sequences", type=int, default=None,
                        help="val/test sequences (default max(1, sequences // 4))")


def run(args: argparse.Namespace) -> int:
    from ..train.model_glue import make_synthetic_body
    from ..train.synthetic_db import SyntheticSpec, write_synthetic_db

    if args.sequences < 1 or args.frames < 16 or args.feature_dim < 1:
        print("make-synthetic-db: need --sequences >= 1 and --frames >= 16 (one window)",
              file=sys.stderr)
        return int(ExitCode.USAGE)
    spec = SyntheticSpec(sequences=args.sequences, frames=args.frames, seed=args.seed,
                         eval_sequences=args.eval_sequences, feature_dim=args.feature_dim)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"make-synthetic-db: cannot create {args.out}: {exc}", file=sys.stderr)
        return int(ExitCode.OUTPUT_NOT_WRITABLE)
    body, j_reg = make_synthetic_body(args.out / "smpl", args.seed)
    paths = write_synthetic_db(args.out, spec, body, j_reg)
    for p in paths:
        print(p)
    return int(ExitCode.OK)
