"""A ``doctor --json`` report in the layout of docs/doctor_report.md, for the fake backend
packages of the add-on tests (the real doctor is run by tests/contract)."""

from __future__ import annotations

from typing import Any


def fake_doctor_report(problems: tuple[str, ...] = (), schema_version: int = 1,
                       versions: dict[str, str | None] | None = None) -> dict[str, Any]:
    """A report that can run the default solver exactly when ``problems`` is empty."""
    return {
        "schema_version": schema_version, "python": "3.11.7", "platform": "Linux",
        "executable": "/fake/python",
        "versions": versions if versions is not None else {"torch": "2.13.0",
                                                            "mediapipe": "0.10.21"},
        "problems": list(problems), "cuda": {"available": False, "devices": []},
        "device": "cpu", "mediapipe_models": {"pose_models_in_wheel": not problems},
        "cache_env": "STR_MOCAP_CACHE", "default_solver": "ok",
        "smpl": {"dir": None, "found": False, "files": []},
        "str_checkpoint": {"path": None, "found": False},
        "default_solver_can_run": not problems,
    }
