"""Atomic file writes: a temp file in the destination folder, then ``os.replace``.

Readers never see a half-written file, and a failure (or Ctrl+C) leaves the destination as it
was. ``tempfile.mkstemp`` creates files readable by the owner only; the finished file gets the
permissions an ordinary ``open(path, "w")`` would give it (0o666 minus the umask).
"""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_write(
    path: Path | str, fsync: bool = False, before_replace: Callable[[], None] | None = None
) -> Iterator[BinaryIO]:
    """Yield a binary handle whose content replaces ``path`` only if the block succeeds.

    ``before_replace`` is called after the content is complete and just before the temp file
    is moved onto ``path``; if it raises (e.g. a cancellation that arrived while writing) the
    temp file is removed and ``path`` is left exactly as it was.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o666 & ~_current_umask())
        if before_replace is not None:
            before_replace()
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def leftover_temporaries(path: Path | str) -> list[Path]:
    """Temp files ``atomic_write(path)`` would leave behind if its process were killed (by the
    OS, out of memory) mid-write; a caller that knows no writer is running may delete them."""
    path = Path(path)
    if not path.parent.is_dir():
        return []
    return sorted(path.parent.glob(f".{glob.escape(path.name)}.*.tmp"))
