"""STR Mocap inference backend: video -> SMPL motion file (torch side, never imports bpy)."""
