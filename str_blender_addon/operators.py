"""Operators (thin): capture (modal, with progress and cancel), cancel, import, smoothing bake,
backend set-up and check.

The capture logic lives in the plain class :class:`CaptureSession` (no operator state): the
modal operator calls :meth:`CaptureSession.step` on timer events, ``execute()`` (scripts,
background mode) calls :meth:`CaptureSession.run_blocking`, and tests drive it directly.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from . import paths
from .backend_setup import (
    SetupJob,
    SetupState,
    SetupStatus,
    build_setup_plan,
    find_project_source,
    manual_setup_instructions,
    stage_source_tree,
)
from .bake import BAKE_PRESET_ITEMS
from .capture_job import (
    CaptureJob,
    CaptureRequest,
    JobConfig,
    JobState,
    JobStatus,
    remove_stale_jobs,
)
from .doctor_client import find_backend_python, run_doctor
from .preferences import BackendSettings, backend_settings, get_preferences, store_doctor_report
from .process import BackendError
from .properties import FPS_MODE_ITEMS


def domain_error(exc: BaseException) -> bool:
    """True for the errors whose message tells the user what to do (a bad file, bad options,
    the backend, the disk); anything else is a bug: its traceback goes to the console."""
    from .bake import BakeError
    from .core.motion_file import MotionFileError
    from .core.smpl_model import SmplLoadError
    from .importer import StrImportError
    from .rig_builder import RigBuildError

    return isinstance(exc, (MotionFileError, SmplLoadError, StrImportError, BakeError,
                            RigBuildError, BackendError, OSError))


def failure_text(exc: BaseException) -> str:
    """The message to report for ``exc``; a non-domain error also prints its traceback."""
    if not domain_error(exc):
        traceback.print_exception(exc)
        return f"{type(exc).__name__}: {exc} (a bug: the traceback is in the system console)"
    return str(exc)


#: Seconds between modal timer events while a capture or set-up runs.
TIMER_INTERVAL_S = 0.25

Report = tuple[str, str]  # ({'INFO'|'WARNING'|'ERROR'} level, text)


# --------------------------------------------------------------------------- capture logic
@dataclass(frozen=True)
class CaptureUpdate:
    """What one :meth:`CaptureSession.step` produced.

    ``result`` is the operator return value: 'RUNNING_MODAL' while the job runs, 'FINISHED'
    after a successful import, 'CANCELLED' on cancel/failure (nothing imported).
    """

    state: JobState
    result: str
    reports: tuple[Report, ...] = ()
    armatures: tuple[str, ...] = ()

    @property
    def finished(self) -> bool:
        return self.result != "RUNNING_MODAL"


def capture_request_from_settings(settings, backend: BackendSettings) -> CaptureRequest:  # type: ignore[no-untyped-def]
    """The backend request for the scene's capture settings (``scene.str_mocap``)."""
    video = bpy.path.abspath(settings.video_path) if settings.video_path else ""
    whole = bool(settings.whole_video)
    return CaptureRequest(
        video=Path(video),
        solver=settings.solver,
        max_people=int(settings.max_people),
        smoothing=settings.smoothing,
        start_s=None if whole else float(settings.start_time),
        end_s=None if whole else float(settings.end_time),
        device=backend.device,
        str_checkpoint=backend.str_checkpoint,
        smpl_dir=backend.smpl_dir,
        subject_height=str(settings.subject_height),
        fov_deg=float(settings.fov) if settings.fov > 0.0 else None,
        camera=str(settings.camera_motion),
        tta=str(settings.detector_tta),
    )


def import_options_from_settings(settings, backend: BackendSettings, bake: str = "off"):  # type: ignore[no-untyped-def]
    """ImportOptions for the scene's import settings (the backend already smoothed a capture,
    so the add-on side bake defaults to off)."""
    from .importer import ImportOptions

    return ImportOptions(
        fps_mode=settings.fps_mode,
        start_frame=int(settings.start_frame),
        build_body_mesh=bool(settings.build_body_mesh),
        smpl_dir=backend.smpl_dir,
        create_camera=bool(settings.create_camera),
        video_background=bool(settings.video_background),
        bake=bake,
    )


