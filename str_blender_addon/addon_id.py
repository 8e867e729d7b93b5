"""The add-on's module name as Blender knows it (needed for AddonPreferences.bl_idname).

Installed as an extension, the repository root is the package ``bl_ext.<repo>.str_mocap`` and this
code lives in its sub-package ``str_blender_addon``; loaded directly (tests, legacy add-on
folder), ``str_blender_addon`` is itself the add-on. Never hard-code either name.
"""

from __future__ import annotations


def addon_module_name(package: str) -> str:
    """Blender's add-on module name for the ``__package__`` of ``str_blender_addon``.

    >>> addon_module_name("bl_ext.user_default.str_mocap.str_blender_addon")
    'bl_ext.user_default.str_mocap'
    >>> addon_module_name("str_blender_addon")
    'str_blender_addon'
    """
    parent, _, leaf = package.rpartition(".")
    return parent if parent and leaf == "str_blender_addon" else package
