"""The batch driver: plan (which videos run, which are up to date), then run them as Ray
tasks with at most ``workers`` in flight, retry a video whose worker died, record every
finished video in the manifest at once, and stop promptly on a cancel.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..atomic_io import leftover_temporaries
from ..config import CaptureConfig
from ..errors import CaptureError, ExitCode
from ..signals import CancelToken, handle_signals
from .display import BatchCounts, BatchDisplay
from .inputs import BatchItem, collect_items
from .manifest import (
    MANIFEST_NAME,
    ManifestRecord,
    ManifestWriter,
    capture_options,
    is_up_to_date,
    latest_records,
    read_manifest,
    utc_now,
)
from .runtime import Resources, import_ray, ray_runtime
from .task import ENV_CRASH_ONCE, TaskOutcome, TaskSpec, capture_video

log = logging.getLogger(__name__)

_POLL_S = 0.25
_CANCEL_GRACE_S = 10.0


@dataclass(frozen=True)
class BatchConfig:
    """One batch run.

    capture: the capture options (its video/output are replaced per video).
    ray_address: "local" (start one for the run), "auto" or a cluster address.
    workers: most videos in flight (None: as many as the CPUs/GPUs allow).
    cpus_per_task / gpus_per_task: Ray resources each video declares (gpus None: 1 for the STR
        solver when the runtime has a GPU and --device is not cpu, else 0).
    retries: extra attempts for a video whose worker process died.
    pin_cores: on Linux, each task holds and pins ceil(cpus_per_task) cores of its own.
    crash_marker: test hook, see ``task``.
    """

    inputs: tuple[Path, ...]
    out_dir: Path
    capture: CaptureConfig
    ray_address: str = "local"
    workers: int | None = None
    cpus_per_task: float = 1.0
    gpus_per_task: float | None = None
    resume: bool = False
    retries: int = 2
    verbose: bool = False
    crash_marker: str | None = None
    pin_cores: bool = True

    @staticmethod
    def crash_marker_from_env() -> str | None:
        return os.environ.get(ENV_CRASH_ONCE) or None


@dataclass(frozen=True)
class BatchSummary:
    total: int
    done: int
    failed: int
    skipped: int
    cancelled: int
    frames: int
    seconds: float
    manifest: str
    exit_code: int


@dataclass
class _Attempt:
    item: BatchItem
    number: int


class ProgressBoard:
    """A Ray actor the tasks report decoded frames to: key -> (done, total)."""

    def __init__(self) -> None:
        self._frames: dict[str, tuple[int, int]] = {}

    def update(self, key: str, done: int, total: int) -> None:
        self._frames[key] = (done, total)

    def snapshot(self) -> dict[str, tuple[int, int]]:
        return dict(self._frames)


def worker_death_errors(ray: Any) -> tuple[type[BaseException], ...]:
    """Ray errors that mean the process running a task died (retry), not that the task failed."""
    e = ray.exceptions
    names = ("WorkerCrashedError", "OutOfMemoryError", "NodeDiedError", "LocalRayletDiedError",
             "ObjectLostError", "OwnerDiedError")
    return tuple(getattr(e, n) for n in names if hasattr(e, n))


def plan(config: BatchConfig) -> tuple[list[BatchItem], list[BatchItem], dict[str, Any], Path]:
    """(items to run, items up to date, previous records by key, manifest path)."""
    items = collect_items(config.inputs, config.out_dir)
    manifest = Path(os.path.abspath(config.out_dir.expanduser())) / MANIFEST_NAME
    previous = latest_records(read_manifest(manifest)) if config.resume else {}
    options = capture_options(config.capture)
    to_run, up_to_date = [], []
    for item in items:
        record = previous.get(item.relative)
        if config.resume and not item.missing and is_up_to_date(record, options, item.video,
                                                                 item.output):
            up_to_date.append(item)
        else:
            to_run.append(item)
    return to_run, up_to_date, previous, manifest


class _Run:
    """State of one batch run on an initialised Ray runtime."""

    def __init__(self, config: BatchConfig, display: BatchDisplay, writer: ManifestWriter,
                 should_stop: Callable[[], bool]) -> None:
        self.config = config
        self.display = display
        self.writer = writer
        self.should_stop = should_stop
        self.options = capture_options(config.capture)
        self.run_id = uuid.uuid4().hex[:12]
        self.counts = {"done": 0, "failed": 0, "skipped": 0, "cancelled": 0}
        self.frames_done = 0
        self.total = 0
        self.bytes_to_run = 0
        self.bytes_finished = 0
        self.started = time.monotonic()

    def record(self, item: BatchItem, status: str, exit_code: int, message: str,
               outcome: TaskOutcome | None = None, attempts: int = 0,
               previous: dict[str, Any] | None = None) -> None:
        values: dict[str, Any] = {}
        if outcome is not None:
            values = {k: getattr(outcome, k) for k in ("frames", "people", "seconds", "worker_host",
                                                        "worker_node", "output_sha256", "warnings")}
        elif previous is not None:  # skipped: carry the facts of the capture that made the file
            values = {k: previous.get(k) for k in ("frames", "people", "worker_host", "worker_node",
                                                   "output_sha256")}
            values["warnings"] = list(previous.get("warnings") or [])
        sha = outcome.sha256 if outcome is not None else (previous or {}).get("sha256")
        record = ManifestRecord(
            input=str(item.video), relative=item.relative, output=str(item.output),
            size=item.size, sha256=sha, options=self.options, status=status,
            exit_code=int(exit_code), message=message, attempts=attempts, run_id=self.run_id,
            finished_at=utc_now(), **values,
        )
        self.writer.append(record)
        self.counts[status] += 1
        self.display.video(dataclasses.asdict(record))


def _task_resources(config: BatchConfig, res: Resources) -> tuple[float, float, CaptureConfig]:
    """(cpus, gpus) per task and the capture config adjusted to them."""
    capture = config.capture
    if config.cpus_per_task > res.max_node_cpus:
        raise CaptureError(ExitCode.USAGE, f"--cpus-per-task {config.cpus_per_task:g}: no node of "
                           f"the Ray runtime has that many CPUs (largest: {res.max_node_cpus:g})")
    gpus = config.gpus_per_task
    if gpus is None:
        wants_gpu = capture.solver == "str" and capture.device != "cpu"
        gpus = 1.0 if wants_gpu and res.gpus >= 1 else 0.0
    if gpus > 0 and res.gpus < gpus:
        raise CaptureError(ExitCode.USAGE, f"each video asks for {gpus:g} GPU(s) but the Ray "
                           f"runtime has {res.gpus:g}")
    if gpus == 0 and capture.device == "cuda":
        raise CaptureError(ExitCode.USAGE, "--device cuda but the tasks get no GPU "
                           "(the Ray runtime has none, or --gpus-per-task 0)")
    if gpus == 0 and capture.device == "auto":
        capture = dataclasses.replace(capture, device="cpu")  # never grab an unassigned GPU
    threads = capture.threads if capture.threads > 0 else max(1, math.ceil(config.cpus_per_task))
    return config.cpus_per_task, gpus, dataclasses.replace(capture, threads=threads)


def _workers(config: BatchConfig, res: Resources, cpus: float, gpus: float) -> int:
    if config.workers:
        return config.workers
    slots = int(res.cpus // cpus)
    if gpus > 0:
        slots = min(slots, int(res.gpus // gpus))
    return max(1, slots)


def _local_cpus(config: BatchConfig) -> int:
    """CPUs a local runtime offers: enough for --workers, else this machine's cores."""
    cores = os.cpu_count() or 1
    if config.workers:
        return max(1, math.ceil(config.workers * config.cpus_per_task))
    return max(cores, math.ceil(config.cpus_per_task))


