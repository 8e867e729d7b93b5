"""Numpy filters: noise reduction, signal preservation, edge behaviour, parameter checks."""

from __future__ import annotations

import numpy as np
import pytest

from str_blender_addon.core.filters import (
    METHODS,
    butterworth_filtfilt,
    gaussian_smooth,
    one_euro,
    smooth,
)


def _signal(n=300, fs=30.0, seed=0):
    t = np.arange(n) / fs
    clean = np.stack([np.sin(2 * np.pi * 0.5 * t), 0.3 * t + 0.2 * np.cos(2 * np.pi * 0.8 * t)], 1)
    noise = 0.03 * np.random.default_rng(seed).standard_normal(clean.shape)
    return clean, clean + noise, fs


def _jitter(x):
    return np.abs(np.diff(x, 2, axis=0)).mean()


@pytest.mark.parametrize("method", METHODS)
def test_each_method_reduces_jitter_and_keeps_signal(method):
    clean, noisy, fs = _signal()
    out = smooth(noisy, fs, method, 0.5)
    assert out.shape == noisy.shape
    assert _jitter(out) < 0.4 * _jitter(noisy)
    inner = slice(10, -10)
    assert np.abs(out[inner] - clean[inner]).mean() < 0.7 * np.abs(noisy - clean)[inner].mean()
    assert np.abs(out - clean).max() < 0.12


def test_strength_zero_is_identity_and_stronger_is_smoother():
    _, noisy, fs = _signal()
    assert np.array_equal(smooth(noisy, fs, "GAUSSIAN", 0.0), noisy)
    j = [_jitter(smooth(noisy, fs, "BUTTERWORTH", s)) for s in (0.2, 0.5, 0.9)]
    assert j[0] > j[1] > j[2]


def test_linear_ramp_is_preserved_exactly_at_edges():
    ramp = np.linspace(0, 3, 50)[:, None]
    assert np.allclose(gaussian_smooth(ramp, 3.0), ramp, atol=1e-9)
    assert np.allclose(butterworth_filtfilt(ramp, 2.0, 30.0), ramp, atol=1e-6)


def test_constant_in_constant_out_and_short_input():
    c = np.full((20, 3), 1.5)
    for method in METHODS:
        assert np.allclose(smooth(c, 30.0, method, 1.0), 1.5)
    assert np.array_equal(one_euro(np.ones((2, 1)), 30.0), np.ones((2, 1)))


def test_butterworth_attenuates_above_cutoff():
    fs = 60.0
    t = np.arange(600) / fs
    low = np.sin(2 * np.pi * 0.5 * t)[:, None]
    high = np.sin(2 * np.pi * 10.0 * t)[:, None]
    assert np.abs(butterworth_filtfilt(high, 2.0, fs)[50:-50]).max() < 0.01
    assert np.abs(butterworth_filtfilt(low, 2.0, fs) - low)[50:-50].max() < 0.01


def test_bad_parameters_raise():
    x = np.zeros((10, 1))
    with pytest.raises(ValueError, match="method"):
        smooth(x, 30.0, "KALMAN", 0.5)
    with pytest.raises(ValueError, match="strength"):
        smooth(x, 30.0, "GAUSSIAN", 1.5)
