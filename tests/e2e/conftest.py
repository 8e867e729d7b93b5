"""End-to-end fixtures: the bundled clip captured once per session by the real CLI.

``captured_sample`` (a Path to the motion file) is shared with other e2e tests: the capture of
the 4.5 s clip takes about 15 s on a 2-core CPU, so it runs at most once per session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE_CLIP = REPO / "assets" / "sample" / "two_people_backlit.mp4"


@pytest.fixture(scope="session")
def e2e_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for backend subprocesses: an isolated model cache, the repo importable."""
    env = dict(os.environ)
    env["STR_MOCAP_CACHE"] = str(tmp_path_factory.mktemp("e2e_cache"))
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("STR_MOCAP_STR_CHECKPOINT", None)
    return env


@pytest.fixture(scope="session")
def captured_sample_run(tmp_path_factory: pytest.TempPathFactory, e2e_env: dict[str, str]):
    """(motion file path, JSON-line events) of one default-solver capture of the sample clip."""
    out = tmp_path_factory.mktemp("e2e_capture") / "two_people_backlit.npz"
    cmd = [sys.executable, "-m", "inference_backend", "capture", str(SAMPLE_CLIP), "-o", str(out),
           "--max-people", "2", "--progress", "jsonl"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=e2e_env, timeout=600)
    assert proc.returncode == 0, f"capture failed ({proc.returncode}):\n{proc.stderr[-4000:]}"
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return out, events


@pytest.fixture(scope="session")
def captured_sample(captured_sample_run) -> Path:
    """Path of the motion file captured from assets/sample/two_people_backlit.mp4."""
    return captured_sample_run[0]
