"""STR network: shapes, gradients and paper equations for every ablation (CPU, random weights)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from inference_backend.models import STRConfig, STRNet
from inference_backend.models.param_count import PAPER_TOTAL, parameter_report
from inference_backend.models.ste import (
    fft_backward_difference,
    fft_circular_difference,
    fft_roundtrip,
    frequency_feature,
)

SMALL = dict(feat_dim=32, ttr_hidden=8, ste_hidden=8, part_hidden=8, integration_dim=32,
             attention_dim=8, regressor_dropout=0.0)

ABLATIONS: dict[str, dict] = {
    "full": {},
    "res2net_ttr": {"ttr_mode": "res2net"},
    "fragments_1": {"num_fragments": 1},
    "fragments_2": {"num_fragments": 2},
    "fragments_8": {"num_fragments": 8},
    "wo_ttr": {"use_ttr": False},
    "gru_instead_of_ttr": {"ttr_plain_gru": True},
    "wo_ttr_and_ste": {"use_ttr": False, "use_ste": False},
    "wo_ttr_one_ste_branch": {"use_ttr": False, "ste_freq": False},
    "senet_instead_of_ste": {"ste_kind": "senet"},
    "wo_ste": {"use_ste": False},
    "wo_ste_time": {"ste_time": False},
    "wo_ste_freq": {"ste_freq": False},
    "ste_separate_grus": {"ste_shared_gru": False},
    "ste_freq_difference": {"ste_freq_mode": "difference"},
    "ste_freq_circular_difference": {"ste_freq_mode": "circular_difference"},
    "ste_freq_roundtrip": {"ste_freq_mode": "roundtrip"},
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
    """STEF1 = GRU(F) * sigmoid(mean_t((S_F(t+1)-S_F(t)) - (F(t+1)-F(t))));
    STEF2 = GRU(F_fft) * sigmoid(mean_t(GRU(F) - F)) with the default (emphasis) F_fft."""
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
    f_fft = 2 * x - torch.cat((x[:, :1], x[:, :-1]), dim=1)  # F(t) + (F(t) - F(t-1))
    assert torch.allclose(stef2, ste.gru(f_fft) * a2, atol=1e-5)


def test_fourier_filters_match_their_time_domain_forms() -> None:
    torch.manual_seed(6)
    x = torch.randn(3, 16, 32)
    # The paper's F_fft = IFFT(FFT(F)) is numerically the identity (documented honestly).
    assert torch.allclose(fft_roundtrip(x), x, atol=1e-6)
    assert torch.allclose(frequency_feature(x, "roundtrip"), x, atol=1e-6)
    # circular: x(t+1) - x(t), wrapping at the end
    circular = torch.roll(x, shifts=-1, dims=1) - x
    assert torch.allclose(fft_circular_difference(x), circular, atol=1e-5)
    # non-circular backward difference: x(t) - x(t-1), zero at t = 0, no wrap-around
    backward = x - torch.cat((x[:, :1], x[:, :-1]), dim=1)
    assert torch.allclose(fft_backward_difference(x), backward, atol=1e-5)
    assert torch.allclose(frequency_feature(x, "difference"), backward, atol=1e-5)
    assert frequency_feature(x, "difference")[:, 0].abs().max() < 1e-5
    # the last frame does not leak into the first (the circular version does)
    y = torch.zeros(1, 16, 1)
    y[0, -1] = 1.0
    assert fft_backward_difference(y)[0, 0].abs() < 1e-6
    assert fft_circular_difference(y)[0, -1].abs() > 0.5
    assert torch.allclose(frequency_feature(x, "emphasis"), x + backward, atol=1e-5)


def _sinusoid(cycles: float, frames: int = 16, channels: int = 32) -> torch.Tensor:
    t = torch.arange(frames, dtype=torch.float32)
    direction = torch.randn(channels, generator=torch.Generator().manual_seed(11))
    wave = torch.cos(2 * torch.pi * cycles * t / frames)
    return (wave[:, None] * direction[None, :] / direction.norm()).unsqueeze(0)


def test_frequency_branch_differs_from_time_branch_and_prefers_high_frequencies() -> None:
    """The default F_fft is not F: GRU(F_fft) (the frequency branch before its gate) differs from
    GRU(F) (the time branch before its gate), and the branch output moves more for a
    high-frequency change of the input than for a low-frequency change of the same energy.
    The literal round trip is shown to be the no-op the docs describe."""
    torch.manual_seed(12)
    cfg = small(ste_hidden=32)
    ste = STRNet(cfg).ste
    literal = STRNet(cfg.replace(ste_freq_mode="roundtrip")).ste
    literal.load_state_dict(ste.state_dict())
    base = 0.5 * torch.randn(1, 16, 32)
    with torch.no_grad():
        g = ste.gru(base)
        stef1, stef2 = ste(base)
        a1 = torch.sigmoid(((ste.conv(base.transpose(1, 2)).transpose(1, 2).diff(dim=1))
                            - base.diff(dim=1)).mean(1, keepdim=True))
        a2 = torch.sigmoid((g - base).mean(1, keepdim=True))
        freq_feature, time_feature = stef2 / a2, stef1 / a1
        assert torch.allclose(time_feature, g, atol=1e-5)
        rel = (freq_feature - time_feature).norm() / time_feature.norm()
        assert rel > 0.2, rel
        l1, l2 = literal(base)
        rel_literal = (l2 / a2 - l1 / a1).norm() / (l1 / a1).norm()
        assert rel_literal < 1e-4, rel_literal  # the literal pair: same GRU input, a no-op

        def response(branch: torch.nn.Module, cycles: float) -> float:
            bump = 0.5 * _sinusoid(cycles)
            return float((branch(base + bump)[1] - branch(base)[1]).norm())

        high, low = response(ste, 8), response(ste, 1)
        literal_high, literal_low = response(literal, 8), response(literal, 1)
    print(f"\nfrequency branch response high/low: default {high / low:.2f}, "
          f"literal {literal_high / literal_low:.2f}")
    assert high > 1.5 * low
    assert high / low > 1.5 * (literal_high / literal_low)
    # the filter itself: gain 3 at the highest frequency, 1 at frequency 0 (nothing lost)
    nyquist = frequency_feature(_sinusoid(8), "emphasis")[:, 1:]
    assert torch.allclose(nyquist.norm() / _sinusoid(8)[:, 1:].norm(), torch.tensor(3.0), atol=1e-4)
    constant = torch.ones(1, 16, 4)
    assert torch.allclose(frequency_feature(constant, "emphasis"), constant, atol=1e-5)


def test_wo_ttr_removes_the_module_and_gru_instead_of_ttr_is_one_fragment() -> None:
    torch.manual_seed(13)
    removed = STRNet(small(use_ttr=False))
    assert removed.ttr is None
    assert not any(k.startswith("ttr.") for k in removed.state_dict())
    # Eq. 6 then integrates the two STE outputs only
    assert len(removed.integrate_str.project) == 2
    gru = STRNet(small(ttr_plain_gru=True))
    one = STRNet(small(num_fragments=1))
    assert len(gru.ttr.grus) == 1
    assert gru.state_dict().keys() == one.state_dict().keys()
    x = torch.randn(2, 16, 32)
    one.load_state_dict(gru.state_dict())
    gru.eval()
    one.eval()
    assert torch.allclose(gru.ttr(x), x + gru.ttr.grus[0](x), atol=1e-6)
    assert torch.allclose(gru(x)["theta"], one(x)["theta"], atol=1e-6)
    full = STRNet(small())
    assert len(full.ttr.grus) == 3 and len(full.integrate_str.project) == 3


def test_senet_instead_of_ste_equation() -> None:
    torch.manual_seed(14)
    model = STRNet(small(ste_kind="senet"))
    ste = model.ste
    assert ste.conv is None and ste.gru_freq is None
    assert len(model.integrate_str.project) == 2  # F_ttr and the SENet feature
    x = torch.randn(2, 16, 32)
    squeeze = ste.squeeze[2](torch.relu(ste.squeeze[0](x.mean(1, keepdim=True))))
    out, none = ste(x)
    assert none is None
    assert torch.allclose(out, ste.gru(x) * torch.sigmoid(squeeze), atol=1e-6)
    assert ste.squeeze[0].out_features == 32 // 16


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
