"""Backend environment set-up: venv layout, install commands and a step runner (no bpy).

The add-on never installs anything into Blender's own Python. Instead it can create a separate
virtual environment (under the extension's user folder) and ``pip install`` the backend into it.
This module only builds the commands and runs them as subprocesses; the preferences UI polls
:class:`SetupJob` from a modal operator.
"""

from __future__ import annotations

import collections
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from .process import backend_env, start_process, stop_process

#: The PyPI distribution of this project with the backend extra.
PYPI_BACKEND_REQUIREMENT = "str-mocap[backend]"
#: Name of the backend package; a folder holding it marks a source checkout of this project.
BACKEND_PACKAGE = "inference_backend"


def venv_python_path(venv_dir: Path | str, os_name: str | None = None) -> Path:
    """Path of the interpreter inside a venv (``Scripts/python.exe`` on Windows, ``bin/python``).

    ``os_name`` defaults to :data:`os.name` (``"nt"`` or ``"posix"``); pass it to ask about the
    other platform.
    """
    venv = Path(venv_dir)
    if (os_name or os.name) == "nt":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def find_project_source(addon_dir: Path | str) -> Path | None:
    """The source checkout that contains the backend, if it sits next to the add-on package.

    ``addon_dir`` is the folder of the ``str_blender_addon`` package. The project root is its
    parent when that parent holds ``inference_backend/`` and a ``pyproject.toml`` (an installable
    source tree). Returns None otherwise (e.g. an extension zip without the backend).
    """
    root = Path(addon_dir).resolve().parent
    if (root / BACKEND_PACKAGE / "__init__.py").is_file() and (root / "pyproject.toml").is_file():
        return root
    return None


#: What a source install needs from a checkout (pip builds in-tree, so never from the add-on
#: folder itself: the tree is copied to a staging folder first).
SOURCE_TREE_ENTRIES = ("pyproject.toml", "README.md", "LICENSE", BACKEND_PACKAGE,
                       "str_blender_addon")


def stage_source_tree(source_dir: Path | str, staging_dir: Path | str) -> Path:
    """Copy the installable parts of a project checkout to ``staging_dir`` and return it.

    pip/setuptools write ``build/`` and ``*.egg-info`` into the tree they install from; staging
    keeps the installed extension folder untouched. An existing staging folder is replaced.
    Caches (``__pycache__``, ``*.pyc``) are left out.
    """
    import shutil

    src = Path(source_dir)
    dest = Path(staging_dir)
    if not (src / "pyproject.toml").is_file():
        raise ValueError(f"{src} is not a project checkout (no pyproject.toml)")
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
    for name in SOURCE_TREE_ENTRIES:
        item = src / name
        if item.is_dir():
            shutil.copytree(item, dest / name, ignore=ignore)
        elif item.is_file():
            shutil.copy2(item, dest / name)
    return dest


def install_requirement(source: str) -> str:
    """The pip requirement string for an install source.

    ``source`` is either a local folder (a checkout of this project, with pyproject.toml), a
    local wheel/sdist file, or a requirement string for an index (``"str-mocap[backend]"``,
    optionally with a version). An empty source means the PyPI requirement.
    Local folders and files get the ``[backend]`` extra appended.
    """
    text = source.strip()
    if not text:
        return PYPI_BACKEND_REQUIREMENT
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "pyproject.toml").is_file():
            raise ValueError(
                f"Backend source folder {path} has no pyproject.toml; point it at a checkout of "
                "the STR Mocap project or leave it empty to install from PyPI."
            )
        return f"{path.resolve()}[backend]"
    if path.suffix in (".whl", ".gz", ".zip") and path.is_file():
        return f"{path.resolve()}[backend]"
    if path.suffix in (".whl", ".gz", ".zip") or os.sep in text or (os.altsep and os.altsep in text):
        raise ValueError(f"Backend source {text!r} does not exist.")
    return text


