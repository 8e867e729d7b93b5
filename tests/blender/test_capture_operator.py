"""The capture flow in real bpy 4.5 with a REAL backend subprocess (a fake ``inference_backend``
package first on PYTHONPATH that streams progress and writes a small valid motion file).

Module mode has no event loop, so the modal operator is driven the way Blender would drive it:
``CaptureSession.step`` / ``STRMOCAP_OT_capture.modal`` called on "TIMER" events; ``execute``
(the background path) runs through ``bpy.ops``.
"""

from __future__ import annotations

import json
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

import str_blender_addon  # noqa: E402
from str_blender_addon import (  # noqa: E402
    operators,
    paths,
)
from str_blender_addon.capture_job import (  # noqa: E402
    CaptureJob,
    CaptureRequest,
    JobConfig,
    JobStatus,
)
from str_blender_addon.preferences import ENV_BACKEND_PYTHON  # noqa: E402

JOINT_NAMES = [
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hand", "right_hand",
]
PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
REST = np.array([  # SMPL-like rest skeleton (Y-up, metres, pelvis at the origin)
    [0, 0, 0], [0.07, -0.09, 0], [-0.07, -0.09, 0], [0, 0.12, 0], [0.1, -0.48, 0],
    [-0.1, -0.48, 0], [0, 0.26, 0], [0.09, -0.87, -0.04], [-0.09, -0.87, -0.04], [0, 0.31, 0],
    [0.12, -0.93, 0.08], [-0.12, -0.93, 0.08], [0, 0.52, 0], [0.08, 0.43, 0], [-0.08, 0.43, 0],
    [0, 0.6, 0.05], [0.17, 0.46, 0], [-0.17, 0.46, 0], [0.43, 0.44, 0], [-0.43, 0.44, 0],
    [0.68, 0.44, 0], [-0.68, 0.44, 0], [0.76, 0.44, 0], [-0.76, 0.44, 0],
], dtype=np.float32)

WARNING = "frame 7 could not be decoded and was skipped"

FAKE_MAIN = textwrap.dedent(
    """
    import json, os, shutil, signal, sys, time
    def emit(**e):
        sys.stdout.write(json.dumps(e) + "\\n"); sys.stdout.flush()
    args = sys.argv[1:]
    out = args[args.index("-o") + 1]
    mode = os.environ.get("FAKE_SCENARIO", "success")
    if mode == "error":
        emit(event="progress", stage="decode+detect", done=3, total=30, fps=30.0, eta=0.9)
        print("no person found", file=sys.stderr)
        emit(event="error", code=6, message="No person was found in the video.")
        sys.exit(6)
    if mode == "slow":
        def stop(*_):
            if os.path.exists(out + ".tmp"):
                os.remove(out + ".tmp")
            emit(event="error", code=130, message="cancelled")
            sys.exit(130)
        for name in ("SIGTERM", "SIGBREAK"):  # SIGBREAK: CTRL_BREAK on Windows
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), stop)
        open(out + ".tmp", "wb").write(b"partial")
        for i in range(300):
            emit(event="progress", stage="decode+detect", done=i, total=300, fps=10.0)
            time.sleep(0.1)
        sys.exit(0)
    for stage, total in (("decode+detect", 30), ("track", 2), ("solve", 2), ("write", 1)):
        for done in range(0, total + 1, max(1, total // 3)):
            emit(event="progress", stage=stage, done=done, total=total, fps=60.0)
    shutil.copyfile(os.environ["FAKE_MOTION_SOURCE"], out + ".tmp")
    os.replace(out + ".tmp", out)
    emit(event="result", output=out, persons=2, frames=30, warnings=[WARNING_TEXT])
    """
).replace("WARNING_TEXT", repr(WARNING))


