"""Frozen configuration of the STR network (sizes, paper choices, every ablation switch).

Defaults reproduce the paper's full model (BMVC 2022, Table 2 "full"): 4 TTR fragments, literal
Eq. 1, STE with time and frequency branches (the frequency branch emphasising high frequencies,
see ``ste_freq_mode``) and the convolutional difference, self- and
cross-integration with the attention-style integration network, SPIN's 3-iteration regressor,
TCMR-style middle-frame output. Sizes that the paper leaves open are chosen so the temporal
modules total ~96.7M parameters (see docs/str_model.md for the accounting).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

TTR_MODES: tuple[str, ...] = ("literal", "res2net")
STE_FREQ_MODES: tuple[str, ...] = ("emphasis", "difference", "circular_difference", "roundtrip")
STE_KINDS: tuple[str, ...] = ("ste", "senet")
OUTPUT_MODES: tuple[str, ...] = ("middle", "all")
WINDOW_REDUCE_MODES: tuple[str, ...] = ("mean", "middle")

#: Sane inclusive bounds of every integer field. A configuration read from a file (a checkpoint
#: may be crafted) is checked against them before anything is allocated; sizes far beyond the
#: paper's (T = 16, 2048-d features, GRUs of a few hundred to 1024 units) are refused. The total
#: size is bounded separately (``param_count.MAX_PARAMETERS``), since the fields multiply.
FIELD_BOUNDS: dict[str, tuple[int, int]] = {
    "seq_len": (2, 256),
    "feat_dim": (1, 8192),
    "num_fragments": (1, 16),
    "ttr_hidden": (1, 4096),
    "ttr_layers": (1, 8),
    "ste_conv_kernel": (1, 31),
    "ste_hidden": (1, 4096),
    "ste_layers": (1, 8),
    "senet_reduction": (1, 8192),
    "part_hidden": (1, 4096),
    "part_layers": (1, 8),
    "self_repeats": (1, 16),
    "integration_dim": (1, 8192),
    "attention_dim": (1, 4096),
    "attention_layers": (1, 16),
    "regressor_iterations": (1, 16),
}


def _type_problems(cfg: Any) -> list[str]:
    """Every field must have its declared type: bool fields real bools, int fields ints (not
    bools, not floats), str fields strings, regressor_dropout a finite number."""
    out: list[str] = []
    for f in fields(cfg):
        value = getattr(cfg, f.name)
        kind = type(f.default)
        if kind is bool:
            ok = isinstance(value, bool)
        elif kind is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif kind is float:
            ok = (isinstance(value, int | float) and not isinstance(value, bool)
                  and math.isfinite(value))
        else:
            ok = isinstance(value, kind)
        if not ok:
            out.append(f"{f.name} must be of type {kind.__name__}, got {value!r}")
    return out


@dataclass(frozen=True)
class STRConfig:
    """Every size and switch of :class:`~inference_backend.models.str_net.STRNet`.

    Shapes: the model reads (B, seq_len, feat_dim) per-frame SPIN features.

    TTR (temporal tendency reasoning, paper Eq. 1-2):
        num_fragments: K in {1, 2, 4, 8}; seq_len must be divisible by K. K = 1 means "undivided":
            one GRU over the whole window, F_ttr = F + GRU(F) (the rebuttal's "1 fragment", 62.7),
            identical to ``ttr_plain_gru=True`` (the rebuttal's "GRU instead of TTR", 62.7/9.0).
        use_ttr: False removes TTR entirely (Table 2 "w/o TTR", 61.9/8.7): F_ttr is not an input
            of Eq. 6, F_STR = Integration(STEF1, STEF2).
        ttr_plain_gru: True replaces TTR by one GRU over the whole window, F + GRU(F).
        ttr_mode: "literal" = F_i^o = GRU_i(F_i) + F_{i-1}^o (paper's Eq. 1, default);
            "res2net" = F_i^o = GRU_i(F_i + F_{i-1}^o).
        ttr_hidden / ttr_layers / ttr_bidirectional: each fragment GRU; a Linear maps its output
            back to feat_dim when directions * hidden != feat_dim.
    STE (spatial tendency enhancing, Eq. 3-5):
        ste_conv_kernel: temporal kernel of the Conv1d producing S_F (channels feat_dim->feat_dim).
        ste_hidden / ste_layers / ste_bidirectional: the STE GRU(s) (output mapped to feat_dim).
        ste_shared_gru: one GRU serves GRU(F) of both branches and GRU(F_fft) ("we send F and
            F_fft to the GRU"); False gives the time and frequency branches their own GRU.
        ste_freq_mode: how F_fft is formed (see ``ste.py`` and docs/str_model.md):
            "emphasis" (default) = FFT -> multiply by the non-circular difference filter plus 1
                -> IFFT, i.e. F_fft(t) = F(t) + (F(t) - F(t-1)), gain 1 at frequency 0 ("preserve
                human information") rising to 3 at the highest frequency ("highlight the
                high-frequency motion features");
            "difference" = the rebuttal's "FFT -> difference -> IFFT" alone: F(t) - F(t-1), zero
                at t = 0 (no wrap-around), gain 0 at frequency 0;
            "circular_difference" = F(t+1) - F(t) with wrap-around at t = T-1 (this project's
                earlier "difference");
            "roundtrip" = real(IFFT(FFT(F))) exactly as the paper writes it, numerically the
                identity (the literal reading, for the ablation).
        ste_kind: "ste" (the paper) or "senet" (the rebuttal's "SENet instead of STE", 62.5):
            one output GRU(F) * sigmoid(W2 ReLU(W1 AvgPool_t(F))), reduction ``senet_reduction``.
        conv_difference: True = M1 = D_F - D_f (paper); False = raw difference M1 = D_f (ablation).
    Integration strategies (Algorithm 1, c = 2 temporal parts):
        part_hidden / part_layers / part_bidirectional: the GRUs encoding the past half (forward)
            and the future half (time-reversed, TCMR-style) of the window.
        self_repeats: N, self-integration rounds per part.
    Integration network (rebuttal / TCMR temporal attention):
        integration_dim: every input -> ReLU -> Linear to this size (2048, the regressor input).
        attention_dim: the shared Linear to 256.
        attention_layers: number of Linear+tanh layers after the concatenation, before the
            final Linear(-> K)+tanh+softmax (TCMR uses 2).
    Ablations (Table 2 and the rebuttal): use_ttr, ttr_plain_gru, num_fragments, use_ste,
        ste_time, ste_freq, ste_kind, use_self, use_cross, plain_aggregation (uniform mean of the
        projected inputs instead of learned weights), conv_difference, ste_freq_mode.
    Output:
        output: "middle" = one prediction per window for frame seq_len // 2 (TCMR protocol:
            windows with stride 1 and edge padding give one prediction per frame);
            "all" = a prediction for every frame of the window (outputs get a time axis).
        window_reduce: how the per-frame F_STR sequence becomes the window feature in "middle"
            mode. "mean" (default) = temporal mean of F_STR(t) = Integration(F_ttr, STEF1, STEF2)(t);
            "middle" = F_STR at frame T//2 only. With the literal TTR cascade the middle frame's
            F_ttr never sees the fragments after it (for K = 4, GRU_4 would get no gradient), so
            "middle" leaves parameters unused; "mean" uses every fragment.
        aux_predictions: in training (is_train=True) also regress the two part summaries
            (past / future), TCMR-style, supervised with the middle frame's targets.
    Regressor (SPIN): regressor_iterations (3), regressor_dropout (0.5).
    """

    seq_len: int = 16
    feat_dim: int = 2048
    # TTR
    num_fragments: int = 4
    ttr_mode: str = "literal"
    ttr_hidden: int = 384
    ttr_layers: int = 1
    ttr_bidirectional: bool = True
    # STE
    ste_conv_kernel: int = 3
    ste_hidden: int = 512
    ste_layers: int = 1
    ste_bidirectional: bool = True
    ste_shared_gru: bool = True
    ste_freq_mode: str = "emphasis"
    conv_difference: bool = True
    ste_kind: str = "ste"
    senet_reduction: int = 16
    # integration strategies
    part_hidden: int = 512
    part_layers: int = 1
    part_bidirectional: bool = False
    self_repeats: int = 2
    # integration network
    integration_dim: int = 2048
    attention_dim: int = 256
    attention_layers: int = 2
    # ablation switches
    use_ttr: bool = True
    ttr_plain_gru: bool = False
    use_ste: bool = True
    ste_time: bool = True
    ste_freq: bool = True
    use_self: bool = True
    use_cross: bool = True
    plain_aggregation: bool = False
    # output / regressor
    output: str = "middle"
    window_reduce: str = "mean"
    aux_predictions: bool = True
    regressor_iterations: int = 3
    regressor_dropout: float = 0.5

    def __post_init__(self) -> None:
        problems = _type_problems(self)
        if problems:  # the range checks below assume the right types
            raise ValueError("invalid STRConfig: " + "; ".join(problems))
        for name, (low, high) in FIELD_BOUNDS.items():
            value = getattr(self, name)
            if not low <= value <= high:
                problems.append(f"{name} must be in [{low}, {high}], got {value}")
        if self.seq_len % 2:
            problems.append(f"seq_len must be even (Algorithm 1 halves it), got {self.seq_len}")
        if self.seq_len % self.num_fragments:
            problems.append(
                f"num_fragments={self.num_fragments} must divide seq_len={self.seq_len}"
            )
        choices = (("ttr_mode", TTR_MODES), ("ste_freq_mode", STE_FREQ_MODES),
                   ("ste_kind", STE_KINDS), ("output", OUTPUT_MODES),
                   ("window_reduce", WINDOW_REDUCE_MODES))
        for name, allowed in choices:
            if getattr(self, name) not in allowed:
                problems.append(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.ste_conv_kernel % 2 == 0:
            problems.append(f"ste_conv_kernel must be odd, got {self.ste_conv_kernel}")
        if self.senet_reduction > self.feat_dim:
            problems.append(f"senet_reduction {self.senet_reduction} exceeds feat_dim {self.feat_dim}")
        if not 0.0 <= self.regressor_dropout < 1.0:
            problems.append(f"regressor_dropout must be in [0, 1), got {self.regressor_dropout}")
        if (self.use_ste and self.ste_kind == "ste"
                and not (self.ste_time or self.ste_freq)):
            problems.append("use_ste=True needs ste_time or ste_freq (or set use_ste=False)")
        if problems:
            raise ValueError("invalid STRConfig: " + "; ".join(problems))

    @property
    def middle_index(self) -> int:
        """Index of the window frame a "middle" prediction belongs to (8 for T = 16, as TCMR)."""
        return self.seq_len // 2

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (stored in checkpoints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> STRConfig:
        """Build from a dict; unknown keys are an error (a typo must not silently be ignored)."""
        if not isinstance(data, dict):
            raise ValueError(f"STRConfig must be a dict of fields, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(k) for k in set(data) - known)
        if unknown:
            raise ValueError(f"unknown STRConfig keys: {unknown}; known keys: {sorted(known)}")
        return cls(**data)

    def replace(self, **changes: Any) -> STRConfig:
        """A copy with some fields changed (validated)."""
        return STRConfig.from_dict({**self.to_dict(), **changes})
