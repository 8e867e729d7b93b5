"""The STR network (BMVC 2022): TTR + STE -> F_STR; integration strategies -> F_SF, F_CF;
Z = Integration(F_SF, F_STR, F_CF) -> SPIN's iterative regressor.

Forward contract (used by training and the capture solver; keep stable):
    ``STRNet(config).forward(features (B, T, 2048), is_train=False) -> dict`` with
    ``theta`` (B, 85) = [cam 3, pose axis-angle 72, betas 10], ``rotmat`` (B, 24, 3, 3),
    ``pred_cam`` (B, 3) weak-perspective [s, tx, ty] of the 224 crop, ``betas`` (B, 10),
    ``pose6d`` (B, 144), for the window's middle frame T // 2 (``output="middle"``, TCMR's
    protocol; the per-frame F_STR is reduced to the window by ``window_reduce``, "mean" by
    default). With ``output="all"`` every value gets a time axis after B: (B, T, ...).
    With ``is_train=True`` and ``aux_predictions`` the dict also holds ``aux``: the same keys
    with shape (B, 2, ...) regressed from the past / future part summaries (TCMR trains its
    bef/aft predictions the same way, against the middle frame's targets).
Ablations: the inputs of Eq. 6 are those of F_ttr, STEF1, STEF2 that exist (w/o TTR drops F_ttr,
w/o STE drops both STEFs, SENet instead of STE gives one STEF); with one input F_STR is that
input, with none F_STR = F. w/o self -> Z = Integration(F_STR, F_CF); w/o cross ->
Z = Integration(F^{c1}_self, F_STR, F^{c2}_self); both off -> Z = F_STR.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import STRConfig
from .integration import IntegrationNetwork, IntegrationStrategies
from .regressor import SMPLRegressor
from .rotation6d import rotmat_to_axis_angle
from .ste import SpatialTendencyEnhancing
from .ttr import TemporalTendencyReasoning

#: Names of the temporal sub-modules (everything but the regressor), in forward order.
TEMPORAL_MODULES: tuple[str, ...] = ("ttr", "ste", "integrate_str", "strategies", "integrate_final")


class STRNet(nn.Module):
    """STR temporal model + SPIN regressor (the ResNet-50 backbone lives in ``backbone.py``)."""

    def __init__(self, config: STRConfig | None = None) -> None:
        super().__init__()
        cfg = config if config is not None else STRConfig()
        self.config = cfg
        d, c = cfg.integration_dim, cfg.feat_dim
        a, n, plain = cfg.attention_dim, cfg.attention_layers, cfg.plain_aggregation
        self.ttr: TemporalTendencyReasoning | None = None
        str_inputs = 0
        if cfg.use_ttr:
            self.ttr = TemporalTendencyReasoning(cfg)
            str_inputs += 1
        self.ste: SpatialTendencyEnhancing | None = None
        if cfg.use_ste:
            self.ste = SpatialTendencyEnhancing(cfg)
            str_inputs += 1 if cfg.ste_kind == "senet" else int(cfg.ste_time) + int(cfg.ste_freq)
        self.integrate_str: IntegrationNetwork | None = None
        if str_inputs > 1:
            self.integrate_str = IntegrationNetwork((c,) * str_inputs, d, a, n, plain)
        str_dim = d if self.integrate_str is not None else c
        self.strategies: IntegrationStrategies | None = None
        final_dims: tuple[int, ...] = (str_dim,)
        if cfg.use_self or cfg.use_cross:
            self.strategies = IntegrationStrategies(cfg)
            if cfg.use_self and cfg.use_cross:
                final_dims = (d, str_dim, d)
            elif cfg.use_cross:
                final_dims = (str_dim, d)
            else:
                final_dims = (d, str_dim, d)
        self.integrate_final: IntegrationNetwork | None = None
        if len(final_dims) > 1:
            self.integrate_final = IntegrationNetwork(final_dims, d, a, n, plain)
        reg_in = d if self.integrate_final is not None else str_dim
        self.regressor = SMPLRegressor(reg_in, iterations=cfg.regressor_iterations,
                                       dropout=cfg.regressor_dropout)

    def _regress(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        lead = z.shape[:-1]
        out = self.regressor(z.reshape(-1, z.shape[-1]))
        aa = rotmat_to_axis_angle(out["rotmat"]).reshape(-1, 72)
        out["theta"] = torch.cat((out["pred_cam"], aa, out["betas"]), dim=1)
        return {k: v.reshape(*lead, *v.shape[1:]) for k, v in out.items()}

    def forward(self, features: torch.Tensor, is_train: bool = False) -> dict[str, torch.Tensor]:
        cfg = self.config
        if features.dim() != 3 or features.shape[1:] != (cfg.seq_len, cfg.feat_dim):
            raise ValueError(
                f"STRNet expects features (B, {cfg.seq_len}, {cfg.feat_dim}), got {tuple(features.shape)}"
            )
        middle = cfg.output == "middle"
        mid = cfg.middle_index
        only_mid = middle and cfg.window_reduce == "middle"

        def pick(x: torch.Tensor) -> torch.Tensor:
            return x[:, mid] if only_mid else x

        str_inputs = [] if self.ttr is None else [pick(self.ttr(features))]
        if self.ste is not None:
            str_inputs += [pick(s) for s in self.ste(features) if s is not None]
        if self.integrate_str is not None:
            f_str, _ = self.integrate_str(*str_inputs)
        else:
            f_str = str_inputs[0] if str_inputs else pick(features)
        if middle and not only_mid:
            f_str = f_str.mean(dim=1)  # window_reduce="mean": (B, T, D) -> (B, D)

        parts = None
        if self.strategies is not None:
            strat = self.strategies(features)
            parts = strat["parts"]

            def ctx(x: torch.Tensor | None) -> torch.Tensor:
                assert x is not None
                return x if middle else x.unsqueeze(1)

            z_inputs: tuple[torch.Tensor, ...]
            if cfg.use_self and cfg.use_cross:
                z_inputs = (ctx(strat["sf"]), f_str, ctx(strat["cf"]))
            elif cfg.use_cross:
                z_inputs = (f_str, ctx(strat["cf"]))
            else:
                assert parts is not None
                z_inputs = (ctx(parts[:, 0]), f_str, ctx(parts[:, 1]))
            assert self.integrate_final is not None
            z, _ = self.integrate_final(*z_inputs)
        else:
            z = f_str

        out = self._regress(z)
        if is_train and cfg.aux_predictions and parts is not None:
            out["aux"] = self._regress(parts)  # type: ignore[assignment]
        return out
