"""Temporal tendency reasoning (TTR), paper Sec. 2.2, Eq. 1-2.

F (B, T, C) is split along time into K equal fragments F_1..F_K (each (B, T/K, C)).
F_1^o = F_1 (no operation); for i >= 2 each fragment has its own GRU and a hierarchical residual
cascade links neighbours:

- ``literal`` (default, Eq. 1 as printed): F_i^o = GRU_i(F_i) + F_{i-1}^o
- ``res2net`` (the Res2Net-style reading): F_i^o = GRU_i(F_i + F_{i-1}^o)

Output (Eq. 2): F_ttr = F + concat_t(F_1^o, ..., F_K^o), shape (B, T, C).
K = 1 ("undivided", the rebuttal's "1 fragment") and ``ttr_plain_gru`` (the rebuttal's "GRU
instead of TTR") are both one plain GRU: F_ttr = F + GRU(F). Table 2's "w/o TTR" removes the
module altogether (``use_ttr=False``; STRNet then builds no TTR, see ``str_net.py``).
"""

from __future__ import annotations

import torch
from torch import nn

from .config import STRConfig
from .gru import SequenceGRU


class TemporalTendencyReasoning(nn.Module):
    """(B, T, C) -> (B, T, C)."""

    def __init__(self, cfg: STRConfig) -> None:
        super().__init__()
        self.plain = cfg.ttr_plain_gru or cfg.num_fragments == 1
        self.num_fragments = 1 if self.plain else cfg.num_fragments
        self.mode = cfg.ttr_mode
        count = 1 if self.plain else cfg.num_fragments - 1
        self.grus = nn.ModuleList(
            SequenceGRU(cfg.feat_dim, cfg.ttr_hidden, cfg.feat_dim, cfg.ttr_layers,
                        cfg.ttr_bidirectional)
            for _ in range(count)
        )

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        if self.plain:
            return feats + self.grus[0](feats)
        fragments = torch.chunk(feats, self.num_fragments, dim=1)
        outputs = [fragments[0]]
        for gru, fragment in zip(self.grus, fragments[1:], strict=True):
            previous = outputs[-1]
            if self.mode == "literal":
                outputs.append(gru(fragment) + previous)
            else:
                outputs.append(gru(fragment + previous))
        return feats + torch.cat(outputs, dim=1)
