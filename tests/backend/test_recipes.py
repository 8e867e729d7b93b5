"""The shipped training recipes: one per row of the paper's Table 1 plus Table 2's base, TCMR's
database file names, fp32 by default, --set overrides; each recipe trains two steps on a
synthetic database written under exactly the file names the recipe asks for."""

from __future__ import annotations

import pickle
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _train_helpers import (  # noqa: E402
    PYTHON,
    REPO,
    TINY_MODEL,
    subprocess_env,
    write_tiny_db,
)

from inference_backend.train.datasets import (  # noqa: E402
    find_db,
    load_db,
    normalise_keypoints,
    save_db_npz,
)
from inference_backend.train.joint_formats import convert_kps  # noqa: E402
from inference_backend.train.model_glue import (  # noqa: E402
    build_model,
    make_body,
    save_model_checkpoint,
)
from inference_backend.train.train_config import (  # noqa: E402
    load_config,
    shipped_config_names,
    with_model_overrides,
)
from inference_backend.train.trainer import RunOptions, Trainer  # noqa: E402

#: recipe -> (TCMR config it follows, epochs, 3D datasets, 2D datasets, validation, stride-1)
TABLE_1: dict[str, tuple[str, int, list[str], list[str], str, bool]] = {
    "str_3dpw": ("repr_table4_3dpw_model", 30, ["3dpw", "mpii3d", "h36m"], ["insta"], "3dpw", True),
    "str_h36m_mpii3d": ("repr_table4_h36m_mpii3d_model", 45, ["3dpw", "mpii3d", "h36m"],
                        ["insta", "posetrack"], "3dpw", True),
    "str_no3dpw_3dpw": ("repr_table6_3dpw_model", 45, ["mpii3d", "h36m"], ["insta", "posetrack"],
                        "3dpw", False),
    "str_no3dpw_mpii3d": ("repr_table6_mpii3d_model", 30, ["mpii3d", "h36m"],
                          ["insta", "posetrack"], "3dpw", False),
    "str_no3dpw_h36m": ("repr_table6_h36m_model", 45, ["mpii3d", "h36m"], ["insta"], "h36m", False),
    "str_mpii3d_table2": ("repr_table6_mpii3d_model + MPI-INF validation", 30, ["mpii3d", "h36m"],
                          ["insta", "posetrack"], "mpii3d", False),
}


def test_every_table_1_row_has_a_recipe_with_tcmr_schedule() -> None:
    assert set(TABLE_1) | {"str_synthetic"} == set(shipped_config_names())
    for name, (_tcmr, epochs, d3, d2, val, stride1) in TABLE_1.items():
        cfg = load_config(name)
        assert cfg.about, name
        assert cfg.optim.epochs == epochs, name
        assert (cfg.optim.batch_size, cfg.optim.lr, cfg.optim.iters_per_epoch) == (32, 5e-5, 500)
        assert cfg.data.ratio_2d == 0.6 and cfg.optim.lr_patience == 5
        assert cfg.optim.amp is False, "the paper and TCMR train in fp32"
        assert [s.name for s in cfg.data.train_3d] == d3, name
        assert [s.name for s in cfg.data.train_2d] == d2, name
        assert cfg.data.val is not None and cfg.data.val.name == val, name
        overlaps = {s.overlap for s in cfg.data.train_3d + cfg.data.train_2d}
        assert overlaps == ({15 / 16} if stride1 else {0.0}), name
        assert all(s.file for s in cfg.data.train_3d + cfg.data.train_2d), name
    # H36M's SMPL labels are unused only in TCMR's table-4 3DPW recipe
    assert [s.has_smpl for s in load_config("str_3dpw").data.train_3d] == [True, True, False]
    assert all(s.has_smpl for s in load_config("str_h36m_mpii3d").data.train_3d)
    assert load_config("str_synthetic").optim.amp is False


