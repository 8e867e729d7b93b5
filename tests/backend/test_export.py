"""Motion-file writer/reader: contract shapes and header, validation, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inference_backend import export
from inference_backend.errors import CaptureError, ExitCode
from inference_backend.export import (
    SCHEMA_VERSION,
    MotionFileError,
    check_output_writable,
    read_motion_file,
    write_motion_file,
)
from inference_backend.motion_types import PersonMotion, SceneSolution, VideoInfo
from inference_backend.smpl_constants import (
    SMPL_JOINT_NAMES,
    SMPL_PARENTS,
)

F = 12  # frames of make_scene
VIDEO = VideoInfo(path="/videos/walk.mp4", width=960, height=540, rotation=0, fps=30.0,
                  num_frames=135, duration=4.5, codec="h264")


def _write(path: Path, solution: SceneSolution, **extras) -> dict:
    timestamps = np.arange(F) / 30.0 + 1.0
    return write_motion_file(path, solution, VIDEO, timestamps, np.arange(30, 30 + F), extras)


def test_round_trip_matches_the_contract(tmp_path: Path, fk, make_scene) -> None:
    solution = make_scene()
    out = tmp_path / "motion.npz"
    _write(out, solution, smoothing="light", warnings=["frame 57 could not be decoded"])
    with np.load(out, allow_pickle=False) as raw:  # no object arrays anywhere
        assert set(raw.files) == {"header", *export.ARRAY_KEYS}
        assert raw["header"].dtype.kind == "U" and raw["header"].shape == ()
    motion = read_motion_file(out)
    h, a = motion.header, motion.arrays
    assert h["schema_version"] == SCHEMA_VERSION == "1.0"
    assert h["num_persons"] == 2 and h["num_frames"] == F and h["fps"] == 30.0
    assert h["joint_names"] == list(SMPL_JOINT_NAMES) and h["parents"] == list(SMPL_PARENTS)
    assert h["units"] == "m" and h["up_axis"] == "Y" and h["smoothing"] == "light"
    assert h["video"]["name"] == "walk.mp4" and h["video"]["width"] == 960
    assert h["video"]["start_time"] == pytest.approx(1.0)
    assert h["video"]["end_time"] == pytest.approx(1.0 + (F - 1) / 30)
    assert h["camera"]["fov_y_deg"] == pytest.approx(48.4555, abs=1e-3)  # 2 atan(270/600)
    assert h["camera"]["height_m"] == pytest.approx(-1.4)
    assert h["camera"]["model"] == "pinhole_opencv" and h["camera"]["static"] is True
    assert h["persons"][1] == {"track_id": 2, "first_frame": 2, "last_frame": F - 1,
                               "height_m": pytest.approx(1.705, abs=1e-3),
                               "height_source": "estimated"}
    assert h["warnings"] == ["frame 57 could not be decoded", "solver note"]
    assert a["timestamps"].dtype == np.float64 and a["frame_indices"].dtype == np.int64
    assert a["body_pose"].shape == (2, F, 23, 3) and a["body_pose"].dtype == np.float32
    assert a["valid"].dtype == bool and not a["valid"][1, :2].any()
    np.testing.assert_array_equal(a["track_ids"], [1, 2])
    np.testing.assert_array_equal(a["frame_indices"], np.arange(30, 30 + F))
    # joints3d is the FK of the stored parameters (the contract's 1e-4 m)
    for p in range(2):
        joints = fk(a["rest_joints"][p], a["global_orient"][p], a["body_pose"][p], a["transl"][p])
        assert np.abs(joints - a["joints3d"][p]).max() < 1e-4


def test_nan_is_refused_and_nothing_is_written(tmp_path: Path, fk, make_scene) -> None:
    good = make_scene()
    bad_joints = good.persons[0].joints3d.copy()
    bad_joints[3, 5, 1] = np.nan
    bad = SceneSolution(good.camera, (PersonMotion(**{**good.persons[0].__dict__,
                                                      "joints3d": bad_joints}),))
    out = tmp_path / "motion.npz"
    out.write_bytes(b"previous")
    with pytest.raises(MotionFileError, match="joints3d contains NaN"):
        _write(out, bad)
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["motion.npz"]


def test_wrong_shapes_and_ranges_are_refused(tmp_path: Path, fk, make_scene) -> None:
    good = make_scene(persons=1)
    person = good.persons[0]
    short = PersonMotion(**{**person.__dict__, "transl": person.transl[:-1]})
    with pytest.raises(MotionFileError, match="wrong shape"):
        _write(tmp_path / "a.npz", SceneSolution(good.camera, (short,)))
    loud = PersonMotion(**{**person.__dict__, "contacts": person.contacts + 1.5})
    with pytest.raises(MotionFileError, match=r"contacts must lie in \[0, 1\]"):
        _write(tmp_path / "b.npz", SceneSolution(good.camera, (loud,)))
    with pytest.raises(MotionFileError, match="strictly increasing"):
        write_motion_file(tmp_path / "c.npz", good, VIDEO, np.zeros(F), np.arange(F))
    assert list(tmp_path.iterdir()) == []


def test_failure_while_writing_removes_the_temp_file(tmp_path: Path, make_scene, monkeypatch) -> None:
    out = tmp_path / "motion.npz"
    out.write_bytes(b"previous")

    def broken_save(handle, arrays):
        handle.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export, "save_npz", broken_save)
    with pytest.raises(CaptureError) as err:
        _write(out, make_scene())
    assert err.value.code == ExitCode.OUTPUT_NOT_WRITABLE
    assert "No space left" in err.value.message
    assert out.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["motion.npz"]


def test_reader_refuses_another_major_version(tmp_path: Path, fk, make_scene) -> None:
    out = tmp_path / "motion.npz"
    _write(out, make_scene())
    with np.load(out, allow_pickle=False) as raw:
        data = {k: raw[k] for k in raw.files}
    header = json.loads(str(data["header"]))
    header["schema_version"] = "1.7"
    data["header"] = np.array(json.dumps(header))
    np.savez(out, **data)
    assert read_motion_file(out).header["schema_version"] == "1.7"  # minor versions are fine
    header["schema_version"] = "2.0"
    data["header"] = np.array(json.dumps(header))
    np.savez(out, **data)
    with pytest.raises(MotionFileError, match="schema version '2.0'"):
        read_motion_file(out)


def test_output_checks(tmp_path: Path) -> None:
    check_output_writable(tmp_path / "ok.npz")
    assert list(tmp_path.iterdir()) == []  # the probe file is gone
    for bad in (tmp_path / "missing" / "out.npz", tmp_path):
        with pytest.raises(CaptureError) as err:
            check_output_writable(bad)
        assert err.value.code == ExitCode.OUTPUT_NOT_WRITABLE
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(CaptureError) as err:
        check_output_writable(blocker / "out.npz")
    assert err.value.code == ExitCode.OUTPUT_NOT_WRITABLE
