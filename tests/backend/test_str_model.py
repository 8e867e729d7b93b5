"""STR network: shapes, gradients and paper equations for every ablation (CPU, random weights)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from inference_backend.models import STRConfig, STRNet
from inference_backend.models.param_count import PAPER_TOTAL, parameter_report
from inference_backend.models.ste import fft_difference, fft_roundtrip

SMALL = dict(feat_dim=32, ttr_hidden=8, ste_hidden=8, part_hidden=8, integration_dim=32,
             attention_dim=8, regressor_dropout=0.0)

ABLATIONS: dict[str, dict] = {
    "full": {},
    "res2net_ttr": {"ttr_mode": "res2net"},
    "fragments_1": {"num_fragments": 1},
    "fragments_2": {"num_fragments": 2},
    "fragments_8": {"num_fragments": 8},
    "wo_ttr": {"use_ttr": False},
    "wo_ste": {"use_ste": False},
    "wo_ste_time": {"ste_time": False},
    "wo_ste_freq": {"ste_freq": False},
    "ste_separate_grus": {"ste_shared_gru": False},
    "ste_freq_difference": {"ste_freq_mode": "difference"},
    "raw_difference": {"conv_difference": False},
    "wo_self": {"use_self": False},
    "wo_cross": {"use_cross": False},
    "wo_self_and_cross": {"use_self": False, "use_cross": False},
    "plain_aggregation": {"plain_aggregation": True},
    "self_repeats_3": {"self_repeats": 3},
    "unidirectional_grus": {"ttr_bidirectional": False, "ste_bidirectional": False},
    "output_all": {"output": "all"},
}


def small(**changes) -> STRConfig:
    return STRConfig(**{**SMALL, **changes})


def _loss(out: dict) -> torch.Tensor:
    total = torch.zeros(())
    for key, value in out.items():
        if key == "aux":
            total = total + _loss(value)
        else:
            total = total + value.float().pow(2).mean()
    return total


@pytest.mark.parametrize("name", sorted(ABLATIONS))
def test_every_ablation_forward_backward(name: str) -> None:
    torch.manual_seed(0)
    cfg = small(**ABLATIONS[name])
    model = STRNet(cfg).train()
    x = torch.randn(3, cfg.seq_len, cfg.feat_dim)
    out = model(x, is_train=True)
    lead = (3,) if cfg.output == "middle" else (3, cfg.seq_len)
    assert out["theta"].shape == (*lead, 85)
    assert out["rotmat"].shape == (*lead, 24, 3, 3)
    assert out["pred_cam"].shape == (*lead, 3)
    assert out["betas"].shape == (*lead, 10)
    assert out["pose6d"].shape == (*lead, 144)
    if cfg.use_self or cfg.use_cross:
        assert out["aux"]["theta"].shape == (3, 2, 85)
    else:
        assert "aux" not in out
    for key, value in out.items():
        tensors = value.values() if key == "aux" else [value]
        assert all(torch.isfinite(t).all() for t in tensors), key
    # theta packs [cam, axis-angle pose, betas]
    assert torch.equal(out["theta"][..., :3], out["pred_cam"])
    assert torch.equal(out["theta"][..., 75:], out["betas"])
    _loss(out).backward()
    dead = [n for n, p in model.named_parameters()
            if p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0]
    assert dead == [], f"parameters without gradient: {dead}"


def test_eval_mode_has_no_aux_and_is_deterministic() -> None:
    torch.manual_seed(1)
    model = STRNet(small(regressor_dropout=0.5)).eval()
    x = torch.randn(2, 16, 32)
    a, b = model(x), model(x)
    assert "aux" not in a
    assert torch.equal(a["theta"], b["theta"])


def test_rotmat_is_rotation_and_theta_pose_matches() -> None:
    from inference_backend.models.rotation6d import axis_angle_to_rotmat

    torch.manual_seed(2)
    out = STRNet(small()).eval()(torch.randn(4, 16, 32))
    r = out["rotmat"]
    eye = torch.eye(3).expand_as(r)
    assert torch.allclose(r @ r.transpose(-1, -2), eye, atol=1e-5)
    assert torch.allclose(torch.linalg.det(r), torch.ones(4, 24), atol=1e-5)
    back = axis_angle_to_rotmat(out["theta"][:, 3:75].reshape(4, 24, 3))
    assert torch.allclose(back, r, atol=1e-4)


def test_ttr_literal_equation() -> None:
    """F_ttr = F + concat(F1, GRU2(F2) + F1, GRU3(F3) + F2^o, GRU4(F4) + F3^o) (Eq. 1-2)."""
    torch.manual_seed(3)
    model = STRNet(small())
    ttr = model.ttr
    x = torch.randn(2, 16, 32)
    f = torch.chunk(x, 4, dim=1)
    o1 = f[0]
    o2 = ttr.grus[0](f[1]) + o1
    o3 = ttr.grus[1](f[2]) + o2
    o4 = ttr.grus[2](f[3]) + o3
    assert torch.allclose(ttr(x), x + torch.cat((o1, o2, o3, o4), dim=1), atol=1e-6)


def test_ttr_res2net_equation() -> None:
    torch.manual_seed(4)
    ttr = STRNet(small(ttr_mode="res2net")).ttr
    x = torch.randn(2, 16, 32)
    f = torch.chunk(x, 4, dim=1)
    o = [f[0]]
    for gru, frag in zip(ttr.grus, f[1:], strict=True):
        o.append(gru(frag + o[-1]))
    assert torch.allclose(ttr(x), x + torch.cat(o, dim=1), atol=1e-6)


def test_ste_time_equation() -> None:
    """STEF1 = GRU(F) * sigmoid(mean_t((S_F(t+1)-S_F(t)) - (F(t+1)-F(t))))."""
    torch.manual_seed(5)
    ste = STRNet(small()).ste
    x = torch.randn(2, 16, 32)
    s = ste.conv(x.transpose(1, 2)).transpose(1, 2)
    m1 = (s[:, 1:] - s[:, :-1]) - (x[:, 1:] - x[:, :-1])
    expected = ste.gru(x) * torch.sigmoid(m1.mean(1, keepdim=True))
    stef1, stef2 = ste(x)
    assert torch.allclose(stef1, expected, atol=1e-6)
    g = ste.gru(x)
    a2 = torch.sigmoid((g - x).mean(1, keepdim=True))
    assert torch.allclose(stef2, ste.gru(fft_roundtrip(x)) * a2, atol=1e-5)


def test_fft_roundtrip_is_identity_and_difference_is_circular_diff() -> None:
    torch.manual_seed(6)
    x = torch.randn(3, 16, 32)
    # The paper's F_fft = IFFT(FFT(F)) is numerically the identity (documented honestly).
    assert torch.allclose(fft_roundtrip(x), x, atol=1e-6)
    # The rebuttal's reading: difference in the Fourier domain = circular x(t+1) - x(t).
    expected = torch.roll(x, shifts=-1, dims=1) - x
    assert torch.allclose(fft_difference(x), expected, atol=1e-5)


def test_integration_weights_sum_to_one_and_plain_is_mean() -> None:
    from inference_backend.models.integration import IntegrationNetwork

    torch.manual_seed(7)
    net = IntegrationNetwork((32, 32, 16), 24, 8, 2)
    xs = (torch.randn(5, 32), torch.randn(5, 32), torch.randn(5, 16))
    out, w = net(*xs)
    assert out.shape == (5, 24) and w.shape == (5, 3)
    assert torch.allclose(w.sum(-1), torch.ones(5))
    plain = IntegrationNetwork((32, 32, 16), 24, 8, 2, plain=True)
    out_p, w_p = plain(*xs)
    projected = [p(torch.relu(x)) for p, x in zip(plain.project, xs, strict=True)]
    assert torch.allclose(out_p, torch.stack(projected).mean(0), atol=1e-6)
    assert torch.allclose(w_p, torch.full((5, 3), 1 / 3))


def test_window_reduce_middle_only_reads_earlier_fragments() -> None:
    """Documented reason for window_reduce="mean": the middle frame of the literal TTR does not
    depend on the last fragment, so with "middle" GRU_4 gets no gradient."""
    torch.manual_seed(8)
    model = STRNet(small(window_reduce="middle", use_ste=False, use_self=False,
                         use_cross=False))
    x = torch.randn(2, 16, 32)
    _loss(model(x)).backward()
    grad = model.ttr.grus[2].gru.weight_ih_l0.grad
    assert grad is None or grad.abs().sum() == 0
    model_mean = STRNet(small(use_ste=False, use_self=False, use_cross=False))
    _loss(model_mean(x)).backward()
    assert model_mean.ttr.grus[2].gru.weight_ih_l0.grad.abs().sum() > 0


def test_config_round_trip_and_validation() -> None:
    cfg = STRConfig(num_fragments=8, ttr_mode="res2net", plain_aggregation=True)
    assert STRConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match="unknown STRConfig keys"):
        STRConfig.from_dict({"num_fragmentz": 4})
    with pytest.raises(ValueError, match="num_fragments"):
        STRConfig(num_fragments=3)
    with pytest.raises(ValueError, match="ttr_mode"):
        STRConfig(ttr_mode="other")
    with pytest.raises(ValueError, match="ste_time or ste_freq"):
        STRConfig(ste_time=False, ste_freq=False)
    with pytest.raises(ValueError, match="expects features"):
        STRNet(small())(torch.randn(2, 15, 32))


def test_full_config_shapes_and_parameter_budget() -> None:
    torch.manual_seed(9)
    model = STRNet(STRConfig()).eval()
    report = parameter_report(model)
    # temporal modules ~96.7M; paper convention total 127.19M within +-10% (we are at +0.4%)
    assert abs(report["paper_convention_total"] / PAPER_TOTAL - 1.0) < 0.10
    assert abs(report["temporal_total"] / 96.74e6 - 1.0) < 0.10
    assert report["modules"]["regressor"]["total"] == 3_469_469
    with torch.no_grad():
        out = model(torch.randn(2, 16, 2048))
    assert out["theta"].shape == (2, 85) and out["rotmat"].shape == (2, 24, 3, 3)
    # the regressor starts from the mean parameters: identity pose and cam [0.9, 0, 0]
    assert torch.allclose(model.regressor.init_cam, torch.tensor([[0.9, 0.0, 0.0]]))
    assert model.regressor.init_pose[0, :6].tolist() == [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]


def test_model_info_command_prints_json() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "inference_backend", "model-info", "--forward",
         "--config", json.dumps({**SMALL, "num_fragments": 2})],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    model = STRNet(small(num_fragments=2))
    assert info["temporal_total"] == parameter_report(model)["temporal_total"]
    assert info["forward"]["output_shapes"]["theta"] == [2, 85]
    assert info["forward"]["seconds"] > 0
    bad = subprocess.run([sys.executable, "-m", "inference_backend", "model-info", "--config",
                          '{"num_fragments": 3}'], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "num_fragments" in bad.stderr
