"""Ask a backend interpreter what it can do: ``<python> -m inference_backend doctor --json``
(no bpy). The report's schema is docs/doctor_report.md; ``backend_contract.DOCTOR_FIELDS``
names its fields. Also finds the interpreter to use from the preferences.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .backend_contract import DOCTOR_FIELDS, DOCTOR_SCHEMA_VERSION
from .backend_setup import half_built_message, venv_python_path
from .process import BackendError, backend_env, last_meaningful, send_kill, start_process


@dataclass(frozen=True)
class DoctorReport:
    """What ``<python> -m inference_backend doctor --json`` said.

    Attributes:
        ok: exit code 0 (the default solver can run).
        python_exe: the interpreter checked.
        versions: package name -> version string (python, torch, mediapipe, ...).
        problems: human-readable problems / missing items (empty when all is well).
        device: the compute device the backend would use ("" if not reported).
        raw: the parsed JSON object ({} if the output was not JSON).
        message: a one-line summary for the UI.
    """

    ok: bool
    python_exe: Path
    versions: Mapping[str, str] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    device: str = ""
    raw: Mapping[str, object] = field(default_factory=dict)
    message: str = ""


def parse_doctor_output(python_exe: Path, exit_code: int, stdout: str, stderr: str) -> DoctorReport:
    """The doctor's ``--json`` report (docs/doctor_report.md) as a :class:`DoctorReport`.

    stdout must be exactly one JSON object with every field of ``DOCTOR_FIELDS``; anything
    else (no JSON, a missing or mistyped field, another schema version) is reported as a
    problem with the interpreter, never guessed around."""
    problems: list[str] = []
    try:
        value = json.loads(stdout)
    except (json.JSONDecodeError, ValueError):
        value = None
    raw: dict[str, object] = value if isinstance(value, dict) else {}
    if not raw:
        detail = last_meaningful(stderr.splitlines()) or stdout.strip()[-300:]
        problems.append(
            f"'{python_exe} -m inference_backend doctor --json' did not print a JSON report "
            f"(exit code {exit_code}): {detail or 'no output'}"
        )
    else:
        wrong = [name for name, kind in DOCTOR_FIELDS.items()
                 if not isinstance(raw.get(name), kind)]
        if wrong or raw.get("schema_version") != DOCTOR_SCHEMA_VERSION:
            problems.append(
                f"the backend in {python_exe} answers with another doctor report (schema "
                f"{raw.get('schema_version')!r}, expected {DOCTOR_SCHEMA_VERSION}; fields "
                f"missing or mistyped: {', '.join(wrong) or 'none'}): update the backend "
                "or the add-on so both are the same version"
            )
            raw = {}
    versions: dict[str, str] = {}
    device = ""
    if raw:
        versions["python"] = str(raw["python"])
        nested = raw["versions"]
        assert isinstance(nested, dict)
        versions.update({str(k): str(v) for k, v in nested.items() if v is not None})
        reported = raw["problems"]
        assert isinstance(reported, list)
        problems.extend(str(item) for item in reported)
        device = str(raw["device"])
    ok = exit_code == 0 and bool(raw) and bool(raw.get("default_solver_can_run"))
    if ok:
        summary = ", ".join(f"{k} {v}" for k, v in versions.items()) or "backend found"
        message = f"Backend OK: {summary}"
    else:
        message = "Backend not usable: " + ("; ".join(problems) or f"doctor exit code {exit_code}")
    return DoctorReport(
        ok=ok,
        python_exe=python_exe,
        versions=versions,
        problems=tuple(problems),
        device=device,
        raw=raw,
        message=message,
    )


def run_doctor(
    python_exe: Path | str, timeout_s: float = 120.0, extra_env: Mapping[str, str] | None = None
) -> DoctorReport:
    """Run the backend's doctor in ``python_exe`` (blocking, bounded by ``timeout_s``).

    Never raises for a bad interpreter: the problem is in the returned report.
    """
    exe = Path(python_exe)
    if not exe.is_file():
        return DoctorReport(
            ok=False,
            python_exe=exe,
            problems=(f"Interpreter not found: {exe}",),
            message=f"Backend not usable: interpreter not found: {exe}",
        )
    half_built = half_built_message(exe)
    if half_built is not None:  # say so, rather than 'inference_backend is not installed'
        return DoctorReport(ok=False, python_exe=exe, problems=(half_built,),
                            message="Backend not usable: its set-up did not finish")
    argv = [str(exe), "-m", "inference_backend", "doctor", "--json"]
    try:
        # not the caller's folder as the working folder: it could shadow the package
        proc = start_process(argv, backend_env(extra_env), cwd=tempfile.gettempdir())
    except OSError as exc:
        return DoctorReport(
            ok=False,
            python_exe=exe,
            problems=(f"Cannot run {exe}: {exc}",),
            message=f"Backend not usable: cannot run {exe}: {exc}",
        )
    try:
        stdout, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        send_kill(proc)
        proc.communicate()
        return DoctorReport(
            ok=False,
            python_exe=exe,
            problems=(f"The doctor did not answer within {timeout_s:g} s.",),
            message=f"Backend not usable: no answer within {timeout_s:g} s",
        )
    if "No module named inference_backend.__main__" in stderr:
        return DoctorReport(
            ok=False,
            python_exe=exe,
            problems=(
                f"The 'inference_backend' installed in {exe} has no command-line interface; "
                "upgrade it (pip install --upgrade \"str-mocap[backend]\") or use 'Set up "
                "backend'.",
            ),
            message="Backend not usable: the installed inference_backend is incomplete or old",
        )
    if "No module named inference_backend" in stderr:
        return DoctorReport(
            ok=False,
            python_exe=exe,
            problems=(
                f"{exe} has no 'inference_backend' package. Install it there with "
                f"'{exe} -m pip install \"str-mocap[backend]\"' or use 'Set up backend'.",
            ),
            message="Backend not usable: inference_backend is not installed in this Python",
        )
    return parse_doctor_output(exe, proc.returncode, stdout, stderr)


def find_backend_python(
    preference: str,
    managed_venv: Path | str | None = None,
    check: bool = True,
    timeout_s: float = 120.0,
) -> tuple[Path, DoctorReport | None]:
    """Resolve and validate the backend interpreter.

    Order: the user's preference (an interpreter file, or a venv folder), then the interpreter of
    the add-on's own venv ``managed_venv`` if it exists. With ``check`` the interpreter must run
    ``-m inference_backend doctor --json`` successfully.

    Returns (python path, doctor report or None when not checked).
    Raises :class:`BackendError` with an actionable message otherwise.
    """
    text = preference.strip()
    candidate: Path | None = None
    if text:
        path = Path(text).expanduser()
        if path.is_dir():
            path = venv_python_path(path)
        if not path.is_file():
            raise BackendError(
                f"Backend Python '{text}' does not exist. Choose the python executable of the "
                "environment where the STR Mocap backend is installed (e.g. <venv>/bin/python "
                "or <venv>\\Scripts\\python.exe), or clear it and press 'Set up backend'."
            )
        candidate = path
    elif managed_venv is not None and venv_python_path(managed_venv).is_file():
        candidate = venv_python_path(managed_venv)
    if candidate is None:
        raise BackendError(
            "No backend Python configured. Open Preferences > Add-ons > STR Mocap and either "
            "press 'Set up backend' or choose an existing Python with the backend installed."
        )
    if not check:
        return candidate, None
    report = run_doctor(candidate, timeout_s=timeout_s)
    if not report.ok:
        raise BackendError(report.message)
    return candidate, report


class DoctorCheck:
    """:func:`run_doctor` on a background thread, so the UI stays responsive (the real doctor
    imports torch and mediapipe: seconds). Poll :attr:`report` until it is not None."""

    def __init__(self, python_exe: Path | str, timeout_s: float = 120.0) -> None:
        self.python_exe = Path(python_exe)
        self.report: DoctorReport | None = None
        self._thread = threading.Thread(
            target=self._run, args=(timeout_s,), daemon=True, name="str-doctor"
        )
        self._thread.start()

    def _run(self, timeout_s: float) -> None:
        try:
            self.report = run_doctor(self.python_exe, timeout_s=timeout_s)
        except Exception as exc:  # never lose the thread's failure
            self.report = DoctorReport(
                ok=False, python_exe=self.python_exe, problems=(str(exc),),
                message=f"Backend check failed: {exc}",
            )

    def wait(self, timeout_s: float | None = None) -> DoctorReport | None:
        self._thread.join(timeout_s)
        return self.report
