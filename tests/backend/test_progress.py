"""Progress reporters: JSON-lines events, throttling, fps/eta, the terminal bar."""

from __future__ import annotations

import io
import json
import sys

import pytest

from inference_backend.progress import (
    BarReporter,
    JsonLinesReporter,
    ProgressReporter,
    make_reporter,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_jsonl_events_fps_eta_and_throttling() -> None:
    out, clock = io.StringIO(), FakeClock()
    rep = JsonLinesReporter(out, clock)
    rep.progress("decode+detect", 0, 100)          # first event of a stage: emitted
    for done in range(1, 51):                       # 50 frames over 2 s: throttled to ~10/s
        clock.now += 0.04
        rep.progress("decode+detect", done, 100)
    clock.now += 2.0
    rep.progress("decode+detect", 100, 100)         # last event of a stage: always emitted
    rep.progress("track", 0, 1)
    rep.warning("frame 3 skipped")
    rep.result("/tmp/o.npz", 2, 100, ["frame 3 skipped"])
    rep.error(6, "no person")
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    progress = [e for e in events if e["event"] == "progress"]
    assert progress[0] == {"event": "progress", "stage": "decode+detect", "done": 0,
                           "total": 100, "fps": 0.0, "eta": None}
    assert 15 <= len(progress) <= 25   # 2 s at <= 10 events/s, plus first/last
    mid = progress[5]
    assert mid["fps"] == 25.0 and mid["eta"] == (100 - mid["done"]) / 25.0
    last = [e for e in progress if e["stage"] == "decode+detect"][-1]
    assert last["done"] == 100 and last["eta"] == 0.0 and last["fps"] == 25.0
    assert progress[-1]["stage"] == "track"
    assert events[-3] == {"event": "warning", "message": "frame 3 skipped"}
    assert events[-2] == {"event": "result", "output": "/tmp/o.npz", "persons": 2,
                          "frames": 100, "warnings": ["frame 3 skipped"]}
    assert events[-1] == {"event": "error", "code": 6, "message": "no person"}


def test_bar_draws_on_its_stream() -> None:
    err, clock = io.StringIO(), FakeClock()
    rep = BarReporter(err, width=10, clock=clock)
    rep.progress("decode+detect", 0, 10)
    clock.now += 1.0
    rep.progress("decode+detect", 5, 10)
    clock.now += 1.0
    rep.progress("decode+detect", 10, 10)
    rep.progress("write", 1, 1)
    rep.error(7, "cannot write")
    text = err.getvalue()
    assert "\r" in text and "[#####-----] 5/10" in text and "[##########] 10/10" in text
    assert "5.0/s" in text
    assert text.endswith("error (7): cannot write\n")


def test_none_is_silent_and_factory() -> None:
    assert type(make_reporter("none")) is ProgressReporter
    assert isinstance(make_reporter("jsonl"), JsonLinesReporter)
    assert isinstance(make_reporter("bar"), BarReporter)


@pytest.mark.skipif(sys.platform.startswith("win"), reason="os.kill(SIGINT) terminates on Windows")
def test_signal_sets_the_cancel_token_and_handlers_are_restored() -> None:
    import os
    import signal

    from inference_backend.errors import CaptureCancelled, ExitCode
    from inference_backend.signals import CancelToken, handle_signals

    before = signal.getsignal(signal.SIGINT)
    token = CancelToken()
    with handle_signals(token):
        assert signal.getsignal(signal.SIGINT) is not before
        os.kill(os.getpid(), signal.SIGINT)  # delivered to the handler, not KeyboardInterrupt
        assert token.is_set() and token.signal_name == "SIGINT"
        with pytest.raises(CaptureCancelled) as err:
            token.raise_if_set()
        assert err.value.code == ExitCode.CANCELLED == 130
    assert signal.getsignal(signal.SIGINT) is before
