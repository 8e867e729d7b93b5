"""Run the inference backend as a separate process and follow it (no bpy, no torch).

The backend is ``<python> -m inference_backend capture VIDEO -o OUT.npz --progress jsonl ...``.
It prints one JSON object per line on stdout::

    {"event": "progress", "stage": s, "done": n, "total": m, "fps": x, "eta": s}
    {"event": "result", "output": path, "persons": P, "frames": F, "warnings": [...]}
    {"event": "error", "code": int, "message": str}

and logs on stderr; exit 0 on success, 130 when cancelled, other non-zero codes on errors.

:class:`CaptureJob` spawns it (own process group/session), reads both pipes on threads, and
offers a non-blocking :meth:`CaptureJob.poll` returning a :class:`JobState`, a two-phase
:meth:`CaptureJob.cancel` (terminate, then kill after a grace period) and removal of partial
files. The Blender operator is a thin wrapper that calls ``poll()`` on timer events.
"""

from __future__ import annotations

import collections
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import IO

#: Exit code of a cancelled backend (SIGINT convention).
EXIT_CANCELLED = 130
#: Name of the motion file inside a job folder.
OUTPUT_NAME = "motion.npz"

#: Share of the overall progress bar per backend stage (unknown stages share what is left).
STAGE_WEIGHTS: Mapping[str, float] = {
    "decode+detect": 0.60,
    "track": 0.03,
    "features": 0.10,
    "str": 0.10,
    "solve": 0.25,
    "smooth": 0.02,
    "write": 0.05,
}


class BackendError(RuntimeError):
    """The backend interpreter is missing, does not run, or reports a problem."""


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


def process_group_options() -> tuple[int, bool]:
    """(creationflags, start_new_session) for Popen: the child gets its own process group
    (Windows) or session (POSIX), so stopping it reaches its children and Blender's Ctrl-C
    does not reach it."""
    if sys.platform == "win32":
        return subprocess.CREATE_NEW_PROCESS_GROUP, False  # type: ignore[attr-defined]
    return 0, True


def backend_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a backend process: ours minus Blender's Python settings, unbuffered."""
    env = dict(os.environ)
    for key in ("PYTHONHOME", "PYTHONSTARTUP"):
        env.pop(key, None)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    if extra:
        env.update(extra)
    return env


def send_stop(proc: subprocess.Popen[str]) -> None:
    """Ask a child started with :func:`process_group_options` to stop (SIGTERM to its process
    group on POSIX, CTRL_BREAK on Windows). No-op if it has exited."""
    if proc.poll() is not None:
        return
    try:
        if sys.platform == "win32":
            proc.send_signal(signal.CTRL_BREAK_EVENT)  # type: ignore[attr-defined]
        else:
            os.killpg(proc.pid, signal.SIGTERM)
    except (OSError, ValueError):
        try:
            proc.terminate()
        except OSError:
            pass


def send_kill(proc: subprocess.Popen[str]) -> None:
    """Kill a child and (on POSIX) its whole process group. No-op if it has exited."""
    if proc.poll() is not None:
        return
    try:
        if sys.platform == "win32":
            proc.terminate()  # TerminateProcess: immediate
        else:
            os.killpg(proc.pid, signal.SIGKILL)
    except (OSError, ValueError):
        try:
            proc.kill()
        except OSError:
            pass


