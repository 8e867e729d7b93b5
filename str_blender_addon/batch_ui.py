"""The "Batch" sub-panel: capture every video of a folder into motion files with the backend's
``batch`` command (a subprocess, the same process plumbing as a capture), with progress and
cancel (Esc or the Cancel button). Settings live in ``scene.str_mocap_batch``; nothing is
imported into the scene (import the motion files later, one by one or with
``python -m str_blender_addon.headless --batch``).
"""

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

from . import paths
from .batch_job import EXIT_SOME_FAILED, BatchJob, BatchRequest, BatchState
from .capture_job import JobStatus
from .doctor_client import find_backend_python
from .preferences import backend_settings, draw_progress
from .process import BackendError
from .properties import SMOOTHING_ITEMS, SOLVER_ITEMS

TIMER_INTERVAL_S = 0.25


class STRMOCAP_PG_batch(bpy.types.PropertyGroup):
    """Batch capture settings and the state of the running batch."""

    input_dir: StringProperty(  # type: ignore[valid-type]
        name="Videos", description="Folder searched (with its sub-folders) for videos",
        subtype="DIR_PATH")
    output_dir: StringProperty(  # type: ignore[valid-type]
        name="Output", description="Folder for the motion files (<relative path>.npz) and "
        "batch_manifest.jsonl", subtype="DIR_PATH")
    resume: BoolProperty(  # type: ignore[valid-type]
        name="Resume", default=True,
        description="Skip videos already captured with the same content and options")
    workers: IntProperty(  # type: ignore[valid-type]
        name="Workers", default=0, min=0, max=256,
        description="Videos captured at once (0: as many as the CPUs allow)")
    max_people: IntProperty(  # type: ignore[valid-type]
        name="Max People", default=2, min=1, max=10)
    smoothing: EnumProperty(  # type: ignore[valid-type]
        name="Smoothing", items=SMOOTHING_ITEMS, default="medium")
    solver: EnumProperty(  # type: ignore[valid-type]
        name="Solver", items=SOLVER_ITEMS, default="default")
    ray_address: StringProperty(  # type: ignore[valid-type]
        name="Ray Cluster", default="",
        description="Address of a Ray cluster head (host:port); empty: this computer only")
    running: BoolProperty(default=False)  # type: ignore[valid-type]
    progress: FloatProperty(default=0.0, min=0.0, max=1.0)  # type: ignore[valid-type]
    message: StringProperty(default="")  # type: ignore[valid-type]
    last_failures: StringProperty(default="")  # type: ignore[valid-type]


class ActiveBatches:
    """The batch jobs running in this Blender session (for Cancel and unregister)."""

    def __init__(self) -> None:
        self.jobs: list[BatchJob] = []

    def request_cancel_all(self) -> int:
        for job in self.jobs:
            job.request_cancel()
        return len(self.jobs)

    def shutdown(self) -> None:
        for job in list(self.jobs):
            job.request_cancel()
            job.wait(timeout_s=job.grace_s)
        self.jobs.clear()


ACTIVE_BATCHES = ActiveBatches()


def batch_request(context: bpy.types.Context) -> BatchRequest:
    s = context.scene.str_mocap_batch
    backend = backend_settings(context)
    return BatchRequest(
        input_dir=_abspath(s.input_dir), output_dir=_abspath(s.output_dir), solver=s.solver,
        max_people=s.max_people, smoothing=s.smoothing, device=backend.device, resume=s.resume,
        workers=s.workers, ray_address=s.ray_address, str_checkpoint=backend.str_checkpoint,
        smpl_dir=backend.smpl_dir)


def _abspath(text: str):  # type: ignore[no-untyped-def]
    from pathlib import Path

    return Path(bpy.path.abspath(text)) if text.strip() else Path("")


def new_batch_job(context: bpy.types.Context) -> BatchJob:
    """Raises BackendError/ValueError with a message for the user."""
    backend = backend_settings(context)
    python, _ = find_backend_python(backend.backend_python, managed_venv=paths.backend_venv_dir(),
                                    check=False)
    if not context.scene.str_mocap_batch.input_dir.strip():
        raise ValueError("Choose the folder of videos.")
    if not context.scene.str_mocap_batch.output_dir.strip():
        raise ValueError("Choose an output folder.")
    return BatchJob(python, batch_request(context))


def show_state(context: bpy.types.Context, state: BatchState) -> None:
    s = context.scene.str_mocap_batch
    s.running = not state.status.finished
    s.progress = state.fraction
    s.message = state.message
    s.last_failures = "\n".join(state.failures)
    for area in context.screen.areas if context.screen else ():
        if area.type == "VIEW_3D":
            area.tag_redraw()


def _ran_through(state: BatchState) -> bool:
    """The batch went through every video (some may have failed alone)."""
    return state.status is JobStatus.SUCCEEDED or state.exit_code == EXIT_SOME_FAILED