def _set_status_text(context: bpy.types.Context, text: str | None) -> None:
    workspace = getattr(context, "workspace", None)
    if workspace is not None:
        try:
            workspace.status_text_set(text)
        except (TypeError, RuntimeError):
            pass


def _redraw_sidebars(context: bpy.types.Context) -> None:
    screen = getattr(context, "screen", None)
    if screen is None:
        return
    for area in screen.areas:
        if area.type == "VIEW_3D":
            area.tag_redraw()


class CaptureSession:
    """One capture: the backend job, progress shown on ``scene.str_mocap``, import on success.

    Args:
        job: a not-yet-started :class:`CaptureJob`.
        import_options: an ``importer.ImportOptions``.
        captures_dir: where the motion file is kept after a successful capture (the imported
            rigs refer to it); None keeps it in the job folder.
    """

    def __init__(self, job: CaptureJob, import_options, captures_dir: Path | None = None) -> None:  # type: ignore[no-untyped-def]
        self.job = job
        self.import_options = import_options
        self.captures_dir = captures_dir
        self.scene_name = ""
        self.timer = None  # the modal operator's event timer (removed on end)
        self.final: CaptureUpdate | None = None

    # settings of the scene the capture was started from (even if the user switches scenes)
    def _settings(self, context: bpy.types.Context):  # type: ignore[no-untyped-def]
        scene = bpy.data.scenes.get(self.scene_name) if self.scene_name else None
        return (scene or context.scene).str_mocap

    def start(self, context: bpy.types.Context) -> CaptureUpdate:
        self.scene_name = context.scene.name
        settings = self._settings(context)
        settings.job_cancel_requested = False
        settings.last_persons = 0
        settings.last_armatures = ""
        state = self.job.start()
        if state.status.finished:
            return self._conclude(context, state)
        settings.job_running = True
        self._show(context, state)
        return CaptureUpdate(state=state, result="RUNNING_MODAL")

    def step(self, context: bpy.types.Context) -> CaptureUpdate:
        """Poll the job once (non-blocking); on the end, import or clean up."""
        if self.final is not None:
            return self.final
        settings = self._settings(context)
        if settings.job_cancel_requested:
            self.job.request_cancel()
        state = self.job.poll()
        if not state.status.finished:
            self._show(context, state)
            return CaptureUpdate(state=state, result="RUNNING_MODAL")
        return self._conclude(context, state)

    def request_cancel(self) -> None:
        """Non-blocking: stop the backend; the next :meth:`step` calls finish the session."""
        self.job.request_cancel()

    def cancel(self, context: bpy.types.Context) -> CaptureUpdate:
        """Blocking cancel (used when the operator is aborted or the add-on unregistered)."""
        if self.final is not None:
            return self.final
        return self._conclude(context, self.job.cancel())

    def run_blocking(self, context: bpy.types.Context, poll_interval_s: float = 0.1) -> CaptureUpdate:
        """Start and wait for the end (``execute()`` path: no event loop available)."""
        update = self.start(context)
        while not update.finished:
            time.sleep(poll_interval_s)
            update = self.step(context)
        return update

    # ----------------------------------------------------------------------- internals
    def _show(self, context: bpy.types.Context, state: JobState) -> None:
        settings = self._settings(context)
        settings.job_progress = state.fraction
        settings.job_stage = state.stage
        settings.job_message = state.message[:250]
        percent = state.fraction * 100.0
        _set_status_text(context, f"STR Mocap: {percent:.0f}%  {state.message}  (Esc to cancel)")
        _redraw_sidebars(context)

    def _keep_output(self, output: Path) -> Path:
        if self.captures_dir is None:
            return output
        self.captures_dir.mkdir(parents=True, exist_ok=True)
        stem = Path(self.job.request.video).stem or "capture"
        target = self.captures_dir / f"{stem}_{self.job.job_id}.npz"
        try:
            os.replace(output, target)
        except OSError:
            shutil.move(str(output), str(target))
        return target

    def _conclude(self, context: bpy.types.Context, state: JobState) -> CaptureUpdate:
        settings = self._settings(context)
        reports: list[Report] = []
        armatures: tuple[str, ...] = ()
        result = "CANCELLED"
        if state.status is JobStatus.SUCCEEDED and state.output_path is not None:
            try:
                motion_path = self._keep_output(state.output_path)
            except OSError as exc:
                motion_path = state.output_path
                reports.append(("WARNING", f"Could not keep the motion file: {exc}"))
            try:
                from .importer import import_motion

                imported = import_motion(context, str(motion_path), self.import_options)
            except Exception as exc:  # the importer removes what it created
                text = failure_text(exc)
                reports.append((
                    "ERROR",
                    f"Import of the captured motion failed: {text}. The motion file is kept at "
                    f"{motion_path}; import it again with File > Import once fixed.",
                ))
                message = f"Import failed: {text}"
            else:
                armatures = tuple(obj.name for obj in imported.armatures)
                result = "FINISHED"
                message = f"Imported {len(armatures)} person(s), {state.frames} frames"
                if imported.lens:
                    message += f"; {imported.lens}"
                reports.append(("INFO", f"STR Mocap: {message}"))
                seen: set[str] = set()
                for warning in (*state.warnings, *imported.warnings):
                    if warning not in seen:
                        seen.add(warning)
                        reports.append(("WARNING", warning))
                settings.last_persons = len(armatures)
                settings.last_armatures = ";".join(armatures)[:1000]
            if self.job.job_dir not in Path(motion_path).parents:
                self.job.cleanup()  # the motion file lives elsewhere now; drop the job folder
        elif state.status is JobStatus.CANCELLED:
            message = "Capture cancelled; nothing was imported."
            reports.append(("WARNING", message))
        else:
            message = state.message
            reports.append(("ERROR", f"Capture failed: {state.message}"))
        settings.job_running = False
        settings.job_cancel_requested = False
        settings.job_progress = 1.0 if result == "FINISHED" else 0.0
        settings.job_stage = ""
        settings.job_message = message[:250]
        _set_status_text(context, None)
        _redraw_sidebars(context)
        self.final = CaptureUpdate(
            state=state, result=result, reports=tuple(reports), armatures=armatures
        )
        return self.final


