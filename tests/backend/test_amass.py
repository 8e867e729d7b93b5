"""AMASS-style export: Z-up world, translation absorbs the rest pelvis, FK matches W @ joints3d."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from inference_backend.amass import Y_UP_TO_Z_UP, export_amass, to_z_up
from inference_backend.errors import CaptureError, ExitCode
from inference_backend.export import read_motion_file


def test_w_maps_y_up_to_z_up() -> None:
    np.testing.assert_allclose(Y_UP_TO_Z_UP @ [1.0, 2.0, 3.0], [1.0, -3.0, 2.0])
    assert np.linalg.det(Y_UP_TO_Z_UP) == pytest.approx(1.0)


def test_fk_of_exported_params_equals_rotated_joints(motion_path: Path, tmp_path: Path, fk) -> None:
    written = export_amass(motion_path, tmp_path / "amass")
    assert [p.name for p in written] == ["take_person1_poses.npz", "take_person2_poses.npz"]
    motion = read_motion_file(motion_path)
    for p, path in enumerate(written):
        with np.load(path, allow_pickle=False) as data:
            poses, trans = data["poses"], data["trans"]
            assert poses.shape == (12, 72) and trans.shape == (12, 3)
            assert data["betas"].shape == (10,)
            assert float(data["mocap_framerate"]) == 25.0 and str(data["gender"]) == "neutral"
        rest = motion["rest_joints"][p]
        joints = fk(rest, poses[:, :3], poses[:, 3:].reshape(12, 23, 3), trans)
        expected = motion["joints3d"][p] @ Y_UP_TO_Z_UP.T
        assert np.abs(joints - expected).max() < 1e-4
        # the body pose is local, so it is unchanged by the change of world axes
        np.testing.assert_allclose(poses[:, 3:], motion["body_pose"][p].reshape(12, 69), atol=1e-6)


def test_naive_translation_would_be_wrong(fk) -> None:
    # the rest pelvis offset matters: trans' = W t alone misplaces the body by (W - I) J0
    rest = np.zeros((24, 3))
    rest[0] = [0.0, -0.22, 0.03]
    orient, trans = to_z_up(np.zeros((1, 3)), np.zeros((1, 3)), rest[0])
    np.testing.assert_allclose(trans[0], Y_UP_TO_Z_UP @ rest[0] - rest[0])
    assert np.linalg.norm(trans[0]) > 0.2


def test_missing_and_bad_input(tmp_path: Path) -> None:
    with pytest.raises(CaptureError) as err:
        export_amass(tmp_path / "none.npz", tmp_path)
    assert err.value.code == ExitCode.FILE_MISSING
    bad = tmp_path / "bad.npz"
    bad.write_text("not a motion file")
    with pytest.raises(CaptureError) as err:
        export_amass(bad, tmp_path / "out")
    assert err.value.code == ExitCode.BAD_MOTION_FILE and "bad.npz" in err.value.message


def test_cli_export_amass(motion_path: Path, tmp_path: Path, backend_cmd, backend_env) -> None:
    out = tmp_path / "cli_out"
    proc = subprocess.run([*backend_cmd, "export-amass", str(motion_path), "-o", str(out)],
                          capture_output=True, text=True, env=backend_env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["take_person1_poses.npz",
                                                      "take_person2_poses.npz"]
    assert proc.stdout.strip().splitlines()[0].endswith("take_person1_poses.npz")
