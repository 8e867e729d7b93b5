"""torchrun with two CPU processes (gloo DDP) trains like one process (same global batch), also
when the global batch does not split evenly (11 = 6 2D + 5 3D windows -> 3 + 3 and 3 + 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _train_helpers import (  # noqa: E402
    PYTHON,
    REPO,
    parse_final_line,
    subprocess_env,
    tiny_config,
    write_config,
    write_tiny_db,
)

STEPS = 32


@pytest.fixture(scope="module")
def tiny_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_db(tmp_path_factory.mktemp("ddpdb"), sequences=4, frames=32)


def _train(cmd_prefix: list[str], cfg: Path, db: Path, out: Path,
           steps: int = STEPS) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*cmd_prefix, "-m", "inference_backend", "train", "--config", str(cfg), "--db", str(db),
         "--out", str(out), "--max-steps", str(steps), "--device", "cpu", "--no-progress"],
        cwd=REPO, env=subprocess_env(threads=1), capture_output=True, text=True, timeout=600,
    )


def test_two_process_gloo_matches_one_process_curve(tiny_db: Path, tmp_path: Path) -> None:
    raw = tiny_config(iters_per_epoch=16, batch_size=11)
    raw["data"]["ratio_2d"] = 0.6  # int(11 * 0.6) = 6 2D + 5 3D, as one process would take
    cfg = write_config(tmp_path / "tiny.json", raw)
    single = _train([PYTHON], cfg, tiny_db, tmp_path / "one")
    assert single.returncode == 0, single.stderr
    ddp = _train([PYTHON, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"],
                 cfg, tiny_db, tmp_path / "two")
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    one, two = parse_final_line(single.stdout), parse_final_line(ddp.stdout)
    print(f"\n1 process: {one}\n2 processes: {two}")
    # only rank 0 prints the summary and writes files
    assert ddp.stdout.count("first_loss=") == 1
    assert (tmp_path / "two" / "checkpoint.pt").is_file()
    assert len(list((tmp_path / "two" / "tb").iterdir())) == 1
    k = "mean8"
    first1, last1 = one[f"first_{k}"], one[f"last_{k}"]
    first2, last2 = two[f"first_{k}"], two[f"last_{k}"]
    assert last1 < 0.8 * first1 and last2 < 0.8 * first2
    # The values agree: rank r takes every 2nd window of the same global 2D and 3D batches, so
    # the two shares together are the one-process batch; each rank divides its loss sums by
    # the global element counts, so DDP's gradient average is the one-process gradient (the
    # tiny config has no dropout). Only float summation order differs.
    ratio1, ratio2 = last1 / first1, last2 / first2
    assert ratio1 == pytest.approx(ratio2, rel=1e-4)
    assert one["first_loss"] == pytest.approx(two["first_loss"], rel=1e-5)
    assert one["last_loss"] == pytest.approx(two["last_loss"], rel=1e-4)


def test_a_process_with_an_empty_share_keeps_ddp_in_step(tiny_db: Path, tmp_path: Path) -> None:
    """Global batch 1 over 2 processes: rank 1 never has a window. It runs a zero-weighted
    placeholder so DDP's collectives match, and the curve is the one-process batch-1 curve."""
    raw = tiny_config(iters_per_epoch=16, batch_size=1)
    raw["data"]["train_2d"] = []
    cfg = write_config(tmp_path / "one.json", raw)
    single = _train([PYTHON], cfg, tiny_db, tmp_path / "one", steps=6)
    assert single.returncode == 0, single.stderr[-3000:]
    ddp = _train([PYTHON, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"],
                 cfg, tiny_db, tmp_path / "two", steps=6)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    one, two = parse_final_line(single.stdout), parse_final_line(ddp.stdout)
    assert one["first_loss"] == pytest.approx(two["first_loss"], rel=1e-5)
    assert one["last_loss"] == pytest.approx(two["last_loss"], rel=1e-4)