@dataclass(frozen=True)
class SetupPlan:
    """The commands that create the backend venv and install the backend into it.

    Attributes:
        venv_dir: folder of the new virtual environment.
        steps: (label, argv) pairs, run in order; each must exit 0.
        temp_dir: the steps' temp folder (inside the add-on's user folder, so pip's ``pip-*``
            build folders never land in the system temp folder); emptied when the job ends.
    """

    venv_dir: Path
    steps: tuple[tuple[str, tuple[str, ...]], ...]
    temp_dir: Path | None = None    # TMPDIR/TEMP/TMP of the steps (pip's pip-* folders)

    @property
    def python(self) -> Path:
        """The interpreter the venv will have (what the preferences should point to)."""
        return venv_python_path(self.venv_dir)


def build_setup_plan(
    base_python: Path | str,
    venv_dir: Path | str,
    source: str,
    os_name: str | None = None,
    upgrade_pip: bool = True,
    temp_dir: Path | str | None = None,
) -> SetupPlan:
    """Build the venv-creation and pip-install commands.

    Args:
        base_python: an interpreter of a Python version the backend supports (3.11); it is only
            used to run ``-m venv`` - nothing is installed into it.
        venv_dir: target folder (created by ``venv``; an existing venv is reused/upgraded).
        source: install source, see :func:`install_requirement`.
        os_name: ``"nt"``/``"posix"`` to build for another platform (tests).
        upgrade_pip: also upgrade pip inside the new venv first (old pips resolve badly).
        temp_dir: temp folder for the steps (see :class:`SetupPlan`).
    """
    venv = Path(venv_dir)
    venv_python = str(venv_python_path(venv, os_name))
    requirement = install_requirement(source)
    steps: list[tuple[str, tuple[str, ...]]] = [
        ("Create virtual environment", (str(base_python), "-m", "venv", str(venv))),
    ]
    if upgrade_pip:
        steps.append(
            ("Upgrade pip", (venv_python, "-m", "pip", "install", "--upgrade", "pip"))
        )
    steps.append(
        (
            "Install backend (PyTorch, MediaPipe; several minutes)",
            (venv_python, "-m", "pip", "install", "--progress-bar", "off", requirement),
        )
    )
    return SetupPlan(venv_dir=venv, steps=tuple(steps),
                     temp_dir=Path(temp_dir) if temp_dir is not None else None)


def manual_setup_instructions(plan: SetupPlan) -> str:
    """Shell commands a user can run by hand (shown when online access is disabled)."""
    lines = [" ".join(_quote(a) for a in argv) for _label, argv in plan.steps]
    return "\n".join(lines)


def _quote(arg: str) -> str:
    return f'"{arg}"' if (" " in arg or "[" in arg) else arg


#: Written into the venv folder: ``incomplete`` while a set-up runs (and after one that was
#: cancelled or failed), ``complete`` once every step succeeded.
SETUP_MARKER = ".str_mocap_setup"


def write_setup_marker(venv_dir: Path | str, state: str) -> None:
    venv = Path(venv_dir)
    venv.mkdir(parents=True, exist_ok=True)
    (venv / SETUP_MARKER).write_text(state + "\n", encoding="utf-8")


def venv_setup_state(venv_dir: Path | str) -> str:
    """'complete', 'incomplete' (a set-up was cancelled, failed or is running) or 'unknown'
    (no marker: a venv made by hand or by an older add-on)."""
    try:
        text = (Path(venv_dir) / SETUP_MARKER).read_text(encoding="utf-8").strip()
    except OSError:
        return "unknown"
    return text if text in ("complete", "incomplete") else "unknown"


def half_built_message(python_exe: Path | str) -> str | None:
    """A message when ``python_exe`` belongs to a venv whose set-up did not finish."""
    exe = Path(python_exe)
    venv = exe.parent.parent  # <venv>/bin/python or <venv>\Scripts\python.exe
    if venv_setup_state(venv) != "incomplete":
        return None
    return (f"The backend set-up in {venv} did not finish (it was cancelled or failed), so that "
            "environment is half-built. Press 'Set up backend' again to rebuild it.")


def site_packages_dirs(venv_dir: Path | str) -> list[Path]:
    """The venv's site-packages folders (``Lib/site-packages`` on Windows,
    ``lib/pythonX.Y/site-packages`` elsewhere) that exist."""
    venv = Path(venv_dir)
    found = [venv / "Lib" / "site-packages"] + sorted(venv.glob("lib/python*/site-packages"))
    return [d for d in found if d.is_dir()]


