"""The batch command's JSON-line events (docs/progress_events.md, "Batch events"): both trees
name the same events and fields as the document, and the backend's real writer drives the
add-on's real reader."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from inference_backend.batch.display import BATCH_EVENTS, BatchCounts, JsonLinesDisplay
from inference_backend.batch.manifest import RECORD_FIELDS, ManifestRecord
from str_blender_addon import backend_contract as addon
from str_blender_addon.batch_job import BatchFollower, parse_batch_event_line
from str_blender_addon.capture_job import JobStatus

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _batch_table() -> dict[str, tuple[str, ...]]:
    lines = (DOCS / "progress_events.md").read_text(encoding="utf-8").splitlines()
    start = lines.index("| batch event | fields | when |")
    table = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        name, fields, _ = (c.strip() for c in line.strip("|").split("|"))
        table[name.strip("`")] = tuple(re.findall(r"`(\w+)`(?: \(| \w|,|$)", fields))
    return table


def test_both_trees_and_the_document_name_the_same_batch_events() -> None:
    assert dict(BATCH_EVENTS) == dict(addon.BATCH_EVENT_FIELDS)
    assert BATCH_EVENTS["video"] == RECORD_FIELDS
    documented = _batch_table()
    assert set(documented) == set(BATCH_EVENTS)
    for name, fields in BATCH_EVENTS.items():
        assert set(fields) <= set(documented[name]), name


def test_the_writers_events_drive_the_addons_follower() -> None:
    stream = io.StringIO()
    display = JsonLinesDisplay(stream)
    display.start({"total": 3, "to_run": 3, "skipped": 0, "workers": 2, "nodes": 1,
                   "manifest": "/out/batch_manifest.jsonl"})
    display.progress(BatchCounts(3, 1, 0, 0, 2, 120, 40.0, 3.5), force=True)
    record = ManifestRecord(input="/v/bad.mp4", relative="bad.mp4", output="/out/bad.mp4.npz",
                            size=10, sha256="0" * 64, options={}, status="failed", exit_code=4,
                            message="cannot read bad.mp4 as a video")
    display.video(json.loads(record.to_json()))
    display.result({"total": 3, "done": 2, "failed": 1, "skipped": 0, "cancelled": 0,
                    "frames": 240, "seconds": 9.5, "manifest": "/out/batch_manifest.jsonl",
                    "exit_code": 10})
    lines = stream.getvalue().splitlines()
    follower = BatchFollower()
    for line in lines:
        event = parse_batch_event_line(line)
        assert event is not None and set(event) - {"event"} == set(BATCH_EVENTS[event["event"]])
        follower.apply(event)
        if event["event"] == "batch_progress":
            assert follower.progress_message() == "1 done, 0 failed, 2 left, 40.0 frames/s, 4 s left"
    assert parse_batch_event_line("INFO some library chatter") is None
    state = follower.state(JobStatus.FAILED, "x", addon.EXIT_SOME_FAILED)
    assert (state.total, state.done, state.failed, state.fraction) == (3, 2, 1, 1.0)
    assert state.failures == ("bad.mp4: cannot read bad.mp4 as a video",)
    assert state.manifest == "/out/batch_manifest.jsonl"
