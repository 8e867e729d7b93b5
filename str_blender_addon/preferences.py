"""Add-on preferences: where the backend lives and how it runs.

The backend interpreter is checked (``-m inference_backend doctor --json``) whenever its path
changes; the result (versions, problems) is shown in the preferences. 'Set up backend' creates a
venv under the extension's user folder and pip-installs the backend there - only when Blender's
online access is allowed (otherwise the panel shows the commands to run by hand).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, StringProperty

from . import paths
from .doctor_client import DoctorCheck, DoctorReport, run_doctor

#: Environment variable naming a backend interpreter (used when the preference is empty).
ENV_BACKEND_PYTHON = "STR_MOCAP_BACKEND_PYTHON"

DEVICE_ITEMS = [
    ("auto", "Auto", "CUDA if the backend finds a GPU, else CPU"),
    ("cpu", "CPU", "Always run on the CPU"),
    ("cuda", "CUDA", "Run on an NVIDIA GPU (fails if none is available)"),
]


@dataclass(frozen=True)
class BackendSettings:
    """A plain snapshot of the preferences (what operators and the capture job need)."""

    backend_python: str = ""
    device: str = "auto"
    smpl_dir: str = ""
    str_checkpoint: str = ""
    install_source: str = ""
    base_python: str = ""


def store_doctor_report(prefs: bpy.types.AddonPreferences, report: DoctorReport) -> None:
    """Write a doctor result into the preferences' status fields (shown in the UI)."""
    prefs.backend_ok = report.ok
    prefs.backend_status = report.message[:1000]
    prefs.backend_versions = ", ".join(f"{k} {v}" for k, v in report.versions.items())[:1000]
    prefs.backend_problems = "\n".join(report.problems)[:4000]


class PendingDoctor:
    """The one backend check running in the background (GUI sessions only), polled by a
    ``bpy.app.timers`` function that is unregistered when the check ends or the add-on is."""

    def __init__(self) -> None:
        self.check: DoctorCheck | None = None

    def start(self, prefs: bpy.types.AddonPreferences, python_exe: str) -> None:
        self.check = DoctorCheck(python_exe)
        prefs.backend_ok = False
        prefs.backend_status = f"Checking {python_exe} ..."
        prefs.backend_versions = ""
        prefs.backend_problems = ""
        if not bpy.app.timers.is_registered(poll_pending_doctor):
            bpy.app.timers.register(poll_pending_doctor, first_interval=0.5)

    def stop(self) -> None:
        self.check = None
        if bpy.app.timers.is_registered(poll_pending_doctor):
            bpy.app.timers.unregister(poll_pending_doctor)


PENDING_DOCTOR = PendingDoctor()


def poll_pending_doctor() -> float | None:
    """Timer function: store the finished check in the preferences (if the interpreter is
    still the one configured); returns the next interval, or None to stop."""
    check = PENDING_DOCTOR.check
    if check is None:
        return None
    if check.report is None:
        return 0.5
    PENDING_DOCTOR.check = None
    prefs = get_preferences(bpy.context)
    if prefs is not None:
        current = bpy.path.abspath(prefs.backend_python).strip() if prefs.backend_python else ""
        if current and Path(current) == check.python_exe:  # not changed meanwhile
            store_doctor_report(prefs, check.report)
        for window in bpy.context.window_manager.windows:
            for area in window.screen.areas:
                if area.type == "PREFERENCES":
                    area.tag_redraw()
    return None


def _on_backend_python_changed(self: STRMOCAP_AddonPreferences, _context: bpy.types.Context) -> None:
    path = bpy.path.abspath(self.backend_python).strip() if self.backend_python else ""
    if not path:
        PENDING_DOCTOR.stop()
        self.backend_ok = False
        self.backend_status = "No backend Python set."
        self.backend_versions = ""
        self.backend_problems = ""
        return
    if bpy.app.background:
        # scripts / headless: no event loop to run a timer, so check right away
        store_doctor_report(self, run_doctor(path, timeout_s=120.0))
    else:
        PENDING_DOCTOR.start(self, path)


