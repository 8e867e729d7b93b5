"""CaptureJob / doctor / set-up runner against REAL subprocesses.

A fake ``inference_backend`` package (stdlib only, written here) is put first on PYTHONPATH of
the child, so ``<python> -m inference_backend capture ...`` - the exact command line the add-on
builds - runs it. Its behaviour is chosen by the FAKE_SCENARIO environment variable.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
from pathlib import Path

import pytest
from fake_doctor import fake_doctor_report

from str_blender_addon.backend_contract import STAGE_WEIGHTS
from str_blender_addon.backend_setup import (
    SetupJob,
    SetupPlan,
    SetupStatus,
    build_setup_plan,
    find_project_source,
    install_requirement,
    manual_setup_instructions,
    stage_source_tree,
    venv_python_path,
)
from str_blender_addon.capture_job import (
    CaptureJob,
    CaptureRequest,
    JobConfig,
    JobStatus,
    build_capture_argv,
    validate_request,
)
from str_blender_addon.doctor_client import find_backend_python, parse_doctor_output, run_doctor

_REPORTS = {
    "ok": fake_doctor_report(),
    "doctor_bad": fake_doctor_report(
        ("mediapipe: pip install mediapipe==0.10.21",), versions={"torch": "2.13.0",
                                                                  "mediapipe": None}),
    "doctor_future": fake_doctor_report(schema_version=2),
}
FAKE_MAIN = textwrap.dedent(
    r'''
    import json, os, signal, subprocess, sys, time

    REPORTS = REPORTS_JSON

    STOP_SIGNALS = [getattr(signal, n) for n in ("SIGTERM", "SIGBREAK") if hasattr(signal, n)]

    def emit(**event):
        sys.stdout.write(json.dumps(event) + "\n")
        sys.stdout.flush()

    def main():
        args = sys.argv[1:]
        scenario = os.environ.get("FAKE_SCENARIO", "success")
        if args[:1] == ["doctor"]:
            # the layout of docs/doctor_report.md (schema 1), from tests/fake_doctor.py
            bad = scenario == "doctor_bad"
            report = json.loads(REPORTS[scenario if scenario.startswith("doctor") else "ok"])
            print(json.dumps(report, indent=2))
            return 8 if bad else 0
        assert args[0] == "capture", args
        log = os.environ.get("FAKE_ARGV_LOG")
        if log:
            with open(log, "w") as f:
                json.dump({"argv": args, "cwd": os.getcwd()}, f)
        out = args[args.index("-o") + 1]
        tmp = out + ".partial"
        if scenario == "success":
            for stage, total in (("decode+detect", 4), ("track", 1), ("solve", 2), ("write", 1)):
                for done in range(1, total + 1):
                    emit(event="progress", stage=stage, done=done, total=total, fps=10.0,
                         eta=(total - done) / 10.0)
            with open(tmp, "wb") as f:
                f.write(b"motion")
            os.replace(tmp, out)
            print("log line on stderr", file=sys.stderr)
            emit(event="result", output=out, persons=2, frames=4, warnings=["frame 3 skipped"])
            return 0
        if scenario == "error":
            emit(event="progress", stage="decode+detect", done=1, total=4, fps=5.0, eta=0.6)
            print("ERROR no person", file=sys.stderr)
            emit(event="error", code=6, message="No person was found in the video.")
            return 6
        if scenario == "crash":
            print("this is not json {")
            print("Traceback (most recent call last):", file=sys.stderr)
            print('  File "x.py", line 1, in <module>', file=sys.stderr)
            print("ZeroDivisionError: division by zero", file=sys.stderr)
            return 1
        if scenario == "no_result":
            emit(event="progress", stage="track", done=1, total=1)
            return 0
        if scenario == "killed":
            emit(event="progress", stage="decode+detect", done=1, total=4)
            os.kill(os.getpid(), signal.SIGKILL)
        if scenario in ("slow", "stubborn"):
            if scenario == "stubborn":
                for sig in STOP_SIGNALS:
                    signal.signal(sig, signal.SIG_IGN)
                child = subprocess.Popen([sys.executable, "-c",
                                          "import time, signal\n"
                                          "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                                          "time.sleep(60)"])
                with open(out + ".child_pid", "w") as f:
                    f.write(str(child.pid))
            else:
                def on_term(signum, frame):
                    if os.path.exists(tmp):
                        os.remove(tmp)
                    emit(event="error", code=130, message="cancelled")
                    sys.exit(130)
                for sig in STOP_SIGNALS:
                    signal.signal(sig, on_term)
            with open(tmp, "wb") as f:
                f.write(b"half")
            for i in range(600):
                emit(event="progress", stage="decode+detect", done=i, total=600, fps=10.0)
                time.sleep(0.1)
            return 0
        raise SystemExit("unknown scenario " + scenario)

    sys.exit(main())
    '''
)
FAKE_MAIN = FAKE_MAIN.replace(
    "REPORTS_JSON", repr({name: json.dumps(report) for name, report in _REPORTS.items()}))


@pytest.fixture(scope="module")
def fake_backend_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fake_backend")
    package = root / "inference_backend"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(FAKE_MAIN)
    return root


@pytest.fixture()
def video(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"not decoded by the fake backend")
    return path


def make_job(
    fake_root: Path, video: Path, jobs: Path, scenario: str, **config: object
) -> CaptureJob:
    env = {"PYTHONPATH": str(fake_root), "FAKE_SCENARIO": scenario}
    env.update(config.pop("env", {}))  # type: ignore[arg-type]
    request = CaptureRequest(video=video, max_people=2, smoothing="light", start_s=0.5, end_s=3.0)
    return CaptureJob(sys.executable, request, jobs, JobConfig(extra_env=env, **config))  # type: ignore[arg-type]


def run_to_end(job: CaptureJob, limit_s: float = 20.0) -> tuple[list, object]:
    states = [job.start()]
    deadline = time.monotonic() + limit_s
    while not states[-1].status.finished:
        assert time.monotonic() < deadline, "job did not finish"
        time.sleep(0.02)
        states.append(job.poll())
    return states, states[-1]


def test_argv_is_the_documented_command_line(tmp_path: Path, video: Path) -> None:
    request = CaptureRequest(
        video=video, solver="str", max_people=3, smoothing="strong", start_s=1.0, end_s=2.5,
        device="cpu", str_checkpoint="/ck.pt", smpl_dir="/smpl",
    )
    argv = build_capture_argv("/py", request, tmp_path / "o.npz")
    assert argv[:7] == ["/py", "-m", "inference_backend", "capture", str(video), "-o",
                        str(tmp_path / "o.npz")]
    pairs = dict(zip(argv[7::2], argv[8::2], strict=True))
    assert pairs == {"--progress": "jsonl", "--solver": "str", "--max-people": "3",
                     "--smoothing": "strong", "--device": "cpu", "--start": "1.0",
                     "--end": "2.5", "--str-checkpoint": "/ck.pt", "--smpl-dir": "/smpl"}
    whole = build_capture_argv("/py", CaptureRequest(video=video), tmp_path / "o.npz")
    assert "--start" not in whole and "--end" not in whole and "--smpl-dir" not in whole
    assert "--height" not in whole and "--fov" not in whole


def test_height_and_fov_reach_the_command_line(tmp_path: Path, video: Path) -> None:
    request = CaptureRequest(video=video, subject_height=" 2:1.62, 1:1.850 ", fov_deg=42.5)
    argv = build_capture_argv("/py", request, tmp_path / "o.npz")
    pairs = dict(zip(argv[7::2], argv[8::2], strict=True))
    assert pairs["--height"] == "1:1.85,2:1.62" and pairs["--fov"] == "42.5"
    one = build_capture_argv("/py", CaptureRequest(video=video, subject_height="1.7"), "o.npz")
    assert one[one.index("--height") + 1] == "1.7"


def test_detector_tta_reaches_the_command_line_only_when_asked(tmp_path: Path, video: Path) -> None:
    plain = build_capture_argv("/py", CaptureRequest(video=video), tmp_path / "o.npz")
    assert "--tta" not in plain
    argv = build_capture_argv("/py", CaptureRequest(video=video, tta="mirror"), "o.npz")
    assert argv[argv.index("--tta") + 1] == "mirror"
    with pytest.raises(ValueError, match="Detector passes"):
        validate_request(CaptureRequest(video=video, tta="twice"))


@pytest.mark.parametrize("height, fov, message", [
    ("tall", None, "not a number of metres"), ("3", None, "0.5-2.6 m"),
    ("1:1.8,1:1.7", None, "given twice"), ("", 200.0, "Field of view"),
])
def test_bad_height_or_fov_is_refused_before_the_backend_runs(
    video: Path, height: str, fov: float | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        validate_request(CaptureRequest(video=video, subject_height=height, fov_deg=fov))


def test_success_parses_progress_and_result(
    fake_backend_root: Path, video: Path, tmp_path: Path
) -> None:
    log = tmp_path / "argv.json"
    job = make_job(fake_backend_root, video, tmp_path / "jobs", "success",
                   env={"FAKE_ARGV_LOG": str(log)})
    states, final = run_to_end(job)
    assert final.status is JobStatus.SUCCEEDED, final.message
    assert final.output_path == job.output_path and final.output_path.read_bytes() == b"motion"
    assert final.output_path.parent.parent == tmp_path / "jobs"
    assert (final.persons, final.frames) == (2, 4)
    assert final.warnings == ("frame 3 skipped",)
    assert final.fraction == 1.0 and final.exit_code == 0
    assert "log line on stderr" in final.stderr_tail
    fractions = [s.fraction for s in states]
    assert fractions == sorted(fractions)  # never goes backwards
    recorded = json.loads(log.read_text())
    assert recorded["argv"][:2] == ["capture", str(video)]
    assert Path(recorded["cwd"]).resolve() == job.job_dir.resolve()  # never the add-on folder
    assert "--start" in recorded["argv"] and recorded["argv"][recorded["argv"].index("--end") + 1] == "3.0"
    job.cleanup()
    assert not job.job_dir.exists()


def test_progress_stage_fraction_and_message(
    fake_backend_root: Path, video: Path, tmp_path: Path
) -> None:
    job = make_job(fake_backend_root, video, tmp_path / "jobs", "slow", grace_s=2.0)
    job.start()
    deadline = time.monotonic() + 10
    state = job.poll()
    while state.stage_done < 3:
        assert time.monotonic() < deadline
        time.sleep(0.05)
        state = job.poll()
    assert state.status is JobStatus.RUNNING
    assert state.stage == "decode+detect" and state.stage_total == 600
    assert 0.0 < state.fraction <= STAGE_WEIGHTS["decode+detect"] * state.stage_done / 600 + 1e-9
    assert state.fps == 10.0 and "decode+detect" in state.message
    job.cancel()


def test_failure_carries_backend_message_and_removes_job_dir(
    fake_backend_root: Path, video: Path, tmp_path: Path
) -> None:
    job = make_job(fake_backend_root, video, tmp_path / "jobs", "error")
    _, final = run_to_end(job)
    assert final.status is JobStatus.FAILED and final.exit_code == 6
    assert "No person was found in the video." in final.message and "code 6" in final.message
    assert final.output_path is None
    assert not job.job_dir.exists()


def test_crash_with_non_json_output(fake_backend_root: Path, video: Path, tmp_path: Path) -> None:
    job = make_job(fake_backend_root, video, tmp_path / "jobs", "crash")
    _, final = run_to_end(job)
    assert final.status is JobStatus.FAILED and final.exit_code == 1
    assert "exit code 1" in final.message
    assert "ZeroDivisionError: division by zero" in final.message
    assert not job.job_dir.exists()


def test_exit_zero_without_result_is_a_failure(
    fake_backend_root: Path, video: Path, tmp_path: Path
) -> None:
    job = make_job(fake_backend_root, video, tmp_path / "jobs", "no_result")
    _, final = run_to_end(job)
    assert final.status is JobStatus.FAILED
    assert "without producing a result" in final.message


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signal semantics")
def test_killed_backend_reports_signal(
    fake_backend_root: Path, video: Path, tmp_path: Path
) -> None:
    job = make_job(fake_backend_root, video, tmp_path / "jobs", "killed")
    _, final = run_to_end(job)
    assert final.status is JobStatus.FAILED and final.exit_code == -9
    assert "killed by signal 9" in final.message


def _wait_for(path: Path, limit_s: float = 10.0) -> None:
    deadline = time.monotonic() + limit_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_cancel_stops_promptly_and_removes_partial_files(
    fake_backend_root: Path, video: Path, tmp_path: Path
) -> None:
    job = make_job(fake_backend_root, video, tmp_path / "jobs", "slow", grace_s=2.0)
    job.start()
    partial = Path(str(job.output_path) + ".partial")
    _wait_for(partial)
    t0 = time.monotonic()
    final = job.cancel()
    elapsed = time.monotonic() - t0
    assert final.status is JobStatus.CANCELLED
    assert elapsed < 2.0, elapsed  # polite stop honoured, no kill needed
    assert final.exit_code == 130
    assert job._proc is not None and job._proc.poll() is not None
    assert not job.job_dir.exists() and not partial.exists()
    assert job.poll() is final  # stays final


def _alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return False
    return "State:\tZ" not in status.read_text()  # a zombie is dead


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_process_ignoring_sigterm_is_killed_with_its_children(
    fake_backend_root: Path, video: Path, tmp_path: Path
) -> None:
    job = make_job(fake_backend_root, video, tmp_path / "jobs", "stubborn", grace_s=0.5)
    job.start()
    pid_file = Path(str(job.output_path) + ".child_pid")
    _wait_for(pid_file)
    _wait_for(Path(str(job.output_path) + ".partial"))
    child_pid = int(pid_file.read_text())
    assert _alive(child_pid)
    t0 = time.monotonic()
    job.request_cancel()  # non-blocking path used by the modal operator
    state = job.poll()
    assert state.status is JobStatus.RUNNING and state.message == "Cancelling..."
    while not state.status.finished:
        assert time.monotonic() - t0 < 5.0
        time.sleep(0.02)
        state = job.poll()
    elapsed = time.monotonic() - t0
    assert state.status is JobStatus.CANCELLED and state.exit_code == -9
    assert 0.5 <= elapsed < 2.5, elapsed
    assert not job.job_dir.exists()
    deadline = time.monotonic() + 2.0
    while _alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(child_pid), "grandchild survived the process-group kill"


def test_timeout_fails_with_clear_message(
    fake_backend_root: Path, video: Path, tmp_path: Path
) -> None:
    job = make_job(fake_backend_root, video, tmp_path / "jobs", "slow", grace_s=1.0, timeout_s=0.4)
    _, final = run_to_end(job)
    assert final.status is JobStatus.FAILED
    assert "took too long" in final.message and "0.4 s" in final.message
    assert not job.job_dir.exists()


def test_bad_inputs_fail_before_spawning(tmp_path: Path, video: Path) -> None:
    missing = CaptureJob(sys.executable, CaptureRequest(video=tmp_path / "nope.mp4"), tmp_path)
    state = missing.start()
    assert state.status is JobStatus.FAILED and "Video file not found" in state.message
    assert list(tmp_path.iterdir()) == [video]  # no job folder created
    bad_range = CaptureJob(sys.executable, CaptureRequest(video=video, start_s=3, end_s=2), tmp_path)
    assert "must be after start" in bad_range.start().message
    no_python = CaptureJob(tmp_path / "python-missing", CaptureRequest(video=video), tmp_path)
    assert "Backend Python not found" in no_python.start().message


def test_doctor_and_find_backend_python(fake_backend_root: Path, tmp_path: Path) -> None:
    env = {"PYTHONPATH": str(fake_backend_root)}
    report = run_doctor(sys.executable, extra_env=env)
    assert report.ok, report.message
    assert report.versions["torch"] == "2.13.0" and report.device == "cpu"
    assert report.message.startswith("Backend OK")
    assert report.versions["python"] == "3.11.7" and "mediapipe" in report.versions
    bad = run_doctor(sys.executable, extra_env={**env, "FAKE_SCENARIO": "doctor_bad"})
    assert not bad.ok and bad.problems == ("mediapipe: pip install mediapipe==0.10.21",)
    assert "mediapipe" not in bad.versions                   # null: not importable
    future = run_doctor(sys.executable, extra_env={**env, "FAKE_SCENARIO": "doctor_future"})
    assert not future.ok and "schema 2, expected 1" in future.message
    missing = run_doctor(tmp_path / "nope")
    assert not missing.ok and "not found" in missing.message

    with pytest.raises(Exception, match="does not exist"):
        find_backend_python(str(tmp_path / "nope"))
    with pytest.raises(Exception, match="No backend Python configured"):
        find_backend_python("", managed_venv=tmp_path / "no-venv")
    path, rep = find_backend_python(sys.executable, check=False)
    assert path == Path(sys.executable) and rep is None
    venv_dir = Path(sys.prefix)  # the test venv itself, given as a folder
    path, _ = find_backend_python(str(venv_dir), check=False)
    assert path == venv_python_path(venv_dir)


def test_doctor_without_backend_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTHONPATH", raising=False)  # the matrix runs put the checkout there
    # An interpreter that cannot import inference_backend: isolated mode (-I) ignores PYTHONPATH
    # and site-packages are still there, so make a tiny venv without the project instead.
    import venv

    env_dir = tmp_path / "bare"
    venv.create(env_dir, with_pip=False)
    report = run_doctor(venv_python_path(env_dir), timeout_s=60)
    assert not report.ok
    assert "inference_backend" in report.message


def test_parse_doctor_output_non_json() -> None:
    report = parse_doctor_output(Path("/py"), 1, "garbage", "ModuleNotFoundError: No module named 'torch'")
    assert not report.ok
    assert "No module named 'torch'" in report.problems[0]


def test_parse_doctor_output_refuses_reports_of_another_layout() -> None:
    # keys the backend never emits are not searched for: the report is refused with the reason
    guessed = json.dumps({"versions": {"python": "3.11"}, "missing": ["cv2"], "errors": "x"})
    report = parse_doctor_output(Path("/py"), 0, guessed, "")
    assert not report.ok and report.raw == {} and report.versions == {}
    assert "fields missing or mistyped: schema_version, python" in report.message
    assert "cv2" not in report.message


def test_setup_plan_commands_cross_platform(tmp_path: Path) -> None:
    plan = build_setup_plan("/usr/bin/python3.11", tmp_path / "venv", "", os_name="posix")
    assert plan.steps[0][1] == ("/usr/bin/python3.11", "-m", "venv", str(tmp_path / "venv"))
    install = plan.steps[-1][1]
    assert install[0] == str(tmp_path / "venv" / "bin" / "python")
    assert install[1:4] == ("-m", "pip", "install") and install[-1] == "str-mocap[backend]"
    win = build_setup_plan("C:/py/python.exe", tmp_path / "venv", "str-mocap[backend]==0.1.0",
                           os_name="nt", upgrade_pip=False)
    assert len(win.steps) == 2
    assert win.steps[-1][1][0] == str(tmp_path / "venv" / "Scripts" / "python.exe")
    assert win.steps[-1][1][-1] == "str-mocap[backend]==0.1.0"
    assert "-m venv" in manual_setup_instructions(plan)


def test_install_source_from_checkout(tmp_path: Path) -> None:
    repo_root = Path(__file__).resolve().parents[2]
    found = find_project_source(repo_root / "str_blender_addon")
    assert found == repo_root
    assert install_requirement(str(repo_root)) == f"{repo_root}[backend]"
    assert find_project_source(tmp_path / "str_blender_addon") is None
    with pytest.raises(ValueError, match="no pyproject.toml"):
        install_requirement(str(tmp_path))
    with pytest.raises(ValueError, match="does not exist"):
        install_requirement(str(tmp_path / "missing" / "dist.whl"))


def test_stage_source_tree_copies_only_installable_parts(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "inference_backend" / "__pycache__").mkdir(parents=True)
    (src / "inference_backend" / "__init__.py").write_text("")
    (src / "inference_backend" / "__pycache__" / "x.pyc").write_bytes(b"0")
    (src / "str_blender_addon").mkdir()
    (src / "str_blender_addon" / "__init__.py").write_text("")
    (src / "pyproject.toml").write_text("[project]\nname='x'\n")
    (src / "README.md").write_text("readme")
    (src / "tests").mkdir()
    staged = stage_source_tree(src, tmp_path / "staging")
    names = sorted(p.relative_to(staged).as_posix() for p in staged.rglob("*"))
    assert names == ["README.md", "inference_backend", "inference_backend/__init__.py",
                     "pyproject.toml", "str_blender_addon", "str_blender_addon/__init__.py"]
    again = stage_source_tree(src, tmp_path / "staging")  # refreshes, no error
    assert again == staged


def _step(code: str) -> tuple[str, ...]:
    return (sys.executable, "-c", code)


def test_setup_job_runs_steps_in_order(tmp_path: Path) -> None:
    marker = tmp_path / "order.txt"
    plan = SetupPlan(
        venv_dir=tmp_path / "venv",
        steps=(
            ("one", _step(f"open({str(marker)!r}, 'a').write('1'); print('step one done')")),
            ("two", _step(f"open({str(marker)!r}, 'a').write('2'); print('Successfully installed x')")),
        ),
    )
    job = SetupJob(plan)
    job.start()
    state = job.wait(poll_interval_s=0.02)
    assert state.status is SetupStatus.SUCCEEDED and state.fraction == 1.0
    assert marker.read_text() == "12"
    assert state.last_line == "Successfully installed x"


def test_setup_job_failure_and_cancel(tmp_path: Path) -> None:
    failing = SetupPlan(
        venv_dir=tmp_path,
        steps=(("ok", _step("pass")),
               ("bad", _step("import sys; print('ERROR: No matching distribution'); sys.exit(3)")),
               ("never", _step("raise SystemExit(9)"))),
    )
    job = SetupJob(failing)
    job.start()
    state = job.wait(poll_interval_s=0.02)
    assert state.status is SetupStatus.FAILED and state.step_index == 1
    assert "exit code 3" in state.message and "No matching distribution" in state.message
    assert state.fraction == pytest.approx(1 / 3)

    slow = SetupPlan(venv_dir=tmp_path, steps=(("sleep", _step("import time; time.sleep(30)")),))
    job = SetupJob(slow)
    job.start()
    assert job.poll().status is SetupStatus.RUNNING
    t0 = time.monotonic()
    state = job.cancel(grace_s=1.0)
    assert state.status is SetupStatus.CANCELLED and time.monotonic() - t0 < 2.0
    assert job._proc is not None and job._proc.poll() is not None


@pytest.mark.skipif(os.name == "nt", reason="checks the POSIX layout explicitly")
def test_venv_layout_matches_a_real_venv(tmp_path: Path) -> None:
    import venv

    venv.create(tmp_path / "v", with_pip=False)
    assert venv_python_path(tmp_path / "v").is_file()


def test_remove_stale_jobs_keeps_recent_folders(tmp_path: Path) -> None:
    from str_blender_addon.capture_job import remove_stale_jobs

    old, new = tmp_path / "old-job", tmp_path / "new-job"
    for folder in (old, new):
        folder.mkdir()
        (folder / "motion.npz.partial").write_bytes(b"x")
    three_days_ago = time.time() - 3 * 24 * 3600
    os.utime(old, (three_days_ago, three_days_ago))
    assert remove_stale_jobs(tmp_path) == 1
    assert not old.exists() and new.exists()
    assert remove_stale_jobs(tmp_path / "missing") == 0


def test_job_folder_that_cannot_be_created_fails_cleanly(tmp_path: Path, video: Path) -> None:
    blocker = tmp_path / "jobs"
    blocker.write_text("a file where the jobs folder should be")
    state = CaptureJob(sys.executable, CaptureRequest(video=video), blocker).start()
    assert state.status is JobStatus.FAILED and "Cannot create the job folder" in state.message


def test_camera_mode_reaches_the_command_line(tmp_path: Path, video: Path) -> None:
    auto = build_capture_argv("/py", CaptureRequest(video=video), tmp_path / "o.npz")
    assert "--camera" not in auto                      # the backend's default
    for mode in ("static", "moving"):
        argv = build_capture_argv("/py", CaptureRequest(video=video, camera=mode), "o.npz")
        assert argv[argv.index("--camera") + 1] == mode
    with pytest.raises(ValueError, match="Camera must be one of auto, static, moving"):
        validate_request(CaptureRequest(video=video, camera="tripod"))