def stop_process(proc: subprocess.Popen[str], grace_s: float) -> None:
    """Blocking stop: polite signal, wait ``grace_s``, then kill and reap."""
    send_stop(proc)
    try:
        proc.wait(timeout=grace_s)
        return
    except subprocess.TimeoutExpired:
        pass
    send_kill(proc)
    try:
        proc.wait(timeout=5.0)
    except subprocess.TimeoutExpired:
        pass


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
        # progress bookkeeping
        self._stage = ""
        self._stage_done = 0
        self._stage_total = 0
        self._fps = 0.0
        self._eta: float | None = None
        self._fraction = 0.0
        self._stage_base: dict[str, float] = {}
        self._result: dict[str, object] | None = None
        self._error: dict[str, object] | None = None

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
        flags, new_session = process_group_options()
        try:
            self._proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                errors="replace",
                cwd=str(self.job_dir),
                env=backend_env(self.config.extra_env),
                creationflags=flags,
                start_new_session=new_session,
            )
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
            try:
                event = json.loads(text)
            except json.JSONDecodeError:
                event = None
            if isinstance(event, dict) and isinstance(event.get("event"), str):
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
            return self._snapshot(JobStatus.RUNNING, self._progress_message())
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
            self._apply_event(event)

    def _apply_event(self, event: Mapping[str, object]) -> None:
        kind = event.get("event")
        if kind == "progress":
            stage = str(event.get("stage", ""))
            if stage != self._stage:
                self._stage_base.setdefault(stage, self._fraction)
            self._stage = stage
            self._stage_done = _as_int(event.get("done"))
            self._stage_total = _as_int(event.get("total"))
            self._fps = _as_float(event.get("fps")) or 0.0
            self._eta = _as_float(event.get("eta"))
            within = (
                min(max(self._stage_done / self._stage_total, 0.0), 1.0)
                if self._stage_total > 0
                else 0.0
            )
            base = self._stage_base.get(stage, self._fraction)
            weight = STAGE_WEIGHTS.get(stage, max(0.0, (1.0 - base) * 0.5))
            self._fraction = min(max(self._fraction, base + weight * within), 0.99)
        elif kind == "result":
            self._result = dict(event)
        elif kind == "error":
            self._error = dict(event)

    def _progress_message(self) -> str:
        if not self._stage:
            return "Starting backend..."
        text = f"{self._stage}: {self._stage_done}/{self._stage_total}"
        if self._fps > 0:
            text += f" ({self._fps:.1f}/s"
            text += f", {self._eta:.0f} s left)" if self._eta is not None else ")"
        return text

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
        if code == 0 and self._result is not None:
            output = Path(str(self._result.get("output") or self.output_path))
            if not output.is_absolute():
                output = self.job_dir / output
            if not output.is_file():
                self._remove_job_dir()
                return self._finish(
                    JobStatus.FAILED,
                    f"The backend reported success but its output file is missing: {output}",
                    exit_code=code,
                )
            warnings = self._result.get("warnings") or []
            persons = _as_int(self._result.get("persons"))
            frames = _as_int(self._result.get("frames"))
            self._fraction = 1.0
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
        if self._error is not None:
            message = str(self._error.get("message", "")).strip() or "unknown error"
            err_code = self._error.get("code", code)
            return f"Backend error (code {err_code}): {message}"
        tail = self.stderr_tail
        with self._lock:
            noise = tuple(self._stdout_noise)
        last = _last_meaningful(tail) or (noise[-1] if noise else "")
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
            stage=self._stage,
            stage_done=self._stage_done,
            stage_total=self._stage_total,
            fraction=self._fraction,
            fps=self._fps,
            eta_s=self._eta,
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


def _last_meaningful(lines: Sequence[str]) -> str:
    """The most informative stderr line: the last exception line if any, else the last line."""
    for line in reversed(lines):
        stripped = line.strip()
        if stripped and not stripped.startswith(("File ", "^", "~")) and ":" in stripped:
            if "Error" in stripped or "Exception" in stripped:
                return stripped
    return lines[-1].strip() if lines else ""


