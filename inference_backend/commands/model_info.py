"""``python -m inference_backend model-info [--config JSON] [--forward]``.

Prints one JSON object: parameter counts per module, the temporal-module total, the
paper-convention total (comparable with the paper's 127.19M) and, with ``--forward``, the output
shapes and the wall time of one forward pass on a random (2, seq_len, feat_dim) input.
``--config`` takes a JSON object (inline text or a path to a .json file) of STRConfig fields.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import ExitCode


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register model-info's options on ``parser``."""
    parser.add_argument("--config", default=None,
                        help="STRConfig overrides: a JSON object or a path to a .json file")
    parser.add_argument("--forward", action="store_true",
                        help="also run one forward pass on random input and report shapes/time")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                        help="device for --forward (default cpu)")


def _read_config(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    candidate = Path(text)
    raw = candidate.read_text(encoding="utf-8") if candidate.suffix == ".json" and candidate.is_file() else text
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("--config must be a JSON object")
    return data


def run(args: argparse.Namespace) -> int:
    """Print the report; returns an exit code (2 for a bad --config)."""
    import torch

    from ..models import STRConfig, STRNet
    from ..models.param_count import check_model_size, parameter_report

    try:
        cfg = STRConfig.from_dict(_read_config(args.config))
        check_model_size(cfg)
    except (ValueError, TypeError, OSError) as exc:  # json.JSONDecodeError is a ValueError
        print(f"model-info: bad --config: {exc}", file=sys.stderr)
        return int(ExitCode.USAGE)
    torch.manual_seed(0)
    model = STRNet(cfg)
    report: dict[str, Any] = {"config": cfg.to_dict(), **parameter_report(model)}
    if args.forward:
        device = torch.device(args.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            print("model-info: --device cuda but CUDA is not available", file=sys.stderr)
            return int(ExitCode.USAGE)
        model = model.to(device).eval()
        x = torch.randn(2, cfg.seq_len, cfg.feat_dim, device=device)
        with torch.no_grad():
            model(x)  # warm-up
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            out = model(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
            elapsed = time.perf_counter() - start
        report["forward"] = {
            "input_shape": list(x.shape),
            "output_shapes": {k: list(v.shape) for k, v in out.items() if isinstance(v, torch.Tensor)},
            "seconds": round(elapsed, 4),
            "device": str(device),
            "threads": torch.get_num_threads(),
        }
    print(json.dumps(report, indent=2))
    return int(ExitCode.OK)


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (``python -m inference_backend.commands.model_info``)."""
    parser = argparse.ArgumentParser(prog="model-info", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
