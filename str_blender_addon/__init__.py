"""STR Mocap Blender add-on package."""
