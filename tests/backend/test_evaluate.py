"""Evaluation under TCMR's protocol: an oracle scores exactly 0, known perturbations give known
errors, and the CLI chain make-synthetic-db -> train -> evaluate works end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

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

from inference_backend.train.datasets import DatasetSpec, WindowDataset, load_db  # noqa: E402
from inference_backend.train.evaluation import evaluate_windows  # noqa: E402
from inference_backend.train.losses import batch_rodrigues  # noqa: E402
from inference_backend.train.model_glue import make_body  # noqa: E402
from inference_backend.train.report_table import PAPER_STR, format_table  # noqa: E402


class Oracle(torch.nn.Module):
    """Reads the database row hidden in feature 0 of each frame and returns its GT SMPL
    parameters for the window's middle frame (a stand-in for a perfect model)."""

    def __init__(self, pose: np.ndarray, shape: np.ndarray, beta_offset: float = 0.0) -> None:
        super().__init__()
        self.pose = torch.as_tensor(pose, dtype=torch.float32)
        self.shape = torch.as_tensor(shape, dtype=torch.float32) + beta_offset

    def forward(self, features: torch.Tensor, is_train: bool = False) -> dict[str, torch.Tensor]:
        rows = features[:, features.shape[1] // 2, 0].round().long()
        rot = batch_rodrigues(self.pose[rows].reshape(-1, 3)).reshape(-1, 24, 3, 3)
        return {"rotmat": rot, "betas": self.shape[rows],
                "pred_cam": torch.tensor([[0.9, 0.0, 0.0]]).expand(len(rows), 3)}


@pytest.fixture(scope="module")
def tiny_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_db(tmp_path_factory.mktemp("evaldb"), sequences=4, frames=32)


def _indexed(db: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    db = dict(db)
    db["features"] = db["features"].copy()
    db["features"][:, 0] = np.arange(len(db["features"]))
    return db


def test_oracle_scores_zero_and_known_perturbations(tiny_db: Path) -> None:
    body, j_reg = make_body(tiny_db / "smpl", torch.device("cpu"))
    db = _indexed(load_db(tiny_db / "3dpw_test_db.npz"))
    n = len(db["features"])
    ds = WindowDataset(db, DatasetSpec("3dpw", "test"), is_train=False)
    assert len(ds) == n  # one window centred on every frame
    res = evaluate_windows(Oracle(db["pose"], db["shape"]), ds, body, j_reg, torch.device("cpu"))
    assert res.frames == n and res.sequences == 1
    for key in ("mpjpe", "pa_mpjpe", "mpvpe", "accel_err"):
        assert res.metrics[key] == pytest.approx(0.0, abs=1e-3), key
    # wrong betas change the mesh (MPVPE) and the joints, but no motion (accel error ~ 0)
    off = evaluate_windows(Oracle(db["pose"], db["shape"], beta_offset=1.0), ds, body, j_reg,
                           torch.device("cpu"))
    assert off.metrics["mpvpe"] > 1.0 and off.metrics["mpjpe"] > 0.1
    assert off.metrics["accel_err"] < 0.05 * off.metrics["mpjpe"]
    # a one-frame shift of the poses: the protocol's frame alignment must catch it
    shifted = np.roll(db["pose"], 1, axis=0)
    late = evaluate_windows(Oracle(shifted, db["shape"]), ds, body, j_reg, torch.device("cpu"))
    assert late.metrics["mpjpe"] > 1.0


def test_mpii3d_protocol_uses_17_joints_and_valid_frames(tiny_db: Path) -> None:
    body, _ = make_body(tiny_db / "smpl", torch.device("cpu"))
    src = load_db(tiny_db / "3dpw_test_db.npz")
    n = len(src["features"])
    rot = batch_rodrigues(torch.from_numpy(src["pose"]).reshape(-1, 3)).reshape(n, 24, 3, 3)
    _, j49 = body(rot, torch.from_numpy(src["shape"]))
    j49 = j49.numpy()
    valid = np.ones((n, 1))
    valid[5:9] = 0
    db = _indexed({
        "vid_name": src["vid_name"], "features": src["features"], "bbox": src["bbox"],
        "joints2D": np.zeros((n, 49, 3), np.float32),
        "joints3D": j49 - j49[:, 39:40],  # root-relative to the MPII pelvis, as the real db
        "valid_i": valid,
    })
    ds = WindowDataset(db, DatasetSpec("mpii3d", "val"), is_train=False)
    res = evaluate_windows(Oracle(src["pose"], src["shape"]), ds, body, None, torch.device("cpu"))
    assert res.frames == n - 4 and "mpvpe" not in res.metrics
    assert res.metrics["mpjpe"] == pytest.approx(0.0, abs=1e-3)
    assert res.metrics["pa_mpjpe"] == pytest.approx(0.0, abs=1e-3)


def test_table_has_paper_row() -> None:
    table = format_table([("STR (paper, Table 1)", PAPER_STR), ("mine", {"3dpw": {"mpjpe": 1.25}})])
    lines = table.splitlines()
    assert "3DPW" in lines[0] and "MPI-INF-3DHP" in lines[0] and "Human3.6M" in lines[0]
    assert "52.4" in lines[3] and "85.2" in lines[3] and "101.2" in lines[3] and "3.6" in lines[3]
    assert "1.2" in lines[4] and lines[4].count("-") >= 9


def test_cli_make_db_train_evaluate(tmp_path: Path) -> None:
    env = subprocess_env()
    db = tmp_path / "db"
    run = subprocess.run(
        [PYTHON, "-m", "inference_backend", "make-synthetic-db", str(db), "--sequences", "2",
         "--frames", "24", "--feature-dim", "32"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert (db / "smpl" / "SMPL_NEUTRAL.npz").is_file() and (db / "3dpw_test_db.npz").is_file()
    cfg = write_config(tmp_path / "tiny.json", tiny_config(iters_per_epoch=4))
    out = tmp_path / "run"
    run = subprocess.run(
        [PYTHON, "-m", "inference_backend", "train", "--config", str(cfg), "--db", str(db),
         "--out", str(out), "--max-steps", "6", "--device", "cpu"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr
    final = parse_final_line(run.stdout)
    assert final["steps"] == 6 and final["first_loss"] > 0 and np.isfinite(final["last_loss"])
    assert "[" in run.stderr and "6/6" in run.stderr  # progress bar
    run = subprocess.run(
        [PYTHON, "-m", "inference_backend", "evaluate", "--checkpoint", str(out / "model_best.pt"),
         "--db", str(db), "--dataset", "3dpw", "--json-out", str(tmp_path / "eval.json")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report == json.loads((tmp_path / "eval.json").read_text())
    assert report["frames"] == 24 and report["sequences"] == 1
    for key in ("mpjpe", "pa_mpjpe", "mpvpe", "accel_err"):
        assert np.isfinite(report[key]) and report[key] > 0
    assert report["pa_mpjpe"] <= report["mpjpe"] + 1e-6
    assert "STR (paper, Table 1)" in run.stderr and "52.4" in run.stderr
    # a missing database is a clear error with the FILE_MISSING exit code
    run = subprocess.run(
        [PYTHON, "-m", "inference_backend", "evaluate", "--checkpoint", str(out / "model_best.pt"),
         "--db", str(db), "--dataset", "h36m"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 3 and "no database for h36m/test" in run.stderr
