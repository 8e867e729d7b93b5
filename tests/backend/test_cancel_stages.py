"""Cancelling a capture at every stage, including the write: a file that already existed at the
output path must be byte-identical afterwards, and a capture that finished writing succeeds.

Real pipeline on the bundled clip (first 0.6 s), real decoding and detection; the cancel is
raised by the same token the signal handlers set, at the first progress event of each stage.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from inference_backend.config import CaptureConfig
from inference_backend.errors import CaptureCancelled, ExitCode
from inference_backend.pipeline import run_capture
from inference_backend.progress import ProgressReporter

OLD_BYTES = b"the user's previous motion file\x00" * 64


class _CancelAt(ProgressReporter):
    """Records (stage, done, total) and raises the stop flag at ``stage``'s event ``done``."""

    def __init__(self, stage: str | None, done: int = 0) -> None:
        super().__init__()
        self.target = (stage, done)
        self.events: list[tuple[str, int, int]] = []
        self.stopped = False

    def progress(self, stage: str, done: int, total: int) -> None:
        self.events.append((stage, done, total))
        if self.target[0] == stage and (done >= self.target[1] or stage != "write"):
            self.stopped = True
        super().progress(stage, done, total)


def _capture(video: Path, out: Path, reporter: _CancelAt):
    config = CaptureConfig(video=video, output=out, end=0.6, smoothing="light")
    return run_capture(config, reporter, lambda: reporter.stopped)


@pytest.fixture(scope="module")
def stages(sample_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The stages a full capture of the clip reports, in order."""
    out = tmp_path_factory.mktemp("full") / "o.npz"
    reporter = _CancelAt(None)
    _capture(sample_clip, out, reporter)
    names = list(dict.fromkeys(stage for stage, _, _ in reporter.events))
    assert names[0] == "decode+detect" and names[-1] == "write", names
    assert {"track", "solve"} <= set(names)
    return names


def test_cancel_at_every_stage_keeps_the_existing_output(stages, sample_clip: Path,
                                                          tmp_path: Path) -> None:
    for stage in stages:
        folder = tmp_path / stage.replace("+", "_")
        folder.mkdir()
        out = folder / "o.npz"
        out.write_bytes(OLD_BYTES)
        reporter = _CancelAt(stage)
        with pytest.raises(CaptureCancelled):
            _capture(sample_clip, out, reporter)
        assert reporter.events[-1][0] == stage, (stage, reporter.events[-3:])
        assert out.read_bytes() == OLD_BYTES, f"cancel during {stage!r} changed the output"
        assert [p.name for p in folder.iterdir()] == ["o.npz"], f"temp file left ({stage})"


def test_cancel_after_the_file_is_in_place_reports_success(stages, sample_clip: Path,
                                                           tmp_path: Path) -> None:
    out = tmp_path / "o.npz"
    out.write_bytes(OLD_BYTES)
    reporter = _CancelAt("write", done=1)  # the stop arrives once the write has finished
    result = _capture(sample_clip, out, reporter)
    assert reporter.stopped and result.frames == 19
    assert out.read_bytes() != OLD_BYTES and out.read_bytes()[:2] == b"PK"
    assert [p.name for p in tmp_path.iterdir()] == ["o.npz"]


@pytest.mark.skipif(sys.platform.startswith("win"), reason="POSIX signal to a child process")
def test_sigint_while_write_is_shown_is_all_or_nothing(tmp_path: Path, backend_cmd, backend_env,
                                                       sample_clip: Path) -> None:
    """A real SIGINT as soon as ``write 0/1`` is printed: either the capture is cancelled
    (exit 130, old file byte-identical) or it had already finished (exit 0, a result event,
    the new file) - never a cancel with the new file in place."""
    out = tmp_path / "o.npz"
    out.write_bytes(OLD_BYTES)
    cmd = [*backend_cmd, "capture", str(sample_clip), "-o", str(out), "--end", "0.6",
           "--progress", "jsonl"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=backend_env)
    assert proc.stdout is not None
    events = []
    for line in proc.stdout:
        events.append(json.loads(line))
        if events[-1].get("stage") == "write":
            proc.send_signal(signal.SIGINT)
            break
    events += [json.loads(line) for line in proc.stdout]
    code = proc.wait(timeout=60)
    assert events[-1]["event"] in ("error", "result"), events[-3:]
    if code == int(ExitCode.CANCELLED):
        assert events[-1]["event"] == "error" and events[-1]["code"] == 130
        assert out.read_bytes() == OLD_BYTES
    else:
        assert code == 0 and events[-1]["event"] == "result", (code, events[-3:])
        assert out.read_bytes() != OLD_BYTES
    assert [p.name for p in tmp_path.iterdir()] == ["o.npz"]
