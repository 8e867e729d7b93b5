"""Temporal filters for animation curves (numpy only: Blender ships no scipy).

All functions take ``x`` (F, C): F samples (key frames, uniform in time at ``fs`` Hz) of C
independent channels, and return a new (F, C) float64 array. ``smooth`` maps a user-facing
strength in [0, 1] to each filter's parameters in seconds/Hz, so results do not depend on the
frame rate.
"""

from __future__ import annotations

import math

import numpy as np

METHODS = ("GAUSSIAN", "BUTTERWORTH", "ONE_EURO")


def _odd_pad(x: np.ndarray, n: int) -> np.ndarray:
    """Pad (F,C) by n samples each side with odd reflection (keeps position and slope)."""
    n = min(n, x.shape[0] - 1)
    if n <= 0:
        return x.copy()
    head = 2.0 * x[:1] - x[1:n + 1][::-1]
    tail = 2.0 * x[-1:] - x[-n - 1:-1][::-1]
    return np.concatenate([head, x, tail], 0)


def gaussian_smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian filter along axis 0, ``sigma`` in samples (odd-reflected edges)."""
    x = np.asarray(x, np.float64)
    if sigma <= 1e-6 or x.shape[0] < 3:
        return x.copy()
    radius = max(1, int(math.ceil(4.0 * sigma)))
    radius = min(radius, x.shape[0] - 1)
    taps = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (taps / sigma) ** 2)
    kernel /= kernel.sum()
    padded = _odd_pad(x, radius)
    out = np.zeros_like(x)
    n = x.shape[0]
    for k, w in enumerate(kernel):
        out += w * padded[k:k + n]
    return out


def _butter2(fc: float, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """2nd-order Butterworth low-pass (bilinear transform): (b (3,), a (3,)), a[0] = 1."""
    k = math.tan(math.pi * fc / fs)
    q = math.sqrt(2.0)
    norm = 1.0 / (1.0 + q * k + k * k)
    b0 = k * k * norm
    b = np.array([b0, 2.0 * b0, b0])
    a = np.array([1.0, 2.0 * (k * k - 1.0) * norm, (1.0 - q * k + k * k) * norm])
    return b, a


def _lfilter2(b: np.ndarray, a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Direct-form-II-transposed biquad along axis 0, started in steady state at x[0]."""
    y = np.empty_like(x)
    z2 = (b[2] - a[2]) * x[0]
    z1 = (b[1] - a[1]) * x[0] + z2
    for i in range(x.shape[0]):
        xi = x[i]
        yi = b[0] * xi + z1
        z1 = b[1] * xi - a[1] * yi + z2
        z2 = b[2] * xi - a[2] * yi
        y[i] = yi
    return y


def butterworth_filtfilt(x: np.ndarray, cutoff_hz: float, fs: float) -> np.ndarray:
    """Zero-phase 2nd-order Butterworth low-pass (forward + backward), cutoff in Hz."""
    x = np.asarray(x, np.float64)
    if x.shape[0] < 4:
        return x.copy()
    fc = min(cutoff_hz, 0.45 * fs)
    b, a = _butter2(fc, fs)
    pad = min(x.shape[0] - 1, max(9, int(3 * fs / fc)))
    padded = _odd_pad(x, pad)
    forward = _lfilter2(b, a, padded)
    backward = _lfilter2(b, a, forward[::-1])[::-1]
    return backward[pad:pad + x.shape[0]]


def _alpha(cutoff: np.ndarray | float, fs: float) -> np.ndarray | float:
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff))
    return 1.0 / (1.0 + tau * fs)


def _one_euro_pass(x: np.ndarray, fs: float, min_cutoff: float, beta: float,
                   d_cutoff: float) -> np.ndarray:
    y = np.empty_like(x)
    prev = x[0].copy()
    dprev = np.zeros_like(x[0])
    a_d = _alpha(d_cutoff, fs)
    y[0] = prev
    for i in range(1, x.shape[0]):
        dx = (x[i] - prev) * fs
        dprev = a_d * dx + (1.0 - a_d) * dprev
        a = _alpha(min_cutoff + beta * np.abs(dprev), fs)
        prev = a * x[i] + (1.0 - a) * prev
        y[i] = prev
    return y


def one_euro(x: np.ndarray, fs: float, min_cutoff: float = 1.0, beta: float = 0.5,
             d_cutoff: float = 1.0) -> np.ndarray:
    """One-Euro filter (Casiez et al. 2012), run forward and backward and averaged so the
    result has no lag (offline use). Cutoffs in Hz; beta in 1/(units per second)."""
    x = np.asarray(x, np.float64)
    if x.shape[0] < 3:
        return x.copy()
    fwd = _one_euro_pass(x, fs, min_cutoff, beta, d_cutoff)
    bwd = _one_euro_pass(x[::-1], fs, min_cutoff, beta, d_cutoff)[::-1]
    return 0.5 * (fwd + bwd)


def smooth(x: np.ndarray, fs: float, method: str = "GAUSSIAN", strength: float = 0.5
           ) -> np.ndarray:
    """Smooth (F,C) samples at ``fs`` Hz. strength 0 = unchanged, 1 = strongest.

    GAUSSIAN: sigma = 0.08 s * strength (medium: -3 dB near 3.3 Hz). BUTTERWORTH: cutoff
    from 15 Hz (0) to 1.5 Hz (1), log-spaced (medium 4.7 Hz). ONE_EURO: min cutoff from 6 Hz
    to 1 Hz (medium 2.4 Hz), beta 1.0.
    """
    if method not in METHODS:
        raise ValueError(f"unknown smoothing method {method!r}; use one of {METHODS}")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"smoothing strength must be in [0, 1], got {strength}")
    if fs <= 0:
        raise ValueError(f"sample rate must be positive, got {fs}")
    x = np.asarray(x, np.float64)
    if strength == 0.0:
        return x.copy()
    if method == "GAUSSIAN":
        return gaussian_smooth(x, 0.08 * strength * fs)
    if method == "BUTTERWORTH":
        return butterworth_filtfilt(x, 15.0 * 0.1 ** strength, fs)
    return one_euro(x, fs, min_cutoff=6.0 * (1.0 / 6.0) ** strength, beta=1.0)
