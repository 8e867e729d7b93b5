"""STR speed: windows/s of the temporal model and frames/s of the full image path.

    python bench/str_speed.py [--device cpu|cuda] [--batch 32] [--frames 48] [--config JSON]

Prints one JSON object. Ratios are measured side by side in the same process:
- ``temporal.str_over_tcmr_time``: STR temporal model time per window / a TCMR-shaped model
  (bi-GRU 2x1024 + two uni-GRUs 2x1024 + linears + temporal attention + the same regressor,
  81.9M parameters) on the same input; the paper reports 1.8 h vs 1.5 h training (ratio 1.2).
- ``image_path.realtime_ratio``: frames/s of crops + ResNet-50 + STR windows over the clip's fps.
Not a test: numbers depend on the machine (say which one when you quote them). ``machine`` in
the output gives the CPU count and the 1-minute load average before and after the run (from
``os.getloadavg``, where the OS has it): a load above the CPU count means other processes shared
the CPUs and the absolute numbers are pessimistic (ratios stay meaningful).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from inference_backend.crops import crop_rgb, normalise, square_boxes
from inference_backend.models import STRConfig, STRNet
from inference_backend.models.backbone import ResNet50Backbone
from inference_backend.models.param_count import count_params
from inference_backend.models.regressor import SMPLRegressor
from inference_backend.solver_str import window_indices

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "assets" / "sample" / "two_people_backlit.mp4"


class TCMRShaped(nn.Module):
    """Timing baseline with TCMR's layer shapes (hmr_family_facts section 3.1); not TCMR's code."""

    def __init__(self) -> None:
        super().__init__()
        self.gru_cur = nn.GRU(2048, 1024, 2, batch_first=True, bidirectional=True)
        self.gru_bef = nn.GRU(2048, 1024, 2, batch_first=True)
        self.gru_aft = nn.GRU(2048, 1024, 2, batch_first=True)
        self.linear_cur = nn.Linear(2048, 2048)
        self.linear_bef = nn.Linear(1024, 2048)
        self.linear_aft = nn.Linear(1024, 2048)
        self.fc = nn.Linear(2048, 256)
        self.attention = nn.Sequential(nn.Linear(768, 256), nn.Tanh(), nn.Linear(256, 256),
                                       nn.Tanh(), nn.Linear(256, 3), nn.Tanh())
        self.regressor = SMPLRegressor()

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        mid = x.shape[1] // 2
        cur = self.linear_cur(torch.relu(self.gru_cur(x)[0][:, mid]))
        bef = self.linear_bef(torch.relu(self.gru_bef(x[:, :mid])[0][:, -1]))
        aft = self.linear_aft(torch.relu(self.gru_aft(torch.flip(x[:, mid + 1 :], (1,)))[0][:, -1]))
        feats = torch.stack((bef, cur, aft), 1)
        w = torch.softmax(self.attention(self.fc(feats).flatten(1)), -1)
        return self.regressor((w.unsqueeze(-1) * feats).sum(1))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_models(models: list[nn.Module], x: torch.Tensor, repeats: int) -> list[float]:
    """Median seconds per forward (no grad) of each model, runs interleaved (A, B, A, B, ...)
    so that load from other processes hits every model alike; one warm-up each."""
    times: list[list[float]] = [[] for _ in models]
    with torch.no_grad():
        for model in models:
            model(x)
        for _ in range(repeats):
            for i, model in enumerate(models):
                _sync(x.device)
                t0 = time.perf_counter()
                model(x)
                _sync(x.device)
                times[i].append(time.perf_counter() - t0)
    return [float(np.median(t)) for t in times]


def bench_temporal(cfg: STRConfig, device: torch.device, batch: int, repeats: int) -> dict:
    torch.manual_seed(0)
    x = torch.randn(batch, cfg.seq_len, cfg.feat_dim, device=device)
    str_net = STRNet(cfg).to(device).eval()
    tcmr = TCMRShaped().to(device).eval()
    t_str, t_tcmr = time_models([str_net, tcmr], x, repeats)
    return {
        "batch": batch,
        "str_windows_per_s": round(batch / t_str, 1),
        "tcmr_shaped_windows_per_s": round(batch / t_tcmr, 1),
        "str_over_tcmr_time": round(t_str / t_tcmr, 3),
        "str_params": count_params(str_net),
        "tcmr_shaped_params": count_params(tcmr),
    }


def _frames(n: int) -> list[np.ndarray]:
    import av

    out: list[np.ndarray] = []
    with av.open(str(CLIP)) as container:
        for frame in container.decode(video=0):
            out.append(frame.to_ndarray(format="rgb24"))
            if len(out) == n:
                break
    return out


def bench_image_path(cfg: STRConfig, device: torch.device, frames: int, crop_batch: int,
                     window_batch: int) -> dict:
    rgb = _frames(frames)
    box = np.array([[380.0, 120.0, 470.0, 430.0]])       # one person-sized box per frame
    cx, cy, side = square_boxes(box)[0]
    backbone = ResNet50Backbone().to(device).eval()
    net = STRNet(cfg).to(device).eval()
    with torch.no_grad():  # warm-up
        backbone(torch.zeros(2, 3, 224, 224, device=device))
        net(torch.zeros(2, cfg.seq_len, cfg.feat_dim, device=device))
    _sync(device)
    t0 = time.perf_counter()
    crops = np.stack([crop_rgb(f, cx, cy, side) for f in rgb])
    batch = normalise(crops)
    t1 = time.perf_counter()
    feats = []
    with torch.no_grad():
        for s in range(0, len(batch), crop_batch):
            feats.append(backbone(torch.from_numpy(batch[s : s + crop_batch]).to(device)))
        feats_t = torch.cat(feats)
        _sync(device)
        t2 = time.perf_counter()
        idx = torch.from_numpy(window_indices(len(rgb), cfg.seq_len)).to(device)
        for s in range(0, len(idx), window_batch):
            net(feats_t[idx[s : s + window_batch]])
        _sync(device)
    t3 = time.perf_counter()
    total = t3 - t0
    return {
        "frames": len(rgb),
        "crop_s": round(t1 - t0, 3),
        "backbone_s": round(t2 - t1, 3),
        "str_windows_s": round(t3 - t2, 3),
        "frames_per_s": round(len(rgb) / total, 2),
        "realtime_ratio_30fps": round(len(rgb) / total / 30.0, 3),
        "backbone_share": round((t2 - t1) / total, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--config", default=None, help="STRConfig overrides as a JSON object")
    parser.add_argument("--batch", type=int, default=32, help="windows per temporal forward")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--frames", type=int, default=48, help="frames for the image path")
    parser.add_argument("--crop-batch", type=int, default=32)
    parser.add_argument("--window-batch", type=int, default=64)
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: CUDA is not available")
    cfg = STRConfig.from_dict(json.loads(args.config) if args.config else {})
    load_before = _load_average()
    result = {
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)",
        "torch": str(torch.__version__),
        "temporal": bench_temporal(cfg, device, args.batch, args.repeats),
        "image_path": bench_image_path(cfg, device, args.frames, args.crop_batch, args.window_batch),
    }
    result["machine"] = {"cpus": os.cpu_count(), "threads": torch.get_num_threads(),
                         "load_1m_before": load_before, "load_1m_after": _load_average()}
    print(json.dumps(result, indent=2))


def _load_average() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # Windows has no load average
        return None


if __name__ == "__main__":
    main()
