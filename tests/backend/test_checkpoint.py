"""Checkpoints: weights_only loading, by-key-name reports, SPIN key names, unsafe files refused."""

from __future__ import annotations

import os
from pathlib import Path

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
    torch.save({"model": spin_state_dict()}, tmp_path / "spin.pt")
    with pytest.raises(CheckpointError, match="not an STR checkpoint"):
        load_str_checkpoint(tmp_path / "spin.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a zip, not a pickle")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_str_checkpoint(tmp_path / "junk.pt")


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