def test_tcmr_default_database_names_are_found(tmp_path: Path) -> None:
    db = {"vid_name": np.array(["a"] * 3), "features": np.zeros((3, 4), np.float32)}
    (tmp_path / "mpii3d_val_scale12_db.pt").write_bytes(pickle.dumps(db))
    (tmp_path / "h36m_test_25fps_nosmpl_db.pt").write_bytes(pickle.dumps(db))
    assert find_db(tmp_path, "mpii3d", "val").name == "mpii3d_val_scale12_db.pt"
    assert find_db(tmp_path, "h36m", "test").name == "h36m_test_25fps_nosmpl_db.pt"
    save_db_npz(tmp_path / "mpii3d_val_db.npz", db)  # the plain name wins when present
    assert find_db(tmp_path, "mpii3d", "val").name == "mpii3d_val_db.npz"
    with pytest.raises(ValueError, match="h36m_val_db.npz.*h36m_test_front_25fps_tight_db.pt"):
        find_db(tmp_path, "h36m", "val")


def test_model_overrides_and_amp_option() -> None:
    cfg = with_model_overrides(load_config("str_mpii3d_table2"),
                               ["use_ttr=false", "ste_kind=senet", "num_fragments=8"])
    assert cfg.model == {"use_ttr": False, "ste_kind": "senet", "num_fragments": 8}
    with pytest.raises(ValueError, match="unknown STRConfig keys"):
        with_model_overrides(cfg, ["use_tt=false"])
    with pytest.raises(ValueError, match="must be of type bool"):
        with_model_overrides(cfg, ["use_ttr=1"])
    with pytest.raises(ValueError, match="KEY=VALUE"):
        with_model_overrides(cfg, ["use_ttr"])
    proc = subprocess.run(
        [PYTHON, "-m", "inference_backend", "train", "--config", "str_mpii3d_table2", "--db",
         str(REPO), "--set", "use_tt=false"],
        cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2 and "use_tt" in proc.stderr


def _write_insta_h5(path: Path, db: dict[str, np.ndarray]) -> None:
    """InstaVariety layout: joints2D in its 25-joint order, already in 224-crop pixels."""
    kp = normalise_keypoints(db["joints2D"], db["bbox"])
    kp[..., :2] = (kp[..., :2] + 1.0) * 112.0
    with h5py.File(path, "w") as fh:
        fh["features"] = db["features"]
        fh["vid_name"] = np.array([v.encode() for v in db["vid_name"]])
        fh["frame_id"] = db["frame_id"]
        fh["joints2D"] = convert_kps(kp, "spin", "insta")


@pytest.fixture(scope="module")
def tcmr_named_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every file any shipped recipe names, made from the tiny synthetic database."""
    root = write_tiny_db(tmp_path_factory.mktemp("recipes"), sequences=3, frames=32)
    train = load_db(root / "3dpw_train_db.npz")
    val = dict(train, valid_i=np.ones((len(train["vid_name"]), 1), np.float32))
    posetrack = load_db(root / "posetrack_train_db.npz")
    for name in TABLE_1:
        cfg = load_config(name)
        for spec in cfg.data.train_3d + cfg.data.train_2d + (cfg.data.val,):
            target = root / (spec.file or f"{spec.name}_{spec.split}_db.pt")
            if target.exists():
                continue
            if spec.name == "insta":
                _write_insta_h5(target, posetrack)
            else:
                content = posetrack if spec.name == "posetrack" else (val if spec.split != "train" else train)
                target.write_bytes(pickle.dumps(content, protocol=2))  # joblib-style pickle
    return root


@pytest.mark.parametrize("name", sorted(TABLE_1))
def test_each_recipe_trains_on_its_tcmr_file_names(tcmr_named_db: Path, tmp_path: Path,
                                                   name: str) -> None:
    cfg = load_config(name)
    cfg = replace(cfg, model=dict(TINY_MODEL), smpl_dir="smpl",
                  optim=replace(cfg.optim, spin_checkpoint=None, batch_size=10))
    torch.set_num_threads(1)
    trainer = Trainer(cfg, RunOptions(tcmr_named_db, tmp_path / "run", max_steps=2, progress=False),
                      build_model=build_model, make_body=make_body,
                      save_model_checkpoint=save_model_checkpoint)
    assert len(trainer.batches.data_3d.parts) == len(cfg.data.train_3d)
    assert len(trainer.batches.data_2d.parts) == len(cfg.data.train_2d)
    assert (trainer.batches.n_2d, trainer.batches.n_3d) == (6, 4)
    assert trainer.use_amp is False
    summary = trainer.run()
    assert summary.steps == 2 and all(np.isfinite(summary.losses))
