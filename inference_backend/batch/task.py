"""One video of a batch, run inside a Ray worker process: the same ``pipeline.run_capture``
(and so the same atomic motion-file writer) as ``python -m inference_backend capture``.

Why in the Ray worker and not in a ``capture`` subprocess per video: a Ray worker already is a
process of its own, so a crash or an out-of-memory kill takes down that worker only; Ray
reports it to the driver as a worker death and the driver retries the video. Running in the
worker saves a process start and the imports (~2-4 s per video) and gives typed results and
live progress. Cancellation (``ray.cancel``) arrives as KeyboardInterrupt, which unwinds
through the atomic writer, so no partial output is left.

Fault-injection hook for tests: ``TaskSpec.crash_marker`` (the driver fills it from the
environment variable ``STR_MOCAP_BATCH_CRASH_ONCE``, a file path). The first task to create
that file kills its own worker with ``os._exit`` after ``CRASH_AT_FRAME`` decoded frames.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic_io import leftover_temporaries
from ..config import CaptureConfig
from ..errors import CaptureError, ExitCode
from ..progress import DECODE_DETECT, ProgressReporter
from .manifest import file_sha256

log = logging.getLogger(__name__)

ENV_CRASH_ONCE = "STR_MOCAP_BATCH_CRASH_ONCE"
CRASH_AT_FRAME = 5
CRASH_EXIT_CODE = 137
#: Environment variables that bound the threads of numeric libraries in a worker.
THREAD_ENV_VARS: tuple[str, ...] = (
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
_PROGRESS_INTERVAL_S = 0.5


@dataclass(frozen=True)
class TaskSpec:
    """What one task captures. key: the manifest key (relative path); crash_marker: test hook
    (see the module docstring). ``config.threads`` bounds the task's CPU threads; ``cores`` > 0:
    the task also holds that many cores of its own (``reserved_cores``; 0: no pinning)."""

    config: CaptureConfig
    key: str
    crash_marker: str | None = None
    cores: int = 0


@dataclass(frozen=True)
class TaskOutcome:
    """What a task reports back (a finished capture or an expected failure)."""

    key: str
    status: str                 # "done" | "failed"
    exit_code: int
    message: str
    seconds: float
    worker_host: str
    worker_node: str | None = None
    sha256: str | None = None
    frames: int | None = None
    people: int | None = None
    output_sha256: str | None = None
    warnings: list[str] = field(default_factory=list)


class _BoardReporter(ProgressReporter):
    """Forwards decoded-frame counts to the driver's progress board (at most 2 per second)."""

    def __init__(self, board: Any, key: str, crash_marker: str | None) -> None:
        super().__init__()
        self._board = board
        self._key = key
        self._crash_marker = crash_marker
        self._last = 0.0

    def progress(self, stage: str, done: int, total: int) -> None:
        if stage != DECODE_DETECT:
            return
        if self._crash_marker and done == CRASH_AT_FRAME:
            _crash_once(self._crash_marker)
        now = time.monotonic()
        if self._board is not None and (now - self._last >= _PROGRESS_INTERVAL_S or done == total):
            self._last = now
            self._board.update.remote(self._key, int(done), int(total))


def _crash_once(marker: str) -> None:
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    os.write(fd, f"{socket.gethostname()} {os.getpid()}\n".encode())
    os.close(fd)
    os._exit(CRASH_EXIT_CODE)


def limit_threads(threads: int) -> None:
    """Bound the threads of libraries already loaded in this worker (the environment
    variables, set for the worker by the runtime, cover those loaded later)."""
    for name in THREAD_ENV_VARS:
        os.environ[name] = str(threads)
    try:
        import cv2

        cv2.setNumThreads(threads)
    except ImportError:
        pass
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


