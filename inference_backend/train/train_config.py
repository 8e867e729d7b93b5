"""Frozen training configuration, read from the shipped JSON configs (``inference_backend/
configs/*.json``) or a user's file. Unknown keys are errors (a typo must not be ignored)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

from .datasets import DatasetSpec
from .losses import LossWeights


@dataclass(frozen=True)
class DataConfig:
    """train_2d / train_3d: the two mixed loaders; val: the validation set (PA-MPJPE drives the
    LR schedule and best-model choice); ratio_2d: share of 2D-only samples per batch."""

    train_3d: tuple[DatasetSpec, ...]
    train_2d: tuple[DatasetSpec, ...] = ()
    val: DatasetSpec | None = None
    seqlen: int = 16
    ratio_2d: float = 0.6
    val_match_vibe: bool = True


@dataclass(frozen=True)
class OptimConfig:
    """TCMR schedule: Adam lr 5e-5 wd 0, ReduceLROnPlateau(min, x0.1, patience 5) on val
    PA-MPJPE, 30 epochs x 500 iterations, batch 32 (global, split over torchrun processes),
    fp32 (the paper and TCMR train in fp32; ``amp`` switches on float16 autocast on CUDA)."""

    batch_size: int = 32
    lr: float = 5e-5
    weight_decay: float = 0.0
    epochs: int = 30
    iters_per_epoch: int = 500
    lr_factor: float = 0.1
    lr_patience: int = 5
    seed: int = 1
    amp: bool = False  # fp32 like the paper and TCMR; True = float16 autocast (CUDA only)
    spin_checkpoint: str | None = None
    val_batch_windows: int = 64
    log_every: int = 10
    grad_clip: float | None = None


@dataclass(frozen=True)
class TrainConfig:
    model: dict[str, Any]
    data: DataConfig
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    smpl_dir: str | None = None  # relative paths are relative to the db dir
    name: str = "str"
    about: str = ""  # what the recipe reproduces (shipped configs name the paper's table row)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))


def _strict(cls: type, data: dict[str, Any], where: str) -> dict[str, Any]:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; known: {sorted(known)}")
    return data


def _spec(d: dict[str, Any], where: str) -> DatasetSpec:
    return DatasetSpec(**_strict(DatasetSpec, d, where))


def config_from_dict(raw: dict[str, Any]) -> TrainConfig:
    _strict(TrainConfig, raw, "config")
    d = dict(_strict(DataConfig, dict(raw["data"]), "config.data"))
    data = DataConfig(
        train_3d=tuple(_spec(s, "config.data.train_3d") for s in d.pop("train_3d")),
        train_2d=tuple(_spec(s, "config.data.train_2d") for s in d.pop("train_2d", [])),
        val=_spec(d.pop("val"), "config.data.val") if d.get("val") else None,
        **{k: v for k, v in d.items() if k != "val"},
    )
    optim = OptimConfig(**_strict(OptimConfig, raw.get("optim", {}), "config.optim"))
    loss = LossWeights(**_strict(LossWeights, raw.get("loss", {}), "config.loss"))
    return TrainConfig(
        model=dict(raw.get("model", {})), data=data, optim=optim, loss=loss,
        smpl_dir=raw.get("smpl_dir"), name=raw.get("name", "str"), about=raw.get("about", ""),
    )


def with_model_overrides(cfg: TrainConfig, assignments: list[str]) -> TrainConfig:
    """Apply ``KEY=VALUE`` overrides of STRConfig fields (``--set use_ttr=false``). VALUE is
    JSON (true/false, numbers, "strings"); a bare word is taken as a string. The result is
    validated by building the STRConfig."""
    from ..models.config import STRConfig

    model = dict(cfg.model)
    for item in assignments:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        model[key.strip()] = value
    STRConfig.from_dict(model)  # unknown keys / bad values -> ValueError
    return replace(cfg, model=model)


def shipped_config_names() -> list[str]:
    """Names of the configs shipped in ``inference_backend/configs``."""
    folder = resources.files("inference_backend") / "configs"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


def shipped_config_path(name: str) -> Path:
    """Path of a config shipped as package data (``str_3dpw``, ``str_synthetic``, ...)."""
    stem = name[:-5] if name.endswith(".json") else name
    return Path(str(resources.files("inference_backend") / "configs" / f"{stem}.json"))


def load_config(path_or_name: str | Path) -> TrainConfig:
    """Load a config file, or a shipped config by name (e.g. ``str_synthetic``)."""
    path = Path(path_or_name)
    if not path.is_file():
        shipped = shipped_config_path(str(path_or_name))
        if not shipped.is_file():
            raise FileNotFoundError(f"config not found: {path_or_name}")
        path = shipped
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: invalid JSON ({exc})") from exc
    return config_from_dict(raw)
