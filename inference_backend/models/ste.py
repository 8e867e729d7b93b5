"""Spatial tendency enhancing (STE), paper Sec. 2.3, Eq. 3-5, and the rebuttal's SENet variant.

Time domain (Eq. 3-4), F (B, T, C):
    S_F = Conv1d_t(F); D_f(t) = F(t+1) - F(t); D_F(t) = S_F(t+1) - S_F(t)   (t = 0..T-2)
    M1 = D_F - D_f   (``conv_difference=False``: M1 = D_f, the raw-difference ablation)
    A1 = sigmoid(AvgPool_t(M1))  (B, C), one weight per channel
    STEF1 = GRU(F) * A1          channel-wise, (B, T, C)
Frequency domain (Eq. 5):
    F_fft = IFFT_t(H(k) * FFT_t(F)), H chosen by ``ste_freq_mode``:
      "emphasis" (default): H = 1 + (1 - e^{-i w}), i.e. F_fft(t) = F(t) + (F(t) - F(t-1)) with
          F(-1) := F(0) (no wrap-around). |H| = sqrt(5 - 4 cos w): 1 at w = 0 (the static pose
          passes unchanged: "preserve human information") rising to 3 at the highest frequency
          ("highlight the high-frequency motion features").
      "difference": H = 1 - e^{-i w}, F_fft(t) = F(t) - F(t-1), zero at t = 0: the rebuttal's
          "FFT -> difference -> IFFT" taken alone (a pure high-pass, gain 0 at w = 0).
      "circular_difference": F(t+1) - F(t) with wrap-around at t = T-1 (earlier behaviour).
      "roundtrip": real(IFFT(FFT(F))) exactly as printed -- numerically the IDENTITY (|F_fft - F|
          ~1e-7), which makes the branch a second gate on GRU(F); kept for the ablation.
    The non-circular filters are computed in the Fourier domain on a sequence zero-padded to
    length 2T (a linear, not circular, convolution), so no frame wraps around.
    M2 = GRU(F) - F; A2 = sigmoid(AvgPool_t(M2)); STEF2 = GRU(F_fft) * A2
With ``ste_shared_gru`` one GRU computes GRU(F) for both branches and GRU(F_fft).

SENet instead of STE (the rebuttal's comparison, ``ste_kind="senet"``): one output
    STEF_se = GRU(F) * sigmoid(W2 ReLU(W1 AvgPool_t(F))), W1: C -> C / r, W2: C / r -> C.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import STRConfig
from .gru import SequenceGRU


def fft_roundtrip(feats: torch.Tensor) -> torch.Tensor:
    """real(IFFT(FFT(x))) along time (dim 1): the paper's F_fft. Equals x up to rounding."""
    spectrum = torch.fft.fft(feats.float(), dim=1)
    return torch.fft.ifft(spectrum, dim=1).real.to(feats.dtype)


def fft_circular_difference(feats: torch.Tensor) -> torch.Tensor:
    """Circular adjacent difference x(t+1) - x(t) (wraps at t = T-1), computed in the Fourier
    domain (dim 1 = time)."""
    t = feats.shape[1]
    spectrum = torch.fft.fft(feats.float(), dim=1)
    k = torch.arange(t, device=feats.device, dtype=torch.float32)
    phase = torch.polar(torch.ones_like(k), 2.0 * math.pi * k / t) - 1.0
    shape = [1, t] + [1] * (feats.dim() - 2)
    return torch.fft.ifft(spectrum * phase.reshape(shape), dim=1).real.to(feats.dtype)


