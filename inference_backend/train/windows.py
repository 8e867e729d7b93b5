"""Fixed-length windows over the frames of a database (TCMR ``split_into_chunks`` semantics).

A database concatenates the frames of all videos; a video is a run of consecutive equal
``vid_name``. Windows are index arrays of length ``seqlen`` (T = 16) into the database.
Videos shorter than T are skipped. When the stride is not T (overlapping windows), every video is
padded so that each frame is the centre (index T // 2) of exactly one window: T // 2 windows at
the start and T // 2 - 1 at the end. For evaluation they are single-frame windows (that frame
repeated T times); for training they duplicate the first / last real window.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def stride_from_overlap(seqlen: int, overlap: float) -> int:
    """TCMR/VIBE: ``stride = int(T * (1 - overlap) + 0.5)`` (overlap (T-1)/T -> 1, 0 -> T)."""
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    return max(1, int(seqlen * (1.0 - overlap) + 0.5))


def video_ranges(vid_names: np.ndarray) -> list[tuple[int, int]]:
    """[(first, last_exclusive)] of each run of equal names, in file order."""
    names = np.asarray(vid_names)
    if names.size == 0:
        return []
    change = np.nonzero(names[1:] != names[:-1])[0] + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [names.size]])
    return [(int(s), int(e)) for s, e in zip(starts, ends, strict=True)]


@dataclass(frozen=True)
class WindowSpec:
    """seqlen: frames per window; stride: between real windows; is_train: padding style;
    match_vibe: trim real windows to the frames VIBE's non-overlapping chunks cover (TCMR
    trainer validation) - evaluate.py uses False (all frames)."""

    seqlen: int = 16
    stride: int = 1
    is_train: bool = False
    match_vibe: bool = False


def split_into_chunks(vid_names: np.ndarray, spec: WindowSpec) -> list[tuple[int, int]]:
    """Windows as (start, end) inclusive database indices; start == end marks a padding window
    made of one repeated frame (see :func:`window_indices`)."""
    t = spec.seqlen
    out: list[tuple[int, int]] = []
    for first, last in video_ranges(vid_names):
        n = last - first
        if n < t:
            continue
        real = [(s, s + t - 1) for s in range(first, last - t + 1, spec.stride)]
        if spec.stride == t:
            out += real
            continue
        if spec.match_vibe:
            vibe_end = first + (n // 16) * 16 - 1
            for j in range(1, len(real) + 1):
                if real[-j][1] == vibe_end:
                    if j != 1:
                        real = real[: -j + 1]
                    break
        d = real[0][0]
        lead = [real[0] if spec.is_train else (d + j, d + j) for j in range(t // 2)]
        d = real[-1][0]
        trail = [
            real[-1] if spec.is_train else (d + j + t // 2 + 1, d + j + t // 2 + 1)
            for j in range(t // 2 - 1)
        ]
        out += lead + real + trail
    return out


def window_indices(start: int, end: int, seqlen: int) -> np.ndarray:
    """(seqlen,) int64 database indices of window (start, end)."""
    if start == end:
        return np.full(seqlen, start, dtype=np.int64)
    idx = np.arange(start, end + 1, dtype=np.int64)
    if idx.size != seqlen:
        raise ValueError(f"window ({start}, {end}) does not have {seqlen} frames")
    return idx


def centre_frame(start: int, end: int, seqlen: int) -> int:
    """Database index of the frame a window predicts (its middle frame, index T // 2)."""
    return int(window_indices(start, end, seqlen)[seqlen // 2])
