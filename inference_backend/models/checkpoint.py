"""Safe checkpoint I/O for STR and SPIN weights (never unpickles code).

Every read goes through ``torch.load(weights_only=True)``: tensors, plain containers and
numbers only; a file whose pickle asks to build other objects (a ``__reduce__`` payload) is
refused by torch and reported as a :class:`CheckpointError` -- nothing in it runs. The only
additions to torch's allow-list, active just for the duration of one read, are numeric numpy
scalars and dtypes (TCMR's and VIBE's trainers store ``'performance'`` as a numpy float):
``numpy.dtype`` and ``numpy.core.multiarray.scalar`` wrapped so that they build numeric
(bool/int/uint/float/complex) values only, and numpy's numeric dtype classes. Object, string,
void and datetime dtypes, numpy arrays and everything else stay refused.

STR checkpoint format (one ``.pt`` file, written atomically):
    {"config": STRConfig.to_dict(), "model": STRNet state_dict (+ "backbone."-prefixed ResNet-50
     keys when the backbone is bundled), "meta": {"format": "str-mocap-str", "version": 1, ...}}
SPIN checkpoint: SPIN's ``model_checkpoint.pt`` (a dict whose "model" holds the HMR state dict),
VIBE/TCMR's renamed copy, or a bare state dict. Loaded by key name with a report.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..atomic_io import atomic_write
from ..errors import CaptureError, ExitCode
from .config import STRConfig
from .param_count import check_model_size
from .str_net import STRNet

FORMAT_NAME = "str-mocap-str"
FORMAT_VERSION = 1
BACKBONE_PREFIX = "backbone."


class CheckpointError(CaptureError):
    """A checkpoint that is missing, unsafe, malformed or does not fit the model."""

    def __init__(self, message: str) -> None:
        super().__init__(ExitCode.MODEL_PROBLEM, message)


@dataclass(frozen=True)
class LoadReport:
    """What a by-key-name load did: loaded keys, keys the model lacks in the file (missing),
    keys of the file the model does not have (unexpected)."""

    loaded: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def summary(self) -> str:
        def few(keys: tuple[str, ...]) -> str:
            shown = ", ".join(keys[:6])
            return shown + (f", ... (+{len(keys) - 6})" if len(keys) > 6 else "")

        parts = [f"loaded {len(self.loaded)} tensors"]
        if self.missing:
            parts.append(f"missing {len(self.missing)}: {few(self.missing)}")
        if self.unexpected:
            parts.append(f"unexpected {len(self.unexpected)}: {few(self.unexpected)}")
        return "; ".join(parts + list(self.notes))


NUMERIC_KINDS = "biufc"  # bool, int, uint, float, complex


def _numeric_dtype(spec: Any, align: bool = False, copy: bool = True) -> np.dtype:
    """``numpy.dtype`` as the pickle calls it, for numeric dtypes only."""
    dtype = np.dtype(spec, align, copy)
    if dtype.kind not in NUMERIC_KINDS:
        raise pickle.UnpicklingError(f"unsupported GLOBAL numpy.dtype({spec!r}): not numeric")
    return dtype


def _numeric_scalar(dtype: Any, data: Any = None) -> Any:
    """``numpy.core.multiarray.scalar(dtype, bytes)`` for numeric dtypes only."""
    if not isinstance(dtype, np.dtype) or dtype.kind not in NUMERIC_KINDS or not isinstance(data, bytes):
        raise pickle.UnpicklingError("unsupported GLOBAL numpy scalar: not a numeric value")
    return _numpy_scalar_constructor()(dtype, data)


def _numpy_scalar_constructor() -> Any:
    """numpy's own scalar constructor (numpy 2 moved numpy.core to numpy._core)."""
    try:
        from numpy._core.multiarray import scalar  # type: ignore[import-not-found,attr-defined]
    except ImportError:
        from numpy.core.multiarray import scalar  # type: ignore[no-redef,attr-defined]
    return scalar


def _numpy_numeric_globals() -> list[Any]:
    dtype_classes = {type(np.dtype(code))
                     for code in np.typecodes["AllInteger"] + np.typecodes["AllFloat"] + "?"}
    return [
        (_numeric_dtype, "numpy.dtype"),
        (_numeric_scalar, "numpy.core.multiarray.scalar"),
        (_numeric_scalar, "numpy._core.multiarray.scalar"),
        *sorted(dtype_classes, key=str),
    ]


