"""video_io.FrameConverter: the decoder's kept swscale context gives exactly the pixels of
PyAV's per-frame ``to_ndarray(format=...)`` (which sets a new scaler up for every frame)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from inference_backend.config import DecodeConfig
from inference_backend.video_io import FrameConverter, iter_frames, probe_video


def test_decoded_frames_are_the_pixels_of_to_ndarray(sample_clip: Path) -> None:
    """iter_frames' RGB frame (downscaled for detection) and grey copy (for the camera
    tracker) are bit for bit what converting each frame on its own gives."""
    config = DecodeConfig(end=0.7, detect_max_side=640, track_max_side=512)
    frames = list(iter_frames(probe_video(sample_clip), config))
    with av.open(str(sample_clip)) as container:
        reference = [(f.to_ndarray(width=640, height=360, format="rgb24"),
                      f.to_ndarray(width=512, height=288, format="gray"))
                     for _, f in zip(range(len(frames)), container.decode(video=0))]
    assert len(frames) == 22
    for frame, (rgb, grey) in zip(frames, reference, strict=True):
        assert frame.rgb.shape == (360, 640, 3) and frame.grey is not None
        np.testing.assert_array_equal(frame.rgb, rgb)
        np.testing.assert_array_equal(frame.grey, grey)


def test_one_converter_follows_pictures_that_change_size() -> None:
    """A stream whose picture size changes midway (and back): the kept scaler sets itself up
    again and gives the same pixels as a fresh one, at the requested output size."""
    rng = np.random.default_rng(3)
    sizes = [(64, 48), (64, 48), (96, 64), (64, 48), (160, 90)]
    pictures = [av.VideoFrame.from_ndarray(rng.integers(0, 256, (h, w, 3), np.uint8),
                                           format="rgb24").reformat(format="yuv420p")
                for w, h in sizes]
    to_rgb, to_grey = FrameConverter("rgb24"), FrameConverter("gray")
    for picture, (w, h) in zip(pictures, sizes, strict=True):
        rgb = to_rgb.convert(picture, w, h)
        assert rgb.shape == (h, w, 3)
        np.testing.assert_array_equal(rgb, picture.to_ndarray(format="rgb24"))
        grey = to_grey.convert(picture, 32, 18)
        assert grey.shape == (18, 32)
        np.testing.assert_array_equal(grey, picture.to_ndarray(width=32, height=18,
                                                               format="gray"))