def _project_key(name: str) -> str:
    """pip/PEP 503 project name normalised the way dist-info folder names are."""
    return "".join("_" if c in "-_." else c for c in name.strip().lower())


class PipProgress:
    """Packages collected, downloaded and installed, from pip's output and the venv.

    pip (``--progress-bar off``) prints ``Collecting NAME`` while resolving, ``Downloading
    FILE (SIZE)`` per download and ``Installing collected packages: a, b, c`` before it installs
    them one by one (silently); each installed package then appears as a fresh
    ``NAME-VERSION.dist-info`` folder in site-packages, which is what :meth:`count_installed`
    counts. The step's fraction is 0..0.5 for collecting/downloading and 0.5..1 for installing.
    """

    def __init__(self) -> None:
        self.collected: list[str] = []
        self.downloaded = 0
        self.current = ""
        self.to_install: tuple[str, ...] = ()
        self.installed = 0
        self.finished = False

    def feed(self, line: str) -> None:
        text = line.strip()
        if text.startswith("Collecting "):
            name = text.split()[1]
            self.collected.append(name)
            self.current = name
        elif text.startswith("Downloading "):
            self.downloaded += 1
            self.current = text.split()[1].rsplit("/", 1)[-1]
        elif text.startswith("Installing collected packages:"):
            names = text.split(":", 1)[1]
            self.to_install = tuple(n.strip() for n in names.split(",") if n.strip())
        elif text.startswith("Successfully installed"):
            self.finished = True
            self.installed = len(self.to_install)

    def count_installed(self, venv_dir: Path | str, since: float) -> int:
        """How many of ``to_install`` have a dist-info folder written after ``since``."""
        if not self.to_install or self.finished:
            return self.installed
        wanted = {_project_key(n) for n in self.to_install}
        done = 0
        for folder in site_packages_dirs(venv_dir):
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                if not entry.name.endswith(".dist-info"):
                    continue
                key = _project_key(entry.name[: -len(".dist-info")].rsplit("-", 1)[0])
                try:
                    fresh = entry.stat().st_mtime >= since - 1.0
                except OSError:
                    continue
                if key in wanted and fresh:
                    done += 1
        self.installed = min(done, len(self.to_install))
        return self.installed

    @property
    def fraction(self) -> float:
        """Progress within the pip step, 0..1."""
        if self.finished:
            return 1.0
        if self.to_install:
            return 0.5 + 0.5 * self.installed / len(self.to_install)
        if self.collected:
            return 0.5 * min(self.downloaded, len(self.collected)) / (len(self.collected) + 1)
        return 0.0

    def describe(self) -> str:
        """e.g. 'installing packages 12/33' or 'collected 7 packages, downloading torch-...'."""
        if self.to_install:
            return f"installing packages {self.installed}/{len(self.to_install)}"
        if self.collected:
            what = f"collected {len(self.collected)} package(s), {self.downloaded} downloaded"
            return f"{what}; now {self.current}" if self.current else what
        return ""


#: A set-up lock older than this is stale even if its process cannot be checked (Windows).
_LOCK_MAX_AGE_S = 6 * 3600.0


def _lock_path(venv_dir: Path | str) -> Path:
    venv = Path(venv_dir)
    return venv.with_name(venv.name + ".setup-lock")


def _process_alive(pid: int) -> bool | None:
    """True/False on POSIX; None where it cannot be checked safely (on Windows ``os.kill``
    would terminate the process)."""
    if os.name == "nt":
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def acquire_setup_lock(venv_dir: Path | str) -> str | None:
    """Take the lock file beside ``venv_dir``; returns None, or why another set-up holds it.

    A lock whose process is gone (POSIX) or older than six hours is stale and taken over.
    """
    path = _lock_path(venv_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _attempt in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid_text, started_text = path.read_text(encoding="utf-8").split()[:2]
                pid, started = int(pid_text), float(started_text)
            except (OSError, ValueError):
                pid, started = -1, 0.0
            stale = _process_alive(pid) is False or time.time() - started > _LOCK_MAX_AGE_S
            if not stale:
                return (f"Another Blender (process {pid}) is setting up the backend in "
                        f"{Path(venv_dir)} since {time.strftime('%H:%M', time.localtime(started))}"
                        f"; wait for it to finish (or delete {path} if that Blender is gone).")
            path.unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()} {time.time():.3f}\n")
        return None
    return f"Cannot take the set-up lock {path}; try again."


