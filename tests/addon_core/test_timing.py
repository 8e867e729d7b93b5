"""Time mapping: exact rational scene rates and drift-free frame placement."""

from __future__ import annotations

import numpy as np
import pytest

from str_blender_addon.core.timing import (
    SceneRate,
    frames_to_seconds,
    scene_rate_for,
    timestamps_to_frames,
)


@pytest.mark.parametrize("fps, expected", [
    (30.0, SceneRate(30, 1.0)), (25, SceneRate(25, 1.0)), (29.97, SceneRate(30, 1.001)),
    (30000 / 1001, SceneRate(30, 1.001)), (23.976, SceneRate(24, 1.001)),
    (59.94, SceneRate(60, 1.001)), (120.0, SceneRate(120, 1.0)),
])
def test_scene_rate(fps, expected):
    rate = scene_rate_for(fps)
    assert rate.fps == expected.fps and rate.fps_base == pytest.approx(expected.fps_base)


def test_odd_rate_is_reproduced_exactly():
    rate = scene_rate_for(12.5)
    assert rate.rate == pytest.approx(12.5, rel=1e-12)
    with pytest.raises(ValueError, match="positive"):
        scene_rate_for(0.0)


def test_no_drift_over_long_clips():
    ntsc = 30000 / 1001
    t = np.arange(200_000) / ntsc                     # ~1.85 hours of 29.97 fps
    frames = timestamps_to_frames(t, scene_rate_for(29.97).rate, start_frame=1)
    assert np.abs(frames - (1 + np.arange(200_000))).max() < 1e-6
    at24 = timestamps_to_frames(np.array([100.0, 3600.0]), 24.0, start_frame=1)
    assert np.array_equal(at24, [2401.0, 86401.0])
    assert np.allclose(frames_to_seconds(at24, 24.0, 1), [100.0, 3600.0])


def test_variable_frame_rate_is_respected():
    t = np.array([0.0, 0.04, 0.1, 0.5, 0.51])
    assert np.allclose(timestamps_to_frames(t, 25.0, 1), [1, 2, 3.5, 13.5, 13.75])
