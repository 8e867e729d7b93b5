"""Which videos a batch captures and where each motion file goes.

INPUTS are video files, folders (searched recursively for videos; hidden entries skipped) and
list files (``.txt``/``.csv``/``.lst``: one path per line, or a CSV whose ``path``/``video``
column, else first column, holds it; ``#`` comments and blank lines skipped; relative entries
are relative to the list file's folder; entries may be folders).

Output names: every input contributes an *anchor* folder (a folder input itself, a file's parent
folder). A video's relative path is its path below the common folder of all anchors, and its
motion file is ``OUT_DIR/<relative path>.npz`` (``clips/a.mp4`` -> ``OUT_DIR/clips/a.mp4.npz``).
Distinct videos have distinct absolute paths, so their outputs cannot collide; the same video
named twice is captured once. Entries that do not exist are kept (as ``missing``) so the batch
can record them as failures instead of stopping.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

from ..errors import CaptureError, ExitCode

VIDEO_SUFFIXES: frozenset[str] = frozenset({
    ".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".mts", ".m2ts",
    ".ts", ".3gp", ".flv", ".ogv", ".mxf",
})
LIST_SUFFIXES: frozenset[str] = frozenset({".txt", ".csv", ".lst"})
OUTPUT_SUFFIX = ".npz"


@dataclass(frozen=True)
class BatchItem:
    """One video of the batch.

    video: absolute path of the input; relative: its path below the batch's common folder
    (POSIX separators, the manifest key); output: absolute motion-file path; size: bytes
    (-1 when the file is missing).
    """

    video: Path
    relative: str
    output: Path
    size: int

    @property
    def missing(self) -> bool:
        return self.size < 0


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def _hidden(name: str) -> bool:
    return name.startswith(".")


def videos_in_folder(folder: Path) -> list[Path]:
    """Videos below ``folder`` (recursively, sorted, hidden files and folders skipped)."""
    found: list[Path] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not _hidden(d))
        found.extend(Path(root) / f for f in sorted(files) if not _hidden(f) and is_video(Path(f)))
    return found


def read_list_file(path: Path) -> list[Path]:
    """Entries of a list file, resolved against the list's folder."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CaptureError(ExitCode.USAGE, f"cannot read the list file {path}: {exc}") from exc
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if path.suffix.lower() == ".csv":
        rows = [row for row in csv.reader(io.StringIO("\n".join(lines))) if row]
        column = 0
        if rows:
            header = [cell.strip().lower() for cell in rows[0]]
            named = next((header.index(n) for n in ("path", "video", "file") if n in header), None)
            if named is not None:
                column, rows = named, rows[1:]
        entries = [row[column].strip() for row in rows if len(row) > column and row[column].strip()]
    else:
        entries = [ln.strip() for ln in lines]
    return [_absolute(Path(entry).expanduser(), path.parent) for entry in entries]


def _absolute(path: Path, base: Path) -> Path:
    return Path(os.path.normpath(path if path.is_absolute() else base / path))


def _anchor_and_videos(path: Path) -> tuple[Path, list[Path]]:
    if path.is_dir():
        return path, videos_in_folder(path)
    return path.parent, [path]


def _common_folder(anchors: Sequence[Path]) -> Path | None:
    try:
        return Path(os.path.commonpath([str(a) for a in anchors]))
    except ValueError:  # different drives (Windows): keep the drive in the relative path
        return None


def _relative(video: Path, common: Path | None) -> str:
    if common is not None:
        return PurePath(os.path.relpath(video, common)).as_posix()
    drive = video.drive.rstrip(":\\/").replace(":", "") or "root"
    return PurePath(drive, *video.parts[1:]).as_posix()


def collect_items(inputs: Iterable[Path | str], out_dir: Path) -> list[BatchItem]:
    """Expand INPUTS into batch items (input order, then path order inside folders).

    Raises CaptureError(FILE_MISSING) for a command-line input that does not exist and
    CaptureError(USAGE) when nothing is left to capture.
    """
    cwd = Path.cwd()
    anchors: list[Path] = []
    videos: list[Path] = []
    for raw in inputs:
        path = _absolute(Path(raw).expanduser(), cwd)
        if not path.exists():
            raise CaptureError(ExitCode.FILE_MISSING, f"input not found: {raw}")
        if path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
            for entry in read_list_file(path):
                anchor, found = _anchor_and_videos(entry)
                anchors.append(anchor)
                videos.extend(found)
            continue
        anchor, found = _anchor_and_videos(path)
        anchors.append(anchor)
        videos.extend(found)
    unique = list(dict.fromkeys(videos))
    if not unique:
        raise CaptureError(ExitCode.USAGE, "no videos found in the inputs "
                           f"(looked for {', '.join(sorted(VIDEO_SUFFIXES))})")
    common = _common_folder(anchors)
    out_dir = _absolute(out_dir.expanduser(), cwd)
    items = []
    for video in unique:
        relative = _relative(video, common)
        size = video.stat().st_size if video.is_file() else -1
        items.append(BatchItem(video, relative, out_dir / (relative + OUTPUT_SUFFIX), size))
    return items