@contextmanager
def _numpy_scalars_allowed() -> Iterator[None]:
    """torch's weights-only allow-list plus numeric numpy scalars, for this block only."""
    with torch.serialization.safe_globals(_numpy_numeric_globals()):
        yield


def safe_torch_load(path: Path | str) -> Any:
    """``torch.load(path, weights_only=True)`` on CPU with clear errors (missing, empty, unsafe,
    corrupt). Numeric numpy scalars (TCMR/VIBE ``performance``) are accepted, nothing else."""
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"checkpoint not found: {p}")
    if not p.is_file():
        raise CheckpointError(f"checkpoint path is not a file: {p}")
    size = p.stat().st_size
    if size == 0:
        raise CheckpointError(
            f"checkpoint {p} is empty (0 bytes): the download, copy or training run that wrote it "
            "did not finish; get the file again"
        )
    try:
        with _numpy_scalars_allowed():
            return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"(Unsupported global: GLOBAL [\w.]+|unsupported GLOBAL [\w.]+[^:\n]*)",
                          str(exc))
        if found is None:
            raise CheckpointError(
                f"cannot read checkpoint {p} ({size:,} bytes): not a PyTorch weights file "
                f"({_first_line(exc)})"
            ) from exc
        raise CheckpointError(
            f"refused to load {p}: it contains Python objects other than tensors (possibly "
            f"malicious code); only weights-only checkpoints are accepted ({found.group(0)})"
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"cannot read checkpoint {p} ({size:,} bytes): {_first_line(exc)} -- the file is "
            "truncated, corrupt or not a PyTorch file"
        ) from exc


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its type name when the message is empty."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _state_dict_from(obj: Any, source: str) -> dict[str, torch.Tensor]:
    """dict['model'] / dict['gen_state_dict'] / dict['state_dict'] / a bare state dict."""
    if isinstance(obj, Mapping):
        for key in ("model", "gen_state_dict", "state_dict"):
            inner = obj.get(key)
            if isinstance(inner, Mapping):
                obj = inner
                break
        tensors = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
        if tensors:
            return tensors
    raise CheckpointError(f"{source} holds no state dict (expected tensors by name)")


def load_by_key_name(module: nn.Module, state: Mapping[str, torch.Tensor], prefix: str = "",
                     strict: bool = False, what: str = "model") -> LoadReport:
    """Copy tensors whose names (after removing ``prefix``) match ``module``'s state dict.

    A shape mismatch is always an error (the file belongs to a different architecture/config);
    with ``strict`` missing or unexpected keys are errors too.
    """
    wanted = module.state_dict()
    selected = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    mismatched = [f"{k}: file {tuple(v.shape)} vs model {tuple(wanted[k].shape)}"
                  for k, v in selected.items() if k in wanted and wanted[k].shape != v.shape]
    if mismatched:
        raise CheckpointError(
            f"{what}: {len(mismatched)} tensors have the wrong shape (checkpoint made for another "
            f"configuration?): " + "; ".join(mismatched[:5])
        )
    usable = {k: v for k, v in selected.items() if k in wanted}
    missing = tuple(sorted(k for k in wanted if k not in usable))
    unexpected = tuple(sorted(k for k in selected if k not in wanted))
    if strict and (missing or unexpected):
        raise CheckpointError(
            f"{what}: checkpoint does not match the model: "
            + LoadReport(tuple(usable), missing, unexpected).summary()
        )
    module.load_state_dict(usable, strict=False)
    return LoadReport(tuple(sorted(usable)), missing, unexpected)


def _atomic_torch_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as handle:
        torch.save(obj, handle)


