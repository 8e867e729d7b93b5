"""'Set up backend' as subprocesses: pip's temp folders stay inside the add-on's user folder and
are removed on cancel, failure and success; a cancelled or failed set-up is reported as
half-built; install progress counts packages done/total (real pip on local wheels too)."""

from __future__ import annotations

import base64
import hashlib
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from str_blender_addon.backend_setup import (
    PipProgress,
    SetupJob,
    SetupPlan,
    SetupStatus,
    venv_python_path,
    venv_setup_state,
)
from str_blender_addon.doctor_client import run_doctor

#: A step that makes pip-like temp folders where pip would (tempfile honours TMPDIR/TEMP/TMP),
#: reports where, then behaves as asked: 'sleep' (to be cancelled), 'fail' or 'ok'.
TEMP_STEP = """
import sys, tempfile, time
d = tempfile.mkdtemp(prefix="pip-unpack-")
open(d + "/torch-2.3.whl.part", "wb").write(b"x" * 1000)
print("TEMP " + tempfile.gettempdir(), flush=True)
print("MADE " + d, flush=True)
mode = sys.argv[1]
if mode == "sleep":
    time.sleep(60)
sys.exit(1 if mode == "fail" else 0)
"""


def _plan(tmp_path: Path, *steps: tuple[str, ...]) -> SetupPlan:
    user = tmp_path / "user"
    return SetupPlan(venv_dir=user / "backend-venv",
                     steps=tuple((f"step {i}", argv) for i, argv in enumerate(steps)),
                     temp_dir=user / "setup-tmp")


def _made_temp(job: SetupJob) -> tuple[str, str]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        tail = job.poll().output_tail
        found = dict(line.split(" ", 1) for line in tail if line[:5] in ("TEMP ", "MADE "))
        if len(found) == 2:
            return found["TEMP"], found["MADE"]
        time.sleep(0.05)
    raise AssertionError(f"the step did not report its temp folder: {job.poll()}")


@pytest.mark.parametrize("mode", ["sleep", "fail", "ok"])
def test_pip_temp_folders_stay_in_the_user_folder_and_are_removed(tmp_path: Path,
                                                                  mode: str) -> None:
    plan = _plan(tmp_path, (sys.executable, "-c", TEMP_STEP, mode))
    job = SetupJob(plan)
    job.start()
    temp, made = _made_temp(job)
    assert Path(temp) == plan.temp_dir and Path(made).parent == plan.temp_dir
    assert Path(temp) != Path(tempfile.gettempdir())
    state = job.cancel(grace_s=1.0) if mode == "sleep" else job.wait(poll_interval_s=0.05)
    expected = {"sleep": SetupStatus.CANCELLED, "fail": SetupStatus.FAILED,
                "ok": SetupStatus.SUCCEEDED}[mode]
    assert state.status is expected
    assert not plan.temp_dir.exists(), list(plan.temp_dir.rglob("*"))
    assert venv_setup_state(plan.venv_dir) == ("complete" if mode == "ok" else "incomplete")


def test_half_built_venv_is_reported_as_such_then_rebuilt(tmp_path: Path) -> None:
    plan = _plan(tmp_path, (sys.executable, "-c", TEMP_STEP, "sleep"))
    job = SetupJob(plan)
    job.start()
    _made_temp(job)
    job.cancel(grace_s=1.0)
    python = venv_python_path(plan.venv_dir)
    python.parent.mkdir(parents=True)
    python.write_bytes(b"")  # the venv's interpreter exists, its packages do not
    report = run_doctor(python, timeout_s=10)
    assert not report.ok and report.message == "Backend not usable: its set-up did not finish"
    assert "did not finish" in report.problems[0] and "Set up backend" in report.problems[0]
    assert "not installed" not in report.message
    again = SetupJob(_plan(tmp_path, (sys.executable, "-c", TEMP_STEP, "ok")))
    again.start()
    assert again.wait(poll_interval_s=0.05).status is SetupStatus.SUCCEEDED
    assert venv_setup_state(plan.venv_dir) == "complete"


#: A pip stand-in: pip's own lines, then one dist-info folder per package, each only after
#: the test creates ``go<i>`` (so every intermediate state is observed deterministically).
FAKE_PIP = """
import os, sys, time
site, gate = sys.argv[1], sys.argv[2]
for name in ("torch", "mediapipe", "nvidia-cublas-cu12"):
    print(f"Collecting {name}", flush=True)
print("  Downloading torch-2.3.0-cp311-none-linux_x86_64.whl (750.1 MB)", flush=True)
print("Installing collected packages: nvidia-cublas-cu12, torch, mediapipe", flush=True)
for i, dist in enumerate(("nvidia_cublas_cu12-12.1.3.1", "torch-2.3.0", "mediapipe-0.10.21")):
    while not os.path.exists(os.path.join(gate, f"go{i}")):
        time.sleep(0.02)
    os.makedirs(os.path.join(site, dist + ".dist-info"))
while not os.path.exists(os.path.join(gate, "go3")):
    time.sleep(0.02)
print("Successfully installed mediapipe-0.10.21 nvidia-cublas-cu12-12.1.3.1 torch-2.3.0")
"""


