"""Workbench preview video of the imported rigs over the source video (bpy side).

``render_preview(out, PreviewOptions(...))`` renders the current scene's animation to an MP4
without changing the scene: the preview's settings (Workbench, small size, video output,
compositing over the movie clip, a grey world) live on a temporary *linked copy* of the scene
(same objects, own settings) that is removed afterwards, so a .blend saved later keeps the
video's resolution, the user's engine, output path and compositor.

Memory: the movie clip behind the compositor fills Blender's sequencer/clip cache, whose limit
defaults to 4 GB (``preferences.system.memory_cache_limit``); during the render it is capped
at ``PreviewOptions.cache_limit_mb`` and restored afterwards, so a long preview stays bounded.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import bpy

from . import bpy_compat
from .export_files import ExportError, atomic_output


@dataclass(frozen=True)
class PreviewOptions:
    """width: output width in pixels (height follows the scene's aspect, both even for H.264);
    max_frames: 0 = whole clip; over_video: composite over the camera's background clip;
    cache_limit_mb: clip/sequencer cache cap while rendering (0 = leave Blender's setting)."""

    width: int = 480
    max_frames: int = 0
    over_video: bool = True
    cache_limit_mb: int = 256


def render_preview(out: Path, options: PreviewOptions = PreviewOptions()) -> Path:
    """Render the current scene's frame range to ``out`` (MP4); the scene is left as it was."""
    scene = bpy.context.scene
    if scene.camera is None:
        raise ExportError("no camera to render the preview from (drop --no-camera)")
    system = bpy.context.preferences.system
    cache_limit = system.memory_cache_limit
    before = set(bpy.data.scenes)
    result = bpy.ops.scene.new(type="LINK_COPY")
    copies = [s for s in bpy.data.scenes if s not in before]
    if "FINISHED" not in result or len(copies) != 1:
        raise ExportError(f"could not make a scene for the preview ({result})")
    preview = copies[0]
    made: list[bpy.types.ID] = []
    try:
        if options.cache_limit_mb > 0:
            system.memory_cache_limit = min(cache_limit or options.cache_limit_mb,
                                            options.cache_limit_mb)
        _configure(preview, scene, options, made)
        with atomic_output(out) as tmp:
            preview.render.filepath = str(tmp)
            preview.render.use_file_extension = False
            bpy.ops.render.render(animation=True, scene=preview.name)
    finally:
        system.memory_cache_limit = cache_limit
        bpy.data.scenes.remove(preview)
        for block in made:
            _remove_id(block)
        if bpy.context.window is not None and bpy.context.window.scene != scene:
            bpy.context.window.scene = scene
    return out


def _configure(preview, scene, options: PreviewOptions, made: list) -> None:
    render = preview.render
    render.engine = bpy_compat.workbench_engine()
    preview.display.shading.light = "STUDIO"
    preview.display.shading.color_type = "MATERIAL"
    # H.264 needs even sizes: set the size directly (the camera's shift is size-invariant).
    aspect = scene.render.resolution_y / max(1, scene.render.resolution_x)
    render.resolution_x = max(16, options.width // 2 * 2)
    render.resolution_y = max(16, int(round(render.resolution_x * aspect / 2)) * 2)
    render.resolution_percentage = 100
    if options.max_frames > 0:
        preview.frame_end = min(scene.frame_end, scene.frame_start + options.max_frames - 1)
    world = bpy.data.worlds.new("STR preview")
    made.append(world)
    world.color = (0.35, 0.37, 0.4)
    preview.world = world
    over_video = options.over_video and _video_compositing(preview, made)
    render.film_transparent = over_video
    bpy_compat.set_video_output(preview)


def _remove_id(block) -> None:
    for collection in (bpy.data.worlds, bpy.data.node_groups):
        try:
            if block.name in collection and collection[block.name] == block:
                collection.remove(block)
                return
        except ReferenceError:
            return


def _video_compositing(scene, made: list) -> bool:
    """Composite the render over the camera's background movie clip (on ``scene``, the
    preview's own copy).

    Feature-detected: Blender 5.0 node-group compositor (``scene.compositing_node_group``,
    node options as menu sockets) or the 4.2/4.5 scene node tree. Returns False (plain
    background) when there is no clip or the compositor API is not as expected.
    """
    cam = scene.camera
    clips = [bg.clip for bg in cam.data.background_images if bg.clip is not None]
    if not clips:
        return False
    new_api = hasattr(scene, "compositing_node_group")
    try:
        if new_api:
            tree = bpy.data.node_groups.new("STR preview", "CompositorNodeTree")
            made.append(tree)
            tree.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
            out_node = tree.nodes.new("NodeGroupOutput")
        else:
            scene.use_nodes = True
            tree = scene.node_tree       # the copy's own tree: the user's scene keeps its own
            tree.nodes.clear()
            out_node = tree.nodes.new("CompositorNodeComposite")
        layers = tree.nodes.new("CompositorNodeRLayers")
        layers.scene = scene
        clip_node = tree.nodes.new("CompositorNodeMovieClip")
        clip_node.clip = clips[0]
        scale = tree.nodes.new("CompositorNodeScale")
        if "Type" in scale.inputs:                           # 5.0: options are menu sockets
            scale.inputs["Type"].default_value = "Render Size"
        else:
            scale.space = "RENDER_SIZE"
        over = tree.nodes.new("CompositorNodeAlphaOver")
        if "Background" in over.inputs:                      # 5.0 socket names
            background, foreground = over.inputs["Background"], over.inputs["Foreground"]
        else:                                                # 4.x: Fac, Image, Image
            background, foreground = over.inputs[1], over.inputs[2]
        tree.links.new(clip_node.outputs["Image"], scale.inputs[0])
        tree.links.new(scale.outputs[0], background)
        tree.links.new(layers.outputs["Image"], foreground)
        tree.links.new(over.outputs[0], out_node.inputs[0])
        if new_api:
            scene.compositing_node_group = tree
        return True
    except (AttributeError, KeyError, RuntimeError, TypeError, IndexError) as exc:
        print(f"warning: preview without the video background ({exc})", file=sys.stderr)
        if new_api:
            scene.compositing_node_group = None
        else:
            scene.use_nodes = False
        return False


__all__ = ["PreviewOptions", "render_preview"]
