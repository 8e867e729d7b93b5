"""A batch-first GRU whose per-frame output is mapped to a requested width (shared building block)."""

from __future__ import annotations

import torch
from torch import nn


class SequenceGRU(nn.Module):
    """GRU over time returning every step: (B, T, in_dim) -> (B, T, out_dim).

    The GRU has ``hidden`` units per direction; when directions * hidden != out_dim a Linear
    (``proj``) maps each step to out_dim. ``reverse=True`` runs the GRU from the last frame to the
    first (TCMR's "future" encoder) and returns the outputs in the original time order.
    """

    def __init__(self, in_dim: int, hidden: int, out_dim: int, layers: int = 1,
                 bidirectional: bool = False, reverse: bool = False) -> None:
        super().__init__()
        self.gru = nn.GRU(in_dim, hidden, num_layers=layers, batch_first=True,
                          bidirectional=bidirectional)
        width = hidden * (2 if bidirectional else 1)
        self.proj: nn.Module = nn.Identity() if width == out_dim else nn.Linear(width, out_dim)
        self.reverse = reverse
        self.out_dim = out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.reverse:
            x = torch.flip(x, dims=(1,))
        y, _ = self.gru(x)
        y = self.proj(y)
        if self.reverse:
            y = torch.flip(y, dims=(1,))
        return y