# ----------------------------------------------------------------------- doctor
@dataclass(frozen=True)
class DoctorReport:
    """What ``<python> -m inference_backend doctor --json`` said.

    Attributes:
        ok: exit code 0 (the default solver can run).
        python_exe: the interpreter checked.
        versions: package name -> version string (python, torch, mediapipe, ...).
        problems: human-readable problems / missing items (empty when all is well).
        device: the compute device the backend would use ("" if not reported).
        raw: the parsed JSON object ({} if the output was not JSON).
        message: a one-line summary for the UI.
    """

    ok: bool
    python_exe: Path
    versions: Mapping[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    device: str = ""
    raw: Mapping[str, object] = field(default_factory=dict)
    message: str = ""


_VERSION_KEYS = ("python", "torch", "mediapipe", "opencv", "cv2", "av", "numpy", "scipy", "smplx")


def parse_doctor_output(python_exe: Path, exit_code: int, stdout: str, stderr: str) -> DoctorReport:
    """Turn the doctor's JSON (best effort about its exact layout) into a :class:`DoctorReport`."""
    raw: dict[str, object] = {}
    for candidate in (stdout.strip(), *reversed(stdout.strip().splitlines())):
        try:
            value = json.loads(candidate)
        except (json.JSONDecodeError, ValueError):
            continue
        if isinstance(value, dict):
            raw = value
            break
    versions: dict[str, str] = {}
    if isinstance(raw.get("python"), str):
        versions["python"] = str(raw["python"])
    nested = raw.get("versions")
    if isinstance(nested, dict):
        versions.update({str(k): str(v) for k, v in nested.items() if v is not None})
    for key in _VERSION_KEYS:
        value = raw.get(key)
        if isinstance(value, str | int | float) and key not in versions:
            versions[key] = str(value)
        elif isinstance(value, dict) and isinstance(value.get("version"), str):
            versions.setdefault(key, str(value["version"]))
    problems: list[str] = []
    for key in ("problems", "missing", "errors", "warnings"):
        value = raw.get(key)
        if isinstance(value, list):
            problems.extend(_describe(item) for item in value)
        elif isinstance(value, dict):
            problems.extend(f"{k}: {_describe(v)}" for k, v in value.items())
        elif isinstance(value, str) and value:
            problems.append(value)
    device = raw.get("device")
    device_text = str(device.get("name", "")) if isinstance(device, dict) else str(device or "")
    ok = exit_code == 0
    if not raw:
        detail = _last_meaningful(stderr.splitlines()) or stdout.strip()[-300:]
        problems.append(
            f"'{python_exe} -m inference_backend doctor --json' did not print JSON "
            f"(exit code {exit_code}): {detail or 'no output'}"
        )
        ok = False
    if ok:
        summary = ", ".join(f"{k} {v}" for k, v in versions.items()) or "backend found"
        message = f"Backend OK: {summary}"
    else:
        message = "Backend not usable: " + ("; ".join(problems) or f"doctor exit code {exit_code}")
    return DoctorReport(
        ok=ok,
        python_exe=python_exe,
        versions=versions,
        problems=tuple(problems),
        device=device_text,
        raw=raw,
        message=message,
    )


def _describe(item: object) -> str:
    if isinstance(item, dict):
        name = item.get("name") or item.get("what") or item.get("item") or ""
        text = item.get("message") or item.get("hint") or item.get("fix") or ""
        return f"{name}: {text}".strip(": ") or json.dumps(item)
    return str(item)


def run_doctor(
    python_exe: Path | str, timeout_s: float = 120.0, extra_env: Mapping[str, str] | None = None
) -> DoctorReport:
    """Run the backend's doctor in ``python_exe`` (blocking, bounded by ``timeout_s``).

    Never raises for a bad interpreter: the problem is in the returned report.
    """
    exe = Path(python_exe)
    if not exe.is_file():
        return DoctorReport(
            ok=False,
            python_exe=exe,
            problems=(f"Interpreter not found: {exe}",),
            message=f"Backend not usable: interpreter not found: {exe}",
        )
    from .backend_setup import half_built_message

    half_built = half_built_message(exe)
    if half_built is not None:  # say so, rather than 'inference_backend is not installed'
        return DoctorReport(ok=False, python_exe=exe, problems=(half_built,),
                            message="Backend not usable: its set-up did not finish")
    argv = [str(exe), "-m", "inference_backend", "doctor", "--json"]
    flags, new_session = process_group_options()
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=backend_env(extra_env),
            cwd=tempfile.gettempdir(),  # not the caller's folder: it could shadow the package
            creationflags=flags,
            start_new_session=new_session,
        )
    except OSError as exc:
        return DoctorReport(
            ok=False,
            python_exe=exe,
            problems=(f"Cannot run {exe}: {exc}",),
            message=f"Backend not usable: cannot run {exe}: {exc}",
        )
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        send_kill(proc)
        proc.communicate()
        return DoctorReport(
            ok=False,
            python_exe=exe,
            problems=(f"The doctor did not answer within {timeout_s:g} s.",),
            message=f"Backend not usable: no answer within {timeout_s:g} s",
        )
    if "No module named inference_backend.__main__" in stderr:
        return DoctorReport(
            ok=False,
            python_exe=exe,
            problems=(
                f"The 'inference_backend' installed in {exe} has no command-line interface; "
                "upgrade it (pip install --upgrade \"str-mocap[backend]\") or use 'Set up "
                "backend'.",
            ),
            message="Backend not usable: the installed inference_backend is incomplete or old",
        )
    if "No module named inference_backend" in stderr:
        return DoctorReport(
            ok=False,
            python_exe=exe,
            problems=(
                f"{exe} has no 'inference_backend' package. Install it there with "
                f"'{exe} -m pip install \"str-mocap[backend]\"' or use 'Set up backend'.",
            ),
            message="Backend not usable: inference_backend is not installed in this Python",
        )
    return parse_doctor_output(exe, proc.returncode, stdout, stderr)


