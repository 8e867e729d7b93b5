"""Batch planning without Ray: which videos, their output names, the manifest file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from inference_backend.batch.inputs import collect_items
from inference_backend.batch.manifest import (
    ManifestRecord,
    ManifestWriter,
    capture_options,
    file_sha256,
    is_up_to_date,
    read_manifest,
)
from inference_backend.config import CaptureConfig
from inference_backend.errors import CaptureError, ExitCode


def _touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_folders_files_and_lists_map_to_unique_outputs(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    _touch(lib / "shoot1" / "take.mp4")
    _touch(lib / "shoot1" / "take.MOV")          # same stem, other container
    _touch(lib / "shoot1" / "notes.txt")         # not a video inside a folder: ignored
    _touch(lib / "shoot1" / ".hidden.mp4")
    _touch(lib / "shoot1" / ".cache" / "x.mp4")
    _touch(lib / "shoot2" / "take.mp4")          # same name, other folder
    _touch(lib / "shoot2" / "deep" / "c.mkv")
    listing = _touch(lib / "more.csv", b"path,people\nshoot2/deep/c.mkv,1\n../extra/e.avi,2\n")
    _touch(tmp_path / "extra" / "e.avi")
    out = tmp_path / "out"
    items = collect_items([lib / "shoot1", lib / "shoot2", listing], out)
    names = [i.relative for i in items]
    # a folder's own files first, then its subfolders; a video listed twice is captured once
    assert names == ["lib/shoot1/take.MOV", "lib/shoot1/take.mp4", "lib/shoot2/take.mp4",
                     "lib/shoot2/deep/c.mkv", "extra/e.avi"]
    assert len({i.output for i in items}) == len(items)
    assert items[1].output == out / "lib" / "shoot1" / "take.mp4.npz"


def test_single_folder_is_the_root_and_missing_list_entries_are_kept(tmp_path: Path) -> None:
    _touch(tmp_path / "clips" / "a.mp4")
    listing = _touch(tmp_path / "clips" / "list.txt", b"# library\na.mp4\n\ngone.mp4\n")
    items = collect_items([tmp_path / "clips"], tmp_path / "out")
    assert [i.relative for i in items] == ["a.mp4"]
    items = collect_items([listing], tmp_path / "out")
    assert [(i.relative, i.missing) for i in items] == [("a.mp4", False), ("gone.mp4", True)]


def test_bad_inputs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(CaptureError) as missing:
        collect_items([tmp_path / "nope"], tmp_path / "out")
    assert missing.value.code == ExitCode.FILE_MISSING and "nope" in missing.value.message
    (tmp_path / "empty").mkdir()
    with pytest.raises(CaptureError) as empty:
        collect_items([tmp_path / "empty"], tmp_path / "out")
    assert empty.value.code == ExitCode.USAGE and "no videos" in empty.value.message


def _record(video: Path, output: Path, status: str = "done", **kw) -> ManifestRecord:
    options = capture_options(CaptureConfig(video=video, output=output))
    values = dict(input=str(video), relative=video.name, output=str(output), size=1,
                  sha256=file_sha256(video), options=options, status=status, exit_code=0,
                  message="", output_sha256=file_sha256(output) if output.exists() else None)
    values.update(kw)
    return ManifestRecord(**values)


def test_manifest_survives_a_torn_line_and_decides_up_to_date(tmp_path: Path) -> None:
    video = _touch(tmp_path / "v.mp4", b"video")
    output = _touch(tmp_path / "out" / "v.mp4.npz", b"motion")
    path = tmp_path / "out" / "batch_manifest.jsonl"
    with ManifestWriter(path) as writer:
        writer.append(_record(video, output))
    with open(path, "ab") as handle:
        handle.write(b'{"relative": "torn", "sta')  # a crash in the middle of a line
    with ManifestWriter(path) as writer:
        writer.append(_record(video, output, status="skipped"))
    records = read_manifest(path)
    assert [r["status"] for r in records] == ["done", "skipped"]
    assert all(json.loads(line) for line in path.read_text().splitlines()[2:])
    record, options = records[-1], records[-1]["options"]
    assert is_up_to_date(record, options, video, output)
    assert not is_up_to_date(record, {**options, "smoothing": "light"}, video, output)
    assert not is_up_to_date({**record, "status": "failed"}, options, video, output)
    output.write_bytes(b"edited")                      # the output is not the one written
    assert not is_up_to_date(record, options, video, output)
    output.write_bytes(b"motion")
    video.write_bytes(b"other video")                  # the input changed
    assert not is_up_to_date(record, options, video, output)


def test_options_leave_out_paths_and_threads() -> None:
    a = capture_options(CaptureConfig(video=Path("a.mp4"), output=Path("a.npz"), threads=1))
    b = capture_options(CaptureConfig(video=Path("b.mp4"), output=Path("b.npz"), threads=4))
    assert a == b and "video" not in a and "threads" not in a and a["smoothing"] == "medium"


def test_task_resources_follow_the_solver_and_the_runtime() -> None:
    from inference_backend.batch.runtime import Resources
    from inference_backend.batch.scheduler import BatchConfig, _task_resources

    cpu_only = Resources(cpus=8, gpus=0, nodes=2, max_node_cpus=4)
    with_gpus = Resources(cpus=8, gpus=2, nodes=2, max_node_cpus=4)

    def config(**kw) -> BatchConfig:
        capture = CaptureConfig(video=Path("."), output=Path("."), **kw.pop("capture", {}))
        return BatchConfig(inputs=(), out_dir=Path("out"), capture=capture, **kw)

    cpus, gpus, capture = _task_resources(config(cpus_per_task=2), cpu_only)
    assert (cpus, gpus, capture.threads, capture.device) == (2, 0, 2, "cpu")
    cpus, gpus, capture = _task_resources(config(capture={"solver": "str"}), with_gpus)
    assert (gpus, capture.device, capture.threads) == (1, "auto", 1)
    _, gpus, _ = _task_resources(config(capture={"solver": "str", "device": "cpu"}), with_gpus)
    assert gpus == 0
    _, _, capture = _task_resources(config(capture={"threads": 3}), cpu_only)
    assert capture.threads == 3
    for bad, words in ((config(cpus_per_task=6), "no node"),
                       (config(capture={"solver": "str", "device": "cuda"}), "no GPU"),
                       (config(gpus_per_task=4), "GPU")):
        with pytest.raises(CaptureError) as err:
            _task_resources(bad, cpu_only if "node" in words or "no GPU" in words else with_gpus)
        assert err.value.code == ExitCode.USAGE and words in err.value.message


def test_progress_bar_and_json_lines() -> None:
    import io

    from inference_backend.batch.display import (
        BarDisplay,
        BatchCounts,
        JsonLinesDisplay,
        format_eta,
    )

    counts = BatchCounts(total=10, done=3, failed=1, skipped=2, running=2, frames=900,
                         fps=45.25, eta=75.0)
    assert counts.remaining == 4
    bar_stream, json_stream = io.StringIO(), io.StringIO()
    BarDisplay(bar_stream, width=10).progress(counts, force=True)
    assert bar_stream.getvalue() == ("\rbatch [######----] 6/10 done 3 failed 1 running 2 left 4"
                                     "    45.2 frames/s eta 1:15")
    JsonLinesDisplay(json_stream).progress(counts, force=True)
    event = json.loads(json_stream.getvalue())
    assert event == {"event": "batch_progress", "total": 10, "done": 3, "failed": 1,
                     "skipped": 2, "running": 2, "frames": 900, "fps": 45.25, "eta": 75.0,
                     "remaining": 4}
    assert format_eta(None) == "--:--" and format_eta(3725) == "1:02:05"


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="Linux affinity")
def test_tasks_hold_distinct_cores_and_release_them(tmp_path: Path) -> None:
    """Two processes reserving one core each get different cores (or, with a single core, the
    second is not pinned); a core is free again once its holder has exited."""
    import subprocess
    import sys
    import tempfile

    from inference_backend.batch.task import reserved_cores

    code = ("import os, sys, time; from inference_backend.batch.task import reserved_cores\n"
            "with reserved_cores(1) as cores:\n"
            "    print(list(cores), sorted(os.sched_getaffinity(0)), flush=True)\n"
            "    sys.stdin.readline()\n")
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    holders = [subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    seen = [json.loads("[" + h.stdout.readline().replace("] [", "], [") + "]") for h in holders]
    for h in holders:
        h.communicate("\n", timeout=30)
    first, second = seen
    assert len(first[0]) == 1 and first[1] == first[0]          # pinned to the core it holds
    if len(os.sched_getaffinity(0)) >= 2:
        assert len(second[0]) == 1 and second[0] != first[0]
    previous = tempfile.tempdir
    tempfile.tempdir = str(tmp_path)  # the holders' lock folder
    try:
        with reserved_cores(1) as cores:                       # the holders are gone
            assert len(cores) == 1 and os.sched_getaffinity(0) == set(cores)
    finally:
        tempfile.tempdir = previous


def test_options_compare_equal_after_a_manifest_round_trip(tmp_path: Path) -> None:
    config = CaptureConfig(video=Path("a.mp4"), output=Path("a.npz"), subject_heights="1:1.85",
                           fov_deg=70.0, smpl_dir=tmp_path)
    options = capture_options(config)
    assert json.loads(json.dumps(options)) == options
    assert options["subject_heights"] == "1:1.85" and options["smpl_dir"] == str(tmp_path)


def test_dry_run_lists_the_plan_without_ray(tmp_path: Path, backend_env, backend_cmd) -> None:
    import subprocess

    lib = tmp_path / "lib"
    _touch(lib / "a.mp4")
    _touch(lib / "day2" / "b.mov")
    listing = _touch(tmp_path / "list.txt", b"lib/gone.mp4\n")
    proc = subprocess.run([*backend_cmd, "batch", str(lib), str(listing), "-o",
                           str(tmp_path / "out"), "--dry-run", "--resume"],
                          capture_output=True, text=True, env=backend_env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = [line.split("\t") for line in proc.stdout.splitlines()]
    out = tmp_path / "out"
    assert rows == [["run", str(lib / "a.mp4"), str(out / "a.mp4.npz")],
                    ["run", str(lib / "day2" / "b.mov"), str(out / "day2" / "b.mov.npz")],
                    ["missing", str(lib / "gone.mp4"), str(out / "gone.mp4.npz")]]
    assert not out.exists()


def test_the_ray_named_in_messages_is_the_batch_extras() -> None:
    from inference_backend.batch.runtime import RAY_REQUIREMENT

    pyproject = (Path(__file__).resolve().parents[2] / "pyproject.toml").read_text()
    assert f'batch = ["{RAY_REQUIREMENT}"]' in pyproject


def test_a_batch_that_cannot_start_says_why_in_every_mode(tmp_path: Path, backend_env,
                                                          backend_cmd) -> None:
    import subprocess

    for mode in ("none", "jsonl"):
        proc = subprocess.run([*backend_cmd, "batch", str(tmp_path / "nope"), "-o",
                               str(tmp_path / "out"), "--progress", mode],
                              capture_output=True, text=True, env=backend_env, timeout=120)
        assert proc.returncode == ExitCode.FILE_MISSING
        assert proc.stderr.strip().splitlines()[-1].startswith("error (3): input not found")
        if mode == "jsonl":
            assert json.loads(proc.stdout)["code"] == 3
        assert not (tmp_path / "out").exists()
