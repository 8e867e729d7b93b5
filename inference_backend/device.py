"""The one place the backend turns a ``--device`` choice into a torch device name."""

from __future__ import annotations

from .config import DEVICES
from .errors import CaptureError, ExitCode


def resolve_device(choice: str) -> str:
    """'auto' -> 'cuda' when torch sees a GPU, else 'cpu'; 'cpu' never imports torch;
    'cuda' without a GPU is a usage error (exit code 2)."""
    if choice not in DEVICES:
        raise CaptureError(ExitCode.USAGE, f"--device must be one of {DEVICES}, got {choice!r}")
    if choice == "cpu":
        return "cpu"
    try:
        import torch

        has_cuda = bool(torch.cuda.is_available())
    except ImportError:
        has_cuda = False
    if choice == "cuda" and not has_cuda:
        raise CaptureError(ExitCode.USAGE, "--device cuda requested but CUDA is not available")
    return "cuda" if has_cuda else "cpu"
