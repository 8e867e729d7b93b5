"""Batch capture on a real local Ray runtime (started once for this module) with real short
clips cut from the bundled sample: a corrupt clip fails alone, a worker killed mid-video is
retried with an identical result, an interrupted batch resumes with only what is missing, and
batch outputs equal ``capture``'s."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from inference_backend.batch.display import BatchDisplay  # noqa: E402
from inference_backend.batch.manifest import MANIFEST_NAME, read_manifest  # noqa: E402
from inference_backend.batch.scheduler import BatchConfig, plan, run_batch  # noqa: E402
from inference_backend.config import CaptureConfig  # noqa: E402
from inference_backend.errors import ExitCode  # noqa: E402
from inference_backend.export import read_motion_file  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
MANIFEST_FIELDS = {
    "input", "relative", "output", "size", "sha256", "options", "status", "exit_code", "message",
    "frames", "people", "seconds", "worker_host", "worker_node", "attempts", "output_sha256", "warnings",
    "run_id", "finished_at",
}


@pytest.fixture(scope="module")
def ray_cluster(model_cache: Path):
    """A local Ray runtime for the whole module (2 CPUs); its workers import this checkout."""
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env = {"PYTHONPATH": path, "STR_MOCAP_CACHE": str(model_cache), "OMP_NUM_THREADS": "1",
           "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2"}
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=96 * 1024 * 1024,
             log_to_driver=False, configure_logging=False, runtime_env={"env_vars": env})
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory, make_video, make_sample_frames) -> Path:
    """library/a.mp4, library/sub/b.mp4 (30 frames each, 640x360: frames 20-49 and 45-74 of
    the sample, a person followed in 26-29 of them, well above the tracker's 15-frame minimum;
    frames 0-29 at 480x270 gave 17-18 and one CI run's encoding of them 4) and library/bad.mp4
    (random bytes)."""
    root = tmp_path_factory.mktemp("library")
    frames = make_sample_frames(75, size=(640, 360))
    make_video(root / "a.mp4", frames[20:50])
    (root / "sub").mkdir()
    make_video(root / "sub" / "b.mp4", frames[45:75])
    (root / "bad.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 5000, np.uint8).tobytes())
    return root


def _config(inputs: list[Path], out: Path, **kw) -> BatchConfig:
    capture = CaptureConfig(video=Path("."), output=Path("."), **kw.pop("capture", {}))
    return BatchConfig(inputs=tuple(inputs), out_dir=out, capture=capture, **kw)


def _latest(out: Path) -> dict[str, dict]:
    return {r["relative"]: r for r in read_manifest(out / MANIFEST_NAME)}


def _assert_same_motion(a: Path, b: Path) -> None:
    ma, mb = read_motion_file(a), read_motion_file(b)
    assert sorted(ma.arrays) == sorted(mb.arrays)
    for key in ma.arrays:
        np.testing.assert_array_equal(ma.arrays[key], mb.arrays[key], err_msg=key)
    ha, hb = dict(ma.header), dict(mb.header)
    ha.pop("created", None)
    hb.pop("created", None)
    assert ha == hb


def _no_temporaries(out: Path) -> None:
    assert not [p for p in out.rglob("*.tmp")], list(out.rglob("*"))


@pytest.fixture(scope="module")
def clean_run(ray_cluster, clips: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("clean_out")
    summary = run_batch(_config([clips], out, workers=2), BatchDisplay())
    return out, summary


def test_corrupt_clip_fails_alone(clean_run) -> None:
    out, summary = clean_run
    assert (summary.total, summary.done, summary.failed) == (3, 2, 1)
    assert summary.exit_code == ExitCode.SOME_FAILED
    assert (out / "a.mp4.npz").is_file() and (out / "sub" / "b.mp4.npz").is_file()
    assert not (out / "bad.mp4.npz").exists()
    records = read_manifest(out / MANIFEST_NAME)
    assert len(records) == 3 and all(set(r) == MANIFEST_FIELDS for r in records)
    latest = _latest(out)
    bad = latest["bad.mp4"]
    assert bad["status"] == "failed" and bad["exit_code"] == ExitCode.NOT_A_VIDEO
    assert "bad.mp4" in bad["message"] and bad["sha256"] and bad["size"] == 5000
    for key in ("a.mp4", "sub/b.mp4"):
        r = latest[key]
        assert r["status"] == "done" and r["exit_code"] == 0 and r["attempts"] == 1
        assert r["frames"] == 30 and r["people"] == 1 and r["seconds"] > 0
        assert r["worker_host"] and len(r["sha256"]) == 64 and r["options"]["solver"] == "default"
    _no_temporaries(out)


def test_batch_output_equals_capture(clean_run, clips: Path, tmp_path: Path) -> None:
    """The same clip through the ``capture`` command's own config builder and pipeline."""
    from inference_backend.cli import build_parser, capture_config
    from inference_backend.pipeline import run_capture

    out, _ = clean_run
    single = tmp_path / "a.npz"
    args = build_parser().parse_args(["capture", str(clips / "a.mp4"), "-o", str(single)])
    run_capture(capture_config(args))
    _assert_same_motion(single, out / "a.mp4.npz")


def test_killed_worker_is_retried_with_identical_output(clean_run, clips: Path,
                                                        tmp_path: Path) -> None:
    clean, _ = clean_run
    marker = tmp_path / "crashed"
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)  # what a writer killed mid-write leaves behind
    (out / "sub" / ".b.mp4.npz.k1ll3d.tmp").write_bytes(b"half a motion file")
    summary = run_batch(_config([clips / "a.mp4", clips / "sub"], out, workers=2, retries=1,
                                crash_marker=str(marker)), BatchDisplay())
    assert marker.is_file(), "the test hook did not kill a worker"
    assert summary.exit_code == 0 and summary.done == 2
    latest = _latest(out)
    assert sorted(r["attempts"] for r in latest.values()) == [1, 2]
    for key in ("a.mp4", "sub/b.mp4"):
        _assert_same_motion(clean / f"{key}.npz", out / f"{key}.npz")
    _no_temporaries(out)


