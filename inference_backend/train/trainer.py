"""STR training loop (TCMR's recipe, facts §3.4-§3.6), single process or torchrun DDP.

Per step: a mixed batch (2D-only windows first, then 3D windows) -> STRNet(is_train=True) ->
the main middle-frame prediction plus the auxiliary part predictions -> SMPL joints and their
projection -> TCMR loss against the middle frame's labels -> Adam. After every epoch
(``iters_per_epoch`` steps): validation PA-MPJPE (rank 0) -> ReduceLROnPlateau, a resumable
``checkpoint.pt`` and, when it improved, ``model_best.pt``. ``max_steps`` stops early (counted
in global steps, so a resumed run stops at the same place as an uninterrupted one) and saves a
checkpoint there. Resuming restores model, optimizer, scheduler, AMP scaler, step/epoch/iteration,
the data-order state and the torch RNG, so the following losses are identical.

Output directory (rank 0 only): checkpoint.pt, model_best.pt, scalars.jsonl, scalars.csv,
tb/events.out.tfevents.*, train_config.json.
"""

from __future__ import annotations

import json
import math
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..device import resolve_device
from .datasets import ConcatWindows, MixedBatches, build_windows
from .distributed import (
    DistInfo,
    all_reduce_mean,
    all_reduce_sum,
    barrier,
    broadcast_float,
    init_distributed,
    shutdown,
)
from .evaluation import evaluate_windows
from .logging_utils import ProgressBar, TrainLogger
from .losses import combine_terms, loss_terms, term_values
from .smpl_head import predictions_to_keypoints, stack_predictions
from .train_config import TrainConfig

CHECKPOINT_NAME = "checkpoint.pt"
BEST_NAME = "model_best.pt"


@dataclass(frozen=True)
class RunOptions:
    """Command-line level choices. device: auto | cpu | cuda."""

    db_dir: Path
    out_dir: Path
    max_steps: int | None = None
    resume: Path | None = None
    device: str = "auto"
    smpl_dir: Path | None = None
    progress: bool = True
    #: Used when neither --smpl-dir nor the config names one ($STR_MOCAP_SMPL_DIR, read by the CLI).
    fallback_smpl_dir: Path | None = None


