"""The camera tracker's background thread: calls run in order, errors come back, memory bounded."""

from __future__ import annotations

import threading

import pytest

from inference_backend.ordered_worker import OrderedWorker


def test_calls_run_in_submission_order_on_one_other_thread() -> None:
    seen: list[tuple[int, str]] = []
    with OrderedWorker("test-worker", depth=3) as worker:
        for i in range(50):
            worker.submit(lambda k: seen.append((k, threading.current_thread().name)), i)
        worker.finish()
    assert [k for k, _ in seen] == list(range(50))
    names = {name for _, name in seen}
    assert len(names) == 1 and names != {threading.current_thread().name}


def test_no_more_than_depth_calls_are_pending() -> None:
    release = threading.Event()
    started: list[int] = []
    waits: list[float] = []

    def blocked(k: int) -> None:
        started.append(k)
        release.wait(5.0)

    with OrderedWorker("test-worker", depth=2, wait=waits.append) as worker:
        worker.submit(blocked, 0)
        worker.submit(blocked, 1)
        timer = threading.Timer(0.2, release.set)
        timer.start()
        worker.submit(blocked, 2)  # must wait for call 0 to end: the worker is blocked in it
        assert release.is_set()
        worker.finish()
        timer.join()
    assert started == [0, 1, 2]
    assert len(waits) >= 1 and waits[0] >= 0.1


def test_an_error_in_a_call_is_raised_to_the_caller() -> None:
    def fail() -> None:
        raise ValueError("tracker broke")

    with OrderedWorker("test-worker") as worker:
        worker.submit(fail)
        with pytest.raises(ValueError, match="tracker broke"):
            worker.finish()


def test_close_drops_calls_not_started() -> None:
    release = threading.Event()
    ran: list[int] = []

    def slow(k: int) -> None:
        release.wait(5.0)
        ran.append(k)

    worker = OrderedWorker("test-worker", depth=10)
    for i in range(5):
        worker.submit(slow, i)
    threading.Timer(0.1, release.set).start()
    worker.close()
    assert ran == [0]
