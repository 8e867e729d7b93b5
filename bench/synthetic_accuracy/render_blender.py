"""Render a posed vertex sequence with headless Blender (bpy 4.5 module, Workbench engine).

Only this module imports bpy. The scene: a checkered floor (0.5 m tiles), a back wall with
stripes (or, with ``SceneConfig.room``, a turned room: see ``room_geometry``), the figure as one mesh with per-vertex clothing colours, studio lighting with shadows,
and the pinhole camera of ``SceneConfig``. Each frame's vertices are written with ``foreach_set``
and rendered to ``frame_%05d.png``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scene_config import SceneConfig


def _tiles(x0: float, x1: float, y0: float, y1: float, size: float):
    """Quads (4 own vertices each) tiling [x0,x1]x[y0,y1] on z = 0, with a checker colour."""
    xs = np.arange(x0, x1, size)
    ys = np.arange(y0, y1, size)
    verts, faces, cols = [], [], []
    for i, x in enumerate(xs):
        for j, y in enumerate(ys):
            k = len(verts)
            verts += [(x, y, 0.0), (x + size, y, 0.0), (x + size, y + size, 0.0), (x, y + size, 0.0)]
            faces.append((k, k + 1, k + 2, k + 3))
            shade = (0.62, 0.58, 0.50) if (i + j) % 2 == 0 else (0.44, 0.47, 0.40)
            cols += [shade] * 4
    return np.array(verts), faces, np.array(cols)


def _wall(y: float, x0: float, x1: float, z1: float, band: float):
    """A vertical wall at ``y`` made of horizontal colour bands (own vertices per band)."""
    verts, faces, cols = [], [], []
    for i, z in enumerate(np.arange(0.0, z1, band)):
        k = len(verts)
        verts += [(x0, y, z), (x1, y, z), (x1, y, z + band), (x0, y, z + band)]
        faces.append((k, k + 1, k + 2, k + 3))
        c = (0.80, 0.78, 0.72) if i % 2 == 0 else (0.70, 0.72, 0.76)
        cols += [c] * 4
    return np.array(verts), faces, np.array(cols)


def _turn(verts: np.ndarray, yaw_deg: float, centre_xy) -> np.ndarray:
    """Room-local vertices (N, 3) turned by ``yaw_deg`` about z and moved to ``centre_xy``."""
    a = np.radians(yaw_deg)
    rot = np.array([[np.cos(a), -np.sin(a), 0.0], [np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
    return verts @ rot.T + np.array([centre_xy[0], centre_xy[1], 0.0])


def _panel_wall(p0, p1, height: float, panel: float, dado: float, shades):
    """A vertical wall from p0 to p1 (room-local xy) of panels ``panel`` m wide, each split into
    a dado up to ``dado`` m and an upper part; alternating shades give vertical and horizontal
    edges."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    length = float(np.linalg.norm(p1 - p0))
    along = (p1 - p0) / length
    verts, faces, cols = [], [], []
    stops = np.append(np.arange(0.0, length, panel), length)
    for i, (s0, s1) in enumerate(zip(stops[:-1], stops[1:], strict=True)):
        a, b = p0 + along * s0, p0 + along * s1
        for j, (z0, z1) in enumerate(((0.0, dado), (dado, height))):
            k = len(verts)
            verts += [(a[0], a[1], z0), (b[0], b[1], z0), (b[0], b[1], z1), (a[0], a[1], z1)]
            faces.append((k, k + 1, k + 2, k + 3))
            cols += [shades[(i + j) % 2]] * 4
    return np.array(verts), faces, np.array(cols)


def _box(x: float, y: float, half: float, height: float, shade):
    """The four side faces of an upright square pillar centred at room-local (x, y)."""
    c = [(x - half, y - half), (x + half, y - half), (x + half, y + half), (x - half, y + half)]
    verts, faces = [], []
    for i in range(4):
        (ax, ay), (bx, by) = c[i], c[(i + 1) % 4]
        k = len(verts)
        verts += [(ax, ay, 0.0), (bx, by, 0.0), (bx, by, height), (ax, ay, height)]
        faces.append((k, k + 1, k + 2, k + 3))
    return np.array(verts), faces, np.array([shade] * len(verts))


