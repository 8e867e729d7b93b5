"""Seconds spent per capture stage (decode / detect / track / solve / write), for the closing
summary of ``--progress bar`` and for benchmarks.

Decoding runs in a background thread (``video_io.prefetch``), so its seconds overlap detection;
``decode wait`` is the time the detector stood waiting for a decoded frame (when it is a large
share, decoding is the bottleneck). Detection, too, runs on its own thread, a frame or two ahead
of the tracking (``detect`` is its seconds; ``track`` overlaps it). The camera tracker runs on
its own thread (``ordered_worker``): ``camera`` is its seconds, ``camera wait`` the main
thread's waiting for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

#: The order stages are listed in (others follow in the order they were first measured).
STAGE_ORDER: tuple[str, ...] = (
    "start-up", "decode", "decode wait", "detect", "camera", "camera wait", "track", "solve",
    "write",
)


class StageTimes:
    """Thread-safe accumulator of seconds per stage name."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._seconds: dict[str, float] = {}
        self._created = clock()

    def first_frame_done(self) -> None:
        """Record "start-up": from this object's creation to now (call once, after frame 1)."""
        with self._lock:
            if "start-up" not in self._seconds:
                self._seconds["start-up"] = self._clock() - self._created

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self._seconds[stage] = self._seconds.get(stage, 0.0) + max(0.0, float(seconds))

    @contextmanager
    def measure(self, stage: str) -> Iterator[None]:
        """Add the time the ``with`` block takes to ``stage``."""
        start = self._clock()
        try:
            yield
        finally:
            self.add(stage, self._clock() - start)

    def timed(self, stage: str, items: Iterator[T]) -> Iterator[T]:
        """Yield ``items``, adding the time spent producing each one to ``stage``."""
        iterator = iter(items)
        try:
            while True:
                start = self._clock()
                try:
                    item = next(iterator)
                except StopIteration:
                    self.add(stage, self._clock() - start)
                    return
                self.add(stage, self._clock() - start)
                yield item
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    def seconds(self) -> dict[str, float]:
        """Seconds per stage, in ``STAGE_ORDER`` then first-measured order."""
        with self._lock:
            known = [s for s in STAGE_ORDER if s in self._seconds]
            rest = [s for s in self._seconds if s not in STAGE_ORDER]
            return {s: self._seconds[s] for s in known + rest}


def format_stage_times(seconds: dict[str, float],
                       cpu: tuple[float, float] | None = None) -> str:
    """One line, e.g. ``stage seconds: start-up 0.84, decode 1.20, detect 9.31, ...``;
    with ``cpu`` = (CPU seconds of the whole process, wall seconds) over the same run it ends
    ``; process CPU 28.50 s in 18.75 s (1.52 cores)`` (every thread's CPU: the stages overlap
    on threads, so their seconds do not add up to it)."""
    parts = ", ".join(f"{stage} {value:.2f}" for stage, value in seconds.items())
    line = f"stage seconds: {parts}"
    if cpu is not None:
        used, wall = cpu
        cores = f" ({used / wall:.2f} cores)" if wall > 0 else ""
        line += f"; process CPU {used:.2f} s in {wall:.2f} s{cores}"
    return line