def fft_backward_difference(feats: torch.Tensor, keep: float = 0.0) -> torch.Tensor:
    """``keep * x(t) + (x(t) - x(t-1))`` along dim 1 with x(-1) := x(0), computed in the Fourier
    domain without wrap-around: the sequence (first frame repeated in front, length T + 1) is
    zero-padded to 2T, its spectrum multiplied by ``keep + 1 - e^{-2 pi i k / 2T}`` and
    transformed back. ``keep=0``: the difference (high-pass, gain 0 at frequency 0);
    ``keep=1``: the high-frequency emphasis filter (gain 1 at 0, 3 at the highest frequency)."""
    t = feats.shape[1]
    n = 2 * t  # >= (T + 1) + 2 - 1: the linear convolution fits, nothing wraps
    x = feats.float()
    padded = torch.cat((x[:, :1], x), dim=1)
    spectrum = torch.fft.rfft(padded, n=n, dim=1)
    k = torch.arange(n // 2 + 1, device=feats.device, dtype=torch.float32)
    kernel = (keep + 1.0) - torch.polar(torch.ones_like(k), -2.0 * math.pi * k / n)
    shape = [1, n // 2 + 1] + [1] * (feats.dim() - 2)
    out = torch.fft.irfft(spectrum * kernel.reshape(shape), n=n, dim=1)[:, 1 : t + 1]
    return out.to(feats.dtype)


def frequency_feature(feats: torch.Tensor, mode: str) -> torch.Tensor:
    """F_fft of Eq. 5 for an ``STRConfig.ste_freq_mode`` (see the module docstring)."""
    if mode == "emphasis":
        return fft_backward_difference(feats, keep=1.0)
    if mode == "difference":
        return fft_backward_difference(feats, keep=0.0)
    if mode == "circular_difference":
        return fft_circular_difference(feats)
    if mode == "roundtrip":
        return fft_roundtrip(feats)
    raise ValueError(f"unknown ste_freq_mode {mode!r}")


class SpatialTendencyEnhancing(nn.Module):
    """(B, T, C) -> (STEF1, STEF2), each (B, T, C) or None when its branch is switched off.
    With ``ste_kind="senet"``: (STEF_se, None)."""

    def __init__(self, cfg: STRConfig) -> None:
        super().__init__()
        self.senet = cfg.ste_kind == "senet"
        self.time_branch = cfg.ste_time and not self.senet
        self.freq_branch = cfg.ste_freq and not self.senet
        self.conv_difference = cfg.conv_difference
        self.freq_mode = cfg.ste_freq_mode

        def make_gru() -> SequenceGRU:
            return SequenceGRU(cfg.feat_dim, cfg.ste_hidden, cfg.feat_dim, cfg.ste_layers,
                               cfg.ste_bidirectional)

        self.conv: nn.Conv1d | None = None
        if self.time_branch and self.conv_difference:
            k = cfg.ste_conv_kernel
            # no bias: S_F only enters through adjacent differences, where a bias cancels exactly
            self.conv = nn.Conv1d(cfg.feat_dim, cfg.feat_dim, k, padding=k // 2, bias=False)
        self.squeeze: nn.Sequential | None = None
        if self.senet:
            reduced = max(1, cfg.feat_dim // cfg.senet_reduction)
            self.squeeze = nn.Sequential(nn.Linear(cfg.feat_dim, reduced), nn.ReLU(),
                                         nn.Linear(reduced, cfg.feat_dim))
        self.gru = make_gru()
        self.gru_freq: SequenceGRU | None = None
        if self.time_branch and self.freq_branch and not cfg.ste_shared_gru:
            self.gru_freq = make_gru()

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        if self.squeeze is not None:
            weights = torch.sigmoid(self.squeeze(feats.mean(dim=1, keepdim=True)))
            return self.gru(feats) * weights, None
        stef1 = stef2 = g = None
        if self.time_branch:
            g = self.gru(feats)
            d_f = feats[:, 1:] - feats[:, :-1]
            if self.conv is not None:
                s_f = self.conv(feats.transpose(1, 2)).transpose(1, 2)
                m1 = (s_f[:, 1:] - s_f[:, :-1]) - d_f
            else:
                m1 = d_f
            a1 = torch.sigmoid(m1.mean(dim=1, keepdim=True))
            stef1 = g * a1
        if self.freq_branch:
            gru = self.gru_freq if self.gru_freq is not None else self.gru
            f_fft = frequency_feature(feats, self.freq_mode)
            if g is not None and gru is self.gru:
                g_f, g_fft = g, gru(f_fft)  # GRU(F) is shared with the time branch
            else:
                both = gru(torch.cat((feats, f_fft), dim=0))
                g_f, g_fft = torch.split(both, feats.shape[0], dim=0)
            m2 = g_f - feats
            a2 = torch.sigmoid(m2.mean(dim=1, keepdim=True))
            stef2 = g_fft * a2
        return stef1, stef2
