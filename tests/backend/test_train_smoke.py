"""bench/str_train_smoke.py (the one-command GPU smoke run) works end to end on CPU: full-size
model, both precision modes, JSON lines with it/s, memory and losses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _train_helpers import PYTHON, REPO, subprocess_env  # noqa: E402


@pytest.mark.slow
def test_smoke_run_on_cpu_prints_speed_memory_and_loss(tmp_path: Path) -> None:
    proc = subprocess.run(
        [PYTHON, str(REPO / "bench" / "str_train_smoke.py"), "--device", "cpu", "--steps", "1",
         "--warmup", "0", "--batch", "3", "--sequences", "2", "--frames", "20",
         "--db", str(tmp_path / "db")],
        cwd=REPO, env=subprocess_env(threads=2), capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")]
    fp32, amp, summary = lines
    assert proc.stdout.startswith("device: CPU")
    for res in (fp32, amp):
        assert res["parameters"] > 95_000_000  # the paper-size network, not a toy
        assert res["batch"] == 3 and res["steps"] == 1
        assert res["it_per_s"] > 0 and res["peak_rss_mb"] > 100 and res["losses_finite"]
    assert fp32["precision"] == "fp32" and amp["note"].startswith("AMP needs CUDA")
    assert summary["ok"] is True and "amp_speedup" in summary
    assert (tmp_path / "db" / "3dpw_train_db.npz").is_file()
