"""Cooperative cancellation: signal handlers set a flag the frame loop and solvers poll.

SIGINT and SIGTERM everywhere, SIGBREAK on Windows (sent by CTRL_BREAK_EVENT to a process group,
which is how the add-on stops the backend there; ``Popen.terminate`` on Windows cannot be
caught). Handlers are installed only inside ``handle_signals`` and restored afterwards.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from .errors import CaptureCancelled


class CancelToken:
    """A thread-safe 'please stop' flag."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.signal_name = ""

    def cancel(self, reason: str = "") -> None:
        self.signal_name = reason or self.signal_name
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def raise_if_set(self) -> None:
        if self._event.is_set():
            suffix = f" ({self.signal_name})" if self.signal_name else ""
            raise CaptureCancelled(f"cancelled{suffix}")


def _signals() -> list[signal.Signals]:
    names = ["SIGINT", "SIGTERM", "SIGBREAK"]
    return [getattr(signal, n) for n in names if hasattr(signal, n)]


@contextmanager
def handle_signals(token: CancelToken) -> Iterator[CancelToken]:
    """Route termination signals to ``token`` while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield token
        return

    def _handler(signum: int, frame: FrameType | None) -> None:
        token.cancel(signal.Signals(signum).name)

    previous = {}
    for sig in _signals():
        try:
            previous[sig] = signal.signal(sig, _handler)
        except (OSError, ValueError):
            continue
    try:
        yield token
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
