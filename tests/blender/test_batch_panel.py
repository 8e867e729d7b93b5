"""The Batch sub-panel in real bpy 4.5 driving the REAL backend ``batch`` command (a subprocess
that starts its own local Ray runtime) on real short clips: progress, a failing clip reported,
cancel with finished work kept."""

from __future__ import annotations

import json
import os
import sys
import time
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")
pytest.importorskip("ray")

import str_blender_addon  # noqa: E402
from str_blender_addon import batch_ui, paths  # noqa: E402
from str_blender_addon.batch_job import BatchJob, build_batch_argv  # noqa: E402
from str_blender_addon.capture_job import JobStatus  # noqa: E402
from str_blender_addon.preferences import ENV_BACKEND_PYTHON  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "assets" / "sample" / "two_people_backlit.mp4"
pytestmark = pytest.mark.slow


def _write_clip(path: Path, start: int, count: int = 30) -> Path:
    import av
    import cv2

    with av.open(str(SAMPLE)) as src:
        frames = []
        for i, f in enumerate(src.decode(video=0)):
            if i >= start + count:
                break
            if i >= start:
                frames.append(f.to_ndarray(format="rgb24"))
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 480, 270, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 30)
        for k, rgb in enumerate(frames):
            img = cv2.resize(rgb, (480, 270), interpolation=cv2.INTER_AREA)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            frame.pts, frame.time_base = k, Fraction(1, 30)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    videos = tmp_path / "videos"
    (videos / "day1").mkdir(parents=True)
    _write_clip(videos / "day1" / "walk.mp4", 0)
    (videos / "broken.mp4").write_bytes(b"\x00not a video" * 100)
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    monkeypatch.setenv("PYTHONPATH", path)
    monkeypatch.setenv("STR_MOCAP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    monkeypatch.setenv(paths.ENV_USER_DIR, str(tmp_path / "user"))
    monkeypatch.setenv(ENV_BACKEND_PYTHON, sys.executable)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    str_blender_addon.register()
    try:
        s = bpy.context.scene.str_mocap_batch
        s.input_dir, s.output_dir = str(videos), str(tmp_path / "motions")
        s.max_people, s.workers = 1, 1
        yield SimpleNamespace(videos=videos, out=tmp_path / "motions")
    finally:
        str_blender_addon.unregister()
        bpy.ops.wm.read_factory_settings(use_empty=True)


def _manifest(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "batch_manifest.jsonl").read_text().splitlines()]


def test_batch_operator_captures_the_folder_and_reports_the_bad_clip(env) -> None:
    request = batch_ui.batch_request(bpy.context)
    argv = build_batch_argv(sys.executable, request)
    assert argv[3:7] == ["batch", str(env.videos), "-o", str(env.out)]
    assert "--resume" in argv and argv[argv.index("--max-people") + 1] == "1"
    result = bpy.ops.strmocap.batch_capture()  # the execute (blocking) path
    s = bpy.context.scene.str_mocap_batch
    assert result == {"FINISHED"} and not s.running  # went through; one clip failed alone
    assert "1 done, 1 failed" in s.message and "broken.mp4" in s.last_failures
    assert (env.out / "day1" / "walk.mp4.npz").stat().st_size > 10_000
    statuses = {r["relative"]: (r["status"], r["exit_code"]) for r in _manifest(env.out)}
    assert statuses == {"day1/walk.mp4": ("done", 0), "broken.mp4": ("failed", 4)}


def test_cancel_stops_the_batch_and_keeps_the_manifest_valid(env) -> None:
    for i in range(3):
        _write_clip(env.videos / f"more{i}.mp4", 10 * i)
    job = BatchJob(sys.executable, batch_ui.batch_request(bpy.context))
    state = job.start()
    deadline = time.monotonic() + 180
    while not (state.status.finished or state.done >= 1):  # one video finished
        assert time.monotonic() < deadline
        time.sleep(0.1)
        state = job.poll()
    job.request_cancel()
    cancelled_at = time.monotonic()
    state = job.wait(timeout_s=60)
    assert state.status is JobStatus.CANCELLED, state.message
    assert time.monotonic() - cancelled_at < job.grace_s
    assert state.exit_code == 130 and "Resume" in state.message
    records = _manifest(env.out)
    assert {r["status"] for r in records} <= {"done", "failed", "cancelled"}
    done = [r for r in records if r["status"] == "done"]
    assert done and len(done) < 4
    assert all(Path(r["output"]).is_file() for r in done)
    assert not list(env.out.rglob("*.tmp"))
