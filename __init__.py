"""Blender extension entry point: the repository root is the extension root.

The add-on is imported inside the functions, so importing this file outside Blender (pytest
treats the checkout as a package) pulls nothing in.
"""


def register() -> None:
    from .str_blender_addon import register as register_addon

    register_addon()


def unregister() -> None:
    from .str_blender_addon import unregister as unregister_addon

    unregister_addon()
