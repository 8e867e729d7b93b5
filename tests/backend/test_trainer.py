"""STR training on a tiny synthetic database: the loss falls, a tiny set is overfitted, logs and
checkpoints are written, and resuming continues with identical losses."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _train_helpers import tiny_config, write_tiny_db  # noqa: E402

from inference_backend.train.model_glue import (  # noqa: E402
    build_model,
    make_body,
    save_model_checkpoint,
)
from inference_backend.train.tf_events import read_records  # noqa: E402
from inference_backend.train.train_config import config_from_dict, load_config  # noqa: E402
from inference_backend.train.trainer import RunOptions, Trainer  # noqa: E402


@pytest.fixture(scope="module")
def tiny_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_db(tmp_path_factory.mktemp("tinydb"), sequences=4, frames=32)


def _train(db: Path, out: Path, cfg: dict, max_steps: int, resume: Path | None = None):
    torch.set_num_threads(1)
    trainer = Trainer(config_from_dict(cfg), RunOptions(db, out, max_steps=max_steps, resume=resume,
                                                        progress=False),
                      build_model=build_model, make_body=make_body,
                      save_model_checkpoint=save_model_checkpoint)
    return trainer.run()


def test_shipped_configs_parse() -> None:
    real = load_config("str_3dpw")
    assert real.optim.lr == 5e-5 and real.optim.batch_size == 32 and real.optim.epochs == 30
    assert real.optim.iters_per_epoch == 500 and real.optim.lr_patience == 5
    assert (real.loss.kp_2d, real.loss.kp_3d, real.loss.pose, real.loss.shape) == (300, 300, 60, 0.06)
    assert real.data.ratio_2d == 0.6 and [s.name for s in real.data.train_2d] == ["insta"]
    syn = load_config("str_synthetic")
    assert syn.model["feat_dim"] == 256
    with pytest.raises(ValueError, match="unknown keys"):
        config_from_dict({**tiny_config(), "optimiser": {}})


def test_training_lowers_loss_and_writes_logs(tiny_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    summary = _train(tiny_db, out, tiny_config(iters_per_epoch=30), max_steps=60)
    losses = summary.losses
    assert len(losses) == 60 and all(math.isfinite(x) for x in losses)
    assert losses[-1] < losses[0]
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    line = summary.final_line()
    assert line.startswith(f"first_loss={losses[0]:.6f} last_loss={losses[-1]:.6f}")
    # two epochs -> two validations, a best model and a resumable checkpoint
    assert (out / "checkpoint.pt").is_file() and (out / "model_best.pt").is_file()
    rows = [json.loads(r) for r in (out / "scalars.jsonl").read_text().splitlines()]
    val = [r for r in rows if "val/pa_mpjpe" in r]
    assert len(val) == 2 and all(r["val/pa_mpjpe"] > 0 for r in val)
    assert [r["step"] for r in rows if "train/loss" in r] == list(range(1, 61))
    csv_lines = (out / "scalars.csv").read_text().splitlines()
    assert csv_lines[0] == "step,tag,value,wall_time" and len(csv_lines) > 60 * 6
    events = list((out / "tb").glob("events.out.tfevents.*"))
    assert len(events) == 1
    records = read_records(events[0])  # verifies both CRCs of every record
    assert b"brain.Event:2" in records[0] and any(b"train/loss" in r for r in records[1:])
    best = torch.load(out / "model_best.pt", weights_only=True)
    assert set(best) == {"config", "model", "meta"} and best["meta"]["format"] == "str-mocap-str"


def test_overfits_a_tiny_set(tmp_path: Path) -> None:
    db = write_tiny_db(tmp_path / "one", sequences=1, frames=20, seed=3)
    cfg = tiny_config(batch_size=4, iters_per_epoch=1000)
    cfg["data"] = {"train_3d": [{"name": "3dpw"}], "seqlen": 16}  # 20 windows, no 2D set
    losses = _train(db, tmp_path / "run", cfg, max_steps=60).losses
    assert np.mean(losses[-5:]) < 0.1 * np.mean(losses[:5]) and np.mean(losses[-5:]) < 1.0


def test_resume_continues_with_identical_losses(tiny_db: Path, tmp_path: Path) -> None:
    cfg = tiny_config(iters_per_epoch=4)  # the cut (step 6) lies after an epoch end + validation
    straight = _train(tiny_db, tmp_path / "a", cfg, max_steps=10).losses
    first = _train(tiny_db, tmp_path / "b", cfg, max_steps=6).losses
    ckpt = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert ckpt["train_state"]["step"] == 6 and ckpt["train_state"]["epoch"] == 1
    rest = _train(tiny_db, tmp_path / "b", cfg, max_steps=10, resume=tmp_path / "b" / "checkpoint.pt")
    np.testing.assert_allclose(first, straight[:6], rtol=1e-6)
    assert len(rest.losses) == 4
    np.testing.assert_allclose(rest.losses, straight[6:], rtol=1e-5)


def test_regressor_initialised_from_spin_checkpoint_by_key_name(tiny_db: Path, tmp_path: Path) -> None:
    torch.manual_seed(7)
    ref = build_model(tiny_config()["model"]).regressor
    # SPIN's model_checkpoint.pt layout: {"model": HMR state dict (backbone + regressor keys)}
    spin_state = {k: torch.randn_like(v) for k, v in ref.state_dict().items()}
    spin_state["conv1.weight"] = torch.randn(64, 3, 7, 7)  # a backbone key: ignored
    torch.save({"model": spin_state, "epoch": 3}, tmp_path / "spin.pt")
    cfg = tiny_config(spin_checkpoint=str(tmp_path / "spin.pt"))
    trainer = Trainer(config_from_dict(cfg), RunOptions(tiny_db, tmp_path / "run", max_steps=1,
                                                        progress=False),
                      build_model=build_model, make_body=make_body,
                      save_model_checkpoint=save_model_checkpoint)
    for key in ("fc1.weight", "decpose.bias", "init_cam"):
        torch.testing.assert_close(trainer.model.regressor.state_dict()[key], spin_state[key])


def test_tensorboard_event_encoding_parses_with_protobuf(tmp_path: Path) -> None:
    pytest.importorskip("google.protobuf")
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    from inference_backend.train.tf_events import EventWriter, crc32c

    assert crc32c(b"123456789") == 0xE3069283  # CRC-32C check value
    # Event / Summary / Value with tensorflow's field numbers and types
    fdp = descriptor_pb2.FileDescriptorProto(name="ev.proto", package="t", syntax="proto3")
    value = fdp.message_type.add(name="Value")
    value.field.add(name="tag", number=1, type=9, label=1)
    value.field.add(name="simple_value", number=2, type=2, label=1)
    summary = fdp.message_type.add(name="Summary")
    summary.field.add(name="value", number=1, type=11, label=3, type_name=".t.Value")
    event = fdp.message_type.add(name="Event")
    event.field.add(name="wall_time", number=1, type=1, label=1)
    event.field.add(name="step", number=2, type=3, label=1)
    event.field.add(name="file_version", number=3, type=9, label=1)
    event.field.add(name="summary", number=5, type=11, label=1, type_name=".t.Summary")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    event_cls = message_factory.GetMessageClass(pool.FindMessageTypeByName("t.Event"))
    writer = EventWriter(tmp_path)
    writer.add_scalars(300, {"train/loss": 1.5, "val/pa_mpjpe": 61.6})
    writer.close()
    first, second = (event_cls.FromString(r) for r in read_records(writer.path))
    assert first.file_version == "brain.Event:2"
    assert second.step == 300 and second.wall_time > 1e9
    assert [(v.tag, round(v.simple_value, 3)) for v in second.summary.value] == [
        ("train/loss", 1.5), ("val/pa_mpjpe", 61.6)]
