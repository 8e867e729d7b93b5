"""Run ``python -m inference_backend batch`` from the add-on and follow it (no bpy, no torch).

The same process plumbing as a capture (own process group/session, both pipes read on
threads, polite stop then kill) around the batch command's JSON-line events
(``batch_start``, ``batch_progress``, ``video``, ``batch_result``, ``error``; see the README
section "Batch capture"). Outputs and the manifest go to the user's output folder; nothing is
deleted on cancel (finished videos stay, ``--resume`` completes the rest).
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .backend_contract import (
    BATCH_EVENT_FIELDS,
    BATCH_PROGRESS,
    BATCH_RESULT,
    BATCH_START,
    BATCH_VIDEO,
    EVENT_ERROR,
    EXIT_CANCELLED,
    EXIT_SOME_FAILED,
)
from .capture_job import JobStatus
from .process import backend_env, send_kill, send_stop, start_process


@dataclass(frozen=True)
class BatchRequest:
    """A batch capture of every video below ``input_dir`` into ``output_dir``.

    workers: 0 = as many as the CPUs allow; ray_address: "" = a local runtime for the run.
    Empty ``str_checkpoint``/``smpl_dir`` mean "not set".
    """

    input_dir: Path
    output_dir: Path
    solver: str = "default"
    max_people: int = 2
    smoothing: str = "medium"
    device: str = "auto"
    resume: bool = True
    workers: int = 0
    ray_address: str = ""
    str_checkpoint: str = ""
    smpl_dir: str = ""


@dataclass(frozen=True)
class BatchState:
    """Snapshot of a batch job (counts are videos)."""

    status: JobStatus
    message: str = ""
    total: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    running: int = 0
    fps: float = 0.0
    eta_s: float | None = None
    manifest: str = ""
    exit_code: int | None = None
    failures: tuple[str, ...] = ()

    @property
    def fraction(self) -> float:
        finished = self.done + self.failed + self.skipped
        return min(1.0, finished / self.total) if self.total else 0.0


def build_batch_argv(python_exe: Path | str, request: BatchRequest) -> list[str]:
    argv = [str(python_exe), "-m", "inference_backend", "batch", str(request.input_dir),
            "-o", str(request.output_dir), "--progress", "jsonl", "--solver", request.solver,
            "--max-people", str(request.max_people), "--smoothing", request.smoothing,
            "--device", request.device]
    if request.resume:
        argv.append("--resume")
    if request.workers > 0:
        argv += ["--workers", str(request.workers)]
    if request.ray_address.strip():
        argv += ["--ray", request.ray_address.strip()]
    if request.str_checkpoint:
        argv += ["--str-checkpoint", request.str_checkpoint]
    if request.smpl_dir:
        argv += ["--smpl-dir", request.smpl_dir]
    return argv


def send_interrupt(proc: subprocess.Popen[str]) -> None:
    """Ctrl+C for the batch's process group on POSIX (what a terminal sends): the local Ray
    runtime's own processes in that group ignore SIGINT, where a group-wide SIGTERM would take
    them down under the driver. Windows: CTRL_BREAK to the group (``send_stop``)."""
    if sys.platform == "win32" or proc.poll() is not None:
        send_stop(proc)
        return
    try:
        os.killpg(proc.pid, signal.SIGINT)
    except (OSError, ValueError):
        send_stop(proc)


def validate_batch_request(request: BatchRequest) -> None:
    if not Path(request.input_dir).is_dir():
        raise ValueError(f"Input folder not found: {request.input_dir}")
    if not str(request.output_dir).strip():
        raise ValueError("Choose an output folder.")
    if Path(request.output_dir).resolve() == Path(request.input_dir).resolve():
        raise ValueError("Use an output folder other than the input folder.")


def parse_batch_event_line(text: str) -> dict[str, object] | None:
    """One stdout line of the batch command -> its event, or None for anything else."""
    try:
        event = json.loads(text)
    except (json.JSONDecodeError, ValueError):
        return None
    if isinstance(event, dict) and event.get("event") in BATCH_EVENT_FIELDS:
        return event
    return None


class BatchFollower:
    """The state of a batch from its events (docs/progress_events.md, "Batch events")."""

    def __init__(self) -> None:
        self.counts: dict[str, object] = {}
        self.failures: list[str] = []
        self.result: dict[str, object] | None = None
        self.error: dict[str, object] | None = None

    def apply(self, event: Mapping[str, object]) -> None:
        kind = event.get("event")
        if kind in (BATCH_START, BATCH_PROGRESS):
            self.counts.update(event)
        elif kind == BATCH_VIDEO and event.get("status") == "failed":
            self.failures.append(f"{event.get('relative')}: {event.get('message')}")
        elif kind == BATCH_RESULT:
            self.result = dict(event)
            self.counts.update(event)
        elif kind == EVENT_ERROR:
            self.error = dict(event)

    def number(self, key: str) -> int:
        value = self.counts.get(key, 0)
        return int(value) if isinstance(value, (int, float)) else 0

    def progress_message(self) -> str:
        c = self.counts
        if "total" not in c:
            return "Starting the batch (Ray runtime)..."
        remaining = self.number("remaining") if "remaining" in c else self.number("total")
        text = f"{self.number('done')} done, {self.number('failed')} failed, {remaining} left"
        fps = c.get("fps")
        if isinstance(fps, (int, float)) and fps > 0:
            text += f", {fps:.1f} frames/s"
        eta = c.get("eta")
        if isinstance(eta, (int, float)):
            text += f", {eta:.0f} s left"
        return text

    def state(self, status: JobStatus, message: str, exit_code: int | None = None) -> BatchState:
        fps, eta = self.counts.get("fps", 0.0), self.counts.get("eta")
        return BatchState(
            status=status, message=message, total=self.number("total"),
            done=self.number("done"), failed=self.number("failed"),
            skipped=self.number("skipped"), running=self.number("running"),
            fps=float(fps) if isinstance(fps, (int, float)) else 0.0,
            eta_s=float(eta) if isinstance(eta, (int, float)) else None,
            manifest=str(self.counts.get("manifest", "")), exit_code=exit_code,
            failures=tuple(self.failures[-5:]))


class BatchJob:
    """One batch run: ``start()``, then ``poll()`` on a timer; ``request_cancel()`` to stop."""

    def __init__(self, python_exe: Path | str, request: BatchRequest, grace_s: float = 20.0,
                 extra_env: Mapping[str, str] | None = None) -> None:
        self.python_exe = Path(python_exe)
        self.request = request
        self.grace_s = grace_s  # the batch cancels its running videos before it exits
        self.extra_env = dict(extra_env or {})
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self._events: collections.deque[dict[str, object]] = collections.deque()
        self._stderr: collections.deque[str] = collections.deque(maxlen=30)
        self._threads: list[threading.Thread] = []
        self._cancel_at: float | None = None
        self._killed = False
        self._final: BatchState | None = None
        self.follower = BatchFollower()

    @property
    def argv(self) -> list[str]:
        return build_batch_argv(self.python_exe, self.request)

    def start(self) -> BatchState:
        try:
            validate_batch_request(self.request)
            if not self.python_exe.is_file():
                raise ValueError(f"Backend Python not found: {self.python_exe}. Set it in the "
                                 "add-on preferences or use 'Set up backend'.")
        except ValueError as exc:
            return self._finish(JobStatus.FAILED, str(exc))
        try:
            self._proc = start_process(self.argv, backend_env(self.extra_env))
        except OSError as exc:
            return self._finish(JobStatus.FAILED, f"Could not start the backend: {exc}")
        for target, pipe in ((self._read_stdout, self._proc.stdout),
                             (self._read_stderr, self._proc.stderr)):
            thread = threading.Thread(target=target, args=(pipe,), daemon=True,
                                      name="str-batch-reader")
            thread.start()
            self._threads.append(thread)
        return self._state(JobStatus.RUNNING, "Starting the batch (Ray runtime)...")

    def _read_stdout(self, pipe: IO[str]) -> None:
        for line in pipe:
            event = parse_batch_event_line(line)
            if event is not None:
                with self._lock:
                    self._events.append(event)

    def _read_stderr(self, pipe: IO[str]) -> None:
        for line in pipe:
            if line.strip():
                with self._lock:
                    self._stderr.append(line.rstrip()[:500])

    def poll(self) -> BatchState:
        if self._final is not None:
            return self._final
        if self._proc is None:
            raise RuntimeError("BatchJob.poll() before start()")
        with self._lock:
            events = list(self._events)
            self._events.clear()
        for event in events:
            self.follower.apply(event)
        code = self._proc.poll()
        if code is None:
            if self._cancel_at is not None:
                if not self._killed and time.monotonic() - self._cancel_at >= self.grace_s:
                    send_kill(self._proc)
                    self._killed = True
                return self._state(JobStatus.RUNNING, "Cancelling (finishing the manifest)...")
            return self._state(JobStatus.RUNNING, self.follower.progress_message())
        for thread in self._threads:
            thread.join(timeout=2.0)
        with self._lock:
            events = list(self._events)
            self._events.clear()
        for event in events:
            self.follower.apply(event)
        return self._conclude(code)

    def _conclude(self, code: int) -> BatchState:
        if self.follower.result is not None:
            r = self.follower.result
            summary = (f"{r.get('done', 0)} done, {r.get('failed', 0)} failed, "
                       f"{r.get('skipped', 0)} up to date")
            if code == 0:
                return self._finish(JobStatus.SUCCEEDED, f"Batch finished: {summary}.", code)
            if code == EXIT_CANCELLED:
                return self._finish(JobStatus.CANCELLED, f"Batch cancelled: {summary}; run "
                                    "again (Resume on) to finish.", code)
            if code == EXIT_SOME_FAILED:
                return self._finish(JobStatus.FAILED, f"Batch finished with failures: {summary}."
                                    " See batch_manifest.jsonl.", code)
        if self._cancel_at is not None or code == EXIT_CANCELLED:
            return self._finish(JobStatus.CANCELLED, "Batch cancelled.", code)
        error = self.follower.error
        if error is not None:
            return self._finish(JobStatus.FAILED, f"Batch error (code {error.get('code')})"
                                f": {error.get('message')}", code)
        with self._lock:
            tail = [line for line in self._stderr if line.strip()]
        last = tail[-1] if tail else "no message"
        return self._finish(JobStatus.FAILED, f"The batch failed with exit code {code}: {last}",
                            code)

    def request_cancel(self) -> None:
        """Polite stop now (the batch cancels its running videos and writes the manifest);
        :meth:`poll` kills it if it is still alive ``grace_s`` later."""
        if self._final is not None or self._proc is None or self._cancel_at is not None:
            return
        self._cancel_at = time.monotonic()
        send_interrupt(self._proc)

    def wait(self, timeout_s: float | None = None, poll_interval_s: float = 0.1) -> BatchState:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        state = self.poll()
        while not state.status.finished:
            if deadline is not None and time.monotonic() > deadline:
                self.request_cancel()
                deadline = None
            time.sleep(poll_interval_s)
            state = self.poll()
        return state

    def _state(self, status: JobStatus, message: str, exit_code: int | None = None) -> BatchState:
        return self.follower.state(status, message, exit_code)

    def _finish(self, status: JobStatus, message: str, exit_code: int | None = None) -> BatchState:
        self._final = self._state(status, message, exit_code)
        return self._final


