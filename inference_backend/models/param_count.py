"""Parameter accounting of STRNet, including the paper's convention for "127.19M".

TCMR's published 108.89M counts its temporal modules + regressor + a ResNet-50 backbone
(23,508,032) + a second SPIN regressor (3,469,469) + 5,248 smplx SMPL placeholder parameters
(batch 64 x (10 + 3 + 69)); see shared/research/hmr_family_facts.md section 3.2. We report STR
the same way so it is comparable with the paper's 127.19M.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .config import STRConfig
from .str_net import TEMPORAL_MODULES, STRNet

RESNET50_BACKBONE_PARAMS = 23_508_032
SPIN_REGRESSOR_PARAMS = 3_469_469
SMPL_PLACEHOLDER_PARAMS = 5_248
PAPER_TOTAL = 127_190_000
PAPER_TEMPORAL_ESTIMATE = PAPER_TOTAL - (
    RESNET50_BACKBONE_PARAMS + 2 * SPIN_REGRESSOR_PARAMS + SMPL_PLACEHOLDER_PARAMS
)


#: Largest STR model a configuration (e.g. one stored in a checkpoint) may ask for: 1e9
#: parameters (4 GB in fp32), ten times the paper's model. Larger is refused before allocating.
MAX_PARAMETERS = 1_000_000_000


def estimated_parameters(cfg: STRConfig) -> int:
    """Parameters STRNet(cfg) would have, counted on PyTorch's meta device (no memory used)."""
    with torch.device("meta"):
        return count_params(STRNet(cfg))


def check_model_size(cfg: STRConfig, limit: int = MAX_PARAMETERS) -> int:
    """The parameter count of ``cfg``; ValueError when it exceeds ``limit``."""
    n = estimated_parameters(cfg)
    if n > limit:
        raise ValueError(
            f"the configuration asks for {n:,} parameters ({4 * n / 1e9:.1f} GB in fp32), more "
            f"than the limit of {limit:,}; the paper's model has about 100M"
        )
    return n


def count_params(module: nn.Module | None) -> int:
    """Number of learnable parameters (buffers excluded); 0 for None."""
    return 0 if module is None else sum(p.numel() for p in module.parameters())


def parameter_report(model: STRNet) -> dict[str, Any]:
    """Counts per module and sub-module, the temporal total and the paper-convention total."""
    modules: dict[str, Any] = {}
    for name in TEMPORAL_MODULES + ("regressor",):
        module = getattr(model, name)
        entry: dict[str, Any] = {"total": count_params(module)}
        if module is not None:
            children = {child: count_params(sub) for child, sub in module.named_children()
                        if count_params(sub)}
            if len(children) > 1:
                entry["children"] = children
        modules[name] = entry
    temporal = sum(modules[n]["total"] for n in TEMPORAL_MODULES)
    regressor = modules["regressor"]["total"]
    paper = temporal + regressor + RESNET50_BACKBONE_PARAMS + SPIN_REGRESSOR_PARAMS + SMPL_PLACEHOLDER_PARAMS
    return {
        "modules": modules,
        "temporal_total": temporal,
        "str_model_total": temporal + regressor,
        "paper_convention_total": paper,
        "paper_convention_parts": {
            "temporal_modules": temporal,
            "str_regressor": regressor,
            "resnet50_backbone": RESNET50_BACKBONE_PARAMS,
            "spin_regressor": SPIN_REGRESSOR_PARAMS,
            "smpl_placeholders": SMPL_PLACEHOLDER_PARAMS,
        },
        "paper_reported_total": PAPER_TOTAL,
        "paper_temporal_estimate": PAPER_TEMPORAL_ESTIMATE,
        "relative_difference_total": round(paper / PAPER_TOTAL - 1.0, 5),
        "relative_difference_temporal": round(temporal / PAPER_TEMPORAL_ESTIMATE - 1.0, 5),
    }
