"""``python -m inference_backend capture`` as a real subprocess: exit codes, JSON-lines error
events, nothing left behind on failure, and prompt cancellation by signal."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from inference_backend import cli
from inference_backend.errors import ExitCode


def run_capture(backend_cmd, env, video: Path, out: Path, *extra: str, timeout: float = 180):
    cmd = [*backend_cmd, "capture", str(video), "-o", str(out), "--progress", "jsonl", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)


def events_of(stdout: str) -> list[dict]:
    """Every stdout line must be one JSON object (the add-on parses them line by line)."""
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def assert_failed_cleanly(proc, code: ExitCode, folder: Path, inputs: set[str], words: str):
    assert proc.returncode == int(code), proc.stderr[-2000:]
    events = events_of(proc.stdout)
    assert events and events[-1]["event"] == "error", proc.stdout
    assert events[-1]["code"] == int(code)
    assert words.lower() in events[-1]["message"].lower(), events[-1]["message"]
    assert {p.name for p in folder.iterdir()} == inputs  # no output, no temp file


def test_missing_video(tmp_path: Path, backend_cmd, backend_env) -> None:
    proc = run_capture(backend_cmd, backend_env, tmp_path / "nope.mp4", tmp_path / "o.npz")
    assert_failed_cleanly(proc, ExitCode.FILE_MISSING, tmp_path, set(), "not found")


def test_text_file_is_not_a_video(tmp_path: Path, backend_cmd, backend_env) -> None:
    video = tmp_path / "notes.mp4"
    video.write_text("hello\n" * 100)
    proc = run_capture(backend_cmd, backend_env, video, tmp_path / "o.npz")
    assert_failed_cleanly(proc, ExitCode.NOT_A_VIDEO, tmp_path, {"notes.mp4"}, "notes.mp4")


def test_zero_frames(tmp_path: Path, backend_cmd, backend_env, make_zero_frame_video) -> None:
    video = make_zero_frame_video(tmp_path / "zero.mp4")
    proc = run_capture(backend_cmd, backend_env, video, tmp_path / "o.npz")
    assert_failed_cleanly(proc, ExitCode.ZERO_FRAMES, tmp_path, {"zero.mp4"}, "no decodable")


@pytest.mark.parametrize("where", ["missing_folder", "parent_is_a_file"])
def test_output_not_writable(tmp_path: Path, backend_cmd, backend_env, sample_clip, where) -> None:
    (tmp_path / "file.txt").write_text("x")
    out = tmp_path / ("missing/o.npz" if where == "missing_folder" else "file.txt/o.npz")
    proc = run_capture(backend_cmd, backend_env, sample_clip, out)
    assert_failed_cleanly(proc, ExitCode.OUTPUT_NOT_WRITABLE, tmp_path, {"file.txt"}, "o")


def test_usage_errors_exit_2_with_a_json_event(tmp_path: Path, backend_cmd, backend_env,
                                               sample_clip) -> None:
    proc = run_capture(backend_cmd, backend_env, sample_clip, tmp_path / "o.npz",
                       "--smoothing", "extreme")
    assert proc.returncode == 2 and "--smoothing" in proc.stderr
    assert events_of(proc.stdout)[-1]["code"] == 2
    proc = run_capture(backend_cmd, backend_env, sample_clip, tmp_path / "o.npz",
                       "--start", "3", "--end", "2")
    assert_failed_cleanly(proc, ExitCode.USAGE, tmp_path, set(), "--end")
    proc = run_capture(backend_cmd, backend_env, sample_clip, tmp_path / "o.npz", "--start", "60")
    assert_failed_cleanly(proc, ExitCode.USAGE, tmp_path, set(), "past the end")
    video = tmp_path / "keep.mp4"
    video.write_bytes(sample_clip.read_bytes())
    proc = run_capture(backend_cmd, backend_env, video, video)
    assert_failed_cleanly(proc, ExitCode.USAGE, tmp_path, {"keep.mp4"}, "overwrite")
    assert video.read_bytes() == sample_clip.read_bytes()


def test_video_without_a_person(tmp_path: Path, backend_cmd, backend_env, make_video) -> None:
    # 2 s of moving colour gradients and noise: a real video in which nobody appears
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:240, 0:320]
    frames = []
    for i in range(60):
        base = ((xx + 4 * i) % 256).astype(np.uint8)
        rgb = np.stack([base, (yy + 2 * i) % 256, 255 - base], axis=-1).astype(np.uint8)
        frames.append(np.clip(rgb + rng.integers(0, 30, rgb.shape), 0, 255).astype(np.uint8))
    video = make_video(tmp_path / "empty_scene.mp4", frames)
    proc = run_capture(backend_cmd, backend_env, video, tmp_path / "o.npz")
    assert_failed_cleanly(proc, ExitCode.NO_PERSON, tmp_path, {"empty_scene.mp4"}, "no person")
    progress = [e for e in events_of(proc.stdout) if e["event"] == "progress"]
    assert progress[-1]["stage"] == "track"
    assert [e for e in progress if e["stage"] == "decode+detect"][-1]["done"] == 60


def _start(backend_cmd, env, video: Path, out: Path) -> subprocess.Popen:
    kwargs: dict = {}
    if sys.platform.startswith("win"):
        kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
    cmd = [*backend_cmd, "capture", str(video), "-o", str(out), "--progress", "jsonl"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env=env, **kwargs)


@pytest.mark.parametrize("how", ["interrupt", "terminate"])
def test_signal_during_capture_exits_130_without_output(tmp_path: Path, backend_cmd, backend_env,
                                                        sample_clip, how: str) -> None:
    out = tmp_path / "o.npz"
    proc = _start(backend_cmd, backend_env, sample_clip, out)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:  # wait until frames are being decoded and detected
        lines.append(line)
        event = json.loads(line)
        if event.get("stage") == "decode+detect" and event["done"] >= 3:
            break
    if how == "interrupt":
        proc.send_signal(signal.CTRL_BREAK_EVENT if sys.platform.startswith("win")
                         else signal.SIGINT)
    else:
        proc.terminate()  # SIGTERM (uncatchable TerminateProcess on Windows: not tested there)
    sent = time.monotonic()
    rest, _ = proc.communicate(timeout=60)
    elapsed = time.monotonic() - sent
    assert proc.returncode == 130
    events = events_of("".join(lines) + rest)
    assert events[-1]["event"] == "error" and events[-1]["code"] == 130
    assert "cancelled" in events[-1]["message"]
    assert elapsed < 8.0
    # it stopped inside the frame loop: the clip's 135 frames were not all decoded
    detected = [e["done"] for e in events if e.get("stage") == "decode+detect"]
    assert max(detected) < 135 and not [e for e in events if e.get("stage") == "solve"]
    assert list(tmp_path.iterdir()) == []


def test_plugin_subcommands_are_dispatched_lazily(monkeypatch, capsys) -> None:
    import importlib
    import types

    calls = []
    fake = types.ModuleType("inference_backend.commands.make_synthetic_db")
    fake.add_arguments = lambda parser: parser.add_argument("--count", type=int, default=1)
    fake.run = lambda args: calls.append(args.count) or 0
    real_import = importlib.import_module

    def importer(name, *a):
        if name == "inference_backend.commands.make_synthetic_db":
            return fake
        if name == "inference_backend.commands.evaluate":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *a)

    monkeypatch.setattr(cli.importlib, "import_module", importer)
    assert cli.main(["make-synthetic-db", "--count", "7"]) == 0 and calls == [7]
    assert cli.main(["evaluate"]) == 2
    assert "the 'evaluate' command is not installed" in capsys.readouterr().err


def test_doctor_json_reports_a_runnable_default_solver(tmp_path: Path, backend_cmd,
                                                       backend_env) -> None:
    env = {**backend_env, "STR_MOCAP_SMPL_DIR": str(tmp_path)}
    proc = subprocess.run([*backend_cmd, "doctor", "--json"], capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["versions"]["mediapipe"] == "0.10.21"
    for name in ("torch", "opencv", "av", "numpy"):
        assert report["versions"][name]
    assert report["mediapipe_models"]["pose_models_in_wheel"] is True
    assert report["device"] in ("cpu", "cuda") and "available" in report["cuda"]
    assert report["smpl"]["dir"] == str(tmp_path) and report["smpl"]["found"] is False
    assert "smpl.is.tue.mpg.de" in report["smpl"]["how_to_get"]
    assert report["str_checkpoint"]["found"] is False and report["default_solver_can_run"]
    (tmp_path / "SMPL_NEUTRAL.npz").write_bytes(b"x")
    proc = subprocess.run([*backend_cmd, "doctor"], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 0 and "SMPL files  found" in proc.stdout


def test_str_solver_without_checkpoint_fails_before_decoding(tmp_path: Path, backend_cmd,
                                                             backend_env, sample_clip) -> None:
    proc = run_capture(backend_cmd, backend_env, sample_clip, tmp_path / "o.npz",
                       "--solver", "str")
    assert_failed_cleanly(proc, ExitCode.MODEL_PROBLEM, tmp_path, set(), "--str-checkpoint")
    assert not [e for e in events_of(proc.stdout) if e["event"] == "progress"]
    proc = run_capture(backend_cmd, backend_env, sample_clip, tmp_path / "o.npz",
                       "--solver", "str", "--str-checkpoint", str(tmp_path / "none.pt"))
    assert_failed_cleanly(proc, ExitCode.MODEL_PROBLEM, tmp_path, set(), "not found")
