"""The motion file is the one interface: what the backend writes, the add-on reads unchanged.

Writes with ``inference_backend.export.write_motion_file`` and reads with
``str_blender_addon.core.motion_file.read_motion_file`` (the only place that imports both trees).
The FK identity of docs/motion_file.md is re-derived here independently of either side.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from inference_backend.export import write_motion_file
from inference_backend.motion_types import CameraEstimate, PersonMotion, SceneSolution, VideoInfo
from inference_backend.smpl_constants import (
    SMPL_JOINT_NAMES,
    SMPL_PARENTS,
    SMPL_TEMPLATE_REST_JOINTS,
)
from str_blender_addon.core.motion_file import MotionFileError, read_motion_file

F = 48


def _rotation(aa: np.ndarray) -> np.ndarray:
    """Rodrigues, written out here so the test does not trust either side's implementation."""
    theta = np.linalg.norm(aa, axis=-1, keepdims=True)
    axis = aa / np.maximum(theta, 1e-12)
    x, y, z = np.moveaxis(axis, -1, 0)
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*aa.shape[:-1], 3, 3)
    s, c = np.sin(theta)[..., None], np.cos(theta)[..., None]
    return np.eye(3) + s * k + (1 - c) * (k @ k)


def _fk(rest: np.ndarray, go: np.ndarray, bp: np.ndarray, tr: np.ndarray) -> np.ndarray:
    local = _rotation(np.concatenate([go[:, None], bp], 1))
    glob = [local[:, 0]]
    pos = [np.repeat(rest[None, 0], len(go), 0)]
    for j in range(1, 24):
        p = SMPL_PARENTS[j]
        glob.append(glob[p] @ local[:, j])
        pos.append(pos[p] + np.einsum("fab,b->fa", glob[p], rest[j] - rest[p]))
    return np.stack(pos, 1) + tr[:, None]


def _person(track_id: int, seed: int) -> PersonMotion:
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 2 * np.pi, F)
    rest = SMPL_TEMPLATE_REST_JOINTS.astype(np.float64) * (1 + 0.05 * seed)
    go = np.stack([0.1 * np.sin(t), t / 4, 0 * t], 1)
    bp = 0.3 * np.sin(t[:, None, None] + rng.uniform(0, 6, (1, 23, 3)))
    tr = np.stack([np.linspace(0, 2, F), 0.93 + 0.02 * np.sin(2 * t), 0 * t], 1)
    joints = _fk(rest, go, bp, tr)
    valid = np.ones(F, bool)
    valid[30:34] = False
    return PersonMotion(
        track_id=track_id, global_orient=go.astype(np.float32), body_pose=bp.astype(np.float32),
        transl=tr.astype(np.float32), rest_joints=rest.astype(np.float32),
        joints3d=joints.astype(np.float32), valid=valid,
        contacts=rng.uniform(0, 1, (F, 4)).astype(np.float32),
        confidence=rng.uniform(0.5, 1, (F, 24)).astype(np.float32),
    )


@pytest.fixture()
def written(tmp_path: Path) -> tuple[Path, SceneSolution, np.ndarray]:
    K = np.array([[800.0, 0, 480], [0, 800, 270], [0, 0, 1]])
    R = np.repeat(np.diag([1.0, -1.0, -1.0])[None], F, 0)
    cam = CameraEstimate(K=K, R=R, t=np.tile([0.0, 1.5, 4.0], (F, 1)), static=True)
    solution = SceneSolution(camera=cam, persons=(_person(3, 1), _person(7, 2)),
                             warnings=("frame 12 was corrupt and skipped",))
    video = VideoInfo(path="/videos/clip.mp4", width=960, height=540, rotation=90, fps=30000 / 1001,
                      num_frames=F, duration=F * 1001 / 30000)
    timestamps = np.arange(F) * 1001 / 30000
    timestamps[20:] += 0.5  # a variable-frame-rate gap must survive
    out = tmp_path / "capture.npz"
    write_motion_file(out, solution, video, timestamps, np.arange(F) + 100)
    return out, solution, timestamps


def test_addon_reads_exactly_what_the_backend_wrote(written) -> None:
    path, solution, timestamps = written
    motion = read_motion_file(path)
    assert motion.num_persons == 2 and motion.num_frames == F
    np.testing.assert_array_equal(motion.track_ids, [3, 7])
    np.testing.assert_allclose(motion.timestamps, timestamps, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(motion.frame_indices, np.arange(F) + 100)
    for i, person in enumerate(solution.persons):
        for key in ("global_orient", "body_pose", "transl", "rest_joints", "joints3d",
                    "contacts", "confidence", "betas"):
            np.testing.assert_allclose(getattr(motion, key)[i], getattr(person, key),
                                       atol=1e-6, err_msg=key)
        np.testing.assert_array_equal(motion.valid[i], person.valid)
    np.testing.assert_allclose(motion.cam_K, solution.camera.K, atol=1e-4)
    assert motion.cam_R.shape == (F, 3, 3) and motion.cam_t.shape == (F, 3)
    header = motion.header
    assert header["schema_version"].split(".")[0] == "1"
    assert list(header["joint_names"]) == list(SMPL_JOINT_NAMES)
    assert list(header["parents"]) == list(SMPL_PARENTS)
    assert header["units"] == "m" and header["up_axis"] == "Y"
    assert header["video"]["rotation"] == 90 and header["video"]["width"] == 960
    assert abs(motion.fps - 30000 / 1001) < 1e-3
    assert "frame 12 was corrupt and skipped" in header["warnings"]


def test_joints3d_is_the_fk_of_the_stored_parameters(written) -> None:
    motion = read_motion_file(written[0])
    for i in range(motion.num_persons):
        fk = _fk(motion.rest_joints[i].astype(np.float64), motion.global_orient[i].astype(np.float64),
                 motion.body_pose[i].astype(np.float64), motion.transl[i].astype(np.float64))
        assert np.abs(fk - motion.joints3d[i]).max() < 1e-4


def test_file_holds_no_pickles_and_no_stray_temp_files(written) -> None:
    path = written[0]
    with np.load(path, allow_pickle=False) as data:
        assert all(data[k].dtype != object for k in data.files)
        json.loads(str(data["header"]))
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_reader_refuses_another_major_version(written, tmp_path: Path) -> None:
    with np.load(written[0], allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    header = json.loads(str(arrays["header"]))
    header["schema_version"] = "2.0"
    arrays["header"] = np.array(json.dumps(header))
    future = tmp_path / "future.npz"
    np.savez(future, **arrays)
    with pytest.raises(MotionFileError, match="2.0"):
        read_motion_file(future)
