"""Zip-member helpers the motion-file tests share: read a .npz's members as bytes, write a
(possibly broken) archive from members, one array as .npy bytes."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np


def read_members(path: Path) -> dict[str, bytes]:
    """Every member of the zip archive at ``path``: name -> raw bytes."""
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def zip_bytes(members: dict[str, bytes]) -> bytes:
    """A deflated zip archive of ``members`` (name -> bytes), in memory."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def write_members(path: Path, members: dict[str, bytes]) -> Path:
    """Write ``members`` as a deflated zip archive to ``path``; returns ``path``."""
    path.write_bytes(zip_bytes(members))
    return path


def npy_bytes(array: np.ndarray) -> bytes:
    """``array`` in .npy format."""
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()
