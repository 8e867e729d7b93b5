"""The solver protocol and the registry the pipeline chooses a solver from.

A solver turns tracked people (``TrackObservations``) into camera-frame tracks
(``CameraFrameTracks``); the scene stage (scene.py) does everything after that, the same for
every solver. A solver is built from a frozen config by ``from_capture`` (the capture settings
it reads, by name, so a misspelt setting fails where it is written), lives for one capture,
may watch the frames of the one decode pass through a ``FrameSink`` and never decodes the
video itself.

Solver modules are imported only when chosen: the STR solver imports torch (~1.5 s).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .config import CaptureConfig
from .errors import CaptureError, ExitCode
from .motion_types import CameraFrameTracks, CameraIntrinsics, TrackObservations, VideoInfo

if TYPE_CHECKING:
    from .motion_types import Detection

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class SolveInput:
    """What the solve step gets: the video, the tracked people over the capture's F frames
    and the frames' timestamps (F,) in seconds. ``footage_fov_deg``: a horizontal field of view
    measured from the footage itself (the camera's own turning,
    camera_motion.focal_from_rotation), which solvers use instead of estimating one from the
    people when there is no ``--fov`` override; ``lines_fov_deg``: one measured from the
    background's straight lines (vanishing_points.py), used when there is neither.
    ``intrinsics_chosen``: called with the intrinsics the solver will return as soon as it has
    chosen them, before it fits anyone (the pipeline starts the camera stage then, beside the
    fit); a solver need not call it (the camera stage then waits for ``solve``)."""

    video: VideoInfo
    tracks: tuple[TrackObservations, ...]
    timestamps: np.ndarray
    footage_fov_deg: float | None = None
    lines_fov_deg: float | None = None
    intrinsics_chosen: Callable[[CameraIntrinsics], None] | None = None


class FrameSink(Protocol):
    """Sees every decoded frame once, during the decode+detect pass."""

    def add_frame(self, position: int, rgb: np.ndarray, detections: Sequence[Detection]) -> None:
        """position: capture frame index; rgb: (h, w, 3) uint8, possibly downscaled from the
        displayed size (detections are in displayed-frame pixels)."""


class Solver(Protocol):
    """One capture's solver (see the module docstring)."""

    name: str
    version: str

    def models(self) -> dict[str, str]:
        """Versions of the models used, for the motion file header."""

    def frame_sink(self, video: VideoInfo) -> FrameSink | None:
        """A sink for the decoded frames, or None when the solver needs only the landmarks.
        Called before decoding: model problems surface here, not after the long pass."""

    def solve(self, observed: SolveInput, progress: Progress) -> CameraFrameTracks:
        """Camera-frame tracks of the observed people."""


class SolverFactory(Protocol):
    def from_capture(self, config: CaptureConfig, device: str) -> Solver: ...


@dataclass(frozen=True)
class SolverEntry:
    """A registered solver: ``module.attribute`` is its factory (imported when chosen);
    ``uses_torch``: the pipeline resolves ``--device auto`` only for these."""

    name: str
    module: str
    attribute: str
    uses_torch: bool
    summary: str

    def load(self) -> SolverFactory:
        """The factory; exit code 8 (model problem) when the solver cannot be imported."""
        try:
            return getattr(importlib.import_module(self.module), self.attribute)
        except (ImportError, AttributeError) as exc:
            raise CaptureError(
                ExitCode.MODEL_PROBLEM,
                f"the {self.name!r} solver is not available ({exc}); run "
                "`python -m inference_backend doctor` to check the installation",
            ) from exc


REGISTRY: dict[str, SolverEntry] = {
    entry.name: entry for entry in (
        SolverEntry("default", "inference_backend.solver_default", "DefaultSolver", False,
                    "MediaPipe landmarks + kinematic SMPL skeleton fit (nothing to download)"),
        SolverEntry("str", "inference_backend.solver_str", "StrSolver", True,
                    "the STR network (needs a checkpoint)"),
    )
}


def solver_entry(name: str) -> SolverEntry:
    """The registered solver ``name``; a usage error (exit code 2) naming the choices."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise CaptureError(
            ExitCode.USAGE, f"unknown solver {name!r}; choose one of {sorted(REGISTRY)}"
        ) from None