class ActiveCaptures:
    """The capture sessions currently running (so Cancel and unregister can reach them)."""

    def __init__(self) -> None:
        self._sessions: list[CaptureSession] = []

    def add(self, session: CaptureSession) -> None:
        self._sessions.append(session)

    def discard(self, session: CaptureSession) -> None:
        if session in self._sessions:
            self._sessions.remove(session)

    def __len__(self) -> int:
        return len(self._sessions)

    def request_cancel_all(self) -> int:
        for session in self._sessions:
            session.request_cancel()
        return len(self._sessions)

    def shutdown(self, context: bpy.types.Context) -> None:
        """Cancel every running capture (blocking) and remove their timers."""
        for session in list(self._sessions):
            try:
                session.cancel(context)
            finally:
                _remove_timer(context, session)
                self.discard(session)


ACTIVE_CAPTURES = ActiveCaptures()


def _remove_timer(context: bpy.types.Context, holder) -> None:  # type: ignore[no-untyped-def]
    timer = getattr(holder, "timer", None)
    if timer is not None:
        try:
            context.window_manager.event_timer_remove(timer)
        except (ReferenceError, RuntimeError, ValueError):
            pass
        holder.timer = None


def new_capture_session(context: bpy.types.Context) -> CaptureSession:
    """Build a session from the scene settings and preferences. Raises BackendError/ValueError
    with a message for the user when something needed is missing."""
    backend = backend_settings(context)
    settings = context.scene.str_mocap
    python, _ = find_backend_python(
        backend.backend_python, managed_venv=paths.backend_venv_dir(), check=False
    )
    request = capture_request_from_settings(settings, backend)
    jobs_root = paths.jobs_dir()
    remove_stale_jobs(jobs_root)
    job = CaptureJob(python, request, jobs_root, JobConfig())
    options = import_options_from_settings(settings, backend)
    return CaptureSession(job, options, captures_dir=paths.user_dir() / "captures")