def release_setup_lock(venv_dir: Path | str) -> None:
    try:
        _lock_path(venv_dir).unlink()
    except OSError:
        pass


class SetupStatus(Enum):
    """Where a :class:`SetupJob` stands."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


@dataclass(frozen=True)
class SetupState:
    """A snapshot of a set-up run.

    ``fraction`` is (steps finished + progress within the running pip step) / steps (0..1);
    ``detail`` says what pip is doing with packages done/total; ``last_line`` is the latest
    output line of the running step.
    """

    status: SetupStatus
    step_index: int
    step_count: int
    step_label: str
    fraction: float
    last_line: str = ""
    message: str = ""
    output_tail: tuple[str, ...] = field(default_factory=tuple)
    detail: str = ""                # what the pip step is doing ('installing packages 12/33')
    packages_done: int = 0
    packages_total: int = 0


class SetupJob:
    """Run the :class:`SetupPlan` steps one after another as subprocesses; poll without blocking.

    Output (stdout and stderr merged) is read by a thread; the last ``tail_lines`` are kept for
    error messages, and pip's lines feed a :class:`PipProgress`. The venv folder carries a
    marker (``incomplete`` until every step succeeded, see :func:`venv_setup_state`), and the
    plan's temp folder is emptied whenever the job ends: succeeded, failed or cancelled.
    """

    def __init__(
        self,
        plan: SetupPlan,
        env: dict[str, str] | None = None,
        tail_lines: int = 40,
        step_timeout_s: float | None = 3600.0,
    ) -> None:
        self.plan = plan
        # never leak Blender's PYTHONHOME into the venv's interpreter
        self._env = backend_env() if env is None else dict(env)
        if plan.temp_dir is not None:
            for name in ("TMPDIR", "TEMP", "TMP"):  # POSIX and Windows spellings
                self._env[name] = str(plan.temp_dir)
        self._tail: collections.deque[str] = collections.deque(maxlen=tail_lines)
        self._lock = threading.Lock()
        self._step = -1
        self._proc: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._step_started = 0.0        # time.monotonic() (timeout)
        self._step_started_wall = 0.0   # time.time() (compared with file mtimes)
        self._step_timeout_s = step_timeout_s
        self._final: SetupState | None = None
        self._pip = PipProgress()
        self._last_count = 0.0
        self._owns_lock = False

    def start(self) -> None:
        """Take the venv's set-up lock (one set-up per venv, across Blender instances), prepare
        the temp folder and the venv marker, then start the first step."""
        if self._step >= 0:
            raise RuntimeError("SetupJob already started")
        self._step = 0
        try:
            busy = acquire_setup_lock(self.plan.venv_dir)
        except OSError as exc:
            busy = f"Cannot create the set-up lock next to {self.plan.venv_dir}: {exc}"
        if busy is not None:
            self._final = self._state(SetupStatus.FAILED, message=busy)  # not ours to clean
            return
        self._owns_lock = True
        try:
            self._clean_temp()
            if self.plan.temp_dir is not None:
                self.plan.temp_dir.mkdir(parents=True, exist_ok=True)
            write_setup_marker(self.plan.venv_dir, "incomplete")
        except OSError as exc:
            self._step = 0
            self._end(SetupStatus.FAILED, f"Cannot prepare {self.plan.venv_dir}: {exc}")
            return
        self._start_step(0)

    def _clean_temp(self) -> None:
        import shutil

        if self.plan.temp_dir is not None and self.plan.temp_dir.exists():
            shutil.rmtree(self.plan.temp_dir, ignore_errors=True)

    def _end(self, status: SetupStatus, message: str) -> SetupState:
        """Record the final state: temp folder removed; marker 'complete' only on success."""
        if status is SetupStatus.SUCCEEDED:
            try:
                write_setup_marker(self.plan.venv_dir, "complete")
            except OSError as exc:
                status, message = SetupStatus.FAILED, f"Cannot mark the set-up complete: {exc}"
        self._clean_temp()
        if self._owns_lock:
            release_setup_lock(self.plan.venv_dir)
            self._owns_lock = False
        self._final = self._state(status, message=message)
        return self._final

    def _start_step(self, index: int) -> None:
        self._step = index
        _label, argv = self.plan.steps[index]
        with self._lock:
            self._pip = PipProgress()
        try:
            self._proc = start_process(argv, self._env, merge_stderr=True)
        except OSError as exc:
            self._proc = None
            self._end(SetupStatus.FAILED, f"Could not run {argv[0]}: {exc}")
            return
        self._step_started = time.monotonic()
        self._step_started_wall = time.time()
        self._reader = threading.Thread(
            target=self._read_output, args=(self._proc,), daemon=True, name="str-setup-reader"
        )
        self._reader.start()

    def _read_output(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            text = line.rstrip()
            if text:
                with self._lock:
                    self._tail.append(text)
                    self._pip.feed(text)

    def _state(self, status: SetupStatus, message: str = "") -> SetupState:
        count = len(self.plan.steps)
        index = max(self._step, 0)
        with self._lock:
            tail = tuple(self._tail)
            within = self._pip.fraction if status is SetupStatus.RUNNING else 0.0
            detail = self._pip.describe()
            done_pkgs, total_pkgs = self._pip.installed, len(self._pip.to_install)
        done = count if status is SetupStatus.SUCCEEDED else index + within
        return SetupState(
            status=status,
            step_index=index,
            step_count=count,
            step_label=self.plan.steps[min(index, count - 1)][0],
            fraction=done / count,
            last_line=tail[-1] if tail else "",
            message=message,
            output_tail=tail,
            detail=detail,
            packages_done=done_pkgs,
            packages_total=total_pkgs,
        )

    def _count_installed(self) -> None:
        now = time.monotonic()
        if now - self._last_count < 0.5:
            return
        self._last_count = now
        with self._lock:
            pip = self._pip
        pip.count_installed(self.plan.venv_dir, self._step_started_wall)

    def poll(self) -> SetupState:
        """Advance (start the next step when one finishes) and return the current state."""
        if self._final is not None:
            return self._final
        if self._proc is None:
            raise RuntimeError("SetupJob not started")
        code = self._proc.poll()
        if code is None:
            if (
                self._step_timeout_s is not None
                and time.monotonic() - self._step_started > self._step_timeout_s
            ):
                stop_process(self._proc, grace_s=2.0)
                return self._end(
                    SetupStatus.FAILED, f"Step '{self.plan.steps[self._step][0]}' timed out."
                )
            self._count_installed()
            return self._state(SetupStatus.RUNNING)
        if self._reader is not None:
            self._reader.join(timeout=5.0)
        if code != 0:
            label, argv = self.plan.steps[self._step]
            with self._lock:
                tail = list(self._tail)[-8:]
            detail = "\n".join(tail)
            return self._end(
                SetupStatus.FAILED,
                f"Step '{label}' failed (exit code {code}): {' '.join(argv)}\n{detail}",
            )
        if self._step + 1 < len(self.plan.steps):
            self._start_step(self._step + 1)
            return self._final or self._state(SetupStatus.RUNNING)
        return self._end(SetupStatus.SUCCEEDED, "Backend environment ready.")

    def cancel(self, grace_s: float = 3.0) -> SetupState:
        """Stop the running step (terminate, then kill after ``grace_s``); the temp folder is
        removed and the venv stays marked incomplete (a later set-up rebuilds it)."""
        if self._final is None:
            if self._proc is not None:
                stop_process(self._proc, grace_s=grace_s)
            if self._reader is not None:
                self._reader.join(timeout=2.0)
            self._end(SetupStatus.CANCELLED,
                      "Set-up cancelled; the half-built environment will be rebuilt by the next "
                      "'Set up backend'.")
        assert self._final is not None
        return self._final

    @property
    def running(self) -> bool:
        """True until the job has reached a final state (it may still need polling)."""
        return self._step >= 0 and self._final is None

    def wait(self, poll_interval_s: float = 0.2) -> SetupState:
        """Block until every step has run (used by ``execute()`` in background mode)."""
        state = self.poll()
        while state.status is SetupStatus.RUNNING:
            time.sleep(poll_interval_s)
            state = self.poll()
        return state
