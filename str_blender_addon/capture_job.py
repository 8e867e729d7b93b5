"""One capture: run ``<python> -m inference_backend capture ... --progress jsonl`` and follow
it (no bpy, no torch).

The backend prints the JSON-lines events of docs/progress_events.md on stdout (names in
``backend_contract``) and logs on stderr; it exits 0 on success, 130 when cancelled, another
code of the table in docs/progress_events.md on errors.

:class:`CaptureJob` spawns it (own process group/session, see ``process``), reads both pipes
on threads, and offers a non-blocking :meth:`CaptureJob.poll` returning a :class:`JobState`,
a two-phase :meth:`CaptureJob.cancel` (terminate, then kill after a grace period) and removal
of partial files. :class:`ProgressFollower` turns events into overall progress. The Blender
operator is a thin wrapper that calls ``poll()`` on timer events.
"""

from __future__ import annotations

import collections
import json
import queue
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import IO

from .backend_contract import (
    CAMERA_MODES,
    EVENT_ERROR,
    EVENT_FIELDS,
    EVENT_PROGRESS,
    EVENT_RESULT,
    EVENT_WARNING,
    EXIT_CANCELLED,
    STAGE_WEIGHTS,
    TTA_MODES,
)
from .core.subject_height import normalise_heights
from .process import (
    backend_env,
    last_meaningful,
    send_kill,
    send_stop,
    start_process,
    stop_process,
)

#: Name of the motion file inside a job folder.
OUTPUT_NAME = "motion.npz"


