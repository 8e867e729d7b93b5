"""STR Mocap Blender add-on package.

Importing this package does nothing but define :func:`register` / :func:`unregister`: no bpy
import, no pip, no network (the bpy-free parts, e.g. ``core`` and ``capture_job``, are imported
by tests without Blender). Registration order: properties, preferences, operators, panel, then
the retargeting UI if it is present.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: Sub-modules whose register()/unregister() are called, in registration order.
_UI_MODULES = ("properties", "preferences", "operators", "panel")
#: Optional sub-modules (written separately); skipped silently when absent.
_OPTIONAL_MODULES = ("retarget_ui", "batch_ui")

_registered: list[ModuleType] = []


def _load(name: str, optional: bool) -> ModuleType | None:
    try:
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if optional and exc.name == f"{__name__}.{name}":
            return None
        raise


def register() -> None:
    """Register every UI module; on failure, unregister what was already registered."""
    if _registered:
        return
    try:
        for name in _UI_MODULES:
            module = _load(name, optional=False)
            assert module is not None
            _registered.append(module)  # before register(): a partial one is undone too
            module.register()
    except Exception:
        unregister()
        raise
    for name in _OPTIONAL_MODULES:
        _register_optional(name)


def _register_optional(name: str) -> None:
    """Register an optional UI part; a broken one is reported, not fatal for capture."""
    try:
        module = _load(name, optional=True)
    except Exception as exc:
        print(f"STR Mocap: {name} could not be imported and is disabled: {exc!r}")
        return
    if module is None:
        return
    try:
        module.register()
    except Exception as exc:
        print(f"STR Mocap: {name} could not be registered and is disabled: {exc!r}")
        try:
            module.unregister()  # undo whatever it registered before failing
        except Exception:
            pass
        return
    _registered.append(module)


def unregister() -> None:
    """Unregister in reverse order (menus, timers, classes, scene properties)."""
    while _registered:
        module = _registered.pop()
        try:
            module.unregister()
        except Exception as exc:  # keep going: a left-over class hangs bpy 4.5 at exit
            print(f"STR Mocap: error while unregistering {module.__name__}: {exc}")
