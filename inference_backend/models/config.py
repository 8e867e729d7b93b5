"""Frozen configuration of the STR network (sizes, paper choices, every ablation switch).

Defaults reproduce the paper's full model (BMVC 2022, Table 2 "full"): 4 TTR fragments, literal
Eq. 1, STE with time and frequency branches and the convolutional difference, self- and
cross-integration with the attention-style integration network, SPIN's 3-iteration regressor,
TCMR-style middle-frame output. Sizes that the paper leaves open are chosen so the temporal
modules total ~96.7M parameters (see docs/str_model.md for the accounting).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

TTR_MODES: tuple[str, ...] = ("literal", "res2net")
STE_FREQ_MODES: tuple[str, ...] = ("roundtrip", "difference")
OUTPUT_MODES: tuple[str, ...] = ("middle", "all")
WINDOW_REDUCE_MODES: tuple[str, ...] = ("mean", "middle")


@dataclass(frozen=True)
class STRConfig:
    """Every size and switch of :class:`~inference_backend.models.str_net.STRNet`.

    Shapes: the model reads (B, seq_len, feat_dim) per-frame SPIN features.

    TTR (temporal tendency reasoning, paper Eq. 1-2):
        num_fragments: K in {1, 2, 4, 8}; seq_len must be divisible by K. K = 1 means "undivided":
            one GRU over the whole window, identical to ``use_ttr=False`` (the paper's two
            62.7 ablations coincide).
        ttr_mode: "literal" = F_i^o = GRU_i(F_i) + F_{i-1}^o (paper's Eq. 1, default);
            "res2net" = F_i^o = GRU_i(F_i + F_{i-1}^o).
        ttr_hidden / ttr_layers / ttr_bidirectional: each fragment GRU; a Linear maps its output
            back to feat_dim when directions * hidden != feat_dim.
    STE (spatial tendency enhancing, Eq. 3-5):
        ste_conv_kernel: temporal kernel of the Conv1d producing S_F (channels feat_dim->feat_dim).
        ste_hidden / ste_layers / ste_bidirectional: the STE GRU(s) (output mapped to feat_dim).
        ste_shared_gru: one GRU serves GRU(F) of both branches and GRU(F_fft) ("we send F and
            F_fft to the GRU"); False gives the time and frequency branches their own GRU.
        ste_freq_mode: "roundtrip" = real(IFFT(FFT(F))) exactly as the paper writes it (numerically
            the identity up to float rounding); "difference" = the rebuttal's "FFT -> difference
            -> IFFT": the spectrum is multiplied by (exp(2*pi*i*k/T) - 1), the Fourier form of the
            circular adjacent-frame difference, a high-pass filter.
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
    Ablations (Table 2 and the rebuttal): use_ttr, use_ste, ste_time, ste_freq, use_self,
        use_cross, plain_aggregation (uniform mean of the projected inputs instead of learned
        weights), conv_difference.
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
    ste_freq_mode: str = "roundtrip"
    conv_difference: bool = True
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
        problems: list[str] = []
        if self.seq_len < 2:
            problems.append(f"seq_len must be >= 2, got {self.seq_len}")
        if self.seq_len % 2:
            problems.append(f"seq_len must be even (Algorithm 1 halves it), got {self.seq_len}")
        if self.num_fragments < 1 or self.seq_len % self.num_fragments:
            problems.append(
                f"num_fragments={self.num_fragments} must be >= 1 and divide seq_len={self.seq_len}"
            )
        if self.ttr_mode not in TTR_MODES:
            problems.append(f"ttr_mode must be one of {TTR_MODES}, got {self.ttr_mode!r}")
        if self.ste_freq_mode not in STE_FREQ_MODES:
            problems.append(f"ste_freq_mode must be one of {STE_FREQ_MODES}, got {self.ste_freq_mode!r}")
        if self.output not in OUTPUT_MODES:
            problems.append(f"output must be one of {OUTPUT_MODES}, got {self.output!r}")
        if self.window_reduce not in WINDOW_REDUCE_MODES:
            problems.append(f"window_reduce must be one of {WINDOW_REDUCE_MODES}, got {self.window_reduce!r}")
        if self.ste_conv_kernel < 1 or self.ste_conv_kernel % 2 == 0:
            problems.append(f"ste_conv_kernel must be odd and >= 1, got {self.ste_conv_kernel}")
        for name in ("feat_dim", "ttr_hidden", "ttr_layers", "ste_hidden", "ste_layers",
                     "part_hidden", "part_layers", "integration_dim", "attention_dim",
                     "attention_layers", "regressor_iterations"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.self_repeats < 1:
            problems.append(f"self_repeats (N) must be >= 1, got {self.self_repeats}")
        if not 0.0 <= self.regressor_dropout < 1.0:
            problems.append(f"regressor_dropout must be in [0, 1), got {self.regressor_dropout}")
        if self.use_ste and not (self.ste_time or self.ste_freq):
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
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown STRConfig keys: {unknown}; known keys: {sorted(known)}")
        return cls(**data)

    def replace(self, **changes: Any) -> STRConfig:
        """A copy with some fields changed (validated)."""
        return STRConfig.from_dict({**self.to_dict(), **changes})
