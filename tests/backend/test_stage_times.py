"""Seconds per capture stage: the accumulator, the bar's closing line, a real capture's stages."""

from __future__ import annotations

import io
import threading
from pathlib import Path

from inference_backend.progress import BarReporter, JsonLinesReporter
from inference_backend.stage_times import StageTimes, format_stage_times


class StepClock:
    """A clock that advances by one second per reading."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_measure_timed_and_order() -> None:
    times = StageTimes(StepClock())           # created at t=1
    with times.measure("solve"):               # reads 2 and 3
        pass
    items = list(times.timed("decode", iter("ab")))  # 3 next() calls: reads 4..9, 1 s each
    times.first_frame_done()                   # start-up: read 10 - 1
    times.first_frame_done()                   # only the first call counts
    with times.measure("detect"):
        pass
    times.add("scene", 0.5)
    assert items == ["a", "b"]
    assert times.seconds() == {"start-up": 9.0, "decode": 3.0, "detect": 1.0, "solve": 1.0,
                               "scene": 0.5}
    assert format_stage_times({"decode": 1.234, "detect": 2.0}) == (
        "stage seconds: decode 1.23, detect 2.00")
    assert format_stage_times({"detect": 2.0}, cpu=(0.5, 0.0)) == (
        "stage seconds: detect 2.00; process CPU 0.50 s in 0.00 s")


def test_add_is_thread_safe() -> None:
    times = StageTimes()

    def work() -> None:
        for _ in range(10_000):
            times.add("decode", 0.001)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert abs(times.seconds()["decode"] - 40.0) < 1e-6


def test_bar_prints_stage_seconds_after_the_result_and_jsonl_does_not() -> None:
    err = io.StringIO()
    cpu = iter([10.0, 13.0])                   # the process's CPU when made and at the end
    bar = BarReporter(err, clock=StepClock(), cpu_clock=lambda: next(cpu))
    bar.stage_times({"decode": 1.0, "detect": 2.5})
    bar.result("/tmp/o.npz", 1, 10, [])        # the step clock read 1 (made), then 2 (end)
    assert err.getvalue().splitlines()[-2:] == [
        "wrote /tmp/o.npz: 1 person(s), 10 frame(s)",
        "stage seconds: decode 1.00, detect 2.50; process CPU 3.00 s in 1.00 s (3.00 cores)"]
    out = io.StringIO()
    JsonLinesReporter(out).stage_times({"decode": 1.0})
    assert out.getvalue() == ""


def test_capture_reports_every_stage(sample_clip: Path, model_cache: Path, tmp_path: Path) -> None:
    from inference_backend.config import CaptureConfig
    from inference_backend.pipeline import run_capture

    class Keep(BarReporter):
        def __init__(self) -> None:
            super().__init__(io.StringIO())
            self.seconds: dict[str, float] = {}

        def stage_times(self, seconds: dict[str, float]) -> None:
            self.seconds = seconds

    reporter = Keep()
    run_capture(CaptureConfig(video=sample_clip, output=tmp_path / "m.npz", end=0.6), reporter)
    seconds = reporter.seconds
    # camera (on its own thread) and the main thread's waiting for it: when it may move
    assert ("camera" in seconds) == ("camera wait" in seconds)
    names = [name for name in seconds if name not in ("camera", "camera wait")]
    assert names == ["start-up", "decode", "decode wait", "detect", "track", "solve", "write"]
    assert all(v >= 0.0 for v in seconds.values())
    assert seconds["detect"] > 0.0 and seconds["decode"] > 0.0 and seconds["start-up"] > 0.0
