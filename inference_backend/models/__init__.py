"""STR network (temporal model + SPIN regressor), its ResNet-50 backbone, checkpoints, counts."""

from .config import STRConfig
from .str_net import STRNet

__all__ = ["STRConfig", "STRNet"]
