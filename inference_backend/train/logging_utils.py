"""Training logs a user can follow: a progress line on stderr, JSONL + CSV scalar logs and
TensorBoard event files (see :mod:`.tf_events`). Only rank 0 creates a :class:`TrainLogger`."""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path
from typing import TextIO

from .tf_events import EventWriter


class ProgressBar:
    """``[#####.....] 120/500 epoch 3/30 loss 1.234`` on stderr; redrawn in place on a TTY,
    otherwise printed every ``every`` steps."""

    def __init__(self, total: int, stream: TextIO | None = None, every: int = 50) -> None:
        self.total = max(1, total)
        self.stream = stream or sys.stderr
        self.every = every
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.monotonic()

    def update(self, done: int, text: str) -> None:
        if not self.tty and done % self.every and done != self.total:
            return
        frac = min(1.0, done / self.total)
        bar = "#" * int(30 * frac) + "." * (30 - int(30 * frac))
        elapsed = time.monotonic() - self.start
        eta = elapsed / max(frac, 1e-9) - elapsed if done else 0.0
        line = f"[{bar}] {done}/{self.total} {text} {elapsed:.0f}s eta {eta:.0f}s"
        if self.tty:
            self.stream.write("\r" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


class TrainLogger:
    """Writes every scalar to ``scalars.jsonl``, ``scalars.csv`` (step, tag, value) and a
    TensorBoard event file under ``<out>/tb``."""

    def __init__(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self._jsonl = open(out_dir / "scalars.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        csv_path = out_dir / "scalars.csv"
        new = not csv_path.exists()
        self._csv_fh = open(csv_path, "a", encoding="utf-8", newline="")  # noqa: SIM115
        self._csv = csv.writer(self._csv_fh)
        if new:
            self._csv.writerow(["step", "tag", "value", "wall_time"])
        self._events = EventWriter(out_dir / "tb")

    def scalars(self, step: int, values: dict[str, float]) -> None:
        now = time.time()
        self._jsonl.write(json.dumps({"step": step, "time": now, **values}) + "\n")
        self._jsonl.flush()
        for tag, value in values.items():
            self._csv.writerow([step, tag, f"{value:.8g}", f"{now:.3f}"])
        self._csv_fh.flush()
        self._events.add_scalars(step, values)

    def close(self) -> None:
        self._jsonl.close()
        self._csv_fh.close()
        self._events.close()
