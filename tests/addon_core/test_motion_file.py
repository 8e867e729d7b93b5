"""Motion-file reader: a valid file round-trips; every kind of bad file gives a clear error."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from str_blender_addon.core.motion_file import MotionFileError, read_motion_file
from str_blender_addon.core.skeleton import smpl_forward_kinematics


def _helpers():
    """tests/addon_core/conftest.py by path (a bare ``import conftest`` could pick another)."""
    name = "str_test_motion"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("conftest.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


make_header = _helpers().make_header
synthetic_walk = _helpers().synthetic_walk
write_motion_file = _helpers().write_motion_file


def _write(tmp_path, arrays=None, header=None, name="m.npz", **header_extra):
    arrays = synthetic_walk(20, 30.0, 2) if arrays is None else arrays
    header = make_header(arrays, **header_extra) if header is None else header
    return write_motion_file(tmp_path / name, arrays, header)


def test_valid_file_reads_back(tmp_path):
    arrays = synthetic_walk(20, 30.0, 2)
    motion = read_motion_file(_write(tmp_path, arrays))
    assert (motion.num_persons, motion.num_frames) == (2, 20)
    assert motion.fps == 30.0 and motion.video_name == "walk.mp4"
    assert motion.video_size == (960, 540) and motion.camera_static
    assert motion.person_index(6) == 1
    for key in ("timestamps", "global_orient", "body_pose", "transl", "joints3d", "cam_K"):
        assert np.array_equal(getattr(motion, key), arrays[key])
    assert not motion.body_pose.flags.writeable
    # the add-on's FK agrees with the test writer's independent FK (the contract's kinematics)
    joints, _ = smpl_forward_kinematics(motion.rest_joints[1], motion.global_orient[1],
                                        motion.body_pose[1], motion.transl[1])
    assert np.abs(joints - arrays["joints3d"][1]).max() < 1e-4


def test_minor_version_accepted_major_refused(tmp_path):
    arrays = synthetic_walk(5)
    h = make_header(arrays)
    h["schema_version"] = "1.7"
    assert read_motion_file(_write(tmp_path, arrays, h)).num_frames == 5
    h["schema_version"] = "2.0"
    with pytest.raises(MotionFileError, match="schema 2.0.*update the add-on"):
        read_motion_file(_write(tmp_path, arrays, h))
    h["schema_version"] = "one"
    with pytest.raises(MotionFileError, match="schema_version"):
        read_motion_file(_write(tmp_path, arrays, h))


@pytest.mark.parametrize("mutate, message", [
    (lambda a: a.pop("joints3d"), "missing arrays"),
    (lambda a: a.__setitem__("body_pose", a["body_pose"][:, :, :22]), "body_pose.*shape"),
    (lambda a: a.__setitem__("transl", a["transl"][:, :-1]), "transl.*shape"),
    (lambda a: a.__setitem__("valid", a["valid"].astype(np.float32)), "valid.*dtype"),
    (lambda a: a["global_orient"].__setitem__((0, 3, 1), np.nan), "global_orient.*NaN"),
    (lambda a: a["timestamps"].__setitem__(4, a["timestamps"][3]), "strictly increasing"),
    (lambda a: a["contacts"].__setitem__((0, 0, 0), 2.0), "contacts"),
    (lambda a: a.__setitem__("track_ids", np.array([3, 3])), "duplicate track"),
    (lambda a: a["cam_K"].__setitem__((0, 0), 0.0), "cam_K"),
])
def test_schema_violations(tmp_path, mutate, message):
    arrays = synthetic_walk(10, 30.0, 2)
    header = make_header(arrays)
    mutate(arrays)
    with pytest.raises(MotionFileError, match=message):
        read_motion_file(_write(tmp_path, arrays, header))


def test_header_problems(tmp_path):
    arrays = synthetic_walk(5)
    payload = dict(arrays, header=np.array("{not json"))
    np.savez(tmp_path / "h.npz", **payload)
    with pytest.raises(MotionFileError, match="not valid JSON"):
        read_motion_file(tmp_path / "h.npz")
    h = make_header(arrays)
    h["num_frames"] = 99
    with pytest.raises(MotionFileError, match="num_frames=99"):
        read_motion_file(_write(tmp_path, arrays, h))
    h = make_header(arrays)
    h["joint_names"] = list(reversed(h["joint_names"]))
    with pytest.raises(MotionFileError, match="joint_names"):
        read_motion_file(_write(tmp_path, arrays, h))
    np.savez(tmp_path / "amass.npz", poses=np.zeros((3, 72)), trans=np.zeros((3, 3)))
    with pytest.raises(MotionFileError, match="AMASS"):
        read_motion_file(tmp_path / "amass.npz")


def test_truncated_corrupt_missing_and_pickled(tmp_path):
    good = _write(tmp_path)
    data = good.read_bytes()
    (tmp_path / "trunc.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(MotionFileError, match="truncated or corrupt"):
        read_motion_file(tmp_path / "trunc.npz")
    flipped = bytearray(data)
    mid = len(flipped) // 3
    flipped[mid:mid + 64] = bytes(64)
    (tmp_path / "flip.npz").write_bytes(bytes(flipped))
    with pytest.raises(MotionFileError):
        read_motion_file(tmp_path / "flip.npz")
    with pytest.raises(MotionFileError, match="not found"):
        read_motion_file(tmp_path / "nope.npz")
    arrays = synthetic_walk(5)
    payload = dict(arrays, header=np.array(json.dumps(make_header(arrays))),
                   extra=np.array([{"a": 1}], dtype=object))
    np.savez(tmp_path / "obj.npz", **payload)
    with pytest.raises(MotionFileError, match="refused for safety"):
        read_motion_file(tmp_path / "obj.npz")


def test_core_never_imports_bpy_or_torch():
    code = ("import sys, pkgutil, importlib, str_blender_addon.core as c\n"
            "for m in pkgutil.iter_modules(c.__path__): importlib.import_module(c.__name__ + '.' + m.name)\n"
            "bad = sorted(k for k in sys.modules if k.split('.')[0] in ('bpy', 'torch', 'mathutils', 'scipy', 'inference_backend'))\n"
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(("source", "words"), [
    ("vanishing_points", "lens 62° wide, measured from the background's straight edges"),
    ("camera_rotation", "lens 62° wide, measured from the camera's turning"),
    ("override", "lens 62° wide (as given)"),
    ("prior", "lens 62° wide assumed (not measurable from this video: see the warning)"),
    ("something_newer", "lens 62° wide"),
])
def test_lens_summary_names_the_field_of_view_and_where_it_came_from(tmp_path, source, words):
    arrays = synthetic_walk(5)
    header = make_header(arrays)
    header["camera"] = {**header.get("camera", {}), "fov_x_deg": 61.7, "focal_source": source}
    assert read_motion_file(_write(tmp_path, arrays, header)).lens_summary == words


def test_lens_summary_is_empty_without_a_camera_field_of_view(tmp_path):
    arrays = synthetic_walk(5)
    header = make_header(arrays)
    header["camera"] = {k: v for k, v in header.get("camera", {}).items() if k != "fov_x_deg"}
    assert read_motion_file(_write(tmp_path, arrays, header)).lens_summary == ""
