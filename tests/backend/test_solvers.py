"""The solver registry and how the pipeline reaches a solver: by registry entry, with typed
settings; unknown names are usage errors, model problems show before any frame is decoded."""

from __future__ import annotations

from pathlib import Path

import pytest

from inference_backend import pipeline
from inference_backend.cli import build_parser
from inference_backend.config import CaptureConfig
from inference_backend.errors import CaptureError, ExitCode
from inference_backend.solver_default import DefaultSolver, SolverConfig
from inference_backend.solvers import REGISTRY, solver_entry


def _config(tmp_path: Path, **kw) -> CaptureConfig:
    return CaptureConfig(video=tmp_path / "v.mp4", output=tmp_path / "o.npz", **kw)


def test_the_cli_offers_exactly_the_registered_solvers() -> None:
    capture = build_parser()._subparsers._group_actions[0].choices["capture"]  # type: ignore[union-attr]
    solver_option = next(a for a in capture._actions if a.dest == "solver")
    assert tuple(solver_option.choices) == tuple(REGISTRY) == ("default", "str")


def test_unknown_solver_is_a_usage_error_naming_the_choices() -> None:
    with pytest.raises(CaptureError, match=r"unknown solver 'strr'.*\['default', 'str'\]") as err:
        solver_entry("strr")
    assert err.value.code == ExitCode.USAGE


def test_the_default_solver_gets_its_typed_settings(tmp_path: Path) -> None:
    solver = pipeline.load_solver(_config(tmp_path, fov_deg=55.0, device="cuda"))
    assert isinstance(solver, DefaultSolver)
    assert solver.config == SolverConfig(fov_deg=55.0)      # nothing else was set, or dropped
    assert solver.name == "default" and solver.frame_sink(None) is None  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        SolverConfig(fov=55.0)  # type: ignore[call-arg]  # a misspelt option is an error


def test_str_model_problems_show_before_decoding(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="needs a checkpoint") as err:
        pipeline.load_solver(_config(tmp_path, solver="str", device="cpu"))
    assert err.value.code == ExitCode.MODEL_PROBLEM
    with pytest.raises(CaptureError, match="STR checkpoint not found") as err:
        pipeline.load_solver(_config(tmp_path, solver="str", device="cpu",
                                     str_checkpoint=tmp_path / "missing.pt"))
    assert err.value.code == ExitCode.MODEL_PROBLEM
    with pytest.raises(CaptureError, match="SMPL folder not found"):
        pipeline.load_solver(_config(tmp_path, smpl_dir=tmp_path / "nowhere"))


def test_observe_does_not_check_the_time_range_again(sample_clip: Path, monkeypatch) -> None:
    """run_capture checks --start/--end once, before the solver loads; observe trusts it."""
    from inference_backend.config import DecodeConfig
    from inference_backend.video_io import probe_video

    def checked(*args, **kwargs) -> None:
        raise AssertionError("check_time_range ran a second time")

    monkeypatch.setattr(pipeline, "check_time_range", checked)
    obs = pipeline.observe(probe_video(sample_clip), DecodeConfig(start=1.0, end=2.0), 2,
                           lambda *a: None, lambda: False)
    assert 28 <= len(obs.timestamps) <= 32 and obs.tracks