@contextmanager
def reserved_cores(count: int) -> Iterator[tuple[int, ...]]:
    """Pin this process to ``count`` CPU cores no other batch task on this machine holds, for
    the block (Linux; elsewhere, or when every core is taken, nothing is pinned and ``()`` is
    yielded).

    Why: MediaPipe's graph runs its calculators on a thread pool sized to the machine (two busy
    threads per detector were measured on a 2-core VM) and offers no thread setting, so the
    only way to keep a 1-CPU task on one CPU is affinity. Cores are claimed with ``flock`` on
    per-core files in the temp folder: the OS releases them when the worker dies.
    """
    if not hasattr(os, "sched_setaffinity"):
        yield ()
        return
    import fcntl

    original = os.sched_getaffinity(0)
    folder = Path(tempfile.gettempdir()) / f"str-mocap-cores-{os.getuid()}"
    folder.mkdir(exist_ok=True)
    held: list[tuple[int, int]] = []
    for core in sorted(original):
        fd = os.open(folder / f"{core}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        held.append((core, fd))
        if len(held) == count:
            break
    cores = tuple(core for core, _ in held)
    try:
        if len(held) == count:
            _set_affinity(set(cores))
            yield cores
        else:  # more tasks than cores: leave the scheduling to the OS
            yield ()
    finally:
        if len(held) == count:
            _set_affinity(original)
        for _, fd in held:
            os.close(fd)  # releases the lock


def _set_affinity(cores: set[int]) -> None:
    """Affinity of every thread of this process (threads started later inherit it)."""
    for tid in os.listdir("/proc/self/task") if os.path.isdir("/proc/self/task") else ["0"]:
        try:
            os.sched_setaffinity(int(tid), cores)
        except OSError:  # a thread that just ended
            pass


def remove_leftovers(spec: TaskSpec) -> None:
    """Delete temp files a killed earlier attempt at this output left behind."""
    for leftover in leftover_temporaries(spec.config.output):
        leftover.unlink(missing_ok=True)


@contextmanager
def _no_pin() -> Iterator[tuple[int, ...]]:
    yield ()


def _node_id() -> str | None:
    """The Ray node this task runs on (several nodes may share a host name)."""
    try:
        import ray

        return str(ray.get_runtime_context().get_node_id())
    except Exception:  # not inside Ray (a direct call in a test or a debugger)
        return None


def _make_output_folder(config: CaptureConfig) -> None:
    try:
        config.output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CaptureError(ExitCode.OUTPUT_NOT_WRITABLE,
                           f"cannot create the output folder {config.output.parent}: {exc}") from exc


def capture_video(spec: TaskSpec, board: Any = None) -> TaskOutcome:
    """Capture one video; expected failures come back as a 'failed' outcome with the exit code
    and message ``capture`` would give. KeyboardInterrupt (a cancel) propagates."""
    from ..pipeline import run_capture

    start = time.monotonic()
    host, node = socket.gethostname(), _node_id()
    config = spec.config
    if config.threads > 0:
        limit_threads(config.threads)
    digest = None
    try:
        if not config.video.is_file():
            raise CaptureError(ExitCode.FILE_MISSING,
                               f"video not found on worker {host}: {config.video}")
        digest = file_sha256(config.video)
        _make_output_folder(config)
        remove_leftovers(spec)
        with reserved_cores(spec.cores) if spec.cores > 0 else _no_pin():
            result = run_capture(config, _BoardReporter(board, spec.key, spec.crash_marker))
    except CaptureError as exc:
        return TaskOutcome(spec.key, "failed", int(exc.code), exc.message,
                           time.monotonic() - start, host, node, digest)
    except Exception as exc:  # a bug or an unexpected library failure: keep the details
        log.error("capture of %s failed:\n%s", config.video, traceback.format_exc())
        return TaskOutcome(spec.key, "failed", int(ExitCode.INTERNAL),
                           f"internal error: {type(exc).__name__}: {exc}",
                           time.monotonic() - start, host, node, digest)
    return TaskOutcome(
        spec.key, "done", int(ExitCode.OK),
        f"{result.persons} person(s), {result.frames} frame(s)", time.monotonic() - start, host,
        node, digest, result.frames, result.persons, file_sha256(result.output), list(result.warnings),
    )