def room_geometry(cfg: SceneConfig) -> list[tuple[str, np.ndarray, list, np.ndarray]]:
    """The turned room of ``cfg.room``: (name, vertices (N, 3) scene world, quads, colours).

    A square room ``2 * room_half_size_m`` wide: a checkered floor (0.5 m tiles), four 3 m
    walls of 1.2 m panels with a 1 m dado, and four 0.4 m pillars, all turned by
    ``room_yaw_deg`` about the vertical through ``room_centre_xy``."""
    r = cfg.room_half_size_m
    parts = [("Floor", *_tiles(-r, r, -r, r, 0.5))]
    corners = [(-r, -r), (r, -r), (r, r), (-r, r)]
    shades = ((0.82, 0.80, 0.74), (0.62, 0.66, 0.72))
    for i in range(4):
        parts.append((f"Wall{i}", *_panel_wall(corners[i], corners[(i + 1) % 4], 3.0, 1.2, 1.0,
                                                shades)))
    for i, (x, y) in enumerate(((-0.55 * r, 0.55 * r), (0.55 * r, 0.55 * r),
                                (0.55 * r, -0.1 * r), (-0.6 * r, 0.1 * r))):
        parts.append((f"Pillar{i}", *_box(x, y, 0.2, 3.0, (0.35, 0.33, 0.36))))
    return [(name, _turn(v, cfg.room_yaw_deg, cfg.room_centre_xy), f, c)
            for name, v, f, c in parts]


def _mesh_object(bpy, name: str, verts: np.ndarray, faces, colors: np.ndarray, smooth: bool):
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(verts.tolist(), [], [tuple(int(i) for i in f) for f in faces])
    attr = mesh.color_attributes.new("Col", "FLOAT_COLOR", "POINT")
    rgba = np.concatenate([colors, np.ones((len(colors), 1))], 1).astype(np.float32)
    attr.data.foreach_set("color", rgba.ravel())
    mesh.color_attributes.active_color = attr
    mesh.polygons.foreach_set("use_smooth", np.full(len(mesh.polygons), smooth))
    mesh.update()
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    return obj


def build_scene(bpy, cfg: SceneConfig, first_vertices: np.ndarray, faces: np.ndarray,
                colors: np.ndarray):
    """Create floor, wall, figure, camera and render settings; returns the figure's mesh."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    if cfg.room:
        for name, verts, quads, cols in room_geometry(cfg):
            _mesh_object(bpy, name, verts, quads, cols, smooth=False)
    else:
        fv, ff, fc = _tiles(-12.0, 12.0, -1.0, 16.0, 0.5)
        _mesh_object(bpy, "Floor", fv, ff, fc, smooth=False)
        wv, wf, wc = _wall(16.0, -40.0, 40.0, 8.0, 0.6)
        _mesh_object(bpy, "Wall", wv, wf, wc, smooth=False)
    figure = _mesh_object(bpy, "Figure", first_vertices.astype(np.float64), faces, colors,
                          smooth=True)

    cam_data = bpy.data.cameras.new("Camera")
    cam_data.sensor_fit = "HORIZONTAL"
    cam_data.angle = float(np.radians(cfg.hfov_deg))
    cam_data.clip_start, cam_data.clip_end = 0.05, 100.0
    cam = bpy.data.objects.new("Camera", cam_data)
    cam.location = (0.0, 0.0, cfg.camera_height_m)
    cam.rotation_euler = (float(np.radians(90.0 - cfg.pitch_deg)), 0.0, 0.0)
    scene.collection.objects.link(cam)
    scene.camera = cam

    world = bpy.data.worlds.new("World")
    world.color = (0.55, 0.66, 0.80)
    scene.world = world
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.render.resolution_x, scene.render.resolution_y = cfg.width, cfg.height
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGB"
    scene.render.fps = int(round(cfg.fps))
    scene.view_settings.view_transform = "Standard"
    scene.display.render_aa = cfg.aa_samples
    shading = scene.display.shading
    shading.light = "STUDIO"
    shading.color_type = "VERTEX"
    shading.show_shadows = True
    shading.shadow_intensity = 0.45
    shading.show_cavity = True
    shading.cavity_type = "WORLD"
    scene.display.light_direction = (0.35, -0.45, 0.82)
    return figure.data


def render_frames(cfg: SceneConfig, vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray,
                  out_dir: Path, frames: range | None = None, log_every: int = 50,
                  camera_matrices: np.ndarray | None = None) -> list[Path]:
    """Render ``vertices`` (F, V, 3) scene-world metres to PNGs in ``out_dir``; returns the paths.

    camera_matrices: optional (F, 4, 4) world matrices of a moving camera
    (``camera_path.blender_matrices``); by default the camera of ``cfg`` stays still."""
    import bpy  # noqa: PLC0415  (Blender as a module; only this module needs it)
    from mathutils import Matrix  # noqa: PLC0415

    out_dir.mkdir(parents=True, exist_ok=True)
    mesh = build_scene(bpy, cfg, vertices[0], faces, colors)
    scene = bpy.context.scene
    paths = []
    for f in frames if frames is not None else range(len(vertices)):
        mesh.vertices.foreach_set("co", vertices[f].astype(np.float32).ravel())
        mesh.update()
        if camera_matrices is not None:
            scene.camera.matrix_world = Matrix(camera_matrices[f].tolist())
        path = out_dir / f"frame_{f:05d}.png"
        scene.render.filepath = str(path)
        bpy.ops.render.render(write_still=True)
        paths.append(path)
        if log_every and f % log_every == 0:
            print(f"rendered frame {f}/{len(vertices)}", flush=True)
    return paths
