"""Fixtures for real-bpy tests of the add-on's scene side.

The motion-file writer and synthetic walk live in tests/addon_core/conftest.py; they are loaded
here by path (tests/ is not a package) as module ``str_test_motion``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

bpy = pytest.importorskip("bpy")


def _load_motion_helpers():
    name = "str_test_motion"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).resolve().parents[1] / "addon_core" / "conftest.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


motion_helpers = _load_motion_helpers()


@pytest.fixture
def empty_scene():
    """A factory-fresh empty scene (nothing registered, nothing left over)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    yield bpy.context
    bpy.ops.wm.read_factory_settings(use_empty=True)


@pytest.fixture
def helpers():
    return motion_helpers


@pytest.fixture
def walk_file(tmp_path: Path) -> Path:
    """A valid one-person, 90-frame, 30 fps motion file (track id 3, video 'walk.mp4')."""
    arrays = motion_helpers.synthetic_walk(90, 30.0, 1)
    return motion_helpers.write_motion_file(
        tmp_path / "walk.npz", arrays, motion_helpers.make_header(arrays))


@pytest.fixture
def addon(monkeypatch, tmp_path):
    """The whole add-on registered (sub-panels need the main panel), always unregistered; user
    files go to a temporary folder."""
    import str_blender_addon

    monkeypatch.setenv("STR_MOCAP_USER_DIR", str(tmp_path / "user"))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    str_blender_addon.register()
    try:
        yield str_blender_addon
    finally:
        str_blender_addon.unregister()
        bpy.ops.wm.read_factory_settings(use_empty=True)