class JobStatus(Enum):
    """Life cycle of a capture job."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


@dataclass(frozen=True)
class JobState:
    """A snapshot of a capture job.

    Attributes:
        status: see :class:`JobStatus`.
        stage: the backend stage name of the latest progress event ("" before the first).
        stage_done, stage_total: items done / total in that stage (frames, tracks, ...).
        fraction: overall progress 0..1, never decreasing (1.0 on success).
        fps: items per second the backend reports for the stage (0 if unknown).
        eta_s: the backend's remaining-time estimate for the stage in seconds (None if unknown).
        message: human-readable status or error text (includes the backend's own message).
        output_path: the motion file (only set on success).
        persons, frames: counts from the result event.
        warnings: warnings from the result event.
        exit_code: the process exit code once it has exited (negative: killed by a signal).
        elapsed_s: seconds since the process started.
        stderr_tail: the last stderr lines (logs), newest last.
    """

    status: JobStatus
    stage: str = ""
    stage_done: int = 0
    stage_total: int = 0
    fraction: float = 0.0
    fps: float = 0.0
    eta_s: float | None = None
    message: str = ""
    output_path: Path | None = None
    persons: int = 0
    frames: int = 0
    warnings: tuple[str, ...] = ()
    exit_code: int | None = None
    elapsed_s: float = 0.0
    stderr_tail: tuple[str, ...] = ()


@dataclass(frozen=True)
class CaptureRequest:
    """What to capture and how (maps 1:1 to the backend's ``capture`` options).

    ``start_s``/``end_s`` are seconds into the video; None means from the start / to the end.
    Empty strings for ``str_checkpoint``/``smpl_dir`` mean "not set".
    """

    video: Path
    solver: str = "default"
    max_people: int = 2
    smoothing: str = "medium"
    start_s: float | None = None
    end_s: float | None = None
    device: str = "auto"
    str_checkpoint: str = ""
    smpl_dir: str = ""
    #: ``--height``: "" (estimated), "1.85" or "1:1.85,2:1.62" (core.subject_height).
    subject_height: str = ""
    #: ``--fov`` in degrees (horizontal); None = estimated from the video.
    fov_deg: float | None = None
    #: ``--camera``: "auto" (track the camera's turning, use it when it moved), "static" or
    #: "moving" (backend_contract.CAMERA_MODES).
    camera: str = "auto"
    #: ``--tta``: "none", or "mirror" (a second landmark pass on the mirrored frame, averaged
    #: in: a little more accurate, about twice the detection time) (backend_contract.TTA_MODES).
    tta: str = "none"


@dataclass(frozen=True)
class JobConfig:
    """How the job process is run and stopped.

    Attributes:
        grace_s: seconds between the polite stop (SIGTERM / CTRL_BREAK) and the hard kill.
        timeout_s: overall wall-clock limit; the job is stopped and FAILED after it (None: none).
        stderr_lines: how many stderr lines to keep for error messages.
        extra_env: environment variables added for the backend (e.g. PYTHONPATH in tests).
    """

    grace_s: float = 3.0
    timeout_s: float | None = None
    stderr_lines: int = 50
    extra_env: Mapping[str, str] = field(default_factory=dict)


def build_capture_argv(
    python_exe: Path | str, request: CaptureRequest, output_path: Path | str
) -> list[str]:
    """The backend command line for ``request`` writing ``output_path``."""
    argv = [
        str(python_exe),
        "-m",
        "inference_backend",
        "capture",
        str(request.video),
        "-o",
        str(output_path),
        "--progress",
        "jsonl",
        "--solver",
        request.solver,
        "--max-people",
        str(int(request.max_people)),
        "--smoothing",
        request.smoothing,
        "--device",
        request.device,
    ]
    if request.start_s is not None:
        argv += ["--start", _fmt_seconds(request.start_s)]
    if request.end_s is not None:
        argv += ["--end", _fmt_seconds(request.end_s)]
    if request.str_checkpoint:
        argv += ["--str-checkpoint", str(request.str_checkpoint)]
    if request.smpl_dir:
        argv += ["--smpl-dir", str(request.smpl_dir)]
    if request.subject_height.strip():
        argv += ["--height", normalise_heights(request.subject_height)]
    if request.fov_deg is not None:
        argv += ["--fov", repr(float(request.fov_deg))]
    if request.camera != "auto":
        argv += ["--camera", request.camera]
    if request.tta != "none":
        argv += ["--tta", request.tta]
    return argv


def _fmt_seconds(value: float) -> str:
    return repr(float(value))


def validate_request(request: CaptureRequest) -> None:
    """Raise ValueError with an actionable message for requests the backend would refuse."""
    video = Path(request.video)
    if not str(request.video).strip():
        raise ValueError("No video file chosen: pick a video in the STR Mocap panel.")
    if not video.is_file():
        raise ValueError(f"Video file not found: {video}")
    if request.max_people < 1:
        raise ValueError("Max people must be at least 1.")
    normalise_heights(request.subject_height)          # ValueError says what is wrong
    if request.fov_deg is not None and not 5.0 <= request.fov_deg <= 170.0:
        raise ValueError("Field of view must be 5-170 degrees (0 in the panel: estimate it).")
    if request.camera not in CAMERA_MODES:
        raise ValueError(f"Camera must be one of {', '.join(CAMERA_MODES)}, "
                         f"not {request.camera!r}.")
    if request.tta not in TTA_MODES:
        raise ValueError(f"Detector passes must be one of {', '.join(TTA_MODES)}, "
                         f"not {request.tta!r}.")
    if request.start_s is not None and request.start_s < 0:
        raise ValueError("Start time must be >= 0 seconds.")
    if (
        request.start_s is not None
        and request.end_s is not None
        and request.end_s <= request.start_s
    ):
        raise ValueError(
            f"End time ({request.end_s:g} s) must be after start time ({request.start_s:g} s)."
        )
    if request.solver == "str" and request.str_checkpoint and not Path(
        request.str_checkpoint
    ).is_file():
        raise ValueError(f"STR checkpoint not found: {request.str_checkpoint}")


def parse_event_line(text: str) -> dict[str, object] | None:
    """One stdout line -> the event object, or None for anything that is not one of the
    contract's events (stray prints of a library are kept as noise, not guessed at)."""
    try:
        event = json.loads(text)
    except (json.JSONDecodeError, ValueError):
        return None
    if isinstance(event, dict) and event.get("event") in EVENT_FIELDS:
        return event
    return None


@dataclass
class ProgressFollower:
    """The overall progress of a capture from its events (docs/progress_events.md).

    Each stage fills its ``STAGE_WEIGHTS`` share of the bar from where the bar stood when the
    stage began; the bar never goes back and stays below 1 until the result. A stage this
    add-on does not know (a newer backend) gets half of what is left.
    """

    stage: str = ""
    done: int = 0
    total: int = 0
    fps: float = 0.0
    eta: float | None = None
    fraction: float = 0.0
    result: dict[str, object] | None = None
    error: dict[str, object] | None = None
    warnings: list[str] = field(default_factory=list)
    _stage_base: dict[str, float] = field(default_factory=dict)

    def apply(self, event: Mapping[str, object]) -> None:
        kind = event.get("event")
        if kind == EVENT_PROGRESS:
            stage = str(event.get("stage", ""))
            if stage != self.stage:
                self._stage_base.setdefault(stage, self.fraction)
            self.stage = stage
            self.done = _as_int(event.get("done"))
            self.total = _as_int(event.get("total"))
            self.fps = _as_float(event.get("fps")) or 0.0
            self.eta = _as_float(event.get("eta"))
            within = min(max(self.done / self.total, 0.0), 1.0) if self.total > 0 else 0.0
            base = self._stage_base.get(stage, self.fraction)
            weight = STAGE_WEIGHTS.get(stage, max(0.0, (1.0 - base) * 0.5))
            self.fraction = min(max(self.fraction, base + weight * within), 0.99)
        elif kind == EVENT_WARNING:
            self.warnings.append(str(event.get("message", "")))
        elif kind == EVENT_RESULT:
            self.result = dict(event)
        elif kind == EVENT_ERROR:
            self.error = dict(event)

    def message(self) -> str:
        if not self.stage:
            return "Starting backend..."
        text = f"{self.stage}: {self.done}/{self.total}"
        if self.fps > 0:
            text += f" ({self.fps:.1f}/s"
            text += f", {self.eta:.0f} s left)" if self.eta is not None else ")"
        return text


class CaptureJob:
    """One backend capture run in its own job folder.

    Usage::

        job = CaptureJob(python_exe, request, jobs_root)
        job.start()
        while not (state := job.poll()).status.finished:   # e.g. on a timer
            show(state.fraction, state.stage)
        if state.status is JobStatus.SUCCEEDED: import_motion(state.output_path)

    The output goes to ``<jobs_root>/<job id>/motion.npz``. On failure or cancel the job folder
    (with any partial/temporary files) is removed; on success it stays until :meth:`cleanup`.
    """

    def __init__(
        self,
        python_exe: Path | str,
        request: CaptureRequest,
        jobs_root: Path | str,
        config: JobConfig | None = None,
    ) -> None:
        self.python_exe = Path(python_exe)
        self.request = request
        self.config = config or JobConfig()
        self.job_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:8]
        self.job_dir = Path(jobs_root) / self.job_id
        self.output_path = self.job_dir / OUTPUT_NAME
        self._proc: subprocess.Popen[str] | None = None
        self._events: queue.Queue[dict[str, object]] = queue.Queue()
        self._stdout_noise: collections.deque[str] = collections.deque(maxlen=20)
        self._stderr: collections.deque[str] = collections.deque(maxlen=self.config.stderr_lines)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._started_at = 0.0
        self._cancel_requested_at: float | None = None
        self._killed = False
        self._timed_out = False
        self._final: JobState | None = None
        self.progress = ProgressFollower()

    # ------------------------------------------------------------------ start
    @property
    def argv(self) -> list[str]:
        """The command line this job runs."""
        return build_capture_argv(self.python_exe, self.request, self.output_path)

    def start(self) -> JobState:
        """Validate, create the job folder and spawn the backend. Never raises for backend
        problems: a job that cannot start is returned (and kept) as FAILED."""
        if self._proc is not None or self._final is not None:
            raise RuntimeError("CaptureJob.start() called twice")
        try:
            validate_request(self.request)
            if not self.python_exe.is_file():
                raise ValueError(
                    f"Backend Python not found: {self.python_exe}. Set it in the add-on "
                    "preferences or use 'Set up backend'."
                )
        except ValueError as exc:
            return self._finish(JobStatus.FAILED, str(exc))
        try:
            self.job_dir.mkdir(parents=True, exist_ok=False)
        except OSError as exc:
            return self._finish(
                JobStatus.FAILED, f"Cannot create the job folder {self.job_dir}: {exc}"
            )
        try:
            self._proc = start_process(self.argv, backend_env(self.config.extra_env),
                                       cwd=self.job_dir)
        except OSError as exc:
            self._remove_job_dir()
            return self._finish(
                JobStatus.FAILED, f"Could not start the backend {self.python_exe}: {exc}"
            )
        self._started_at = time.monotonic()
        for target, pipe, name in (
            (self._read_stdout, self._proc.stdout, "stdout"),
            (self._read_stderr, self._proc.stderr, "stderr"),
        ):
            thread = threading.Thread(
                target=target, args=(pipe,), daemon=True, name=f"str-backend-{name}"
            )
            thread.start()
            self._threads.append(thread)
        return self._snapshot(JobStatus.RUNNING, "Starting backend...")

    # ---------------------------------------------------------------- readers
    def _read_stdout(self, pipe: IO[str]) -> None:
        for line in pipe:
            text = line.strip()
            if not text:
                continue
            event = parse_event_line(text)
            if event is not None:
                self._events.put(event)
            else:
                with self._lock:
                    self._stdout_noise.append(text[:500])

    def _read_stderr(self, pipe: IO[str]) -> None:
        for line in pipe:
            text = line.rstrip()
            if text:
                with self._lock:
                    self._stderr.append(text[:1000])

    # ------------------------------------------------------------------- poll
    @property
    def stderr_tail(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._stderr)

    def poll(self) -> JobState:
        """Non-blocking: consume new events, escalate a pending cancel, detect the exit."""
        if self._final is not None:
            return self._final
        if self._proc is None:
            raise RuntimeError("CaptureJob.poll() before start()")
        self._drain_events()
        now = time.monotonic()
        code = self._proc.poll()
        if code is None:
            if self._cancel_requested_at is not None:
                if not self._killed and now - self._cancel_requested_at >= self.config.grace_s:
                    send_kill(self._proc)
                    self._killed = True
                return self._snapshot(JobStatus.RUNNING, "Cancelling...")
            if self.config.timeout_s is not None and now - self._started_at > self.config.timeout_s:
                self._timed_out = True
                self.request_cancel()
                return self._snapshot(JobStatus.RUNNING, "Timed out, stopping backend...")
            return self._snapshot(JobStatus.RUNNING, self.progress.message())
        # exited: let the readers reach EOF, then take the remaining events
        for thread in self._threads:
            thread.join(timeout=2.0)
        self._drain_events()
        return self._conclude(code)

    def wait(self, poll_interval_s: float = 0.1, timeout_s: float | None = None) -> JobState:
        """Block until the job finishes (``execute()`` path). ``timeout_s`` cancels after it."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        state = self.poll()
        while not state.status.finished:
            if deadline is not None and time.monotonic() > deadline and not self._timed_out:
                self._timed_out = True
                self.request_cancel()
            time.sleep(poll_interval_s)
            state = self.poll()
        return state

    def _drain_events(self) -> None:
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return
            self.progress.apply(event)

    def _conclude(self, code: int) -> JobState:
        if self._cancel_requested_at is not None and not self._timed_out:
            self._remove_job_dir()
            return self._finish(JobStatus.CANCELLED, "Capture cancelled.", exit_code=code)
        if self._timed_out:
            self._remove_job_dir()
            limit = self.config.timeout_s
            return self._finish(
                JobStatus.FAILED,
                "The backend took too long"
                + (f" (more than {limit:g} s)" if limit is not None else "")
                + " and was stopped.",
                exit_code=code,
            )
        result = self.progress.result
        if code == 0 and result is not None:
            output = Path(str(result.get("output") or self.output_path))
            if not output.is_absolute():
                output = self.job_dir / output
            if not output.is_file():
                self._remove_job_dir()
                return self._finish(
                    JobStatus.FAILED,
                    f"The backend reported success but its output file is missing: {output}",
                    exit_code=code,
                )
            warnings = result.get("warnings") or []
            persons = _as_int(result.get("persons"))
            frames = _as_int(result.get("frames"))
            self.progress.fraction = 1.0
            return self._finish(
                JobStatus.SUCCEEDED,
                f"Captured {persons} person(s), {frames} frames.",
                exit_code=code,
                output_path=output,
                persons=persons,
                frames=frames,
                warnings=tuple(str(w) for w in warnings) if isinstance(warnings, list) else (),
            )
        self._remove_job_dir()
        if code == EXIT_CANCELLED:
            return self._finish(
                JobStatus.CANCELLED, "The backend was cancelled.", exit_code=code
            )
        return self._finish(JobStatus.FAILED, self._failure_message(code), exit_code=code)

    def _failure_message(self, code: int) -> str:
        """Explain a failed run: the backend's own error if it sent one, else the logs."""
        error = self.progress.error
        if error is not None:
            message = str(error.get("message", "")).strip() or "unknown error"
            err_code = error.get("code", code)
            return f"Backend error (code {err_code}): {message}"
        tail = self.stderr_tail
        with self._lock:
            noise = tuple(self._stdout_noise)
        last = last_meaningful(tail) or (noise[-1] if noise else "")
        if code < 0:
            what = f"The backend crashed (killed by signal {-code})"
        elif code == 0:
            what = "The backend exited without producing a result"
        else:
            what = f"The backend failed with exit code {code}"
        return f"{what}: {last}" if last else f"{what} and printed no error message."

    # ----------------------------------------------------------------- cancel
    def request_cancel(self) -> None:
        """Non-blocking cancel: send the polite stop now; :meth:`poll` kills the process if it
        is still alive ``grace_s`` later. Safe to call repeatedly or after the end."""
        if self._final is not None or self._proc is None:
            return
        if self._cancel_requested_at is None:
            self._cancel_requested_at = time.monotonic()
            send_stop(self._proc)

    def cancel(self, timeout_s: float | None = None) -> JobState:
        """Blocking cancel: stop the backend (kill after the grace period), remove its partial
        files and return the final state (CANCELLED, or SUCCEEDED if it had already finished)."""
        if self._proc is None and self._final is None:
            return self._finish(JobStatus.CANCELLED, "Capture cancelled before it started.")
        self.request_cancel()
        limit = timeout_s if timeout_s is not None else self.config.grace_s + 10.0
        deadline = time.monotonic() + limit
        state = self.poll()
        while not state.status.finished and time.monotonic() < deadline:
            time.sleep(0.02)
            state = self.poll()
        return state

    # ---------------------------------------------------------------- cleanup
    def cleanup(self) -> None:
        """Remove the job folder (call after importing the result). Stops a running backend."""
        if self._proc is not None and self._proc.poll() is None:
            stop_process(self._proc, self.config.grace_s)
        self._remove_job_dir()

    def _remove_job_dir(self) -> None:
        if self.job_dir.exists():
            shutil.rmtree(self.job_dir, ignore_errors=True)

    # ---------------------------------------------------------------- helpers
    def _snapshot(self, status: JobStatus, message: str, **extra: object) -> JobState:
        elapsed = time.monotonic() - self._started_at if self._started_at else 0.0
        values: dict[str, object] = dict(
            status=status,
            stage=self.progress.stage,
            stage_done=self.progress.done,
            stage_total=self.progress.total,
            fraction=self.progress.fraction,
            fps=self.progress.fps,
            eta_s=self.progress.eta,
            message=message,
            elapsed_s=elapsed,
            stderr_tail=self.stderr_tail,
        )
        values.update(extra)
        return JobState(**values)  # type: ignore[arg-type]

    def _finish(self, status: JobStatus, message: str, **extra: object) -> JobState:
        self._final = self._snapshot(status, message, **extra)
        return self._final


def remove_stale_jobs(jobs_root: Path | str, max_age_s: float = 2 * 24 * 3600.0) -> int:
    """Delete job folders not modified for ``max_age_s`` (left by a crashed Blender).

    Returns how many were removed. Running jobs write progress files only through their own
    folder's mtime, so the age threshold is generous (two days by default).
    """
    root = Path(jobs_root)
    if not root.is_dir():
        return 0
    now = time.time()
    removed = 0
    for folder in root.iterdir():
        try:
            if folder.is_dir() and now - folder.stat().st_mtime > max_age_s:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        except OSError:
            continue
    return removed


def _as_int(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError):
        return 0


def _as_float(value: object) -> float | None:
    try:
        result = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return result if result == result and abs(result) != float("inf") else None
