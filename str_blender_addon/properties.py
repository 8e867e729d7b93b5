"""Scene settings of STR Mocap: ``scene.str_mocap`` (capture options, import options, job status,
smoothing-bake numbers)."""

from __future__ import annotations

import bpy
from bpy.props import (
    BoolProperty,
    EnumProperty,
    FloatProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)

SOLVER_ITEMS = [
    ("default", "Default", "MediaPipe landmarks + kinematic SMPL fit (works out of the box)"),
    ("str", "STR network", "The STR network of the paper (needs a checkpoint in preferences)"),
]
SMOOTHING_ITEMS = [
    ("none", "None", "No temporal smoothing"),
    ("light", "Light", "Light smoothing, keeps fast motion"),
    ("medium", "Medium", "Balanced smoothing"),
    ("strong", "Strong", "Strong smoothing for slow, steady motion"),
]
CAMERA_ITEMS = [
    ("auto", "Auto", "Track the camera's turning from the background and use it when the "
     "camera moved (handheld, panning); a tripod shot stays static"),
    ("static", "Static", "The camera did not move (tripod): skip camera tracking"),
    ("moving", "Moving", "Always use the tracked camera rotation"),
]
TTA_ITEMS = [
    ("none", "Standard", "One pose-model pass per person and frame"),
    ("mirror", "Mirror Pass", "Also run the pose model on the mirrored frame and average the "
     "two: a few percent lower pose error on our benchmark, about twice the detection time"),
]
FPS_MODE_ITEMS = [
    ("MATCH_VIDEO", "Match Video", "Set the scene frame rate to the video's"),
    ("KEEP_SCENE", "Keep Scene", "Keep the scene frame rate; keys land at the exact times"),
]
BAKE_METHOD_ITEMS = [
    ("GAUSSIAN", "Gaussian", "Gaussian low-pass filter"),
    ("BUTTERWORTH", "Butterworth", "Zero-phase Butterworth low-pass filter"),
    ("ONE_EURO", "One Euro", "Speed-adaptive One-Euro filter"),
]


class STRMOCAP_PG_settings(bpy.types.PropertyGroup):
    """Per-scene capture settings and the state of the running job."""

    # --- capture input
    video_path: StringProperty(  # type: ignore[valid-type]
        name="Video", description="Video file to capture motion from", subtype="FILE_PATH"
    )
    whole_video: BoolProperty(  # type: ignore[valid-type]
        name="Whole Video", description="Capture the whole video", default=True
    )
    start_time: FloatProperty(  # type: ignore[valid-type]
        name="Start", description="Start of the captured range (seconds into the video)",
        default=0.0, min=0.0, unit="TIME_ABSOLUTE", precision=2,
    )
    end_time: FloatProperty(  # type: ignore[valid-type]
        name="End", description="End of the captured range (seconds into the video)",
        default=5.0, min=0.0, unit="TIME_ABSOLUTE", precision=2,
    )
    max_people: IntProperty(  # type: ignore[valid-type]
        name="Max People", description="Largest number of people to track", default=2,
        min=1, max=10,
    )
    smoothing: EnumProperty(  # type: ignore[valid-type]
        name="Smoothing", description="Temporal smoothing done by the backend",
        items=SMOOTHING_ITEMS, default="medium",
    )
    subject_height: StringProperty(  # type: ignore[valid-type]
        name="Height",
        description="Standing height of the people in metres, for everyone (1.85) or per "
        "track id (1:1.85,2:1.62); sets the scale of the skeleton, the path and the camera. "
        "Empty: estimated (monocular video has no absolute scale: ~1.64 m for most people)",
        default="",
    )
    fov: FloatProperty(  # type: ignore[valid-type]
        name="Field of View",
        description="Horizontal field of view of the camera in degrees; 0 = estimate it "
        "from the video (a 60 degree prior with a warning when it cannot be seen)",
        default=0.0, min=0.0, max=170.0, precision=1,
    )
    solver: EnumProperty(  # type: ignore[valid-type]
        name="Solver", description="How poses are estimated", items=SOLVER_ITEMS,
        default="default",
    )
    camera_motion: EnumProperty(  # type: ignore[valid-type]
        name="Camera", description="Whether the camera moved while filming (the imported "
        "camera is animated when it did)", items=CAMERA_ITEMS, default="auto",
    )
    detector_tta: EnumProperty(  # type: ignore[valid-type]
        name="Detector", description="Pose detector passes per frame (the backend's --tta)",
        items=TTA_ITEMS, default="none",
    )
    # --- import options
    fps_mode: EnumProperty(  # type: ignore[valid-type]
        name="Frame Rate", items=FPS_MODE_ITEMS, default="MATCH_VIDEO"
    )
    start_frame: IntProperty(  # type: ignore[valid-type]
        name="Start Frame", description="Scene frame of the first captured frame", default=1
    )
    build_body_mesh: BoolProperty(  # type: ignore[valid-type]
        name="Body Mesh", description="Add a skinned body mesh to each rig", default=True
    )
    create_camera: BoolProperty(  # type: ignore[valid-type]
        name="Camera", description="Create the estimated camera", default=True
    )
    video_background: BoolProperty(  # type: ignore[valid-type]
        name="Video Background", description="Show the video behind the camera view",
        default=True,
    )
    # --- job status (written by the capture operator)
    job_running: BoolProperty(name="Running", default=False)  # type: ignore[valid-type]
    job_cancel_requested: BoolProperty(default=False)  # type: ignore[valid-type]
    job_stage: StringProperty(name="Stage", default="")  # type: ignore[valid-type]
    job_progress: FloatProperty(  # type: ignore[valid-type]
        name="Progress", default=0.0, min=0.0, max=1.0, subtype="FACTOR"
    )
    job_message: StringProperty(name="Status", default="")  # type: ignore[valid-type]
    last_persons: IntProperty(name="Persons Imported", default=0)  # type: ignore[valid-type]
    last_armatures: StringProperty(default="")  # type: ignore[valid-type]
    # --- smoothing bake
    bake_method: EnumProperty(  # type: ignore[valid-type]
        name="Method", items=BAKE_METHOD_ITEMS, default="GAUSSIAN"
    )
    bake_strength: FloatProperty(  # type: ignore[valid-type]
        name="Strength", default=0.5, min=0.0, max=1.0, subtype="FACTOR"
    )
    bake_has_numbers: BoolProperty(default=False)  # type: ignore[valid-type]
    bake_jitter_before: FloatProperty(  # type: ignore[valid-type]
        name="Jitter Before", description="Mean |second difference| of joints (mm/frame²)"
    )
    bake_jitter_after: FloatProperty(  # type: ignore[valid-type]
        name="Jitter After", description="Mean |second difference| of joints (mm/frame²)"
    )
    bake_is_preview: BoolProperty(default=True)  # type: ignore[valid-type]


_CLASSES = (STRMOCAP_PG_settings,)


def register() -> None:
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.str_mocap = PointerProperty(type=STRMOCAP_PG_settings)


def unregister() -> None:
    if hasattr(bpy.types.Scene, "str_mocap"):
        del bpy.types.Scene.str_mocap
    for cls in reversed(_CLASSES):
        if cls.is_registered:  # tolerate a partial registration
            bpy.utils.unregister_class(cls)
