"""STR Mocap Blender add-on package.

Importing this package does nothing but define :func:`register` / :func:`unregister`: no bpy
import, no pip, no network (the bpy-free parts, e.g. ``core`` and ``capture_job``, are imported
by tests without Blender). Registration order: properties, preferences, operators, panel,
the retargeting UI, the batch UI, the export UI; a module that fails to register undoes the whole registration
(the error is raised, with its traceback, to Blender).
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: Sub-modules whose register()/unregister() are called, in registration order.
_UI_MODULES = ("properties", "preferences", "operators", "panel", "retarget_ui", "batch_ui",
               "export_ui")

_registered: list[ModuleType] = []


def register() -> None:
    """Register every UI module; on failure, unregister what was already registered."""
    if _registered:
        return
    try:
        for name in _UI_MODULES:
            module = importlib.import_module(f"{__name__}.{name}")
            _registered.append(module)  # before register(): a partial one is undone too
            module.register()
    except Exception:
        unregister()
        raise


def unregister() -> None:
    """Unregister in reverse order (menus, timers, classes, scene properties)."""
    while _registered:
        module = _registered.pop()
        try:
            module.unregister()
        except Exception as exc:  # keep going: a left-over class hangs bpy 4.5 at exit
            print(f"STR Mocap: error while unregistering {module.__name__}: {exc}")