def run_batch(config: BatchConfig, display: BatchDisplay,
              token: CancelToken | None = None) -> BatchSummary:
    """Run the batch; returns its summary (exit_code 0, SOME_FAILED or CANCELLED).
    Raises CaptureError for problems that stop the whole batch (bad inputs, no runtime).

    ``token`` (when given) is also set by SIGINT/SIGTERM/SIGBREAK once the runtime is up: the
    handlers are installed after ``ray.init``, which installs its own (a SIGTERM would otherwise
    abort the driver); before that, SIGINT is a KeyboardInterrupt."""
    token = token if token is not None else CancelToken()
    should_stop = token.is_set
    to_run, up_to_date, previous, manifest = plan(config)
    import_ray()  # before anything is written: without Ray, nothing can run
    threads = config.capture.threads or max(1, math.ceil(config.cpus_per_task))
    with ManifestWriter(manifest) as writer, ray_runtime(
        config.ray_address, _local_cpus(config), threads, config.verbose
    ) as res:
        run = _Run(config, display, writer, should_stop)
        run.total = len(to_run) + len(up_to_date)
        cpus, gpus, capture = _task_resources(config, res)
        workers = _workers(config, res, cpus, gpus)
        display.start({"total": run.total, "to_run": len(to_run), "skipped": len(up_to_date),
                       "workers": workers, "nodes": res.nodes, "manifest": str(manifest)})
        for item in up_to_date:
            run.record(item, "skipped", ExitCode.OK, "up to date (same input hash and options)",
                       previous=previous.get(item.relative))
        with handle_signals(token):
            _schedule(run, to_run, capture, cpus, gpus, workers)
    return _summary(run, manifest)


def _summary(run: _Run, manifest: Path) -> BatchSummary:
    c = run.counts
    code = (ExitCode.CANCELLED if c["cancelled"] or run.should_stop() else
            ExitCode.SOME_FAILED if c["failed"] else ExitCode.OK)
    return BatchSummary(run.total, c["done"], c["failed"], c["skipped"], c["cancelled"],
                        run.frames_done, time.monotonic() - run.started, str(manifest), int(code))


