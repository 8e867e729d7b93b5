"""Command line of the inference backend (the only module that configures logging).

    python -m inference_backend capture VIDEO -o OUT.npz [--solver default|str] [--max-people N]
        [--smoothing none|light|medium|strong] [--start S] [--end E] [--device auto|cpu|cuda]
        [--progress bar|jsonl|none] [--str-checkpoint PATH] [--spin-checkpoint PATH]
        [--smpl-dir DIR] [--fov DEG] [--camera auto|static|moving]
    python -m inference_backend doctor [--json]
    python -m inference_backend export-amass MOTION.npz -o OUT_DIR
    python -m inference_backend batch INPUTS... -o OUT_DIR [--ray local|auto|ADDRESS] [--workers N]
        [--resume] [--retries K] [capture options] [--progress bar|jsonl|none]
    python -m inference_backend {model-info,train,evaluate,make-synthetic-db,precompute-features}

Plug-in subcommands live in ``inference_backend.commands.<name_with_underscores>`` modules that
expose ``add_arguments(parser)`` and ``run(args) -> int``; they are imported only when chosen.
Exit codes: see ``errors.ExitCode``.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

from .config import (
    CAMERA_MODES,
    DEVICES,
    ENV_CACHE,
    ENV_SMPL_DIR,
    ENV_SPIN_CHECKPOINT,
    ENV_STR_CHECKPOINT,
    PROGRESS_MODES,
    SMOOTHING_LEVELS,
    TTA_MODES,
    CaptureConfig,
)
from .errors import CaptureError, ExitCode
from .solvers import REGISTRY as SOLVERS

PLUGIN_COMMANDS: tuple[str, ...] = (
    "batch", "model-info", "train", "evaluate", "make-synthetic-db", "precompute-features",
)


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors also become a JSON error event under --progress jsonl."""

    def __init__(self, *args: Any, jsonl: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.jsonl = jsonl

    def error(self, message: str) -> NoReturn:
        if self.jsonl:
            from .progress import JsonLinesReporter

            JsonLinesReporter().error(int(ExitCode.USAGE), f"usage: {message}")
        self.print_usage(sys.stderr)
        self.exit(int(ExitCode.USAGE), f"{self.prog}: error: {message}\n")


def _number(text: str, kind: type[float] | type[int] = float) -> float:
    """``text`` as a number; a usage error naming the text otherwise (argparse's own message
    would name this module's converter function)."""
    try:
        return kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None


def _non_negative(text: str) -> float:
    value = _number(text)
    if not value >= 0.0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(_number(text, int))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text}")
    return value


def _fov(text: str) -> float:
    value = _number(text)
    if not 5.0 <= value <= 170.0:
        raise argparse.ArgumentTypeError(f"field of view must be 5..170 degrees, got {text}")
    return value


