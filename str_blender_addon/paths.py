"""Per-user folders of the add-on (never inside the add-on's own install folder).

Order of preference for the root folder:

1. ``STR_MOCAP_USER_DIR`` environment variable (tests, CI, portable set-ups);
2. the extension's user folder, ``bpy.utils.extension_path_user(<package>, create=True)``,
   when the add-on runs as an extension (package ``bl_ext.<repo>.<id>``);
3. for legacy add-on installs and module-mode tests: Blender's user data folder
   ``<user config>/datafiles/str_mocap`` (``bpy.utils.user_resource``);
4. without bpy: a per-user folder of the platform (``%APPDATA%``/``~/Library``/``XDG_DATA_HOME``).

Sub-folders: ``jobs/`` (one folder per capture; removed after import), ``backend-venv/`` (the
venv created by 'Set up backend'), ``backend-src/`` (staged source for that install).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .addon_id import addon_module_name

ENV_USER_DIR = "STR_MOCAP_USER_DIR"
_FOLDER_NAME = "str_mocap"


def addon_package() -> str:
    """Blender's module name of this add-on (``bl_ext.user_default.str_mocap`` as an extension,
    ``str_blender_addon`` when imported directly)."""
    return addon_module_name(__package__ or "str_blender_addon")


def platform_user_dir(os_name: str | None = None, env: dict[str, str] | None = None) -> Path:
    """A per-user data folder of the platform, without bpy."""
    environ = os.environ if env is None else env
    name = os_name or ("nt" if sys.platform == "win32" else sys.platform)
    home = Path(environ.get("HOME") or environ.get("USERPROFILE") or Path.home())
    if name == "nt":
        base = Path(environ.get("APPDATA") or home / "AppData" / "Roaming")
    elif name == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / _FOLDER_NAME


def _blender_user_dir(package: str) -> Path | None:
    try:
        import bpy
    except ImportError:
        return None
    if package.startswith("bl_ext."):
        try:
            return Path(bpy.utils.extension_path_user(package, create=True))
        except (ValueError, RuntimeError, OSError):
            pass
    try:
        folder = bpy.utils.user_resource("DATAFILES", path=_FOLDER_NAME, create=True)
    except (ValueError, RuntimeError, OSError):
        return None
    return Path(folder) if folder else None


def user_dir() -> Path:
    """The add-on's per-user root folder (created if needed)."""
    override = os.environ.get(ENV_USER_DIR, "").strip()
    folder = Path(override) if override else (
        _blender_user_dir(addon_package()) or platform_user_dir()
    )
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def jobs_dir() -> Path:
    """Folder holding one sub-folder per capture job."""
    folder = user_dir() / "jobs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def backend_venv_dir() -> Path:
    """Where 'Set up backend' creates the backend's virtual environment (not created here)."""
    return user_dir() / "backend-venv"


def backend_setup_temp_dir() -> Path:
    """Temp folder of 'Set up backend' (pip's ``pip-*`` folders; emptied when it ends)."""
    return user_dir() / "setup-tmp"


def backend_source_staging_dir() -> Path:
    """Where a local source checkout is copied before ``pip install`` (not created here)."""
    return user_dir() / "backend-src"


def addon_dir() -> Path:
    """The folder of this package (read-only use: locating the bundled backend sources)."""
    return Path(__file__).resolve().parent
