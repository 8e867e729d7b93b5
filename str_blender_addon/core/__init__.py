"""Pure numpy side of the add-on: file reading, rotations, skeleton maths, timing, filters.

Imports only the standard library and numpy (never bpy, never torch), so it runs and is tested
without Blender.
"""