def write_motion_file(
    path: Path, num_frames: int = 30, fps: float = 30.0, noise_m: float = 0.0
) -> Path:
    """A minimal valid motion file (docs/motion_file.md): two people walking in place-ish, zero
    joint rotations, so joints3d = rest_joints + transl exactly (the FK of the parameters)."""
    P, F = 2, num_frames
    t = np.arange(F, dtype=np.float64) / fps
    foot_drop = -REST[:, 1].min()
    transl = np.zeros((P, F, 3), np.float32)
    transl[0, :, 0] = -0.5 + 0.8 * t
    transl[1, :, 0] = 0.5
    transl[1, :, 2] = 1.0 - 0.6 * t
    transl[:, :, 1] = foot_drop
    if noise_m:
        transl += np.random.default_rng(0).normal(0, noise_m, transl.shape).astype(np.float32)
    rest = np.stack([REST, REST * 0.95]).astype(np.float32)
    joints3d = rest[:, None] + transl[:, :, None]
    K = np.array([[800, 0, 480], [0, 800, 270], [0, 0, 1]], np.float32)
    header = {
        "schema_version": "1.0", "producer": "test", "created": "2026-11-21T10:00:00Z",
        "units": "m", "up_axis": "Y", "world": "gravity-aligned, Y up, ground at y=0",
        "fps": fps, "num_persons": P, "num_frames": F, "joint_names": JOINT_NAMES,
        "parents": PARENTS, "gender": "neutral",
        "video": {"name": "clip.mp4", "path": "/nonexistent/clip.mp4", "width": 960,
                  "height": 540, "rotation": 0, "fps": fps, "num_frames": F,
                  "duration": F / fps, "start_time": 0.0, "end_time": F / fps},
        "camera": {"model": "pinhole_opencv", "static": True, "fov_y_deg": 37.3, "height_m": 1.4,
                   "fov_x_deg": 61.9, "focal_source": "vanishing_points"},
        "solver": {"name": "default", "version": "0.1.0", "models": {}},
        "smoothing": "medium",
        "persons": [{"track_id": 1, "first_frame": 0, "last_frame": F - 1, "height_m": 1.6},
                    {"track_id": 2, "first_frame": 0, "last_frame": F - 1, "height_m": 1.5}],
        "warnings": [WARNING],
    }
    arrays = {
        "header": np.array(json.dumps(header)),
        "timestamps": t,
        "frame_indices": np.arange(F, dtype=np.int64),
        "track_ids": np.array([1, 2], np.int64),
        "valid": np.ones((P, F), bool),
        "global_orient": np.zeros((P, F, 3), np.float32),
        "body_pose": np.zeros((P, F, 23, 3), np.float32),
        "transl": transl,
        "betas": np.zeros((P, 10), np.float32),
        "rest_joints": rest,
        "joints3d": joints3d.astype(np.float32),
        "contacts": np.full((P, F, 4), 0.5, np.float32),
        "confidence": np.ones((P, F, 24), np.float32),
        "cam_K": K,
        "cam_R": np.repeat(np.eye(3, dtype=np.float32)[None], F, axis=0),
        "cam_t": np.tile(np.array([0, 1.4, 4.0], np.float32), (F, 1)),
    }
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return path


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Registered add-on, fake backend on PYTHONPATH, user folders in tmp, an empty scene."""
    fake = tmp_path / "fake"
    (fake / "inference_backend").mkdir(parents=True)
    (fake / "inference_backend" / "__init__.py").write_text("")
    (fake / "inference_backend" / "__main__.py").write_text(FAKE_MAIN)
    motion = write_motion_file(tmp_path / "source.npz")
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"fake video")
    monkeypatch.setenv("PYTHONPATH", str(fake))
    monkeypatch.setenv("FAKE_MOTION_SOURCE", str(motion))
    monkeypatch.setenv(paths.ENV_USER_DIR, str(tmp_path / "user"))
    monkeypatch.setenv(ENV_BACKEND_PYTHON, sys.executable)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    str_blender_addon.register()
    try:
        settings = bpy.context.scene.str_mocap
        settings.video_path = str(video)
        settings.build_body_mesh = False  # keep these tests about the capture flow
        settings.create_camera = False
        yield SimpleNamespace(video=video, motion=motion, user=tmp_path / "user", fake=fake)
    finally:
        str_blender_addon.unregister()
        bpy.ops.wm.read_factory_settings(use_empty=True)


def scene_counts() -> dict[str, int]:
    return {kind: len(getattr(bpy.data, kind)) for kind in (
        "objects", "actions", "armatures", "meshes", "cameras", "movieclips", "collections")}


def make_session(env, scenario: str = "success") -> operators.CaptureSession:
    context = bpy.context
    settings = context.scene.str_mocap
    backend = operators.backend_settings(context)
    request = operators.capture_request_from_settings(settings, backend)
    job = CaptureJob(sys.executable, request, paths.jobs_dir(),
                     JobConfig(grace_s=2.0, extra_env={"FAKE_SCENARIO": scenario}))
    options = operators.import_options_from_settings(settings, backend)
    return operators.CaptureSession(job, options, captures_dir=env.user / "captures")


def drive(session: operators.CaptureSession, limit_s: float = 20.0, on_step=None):
    update = session.start(bpy.context)
    deadline = time.monotonic() + limit_s
    steps = 0
    while not update.finished:
        assert time.monotonic() < deadline, "capture did not finish"
        time.sleep(0.05)
        update = session.step(bpy.context)
        steps += 1
        if on_step is not None:
            on_step(steps, update)
    return update


def jobs_left(env) -> list[Path]:
    jobs = env.user / "jobs"
    return sorted(jobs.iterdir()) if jobs.exists() else []


def test_session_imports_the_captured_people(env) -> None:
    settings = bpy.context.scene.str_mocap
    before = scene_counts()
    progress: list[float] = []

    def watch(_step: int, update) -> None:
        if not update.finished:
            assert settings.job_running
            progress.append(settings.job_progress)

    update = drive(make_session(env), on_step=watch)
    assert update.result == "FINISHED", update.reports
    assert update.state.status is JobStatus.SUCCEEDED
    arms = [bpy.data.objects[n] for n in update.armatures]
    assert len(arms) == 2 and all(a.type == "ARMATURE" for a in arms)
    assert {a["str_track_id"] for a in arms} == {1, 2}
    after = scene_counts()
    assert after["armatures"] == before["armatures"] + 2
    assert after["actions"] >= before["actions"] + 2
    assert all(a.animation_data and a.animation_data.action for a in arms)
    assert progress == sorted(progress) and all(0.0 <= p < 1.0 for p in progress)
    assert not settings.job_running and settings.job_progress == 1.0
    assert settings.last_persons == 2
    levels = [level for level, _ in update.reports]
    assert levels.count("INFO") == 1 and ("WARNING", WARNING) in update.reports
    assert levels.count("WARNING") == 1  # backend + file warning reported once
    # the motion file is kept (rigs refer to it), the job folder is gone
    kept = list((env.user / "captures").glob("clip_*.npz"))
    assert len(kept) == 1 and arms[0]["str_motion_file"] == str(kept[0].resolve())
    assert jobs_left(env) == []


def test_modal_method_follows_timer_events(env) -> None:
    session = make_session(env)
    reports: list[tuple[set, str]] = []
    fake_op = SimpleNamespace(_session=session, report=lambda level, text: reports.append((level, text)))
    timer = SimpleNamespace(type="TIMER", value="NOTHING")
    mouse = SimpleNamespace(type="MOUSEMOVE", value="NOTHING")
    assert session.start(bpy.context).result == "RUNNING_MODAL"
    assert operators.STRMOCAP_OT_capture.modal(fake_op, bpy.context, mouse) == {"PASS_THROUGH"}
    results = []
    deadline = time.monotonic() + 20
    while not results or results[-1] == {"RUNNING_MODAL"}:
        assert time.monotonic() < deadline
        time.sleep(0.05)
        results.append(operators.STRMOCAP_OT_capture.modal(fake_op, bpy.context, timer))
    assert results[-1] == {"FINISHED"}
    assert ({"INFO"}, "STR Mocap: Imported 2 person(s), 30 frames; lens 62° wide, measured from "
                      "the background's straight edges") in reports
    assert len([o for o in bpy.data.objects if o.type == "ARMATURE"]) == 2


def _wait_until_running(session: operators.CaptureSession, env, done_at_least: int = 2) -> None:
    deadline = time.monotonic() + 10
    while True:
        update = session.step(bpy.context)
        if update.state.stage_done >= done_at_least and list((env.user / "jobs").rglob("*.tmp")):
            return
        assert not update.finished and time.monotonic() < deadline
        time.sleep(0.05)


def test_cancel_operator_midway_leaves_scene_and_disk_unchanged(env) -> None:
    before = scene_counts()
    session = make_session(env, "slow")
    assert session.start(bpy.context).result == "RUNNING_MODAL"
    operators.ACTIVE_CAPTURES.add(session)  # as invoke() does
    try:
        _wait_until_running(session, env)
        assert bpy.context.scene.str_mocap.job_running
        assert 0.0 < bpy.context.scene.str_mocap.job_progress < 0.1
        t0 = time.monotonic()
        assert bpy.ops.strmocap.cancel_capture() == {"FINISHED"}
        update = session.step(bpy.context)
        while not update.finished:
            assert time.monotonic() - t0 < 3.0
            time.sleep(0.02)
            update = session.step(bpy.context)
    finally:
        operators.ACTIVE_CAPTURES.discard(session)
    assert update.result == "CANCELLED" and update.state.status is JobStatus.CANCELLED
    assert update.reports == (("WARNING", "Capture cancelled; nothing was imported."),)
    assert scene_counts() == before
    assert jobs_left(env) == [] and not (env.user / "captures").exists()
    settings = bpy.context.scene.str_mocap
    assert not settings.job_running and not settings.job_cancel_requested
    assert settings.job_progress == 0.0


def test_escape_in_modal_cancels(env) -> None:
    before = scene_counts()
    session = make_session(env, "slow")
    fake_op = SimpleNamespace(_session=session, report=lambda *a: None)
    session.start(bpy.context)
    _wait_until_running(session, env)
    esc = SimpleNamespace(type="ESC", value="PRESS")
    assert operators.STRMOCAP_OT_capture.modal(fake_op, bpy.context, esc) == {"RUNNING_MODAL"}
    timer = SimpleNamespace(type="TIMER", value="NOTHING")
    deadline = time.monotonic() + 3
    result = {"RUNNING_MODAL"}
    while result == {"RUNNING_MODAL"}:
        assert time.monotonic() < deadline
        time.sleep(0.02)
        result = operators.STRMOCAP_OT_capture.modal(fake_op, bpy.context, timer)
    assert result == {"CANCELLED"}
    assert scene_counts() == before and jobs_left(env) == []


def test_backend_failure_reports_its_message_and_imports_nothing(env) -> None:
    before = scene_counts()
    update = drive(make_session(env, "error"))
    assert update.result == "CANCELLED" and update.state.exit_code == 6
    assert update.reports == (
        ("ERROR", "Capture failed: Backend error (code 6): No person was found in the video."),
    )
    assert scene_counts() == before and jobs_left(env) == []
    settings = bpy.context.scene.str_mocap
    assert "No person was found" in settings.job_message and not settings.job_running


def test_execute_path_through_bpy_ops(env, monkeypatch: pytest.MonkeyPatch) -> None:
    # background mode: INVOKE_DEFAULT falls back to execute(), which blocks until the end
    assert bpy.ops.strmocap.capture("INVOKE_DEFAULT") == {"FINISHED"}
    assert len([o for o in bpy.data.objects if o.type == "ARMATURE"]) == 2
    assert bpy.context.scene.str_mocap.last_persons == 2
    assert len(operators.ACTIVE_CAPTURES) == 0

    before = scene_counts()
    monkeypatch.setenv("FAKE_SCENARIO", "error")  # inherited by the backend child
    with pytest.raises(RuntimeError, match="No person was found in the video"):
        bpy.ops.strmocap.capture()
    assert scene_counts() == before


def test_capture_refuses_bad_settings_clearly(env, monkeypatch: pytest.MonkeyPatch) -> None:
    before = scene_counts()
    settings = bpy.context.scene.str_mocap
    settings.video_path = str(env.video.with_name("missing.mp4"))
    with pytest.raises(RuntimeError, match="Video file not found"):
        bpy.ops.strmocap.capture()
    settings.video_path = str(env.video)
    settings.whole_video = False
    settings.start_time, settings.end_time = 2.0, 1.0
    with pytest.raises(RuntimeError, match="must be after start time"):
        bpy.ops.strmocap.capture()
    monkeypatch.delenv(ENV_BACKEND_PYTHON)
    with pytest.raises(RuntimeError, match="No backend Python configured"):
        bpy.ops.strmocap.capture()
    assert scene_counts() == before and jobs_left(env) == []


def test_request_maps_the_panel_settings(env) -> None:
    settings = bpy.context.scene.str_mocap
    settings.whole_video = False
    settings.start_time, settings.end_time = 1.5, 3.0
    settings.max_people, settings.smoothing, settings.solver = 4, "strong", "str"
    request = operators.capture_request_from_settings(settings, operators.BackendSettings(
        device="cpu", smpl_dir="/smpl", str_checkpoint="/ck.pt"))
    assert request == CaptureRequest(video=env.video, solver="str", max_people=4,
                                     smoothing="strong", start_s=1.5, end_s=3.0, device="cpu",
                                     str_checkpoint="/ck.pt", smpl_dir="/smpl")
    settings.whole_video = True
    whole = operators.capture_request_from_settings(settings, operators.BackendSettings())
    assert whole.start_s is None and whole.end_s is None
    assert whole.subject_height == "" and whole.fov_deg is None     # estimated
    settings.subject_height, settings.fov = "1:1.85,2:1.62", 42.0
    sized = operators.capture_request_from_settings(settings, operators.BackendSettings())
    assert sized.subject_height == "1:1.85,2:1.62" and sized.fov_deg == 42.0
    assert sized.camera == "auto"                                     # the default
    settings.camera_motion = "static"
    tripod = operators.capture_request_from_settings(settings, operators.BackendSettings())
    assert tripod.camera == "static"
    assert tripod.tta == "none"                                       # the default
    settings.detector_tta = "mirror"
    assert operators.capture_request_from_settings(
        settings, operators.BackendSettings()).tta == "mirror"


def test_capture_refuses_a_bad_height_clearly(env) -> None:
    before = scene_counts()
    settings = bpy.context.scene.str_mocap
    settings.video_path = str(env.video)
    settings.subject_height = "6ft"
    with pytest.raises(RuntimeError, match="not a number of metres"):
        bpy.ops.strmocap.capture()
    settings.subject_height = ""
    assert scene_counts() == before and jobs_left(env) == []


def test_file_import_operator(env, tmp_path: Path) -> None:
    assert bpy.ops.strmocap.import_motion(
        filepath=str(env.motion), build_body_mesh=False, create_camera=False) == {"FINISHED"}
    assert len([o for o in bpy.data.objects if o.type == "ARMATURE"]) == 2
    before = scene_counts()
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not an npz")
    with pytest.raises(RuntimeError, match="Import failed"):
        bpy.ops.strmocap.import_motion(filepath=str(bad))
    assert scene_counts() == before


def _action_co(obj) -> np.ndarray:
    from str_blender_addon.bpy_compat import action_fcurves

    curves = list(action_fcurves(obj))
    out = []
    for fc in curves:
        co = np.empty(2 * len(fc.keyframe_points), np.float32)
        fc.keyframe_points.foreach_get("co", co)
        out.append(co)
    return np.concatenate(out)


def test_bake_operators_on_an_imported_rig(env, tmp_path: Path) -> None:
    noisy = write_motion_file(tmp_path / "noisy.npz", num_frames=60, noise_m=0.02)
    assert bpy.ops.strmocap.import_motion(
        filepath=str(noisy), build_body_mesh=False, create_camera=False) == {"FINISHED"}
    rig = bpy.context.view_layer.objects.active
    assert rig is not None and rig.type == "ARMATURE"
    settings = bpy.context.scene.str_mocap
    settings.bake_method, settings.bake_strength = "GAUSSIAN", 0.8
    keys_before = _action_co(rig)

    assert bpy.ops.strmocap.bake_preview() == {"FINISHED"}
    assert settings.bake_has_numbers and settings.bake_is_preview
    before, after = settings.bake_jitter_before, settings.bake_jitter_after
    assert before > 0 and after < 0.5 * before, (before, after)
    np.testing.assert_array_equal(_action_co(rig), keys_before)  # preview changes nothing

    assert bpy.ops.strmocap.bake_smoothing() == {"FINISHED"}
    assert not settings.bake_is_preview
    assert settings.bake_jitter_before == pytest.approx(before, rel=1e-4)
    assert settings.bake_jitter_after < 0.5 * settings.bake_jitter_before
    assert not np.array_equal(_action_co(rig), keys_before)


def test_unreadable_backend_output_imports_nothing_and_keeps_the_file(
    env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken.npz"
    np.savez(broken, header=np.array("{}"))  # a valid npz that is not a motion file
    monkeypatch.setenv("FAKE_MOTION_SOURCE", str(broken))
    before = scene_counts()
    update = drive(make_session(env))
    assert update.state.status is JobStatus.SUCCEEDED and update.result == "CANCELLED"
    assert len(update.reports) == 1 and update.reports[0][0] == "ERROR"
    kept = list((env.user / "captures").glob("*.npz"))
    assert len(kept) == 1 and str(kept[0]) in update.reports[0][1]
    assert "Import of the captured motion failed" in update.reports[0][1]
    assert scene_counts() == before and jobs_left(env) == []
    assert not bpy.context.scene.str_mocap.job_running
