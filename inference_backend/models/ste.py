"""Spatial tendency enhancing (STE), paper Sec. 2.3, Eq. 3-5.

Time domain (Eq. 3-4), F (B, T, C):
    S_F = Conv1d_t(F); D_f(t) = F(t+1) - F(t); D_F(t) = S_F(t+1) - S_F(t)   (t = 0..T-2)
    M1 = D_F - D_f   (``conv_difference=False``: M1 = D_f, the raw-difference ablation)
    A1 = sigmoid(AvgPool_t(M1))  (B, C), one weight per channel
    STEF1 = GRU(F) * A1          channel-wise, (B, T, C)
Frequency domain (Eq. 5):
    F_fft = real(IFFT_t(FFT_t(F)))    -- exactly the transform pair the paper writes. Numerically
        this is the IDENTITY up to float rounding (|F_fft - F| ~ 1e-7 relative): the pair cancels.
        We implement it literally and say so; ``ste_freq_mode="difference"`` is the rebuttal's
        reading "FFT -> difference -> IFFT": the spectrum is multiplied by (e^{2 pi i k / T} - 1),
        which is the circular adjacent-frame difference F(t+1) - F(t) computed in the Fourier
        domain (a high-pass filter that does emphasise motion).
    M2 = GRU(F) - F; A2 = sigmoid(AvgPool_t(M2)); STEF2 = GRU(F_fft) * A2
With ``ste_shared_gru`` one GRU computes GRU(F) for both branches and GRU(F_fft).
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


def fft_difference(feats: torch.Tensor) -> torch.Tensor:
    """Circular adjacent difference x(t+1) - x(t) computed in the Fourier domain (dim 1 = time)."""
    t = feats.shape[1]
    spectrum = torch.fft.fft(feats.float(), dim=1)
    k = torch.arange(t, device=feats.device, dtype=torch.float32)
    phase = torch.polar(torch.ones_like(k), 2.0 * math.pi * k / t) - 1.0
    shape = [1, t] + [1] * (feats.dim() - 2)
    return torch.fft.ifft(spectrum * phase.reshape(shape), dim=1).real.to(feats.dtype)


class SpatialTendencyEnhancing(nn.Module):
    """(B, T, C) -> (STEF1, STEF2), each (B, T, C) or None when its branch is switched off."""

    def __init__(self, cfg: STRConfig) -> None:
        super().__init__()
        self.time_branch = cfg.ste_time
        self.freq_branch = cfg.ste_freq
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
        self.gru = make_gru()
        self.gru_freq: SequenceGRU | None = None
        if self.time_branch and self.freq_branch and not cfg.ste_shared_gru:
            self.gru_freq = make_gru()

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
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
            f_fft = fft_roundtrip(feats) if self.freq_mode == "roundtrip" else fft_difference(feats)
            if g is not None and gru is self.gru:
                g_f, g_fft = g, gru(f_fft)  # GRU(F) is shared with the time branch
            else:
                both = gru(torch.cat((feats, f_fft), dim=0))
                g_f, g_fft = torch.split(both, feats.shape[0], dim=0)
            m2 = g_f - feats
            a2 = torch.sigmoid(m2.mean(dim=1, keepdim=True))
            stef2 = g_fft * a2
        return stef1, stef2
