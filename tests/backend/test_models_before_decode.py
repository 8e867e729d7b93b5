"""A bad STR checkpoint or SMPL model file fails the capture (exit code 8) *before* a single
frame is decoded: the user is not made to wait for decoding, detection and tracking first."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from inference_backend.config import CaptureConfig
from inference_backend.errors import CaptureError, ExitCode
from inference_backend.models import STRConfig, STRNet
from inference_backend.models.backbone import ResNet50Backbone
from inference_backend.models.checkpoint import save_str_checkpoint
from inference_backend.pipeline import run_capture
from inference_backend.progress import ProgressReporter

SMALL = STRConfig(ttr_hidden=16, ste_hidden=16, part_hidden=16, integration_dim=128,
                  attention_dim=16, ste_conv_kernel=1)


class _Stages(ProgressReporter):
    def __init__(self) -> None:
        super().__init__()
        self.stages: list[str] = []

    def progress(self, stage: str, done: int, total: int) -> None:
        self.stages.append(stage)
        super().progress(stage, done, total)


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("ckpt")
    return save_str_checkpoint(folder / "str.pt", STRNet(SMALL), ResNet50Backbone(),
                               meta={"trained": False})


def _fails_before_decoding(config: CaptureConfig) -> CaptureError:
    reporter = _Stages()
    with pytest.raises(CaptureError) as err:
        run_capture(config, reporter)
    assert err.value.code == ExitCode.MODEL_PROBLEM, err.value.message
    assert reporter.stages == [], f"decoding started before the models were checked: {reporter.stages}"
    assert not config.output.exists()
    return err.value


@pytest.mark.parametrize("content", [b"", b"not a torch file at all" * 10], ids=["empty", "garbage"])
def test_bad_str_checkpoint_fails_before_decoding(content: bytes, sample_clip: Path,
                                                  tmp_path: Path) -> None:
    checkpoint = tmp_path / "str.pt"
    checkpoint.write_bytes(content)
    error = _fails_before_decoding(CaptureConfig(
        video=sample_clip, output=tmp_path / "o.npz", solver="str", device="cpu",
        str_checkpoint=checkpoint))
    assert "str.pt" in error.message


def test_bad_smpl_file_fails_before_decoding(good_checkpoint: Path, sample_clip: Path,
                                             tmp_path: Path) -> None:
    smpl = tmp_path / "smpl"
    smpl.mkdir()
    (smpl / "SMPL_NEUTRAL.pkl").write_bytes(b"\x80\x04garbage that is not a model")
    error = _fails_before_decoding(CaptureConfig(
        video=sample_clip, output=tmp_path / "o.npz", solver="str", device="cpu",
        str_checkpoint=good_checkpoint, smpl_dir=smpl))
    assert "SMPL_NEUTRAL.pkl" in error.message
