"""The two process contracts besides the motion file: the JSON-lines events of ``capture
--progress jsonl`` (docs/progress_events.md) and the ``doctor --json`` report
(docs/doctor_report.md). The backend's real output is fed to the add-on's real readers."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from inference_backend import progress as backend_progress
from inference_backend.doctor import SCHEMA_VERSION, gather
from inference_backend.errors import ExitCode
from inference_backend.progress import JsonLinesReporter
from str_blender_addon import backend_contract as addon
from str_blender_addon.capture_job import ProgressFollower, parse_event_line
from str_blender_addon.doctor_client import run_doctor

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _table(doc: str, first_header: str) -> list[list[str]]:
    """Rows (cells stripped of backticks) of the markdown table whose first header cell is
    ``first_header``."""
    lines = (DOCS / doc).read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip().strip("`") for c in line.strip("|").split("|")])
    return rows


def test_both_trees_name_the_same_events_and_stages_as_the_document() -> None:
    assert backend_progress.STAGES == addon.STAGES
    assert [row[0] for row in _table("progress_events.md", "stage")] == list(addon.STAGES)
    assert dict(backend_progress.EVENTS) == dict(addon.EVENT_FIELDS)
    # the fields column names each field as `name` (type ...)
    documented = {row[0]: tuple(re.findall(r"(\w+)`? \(", row[1]))
                  for row in _table("progress_events.md", "event")}
    assert documented == dict(addon.EVENT_FIELDS)


def test_exit_code_table_is_the_backends() -> None:
    rows = _table("progress_events.md", "code")
    assert {int(code): name for code, name, _ in rows} == {int(c): c.name for c in ExitCode}
    assert addon.EXIT_OK == ExitCode.OK and addon.EXIT_CANCELLED == ExitCode.CANCELLED
    assert addon.EXIT_SOME_FAILED == ExitCode.SOME_FAILED


def test_the_reporters_real_events_drive_the_addon_progress() -> None:
    out, clock = io.StringIO(), _Clock()
    reporter = JsonLinesReporter(out, clock)
    for stage in backend_progress.STAGES:
        for done in range(0, 4):
            clock.now += 0.5
            reporter.progress(stage, done, 3)
    reporter.warning("focal length not observable")
    reporter.result("/tmp/motion.npz", 2, 135, ["focal length not observable"])
    reporter.error(int(ExitCode.NO_PERSON), "no person was found")
    follower = ProgressFollower()
    fractions = []
    for line in out.getvalue().splitlines():
        event = parse_event_line(line)
        assert event is not None, line
        assert set(event) == {"event", *addon.EVENT_FIELDS[str(event["event"])]}, event
        follower.apply(event)
        fractions.append(follower.fraction)
        if event["event"] == "progress":
            assert follower.stage == event["stage"] and follower.total == 3
    assert fractions == sorted(fractions) and 0.9 < fractions[-1] < 1.0
    assert follower.warnings == ["focal length not observable"]
    assert follower.result is not None and follower.result["persons"] == 2
    assert follower.error is not None and follower.error["code"] == ExitCode.NO_PERSON
    with pytest.raises(ValueError, match="unknown progress stage"):
        reporter.progress("features", 0, 1)      # stage names are defined once, not invented


def test_a_real_failing_capture_speaks_the_contract(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "inference_backend", "capture", str(tmp_path / "missing.mp4"),
         "-o", str(tmp_path / "out.npz"), "--progress", "jsonl"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert proc.returncode == ExitCode.FILE_MISSING
    follower = ProgressFollower()
    for line in proc.stdout.splitlines():
        event = parse_event_line(line)
        assert event is not None, f"stdout holds only events, got {line!r}"
        follower.apply(event)
    assert follower.error is not None and follower.error["code"] == proc.returncode
    assert "missing.mp4" in str(follower.error["message"])
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error ({proc.returncode}):")


def test_the_real_doctor_report_follows_its_document(tmp_path: Path) -> None:
    documented = {row[0]: row[1] for row in _table("doctor_report.md", "field")}
    report = gather(smpl_dir=tmp_path)
    assert list(report) == list(documented)                  # every field, in order
    kinds = {"int": int, "str": str, "object": dict, "list of str": list, "bool": bool}
    for name, kind in documented.items():
        assert isinstance(report[name], kinds[kind]), (name, kind)
    for name, kind in addon.DOCTOR_FIELDS.items():
        assert name in documented and isinstance(report[name], kind), name
    assert report["schema_version"] == SCHEMA_VERSION == addon.DOCTOR_SCHEMA_VERSION
    assert set(report["versions"]) == {"torch", "mediapipe", "opencv", "av", "numpy", "scipy",
                                       "smplx"}


def test_the_addon_reads_the_real_doctor_in_a_real_process(tmp_path: Path) -> None:
    smpl = tmp_path / "smpl"
    smpl.mkdir()
    env = {"PYTHONPATH": str(ROOT), "STR_MOCAP_SMPL_DIR": str(smpl)}
    report = run_doctor(sys.executable, timeout_s=300, extra_env=env)
    assert report.ok, report.message
    assert report.raw["schema_version"] == 1 and report.problems == ()
    assert report.versions["python"] == ".".join(map(str, sys.version_info[:3]))
    assert report.versions["numpy"] and report.device in ("cpu", "cuda")
    assert report.raw["smpl"]["dir"] == str(smpl)           # the CLI read the environment
    assert report.message.startswith("Backend OK")
    # what the add-on shows is what the backend said, nothing guessed
    direct = json.loads(subprocess.run(
        [sys.executable, "-m", "inference_backend", "doctor", "--json"], capture_output=True,
        text=True, timeout=300, cwd=ROOT, env={**os.environ, **env}).stdout)
    assert {k: v for k, v in direct["versions"].items() if v} == {
        k: v for k, v in report.versions.items() if k != "python"}
