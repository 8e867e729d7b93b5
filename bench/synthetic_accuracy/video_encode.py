"""Encode rendered PNG frames to an H.264 MP4 with PyAV (atomic: temp file + os.replace)."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np


def encode_mp4(frame_paths: list[Path], out_path: Path, fps: float, crf: int = 18) -> Path:
    """Write ``frame_paths`` (same-size RGB PNGs, in order) as libx264 yuv420p at ``fps``."""
    import av  # noqa: PLC0415
    import cv2  # noqa: PLC0415

    if not frame_paths:
        raise ValueError("no frames to encode")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.stem + ".partial" + out_path.suffix)
    first = cv2.imread(str(frame_paths[0]))
    if first is None:
        raise FileNotFoundError(f"cannot read rendered frame {frame_paths[0]}")
    h, w = first.shape[:2]
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(tmp), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "medium"}
        for p in frame_paths:
            bgr = cv2.imread(str(p))
            if bgr is None or bgr.shape[:2] != (h, w):
                raise ValueError(f"frame {p} is missing or has another size")
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(bgr[..., ::-1]), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    os.replace(tmp, out_path)
    return out_path