def save_str_checkpoint(path: Path | str, model: STRNet, backbone: nn.Module | None = None,
                        meta: Mapping[str, Any] | None = None) -> Path:
    """Write {"config", "model", "meta"} atomically; ``backbone`` weights go in with prefix."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if backbone is not None:
        state.update({BACKBONE_PREFIX + k: v.detach().cpu()
                      for k, v in backbone.state_dict().items()})
    info = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "torch": str(torch.__version__),
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "has_backbone": backbone is not None}
    info.update(dict(meta or {}))
    out = Path(path)
    _atomic_torch_save({"config": model.config.to_dict(), "model": state, "meta": info}, out)
    return out


@dataclass(frozen=True)
class LoadedSTR:
    """Result of :func:`load_str_checkpoint`: the model (eval mode), the backbone state found in
    the file (``backbone.`` keys, prefix removed; empty if none), meta and the load report."""

    model: STRNet
    backbone_state: dict[str, torch.Tensor]
    meta: dict[str, Any]
    report: LoadReport


def _not_str_message(path: Path | str, obj: Any) -> str:
    """Why ``obj`` is not an STR checkpoint, naming what it looks like and what to do."""
    how = ("STR checkpoints are written by `python -m inference_backend train` (model_best.pt, "
           "checkpoint.pt) and hold 'config', 'model' and 'meta'")
    if isinstance(obj, Mapping):
        keys = sorted(str(k) for k in obj)
        inner = obj.get("model")
        if "gen_state_dict" in obj:
            return (f"{path} is a TCMR/VIBE training checkpoint (keys {keys}), a different network "
                    f"than STR; {how}")
        if isinstance(inner, Mapping) and any(str(k).startswith(("conv1.", "layer1.", "fc1."))
                                              for k in inner):
            return (f"{path} is a SPIN checkpoint (ResNet-50 + regressor). STR uses SPIN weights "
                    "only for its backbone: set STR_MOCAP_SPIN_CHECKPOINT to this file or put it "
                    f"as spin_model_checkpoint.pth.tar in the SMPL folder (--smpl-dir); {how}")
        if keys and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return (f"{path} is a bare state dict ({len(keys)} tensors) without the stored "
                    f"network configuration; {how}")
        return f"{path} is not an STR checkpoint (top-level keys {keys[:10]}); {how}"
    return f"{path} is not an STR checkpoint (it holds a {type(obj).__name__}); {how}"


def load_str_checkpoint(path: Path | str, strict: bool = True) -> LoadedSTR:
    """Build STRNet from the stored config and load its weights by key name.

    The stored config is validated (types, per-field bounds, total parameter count) before the
    model is built, so a crafted file cannot make this allocate absurd amounts of memory."""
    obj = safe_torch_load(path)
    if not isinstance(obj, Mapping) or "config" not in obj or "model" not in obj:
        raise CheckpointError(_not_str_message(path, obj))
    try:
        cfg = STRConfig.from_dict(obj["config"] if isinstance(obj["config"], dict)
                                  else dict(obj["config"]))
        check_model_size(cfg)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: invalid stored config: {exc}") from exc
    state = _state_dict_from(obj["model"], str(path))
    model_state = {k: v for k, v in state.items() if not k.startswith(BACKBONE_PREFIX)}
    backbone_state = {k[len(BACKBONE_PREFIX):]: v for k, v in state.items()
                      if k.startswith(BACKBONE_PREFIX)}
    model = STRNet(cfg)
    report = load_by_key_name(model, model_state, strict=strict, what=f"STR checkpoint {path}")
    model.eval()
    meta = dict(obj.get("meta") or {})
    return LoadedSTR(model, backbone_state, meta, report)


def load_spin_state(path: Path | str) -> dict[str, torch.Tensor]:
    """SPIN/VIBE/TCMR checkpoint -> its HMR state dict (``model`` entry or bare dict)."""
    return _state_dict_from(safe_torch_load(path), str(path))


def load_spin_weights(state: Mapping[str, torch.Tensor], backbone: nn.Module | None = None,
                      regressor: nn.Module | None = None) -> dict[str, LoadReport]:
    """Load SPIN's backbone and/or regressor tensors by key name (strict=False, with reports).

    SPIN's HMR keeps both in one flat namespace; keys of the other part are not counted as
    unexpected. A regressor state in TCMR's layout (``regressor.`` prefix) is accepted too.
    """
    reports: dict[str, LoadReport] = {}
    regressor_names = ("fc1.", "fc2.", "decpose.", "decshape.", "deccam.", "init_")
    if backbone is not None:
        own = {k: v for k, v in state.items() if not k.startswith(regressor_names + ("regressor.",))}
        reports["backbone"] = load_by_key_name(backbone, own, what="SPIN backbone")
    if regressor is not None:
        prefix = "regressor." if any(k.startswith("regressor.fc1.") for k in state) else ""
        own = {k: v for k, v in state.items()
               if k[len(prefix):].startswith(regressor_names) and k.startswith(prefix)}
        reports["regressor"] = load_by_key_name(regressor, own, prefix=prefix,
                                                what="SPIN regressor")
    return reports
