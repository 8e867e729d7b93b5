"""One background thread that runs handed-over calls in the order they were handed over.

The capture hands its camera tracker each frame's grey copy and people boxes here instead of
tracking on the detector's thread (OpenCV releases the GIL, so on a multi-core CPU the tracking
overlaps the next frame's landmark pass). One thread in submission order means the calls see
exactly the inputs, in exactly the order, they would have seen on the caller's thread: the
results are identical.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class OrderedWorker:
    """``submit(fn, *args)`` runs ``fn(*args)`` on the worker thread, after every earlier call.

    At most ``depth`` calls wait or run at a time: ``submit`` first waits for the oldest when
    that many are pending (bounding the memory their arguments hold). An exception raised by a
    call is re-raised by a later ``submit`` or by ``finish``. ``wait`` (seconds -> None) is told
    how long the caller stood waiting for the worker. Use as a context manager: leaving the
    block on an exception drops the calls not yet started and waits for the running one.
    """

    def __init__(self, name: str, depth: int = 4,
                 wait: Callable[[float], None] | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._pending: deque[Future[Any]] = deque()
        self._depth = max(1, depth)
        self._wait = wait
        self._clock = clock if clock is not None else time.perf_counter

    def _result_of_oldest(self) -> None:
        future = self._pending.popleft()
        if future.done():
            future.result()
            return
        start = self._clock()
        try:
            future.result()
        finally:
            if self._wait is not None:
                self._wait(self._clock() - start)

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        while len(self._pending) >= self._depth:
            self._result_of_oldest()
        self._pending.append(self._pool.submit(fn, *args))

    def finish(self) -> None:
        """Wait for every call handed over so far (re-raising the first error)."""
        while self._pending:
            self._result_of_oldest()

    def close(self) -> None:
        """Drop the calls not yet started, wait for the running one, stop the thread."""
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> OrderedWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