def _report(operator: bpy.types.Operator, state: BatchState) -> set[str]:
    """Report the outcome; the operator's return value."""
    if state.status is JobStatus.SUCCEEDED:
        operator.report({"INFO"}, state.message)
    elif _ran_through(state) or state.status is JobStatus.CANCELLED:
        operator.report({"WARNING"}, state.message)
    else:
        operator.report({"ERROR"}, state.message)
    return {"FINISHED"} if _ran_through(state) else {"CANCELLED"}


class STRMOCAP_OT_batch_capture(bpy.types.Operator):
    """Capture every video of the folder into motion files (runs the backend's batch command;
    Esc cancels, finished videos are kept)"""

    bl_idname = "strmocap.batch_capture"
    bl_label = "Run Batch"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.scene is not None and not ACTIVE_BATCHES.jobs

    def _start(self, context: bpy.types.Context) -> BatchJob | None:
        try:
            job = new_batch_job(context)
        except (BackendError, ValueError, OSError) as exc:
            self.report({"ERROR"}, str(exc))
            return None
        state = job.start()
        show_state(context, state)
        if state.status.finished:
            _report(self, state)
            return None
        ACTIVE_BATCHES.jobs.append(job)
        return job

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        job = self._start(context)
        if job is None:
            return {"CANCELLED"}
        self._job = job
        wm = context.window_manager
        self._timer = wm.event_timer_add(TIMER_INTERVAL_S, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        if event.type == "ESC" and event.value == "PRESS":
            self._job.request_cancel()
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        state = self._job.poll()
        show_state(context, state)
        if not state.status.finished:
            return {"RUNNING_MODAL"}
        self._end(context)
        return _report(self, state)

    def _end(self, context: bpy.types.Context) -> None:
        timer = getattr(self, "_timer", None)
        if timer is not None:
            context.window_manager.event_timer_remove(timer)
            self._timer = None
        if self._job in ACTIVE_BATCHES.jobs:
            ACTIVE_BATCHES.jobs.remove(self._job)

    def cancel(self, context: bpy.types.Context) -> None:
        self._job.request_cancel()
        show_state(context, self._job.wait(timeout_s=self._job.grace_s))
        self._end(context)

    def execute(self, context: bpy.types.Context) -> set[str]:
        job = self._start(context)
        if job is None:
            return {"CANCELLED"}
        self._job = job
        try:
            state = job.wait()
        finally:
            self._end(context)
        show_state(context, state)
        return _report(self, state)


class STRMOCAP_OT_cancel_batch(bpy.types.Operator):
    """Stop the running batch (finished videos and the manifest are kept; Resume finishes it)"""

    bl_idname = "strmocap.cancel_batch"
    bl_label = "Cancel Batch"
    bl_options = {"REGISTER"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        s = context.scene.str_mocap_batch
        if ACTIVE_BATCHES.request_cancel_all() == 0:
            s.running = False
            s.message = ""
            self.report({"INFO"}, "No batch is running.")
            return {"FINISHED"}
        s.message = "Cancelling..."
        return {"FINISHED"}


class STRMOCAP_PT_batch(bpy.types.Panel):
    """Capture a folder of videos."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "STR Mocap"
    bl_idname = "STRMOCAP_PT_batch"
    bl_label = "Batch"
    bl_parent_id = "STRMOCAP_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        s = context.scene.str_mocap_batch
        col = layout.column()
        col.enabled = not s.running
        col.prop(s, "input_dir")
        col.prop(s, "output_dir")
        col.prop(s, "max_people")
        col.prop(s, "smoothing")
        col.prop(s, "solver")
        row = col.row()
        row.prop(s, "resume")
        row.prop(s, "workers")
        col.prop(s, "ray_address")
        if s.running:
            draw_progress(layout, s.progress, "Batch")
            if s.message:
                layout.label(text=s.message)
            layout.operator("strmocap.cancel_batch", icon="CANCEL")
            return
        layout.operator("strmocap.batch_capture", icon="RENDER_ANIMATION")
        if s.message:
            layout.label(text=s.message, icon="INFO")
        for line in s.last_failures.splitlines():
            layout.label(text=line, icon="ERROR")


_CLASSES = (STRMOCAP_PG_batch, STRMOCAP_OT_batch_capture, STRMOCAP_OT_cancel_batch,
            STRMOCAP_PT_batch)


def register() -> None:
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.str_mocap_batch = PointerProperty(type=STRMOCAP_PG_batch)


def unregister() -> None:
    ACTIVE_BATCHES.shutdown()
    if hasattr(bpy.types.Scene, "str_mocap_batch"):
        del bpy.types.Scene.str_mocap_batch
    for cls in reversed(_CLASSES):
        if cls.is_registered:
            bpy.utils.unregister_class(cls)
