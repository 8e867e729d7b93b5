"""``python -m inference_backend precompute-features SOURCE --boxes FILE --out DB.npz
[--spin-checkpoint CKPT] [--scale 1.2] [--batch 64] [--device auto|cpu|cuda]``.

SOURCE is a video file or a folder of images; FILE gives one box per (person, frame) (CSV
``frame,cx,cy,w,h[,person]`` or JSON, see ``inference_backend.train.features``). Writes a
TCMR-format database (vid_name, frame_id, img_name, bbox, features) as ``.npz``. Without a SPIN
checkpoint the ResNet-50 is randomly initialised: the features are then useless for a real model
(a loud warning is printed) - only for testing the pipeline.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ExitCode

RANDOM_INIT_WARNING = (
    "WARNING: no --spin-checkpoint given: the ResNet-50 backbone is RANDOMLY INITIALISED. "
    "These features do not match SPIN's and a model trained on them will not work on real "
    "videos. Pass SPIN's model_checkpoint.pt (spin_model_checkpoint.pth.tar) for real features."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", type=Path, help="video file or folder of images")
    parser.add_argument("--boxes", type=Path, required=True, help="box file (.csv or .json)")
    parser.add_argument("--out", type=Path, required=True, help="output database (.npz)")
    parser.add_argument("--spin-checkpoint", type=Path, default=None)
    parser.add_argument("--scale", type=float, default=1.2,
                        help="crop scale around the box (TCMR demo 1.2, 3DPW 1.3)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--seed", type=int, default=0, help="seed of a random initialisation")


def run(args: argparse.Namespace) -> int:
    import torch

    from ..device import resolve_device
    from ..models.backbone import ResNet50Backbone
    from ..models.checkpoint import CheckpointError, load_spin_state, load_spin_weights
    from ..train.datasets import save_db_npz
    from ..train.features import BoxFileError, extract_features, read_boxes

    if not args.source.exists():
        print(f"precompute-features: source not found: {args.source}", file=sys.stderr)
        return int(ExitCode.FILE_MISSING)
    if args.out.suffix != ".npz":
        print("precompute-features: --out must end in .npz", file=sys.stderr)
        return int(ExitCode.USAGE)
    try:
        boxes = read_boxes(args.boxes)
    except BoxFileError as exc:
        print(f"precompute-features: {exc}", file=sys.stderr)
        return int(ExitCode.USAGE)
    torch.manual_seed(args.seed)
    backbone = ResNet50Backbone()
    if args.spin_checkpoint is None:
        print(RANDOM_INIT_WARNING, file=sys.stderr)
    else:
        try:
            report = load_spin_weights(load_spin_state(args.spin_checkpoint), backbone=backbone)
        except CheckpointError as exc:
            print(f"precompute-features: {exc}", file=sys.stderr)
            return int(exc.code)
        print(f"SPIN backbone: {report['backbone'].summary()}", file=sys.stderr)
    try:
        db = extract_features(args.source, boxes, backbone,
                              torch.device(resolve_device(args.device)),
                              scale=args.scale, batch=args.batch)
    except BoxFileError as exc:
        print(f"precompute-features: {exc}", file=sys.stderr)
        return int(ExitCode.USAGE)
    save_db_npz(args.out, db)
    print(f"{args.out}: {len(db['features'])} frames, "
          f"{len(set(db['vid_name'].tolist()))} sequences", file=sys.stderr)
    return int(ExitCode.OK)