class STRMOCAP_AddonPreferences(bpy.types.AddonPreferences):
    """Backend interpreter, device, optional model files, backend set-up."""

    bl_idname = paths.addon_package()

    backend_python: StringProperty(  # type: ignore[valid-type]
        name="Backend Python",
        description=(
            "Python interpreter of the environment where the STR Mocap backend is installed "
            "(checked when changed)"
        ),
        subtype="FILE_PATH",
        update=_on_backend_python_changed,
    )
    device: EnumProperty(  # type: ignore[valid-type]
        name="Device", items=DEVICE_ITEMS, default="auto"
    )
    smpl_dir: StringProperty(  # type: ignore[valid-type]
        name="SMPL Model Folder",
        description="Optional: folder with your SMPL model files (never shipped or downloaded)",
        subtype="DIR_PATH",
    )
    str_checkpoint: StringProperty(  # type: ignore[valid-type]
        name="STR Checkpoint",
        description="Optional: trained STR network checkpoint (.pt) for the 'STR network' solver",
        subtype="FILE_PATH",
    )
    install_source: StringProperty(  # type: ignore[valid-type]
        name="Install Source",
        description=(
            "What 'Set up backend' installs: a local folder with this project, a wheel, or a "
            "PyPI requirement. Empty: the backend bundled with the add-on if present, else "
            "str-mocap[backend] from PyPI"
        ),
    )
    base_python: StringProperty(  # type: ignore[valid-type]
        name="Base Python",
        description=(
            "Python 3.11 used only to create the backend venv. Empty: Blender's bundled Python "
            "(nothing is installed into it)"
        ),
        subtype="FILE_PATH",
    )
    # --- status (written by the doctor check and the set-up operator)
    backend_ok: BoolProperty(default=False)  # type: ignore[valid-type]
    backend_status: StringProperty(default="Not checked yet.")  # type: ignore[valid-type]
    backend_versions: StringProperty(default="")  # type: ignore[valid-type]
    backend_problems: StringProperty(default="")  # type: ignore[valid-type]
    setup_running: BoolProperty(default=False)  # type: ignore[valid-type]
    setup_progress: FloatProperty(default=0.0, min=0.0, max=1.0, subtype="FACTOR")  # type: ignore[valid-type]
    setup_message: StringProperty(default="")  # type: ignore[valid-type]

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        box = layout.box()
        box.label(text="Backend (runs in its own Python, never inside Blender)", icon="CONSOLE")
        box.prop(self, "backend_python")
        row = box.row()
        row.operator("strmocap.check_backend", icon="CHECKMARK")
        row.operator("strmocap.setup_backend", icon="IMPORT")
        icon = "CHECKMARK" if self.backend_ok else "ERROR"
        box.label(text=self.backend_status, icon=icon)
        if self.backend_versions:
            box.label(text=self.backend_versions)
        for line in self.backend_problems.splitlines()[:8]:
            box.label(text=line, icon="DOT")
        if self.setup_running or self.setup_message:
            sub = box.box()
            if self.setup_running:
                draw_progress(sub, self.setup_progress, "Setting up backend")
            for line in self.setup_message.splitlines()[:6]:
                sub.label(text=line)
        adv = box.column()
        adv.prop(self, "install_source")
        adv.prop(self, "base_python")
        if not bpy.app.online_access:
            adv.label(
                text="Online access is off: 'Set up backend' shows the commands to run by hand.",
                icon="INFO",
            )
        layout.prop(self, "device")
        layout.prop(self, "smpl_dir")
        layout.prop(self, "str_checkpoint")


def draw_progress(layout: bpy.types.UILayout, factor: float, text: str) -> None:
    """A progress bar (``layout.progress`` on 4.0+), else a percentage label."""
    if "progress" in bpy.types.UILayout.bl_rna.functions:
        layout.progress(factor=factor, type="BAR", text=f"{text} {factor * 100:.0f}%")
    else:
        layout.label(text=f"{text}: {factor * 100:.0f}%")


def get_preferences(context: bpy.types.Context) -> STRMOCAP_AddonPreferences | None:
    """The add-on's preferences, or None when it is registered without being enabled as an
    add-on (e.g. tests calling ``register()`` directly)."""
    addon = context.preferences.addons.get(paths.addon_package())
    return addon.preferences if addon is not None else None  # type: ignore[return-value]


def backend_settings(context: bpy.types.Context) -> BackendSettings:
    """Snapshot of the preferences; environment fallbacks when they are unavailable/empty."""
    prefs = get_preferences(context)
    env_python = os.environ.get(ENV_BACKEND_PYTHON, "")
    if prefs is None:
        return BackendSettings(backend_python=env_python)
    python = bpy.path.abspath(prefs.backend_python) if prefs.backend_python else env_python
    return BackendSettings(
        backend_python=python,
        device=prefs.device,
        smpl_dir=bpy.path.abspath(prefs.smpl_dir) if prefs.smpl_dir else "",
        str_checkpoint=bpy.path.abspath(prefs.str_checkpoint) if prefs.str_checkpoint else "",
        install_source=prefs.install_source,
        base_python=bpy.path.abspath(prefs.base_python) if prefs.base_python else "",
    )


_CLASSES = (STRMOCAP_AddonPreferences,)


def register() -> None:
    for cls in _CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    PENDING_DOCTOR.stop()
    for cls in reversed(_CLASSES):
        if cls.is_registered:  # tolerate a partial registration
            bpy.utils.unregister_class(cls)
