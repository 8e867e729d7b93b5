"""The camera stage on real footage: the bundled clip was filmed from a still camera, so the
default ``--camera auto`` capture must be exactly the ``--camera static`` one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from inference_backend.export import read_motion_file

SAMPLE_CLIP = Path(__file__).resolve().parents[2] / "assets" / "sample" / "two_people_backlit.mp4"


def test_still_footage_stays_exactly_static(captured_sample: Path, tmp_path: Path,
                                            e2e_env) -> None:
    auto = read_motion_file(captured_sample)
    tracking = auto.header["camera"]["tracking"]
    assert tracking["mode"] == "auto" and not tracking["moving"]
    assert tracking["coverage"] > 0.9 and tracking["max_angle_deg"] < 0.1
    assert auto.header["camera"]["static"] is True
    out = tmp_path / "static.npz"
    cmd = [sys.executable, "-m", "inference_backend", "capture", str(SAMPLE_CLIP), "-o", str(out),
           "--max-people", "2", "--progress", "none", "--camera", "static"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=e2e_env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    static = read_motion_file(out)
    assert "tracking" not in static.header["camera"]
    assert set(auto.arrays) == set(static.arrays)
    for key, value in static.arrays.items():
        np.testing.assert_array_equal(auto.arrays[key], value, err_msg=key)