def _schedule(run: _Run, items: list[BatchItem], capture: CaptureConfig, cpus: float,
              gpus: float, workers: int) -> None:
    ray = import_ray()
    deaths = worker_death_errors(ray)
    board = ray.remote(num_cpus=0)(ProgressBoard).remote()
    remote = ray.remote(capture_video)
    pending: deque[_Attempt] = deque()
    for item in items:
        if item.missing:
            run.record(item, "failed", ExitCode.FILE_MISSING, f"video not found: {item.video}")
        else:
            pending.append(_Attempt(item, 1))
            run.bytes_to_run += item.size
    inflight: dict[Any, _Attempt] = {}
    frames: dict[str, tuple[int, int]] = {}

    def submit(attempt: _Attempt) -> None:
        item = attempt.item
        spec = TaskSpec(dataclasses.replace(capture, video=item.video, output=item.output),
                        item.relative, run.config.crash_marker,
                        cores=math.ceil(cpus) if run.config.pin_cores else 0)
        ref = remote.options(num_cpus=cpus, num_gpus=gpus, max_retries=0, retry_exceptions=False,
                             name=f"capture:{item.relative}").remote(spec, board)
        inflight[ref] = attempt

    def finish(ref: Any, attempt: _Attempt, cancelling: bool) -> None:
        item = attempt.item
        try:
            outcome: TaskOutcome = ray.get(ref, timeout=_CANCEL_GRACE_S if cancelling else None)
        except deaths as exc:
            if not cancelling and attempt.number <= run.config.retries:
                log.warning("worker died on %s (attempt %d): %s; retrying", item.relative,
                            attempt.number, exc)
                submit(_Attempt(item, attempt.number + 1))
                return
            status = "cancelled" if cancelling else "failed"
            code = ExitCode.CANCELLED if cancelling else ExitCode.INTERNAL
            run.record(item, status, code, f"the worker process died ({type(exc).__name__}) "
                       f"{attempt.number} time(s): killed or out of memory", attempts=attempt.number)
        except Exception as exc:
            if cancelling or isinstance(exc, ray.exceptions.TaskCancelledError):
                run.record(item, "cancelled", ExitCode.CANCELLED, "cancelled",
                           attempts=attempt.number)
            else:
                run.record(item, "failed", ExitCode.INTERNAL,
                           f"internal error: {type(exc).__name__}: {exc}", attempts=attempt.number)
        else:
            run.record(item, outcome.status, outcome.exit_code, outcome.message, outcome,
                       attempt.number)
            run.frames_done += outcome.frames or 0
        run.bytes_finished += item.size
        frames.pop(item.relative, None)
        for leftover in leftover_temporaries(item.output):  # after a failure: nothing partial
            leftover.unlink(missing_ok=True)

    snapshot: list[Any] = [board.snapshot.remote()]

    def show(force: bool = False) -> None:
        # never wait for the board (a busy machine must not slow the scheduling down): take a
        # snapshot when one is ready and ask for the next
        done, _ = ray.wait(snapshot, timeout=0)
        if done:
            try:
                frames.update(ray.get(done[0]))
            except Exception:  # progress is best effort
                pass
            snapshot[0] = board.snapshot.remote()
        running_keys = {a.item.relative for a in inflight.values()}
        live = {k: v for k, v in frames.items() if k in running_keys}
        processed = run.bytes_finished + sum(
            a.item.size * min(1.0, live[a.item.relative][0] / max(1, live[a.item.relative][1]))
            for a in inflight.values() if a.item.relative in live)
        elapsed = max(1e-6, time.monotonic() - run.started)
        frame_count = run.frames_done + sum(done for done, _ in live.values())
        rate = processed / elapsed
        eta = (run.bytes_to_run - processed) / rate if rate > 0 else None
        c = run.counts
        run.display.progress(BatchCounts(run.total, c["done"], c["failed"], c["skipped"],
                                         len(inflight), frame_count, frame_count / elapsed,
                                         None if not pending and not inflight else eta), force)

    try:
        while (pending or inflight) and not run.should_stop():
            while pending and len(inflight) < workers:
                submit(pending.popleft())
            ready, _ = ray.wait(list(inflight), num_returns=1, timeout=_POLL_S)
            for ref in ready:
                finish(ref, inflight.pop(ref), cancelling=False)
            show()
    except KeyboardInterrupt:
        pass  # a second path to the same stop: SIGINT where no handler is installed
    if inflight:
        _cancel(ray, inflight, finish)
    show(force=True)
    ray.kill(board)


def _cancel(ray: Any, inflight: dict[Any, _Attempt],
            finish: Callable[[Any, _Attempt, bool], None]) -> None:
    """Cancel running tasks: KeyboardInterrupt first (the writer cleans up), force after a grace
    period; every one gets its manifest record."""
    for ref in inflight:
        ray.cancel(ref, force=False)
    deadline = time.monotonic() + _CANCEL_GRACE_S
    while inflight and time.monotonic() < deadline:
        ready, _ = ray.wait(list(inflight), num_returns=len(inflight), timeout=_POLL_S)
        for ref in ready:
            finish(ref, inflight.pop(ref), cancelling=True)
    for ref in inflight:
        ray.cancel(ref, force=True)
    for ref, attempt in list(inflight.items()):
        finish(ref, attempt, cancelling=True)
    inflight.clear()
