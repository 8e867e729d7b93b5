"""``python -m inference_backend batch INPUTS... -o OUT_DIR [options]``: capture a library of
videos as Ray tasks (see ``inference_backend.batch`` and the README section "Batch capture").

Exit codes: 0 every video done or up to date; 10 (SOME_FAILED) at least one video failed (the
manifest says which and why); 130 cancelled (finished outputs and the manifest stay valid;
``--resume`` completes the rest); 2/3/8 the batch could not start (usage, input not found, Ray
missing).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..errors import CaptureError, ExitCode


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register batch's options (plus every ``capture`` option) on ``parser``."""
    from ..cli import add_capture_options

    parser.add_argument("inputs", nargs="+", type=Path,
                        help="video files, folders (searched for videos) or list files "
                             "(.txt/.csv/.lst, one path per line)")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="output folder: OUT_DIR/<relative path>.npz per video, plus "
                             "batch_manifest.jsonl")
    parser.add_argument("--ray", default="local", metavar="local|auto|ADDRESS",
                        help="local: start a Ray runtime for this run (default); auto: join the "
                             "cluster running on this machine; ADDRESS: join that cluster's head")
    parser.add_argument("--workers", type=int, default=None,
                        help="most videos captured at once (default: CPUs / --cpus-per-task)")
    parser.add_argument("--cpus-per-task", type=_positive_float, default=1.0,
                        help="CPUs each video reserves (default 1)")
    parser.add_argument("--gpus-per-task", type=_non_negative_float, default=None,
                        help="GPUs each video reserves (default: 1 for --solver str when the "
                             "runtime has a GPU, else 0)")
    parser.add_argument("--resume", action="store_true",
                        help="skip videos whose output exists with the same input hash and options")
    parser.add_argument("--retries", type=_non_negative_int, default=2,
                        help="extra attempts for a video whose worker process died (default 2)")
    parser.add_argument("--dry-run", action="store_true",
                        help="list what would happen (one line per video: run|up-to-date|"
                             "missing, TAB, input, TAB, output) and exit; starts no Ray")
    parser.add_argument("--no-pin-cores", dest="pin_cores", action="store_false",
                        help="do not pin each task to cores of its own (Linux; pinning keeps N "
                             "tasks on N cores from oversubscribing, but on a machine busy "
                             "with other work a pinned task cannot move to an idle core)")
    add_capture_options(parser)


def _dry_run(config) -> int:  # type: ignore[no-untyped-def]
    from ..batch.scheduler import plan

    to_run, up_to_date, _, _ = plan(config)
    current = {item.relative for item in up_to_date}
    for item in sorted(to_run + up_to_date, key=lambda i: i.relative):
        state = ("up-to-date" if item.relative in current else "missing" if item.missing
                 else "run")
        print(f"{state}\t{item.video}\t{item.output}")
    return int(ExitCode.OK)


def run(args: argparse.Namespace) -> int:
    from ..batch.display import make_display
    from ..batch.scheduler import BatchConfig, run_batch
    from ..cli import capture_config

    display = make_display(args.progress)
    if args.workers is not None and args.workers < 1:
        display.error(int(ExitCode.USAGE), f"--workers must be >= 1, got {args.workers}")
        return int(ExitCode.USAGE)
    placeholder = argparse.Namespace(**{**vars(args), "video": Path("."), "output": Path(".")})
    config = BatchConfig(
        inputs=tuple(args.inputs), out_dir=args.output, capture=capture_config(placeholder),
        ray_address=args.ray, workers=args.workers, cpus_per_task=args.cpus_per_task,
        gpus_per_task=args.gpus_per_task, resume=args.resume, retries=args.retries,
        verbose=args.verbose > 0, crash_marker=BatchConfig.crash_marker_from_env(),
        pin_cores=args.pin_cores,
    )
    try:
        if args.dry_run:
            return _dry_run(config)
        summary = run_batch(config, display)
    except CaptureError as exc:
        logging.getLogger("inference_backend").debug("batch failed", exc_info=True)
        display.error(int(exc.code), exc.message)
        return int(exc.code)
    except KeyboardInterrupt:  # before the runtime was up: nothing ran yet
        display.error(int(ExitCode.CANCELLED), "cancelled")
        return int(ExitCode.CANCELLED)
    display.result({"total": summary.total, "done": summary.done, "failed": summary.failed,
                    "skipped": summary.skipped, "cancelled": summary.cancelled,
                    "frames": summary.frames, "seconds": round(summary.seconds, 3),
                    "manifest": summary.manifest, "exit_code": summary.exit_code})
    return summary.exit_code
