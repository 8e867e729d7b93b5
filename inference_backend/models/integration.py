"""The integration network and the integration strategies (paper Sec. 2.4, Algorithm 1).

Integration network (the authors' rebuttal; the same design as TCMR's temporal attention):
each of the K inputs -> ReLU -> its own Linear to ``integration_dim`` (2048); a shared Linear to
``attention_dim`` (256); concatenate (K*256); ``attention_layers`` x (Linear + tanh);
Linear(-> K) + tanh; softmax -> one weight per input; output = sum_k a_k * projected_k.
It works on any leading shape: inputs (..., d_k) broadcast against each other.
``plain_aggregation=True`` keeps the projections and replaces the learned weights by 1/K.

Integration strategies (Algorithm 1, c = 2 parts), F (B, T, C), M = T/2:
    F^{c1} = GRU_past(F[:, :M])             forward over the past half
    F^{c2} = GRU_future(F[:, M:])           time-reversed over the future half (TCMR-style)
    Self-integration, N rounds per part (the paper's "for i < N: F_i^c = Integration(F^c)"):
        y = ReLU->Linear(F^c) per frame (B, M, 2048)
        round r: weights over the M frames from the attention MLP (own parameters per round),
                 s_r = sum_t a_t y_t; y <- y + s_r (every frame receives the part's context)
        F_i^c = s_N  (B, 2048)
    Cross-integration: F_SF = Integration(F_i^{c1}, F_i^{c2});
                       F_CF = Integration(F^{c1}[last], F^{c2}[last]), where "last" is each
                       encoder's final step next to the middle frame (TCMR's bef/aft features).
The paper leaves the exact meaning of repeating an integration N times open; the residual
refinement above is our reading (documented in docs/str_model.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .config import STRConfig
from .gru import SequenceGRU


class AttentionWeights(nn.Module):
    """(..., K, D) -> (..., K) softmax weights (TCMR's TemporalAttention MLP)."""

    def __init__(self, num_inputs: int, dim: int, attention_dim: int, layers: int) -> None:
        super().__init__()
        self.num_inputs = num_inputs
        self.fc = nn.Linear(dim, attention_dim)
        mlp: list[nn.Module] = [nn.Linear(num_inputs * attention_dim, attention_dim), nn.Tanh()]
        for _ in range(layers - 1):
            mlp += [nn.Linear(attention_dim, attention_dim), nn.Tanh()]
        mlp += [nn.Linear(attention_dim, num_inputs), nn.Tanh()]
        self.mlp = nn.Sequential(*mlp)

    def forward(self, stacked: torch.Tensor) -> torch.Tensor:
        z = self.fc(stacked).flatten(-2)
        return F.softmax(self.mlp(z), dim=-1)


class IntegrationNetwork(nn.Module):
    """Integration(x_1, ..., x_K): inputs (..., d_k) -> (out (..., out_dim), weights (..., K))."""

    def __init__(self, input_dims: Sequence[int], out_dim: int, attention_dim: int,
                 attention_layers: int, plain: bool = False) -> None:
        super().__init__()
        self.num_inputs = len(input_dims)
        self.project = nn.ModuleList(nn.Linear(d, out_dim) for d in input_dims)
        self.attention: AttentionWeights | None = None
        if not plain and self.num_inputs > 1:
            self.attention = AttentionWeights(self.num_inputs, out_dim, attention_dim,
                                              attention_layers)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if len(inputs) != self.num_inputs:
            raise ValueError(f"expected {self.num_inputs} inputs, got {len(inputs)}")
        projected = [proj(F.relu(x)) for proj, x in zip(self.project, inputs, strict=True)]
        stacked = torch.stack(torch.broadcast_tensors(*projected), dim=-2)  # (..., K, D)
        if self.attention is None:
            weights = stacked.new_full(stacked.shape[:-1], 1.0 / self.num_inputs)
        else:
            weights = self.attention(stacked)
        return (weights.unsqueeze(-1) * stacked).sum(dim=-2), weights


class SelfIntegration(nn.Module):
    """N rounds of integration over the frames of one part: (B, M, d) -> (B, out_dim)."""

    def __init__(self, in_dim: int, num_frames: int, cfg: STRConfig) -> None:
        super().__init__()
        self.project = nn.Linear(in_dim, cfg.integration_dim)
        self.plain = cfg.plain_aggregation
        self.rounds = nn.ModuleList(
            AttentionWeights(num_frames, cfg.integration_dim, cfg.attention_dim,
                             cfg.attention_layers)
            for _ in range(0 if self.plain else cfg.self_repeats)
        )
        self.repeats = cfg.self_repeats

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        y = self.project(F.relu(seq))
        summary = y.mean(dim=1)
        for r in range(self.repeats):
            if self.plain:
                summary = y.mean(dim=1)
            else:
                weights = self.rounds[r](y)
                summary = (weights.unsqueeze(-1) * y).sum(dim=1)
            if r + 1 < self.repeats:
                y = y + summary.unsqueeze(1)
        return summary


class IntegrationStrategies(nn.Module):
    """Algorithm 1: (B, T, C) -> dict with F_SF / F_CF (B, out_dim) and the part summaries.

    Keys: ``sf`` (None when use_self or use_cross is off), ``cf`` (None without cross),
    ``parts`` (B, 2, out_dim): the two inputs of the cross phase's F_SF (self-integrated parts,
    or the projected last steps without self-integration) -- used for the auxiliary heads and by
    the "w/o cross" ablation.
    """

    def __init__(self, cfg: STRConfig) -> None:
        super().__init__()
        half = cfg.seq_len // 2
        self.half_len = half
        self.use_self = cfg.use_self
        self.use_cross = cfg.use_cross
        width = cfg.part_hidden * (2 if cfg.part_bidirectional else 1)
        self.encode_past = SequenceGRU(cfg.feat_dim, cfg.part_hidden, width, cfg.part_layers,
                                       cfg.part_bidirectional)
        self.encode_future = SequenceGRU(cfg.feat_dim, cfg.part_hidden, width, cfg.part_layers,
                                         cfg.part_bidirectional, reverse=True)
        d, a, n, plain = cfg.integration_dim, cfg.attention_dim, cfg.attention_layers, cfg.plain_aggregation
        self.self_past: SelfIntegration | None = None
        self.self_future: SelfIntegration | None = None
        if self.use_self:
            self.self_past = SelfIntegration(width, half, cfg)
            self.self_future = SelfIntegration(width, half, cfg)
        self.cross_self: IntegrationNetwork | None = None
        self.cross_raw: IntegrationNetwork | None = None
        if self.use_cross:
            if self.use_self:
                self.cross_self = IntegrationNetwork((d, d), d, a, n, plain)
            self.cross_raw = IntegrationNetwork((width, width), d, a, n, plain)
        elif not self.use_self:
            raise ValueError("IntegrationStrategies needs use_self or use_cross")

    def forward(self, feats: torch.Tensor) -> dict[str, torch.Tensor | None]:
        past = self.encode_past(feats[:, : self.half_len])
        future = self.encode_future(feats[:, self.half_len :])
        past_last, future_last = past[:, -1], future[:, 0]  # the steps next to the middle frame
        sf = cf = None
        parts: torch.Tensor | None = None
        if self.self_past is not None and self.self_future is not None:
            s_past, s_future = self.self_past(past), self.self_future(future)
            parts = torch.stack((s_past, s_future), dim=1)
            if self.cross_self is not None:
                sf, _ = self.cross_self(s_past, s_future)
        if self.cross_raw is not None:
            cf, _ = self.cross_raw(past_last, future_last)
            if parts is None:
                proj = self.cross_raw.project
                parts = torch.stack((proj[0](F.relu(past_last)), proj[1](F.relu(future_last))), 1)
        return {"sf": sf, "cf": cf, "parts": parts}
