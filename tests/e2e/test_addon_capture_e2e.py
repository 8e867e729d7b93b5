"""End to end through the add-on's own code path: ``CaptureJob`` runs the REAL backend
(``python -m inference_backend capture`` on the bundled two-person clip, one run) and the
capture session imports the result into real bpy: two animated SMPL armatures."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

bpy = pytest.importorskip("bpy")

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "assets" / "sample" / "two_people_backlit.mp4"

pytestmark = [pytest.mark.slow, pytest.mark.bpy]


@pytest.fixture
def registered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import str_blender_addon
    from str_blender_addon import paths

    monkeypatch.setenv(paths.ENV_USER_DIR, str(tmp_path / "user"))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    str_blender_addon.register()
    try:
        yield tmp_path / "user"
    finally:
        str_blender_addon.unregister()
        bpy.ops.wm.read_factory_settings(use_empty=True)


def test_capture_bundled_clip_into_two_armatures(registered: Path) -> None:
    from str_blender_addon import operators, paths
    from str_blender_addon.capture_job import CaptureJob, JobConfig, JobStatus

    context = bpy.context
    settings = context.scene.str_mocap
    settings.video_path = str(SAMPLE)
    settings.max_people = 2
    backend = operators.BackendSettings(backend_python=sys.executable, device="cpu")
    request = operators.capture_request_from_settings(settings, backend)
    cache = {"STR_MOCAP_CACHE": str(registered.parent / "model_cache")}  # not the user's cache
    job = CaptureJob(sys.executable, request, paths.jobs_dir(),
                     JobConfig(timeout_s=900, extra_env=cache))
    session = operators.CaptureSession(
        job, operators.import_options_from_settings(settings, backend),
        captures_dir=registered / "captures",
    )
    t0 = time.monotonic()
    stages: list[str] = []
    update = session.start(context)
    while not update.finished:
        time.sleep(0.5)
        update = session.step(context)
        if update.state.stage and (not stages or stages[-1] != update.state.stage):
            stages.append(update.state.stage)
    elapsed = time.monotonic() - t0
    state = update.state
    print(f"\nE2E capture+import: {elapsed:.1f} s wall (2-core CPU), stages seen: {stages}, "
          f"persons={state.persons}, frames={state.frames}, warnings={list(state.warnings)}")
    assert state.status is JobStatus.SUCCEEDED, f"{state.message}\n" + "\n".join(state.stderr_tail)
    assert update.result == "FINISHED", update.reports
    assert state.persons == 2 and state.frames > 100  # 135 frames in the clip
    assert "decode+detect" in stages
    arms = [bpy.data.objects[name] for name in update.armatures]
    assert len(arms) == 2 and all(a.type == "ARMATURE" for a in arms)
    for arm in arms:
        assert len(arm.data.bones) == 24
        action = arm.animation_data.action
        assert action is not None
        start, end = action.frame_range
        assert end - start >= 100
    # the rigs move: the pelvis of each rig is somewhere else at the end than at the start
    scene = context.scene
    positions = []
    for frame in (scene.frame_start, scene.frame_end):
        scene.frame_set(frame)
        positions.append([(a.matrix_world @ a.pose.bones["pelvis"].head).copy() for a in arms])
    moved = [(positions[1][i] - positions[0][i]).length for i in range(2)]
    assert max(moved) > 0.2, moved
    assert settings.last_persons == 2 and not settings.job_running
    assert list((registered / "jobs").iterdir()) == []


def test_real_doctor_validates_this_interpreter() -> None:
    from str_blender_addon.doctor_client import find_backend_python

    python, report = find_backend_python(sys.executable, check=True)
    assert python == Path(sys.executable) and report is not None and report.ok, report
    assert report.versions["mediapipe"] == "0.10.21"
    assert report.versions["torch"].startswith("2.13.0")
    assert report.versions["python"].startswith("3.11")
    assert report.device in ("cpu", "cuda")