@dataclass
class TrainSummary:
    losses: list[float]
    steps: int
    best_pa_mpjpe: float
    seconds: float

    def final_line(self) -> str:
        n = len(self.losses)
        k = max(1, min(10, n // 4)) if n else 1
        first = self.losses[0] if n else float("nan")
        last = self.losses[-1] if n else float("nan")
        fm = float(np.mean(self.losses[:k])) if n else float("nan")
        lm = float(np.mean(self.losses[-k:])) if n else float("nan")
        return (f"first_loss={first:.6f} last_loss={last:.6f} first_mean{k}={fm:.6f} "
                f"last_mean{k}={lm:.6f} steps={self.steps}")


def load_spin_regressor(model: torch.nn.Module, path: Path) -> list[str]:
    """Initialise ``model.regressor`` from SPIN's checkpoint by key name (strict=False), through
    the model package's safe loader (``torch.load(weights_only=True)``). Returns loaded keys."""
    from ..models.checkpoint import load_spin_state, load_spin_weights

    reports = load_spin_weights(load_spin_state(path), regressor=model.regressor)  # type: ignore[arg-type]
    return list(reports["regressor"].loaded)


def _smpl_dir(opts: RunOptions, cfg: TrainConfig) -> Path | None:
    """--smpl-dir, else the config's smpl_dir (relative to the db dir), else the fallback
    ($STR_MOCAP_SMPL_DIR, read by the command line)."""
    if opts.smpl_dir is not None:
        return opts.smpl_dir
    if cfg.smpl_dir:
        p = Path(cfg.smpl_dir)
        return p if p.is_absolute() else opts.db_dir / p
    return opts.fallback_smpl_dir


def _mean_params_file(opts: RunOptions, cfg: TrainConfig) -> Path | None:
    """SPIN's smpl_mean_params.npz in the SMPL folder (the regressor's starting point)."""
    d = _smpl_dir(opts, cfg)
    if d is None or not (d / "smpl_mean_params.npz").is_file():
        return None
    return d / "smpl_mean_params.npz"


def _to_device(batch: dict[str, np.ndarray], device: torch.device, mid: int) -> dict[str, torch.Tensor]:
    keys = ("kp_2d", "kp_3d", "theta", "w_3d", "w_smpl")
    return {k: torch.from_numpy(np.ascontiguousarray(batch[k][:, mid])).to(device) for k in keys}


class Trainer:
    """Builds data, model, optimizer from a :class:`TrainConfig`; ``run()`` trains."""

    def __init__(self, cfg: TrainConfig, opts: RunOptions, *, build_model: Any, make_body: Any,
                 save_model_checkpoint: Any) -> None:
        self.cfg, self.opts = cfg, opts
        self.device = torch.device(resolve_device(opts.device))
        self.dist: DistInfo = init_distributed(self.device.type)
        if self.device.type == "cuda" and self.dist.enabled:
            self.device = torch.device("cuda", self.dist.local_rank)
        o = cfg.optim
        torch.manual_seed(o.seed + self.dist.rank)
        self.world = self.dist.world_size
        self.save_model_checkpoint = save_model_checkpoint
        self.model = build_model(cfg.model).to(self.device)
        self.seqlen = int(self.model.config.seq_len)
        if self.seqlen != cfg.data.seqlen:
            raise ValueError(f"model seq_len {self.seqlen} != data seqlen {cfg.data.seqlen}")
        mean_params = _mean_params_file(opts, cfg)
        if mean_params is not None and opts.resume is None:
            from ..models.regressor import load_mean_params

            self.model.regressor.set_mean_params(load_mean_params(mean_params))  # type: ignore[operator]
        if o.spin_checkpoint and opts.resume is None:
            spin = Path(o.spin_checkpoint)
            if not spin.is_absolute():
                spin = opts.db_dir / spin
            load_spin_regressor(self.model, spin)
        smpl_dir = _smpl_dir(opts, cfg)
        self.body, self.j_reg_h36m = make_body(smpl_dir, self.device)
        self.ddp_model: torch.nn.Module = self.model
        if self.dist.enabled:
            self.ddp_model = torch.nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.dist.local_rank] if self.device.type == "cuda" else None
            )
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=o.lr, weight_decay=o.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="min", factor=o.lr_factor, patience=o.lr_patience
        )
        self.use_amp = bool(o.amp and self.device.type == "cuda")
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        d = cfg.data
        data_3d = build_windows(opts.db_dir, list(d.train_3d), seqlen=d.seqlen, is_train=True)
        data_2d: ConcatWindows | None = None
        if d.train_2d:
            data_2d = build_windows(opts.db_dir, list(d.train_2d), seqlen=d.seqlen, is_train=True)
        self.batches = MixedBatches(
            data_2d, data_3d, batch_size=o.batch_size, ratio_2d=d.ratio_2d if data_2d else 0.0,
            seed=o.seed, rank=self.dist.rank, world=self.world,
        )
        self.val = None
        if d.val is not None and self.dist.is_main:
            self.val = build_windows(
                opts.db_dir, [d.val], seqlen=d.seqlen, is_train=False, match_vibe=d.val_match_vibe
            ).parts[0]
        self.step = 0
        self.epoch = 0
        self.iter_in_epoch = 0
        self.best = math.inf
        self.epoch_losses: list[float] = []
        if opts.resume is not None:
            self._load_resume(opts.resume)

    # ---- checkpoints -------------------------------------------------------------------
    def _train_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "iter_in_epoch": self.iter_in_epoch,
            "best_pa_mpjpe": self.best,
            "epoch_losses": list(self.epoch_losses),
            "data_state": self.batches.state(),
            "rng_cpu": torch.get_rng_state(),
            "train_config": self.cfg.to_dict(),
            "world_size": self.world,
        }
        if torch.cuda.is_available() and self.device.type == "cuda":
            state["rng_cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def _save(self, name: str, with_state: bool) -> Path:
        path = self.opts.out_dir / name
        meta = {"step": self.step, "epoch": self.epoch, "best_pa_mpjpe": self.best,
                "trained_with": self.cfg.name}
        extra = {"train_state": self._train_state()} if with_state else None
        self.save_model_checkpoint(path, self.model, meta, extra)
        return path

    def _load_resume(self, path: Path) -> None:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        if "train_state" not in ckpt:
            raise ValueError(f"{path} has no training state (is it a model_best.pt? resume from "
                             f"{CHECKPOINT_NAME})")
        self.model.load_state_dict(ckpt["model"])
        st = ckpt["train_state"]
        if int(st.get("world_size", 1)) != self.world:
            warnings.warn(
                f"resuming a {st.get('world_size')}-process run with {self.world} processes: the "
                "global batches are the same, but the random state (dropout) is not restored",
                stacklevel=2,
            )
        self.optimizer.load_state_dict(st["optimizer"])
        self.scheduler.load_state_dict(st["scheduler"])
        self.scaler.load_state_dict(st["scaler"])
        self.step, self.epoch = int(st["step"]), int(st["epoch"])
        self.iter_in_epoch = int(st["iter_in_epoch"])
        self.best = float(st["best_pa_mpjpe"])
        self.epoch_losses = [float(x) for x in st["epoch_losses"]]
        self.batches.load_state({k: [int(x) for x in v] for k, v in st["data_state"].items()})
        if self.dist.world_size == int(st.get("world_size", 1)):
            torch.set_rng_state(st["rng_cpu"])
            if "rng_cuda" in st and self.device.type == "cuda":
                torch.cuda.set_rng_state(st["rng_cuda"], self.device)

    # ---- one step ------------------------------------------------------------------------
    def train_step(self) -> tuple[float, dict[str, float]]:
        """One optimisation step on the global batch.

        Every process computes the sums and element counts of the four loss terms on its share;
        the counts are summed over processes and each process's loss is
        ``world * sum_i w_i * sums_i / global_count_i``, so DDP's gradient average is exactly the
        gradient of the one-process loss on the whole global batch (shares may differ by one
        window). A process whose share is empty runs a zero-weighted placeholder window so that
        DDP's collective calls still match."""
        self.ddp_model.train()
        batch, n_2d = self.batches.next()
        empty = len(batch["features"]) == 0
        if empty:
            batch, n_2d = {k: np.zeros((1, *v.shape[1:]), v.dtype) for k, v in batch.items()}, 0
        mid = self.seqlen // 2
        feats = torch.from_numpy(batch["features"]).to(self.device)
        target = _to_device(batch, self.device, mid)
        with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.use_amp):
            out = self.ddp_model(feats, is_train=True)
        rows = stack_predictions(out, mid)
        pred = predictions_to_keypoints(rows, self.body)
        sums, counts = loss_terms(pred, target, n_2d, self.cfg.loss)
        if empty:
            sums, counts = sums * 0.0, counts * 0.0
        parts = term_values(sums, counts)
        if self.dist.enabled:
            global_counts = all_reduce_sum(counts, self.dist)
            loss = combine_terms(sums, global_counts, self.cfg.loss) * self.world
        else:
            loss = combine_terms(sums, counts, self.cfg.loss)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {float(loss)} at step {self.step + 1}")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.cfg.optim.grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optim.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        mean_loss = float(all_reduce_mean(loss.detach(), self.dist))
        return mean_loss, parts

    def validate(self) -> dict[str, float]:
        if self.val is None:
            return {}
        res = evaluate_windows(
            self.model, self.val, self.body, self.j_reg_h36m, self.device,
            batch_windows=self.cfg.optim.val_batch_windows,
        )
        return res.metrics

    # ---- loop ----------------------------------------------------------------------------
    def run(self) -> TrainSummary:
        o = self.cfg.optim
        total = o.epochs * o.iters_per_epoch
        stop_at = min(total, self.opts.max_steps) if self.opts.max_steps else total
        main = self.dist.is_main
        logger = TrainLogger(self.opts.out_dir) if main else None
        if main:
            self.opts.out_dir.mkdir(parents=True, exist_ok=True)
            (self.opts.out_dir / "train_config.json").write_text(
                json.dumps(self.cfg.to_dict(), indent=2), encoding="utf-8"
            )
        bar = ProgressBar(stop_at) if (main and self.opts.progress) else None
        losses: list[float] = []
        t0 = time.monotonic()
        try:
            while self.step < stop_at:
                loss, parts = self.train_step()
                self.step += 1
                self.iter_in_epoch += 1
                losses.append(loss)
                self.epoch_losses.append(loss)
                lr = self.optimizer.param_groups[0]["lr"]
                if logger and (self.step % o.log_every == 0 or self.step == 1):
                    logger.scalars(self.step, {"train/loss": loss, "train/lr": lr,
                                               **{f"train/{k}": v for k, v in parts.items()}})
                if bar:
                    bar.update(self.step, f"epoch {self.epoch + 1}/{o.epochs} loss {loss:.4f}")
                if self.iter_in_epoch >= o.iters_per_epoch:
                    self._end_epoch(logger)
                elif self.step >= stop_at and main:
                    self._save(CHECKPOINT_NAME, with_state=True)
            barrier(self.dist)
        finally:
            if bar:
                bar.close()
            if logger:
                logger.close()
        summary = TrainSummary(losses, self.step, self.best, time.monotonic() - t0)
        shutdown(self.dist)
        return summary

    def _end_epoch(self, logger: TrainLogger | None) -> None:
        metrics = self.validate() if self.dist.is_main else {}
        train_mean = float(np.mean(self.epoch_losses)) if self.epoch_losses else math.inf
        monitor = metrics.get("pa_mpjpe", train_mean) if self.dist.is_main else 0.0
        monitor = broadcast_float(monitor, self.dist, self.device)
        self.scheduler.step(monitor)
        self.epoch += 1
        self.iter_in_epoch = 0
        self.epoch_losses = []
        improved = monitor < self.best
        if improved:
            self.best = monitor
        if self.dist.is_main:
            if logger:
                logger.scalars(self.step, {"epoch/train_loss": train_mean,
                                           **{f"val/{k}": v for k, v in metrics.items()},
                                           "epoch/monitor": monitor})
            msg = " ".join(f"{k}={v:.2f}" for k, v in metrics.items())
            print(f"epoch {self.epoch}: train_loss={train_mean:.4f} {msg}", file=sys.stderr)
            if improved:
                self._save(BEST_NAME, with_state=False)
            self._save(CHECKPOINT_NAME, with_state=True)
        barrier(self.dist)