def test_worker_death_without_retries_fails_the_video_only(ray_cluster, clips: Path,
                                                           tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = run_batch(_config([clips / "a.mp4"], out, retries=0,
                                crash_marker=str(tmp_path / "crashed")), BatchDisplay())
    record = _latest(out)["a.mp4"]
    assert summary.exit_code == ExitCode.SOME_FAILED
    assert record["status"] == "failed" and "died" in record["message"]
    assert record["exit_code"] == ExitCode.INTERNAL and record["attempts"] == 1
    assert not (out / "a.mp4.npz").exists()
    _no_temporaries(out)


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT to the batch process")
def test_interrupted_batch_resumes_with_only_the_missing(ray_cluster, clips: Path,
                                                         tmp_path: Path, backend_env) -> None:
    library = tmp_path / "lib"
    library.mkdir()
    for name in ("c1", "c2", "c3"):
        (library / f"{name}.mp4").write_bytes((clips / "a.mp4").read_bytes())
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "inference_backend", "batch", str(library), "-o", str(out),
           "--ray", ray_cluster, "--workers", "1", "--progress", "jsonl"]
    env = dict(backend_env)  # ray.init turned token authentication on: the client needs it too
    env.update({k: os.environ[k] for k in ("RAY_AUTH_MODE",) if k in os.environ})
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    events = []
    try:
        for line in proc.stdout:
            events.append(json.loads(line))
            if events[-1]["event"] == "video":
                break
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        rest, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == ExitCode.CANCELLED, err[-3000:]
    assert time.monotonic() - sent < 20
    events += [json.loads(line) for line in rest.splitlines()]
    result = events[-1]
    assert result["event"] == "batch_result" and result["exit_code"] == ExitCode.CANCELLED
    assert result["done"] < 3 and result["failed"] == 0
    first = read_manifest(out / MANIFEST_NAME)  # every line parses
    done_before = {r["relative"] for r in first if r["status"] == "done"}
    assert 1 <= len(done_before) < 3
    assert {r["status"] for r in first} <= {"done", "cancelled"}
    _no_temporaries(out)
    mtimes = {k: (out / f"{k}.npz").stat().st_mtime_ns for k in done_before}

    summary = run_batch(_config([library], out, resume=True), BatchDisplay())
    assert summary.exit_code == 0 and summary.skipped == len(done_before)
    assert summary.done == 3 - len(done_before)
    run2 = read_manifest(out / MANIFEST_NAME)[len(first):]
    assert {r["relative"] for r in run2 if r["status"] == "skipped"} == done_before
    assert {r["relative"] for r in run2 if r["status"] == "done"} == {"c1.mp4", "c2.mp4",
                                                                       "c3.mp4"} - done_before
    assert {k: (out / f"{k}.npz").stat().st_mtime_ns for k in done_before} == mtimes
    # the same options again: nothing to run; changed options or a changed input: run again
    assert not plan(_config([library], out, resume=True))[0]
    changed = plan(_config([library], out, resume=True, capture={"smoothing": "light"}))[0]
    assert len(changed) == 3
    (library / "c2.mp4").write_bytes((clips / "sub" / "b.mp4").read_bytes())
    assert [i.relative for i in plan(_config([library], out, resume=True))[0]] == ["c2.mp4"]
