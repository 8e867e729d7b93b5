"""Add-on preferences in real bpy 4.5: enabled through addon_utils (so that
``context.preferences.addons[...]`` exists), the backend interpreter is checked by running a real
``-m inference_backend doctor --json`` subprocess (a fake backend package put first on
PYTHONPATH), set-up refuses without online access, user folders."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
from fake_doctor import fake_doctor_report

bpy = pytest.importorskip("bpy")
import addon_utils  # noqa: E402

from str_blender_addon import paths  # noqa: E402
from str_blender_addon.addon_id import addon_module_name  # noqa: E402
from str_blender_addon.backend_setup import venv_python_path  # noqa: E402
from str_blender_addon.preferences import (  # noqa: E402
    ENV_BACKEND_PYTHON,
    STRMOCAP_AddonPreferences,
    backend_settings,
    get_preferences,
)

_REPORT = fake_doctor_report(versions={"torch": "2.13.0", "mediapipe": "0.10.21", "smplx": None})
FAKE_DOCTOR = textwrap.dedent(
    f"""
    import sys
    assert sys.argv[1:] == ["doctor", "--json"], sys.argv
    print({json.dumps(json.dumps(_REPORT))})
    """
)


@pytest.fixture
def enabled_addon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    fake = tmp_path / "fake"
    (fake / "inference_backend").mkdir(parents=True)
    (fake / "inference_backend" / "__init__.py").write_text("")
    (fake / "inference_backend" / "__main__.py").write_text(FAKE_DOCTOR)
    monkeypatch.setenv("PYTHONPATH", str(fake))  # the doctor child inherits it
    monkeypatch.setenv(paths.ENV_USER_DIR, str(tmp_path / "user"))
    monkeypatch.delenv(ENV_BACKEND_PYTHON, raising=False)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    module = addon_module_name("str_blender_addon")
    addon_utils.enable(module, default_set=True, handle_error=None)
    try:
        prefs = get_preferences(bpy.context)
        assert prefs is not None, "add-on preferences not found after enabling"
        yield prefs
    finally:
        addon_utils.disable(module, default_set=True, handle_error=None)


def test_bl_idname_is_the_addon_module() -> None:
    assert STRMOCAP_AddonPreferences.bl_idname == "str_blender_addon"
    assert addon_module_name("bl_ext.user_default.str_mocap.str_blender_addon") == (
        "bl_ext.user_default.str_mocap"
    )


def test_backend_python_is_checked_when_changed(enabled_addon) -> None:
    prefs = enabled_addon
    assert prefs.backend_status == "Not checked yet."
    prefs.backend_python = sys.executable  # update callback runs the doctor subprocess
    assert prefs.backend_ok, prefs.backend_status
    assert "torch 2.13.0" in prefs.backend_versions and "mediapipe 0.10.21" in prefs.backend_versions
    assert "smplx" not in prefs.backend_versions  # not installed (None) is not a version
    assert prefs.backend_status.startswith("Backend OK")

    prefs.backend_python = str(Path(sys.executable).parent / "no-such-python")
    assert not prefs.backend_ok
    assert "not found" in prefs.backend_status

    prefs.backend_python = ""
    assert not prefs.backend_ok and prefs.backend_status == "No backend Python set."


def test_check_backend_operator_reports_problems(enabled_addon, tmp_path: Path) -> None:
    prefs = enabled_addon
    prefs.backend_python = sys.executable
    prefs.backend_ok = False
    assert bpy.ops.strmocap.check_backend() == {"FINISHED"}
    assert prefs.backend_ok and "torch 2.13.0" in prefs.backend_versions

    prefs.backend_python = ""
    with pytest.raises(RuntimeError, match="No backend Python configured"):
        bpy.ops.strmocap.check_backend()
    assert "No backend Python configured" in prefs.backend_status


def test_settings_snapshot_and_env_fallback(
    enabled_addon, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    prefs = enabled_addon
    prefs.device = "cpu"
    prefs.smpl_dir = str(tmp_path)
    snapshot = backend_settings(bpy.context)
    assert snapshot.device == "cpu" and snapshot.smpl_dir == str(tmp_path)
    assert snapshot.backend_python == ""
    monkeypatch.setenv(ENV_BACKEND_PYTHON, "/opt/backend/bin/python")
    assert backend_settings(bpy.context).backend_python == "/opt/backend/bin/python"


def test_setup_refuses_without_online_access(enabled_addon, tmp_path: Path) -> None:
    assert bpy.app.online_access is False  # module mode default; the operator must not install
    prefs = enabled_addon
    venv_dir = paths.backend_venv_dir()
    with pytest.raises(RuntimeError, match="Online access is disabled"):
        bpy.ops.strmocap.setup_backend()
    message = prefs.setup_message
    assert "-m venv" in message and str(venv_dir) in message
    assert "pip install" in message and str(venv_python_path(venv_dir)) in message
    # the default source is this checkout (inference_backend sits next to the add-on)
    repo_root = Path(paths.addon_dir()).parent
    assert f"{repo_root}[backend]" in message
    assert not venv_dir.exists()  # nothing was created
    assert not prefs.setup_running


def test_user_folders_are_outside_the_addon(enabled_addon, tmp_path: Path) -> None:
    assert paths.user_dir() == tmp_path / "user"
    assert paths.jobs_dir() == tmp_path / "user" / "jobs" and paths.jobs_dir().is_dir()
    assert paths.backend_venv_dir().parent == tmp_path / "user"
    assert paths.addon_dir() not in paths.jobs_dir().parents


def test_user_dir_without_override_uses_blender_user_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(paths.ENV_USER_DIR, raising=False)
    expected = Path(bpy.utils.user_resource("DATAFILES", path="str_mocap", create=False))
    monkeypatch.setattr(
        bpy.utils, "user_resource",
        lambda kind, path="", create=False: str(tmp_path / kind / path),
    )
    assert paths.user_dir() == tmp_path / "DATAFILES" / "str_mocap"
    assert expected.name == "str_mocap"
    # as an extension the extension's own user folder is used
    monkeypatch.setattr(paths, "addon_package", lambda: "bl_ext.user_default.str_mocap")
    monkeypatch.setattr(
        bpy.utils, "extension_path_user",
        lambda package, path="", create=False: str(tmp_path / "ext" / package),
    )
    assert paths.user_dir() == tmp_path / "ext" / "bl_ext.user_default.str_mocap"


def test_platform_user_dir_layouts() -> None:
    env = {"HOME": "/home/u", "APPDATA": "C:/Users/u/AppData/Roaming"}
    assert paths.platform_user_dir("linux", env) == Path("/home/u/.local/share/str_mocap")
    assert paths.platform_user_dir("darwin", env) == Path(
        "/home/u/Library/Application Support/str_mocap")
    assert paths.platform_user_dir("nt", env) == Path("C:/Users/u/AppData/Roaming/str_mocap")
    json.dumps(str(paths.platform_user_dir()))  # current platform works too


class RecordingLayout:
    """Records what a draw function shows; checks referenced properties/operators exist."""

    def __init__(self, log: list | None = None) -> None:
        self.log: list = [] if log is None else log
        self.enabled = True

    def _child(self, *_a, **_k) -> RecordingLayout:
        return RecordingLayout(self.log)

    box = row = column = _child

    def label(self, text: str = "", **_k) -> None:
        self.log.append(("label", text))

    def prop(self, data, name: str, **_k) -> None:
        assert name in getattr(data, "_target", data).bl_rna.properties, name
        self.log.append(("prop", name))

    def operator(self, idname: str, **_k) -> None:
        module, op = idname.split(".")
        getattr(getattr(bpy.ops, module), op).get_rna_type()
        self.log.append(("operator", idname))

    def progress(self, factor: float = 0.0, type: str = "BAR", text: str = "") -> None:
        self.log.append(("progress", round(factor, 3), text))


class _PrefsView:
    """The real preferences with a recording layout (a UILayout exists only inside a real draw
    call, which module mode never makes)."""

    def __init__(self, prefs, layout) -> None:
        object.__setattr__(self, "_target", prefs)
        object.__setattr__(self, "layout", layout)

    def __getattr__(self, name: str):
        return getattr(self._target, name)


def test_preferences_draw_shows_status_and_problems(enabled_addon) -> None:
    prefs = enabled_addon
    prefs.backend_python = sys.executable
    prefs.backend_problems = "smpl: folder not set\nstr_checkpoint: not set"
    prefs.setup_running = True
    prefs.setup_progress = 0.5
    prefs.setup_message = "Install backend (PyTorch, MediaPipe; several minutes)\nCollecting torch"
    layout = RecordingLayout()
    STRMOCAP_AddonPreferences.draw(_PrefsView(prefs, layout), bpy.context)
    log = layout.log
    for name in ("backend_python", "device", "smpl_dir", "str_checkpoint", "install_source"):
        assert ("prop", name) in log
    assert ("operator", "strmocap.check_backend") in log
    assert ("operator", "strmocap.setup_backend") in log
    assert ("label", prefs.backend_status) in log and prefs.backend_status.startswith("Backend OK")
    assert ("label", "smpl: folder not set") in log
    assert ("progress", 0.5, "Setting up backend 50%") in log
    assert ("label", "Collecting torch") in log


EXTENSION_SCRIPT = textwrap.dedent(
    """
    import importlib, json, os, sys
    import bpy, addon_utils
    os.environ.pop("STR_MOCAP_USER_DIR", None)
    bpy.ops.extensions.package_install_files(
        filepath=sys.argv[1], repo="user_default", enable_on_install=True)
    module = "bl_ext.user_default.str_mocap"
    addon = bpy.context.preferences.addons.get(module)
    prefs = addon.preferences if addon else None
    paths = importlib.import_module(module + ".str_blender_addon.paths")
    info = {
        "prefs_type": type(prefs).__name__ if prefs is not None else None,
        "bl_idname": getattr(type(prefs), "bl_idname", None),
        "device": getattr(prefs, "device", None),
        "package": paths.addon_package(),
        "user_dir": str(paths.user_dir()),
        "addon_dir": str(paths.addon_dir()),
    }
    addon_utils.disable(module, default_set=True)
    print("RESULT " + json.dumps(info))
    """
)


def test_installed_extension_uses_its_own_prefs_and_user_folder(tmp_path: Path) -> None:
    import os
    import subprocess

    root = Path(paths.addon_dir()).parent
    if not (root / "blender_manifest.toml").is_file():
        pytest.skip("not a source checkout with blender_manifest.toml")
    built = subprocess.run(
        [sys.executable, "-m", "str_blender_addon.package", "-o", str(tmp_path / "dist")],
        cwd=root, capture_output=True, text=True, timeout=120,
    )
    assert built.returncode == 0, built.stderr
    zip_path = built.stdout.strip().splitlines()[-1]
    script = tmp_path / "check.py"
    script.write_text(EXTENSION_SCRIPT)
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "blender_user"))
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([sys.executable, str(script), zip_path], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stdout + proc.stderr
    info = json.loads(lines[-1][len("RESULT "):])
    assert info["prefs_type"] == "STRMOCAP_AddonPreferences", info
    assert info["bl_idname"] == "bl_ext.user_default.str_mocap" == info["package"]
    assert info["device"] == "auto"
    user_dir = Path(info["user_dir"])
    assert user_dir.is_dir() and str(tmp_path / "blender_user") in str(user_dir)
    assert "str_mocap" in user_dir.parts and Path(info["addon_dir"]) not in user_dir.parents


def test_setup_plan_stages_the_bundled_backend(enabled_addon) -> None:
    from str_blender_addon.operators import setup_plan_for

    plan = setup_plan_for(backend_settings(bpy.context), stage=True)
    staged = paths.backend_source_staging_dir()
    assert (staged / "pyproject.toml").is_file()
    assert (staged / "inference_backend" / "__main__.py").is_file()
    assert not list(staged.rglob("__pycache__"))
    assert plan.steps[0][1][:3] == (sys.executable, "-m", "venv")  # Blender's own Python
    assert plan.steps[-1][1][-1] == f"{staged.resolve()}[backend]"
    assert plan.python == venv_python_path(paths.backend_venv_dir())
    prefs = enabled_addon
    prefs.install_source = "str-mocap[backend]==0.1.0"
    plan = setup_plan_for(backend_settings(bpy.context), stage=True)
    assert plan.steps[-1][1][-1] == "str-mocap[backend]==0.1.0"


def test_main_panel_offers_setup_until_a_backend_is_set(enabled_addon) -> None:
    from types import SimpleNamespace

    def draw() -> list:
        layout = RecordingLayout()
        bpy.types.STRMOCAP_PT_main.draw(SimpleNamespace(layout=layout), bpy.context)
        return layout.log

    log = draw()
    assert ("label", "Backend not set up") in log and ("operator", "strmocap.setup_backend") in log
    enabled_addon.backend_python = sys.executable
    log = draw()
    assert ("label", "Backend not set up") not in log and ("operator", "strmocap.capture") in log


def test_gui_sessions_check_the_backend_in_the_background(enabled_addon) -> None:
    # bpy.app.background is True here, so the update callback checks synchronously; the GUI
    # path (a thread polled by a bpy.app.timers function) is driven by hand: timers never fire
    # in module mode.
    from str_blender_addon.preferences import PENDING_DOCTOR, poll_pending_doctor

    prefs = enabled_addon
    prefs.backend_python = sys.executable
    prefs.backend_ok = False
    PENDING_DOCTOR.start(prefs, sys.executable)
    assert bpy.app.timers.is_registered(poll_pending_doctor)
    assert prefs.backend_status.startswith("Checking") and not prefs.backend_ok
    assert PENDING_DOCTOR.check is not None and PENDING_DOCTOR.check.wait(60) is not None
    assert poll_pending_doctor() is None  # finished: the timer stops itself
    assert prefs.backend_ok and "torch 2.13.0" in prefs.backend_versions

    # a result for an interpreter that is no longer configured is dropped
    PENDING_DOCTOR.start(prefs, str(Path(sys.executable).parent / "other-python"))
    PENDING_DOCTOR.check.wait(60)
    assert poll_pending_doctor() is None
    assert prefs.backend_status.startswith("Checking")  # untouched by the stale result
    PENDING_DOCTOR.start(prefs, sys.executable)
    PENDING_DOCTOR.stop()
    assert not bpy.app.timers.is_registered(poll_pending_doctor)


def test_second_setup_press_is_refused_while_one_runs(enabled_addon, tmp_path: Path) -> None:
    """One set-up at a time: while one runs the button is disabled (poll) and a scripted call
    is refused, leaving the running one alone; disabling the add-on cancels it."""
    from str_blender_addon import operators
    from str_blender_addon.backend_setup import SetupJob, SetupPlan, SetupStatus

    plan = SetupPlan(tmp_path / "venv", (("Install backend", (
        sys.executable, "-c", "import time; time.sleep(30)")),), tmp_path / "setup-tmp")
    job = SetupJob(plan)
    job.start()
    operators.ACTIVE_SETUP.job = job
    try:
        assert not bpy.ops.strmocap.setup_backend.poll()
        with pytest.raises(RuntimeError, match="poll"):
            bpy.ops.strmocap.setup_backend()
        assert job.poll().status is SetupStatus.RUNNING        # the first one goes on
        addon_utils.disable(addon_module_name("str_blender_addon"), default_set=True,
                            handle_error=None)
        assert job.poll().status is SetupStatus.CANCELLED     # unregister stopped pip
        assert not plan.temp_dir.exists()
    finally:
        job.cancel(grace_s=1.0)
        operators.ACTIVE_SETUP.job = None
        addon_utils.enable(addon_module_name("str_blender_addon"), default_set=True,
                           handle_error=None)
    assert bpy.ops.strmocap.setup_backend.poll()