def _report_all(operator: bpy.types.Operator, reports: tuple[Report, ...]) -> None:
    for level, text in reports:
        operator.report({level}, text)


class STRMOCAP_OT_capture(bpy.types.Operator):
    """Capture the motion of the people in the video (runs the backend; Esc cancels)"""

    bl_idname = "strmocap.capture"
    bl_label = "Capture"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.scene is not None and len(ACTIVE_CAPTURES) == 0

    def _new_session(self, context: bpy.types.Context) -> CaptureSession | None:
        try:
            return new_capture_session(context)
        except (BackendError, ValueError, OSError) as exc:
            self.report({"ERROR"}, str(exc))
            return None

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        session = self._new_session(context)
        if session is None:
            return {"CANCELLED"}
        update = session.start(context)
        if update.finished:
            _report_all(self, update.reports)
            return {update.result}
        self._session = session
        wm = context.window_manager
        session.timer = wm.event_timer_add(TIMER_INTERVAL_S, window=context.window)
        wm.modal_handler_add(self)
        ACTIVE_CAPTURES.add(session)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        session: CaptureSession = self._session
        if event.type == "ESC" and event.value == "PRESS":
            session.request_cancel()
            return {"RUNNING_MODAL"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        update = session.step(context)
        if not update.finished:
            return {"RUNNING_MODAL"}
        _remove_timer(context, session)
        ACTIVE_CAPTURES.discard(session)
        _report_all(self, update.reports)
        return {update.result}

    def cancel(self, context: bpy.types.Context) -> None:
        session: CaptureSession | None = getattr(self, "_session", None)
        if session is not None:
            session.cancel(context)
            _remove_timer(context, session)
            ACTIVE_CAPTURES.discard(session)

    def execute(self, context: bpy.types.Context) -> set[str]:
        session = self._new_session(context)
        if session is None:
            return {"CANCELLED"}
        ACTIVE_CAPTURES.add(session)
        try:
            update = session.run_blocking(context)
        finally:
            ACTIVE_CAPTURES.discard(session)
        _report_all(self, update.reports)
        return {update.result}


class STRMOCAP_OT_cancel_capture(bpy.types.Operator):
    """Stop the running capture (nothing is imported)"""

    bl_idname = "strmocap.cancel_capture"
    bl_label = "Cancel Capture"
    bl_options = {"REGISTER"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        settings = context.scene.str_mocap
        if ACTIVE_CAPTURES.request_cancel_all() == 0:
            # nothing runs (e.g. a file saved mid-capture): clear the stale status
            settings.job_running = False
            settings.job_cancel_requested = False
            settings.job_message = ""
            self.report({"INFO"}, "No capture is running.")
            return {"FINISHED"}
        settings.job_cancel_requested = True
        settings.job_message = "Cancelling..."
        return {"FINISHED"}


# --------------------------------------------------------------------------- import
class STRMOCAP_OT_import_motion(bpy.types.Operator, ImportHelper):
    """Import an STR Mocap motion file or an AMASS-style .npz as animated SMPL rigs"""

    bl_idname = "strmocap.import_motion"
    bl_label = "Import STR Mocap Motion"
    bl_options = {"REGISTER", "UNDO"}

    filename_ext = ".npz"
    filter_glob: StringProperty(default="*.npz", options={"HIDDEN"})  # type: ignore[valid-type]
    fps_mode: EnumProperty(name="Frame Rate", items=FPS_MODE_ITEMS, default="MATCH_VIDEO")  # type: ignore[valid-type]
    start_frame: IntProperty(name="Start Frame", default=1)  # type: ignore[valid-type]
    build_body_mesh: BoolProperty(name="Body Mesh", default=True)  # type: ignore[valid-type]
    create_camera: BoolProperty(name="Camera", default=True)  # type: ignore[valid-type]
    video_background: BoolProperty(name="Video Background", default=True)  # type: ignore[valid-type]
    bake: EnumProperty(name="Smoothing bake", items=BAKE_PRESET_ITEMS, default="off")  # type: ignore[valid-type]

    def execute(self, context: bpy.types.Context) -> set[str]:
        from .importer import ImportOptions, import_motion

        backend = backend_settings(context)
        options = ImportOptions(
            fps_mode=self.fps_mode,
            start_frame=self.start_frame,
            build_body_mesh=self.build_body_mesh,
            smpl_dir=backend.smpl_dir,
            create_camera=self.create_camera,
            video_background=self.video_background,
            bake=self.bake,
        )
        try:
            result = import_motion(context, self.filepath, options)
        except Exception as exc:  # MotionFileError / StrImportError carry actionable text
            self.report({"ERROR"}, f"Import failed: {failure_text(exc)}")
            return {"CANCELLED"}
        for warning in result.warnings:
            self.report({"WARNING"}, warning)
        lens = f"; {result.lens}" if result.lens else ""
        self.report({"INFO"}, f"Imported {len(result.armatures)} person(s){lens}")
        if context.scene is not None and hasattr(context.scene, "str_mocap"):
            context.scene.str_mocap.last_persons = len(result.armatures)
        return {"FINISHED"}


def menu_import(self, _context: bpy.types.Context) -> None:  # type: ignore[no-untyped-def]
    self.layout.operator(STRMOCAP_OT_import_motion.bl_idname, text="STR Mocap Motion (.npz)")


# --------------------------------------------------------------------------- smoothing bake
class _BakeBase:
    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        obj = context.active_object
        return obj is not None and obj.type == "ARMATURE"

    @staticmethod
    def _options(context: bpy.types.Context):  # type: ignore[no-untyped-def]
        from .bake import BakeOptions

        settings = context.scene.str_mocap
        return BakeOptions(method=settings.bake_method, strength=float(settings.bake_strength))

    @staticmethod
    def _store(context: bpy.types.Context, report, preview: bool) -> None:  # type: ignore[no-untyped-def]
        settings = context.scene.str_mocap
        settings.bake_jitter_before = float(report.jitter_before)
        settings.bake_jitter_after = float(report.jitter_after)
        settings.bake_has_numbers = True
        settings.bake_is_preview = preview


class STRMOCAP_OT_bake_preview(_BakeBase, bpy.types.Operator):
    """Measure how much the smoothing would reduce jitter (the scene is not changed)"""

    bl_idname = "strmocap.bake_preview"
    bl_label = "Preview"
    bl_options = {"REGISTER"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        from .bake import preview_bake

        try:
            report = preview_bake(context.active_object, self._options(context))
        except Exception as exc:
            self.report({"ERROR"}, f"Smoothing preview failed: {failure_text(exc)}")
            return {"CANCELLED"}
        self._store(context, report, preview=True)
        self.report(
            {"INFO"},
            f"Jitter {report.jitter_before:.2f} → {report.jitter_after:.2f} mm/frame² (preview)",
        )
        return {"FINISHED"}


class STRMOCAP_OT_bake_smoothing(_BakeBase, bpy.types.Operator):
    """Smooth the active rig's rotation and location keys (one undo step)"""

    bl_idname = "strmocap.bake_smoothing"
    bl_label = "Bake"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        from .bake import bake_smoothing

        try:
            report = bake_smoothing(context.active_object, self._options(context))
        except Exception as exc:
            self.report({"ERROR"}, f"Smoothing bake failed: {failure_text(exc)}")
            return {"CANCELLED"}
        self._store(context, report, preview=False)
        self.report(
            {"INFO"},
            f"Baked: jitter {report.jitter_before:.2f} → {report.jitter_after:.2f} mm/frame²",
        )
        return {"FINISHED"}


# --------------------------------------------------------------------------- backend
class STRMOCAP_OT_check_backend(bpy.types.Operator):
    """Run the backend's doctor and show versions and problems in the preferences"""

    bl_idname = "strmocap.check_backend"
    bl_label = "Check Backend"
    bl_options = {"REGISTER"}

    def execute(self, context: bpy.types.Context) -> set[str]:
        backend = backend_settings(context)
        prefs = get_preferences(context)
        try:
            python, _ = find_backend_python(
                backend.backend_python, managed_venv=paths.backend_venv_dir(), check=False
            )
        except BackendError as exc:
            if prefs is not None:
                prefs.backend_ok = False
                prefs.backend_status = str(exc)[:1000]
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        report = run_doctor(python)
        if prefs is not None:
            store_doctor_report(prefs, report)
        self.report({"INFO"} if report.ok else {"ERROR"}, report.message)
        return {"FINISHED"} if report.ok else {"CANCELLED"}


def setup_plan_for(backend: BackendSettings, stage: bool):  # type: ignore[no-untyped-def]
    """The set-up plan for the preferences (``stage``: copy a local source tree first)."""
    source = backend.install_source.strip()
    if not source:
        local = find_project_source(paths.addon_dir())
        if local is not None:
            source = str(
                stage_source_tree(local, paths.backend_source_staging_dir()) if stage else local
            )
    elif stage and Path(source).expanduser().is_dir():
        source = str(stage_source_tree(Path(source).expanduser(),
                                       paths.backend_source_staging_dir()))
    base = backend.base_python or sys.executable
    return build_setup_plan(base, paths.backend_venv_dir(), source,
                            temp_dir=paths.backend_setup_temp_dir())


class SetupSlot:
    """The one backend set-up this Blender runs at a time (a second would run a second pip on
    the same venv). ``busy`` while the job has not reached a final state."""

    def __init__(self) -> None:
        self.job: SetupJob | None = None

    def busy(self) -> bool:
        return self.job is not None and self.job.running

    def shutdown(self) -> None:
        """Cancel a running set-up (the add-on is being disabled)."""
        if self.busy():
            assert self.job is not None
            self.job.cancel(grace_s=1.0)


ACTIVE_SETUP = SetupSlot()


def setup_progress_text(state: SetupState) -> str:
    """'<step>: <what pip does, packages done/total>' (or the step's last output line)."""
    return f"{state.step_label}: {state.detail or state.last_line}".rstrip(": ")


class STRMOCAP_OT_setup_backend(bpy.types.Operator):
    """Create a separate Python environment for the backend and install it there (needs online
    access; nothing is installed into Blender's Python)"""

    bl_idname = "strmocap.setup_backend"
    bl_label = "Set Up Backend"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        if ACTIVE_SETUP.busy():
            cls.poll_message_set("A backend set-up is already running (Esc cancels it)")
            return False
        return True

    def _prepare(self, context: bpy.types.Context):  # type: ignore[no-untyped-def]
        prefs = get_preferences(context)
        backend = backend_settings(context)
        if ACTIVE_SETUP.busy():  # poll() is bypassed by scripts with a context override
            self.report({"ERROR"}, "A backend set-up is already running; wait for it or press "
                                   "Esc to cancel it")
            return None, prefs
        if not bpy.app.online_access:
            try:
                plan = setup_plan_for(backend, stage=False)
                commands = manual_setup_instructions(plan)
                target = str(plan.python)
            except (ValueError, OSError) as exc:
                commands, target = f"(cannot build the commands: {exc})", "<venv python>"
            message = (
                "Online access is disabled (Preferences > System > Network > Allow Online "
                "Access). To set up the backend by hand, run:\n"
                f"{commands}\nthen set 'Backend Python' to {target}"
            )
            if prefs is not None:
                prefs.setup_message = message
            print(f"STR Mocap: {message}")
            self.report({"ERROR"}, message)
            return None, prefs
        try:
            plan = setup_plan_for(backend, stage=True)
        except (ValueError, OSError) as exc:
            self.report({"ERROR"}, f"Cannot set up the backend: {exc}")
            return None, prefs
        job = SetupJob(plan)
        ACTIVE_SETUP.job = job
        job.start()
        if prefs is not None:
            prefs.setup_running = True
            prefs.setup_progress = 0.0
            prefs.setup_message = plan.steps[0][0]
        return job, prefs

    def _finish(self, context: bpy.types.Context, job: SetupJob, prefs) -> set[str]:  # type: ignore[no-untyped-def]
        state = job.poll()
        if prefs is not None:
            prefs.setup_running = False
            prefs.setup_progress = state.fraction
            prefs.setup_message = state.message[:2000]
        if state.status is SetupStatus.SUCCEEDED:
            if prefs is not None:
                prefs.backend_python = str(job.plan.python)  # runs the doctor check
            self.report({"INFO"}, f"Backend installed in {job.plan.venv_dir}")
            return {"FINISHED"}
        self.report({"ERROR"}, state.message or "Backend set-up failed")
        return {"CANCELLED"}

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        job, prefs = self._prepare(context)
        if job is None:
            return {"CANCELLED"}
        self._job, self._prefs = job, prefs
        wm = context.window_manager
        self.timer = wm.event_timer_add(0.5, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> set[str]:
        job: SetupJob = self._job
        if event.type == "ESC" and event.value == "PRESS":
            job.cancel()
        elif event.type != "TIMER":
            return {"PASS_THROUGH"}
        state = job.poll()
        if state.status is SetupStatus.RUNNING:
            text = setup_progress_text(state)
            if self._prefs is not None:
                self._prefs.setup_progress = state.fraction
                self._prefs.setup_message = f"{state.step_label}\n{state.detail}\n" \
                                            f"{state.last_line}"[:2000]
            _set_status_text(context, f"STR Mocap set-up {state.fraction * 100:.0f}%: {text}"[:200])
            for window in context.window_manager.windows:
                for area in window.screen.areas:
                    if area.type == "PREFERENCES":
                        area.tag_redraw()
            return {"RUNNING_MODAL"}
        _remove_timer(context, self)
        _set_status_text(context, None)
        return self._finish(context, job, self._prefs)

    def cancel(self, context: bpy.types.Context) -> None:
        job = getattr(self, "_job", None)
        if job is not None:
            state = job.cancel()
            prefs = getattr(self, "_prefs", None)
            if prefs is not None:  # never leave a 'running' bar saved in the preferences
                prefs.setup_running = False
                prefs.setup_message = state.message[:2000]
        _remove_timer(context, self)

    def execute(self, context: bpy.types.Context) -> set[str]:
        job, prefs = self._prepare(context)
        if job is None:
            return {"CANCELLED"}
        job.wait()
        return self._finish(context, job, prefs)


_CLASSES = (
    STRMOCAP_OT_capture,
    STRMOCAP_OT_cancel_capture,
    STRMOCAP_OT_import_motion,
    STRMOCAP_OT_bake_preview,
    STRMOCAP_OT_bake_smoothing,
    STRMOCAP_OT_check_backend,
    STRMOCAP_OT_setup_backend,
)


def register() -> None:
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.TOPBAR_MT_file_import.append(menu_import)


def unregister() -> None:
    ACTIVE_CAPTURES.shutdown(bpy.context)
    ACTIVE_SETUP.shutdown()
    if menu_import in bpy.types.TOPBAR_MT_file_import._dyn_ui_initialize():
        bpy.types.TOPBAR_MT_file_import.remove(menu_import)
    for cls in reversed(_CLASSES):
        if cls.is_registered:  # tolerate a partial registration
            bpy.utils.unregister_class(cls)
