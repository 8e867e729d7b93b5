"""The batch manifest (``OUT_DIR/batch_manifest.jsonl``): one JSON object per line per video
per run, appended as each video finishes, so an interrupted batch leaves a valid file.

Fields of a record (all always present; ``null`` where unknown):
    input (absolute path), relative (manifest key, POSIX), output (absolute path),
    size (bytes, -1 if missing), sha256 (input content hash), options (capture options that
    change the output), status ("done" | "failed" | "skipped" | "cancelled"), exit_code (the
    ``capture`` exit code: 0 done/skipped, 130 cancelled), message, frames, people, seconds
    (wall time of the last attempt), worker_host, worker_node (Ray node id), attempts (tries incl. retries after a worker
    died), output_sha256, warnings, run_id, finished_at (UTC, ISO 8601).

The latest record of a ``relative`` key is its current state. A line torn by a crash is
ignored on reading and never glued to the next record.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import CaptureConfig

log = logging.getLogger(__name__)

MANIFEST_NAME = "batch_manifest.jsonl"
STATUSES: tuple[str, ...] = ("done", "failed", "skipped", "cancelled")
#: CaptureConfig fields that do not change the motion file (where it is read from and written
#: to, how many threads compute it, where the pose models are cached).
_NOT_OPTIONS = frozenset({"video", "output", "threads", "cache_dir"})
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ManifestRecord:
    """One line of the manifest (see the module docstring for the fields)."""

    input: str
    relative: str
    output: str
    size: int
    sha256: str | None
    options: dict[str, Any]
    status: str
    exit_code: int
    message: str
    frames: int | None = None
    people: int | None = None
    seconds: float | None = None
    worker_host: str | None = None
    worker_node: str | None = None
    attempts: int = 0
    output_sha256: str | None = None
    warnings: list[str] = field(default_factory=list)
    run_id: str = ""
    finished_at: str = ""

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), allow_nan=False, ensure_ascii=False)


#: The fields of a manifest record, in order.
RECORD_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(ManifestRecord))


def capture_options(config: CaptureConfig) -> dict[str, Any]:
    """The options of ``config`` that change the output, JSON-ready (paths as strings)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        if f.name in _NOT_OPTIONS:
            continue
        value = getattr(config, f.name)
        out[f.name] = str(value) if isinstance(value, Path) else value
    # as they read back from the manifest (tuples become lists), so equal options compare equal
    return json.loads(json.dumps(out, default=str))


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's content (streamed in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def utc_now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_manifest(path: Path) -> list[dict[str, Any]]:
    """All well-formed records of a manifest (missing file: none; torn lines skipped)."""
    if not path.is_file():
        return []
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                log.warning("%s:%d: skipping a damaged manifest line", path, number)
                continue
            if isinstance(record, dict) and "relative" in record and "status" in record:
                records.append(record)
    return records


def latest_records(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The last record of each ``relative`` key."""
    latest: dict[str, dict[str, Any]] = {}
    for record in records:
        latest[str(record["relative"])] = record
    return latest


def is_up_to_date(record: dict[str, Any] | None, options: dict[str, Any], video: Path,
                  output: Path) -> bool:
    """True when ``record`` says ``output`` was made from this very ``video`` content with
    these ``options`` and the output file is still the one it wrote."""
    if not record or record.get("status") not in ("done", "skipped"):
        return False
    if record.get("options") != options or not record.get("sha256"):
        return False
    if not (output.is_file() and video.is_file()):
        return False
    if record.get("output_sha256") != file_sha256(output):
        return False
    return record["sha256"] == file_sha256(video)


class ManifestWriter:
    """Appends records, each as one write of a whole line, flushed and fsynced."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0)
        self._fd = os.open(path, flags, 0o666)
        if _ends_without_newline(path):  # a torn last line: keep it on its own line
            os.write(self._fd, b"\n")

    def append(self, record: ManifestRecord) -> None:
        os.write(self._fd, (record.to_json() + "\n").encode("utf-8"))
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> ManifestWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ends_without_newline(path: Path) -> bool:
    size = path.stat().st_size
    if size == 0:
        return False
    with open(path, "rb") as handle:
        handle.seek(size - 1)
        return handle.read(1) != b"\n"
