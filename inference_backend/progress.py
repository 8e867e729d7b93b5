"""Progress reporting: a terminal bar on stderr, JSON lines on stdout, or no progress.

Whatever the mode, an error is also written to stderr as ``error (CODE): MESSAGE``.

The JSON lines are a contract with the add-on, specified in docs/progress_events.md (event
names, fields, stage names, exit codes); ``EVENTS`` and ``STAGES`` below are the backend's one
definition of the names. ``total`` is 0 when unknown. Progress events are throttled (at most
about ten per second per stage, plus the first and the last of each stage).

The bar ends with one ``stage seconds: start-up S, decode S, decode wait S, detect S, ...;
process CPU C s in W s (N cores)`` line after the result (``stage_times``, and the CPU the whole
process used since the reporter was made; not an event of the JSON lines).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

_MIN_INTERVAL_S = 0.1

#: Event names and the fields each carries (docs/progress_events.md).
EVENTS: dict[str, tuple[str, ...]] = {
    "progress": ("stage", "done", "total", "fps", "eta"),
    "warning": ("message",),
    "result": ("output", "persons", "frames", "warnings"),
    "error": ("code", "message"),
}

#: Stage names, in the order a capture runs them (docs/progress_events.md).
DECODE_DETECT = "decode+detect"   # decode the video, detect people (frames)
TRACK = "track"                   # link detections into tracks
SOLVE = "solve"                   # the default solver's skeleton fit (people)
STR_TEMPORAL = "str-temporal"     # the STR solver's temporal network (people)
CAMERA = "camera"                 # the camera's rotation per frame from the background (1)
SCENE = "scene"                   # the scene stage: world, smoothing, contacts (people)
WRITE = "write"                   # the motion file
STAGES: tuple[str, ...] = (DECODE_DETECT, TRACK, SOLVE, STR_TEMPORAL, CAMERA, SCENE, WRITE)


def _to_stderr(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


class ProgressReporter:
    """Base reporter (``--progress none``): no progress and no result, but warnings and errors
    still reach stderr (a failed run never exits silently). Subclasses override ``_emit_*``.

    ``progress(stage, done, total)`` has the ``Callable[[str, int, int], None]`` shape solvers
    receive. ``clock`` is injectable for tests (seconds, monotonic).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._stage = ""
        self._stage_start = 0.0
        self._stage_done0 = 0
        self._last_emit = -1e9

    def progress(self, stage: str, done: int, total: int) -> None:
        if stage not in STAGES:
            raise ValueError(f"unknown progress stage {stage!r}: stages are defined in "
                             "progress.STAGES and docs/progress_events.md")
        now = self._clock()
        new_stage = stage != self._stage
        if new_stage:
            self._stage, self._stage_start, self._stage_done0 = stage, now, done
        final = total > 0 and done >= total
        if not (new_stage or final or now - self._last_emit >= _MIN_INTERVAL_S):
            return
        self._last_emit = now
        elapsed = now - self._stage_start
        rate = (done - self._stage_done0) / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 and total > 0 else None
        self._emit_progress(stage, int(done), int(total), float(rate), eta, new_stage)

    def warning(self, message: str) -> None:
        self._emit_warning(message)

    def result(self, output: str, persons: int, frames: int, warnings: list[str]) -> None:
        self._emit_result(output, persons, frames, warnings)

    def error(self, code: int, message: str) -> None:
        self._emit_error(int(code), message)

    def stage_times(self, seconds: dict[str, float]) -> None:
        """Seconds per stage of a finished capture (shown by the bar only; not an event)."""
        self._emit_stage_times(dict(seconds))

    def _emit_progress(
        self, stage: str, done: int, total: int, fps: float, eta: float | None, new: bool
    ) -> None:
        pass

    def _emit_warning(self, message: str) -> None:
        _to_stderr(f"warning: {message}")

    def _emit_result(self, output: str, persons: int, frames: int, warnings: list[str]) -> None:
        pass

    def _emit_error(self, code: int, message: str) -> None:
        _to_stderr(f"error ({code}): {message}")

    def _emit_stage_times(self, seconds: dict[str, float]) -> None:
        pass


