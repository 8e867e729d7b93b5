"""Blender camera matching the motion file's pinhole camera, with the video as background.

Intrinsics ``cam_K`` (pixels of the displayed frame) -> lens / sensor / shift and the scene
resolution; OpenCV world-to-camera extrinsics (Y-up world) -> camera object pose in Blender's
Z-up world (``core.rotations.opencv_extrinsics_to_blender``), static or keyed per frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np

from .anim_writer import Channel, write_curves
from .core.motion_file import Motion
from .core.rotations import (
    matrix_to_quaternion,
    opencv_extrinsics_to_blender,
    quaternion_sign_continuity,
)

SENSOR_MM = 36.0


@dataclass(frozen=True)
class Intrinsics:
    """Blender camera-data settings reproducing a pinhole K on a width x height image."""

    lens: float
    sensor_fit: str
    sensor_width: float
    sensor_height: float
    shift_x: float
    shift_y: float


def intrinsics_from_k(k: np.ndarray, width: int, height: int) -> Intrinsics:
    """Lens (mm), sensor and shift from K (3,3). Blender shifts are in units of max(W, H)."""
    fx, fy, cx, cy = float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2])
    big = float(max(width, height))
    if width >= height:
        fit, lens = "HORIZONTAL", fx * SENSOR_MM / width
    else:
        fit, lens = "VERTICAL", fy * SENSOR_MM / height
    return Intrinsics(
        lens=lens, sensor_fit=fit, sensor_width=SENSOR_MM, sensor_height=SENSOR_MM,
        shift_x=(width / 2.0 - cx) / big, shift_y=(cy - height / 2.0) / big)


def build_camera(
    context: bpy.types.Context,
    motion: Motion,
    frames: np.ndarray,
    video_background: bool = True,
    start_frame: int = 1,
) -> tuple[bpy.types.Object, list[str]]:
    """Create the camera object (made the scene camera). Returns (object, warnings)."""
    if motion.cam_K is None or motion.cam_R is None or motion.cam_t is None:
        raise ValueError("this motion has no camera (cam_K/cam_R/cam_t)")
    warnings: list[str] = []
    scene = context.scene
    width, height = motion.video_size
    k = np.asarray(motion.cam_K, np.float64)
    if width <= 0 or height <= 0:
        width, height = int(round(2 * k[0, 2])), int(round(2 * k[1, 2]))
        warnings.append("video size missing from the header: guessed from the principal point")
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scene.render.resolution_percentage = 100
    scene.render.pixel_aspect_x = scene.render.pixel_aspect_y = 1.0
    if abs(k[0, 0] - k[1, 1]) > 0.01 * k[0, 0]:
        warnings.append("camera fx and fy differ by more than 1%: Blender uses fx only")

    intr = intrinsics_from_k(k, width, height)
    stem = Path(motion.video_name).stem or "motion"
    cam_data = bpy.data.cameras.new(f"{stem[:50]}_camera")
    cam_data.lens = intr.lens
    cam_data.sensor_fit = intr.sensor_fit
    cam_data.sensor_width = intr.sensor_width
    cam_data.sensor_height = intr.sensor_height
    cam_data.shift_x = intr.shift_x
    cam_data.shift_y = intr.shift_y
    cam_data.clip_start = 0.05
    cam_data.clip_end = 1000.0
    cam_obj = bpy.data.objects.new(cam_data.name, cam_data)
    (context.collection or scene.collection).objects.link(cam_obj)
    cam_obj.rotation_mode = "QUATERNION"
    scene.camera = cam_obj

    rot, loc = opencv_extrinsics_to_blender(motion.cam_R, motion.cam_t)
    quats = quaternion_sign_continuity(matrix_to_quaternion(rot), axis=0)
    if motion.camera_static:
        cam_obj.location = loc[0].tolist()
        cam_obj.rotation_quaternion = quats[0].tolist()
    else:
        channels = [Channel("location", i, "Object Transforms", loc[:, i]) for i in range(3)]
        channels += [Channel("rotation_quaternion", i, "Object Transforms", quats[:, i])
                     for i in range(4)]
        write_curves(cam_obj, f"{cam_data.name}_action", frames, channels)
    cam_obj["str_motion_file"] = motion.path

    if video_background:
        warnings.extend(_attach_video(cam_data, motion, start_frame, scene))
    return cam_obj, warnings


def find_video(motion: Motion) -> str | None:
    """The source video: the header's path, else a file of the same name beside the motion
    file (folders get moved between machines). None when neither exists."""
    candidates = []
    if motion.video_path:
        candidates.append(Path(motion.video_path))
    if motion.video_name:
        candidates.append(Path(motion.path).parent / Path(motion.video_name).name)
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate.resolve())
    return None


def _attach_video(cam_data: bpy.types.Camera, motion: Motion, start_frame: int,
                  scene: bpy.types.Scene) -> list[str]:
    path = find_video(motion)
    if path is None:
        return [f"video not found ({motion.video_path or 'no path in the file'}, nor next to "
                "the motion file): camera has no background"]
    try:
        clip = bpy.data.movieclips.load(str(Path(path).resolve()), check_existing=True)
    except RuntimeError as exc:
        return [f"could not open the video {path}: {exc}; camera has no background"]
    clip.frame_start = start_frame
    cam_data.show_background_images = True
    bg = cam_data.background_images.new()
    bg.source = "MOVIE_CLIP"
    bg.clip = clip
    bg.alpha = 1.0
    bg.display_depth = "BACK"
    warnings = []
    scene_rate = scene.render.fps / scene.render.fps_base
    if abs(scene_rate - motion.fps) > 1e-3 * motion.fps:
        warnings.append(
            f"scene runs at {scene_rate:.3f} fps but the video at {motion.fps:.3f} fps: the "
            "background video will not stay in sync (use 'Match video' frame rate)")
    return warnings
