"""``python -m inference_backend evaluate --checkpoint CKPT --db DB [--dataset 3dpw|mpii3d|h36m]
[--smpl-dir DIR]``.

Scores an STR checkpoint on a TCMR-format database under TCMR's exact protocol (see
``inference_backend.train.evaluation``) and prints one JSON object on stdout (MPJPE, PA-MPJPE,
MPVPE (3DPW), accel error; mm and mm/frame^2) plus, on stderr, a table laid out like the
paper's Table 1 with the paper's STR numbers for reference. ``--db`` is a folder (the file
``{dataset}_{split}_db.*`` is looked up) or a database file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..atomic_io import atomic_write
from ..config import ENV_SMPL_DIR
from ..errors import ExitCode

DEFAULT_SPLIT = {"3dpw": "test", "mpii3d": "val", "h36m": "test"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, required=True, help="STR checkpoint (.pt)")
    parser.add_argument("--db", type=Path, required=True, help="database folder or file")
    parser.add_argument("--dataset", default="3dpw", choices=("3dpw", "mpii3d", "h36m"))
    parser.add_argument("--split", default=None,
                        help="database split (default: 3dpw test, mpii3d val, h36m test)")
    parser.add_argument("--smpl-dir", type=Path, default=None,
                        help="SMPL files; default <db>/smpl if present, else $STR_MOCAP_SMPL_DIR")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--batch-windows", type=int, default=8, help="windows per forward (8)")
    parser.add_argument("--match-vibe", action="store_true",
                        help="score only the frames VIBE's 16-frame chunks cover (TCMR validation)")
    parser.add_argument("--json-out", type=Path, default=None, help="also write the JSON here")


def _smpl_dir(args: argparse.Namespace, db_dir: Path) -> Path | None:
    if args.smpl_dir is not None:
        return args.smpl_dir
    if (db_dir / "smpl").is_dir():
        return db_dir / "smpl"
    env = os.environ.get(ENV_SMPL_DIR)
    return Path(env) if env else None


def run(args: argparse.Namespace) -> int:
    import torch

    from ..device import resolve_device
    from ..models.checkpoint import CheckpointError, load_str_checkpoint
    from ..train.datasets import DatabaseError, DatasetSpec, WindowDataset, find_db, load_db
    from ..train.evaluation import evaluate_windows
    from ..train.model_glue import make_body
    from ..train.report_table import PAPER_STR, format_table

    split = args.split or DEFAULT_SPLIT[args.dataset]
    try:
        if args.db.is_dir():
            db_dir, db_path = args.db, find_db(args.db, args.dataset, split)
        else:
            db_dir, db_path = args.db.parent, args.db
        db = load_db(db_path)
        ds = WindowDataset(db, DatasetSpec(args.dataset, split), is_train=False,
                           match_vibe=args.match_vibe)
    except DatabaseError as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return int(ExitCode.FILE_MISSING)
    try:
        loaded = load_str_checkpoint(args.checkpoint)
    except CheckpointError as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return int(exc.code)
    try:
        device = torch.device(resolve_device(args.device))
        model = loaded.model.to(device)
        body, j_reg = make_body(_smpl_dir(args, db_dir), device)
        if len(ds) == 0:
            raise ValueError(f"{db_path}: no sequence has {ds.seqlen} frames")
        res = evaluate_windows(model, ds, body, j_reg, device, batch_windows=args.batch_windows)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"evaluate: {exc}", file=sys.stderr)
        return int(ExitCode.MODEL_PROBLEM)
    table = format_table([
        ("STR (paper, Table 1)", PAPER_STR),
        (f"{args.checkpoint.name} ({db_path.name})", {args.dataset: res.metrics}),
    ])
    report = {
        "dataset": args.dataset, "split": split, "database": str(db_path),
        "checkpoint": str(args.checkpoint), "frames": res.frames, "sequences": res.sequences,
        **{k: round(v, 4) for k, v in res.metrics.items()},
        "units": {"mpjpe": "mm", "pa_mpjpe": "mm", "mpvpe": "mm", "accel_err": "mm/frame^2"},
        "protocol": ("TCMR: stride-1 windows with edge padding, middle frame; "
                     + ("mpii3d_test 17 joints, pelvis-aligned, valid_i frames"
                        if args.dataset == "mpii3d" else
                        "J_regressor_h36m -> 14 common joints, mid-hip aligned")
                     + "; similarity Procrustes; frame-weighted"),
        "paper_str": PAPER_STR[args.dataset],
        "table": table,
    }
    text = json.dumps(report, indent=2)
    if args.json_out is not None:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(args.json_out) as handle:
            handle.write(text.encode("utf-8"))
    print(table, file=sys.stderr)
    print(text, flush=True)
    return int(ExitCode.OK)
