"""Checkpoints: weights_only loading, by-key-name reports, SPIN key names, unsafe files refused."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from inference_backend.errors import ExitCode
from inference_backend.models import STRConfig, STRNet
from inference_backend.models.backbone import ResNet50Backbone
from inference_backend.models.checkpoint import (
    CheckpointError,
    load_spin_state,
    load_spin_weights,
    load_str_checkpoint,
    save_str_checkpoint,
)
from inference_backend.models.regressor import SMPLRegressor

SMALL = STRConfig(feat_dim=32, ttr_hidden=8, ste_hidden=8, part_hidden=8, integration_dim=32,
                  attention_dim=8)


def spin_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors under SPIN's HMR key names and shapes, written from the published layout
    (ResNet-50 [3,4,6,3] bottlenecks + IEF regressor), independently of our modules."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g)

    def bn(prefix: str, c: int) -> dict[str, torch.Tensor]:
        return {f"{prefix}.weight": rnd(c), f"{prefix}.bias": rnd(c),
                f"{prefix}.running_mean": rnd(c), f"{prefix}.running_var": rnd(c).abs() + 0.5,
                f"{prefix}.num_batches_tracked": torch.tensor(7)}

    sd = {"conv1.weight": rnd(64, 3, 7, 7), **bn("bn1", 64)}
    inplanes = 64
    for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3), strict=True), 1):
        for b in range(blocks):
            p = f"layer{i}.{b}"
            cin = inplanes if b == 0 else planes * 4
            sd[f"{p}.conv1.weight"] = rnd(planes, cin, 1, 1)
            sd[f"{p}.conv2.weight"] = rnd(planes, planes, 3, 3)
            sd[f"{p}.conv3.weight"] = rnd(planes * 4, planes, 1, 1)
            for k, c in ((1, planes), (2, planes), (3, planes * 4)):
                sd.update(bn(f"{p}.bn{k}", c))
            if b == 0:
                sd[f"{p}.downsample.0.weight"] = rnd(planes * 4, cin, 1, 1)
                sd.update(bn(f"{p}.downsample.1", planes * 4))
        inplanes = planes * 4
    sd.update({
        "fc1.weight": rnd(1024, 2205), "fc1.bias": rnd(1024),
        "fc2.weight": rnd(1024, 1024), "fc2.bias": rnd(1024),
        "decpose.weight": rnd(144, 1024), "decpose.bias": rnd(144),
        "decshape.weight": rnd(10, 1024), "decshape.bias": rnd(10),
        "deccam.weight": rnd(3, 1024), "deccam.bias": rnd(3),
        "init_pose": rnd(1, 144), "init_shape": rnd(1, 10), "init_cam": rnd(1, 3),
    })
    return sd


def test_str_round_trip_keeps_config_weights_and_backbone(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = STRNet(SMALL).eval()
    backbone = ResNet50Backbone()
    path = save_str_checkpoint(tmp_path / "str.pt", model, backbone, meta={"trained": False})
    assert not list(tmp_path.glob("*.tmp"))  # atomic: no temp file left
    loaded = load_str_checkpoint(path)
    assert loaded.model.config == SMALL
    assert loaded.report.missing == () and loaded.report.unexpected == ()
    assert loaded.meta["trained"] is False and loaded.meta["format"] == "str-mocap-str"
    assert set(loaded.backbone_state) == set(backbone.state_dict())
    x = torch.randn(2, 16, 32)
    with torch.no_grad():
        assert torch.equal(loaded.model(x)["theta"], model(x)["theta"])


def test_wrong_shapes_missing_file_and_wrong_kind(tmp_path: Path) -> None:
    model = STRNet(SMALL)
    path = save_str_checkpoint(tmp_path / "str.pt", model)
    obj = torch.load(path, weights_only=True)
    obj["config"]["ttr_hidden"] = 16  # the weights no longer fit the stored config
    torch.save(obj, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="wrong shape") as err:
        load_str_checkpoint(tmp_path / "bad.pt")
    assert err.value.code == ExitCode.MODEL_PROBLEM
    with pytest.raises(CheckpointError, match="not found"):
        load_str_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a zip, not a pickle")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_str_checkpoint(tmp_path / "junk.pt")


def test_spin_tcmr_and_empty_files_get_messages_that_name_real_options(tmp_path: Path) -> None:
    """A SPIN or TCMR file passed as the STR checkpoint is recognised and the message names
    options that exist (never a non-existent --spin-checkpoint flag of capture); an empty file
    says it is empty."""
    torch.save({"model": spin_state_dict(), "epoch": 1}, tmp_path / "spin.pt")
    with pytest.raises(CheckpointError, match="is a SPIN checkpoint") as err:
        load_str_checkpoint(tmp_path / "spin.pt")
    text = str(err.value)
    assert "STR_MOCAP_SPIN_CHECKPOINT" in text and "spin_model_checkpoint.pth.tar" in text
    assert "--spin-checkpoint" not in text
    assert "inference_backend train" in text
    torch.save({"gen_state_dict": {"encoder.gru_cur.weight_ih_l0": torch.zeros(3)},
                "performance": np.float64(52.7), "epoch": 3}, tmp_path / "tcmr.pth.tar")
    with pytest.raises(CheckpointError, match="TCMR/VIBE training checkpoint") as err:
        load_str_checkpoint(tmp_path / "tcmr.pth.tar")
    assert "--spin-checkpoint" not in str(err.value)
    torch.save({"a": torch.zeros(2)}, tmp_path / "bare.pt")
    with pytest.raises(CheckpointError, match="bare state dict"):
        load_str_checkpoint(tmp_path / "bare.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"is empty \(0 bytes\)") as err:
        load_str_checkpoint(tmp_path / "empty.pt")
    assert err.value.code == ExitCode.MODEL_PROBLEM
    # a truncated file: the message carries the size and the reader's reason
    good = save_str_checkpoint(tmp_path / "good.pt", STRNet(SMALL))
    (tmp_path / "cut.pt").write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointError, match=r"cannot read checkpoint .*\(200 bytes\): \w+"):
        load_str_checkpoint(tmp_path / "cut.pt")


@pytest.mark.parametrize("change", [
    {"feat_dim": 10**7},
    {"ttr_hidden": 10**6},
    {"ttr_layers": 1000},
    {"seq_len": 10**6},
    {"self_repeats": 10**5},
    {"attention_layers": 10**4},
    {"regressor_iterations": 10**6},
    {"ste_conv_kernel": 10**5 + 1},
    {"feat_dim": 8192, "ttr_hidden": 4096, "ste_hidden": 4096, "part_hidden": 4096,
     "ttr_layers": 8, "ste_layers": 8, "part_layers": 8, "integration_dim": 8192},
    {"feat_dim": "2048"},
    {"use_ttr": "yes"},
    {"ttr_hidden": 1.5},
    {"regressor_dropout": float("nan")},
])
def test_crafted_config_with_absurd_sizes_is_refused_before_allocating(
    tmp_path: Path, change: dict, monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = save_str_checkpoint(tmp_path / "str.pt", STRNet(SMALL))
    obj = torch.load(path, weights_only=True)
    obj["config"].update(change)
    torch.save(obj, tmp_path / "crafted.pt")
    built: list[str] = []  # the device each STRNet was built on
    original = STRNet.__init__

    def recording_init(self, cfg=None) -> None:
        built.append(torch.empty(0).device.type)
        original(self, cfg)

    monkeypatch.setattr(STRNet, "__init__", recording_init)
    with pytest.raises(CheckpointError, match="invalid stored config") as err:
        load_str_checkpoint(tmp_path / "crafted.pt")
    assert err.value.code == ExitCode.MODEL_PROBLEM == 8
    # refused before any module was built with real memory (only the size estimate on "meta")
    assert set(built) <= {"meta"}
    print(err.value)


def _tcmr_trainer_file(path: Path, performance: object) -> dict:
    """What TCMR's/VIBE's Trainer.save_model writes: epoch, gen_state_dict, a numpy-scalar
    'performance' (PA-MPJPE from numpy), optimizer states (here also a numpy dtype)."""
    sd = {f"regressor.{k}": v for k, v in spin_state_dict(5).items()
          if not k.startswith(("conv", "bn", "layer"))}
    sd["encoder.gru_cur.weight_ih_l0"] = torch.zeros(3)
    obj = {"epoch": 12, "gen_state_dict": sd, "performance": performance,
           "gen_optimizer": {"state": {}, "param_groups": [{"lr": 5e-5}]},
           "feature_dtype": np.dtype("float32"), "disc_motion_state_dict": {},
           "disc_motion_optimizer": {}}
    torch.save(obj, path)
    return obj


@pytest.mark.parametrize("performance", [np.float64(52.7), np.float32(61.6), np.int64(3)])
def test_tcmr_vibe_trainer_checkpoint_with_numpy_scalar_loads(tmp_path: Path, performance) -> None:
    obj = _tcmr_trainer_file(tmp_path / "model_best.pth.tar", performance)
    with pytest.raises(Exception, match="numpy"):  # plain weights_only torch refuses it
        torch.load(tmp_path / "model_best.pth.tar", weights_only=True)
    state = load_spin_state(tmp_path / "model_best.pth.tar")
    regressor = SMPLRegressor()
    rep = load_spin_weights(state, regressor=regressor)["regressor"]
    assert rep.missing == ()
    assert torch.equal(regressor.fc1.weight, obj["gen_state_dict"]["regressor.fc1.weight"])
    from inference_backend.models.checkpoint import safe_torch_load

    loaded = safe_torch_load(tmp_path / "model_best.pth.tar")
    assert type(loaded["performance"]) is type(performance)
    assert loaded["performance"] == performance
    assert loaded["feature_dtype"] == np.dtype("float32")
    # the allow-list was scoped to the read: plain torch.load refuses the file again
    assert not any("numpy" in str(g) for g in torch.serialization.get_safe_globals())
    with pytest.raises(Exception, match="numpy"):
        torch.load(tmp_path / "model_best.pth.tar", weights_only=True)


class _ObjectScalar:
    """Pickles as numpy.core.multiarray.scalar(dtype('O'), payload): an object-dtype scalar."""

    def __init__(self, payload: object) -> None:
        self.payload = payload

    def __reduce__(self):  # noqa: ANN204 - the attack
        return (np.core.multiarray.scalar, (np.dtype("O"), self.payload))


@pytest.mark.parametrize("value", [
    np.array([1.0, 2.0]),                      # numpy arrays are not on the list
    np.str_("text"),                           # a string scalar
    np.datetime64("2020-01-01"),               # a datetime scalar
    "object_scalar",                           # object dtype through the allowed scalar name
    "payload",                                 # os.system payload beside a numpy scalar
])
def test_everything_else_numpy_is_still_refused(tmp_path: Path, value) -> None:
    marker = tmp_path / "pwned.txt"
    if isinstance(value, str) and value == "object_scalar":
        value = _ObjectScalar(3)
    elif isinstance(value, str) and value == "payload":
        value = _Payload(marker)
    torch.save({"gen_state_dict": {"a": torch.zeros(1)}, "performance": np.float64(1.0),
                "extra": value}, tmp_path / "f.pt")
    with pytest.raises(CheckpointError, match="refused to load"):
        load_spin_state(tmp_path / "f.pt")
    assert not marker.exists()


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204 - the attack
        return (os.system, (f'echo pwned > "{self.marker}"',))


def test_malicious_checkpoint_is_refused_and_does_not_execute(tmp_path: Path) -> None:
    marker = tmp_path / "pwned.txt"
    evil = tmp_path / "evil.pt"
    torch.save({"config": {}, "model": {"x": torch.zeros(1)}, "meta": _Payload(marker)}, evil)
    with pytest.raises(CheckpointError, match="refused to load"):
        load_str_checkpoint(evil)
    with pytest.raises(CheckpointError, match="refused to load"):
        load_spin_state(evil)
    assert not marker.exists()


@pytest.mark.parametrize("wrap", ["spin_dict", "bare"])
def test_synthetic_spin_checkpoint_loads_by_key_name(tmp_path: Path, wrap: str) -> None:
    sd = spin_state_dict(seed=3)
    obj = {"model": sd, "optimizer": {}, "epoch": 3} if wrap == "spin_dict" else sd
    torch.save(obj, tmp_path / "model_checkpoint.pt")
    state = load_spin_state(tmp_path / "model_checkpoint.pt")
    backbone, regressor = ResNet50Backbone(), SMPLRegressor()
    reports = load_spin_weights(state, backbone=backbone, regressor=regressor)
    for name in ("backbone", "regressor"):
        assert reports[name].missing == (), reports[name].summary()
        assert reports[name].unexpected == (), reports[name].summary()
    assert torch.equal(backbone.layer3[5].bn2.running_var, sd["layer3.5.bn2.running_var"])
    assert torch.equal(backbone.layer1[0].downsample[0].weight, sd["layer1.0.downsample.0.weight"])
    assert torch.equal(regressor.fc1.weight, sd["fc1.weight"])
    assert torch.equal(regressor.init_pose, sd["init_pose"])
    # and into the full STR model's regressor (TCMR's "initialise from SPIN")
    net = STRNet(STRConfig())
    rep = load_spin_weights(state, regressor=net.regressor)["regressor"]
    assert rep.missing == () and torch.equal(net.regressor.deccam.bias, sd["deccam.bias"])


def test_tcmr_style_regressor_prefix(tmp_path: Path) -> None:
    sd = {f"regressor.{k}": v for k, v in spin_state_dict(4).items() if not k.startswith(("conv", "bn", "layer"))}
    sd["encoder.gru_cur.weight_ih_l0"] = torch.zeros(3)
    torch.save({"gen_state_dict": sd, "epoch": 1}, tmp_path / "tcmr.pth.tar")
    regressor = SMPLRegressor()
    rep = load_spin_weights(load_spin_state(tmp_path / "tcmr.pth.tar"), regressor=regressor)["regressor"]
    assert rep.missing == ()
    assert torch.equal(regressor.fc2.weight, sd["regressor.fc2.weight"])


def test_backbone_shapes_and_count() -> None:
    backbone = ResNet50Backbone().eval()
    assert sum(p.numel() for p in backbone.parameters()) == 23_508_032
    assert set(spin_state_dict()) - set(backbone.state_dict()) == {
        k for k in spin_state_dict() if k.startswith(("fc", "dec", "init_"))
    }
    with torch.no_grad():
        assert backbone(torch.randn(2, 3, 224, 224)).shape == (2, 2048)
    with pytest.raises(ValueError, match="224"):
        backbone(torch.randn(1, 3, 200, 200))


def test_capture_refuses_crafted_and_spin_files_with_exit_8(tmp_path: Path, backend_cmd,
                                                             backend_env, sample_clip) -> None:
    """Through the real CLI: exit code 8, an error event with the reason, no output file."""
    import json
    import subprocess

    path = save_str_checkpoint(tmp_path / "str.pt", STRNet(SMALL))
    obj = torch.load(path, weights_only=True)
    obj["config"]["feat_dim"] = 10**7
    torch.save(obj, tmp_path / "crafted.pt")
    torch.save({"model": spin_state_dict(), "epoch": 1}, tmp_path / "spin.pt")
    for name, words in (("crafted.pt", "feat_dim must be in"), ("spin.pt", "is a SPIN checkpoint")):
        out = tmp_path / f"{name}.npz"
        proc = subprocess.run(
            [*backend_cmd, "capture", str(sample_clip), "-o", str(out), "--progress", "jsonl",
             "--solver", "str", "--str-checkpoint", str(tmp_path / name)],
            capture_output=True, text=True, env=backend_env, timeout=180,
        )
        assert proc.returncode == int(ExitCode.MODEL_PROBLEM) == 8, proc.stderr[-2000:]
        events = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
        assert events[-1]["event"] == "error" and words in events[-1]["message"], events[-1]
        assert "--spin-checkpoint" not in events[-1]["message"]
        assert not out.exists()
