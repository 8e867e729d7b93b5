"""atomic_write: all-or-nothing replacement with ordinary file permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from inference_backend.atomic_io import atomic_write


def test_success_replaces_the_file_with_umask_permissions(tmp_path: Path) -> None:
    target = tmp_path / "out.npz"
    target.write_bytes(b"old")
    old_mask = os.umask(0o022)
    try:
        with atomic_write(target) as handle:
            handle.write(b"new content")
    finally:
        os.umask(old_mask)
    assert target.read_bytes() == b"new content"
    assert [p.name for p in tmp_path.iterdir()] == ["out.npz"]
    if os.name == "posix":
        assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_failure_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.npz"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_write(target) as handle:
            handle.write(b"half")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.npz"]
