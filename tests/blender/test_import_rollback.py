"""A failed import leaves the scene exactly as before: every data-block collection, the fps,
the frame range, the current frame, the scene camera and the active object are compared
before and after a failure injected at each step of the build (real bpy)."""

from __future__ import annotations

import pytest

bpy = pytest.importorskip("bpy")

import str_blender_addon.importer as importer  # noqa: E402
from str_blender_addon.importer import (  # noqa: E402
    ImportOptions,
    StrImportError,
    import_motion,
)


def _fingerprint() -> dict:
    """Everything an import may touch, by name (data-blocks of every kind + scene settings)."""
    scene = bpy.context.scene
    kinds = [p.identifier for p in bpy.types.BlendData.bl_rna.properties
             if p.type == "COLLECTION" and p.identifier not in ("window_managers", "screens",
                                                                "workspaces")]
    blocks = {k: sorted(i.name for i in getattr(bpy.data, k))
              for k in kinds if hasattr(getattr(bpy.data, k), "__iter__")}
    active = bpy.context.view_layer.objects.active
    return {
        "blocks": blocks,
        "fps": (scene.render.fps, scene.render.fps_base),
        "range": (scene.frame_start, scene.frame_end, scene.frame_current),
        "resolution": (scene.render.resolution_x, scene.render.resolution_y),
        "camera": scene.camera.name if scene.camera else None,
        "active": active.name if active else None,
        "users": {o.name: o.users for o in bpy.data.objects},
    }


@pytest.fixture
def busy_scene(empty_scene):
    """A user's scene: a cube with an action, a camera, 24 fps, frames 5..77 at 12."""
    mesh = bpy.data.meshes.new("UserCube")
    cube = bpy.data.objects.new("UserCube", mesh)
    empty_scene.scene.collection.objects.link(cube)
    cube.animation_data_create().action = bpy.data.actions.new("UserAction")
    cam = bpy.data.objects.new("UserCam", bpy.data.cameras.new("UserCam"))
    empty_scene.scene.collection.objects.link(cam)
    scene = empty_scene.scene
    scene.camera = cam
    scene.render.fps, scene.render.fps_base = 24, 1.0
    scene.frame_start, scene.frame_end, scene.frame_current = 5, 77, 12
    empty_scene.view_layer.objects.active = cube
    return empty_scene


def _fail_on_call(n: int, exc: BaseException):
    """A replacement that runs the real function until its n-th call, which raises ``exc``."""
    def wrap(real):
        calls = {"n": 0}

        def fn(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == n:
                raise exc
            return real(*args, **kwargs)
        return fn
    return wrap


def _patch_everywhere(monkeypatch, module_name: str, attr: str, wrapper) -> None:
    import importlib

    module = importlib.import_module(module_name)
    monkeypatch.setattr(module, attr, wrapper(getattr(module, attr)))
    if module is not importer and hasattr(importer, attr):  # imported by name
        monkeypatch.setattr(importer, attr, wrapper(getattr(importer, attr)))


STEPS = [
    ("str_blender_addon.importer", "build_smpl_armature", 2),      # second person's rig
    ("str_blender_addon.importer", "write_person_animation", 2),   # second person's action
    ("str_blender_addon.body_mesh", "build_body_mesh", 2),         # second person's mesh
    ("str_blender_addon.bake", "bake_smoothing", 1),               # smoothing bake
    ("str_blender_addon.camera_builder", "build_camera", 1),       # camera + video clip
]


@pytest.mark.parametrize("module_name, attr, nth", STEPS, ids=[s[1] for s in STEPS])
@pytest.mark.parametrize("exc", [RuntimeError("injected failure"), KeyboardInterrupt()],
                         ids=["error", "interrupt"])
def test_failure_at_each_step_restores_the_scene(busy_scene, tmp_path, helpers, monkeypatch,
                                                 module_name, attr, nth, exc) -> None:
    arrays = helpers.synthetic_walk(30, 30.0, n_persons=2)
    path = helpers.write_motion_file(tmp_path / "w.npz", arrays, helpers.make_header(arrays))
    before = _fingerprint()
    _patch_everywhere(monkeypatch, module_name, attr, _fail_on_call(nth, exc))
    with pytest.raises(type(exc)):
        import_motion(busy_scene, path, ImportOptions(bake="gentle"))
    assert _fingerprint() == before


def test_frames_beyond_blenders_range_are_refused_before_building(busy_scene, tmp_path,
                                                                  helpers) -> None:
    arrays = helpers.synthetic_walk(30, 30.0)
    path = helpers.write_motion_file(tmp_path / "w.npz", arrays, helpers.make_header(arrays))
    before = _fingerprint()
    with pytest.raises(StrImportError, match="Blender's frame range"):
        import_motion(busy_scene, path, ImportOptions(start_frame=1_048_570))
    assert _fingerprint() == before
    # the same file imports fine from frame 1 (the check is about the range, not the file)
    result = import_motion(busy_scene, path, ImportOptions(create_camera=False))
    assert result.frame_end == 30 and bpy.context.scene.render.fps == 30


def test_long_timestamps_are_refused_by_the_reader_with_the_scene_untouched(
        busy_scene, tmp_path, helpers) -> None:
    """The campaign's 'timestamps x 1e12' file: a clear error, nothing built, fps kept."""
    from str_blender_addon.core.motion_file import MotionFileError

    arrays = helpers.synthetic_walk(30, 30.0, n_persons=2)
    arrays["timestamps"] = arrays["timestamps"] * 1e12
    path = helpers.write_motion_file(tmp_path / "w.npz", arrays, helpers.make_header(arrays))
    before = _fingerprint()
    with pytest.raises(MotionFileError, match="timestamps"):
        import_motion(busy_scene, path, ImportOptions())
    assert _fingerprint() == before
