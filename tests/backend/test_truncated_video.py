"""A truncated video (index at the front, the last 40 % of the bytes gone) is captured as far as
it goes, with a warning event and a header warning naming the missing span."""

from __future__ import annotations

import json
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from inference_backend.export import read_motion_file
from inference_backend.motion_types import VideoInfo
from inference_backend.video_io import DecodeReport, iter_frames, missing_tail, probe_video


def _faststart_video(path: Path, frames: list[np.ndarray], fps: int = 30) -> Path:
    """H.264 MP4 with the index (moov) before the frame data, as phones and web exports write."""
    import av

    height, width = frames[0].shape[:2]
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=fps, options={"g": "10"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    data = path.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat"), "index is not at the front"
    return path


@pytest.fixture(scope="module")
def truncated(make_sample_frames, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("truncated")
    full = _faststart_video(folder / "full.mp4", make_sample_frames(90, size=(480, 270)))
    cut = folder / "cut.mp4"
    data = full.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    return cut


def test_decoder_reports_the_missing_span(truncated: Path) -> None:
    probe = probe_video(truncated)
    assert probe.info.num_frames == 90 and probe.info.duration == pytest.approx(3.0)
    report = DecodeReport()
    frames = list(iter_frames(probe, None, report))
    assert 20 < len(frames) < 80
    last = frames[-1].time
    [warning] = [w for w in report.warnings if "ends early" in w]
    missing = 90 - len(frames)
    assert f"after {last:.3f} s" in warning and "3.000 s" in warning
    assert f"about {missing} of 90 frames from {last + 1 / 30:.3f} s to 2.967 s" in warning
    assert "cut.mp4" in warning


def test_complete_video_and_early_end_have_no_warning(make_sample_frames, tmp_path: Path) -> None:
    video = _faststart_video(tmp_path / "whole.mp4", make_sample_frames(30, size=(160, 90)))
    probe = probe_video(video)
    report = DecodeReport()
    assert len(list(iter_frames(probe, None, report))) == 30
    assert report.warnings == []
    info = VideoInfo(path="x.mp4", width=2, height=2, rotation=0, fps=30.0, num_frames=90,
                     duration=3.0, codec="h264")
    assert missing_tail(info, 89 / 30) == ""          # the last frame arrived
    assert missing_tail(info, 1.0, end=1.0) == ""     # the requested span ends there
    assert "about 1 of 90 frames" in missing_tail(info, 88 / 30)
    assert missing_tail(info, float("-inf")) == ""    # nothing decoded: a different error


def test_capture_of_a_truncated_video_warns_in_events_and_header(
        truncated: Path, tmp_path: Path, backend_cmd, backend_env) -> None:
    out = tmp_path / "o.npz"
    proc = subprocess.run(
        [*backend_cmd, "capture", str(truncated), "-o", str(out), "--progress", "jsonl",
         "--max-people", "1", "--smoothing", "none"],
        capture_output=True, text=True, env=backend_env, timeout=300)
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert proc.returncode == 0, proc.stderr[-2000:]
    warnings = [e["message"] for e in events if e["event"] == "warning"]
    assert any("ends early" in w and "frames from" in w for w in warnings), warnings
    result = events[-1]
    assert result["event"] == "result" and result["frames"] < 90
    assert any("ends early" in w for w in result["warnings"])
    header = read_motion_file(out).header
    assert any("ends early" in w and "3.000 s" in w for w in header["warnings"])