def _poll_until(job: SetupJob, check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = job.poll()
        if check(state):
            return state
        time.sleep(0.1)
    raise AssertionError(f"state never matched: {job.poll()}")


def test_install_progress_counts_packages(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    plan = _plan(tmp_path, (sys.executable, "-c", "pass"), ("placeholder",))
    site = plan.venv_dir / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (site / "pip-24.0.dist-info").mkdir()  # already there: not one of ours
    plan = SetupPlan(plan.venv_dir, (plan.steps[0], ("Install backend", (
        sys.executable, "-c", FAKE_PIP, str(site), str(gate)))), plan.temp_dir)
    job = SetupJob(plan)
    job.start()
    state = _poll_until(job, lambda s: s.packages_total == 3)
    assert state.step_index == 1 and state.detail == "installing packages 0/3"
    assert state.fraction == pytest.approx((1 + 0.5) / 2)
    for i in range(3):
        (gate / f"go{i}").touch()
        state = _poll_until(job, lambda s, n=i + 1: s.packages_done == n)
        assert state.detail == f"installing packages {i + 1}/3"
        assert state.fraction == pytest.approx((1 + 0.5 + 0.5 * (i + 1) / 3) / 2)
    (gate / "go3").touch()
    final = job.wait(poll_interval_s=0.05)
    assert final.status is SetupStatus.SUCCEEDED and final.fraction == 1.0
    assert (final.packages_done, final.packages_total) == (3, 3)


def test_pip_progress_before_the_install_list() -> None:
    progress = PipProgress()
    for line in ("Collecting str-mocap[backend]", "Collecting torch>=2.1",
                 "  Downloading torch-2.3.0-cp311-none-linux_x86_64.whl (750.1 MB)"):
        progress.feed(line)
    assert progress.describe() == ("collected 2 package(s), 1 downloaded; now "
                                   "torch-2.3.0-cp311-none-linux_x86_64.whl")
    assert 0 < progress.fraction < 0.5


def _wheel(folder: Path, name: str, requires: str = "") -> Path:
    """A minimal pure-Python wheel pip installs offline (RECORD with real hashes)."""
    files = {f"{name}/__init__.py": b"VALUE = 1\n",
             f"{name}-1.0.dist-info/METADATA": (
                 f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"
                 + (f"Requires-Dist: {requires}\n" if requires else "")).encode(),
             f"{name}-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\n"
                                            b"Root-Is-Purelib: true\nTag: py3-none-any\n"}
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{name}-1.0.dist-info/RECORD,,")
    files[f"{name}-1.0.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = folder / f"{name}-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, data in files.items():
            z.writestr(path, data)
    return wheel


@pytest.mark.skipif(os.name == "nt", reason="POSIX venv layout in the assertions")
def test_real_venv_and_pip_install_report_packages(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    _wheel(wheels, "strtestdep")
    _wheel(wheels, "strtestapp", requires="strtestdep")
    user = tmp_path / "user"
    venv = user / "backend-venv"
    python = str(venv_python_path(venv))
    # the venv without ensurepip (seconds saved) and this interpreter's pip installing into it
    # (``pip --python``, pip >= 22.3): the same pip output and site-packages as the real plan
    plan = SetupPlan(venv, (
        ("Create virtual environment", (sys.executable, "-m", "venv", "--without-pip",
                                        str(venv))),
        ("Install backend", (sys.executable, "-m", "pip", "--python", python, "install",
                             "--no-index", "--find-links", str(wheels), "--progress-bar", "off",
                             "--disable-pip-version-check", "strtestapp")),
    ), user / "setup-tmp")
    job = SetupJob(plan, step_timeout_s=240)
    job.start()
    state = job.wait(poll_interval_s=0.1)
    assert state.status is SetupStatus.SUCCEEDED, state.message
    assert (state.packages_done, state.packages_total) == (2, 2)
    assert state.detail == "installing packages 2/2"
    assert venv_setup_state(venv) == "complete" and not plan.temp_dir.exists()


def test_one_setup_per_venv_across_processes(tmp_path: Path) -> None:
    """A second set-up of the same venv (another Blender) is refused while the first runs and
    leaves the first one's temp folder alone; a lock whose process is gone is taken over."""
    first = SetupJob(_plan(tmp_path, (sys.executable, "-c", TEMP_STEP, "sleep")))
    first.start()
    _, made = _made_temp(first)
    second = SetupJob(_plan(tmp_path, (sys.executable, "-c", TEMP_STEP, "ok")))
    second.start()
    refused = second.poll()
    assert refused.status is SetupStatus.FAILED
    assert f"process {os.getpid()}" in refused.message and "setting up the backend" in refused.message
    assert Path(made).is_dir() and first.poll().status is SetupStatus.RUNNING
    first.cancel(grace_s=1.0)
    third = SetupJob(_plan(tmp_path, (sys.executable, "-c", TEMP_STEP, "ok")))
    third.start()
    assert third.wait(poll_interval_s=0.05).status is SetupStatus.SUCCEEDED

    import subprocess

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    lock = first.plan.venv_dir.with_name("backend-venv.setup-lock")
    lock.write_text(f"{int(gone.stdout)} {time.time()}\n")  # a crashed Blender's lock
    fourth = SetupJob(_plan(tmp_path, (sys.executable, "-c", TEMP_STEP, "ok")))
    fourth.start()
    if os.name != "nt":  # POSIX can tell the process is gone; Windows waits for the age limit
        assert fourth.wait(poll_interval_s=0.05).status is SetupStatus.SUCCEEDED
        assert not lock.exists()