class JsonLinesReporter(ProgressReporter):
    """One JSON object per line on ``stream`` (stdout by default), flushed after each line."""

    def __init__(self, stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic):
        super().__init__(clock)
        self._stream = stream if stream is not None else sys.stdout

    def _write(self, obj: dict[str, Any]) -> None:
        self._stream.write(json.dumps(obj, allow_nan=False) + "\n")
        self._stream.flush()

    def _emit_progress(
        self, stage: str, done: int, total: int, fps: float, eta: float | None, new: bool
    ) -> None:
        self._write({
            "event": "progress", "stage": stage, "done": done, "total": total,
            "fps": round(fps, 3), "eta": None if eta is None else round(eta, 3),
        })

    def _emit_warning(self, message: str) -> None:
        self._write({"event": "warning", "message": message})

    def _emit_result(self, output: str, persons: int, frames: int, warnings: list[str]) -> None:
        self._write({
            "event": "result", "output": output, "persons": persons, "frames": frames,
            "warnings": list(warnings),
        })

    def _emit_error(self, code: int, message: str) -> None:
        self._write({"event": "error", "code": code, "message": message})
        _to_stderr(f"error ({code}): {message}")  # for a person reading the terminal or a log


class BarReporter(ProgressReporter):
    """A one-line progress bar on ``stream`` (stderr by default), redrawn with carriage returns."""

    def __init__(
        self, stream: TextIO | None = None, width: int = 30,
        clock: Callable[[], float] = time.monotonic,
        cpu_clock: Callable[[], float] = time.process_time,
    ):
        super().__init__(clock)
        self._stream = stream if stream is not None else sys.stderr
        self._width = width
        self._open_line = False
        self._stage_seconds: dict[str, float] = {}
        # the process's CPU (all threads) and the wall clock since the run began, for the
        # closing line: how many cores the capture got
        self._cpu_clock = cpu_clock
        self._started = (cpu_clock(), clock())

    def _end_line(self) -> None:
        if self._open_line:
            self._stream.write("\n")
            self._open_line = False

    def _emit_progress(
        self, stage: str, done: int, total: int, fps: float, eta: float | None, new: bool
    ) -> None:
        if new:
            self._end_line()
        if total > 0:
            filled = int(self._width * min(done, total) / total)
            bar = "#" * filled + "-" * (self._width - filled)
            text = f"{stage:>14} [{bar}] {done}/{total}"
        else:
            text = f"{stage:>14} {done}"
        text += f" {fps:6.1f}/s"
        if eta is not None:
            text += f" eta {eta:5.1f}s"
        self._stream.write("\r" + text)
        self._stream.flush()
        self._open_line = True

    def _emit_warning(self, message: str) -> None:
        self._end_line()
        self._stream.write(f"warning: {message}\n")
        self._stream.flush()

    def _emit_result(self, output: str, persons: int, frames: int, warnings: list[str]) -> None:
        self._end_line()
        self._stream.write(f"wrote {output}: {persons} person(s), {frames} frame(s)\n")
        if self._stage_seconds:
            from .stage_times import format_stage_times

            cpu = (self._cpu_clock() - self._started[0], self._clock() - self._started[1])
            self._stream.write(format_stage_times(self._stage_seconds, cpu) + "\n")
        self._stream.flush()

    def _emit_error(self, code: int, message: str) -> None:
        self._end_line()
        self._stream.write(f"error ({code}): {message}\n")
        self._stream.flush()

    def _emit_stage_times(self, seconds: dict[str, float]) -> None:
        self._stage_seconds = seconds  # printed last, after the result line


def make_reporter(mode: str) -> ProgressReporter:
    """Reporter for ``--progress bar|jsonl|none``."""
    if mode == "jsonl":
        return JsonLinesReporter()
    if mode == "bar":
        return BarReporter()
    if mode == "none":
        return ProgressReporter()
    raise ValueError(f"unknown progress mode {mode!r}")
