"""Camera from cam_K + OpenCV extrinsics: projecting joints through Blender matches K."""

from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from bpy_extras.object_utils import world_to_camera_view  # noqa: E402
from mathutils import Vector  # noqa: E402

from str_blender_addon.core.rotations import axis_angle_to_matrix, y_up_to_z_up  # noqa: E402
from str_blender_addon.importer import ImportOptions, import_motion  # noqa: E402


def _project_k(k, r, t, points):
    cam = points @ r.T + t
    uv = cam @ k.T
    return uv[:, :2] / uv[:, 2:3]


def _project_blender(scene, cam_obj, points_zup):
    w, h = scene.render.resolution_x, scene.render.resolution_y
    out = []
    for p in points_zup:
        ndc = world_to_camera_view(scene, cam_obj, Vector(p.tolist()))
        out.append([ndc.x * w, (1.0 - ndc.y) * h])
    return np.array(out)


@pytest.mark.parametrize("moving", [False, True])
def test_projection_matches_cam_k(empty_scene, tmp_path, helpers, moving):
    arrays = helpers.synthetic_walk(40, 30.0, n_persons=2, moving_camera=moving)
    path = helpers.write_motion_file(tmp_path / "cam.npz", arrays, helpers.make_header(arrays))
    res = import_motion(empty_scene, path, ImportOptions(build_body_mesh=False))
    scene = empty_scene.scene
    cam = res.camera
    assert cam is not None and scene.camera == cam
    assert (scene.render.resolution_x, scene.render.resolution_y) == (960, 540)
    assert any("video not found" in w for w in res.warnings)
    assert (cam.animation_data is not None) == moving
    worst = 0.0
    for f in (0, 20, 39):
        scene.frame_set(1 + f)
        pts = arrays["joints3d"][:, f].reshape(-1, 3).astype(np.float64)
        expected = _project_k(arrays["cam_K"], arrays["cam_R"][f], arrays["cam_t"][f], pts)
        got = _project_blender(scene, cam, y_up_to_z_up(pts))
        assert np.all(got[:, 0] > 0) and np.all(got[:, 0] < 960)
        worst = max(worst, float(np.abs(got - expected).max()))
    assert worst < 1.0, worst


def test_video_background_attached(empty_scene, tmp_path, helpers):
    from pathlib import Path

    video = Path(__file__).resolve().parents[2] / "assets" / "sample" / "two_people_backlit.mp4"
    arrays = helpers.synthetic_walk(20, 30.0)
    header = helpers.make_header(arrays, video_name=video.name, video_path=str(video))
    path = helpers.write_motion_file(tmp_path / "v.npz", arrays, header)
    res = import_motion(empty_scene, path, ImportOptions(build_body_mesh=False, start_frame=5))
    cam_data = res.camera.data
    assert cam_data.show_background_images
    bg = cam_data.background_images[0]
    assert bg.source == "MOVIE_CLIP" and bg.clip is not None
    assert tuple(bg.clip.size) == (960, 540)
    assert bg.clip.frame_start == 5
    assert not any("video" in w for w in res.warnings)


def test_video_found_next_to_a_moved_motion_file(empty_scene, tmp_path, helpers):
    import shutil
    from pathlib import Path

    video = Path(__file__).resolve().parents[2] / "assets" / "sample" / "two_people_backlit.mp4"
    shutil.copy(video, tmp_path / video.name)
    arrays = helpers.synthetic_walk(10, 30.0)
    header = helpers.make_header(arrays, video_name=video.name,
                                 video_path="/no/such/folder/" + video.name)
    path = helpers.write_motion_file(tmp_path / "moved.npz", arrays, header)
    res = import_motion(empty_scene, path, ImportOptions(build_body_mesh=False))
    clip = res.camera.data.background_images[0].clip
    assert Path(clip.filepath).resolve() == (tmp_path / video.name).resolve()


def _handheld_pan(cam_r: np.ndarray, cam_t: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A camera turning about its own centre: a 50 deg pan with ~1 deg of shake
    (``x_cam_f = rel[f] @ x_cam_0``), the first frame's extrinsics ``cam_r``, ``cam_t``."""
    s = np.linspace(0.0, 1.0, n)
    rng = np.random.default_rng(4)
    shake = np.radians(1.0) * np.sin(2 * np.pi * (s[:, None] * rng.uniform(3, 9, 3)
                                                  + rng.uniform(0, 1, 3)))
    aa = shake + np.c_[np.zeros(n), np.radians(50.0) * (3 * s ** 2 - 2 * s ** 3), np.zeros(n)]
    rel = axis_angle_to_matrix(aa)
    return (rel @ cam_r).astype(np.float32), (rel @ cam_t).astype(np.float32)


def test_panning_camera_keeps_the_rig_on_the_video(empty_scene, tmp_path, helpers):
    """A handheld pan (camera.static = false): every frame's joints project through the
    animated Blender camera where the file's camera puts them (within 1 px), and the camera is
    keyed once per frame."""
    n = 60
    arrays = helpers.synthetic_walk(n, 30.0, n_persons=1)
    arrays["cam_R"], arrays["cam_t"] = _handheld_pan(arrays["cam_R"][0].astype(np.float64),
                                                     arrays["cam_t"][0].astype(np.float64), n)
    header = helpers.make_header(arrays)
    header["camera"]["static"] = False
    path = helpers.write_motion_file(tmp_path / "pan.npz", arrays, header)
    res = import_motion(empty_scene, path, ImportOptions(build_body_mesh=False))
    scene, cam = empty_scene.scene, res.camera
    from str_blender_addon.bpy_compat import action_fcurves

    curves = list(action_fcurves(cam))
    rot_curves = [c for c in curves if c.data_path == "rotation_quaternion"]
    assert len(rot_curves) == 4 and all(len(c.keyframe_points) == n for c in rot_curves)
    worst = 0.0
    in_view = 0
    for f in range(n):
        scene.frame_set(1 + f)
        pts = arrays["joints3d"][:, f].reshape(-1, 3).astype(np.float64)
        expected = _project_k(arrays["cam_K"], arrays["cam_R"][f], arrays["cam_t"][f], pts)
        got = _project_blender(scene, cam, y_up_to_z_up(pts))
        worst = max(worst, float(np.abs(got - expected).max()))
        in_view += int(np.all((expected[:, 0] > 0) & (expected[:, 0] < 960)))
    assert worst < 1.0, worst
    assert in_view >= n // 4          # the check is not all off-screen points