def find_backend_python(
    preference: str,
    managed_venv: Path | str | None = None,
    check: bool = True,
    timeout_s: float = 120.0,
) -> tuple[Path, DoctorReport | None]:
    """Resolve and validate the backend interpreter.

    Order: the user's preference (an interpreter file, or a venv folder), then the interpreter of
    the add-on's own venv ``managed_venv`` if it exists. With ``check`` the interpreter must run
    ``-m inference_backend doctor --json`` successfully.

    Returns (python path, doctor report or None when not checked).
    Raises :class:`BackendError` with an actionable message otherwise.
    """
    from .backend_setup import venv_python_path

    text = preference.strip()
    candidate: Path | None = None
    if text:
        path = Path(text).expanduser()
        if path.is_dir():
            path = venv_python_path(path)
        if not path.is_file():
            raise BackendError(
                f"Backend Python '{text}' does not exist. Choose the python executable of the "
                "environment where the STR Mocap backend is installed (e.g. <venv>/bin/python "
                "or <venv>\\Scripts\\python.exe), or clear it and press 'Set up backend'."
            )
        candidate = path
    elif managed_venv is not None and venv_python_path(managed_venv).is_file():
        candidate = venv_python_path(managed_venv)
    if candidate is None:
        raise BackendError(
            "No backend Python configured. Open Preferences > Add-ons > STR Mocap and either "
            "press 'Set up backend' or choose an existing Python with the backend installed."
        )
    if not check:
        return candidate, None
    report = run_doctor(candidate, timeout_s=timeout_s)
    if not report.ok:
        raise BackendError(report.message)
    return candidate, report


class DoctorCheck:
    """:func:`run_doctor` on a background thread, so the UI stays responsive (the real doctor
    imports torch and mediapipe: seconds). Poll :attr:`report` until it is not None."""

    def __init__(self, python_exe: Path | str, timeout_s: float = 120.0) -> None:
        self.python_exe = Path(python_exe)
        self.report: DoctorReport | None = None
        self._thread = threading.Thread(
            target=self._run, args=(timeout_s,), daemon=True, name="str-doctor"
        )
        self._thread.start()

    def _run(self, timeout_s: float) -> None:
        try:
            self.report = run_doctor(self.python_exe, timeout_s=timeout_s)
        except Exception as exc:  # never lose the thread's failure
            self.report = DoctorReport(
                ok=False, python_exe=self.python_exe, problems=(str(exc),),
                message=f"Backend check failed: {exc}",
            )

    def wait(self, timeout_s: float | None = None) -> DoctorReport | None:
        self._thread.join(timeout_s)
        return self.report
