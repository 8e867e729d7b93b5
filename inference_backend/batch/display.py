"""Batch progress for people (a one-line bar on stderr) and for scripts (JSON lines on stdout).

JSON lines (one object per line, flushed):
    {"event": "batch_start", "total": int, "to_run": int, "skipped": int, "workers": int,
     "nodes": int, "manifest": str}
    {"event": "batch_progress", "total": int, "done": int, "failed": int, "skipped": int,
     "running": int, "remaining": int, "frames": int, "fps": float, "eta": float|null}
    {"event": "video", ...one manifest record...}
    {"event": "batch_result", "total": int, "done": int, "failed": int, "skipped": int,
     "cancelled": int, "frames": int, "seconds": float, "manifest": str, "exit_code": int}
    {"event": "error", "code": int, "message": str}
``remaining`` counts the videos not finished yet (running ones included); ``fps`` is decoded
frames per second over the whole batch so far; ``eta`` (seconds) extrapolates from the bytes of
video processed so far (null until there is a rate).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TextIO

from .manifest import RECORD_FIELDS

#: Event names of ``batch --progress jsonl`` and the fields each carries besides ``event``
#: (docs/progress_events.md, "Batch events"); ``video`` carries one manifest record.
BATCH_START, BATCH_PROGRESS, VIDEO, BATCH_RESULT = (
    "batch_start", "batch_progress", "video", "batch_result")
BATCH_EVENTS: dict[str, tuple[str, ...]] = {
    BATCH_START: ("total", "to_run", "skipped", "workers", "nodes", "manifest"),
    BATCH_PROGRESS: ("total", "done", "failed", "skipped", "running", "remaining", "frames",
                     "fps", "eta"),
    VIDEO: RECORD_FIELDS,
    BATCH_RESULT: ("total", "done", "failed", "skipped", "cancelled", "frames", "seconds",
                   "manifest", "exit_code"),
    "warning": ("message",),
    "error": ("code", "message"),
}

_MIN_INTERVAL_S = 0.5
_HEARTBEAT_S = 5.0


@dataclass(frozen=True)
class BatchCounts:
    """A snapshot of the batch's progress."""

    total: int
    done: int
    failed: int
    skipped: int
    running: int
    frames: int
    fps: float
    eta: float | None

    @property
    def remaining(self) -> int:
        return self.total - self.done - self.failed - self.skipped


class BatchDisplay:
    """Silent base (``--progress none``); subclasses render."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last = -1e9
        self._last_counts: BatchCounts | None = None

    def start(self, info: dict[str, Any]) -> None:
        pass

    def progress(self, counts: BatchCounts, force: bool = False) -> None:
        now = self._clock()
        changed = counts != self._last_counts
        due = now - self._last >= (_MIN_INTERVAL_S if changed else _HEARTBEAT_S)
        if force or due:
            self._last, self._last_counts = now, counts
            self._progress(counts)

    def _progress(self, counts: BatchCounts) -> None:
        pass

    def video(self, record: dict[str, Any]) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def result(self, summary: dict[str, Any]) -> None:
        pass

    def error(self, code: int, message: str) -> None:
        """Whatever the mode, a batch that cannot run says why on stderr (as ``capture``)."""
        sys.stderr.write(f"error ({code}): {message}\n")
        sys.stderr.flush()


class JsonLinesDisplay(BatchDisplay):
    def __init__(self, stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic):
        super().__init__(clock)
        self._stream = stream if stream is not None else sys.stdout

    def _write(self, obj: dict[str, Any]) -> None:
        self._stream.write(json.dumps(obj, allow_nan=False, ensure_ascii=False) + "\n")
        self._stream.flush()

    def start(self, info: dict[str, Any]) -> None:
        self._write({"event": BATCH_START, **{k: info[k] for k in BATCH_EVENTS[BATCH_START]}})

    def _progress(self, counts: BatchCounts) -> None:
        data = asdict(counts)
        data["fps"] = round(counts.fps, 3)
        data["eta"] = None if counts.eta is None else round(counts.eta, 1)
        data["remaining"] = counts.remaining
        self._write({"event": BATCH_PROGRESS, **{k: data[k] for k in BATCH_EVENTS[BATCH_PROGRESS]}})

    def video(self, record: dict[str, Any]) -> None:
        self._write({"event": VIDEO, **{k: record[k] for k in BATCH_EVENTS[VIDEO]}})

    def message(self, text: str) -> None:
        self._write({"event": "warning", "message": text})

    def result(self, summary: dict[str, Any]) -> None:
        self._write({"event": BATCH_RESULT, **{k: summary[k] for k in BATCH_EVENTS[BATCH_RESULT]}})

    def error(self, code: int, message: str) -> None:
        self._write({"event": "error", "code": int(code), "message": message})
        super().error(code, message)


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class BarDisplay(BatchDisplay):
    """``batch [#####-----] 12/40 done 11 failed 1 running 2 left 28  85.1 frames/s eta 3:10``"""

    def __init__(self, stream: TextIO | None = None, width: int = 24,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__(clock)
        self._stream = stream if stream is not None else sys.stderr
        self._width = width
        self._open_line = False

    def _line(self, text: str) -> None:
        if self._open_line:
            self._stream.write("\n")
            self._open_line = False
        self._stream.write(text + "\n")
        self._stream.flush()

    def start(self, info: dict[str, Any]) -> None:
        self._line(f"batch: {info['to_run']} to capture, {info['skipped']} up to date, "
                   f"{info['workers']} worker(s) on {info['nodes']} node(s); "
                   f"manifest {info['manifest']}")

    def _progress(self, c: BatchCounts) -> None:
        finished = c.done + c.failed + c.skipped
        filled = int(self._width * finished / c.total) if c.total else self._width
        bar = "#" * filled + "-" * (self._width - filled)
        text = (f"batch [{bar}] {finished}/{c.total} done {c.done} failed {c.failed} "
                f"running {c.running} left {c.remaining}  {c.fps:6.1f} frames/s "
                f"eta {format_eta(c.eta)}")
        self._stream.write("\r" + text)
        self._stream.flush()
        self._open_line = True

    def video(self, record: dict[str, Any]) -> None:
        if record["status"] in ("failed", "cancelled"):
            self._line(f"{record['status']} ({record['exit_code']}): {record['relative']}: "
                       f"{record['message']}")

    def message(self, text: str) -> None:
        self._line(f"warning: {text}")

    def result(self, s: dict[str, Any]) -> None:
        self._line(f"batch: {s['done']} done, {s['failed']} failed, {s['skipped']} skipped, "
                   f"{s['cancelled']} cancelled of {s['total']} in {s['seconds']:.1f} s; "
                   f"manifest {s['manifest']}")

    def error(self, code: int, message: str) -> None:
        self._line(f"error ({code}): {message}")


def make_display(mode: str) -> BatchDisplay:
    """Display for ``--progress bar|jsonl|none``."""
    if mode == "jsonl":
        return JsonLinesDisplay()
    if mode == "bar":
        return BarDisplay()
    if mode == "none":
        return BatchDisplay()
    raise ValueError(f"unknown progress mode {mode!r}")
