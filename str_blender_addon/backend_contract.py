"""The add-on's one definition of the names the backend process uses on the way back (no bpy).

Two processes, two trees, no shared imports: these mirror ``inference_backend.progress``
(events, stages) and ``inference_backend.doctor`` (the report), as written down in
docs/progress_events.md and docs/doctor_report.md. tests/contract/test_process_contract.py
feeds the backend's real output to the add-on's readers and checks both sides agree.
"""

from __future__ import annotations

from collections.abc import Mapping

# ------------------------------------------------------------------ JSON-lines events (stdout)
EVENT_PROGRESS = "progress"
EVENT_WARNING = "warning"
EVENT_RESULT = "result"
EVENT_ERROR = "error"
#: Fields each event carries besides ``event``.
EVENT_FIELDS: Mapping[str, tuple[str, ...]] = {
    EVENT_PROGRESS: ("stage", "done", "total", "fps", "eta"),
    EVENT_WARNING: ("message",),
    EVENT_RESULT: ("output", "persons", "frames", "warnings"),
    EVENT_ERROR: ("code", "message"),
}

#: Stage names in run order, and each one's share of the overall progress bar. A capture with
#: the default solver runs decode+detect, track, solve, camera (unless --camera static), scene,
#: write; with the STR solver str-temporal instead of most of solve.
STAGE_WEIGHTS: Mapping[str, float] = {
    "decode+detect": 0.60,
    "track": 0.03,
    "solve": 0.25,
    "str-temporal": 0.25,
    "camera": 0.01,
    "scene": 0.02,
    "write": 0.05,
}
STAGES: tuple[str, ...] = tuple(STAGE_WEIGHTS)

#: ``capture --camera`` choices (the backend's config.CAMERA_MODES; docs/motion_file.md).
CAMERA_MODES: tuple[str, ...] = ("auto", "static", "moving")
#: ``capture --tta`` choices (the backend's config.TTA_MODES): the detector's test-time
#: augmentation, "none" or "mirror" (a second landmark pass on the mirrored frame).
TTA_MODES: tuple[str, ...] = ("none", "mirror")

# ------------------------------------------ batch events (``batch --progress jsonl``, stdout)
BATCH_START = "batch_start"
BATCH_PROGRESS = "batch_progress"
BATCH_VIDEO = "video"
BATCH_RESULT = "batch_result"
#: Fields each batch event carries besides ``event`` (``video`` carries a manifest record).
BATCH_EVENT_FIELDS: Mapping[str, tuple[str, ...]] = {
    BATCH_START: ("total", "to_run", "skipped", "workers", "nodes", "manifest"),
    BATCH_PROGRESS: ("total", "done", "failed", "skipped", "running", "remaining", "frames",
                     "fps", "eta"),
    BATCH_VIDEO: ("input", "relative", "output", "size", "sha256", "options", "status",
                  "exit_code", "message", "frames", "people", "seconds", "worker_host",
                  "worker_node", "attempts", "output_sha256", "warnings", "run_id",
                  "finished_at"),
    BATCH_RESULT: ("total", "done", "failed", "skipped", "cancelled", "frames", "seconds",
                   "manifest", "exit_code"),
    EVENT_WARNING: ("message",),
    EVENT_ERROR: ("code", "message"),
}

# ---------------------------------------------------------------------------------- exit codes
EXIT_OK = 0
EXIT_SOME_FAILED = 10     # batch: at least one video failed (the others are done)
EXIT_CANCELLED = 130

# ------------------------------------------------------------------------ doctor --json report
DOCTOR_SCHEMA_VERSION = 1
#: Top-level fields of the report and their JSON types (docs/doctor_report.md).
DOCTOR_FIELDS: Mapping[str, type | tuple[type, ...]] = {
    "schema_version": int,
    "python": str,
    "platform": str,
    "executable": str,
    "versions": dict,
    "problems": list,
    "cuda": dict,
    "device": str,
    "mediapipe_models": dict,
    "default_solver": str,
    "smpl": dict,
    "str_checkpoint": dict,
    "default_solver_can_run": bool,
}
