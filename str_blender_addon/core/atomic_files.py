"""The add-on's one way to write a file atomically (no bpy): write a hidden temporary sibling,
then ``os.replace`` it onto the target, so a failed or cancelled write leaves nothing behind and
the target as it was. Path-based, because Blender's exporters write to a path themselves."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def temp_sibling(out: Path) -> Path:
    """Hidden temporary sibling of ``out`` (same folder, so ``os.replace`` is atomic)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    return out.with_name(f".{out.stem}.tmp{os.getpid()}{out.suffix}")


@contextmanager
def atomic_output(out: Path | str, nothing_written: type[Exception] = OSError) -> Iterator[Path]:
    """Yield a temporary path to write; on success move it to ``out``. A missing or empty
    temporary file raises ``nothing_written``; the temporary file is removed in every case."""
    out = Path(out)
    tmp = temp_sibling(out)
    try:
        yield tmp
        if not tmp.is_file() or tmp.stat().st_size == 0:
            raise nothing_written(f"{out}: nothing was written")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