def _heights(text: str) -> str:
    from .subject_size import parse_heights

    try:
        return parse_heights(text).to_text()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_capture(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("capture", help="video -> motion file (.npz)")
    p.add_argument("video", type=Path, help="input video file")
    p.add_argument("-o", "--output", type=Path, required=True, help="motion file to write")
    add_capture_options(p)


def add_capture_options(p: argparse.ArgumentParser) -> None:
    """The options ``capture`` and ``batch`` share (everything but the input and output)."""
    p.add_argument("--solver", choices=tuple(SOLVERS), default="default",
                   help="; ".join(f"{e.name}: {e.summary}" for e in SOLVERS.values()))
    p.add_argument("--max-people", type=_positive_int, default=2, help="most people to keep")
    p.add_argument("--smoothing", choices=SMOOTHING_LEVELS, default="medium")
    p.add_argument("--start", type=_non_negative, default=None, help="start time, seconds")
    p.add_argument("--end", type=_non_negative, default=None, help="end time, seconds")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--progress", choices=PROGRESS_MODES, default="bar")
    p.add_argument("--str-checkpoint", type=Path, default=None,
                   help=f"STR checkpoint (default: ${ENV_STR_CHECKPOINT})")
    p.add_argument("--spin-checkpoint", type=Path, default=None,
                   help="SPIN model_checkpoint.pt for the STR backbone when the STR checkpoint "
                   f"has none (default: ${ENV_SPIN_CHECKPOINT})")
    p.add_argument("--smpl-dir", type=Path, default=None,
                   help=f"folder with SMPL model files (default: ${ENV_SMPL_DIR})")
    p.add_argument("--fov", type=_fov, default=None,
                   help="horizontal camera field of view in degrees, overrides the estimate "
                        "(default: measured from a moving camera's turning, else from the "
                        "background's straight lines (two orthogonal directions, e.g. a room's "
                        "floor and wall edges), else estimated from the people when their "
                        "perspective shows it, else a 60 degree prior and a warning; the "
                        "motion file's header says which: camera.focal_source override | "
                        "camera_rotation | vanishing_points | estimated | prior)")
    p.add_argument("--height", type=_heights, default=None, metavar="METRES",
                   help="the subject's standing height in metres, for everyone (1.85) or per "
                        "track id (1:1.85,2:1.62); the skeleton, trajectory and camera height "
                        "scale with it (default: estimated, ~1.64 m for most people)")
    p.add_argument("--camera", choices=CAMERA_MODES, default="auto",
                   help="auto: track the camera's turning from the background and use it when "
                   "the camera moved (a tripod clip stays static); moving: always use the "
                   "tracked rotations; static: assume a fixed camera (default: auto)")
    p.add_argument("--tta", choices=TTA_MODES, default="none",
                   help="mirror: run the pose landmark model a second time on the mirrored "
                        "frame and average the two (a few %% lower pose error on our "
                        "benchmark, about twice the detection time; default: none)")
    p.add_argument("--detect-max-side", type=int, default=1920, help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=0,
                   help="video decoder threads for pictures beyond 4K (default 0: about one per "
                        "core; up to 4K the decoder uses one thread, so a damaged file decodes "
                        "the same on every run); batch: per task, also bounds numeric "
                        "libraries, default --cpus-per-task")


def build_parser(plugin: str | None = None, jsonl: bool = False) -> argparse.ArgumentParser:
    """The full parser; a plug-in module's arguments are added only for ``plugin``. With
    ``jsonl`` usage errors are also reported as a JSON error event on stdout."""
    parser = _Parser(prog="python -m inference_backend", description="STR Mocap backend",
                     jsonl=jsonl)
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", required=True,
                                parser_class=functools.partial(_Parser, jsonl=jsonl))  # type: ignore[call-overload]
    _add_capture(sub)
    d = sub.add_parser("doctor", help="check the installation")
    d.add_argument("--json", action="store_true", help="machine-readable output")
    d.add_argument("--smpl-dir", type=Path, default=None,
                   help=f"folder with SMPL model files (default: ${ENV_SMPL_DIR})")
    d.add_argument("--str-checkpoint", type=Path, default=None,
                   help=f"STR checkpoint to check (default: ${ENV_STR_CHECKPOINT})")
    a = sub.add_parser("export-amass", help="motion file -> AMASS-style npz per person")
    a.add_argument("motion", type=Path)
    a.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    for name in PLUGIN_COMMANDS:
        p = sub.add_parser(name, help=f"(plug-in) inference_backend.commands.{_module(name)}")
        if name == plugin:
            _load_plugin(name).add_arguments(p)
        else:
            p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def _module(name: str) -> str:
    return name.replace("-", "_")


class _PluginMissing(Exception):
    pass


def _load_plugin(name: str) -> ModuleType:
    """Import ``inference_backend.commands.<name>``; _PluginMissing if it is not there."""
    module_name = f"inference_backend.commands.{_module(name)}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):  # the module itself, not a dependency
            raise _PluginMissing(
                f"the '{name}' command is not installed (module {module_name} not found)"
            ) from exc
        raise
    if not (hasattr(module, "add_arguments") and hasattr(module, "run")):
        raise _PluginMissing(f"{module_name} lacks add_arguments()/run()")
    return module


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(stream=sys.stderr, level=level, format="%(levelname)s %(name)s: %(message)s")
    # Quieten mediapipe/TFLite's C++ logging unless asked for.
    if verbosity <= 0:
        os.environ.setdefault("GLOG_minloglevel", "2")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _from_env(value: Path | None, variable: str) -> Path | None:
    """An option's path, else the environment variable's (the backend reads its environment
    variables here only), made absolute; None when neither is set."""
    text = value or os.environ.get(variable) or None
    return Path(text).expanduser().absolute() if text else None


