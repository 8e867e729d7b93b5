"""Inputs users will bring that we have no footage of (docs/bad_inputs.md): a photo renamed
.mp4, a recording whose MP4 index never got written, an empty file, sound only, damaged
timestamps, clips too short or too small to capture, and mistyped numbers. Each gets its exit
code and a message that says what to do; nothing is written."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from inference_backend import cli
from inference_backend.config import TrackingConfig
from inference_backend.detection import make_detection
from inference_backend.errors import CaptureError, ExitCode
from inference_backend.motion_types import VideoInfo
from inference_backend.pipeline import no_person_message
from inference_backend.subject_size import parse_heights
from inference_backend.tracking import Tracker
from inference_backend.video_io import DecodeReport, iter_frames, probe_video


def _error_of(path: Path) -> CaptureError:
    with pytest.raises(CaptureError) as caught:
        probe_video(path)
    return caught.value


def _gradient(i: int, w: int = 64, h: int = 48) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.dstack([(xx * 2 + i) % 256, yy * 5 % 256, np.full_like(xx, 8 * i % 256)]).astype(np.uint8)


@pytest.mark.parametrize("kind", ["png", "jpg", "bmp"])
def test_a_photo_renamed_mp4_is_not_a_video(tmp_path: Path, kind: str) -> None:
    # ffmpeg opens a still picture as a one-frame "video"; it used to end as "no person found
    # (looked at 1 frames)", which sends the user looking for a detection problem
    image = tmp_path / f"photo.{kind}"
    assert cv2.imwrite(str(image), _gradient(0))
    video = image.rename(tmp_path / "photo.mp4")
    error = _error_of(video)
    assert error.code == ExitCode.NOT_A_VIDEO
    assert "photo.mp4 is a still image" in error.message and "not a video" in error.message


@pytest.mark.parametrize("cut", ["before_index", "inside_index"])
def test_an_mp4_without_its_index_is_called_incomplete(tmp_path: Path, make_video,
                                                       cut: str) -> None:
    # a phone that stopped recording (or a copy cut short) leaves an MP4 without its 'moov'
    # box (written at the end): "use a common format such as MP4" (no index) and "contains no
    # video stream" (half an index) were no help for an MP4
    video = make_video(tmp_path / "take.mp4", [_gradient(i) for i in range(20)])
    data = video.read_bytes()
    moov = data.rfind(b"moov") - 4
    assert moov > len(data) // 2  # the index is at the end
    size = int.from_bytes(data[moov:moov + 4], "big")
    video.write_bytes(data[: moov if cut == "before_index" else moov + size // 2])
    error = _error_of(video)
    assert error.code == ExitCode.NOT_A_VIDEO
    assert "'moov' box" in error.message and "copied completely" in error.message
    assert "Errno" not in error.message


def test_empty_file_folder_and_sound_only_say_so(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert "empty (0 bytes)" in _error_of(empty).message
    folder = tmp_path / "clip.mp4"
    folder.mkdir()
    error = _error_of(folder)
    assert error.code == ExitCode.NOT_A_VIDEO and "is a folder" in error.message
    sound = tmp_path / "voice.m4a"
    with av.open(str(sound), "w") as out:
        stream = out.add_stream("aac", rate=16000)
        for i in range(8):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                               layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    error = _error_of(sound)
    assert error.code == ExitCode.NOT_A_VIDEO and "no video stream (only sound)" in error.message


def _disordered_mkv(tmp_path: Path, make_video) -> Path:
    """20 intra-coded frames remuxed with presentation times 0..4, 6, 5, 7, 8, 8, 8, 11..13,
    9..13 (in frame steps): one swapped pair, a repeated time, a jump back."""
    intra = make_video(tmp_path / "intra.mp4", [_gradient(i) for i in range(20)], gop=1)
    order = [0, 1, 2, 3, 4, 6, 5, 7, 8, 8, 8, 11, 12, 13, 9, 10, 11, 12, 13, 14]
    path = tmp_path / "disordered.mkv"
    with av.open(str(intra)) as source, av.open(str(path), "w") as out:
        original = source.streams.video[0]
        stream = out.add_stream_from_template(original)
        for i, packet in enumerate(p for p in source.demux(original) if p.pts is not None):
            step = packet.duration or 512
            packet.dts, packet.pts = (i - 6) * step, order[i] * step  # dts rises, pts does not
            packet.stream = stream
            out.mux(packet)
    return path


def test_damaged_timestamps_keep_time_order_and_warn(tmp_path: Path, make_video) -> None:
    video = _disordered_mkv(tmp_path, make_video)
    report = DecodeReport()
    times = [f.time for f in iter_frames(probe_video(video), report=report)]
    assert np.all(np.diff(times) > 0)
    assert len(times) == 20 - 8  # 1 swapped + 2 repeats + 5 after the jump back left out
    assert any(w.startswith("8 frames of disordered.mkv had a timestamp that repeated or went back")
               for w in report.warnings), report.warnings


def _info(fps: float = 30.0, size: tuple[int, int] = (640, 360)) -> VideoInfo:
    return VideoInfo(path="/footage/clip.mp4", width=size[0], height=size[1], rotation=0,
                     fps=fps, num_frames=0, duration=0.0)


def test_no_person_message_tells_the_three_causes_apart() -> None:
    short = no_person_message(_info(fps=1.0), [0.0, 1.0, 2.0], 3, 3, 15, 0.5)
    assert short.startswith("clip.mp4 is too short to capture: 3 frames (3.00 s at 1 fps)")
    assert "at least 15 frames and 0.5 s" in short
    one = no_person_message(_info(), [0.0], 1, 1, 15, 0.5, ranged=True)
    assert "1 frame (0.03 s" in one and "--start/--end" in one
    nobody = no_person_message(_info(), list(np.arange(60) / 30), 0, 0, 15, 0.5)
    assert nobody.startswith("no person was found in clip.mp4 (looked at 60 frames, 640x360 px)")
    assert "very small" not in nobody
    tiny = no_person_message(_info(size=(96, 54)), list(np.arange(60) / 30), 0, 0, 15, 0.5)
    assert "very small" in tiny and "full-resolution" in tiny
    glimpsed = no_person_message(_info(), list(np.arange(60) / 30), 12, 7, 15, 0.5)
    assert "someone was seen in 12 of 60 frames but followed over 7 frames at most" in glimpsed


def test_tracker_counts_what_it_saw_even_when_it_keeps_nothing() -> None:
    W, H = 640, 360

    def standing(cx: float) -> object:
        xy = np.column_stack([cx + 20 * np.sin(np.arange(33)), np.linspace(60, 300, 33)])
        image = np.column_stack([xy[:, 0] / W, xy[:, 1] / H, np.full(33, 0.9)])
        return make_detection(image, np.zeros((33, 3)), W, H)

    tracker = Tracker((W, H), 30.0, TrackingConfig())
    for f in range(40):
        tracker.update(f, [standing(300.0)] if 10 <= f < 18 else [])
    assert tracker.finish(40) == []
    assert (tracker.frames_with_people, tracker.longest_track, tracker.min_len) == (8, 8, 15)


def test_two_frame_clip_is_too_short_not_empty(tmp_path: Path, make_video, make_sample_frames,
                                               backend_cmd, backend_env) -> None:
    video = make_video(tmp_path / "two.mp4", make_sample_frames(2, size=(320, 180)))
    proc = subprocess.run(
        [*backend_cmd, "capture", str(video), "-o", str(tmp_path / "o.npz"), "--progress",
         "jsonl"], capture_output=True, text=True, env=backend_env, timeout=180)
    assert proc.returncode == int(ExitCode.NO_PERSON), proc.stderr[-2000:]
    last = json.loads(proc.stdout.splitlines()[-1])
    assert last["event"] == "error" and last["code"] == int(ExitCode.NO_PERSON)
    assert last["message"].startswith("two.mp4 is too short to capture: 2 frames"), last
    assert sorted(p.name for p in tmp_path.iterdir()) == ["two.mp4"]


@pytest.mark.parametrize("option, value, words", [
    ("--fov", "abc", "--fov: must be a number, got 'abc'"),
    ("--max-people", "two", "--max-people: must be a whole number, got 'two'"),
    ("--start", "1s", "--start: must be a number, got '1s'"),
    ("--height", "180", "got 180 (centimetres? give metres: 1.80)"),
    ("--height", "1,85", "'1,85' is not a number of metres (write it like 1.85"),
])
def test_mistyped_numbers_are_named_plainly(tmp_path: Path, capsys, option: str, value: str,
                                            words: str) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["capture", str(tmp_path / "v.mp4"), "-o", str(tmp_path / "o.npz"),
                  "--progress", "jsonl", option, value])
    assert stopped.value.code == int(ExitCode.USAGE)
    event = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert words in event["message"] and "_" not in event["message"].split(":")[1], event


def test_height_hints_do_not_change_valid_values() -> None:
    assert parse_heights("1.85").everyone == pytest.approx(1.85)
    with pytest.raises(ValueError, match="must be 0.5-2.6 m, got 9$"):
        parse_heights("9")


def _encode(path: Path, streams: list[tuple[int, int, int, dict[str, str]]], fmt: str | None = None) -> Path:
    """H.264 streams of gradient frames: each (width, height, frames, x264 options)."""
    with av.open(str(path), "w", format=fmt) as out:
        made = []
        for width, height, count, options in streams:
            stream = out.add_stream("libx264", rate=30, options=options)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            made.append((stream, count))
        for i in range(max(count for _, count in made)):
            for stream, count in made:
                if i < count:
                    frame = av.VideoFrame.from_ndarray(
                        _gradient(i, stream.width, stream.height), format="rgb24")
                    frame.pts = i
                    for packet in stream.encode(frame):
                        out.mux(packet)
        for stream, _ in made:
            for packet in stream.encode():
                out.mux(packet)
    return path


def test_a_raw_stream_without_timestamps_is_timed_at_its_rate(tmp_path: Path) -> None:
    # a bare .h264 (Raspberry Pi cameras, dashcams) has no timestamps at all: every frame used
    # to be "skipped" and the capture ended with "no video frames could be decoded" (exit 5)
    video = _encode(tmp_path / "cam.h264", [(64, 48, 20, {})], fmt="h264")
    probe = probe_video(video)
    assert probe.untimed and probe.info.fps == pytest.approx(30.0)  # not the demuxer's 25
    report = DecodeReport()
    times = [f.time for f in iter_frames(probe, report=report)]
    assert times == pytest.approx(np.arange(20) / 30.0)
    assert report.warnings and report.warnings[0].startswith("cam.h264 has no timestamps")
    assert not probe_video(_encode(tmp_path / "cam.mp4", [(64, 48, 5, {})])).untimed


def test_the_main_video_stream_is_captured_not_a_short_preview(tmp_path: Path) -> None:
    # stream 0: a 2-frame 32x24 preview; stream 1: the 20-frame video
    video = _encode(tmp_path / "two.mp4", [(32, 24, 2, {}), (64, 48, 20, {})])
    probe = probe_video(video)
    assert (probe.info.width, probe.info.height, probe.info.num_frames) == (64, 48, 20)
    assert len(list(iter_frames(probe))) == 20


def test_non_square_pixels_are_resampled_to_the_displayed_shape(tmp_path: Path) -> None:
    # coded 96x48 with 4:3 pixels (an HDV-style anamorphic file) is shown 128x48
    video = _encode(tmp_path / "hdv.mp4", [(96, 48, 3, {"x264-params": "sar=4/3"})])
    probe = probe_video(video)
    assert (probe.info.width, probe.info.height) == (128, 48)
    frame = next(iter(iter_frames(probe)))
    assert frame.rgb.shape == (48, 128, 3) and frame.scale == 1.0
    # the red channel rises 2 per coded column: 1.5 per displayed column
    row = frame.rgb[24, 8:120, 0].astype(float)
    assert np.polyfit(np.arange(row.size), row, 1)[0] == pytest.approx(1.5, abs=0.1)


def test_a_failed_capture_names_the_truncation_behind_it(tmp_path: Path, backend_cmd,
                                                         backend_env) -> None:
    # a failure sends no warning events, so "no person" used to hide "the file is cut short"
    video = tmp_path / "cut.mp4"
    with av.open(str(video), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264", rate=30, options={"g": "5"})
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(60):
            frame = av.VideoFrame.from_ndarray(_gradient(i), format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    data = video.read_bytes()
    video.write_bytes(data[: len(data) * 3 // 4])
    proc = subprocess.run(
        [*backend_cmd, "capture", str(video), "-o", str(tmp_path / "o.npz"), "--progress",
         "jsonl"], capture_output=True, text=True, env=backend_env, timeout=180)
    last = json.loads(proc.stdout.splitlines()[-1])
    assert proc.returncode == int(ExitCode.NO_PERSON) == last["code"], proc.stderr[-2000:]
    assert ". Note: the video ends early: no frame could be read after" in last["message"], last
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.mp4"]
    video.write_bytes(data[: data.find(b"mdat") + 64])  # the index and hardly any frame data
    error = _error_of(video)
    assert error.code == ExitCode.ZERO_FRAMES
    assert "says it holds 60 frames: the file is probably truncated" in error.message
