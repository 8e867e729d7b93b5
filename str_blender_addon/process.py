"""Running backend processes from the add-on (no bpy): the environment they get, their own
process group, and stopping them politely then for good, on Windows, macOS and Linux.

Used by every job that spawns the backend or pip (capture_job, doctor_client, backend_setup).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence


class BackendError(RuntimeError):
    """The backend interpreter is missing, does not run, or reports a problem."""


def process_group_options() -> tuple[int, bool]:
    """(creationflags, start_new_session) for Popen: the child gets its own process group
    (Windows) or session (POSIX), so stopping it reaches its children and Blender's Ctrl-C
    does not reach it."""
    if sys.platform == "win32":
        return subprocess.CREATE_NEW_PROCESS_GROUP, False  # type: ignore[attr-defined]
    return 0, True


def backend_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for a backend process: ours minus Blender's Python settings, unbuffered."""
    env = dict(os.environ)
    for key in ("PYTHONHOME", "PYTHONSTARTUP"):
        env.pop(key, None)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    if extra:
        env.update(extra)
    return env


def start_process(argv: Sequence[str], env: Mapping[str, str], cwd: str | os.PathLike[str] | None = None,
                  merge_stderr: bool = False) -> subprocess.Popen[str]:
    """Start a child in its own process group/session (:func:`process_group_options`) with no
    stdin and UTF-8 text pipes for stdout and stderr (stderr into stdout with
    ``merge_stderr``). Raises OSError when it cannot be started."""
    flags, new_session = process_group_options()
    return subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        cwd=None if cwd is None else str(cwd),
        env=dict(env),
        creationflags=flags,
        start_new_session=new_session,
    )


def send_stop(proc: subprocess.Popen[str]) -> None:
    """Ask a child started with :func:`process_group_options` to stop (SIGTERM to its process
    group on POSIX, CTRL_BREAK on Windows). No-op if it has exited."""
    if proc.poll() is not None:
        return
    try:
        if sys.platform == "win32":
            proc.send_signal(signal.CTRL_BREAK_EVENT)  # type: ignore[attr-defined]
        else:
            os.killpg(proc.pid, signal.SIGTERM)
    except (OSError, ValueError):
        try:
            proc.terminate()
        except OSError:
            pass


def send_kill(proc: subprocess.Popen[str]) -> None:
    """Kill a child and (on POSIX) its whole process group. No-op if it has exited."""
    if proc.poll() is not None:
        return
    try:
        if sys.platform == "win32":
            proc.terminate()  # TerminateProcess: immediate
        else:
            os.killpg(proc.pid, signal.SIGKILL)
    except (OSError, ValueError):
        try:
            proc.kill()
        except OSError:
            pass


def stop_process(proc: subprocess.Popen[str], grace_s: float) -> None:
    """Blocking stop: polite signal, wait ``grace_s``, then kill and reap."""
    send_stop(proc)
    try:
        proc.wait(timeout=grace_s)
        return
    except subprocess.TimeoutExpired:
        pass
    send_kill(proc)
    try:
        proc.wait(timeout=5.0)
    except subprocess.TimeoutExpired:
        pass


def last_meaningful(lines: Sequence[str]) -> str:
    """The most informative stderr line: the last exception line if any, else the last line."""
    for line in reversed(lines):
        stripped = line.strip()
        if stripped and not stripped.startswith(("File ", "^", "~")) and ":" in stripped:
            if "Error" in stripped or "Exception" in stripped:
                return stripped
    return lines[-1].strip() if lines else ""
