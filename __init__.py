"""Blender extension entry point (the repository root is the extension root)."""
from .str_blender_addon import register, unregister  # noqa: F401