def capture_config(args: argparse.Namespace) -> CaptureConfig:
    """The CaptureConfig of parsed ``capture`` (or ``batch``) options; ``args.video`` and
    ``args.output`` may be placeholders the caller replaces."""
    return CaptureConfig(
        video=Path(args.video).expanduser().absolute(),
        output=Path(args.output).expanduser().absolute(),
        solver=args.solver,
        max_people=args.max_people,
        smoothing=args.smoothing,
        start=args.start,
        end=args.end,
        device=args.device,
        str_checkpoint=_from_env(args.str_checkpoint, ENV_STR_CHECKPOINT),
        spin_checkpoint=_from_env(args.spin_checkpoint, ENV_SPIN_CHECKPOINT),
        smpl_dir=_from_env(args.smpl_dir, ENV_SMPL_DIR),
        fov_deg=args.fov,
        subject_heights=args.height,
        detect_max_side=args.detect_max_side,
        threads=max(0, args.threads),
        camera=args.camera,
        cache_dir=_from_env(None, ENV_CACHE),
        tta=args.tta,
    )


def _run_capture(args: argparse.Namespace) -> int:
    from .progress import make_reporter
    from .stage_times import StageTimes

    times = StageTimes()  # start-up is counted from here (imports included)
    reporter = make_reporter(args.progress)
    try:
        from .pipeline import run_capture
        from .signals import CancelToken, handle_signals

        config = capture_config(args)
        token = CancelToken()
        with handle_signals(token):
            result = run_capture(config, reporter, token.is_set, times=times)
    except CaptureError as exc:
        logging.getLogger("inference_backend").debug("capture failed", exc_info=True)
        reporter.error(int(exc.code), exc.message)
        return int(exc.code)
    except KeyboardInterrupt:
        reporter.error(int(ExitCode.CANCELLED), "cancelled")
        return int(ExitCode.CANCELLED)
    except Exception as exc:  # an internal error: keep the traceback on stderr
        traceback.print_exc(file=sys.stderr)
        reporter.error(int(ExitCode.INTERNAL), f"internal error: {type(exc).__name__}: {exc}")
        return int(ExitCode.INTERNAL)
    reporter.result(str(result.output), result.persons, result.frames, list(result.warnings))
    return int(ExitCode.OK)


def _run_export_amass(args: argparse.Namespace) -> int:
    from .amass import export_amass

    def run() -> int:
        for path in export_amass(args.motion, args.output):
            print(path)
        return int(ExitCode.OK)

    return _guarded(run)


#: Commands after which ``python -m inference_backend`` ends without the interpreter's
#: teardown (process_exit.py): they register no exit handlers.
ENDS_AT_ONCE: frozenset[str] = frozenset({"capture"})


def command_of(argv: Sequence[str]) -> str | None:
    """The command word of a command line (its first argument not starting with '-')."""
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    jsonl = any(
        a == "--progress=jsonl" or (a == "--progress" and i + 1 < len(argv) and argv[i + 1] == "jsonl")
        for i, a in enumerate(argv)
    )
    command = command_of(argv)
    plugin = command if command in PLUGIN_COMMANDS else None
    try:
        parser = build_parser(plugin, jsonl)
    except _PluginMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return int(ExitCode.USAGE)
    except ImportError as exc:
        print(f"error: the '{plugin}' command cannot be loaded: {exc}", file=sys.stderr)
        return int(ExitCode.MODEL_PROBLEM)
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    if args.command == "capture":
        return _run_capture(args)
    if args.command == "export-amass":
        return _run_export_amass(args)
    return _guarded(lambda: _run_other(args))


def _run_other(args: argparse.Namespace) -> int:
    if args.command == "doctor":
        from .doctor import run_doctor

        return run_doctor(as_json=args.json, smpl_dir=_from_env(args.smpl_dir, ENV_SMPL_DIR),
                          str_checkpoint=_from_env(args.str_checkpoint, ENV_STR_CHECKPOINT),
                          cache_dir=_from_env(None, ENV_CACHE))
    module = _load_plugin(args.command)
    return int(module.run(args))


def _guarded(run: Callable[[], int]) -> int:
    """Run a command; Ctrl+C is exit 130 and an unexpected exception (a bug) exit 1, each
    ending with one ``error (CODE): ...`` line on stderr."""
    try:
        return run()
    except KeyboardInterrupt:
        print(f"error ({int(ExitCode.CANCELLED)}): cancelled", file=sys.stderr)
        return int(ExitCode.CANCELLED)
    except CaptureError as exc:
        print(f"error ({int(exc.code)}): {exc.message}", file=sys.stderr)
        return int(exc.code)
    except Exception as exc:  # an internal error: keep the traceback, end with one clear line
        traceback.print_exc(file=sys.stderr)
        print(f"error ({int(ExitCode.INTERNAL)}): internal error: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return int(ExitCode.INTERNAL)
