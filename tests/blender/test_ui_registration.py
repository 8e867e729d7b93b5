"""Register / unregister the add-on package in real bpy 4.5: classes, properties, menu entry,
and nothing left behind afterwards."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

bpy = pytest.importorskip("bpy")

import str_blender_addon  # noqa: E402
from str_blender_addon import operators, panel, preferences, properties  # noqa: E402

ALL_CLASSES = (*properties._CLASSES, *preferences._CLASSES, *operators._CLASSES, *panel._CLASSES)

EXPECTED_OPERATORS = (
    "capture", "cancel_capture", "import_motion", "bake_preview", "bake_smoothing",
    "setup_backend", "check_backend",
)


def _our_types() -> list[str]:
    return sorted(n for n in dir(bpy.types) if n.upper().startswith("STRMOCAP"))


def _import_menu_funcs() -> list:
    return list(bpy.types.TOPBAR_MT_file_import._dyn_ui_initialize())


@pytest.fixture
def registered():
    bpy.ops.wm.read_factory_settings(use_empty=True)
    before_menu = len(_import_menu_funcs())
    str_blender_addon.register()
    try:
        yield before_menu
    finally:
        str_blender_addon.unregister()


def test_everything_is_registered(registered: int) -> None:
    types = _our_types()
    for name in ("STRMOCAP_PT_main", "STRMOCAP_PT_bake", "STRMOCAP_PT_import_options"):
        assert name in types, types
    assert all(cls.is_registered for cls in ALL_CLASSES)
    assert len(ALL_CLASSES) == 12
    for op in EXPECTED_OPERATORS:
        # get_rna_type() raises KeyError for operators that are not registered
        rna = getattr(bpy.ops.strmocap, op).get_rna_type()
        assert rna.identifier == f"STRMOCAP_OT_{op}"
    settings = bpy.context.scene.str_mocap
    assert settings.max_people == 2 and settings.solver == "default"
    assert settings.smoothing == "medium" and settings.whole_video is True
    assert 0.0 <= settings.job_progress <= 1.0 and not settings.job_running
    assert operators.menu_import in _import_menu_funcs()
    assert len(_import_menu_funcs()) == registered + 1


def test_panels_live_in_the_sidebar_tab(registered: int) -> None:
    main = bpy.types.STRMOCAP_PT_main
    assert main.bl_idname == "STRMOCAP_PT_main"
    assert (main.bl_space_type, main.bl_region_type, main.bl_category) == ("VIEW_3D", "UI", "STR Mocap")
    for sub in (bpy.types.STRMOCAP_PT_bake, bpy.types.STRMOCAP_PT_import_options):
        assert sub.bl_parent_id == "STRMOCAP_PT_main" and sub.bl_category == "STR Mocap"
    # the capture operator undoes as one step
    assert {"REGISTER", "UNDO"} <= set(operators.STRMOCAP_OT_capture.bl_options)
    assert {"REGISTER", "UNDO"} <= set(operators.STRMOCAP_OT_bake_smoothing.bl_options)


def test_retarget_ui_is_registered(registered: int) -> None:
    children = [
        getattr(bpy.types, n) for n in dir(bpy.types)
        if getattr(getattr(bpy.types, n), "bl_parent_id", "") == "STRMOCAP_PT_main"
    ]
    assert len(children) >= 3  # bake, import options and the retarget panel


def test_bake_operators_need_an_armature(registered: int) -> None:
    assert not bpy.ops.strmocap.bake_preview.poll()
    assert not bpy.ops.strmocap.bake_smoothing.poll()
    arm = bpy.data.objects.new("rig", bpy.data.armatures.new("rig"))
    bpy.context.scene.collection.objects.link(arm)
    bpy.context.view_layer.objects.active = arm
    assert bpy.ops.strmocap.bake_preview.poll()


def test_cancel_without_a_running_capture_clears_stale_status(registered: int) -> None:
    settings = bpy.context.scene.str_mocap
    settings.job_running = True  # e.g. a .blend saved while a capture was running
    settings.job_message = "decode+detect: 10/135"
    assert bpy.ops.strmocap.cancel_capture() == {"FINISHED"}
    assert not settings.job_running and settings.job_message == ""
    assert bpy.ops.strmocap.capture.poll()


def test_unregister_leaves_nothing_and_register_is_repeatable() -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    menu_before = _import_menu_funcs()
    assert _our_types() == []
    for _ in range(2):
        str_blender_addon.register()
        try:
            assert "STRMOCAP_PT_main" in _our_types()
            str_blender_addon.register()  # a second call is a no-op, not an error
        finally:
            str_blender_addon.unregister()
        assert _our_types() == []
        assert not any(cls.is_registered for cls in ALL_CLASSES)
        assert not hasattr(bpy.types.Scene, "str_mocap")
        assert _import_menu_funcs() == menu_before
        with pytest.raises((KeyError, RuntimeError, AttributeError)):
            bpy.ops.strmocap.capture.get_rna_type()


def test_failed_registration_rolls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)

    def broken_register() -> None:
        raise RuntimeError("panel registration failed")

    monkeypatch.setattr(panel, "register", broken_register)
    with pytest.raises(RuntimeError, match="panel registration failed"):
        str_blender_addon.register()
    assert _our_types() == []  # properties, preferences and operators were undone
    assert not any(cls.is_registered for cls in ALL_CLASSES)
    assert operators.menu_import not in _import_menu_funcs()


class RecordingLayout:
    """Stands in for bpy.types.UILayout (which cannot be created outside a draw call in module
    mode): records what a draw function shows and checks every property and operator it
    references really exists."""

    def __init__(self, log: list | None = None) -> None:
        self.log: list = [] if log is None else log
        self.enabled = True
        self.scale_y = 1.0

    def _child(self, *_a, **_k) -> RecordingLayout:
        return RecordingLayout(self.log)

    box = row = column = split = _child

    def label(self, text: str = "", **_k) -> None:
        self.log.append(("label", text))

    def prop(self, data, name: str, **_k) -> None:
        target = getattr(data, "_target", data)
        assert name in target.bl_rna.properties, f"{type(target).__name__} has no '{name}'"
        self.log.append(("prop", name))

    def operator(self, idname: str, **_k) -> None:
        module, op = idname.split(".")
        getattr(getattr(bpy.ops, module), op).get_rna_type()  # KeyError if unknown
        self.log.append(("operator", idname))

    def progress(self, factor: float = 0.0, type: str = "BAR", text: str = "") -> None:
        assert 0.0 <= factor <= 1.0
        self.log.append(("progress", round(factor, 3), text))


def _draw(panel_cls) -> list:
    layout = RecordingLayout()
    panel_cls.draw(SimpleNamespace(layout=layout), bpy.context)
    return layout.log


def test_main_panel_shows_capture_or_progress_and_cancel(registered: int) -> None:
    settings = bpy.context.scene.str_mocap
    idle = _draw(bpy.types.STRMOCAP_PT_main)
    assert ("operator", "strmocap.capture") in idle
    assert ("operator", "strmocap.cancel_capture") not in idle
    for name in ("video_path", "whole_video", "max_people", "smoothing", "solver"):
        assert ("prop", name) in idle
    assert ("prop", "start_time") not in idle  # only for a partial range
    settings.whole_video = False
    assert ("prop", "start_time") in _draw(bpy.types.STRMOCAP_PT_main)

    settings.job_running = True
    settings.job_progress = 0.42
    settings.job_stage = "decode+detect"
    settings.job_message = "decode+detect: 57/135"
    running = _draw(bpy.types.STRMOCAP_PT_main)
    assert ("progress", 0.42, "decode+detect 42%") in running
    assert ("label", "decode+detect: 57/135") in running
    assert ("operator", "strmocap.cancel_capture") in running
    assert ("operator", "strmocap.capture") not in running

    settings.job_running = False
    settings.last_persons = 2
    assert ("label", "Persons imported: 2") in _draw(bpy.types.STRMOCAP_PT_main)


def test_bake_and_import_panels_draw(registered: int) -> None:
    settings = bpy.context.scene.str_mocap
    log = _draw(bpy.types.STRMOCAP_PT_bake)
    assert ("operator", "strmocap.bake_preview") in log and ("operator", "strmocap.bake_smoothing") in log
    assert ("label", "Select a captured rig") in log
    settings.bake_has_numbers = True
    settings.bake_jitter_before, settings.bake_jitter_after = 12.5, 3.25
    log = _draw(bpy.types.STRMOCAP_PT_bake)
    labels = [entry[1] for entry in log if entry[0] == "label"]
    assert any("12.50" in text and "3.25" in text for text in labels), labels
    assert ("operator", "strmocap.import_motion") in _draw(bpy.types.STRMOCAP_PT_import_options)


def test_unregister_removes_a_pending_backend_check_timer() -> None:
    from str_blender_addon.preferences import PENDING_DOCTOR, poll_pending_doctor

    bpy.ops.wm.read_factory_settings(use_empty=True)
    str_blender_addon.register()
    try:
        prefs_stub = SimpleNamespace(backend_ok=True, backend_status="", backend_versions="",
                                     backend_problems="")
        PENDING_DOCTOR.start(prefs_stub, sys.executable)
        assert bpy.app.timers.is_registered(poll_pending_doctor)
    finally:
        str_blender_addon.unregister()
    assert not bpy.app.timers.is_registered(poll_pending_doctor)
    assert PENDING_DOCTOR.check is None


def test_partial_module_registration_is_undone(monkeypatch: pytest.MonkeyPatch) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)

    class STRMOCAP_OT_broken(bpy.types.Operator):
        bl_idname = "no dot here"  # rejected by Blender
        bl_label = "Broken"

    monkeypatch.setattr(operators, "_CLASSES", (*operators._CLASSES, STRMOCAP_OT_broken))
    with pytest.raises((ValueError, RuntimeError)):
        str_blender_addon.register()
    # the operators registered before the broken one are gone again, and everything else too
    assert _our_types() == []
    assert not any(cls.is_registered for cls in ALL_CLASSES)
    assert operators.menu_import not in _import_menu_funcs()
    assert not hasattr(bpy.types.Scene, "str_mocap")


def test_a_broken_ui_module_fails_registration_and_undoes_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """No part of the UI is optional: a module that fails to register is an error Blender
    shows (with its traceback), and nothing stays half-registered."""
    import types

    bpy.ops.wm.read_factory_settings(use_empty=True)
    broken = types.ModuleType("str_blender_addon.retarget_ui")

    def fail() -> None:
        raise RuntimeError("retarget UI bug")

    broken.register = fail
    broken.unregister = lambda: None
    monkeypatch.setitem(sys.modules, "str_blender_addon.retarget_ui", broken)
    with pytest.raises(RuntimeError, match="retarget UI bug"):
        str_blender_addon.register()
    assert _our_types() == []
    assert not hasattr(bpy.types.Scene, "str_mocap")


def test_operators_print_a_traceback_only_for_bugs(capsys: pytest.CaptureFixture[str]) -> None:
    from str_blender_addon.importer import StrImportError
    from str_blender_addon.operators import failure_text

    assert failure_text(StrImportError("no person selected to import")) == \
        "no person selected to import"
    assert failure_text(FileNotFoundError("motion.npz")) == "motion.npz"
    assert capsys.readouterr().err == ""                 # domain errors: the message only
    try:
        {}["pelvis"]
    except KeyError as exc:
        text = failure_text(exc)
    assert text.startswith("KeyError: 'pelvis'") and "traceback" in text
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and '{}["pelvis"]' in err
    assert not issubclass(StrImportError, ImportError)
