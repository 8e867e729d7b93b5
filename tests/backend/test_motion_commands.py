"""Exit codes and messages of the motion-file command (``export-amass``) as a real subprocess:
every bad file is exit 9 with one line naming the file (never a traceback), a missing file 3,
a full disk 7 with the old output kept and no ``ZipFile.__del__`` noise; and ``--progress
none`` still prints errors on stderr."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from zip_members import npy_bytes, read_members, write_members

from inference_backend.errors import ExitCode
from inference_backend.export import save_npz


def _with_header(members: dict[str, bytes], text: str) -> dict[str, bytes]:
    return {**members, "header.npy": npy_bytes(np.array(text))}


def _header(members: dict[str, bytes]) -> dict:
    return json.loads(str(np.load(io.BytesIO(members["header.npy"]))))


def _encrypted(data: bytes) -> bytes:
    out = bytearray(data)
    for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        pos = out.find(sig)
        while pos >= 0:
            out[pos + flag_at] |= 1
            pos = out.find(sig, pos + 4)
    return bytes(out)


BAD_FILES: dict[str, Callable[[Path, Path], None]] = {
    "empty": lambda src, dst: dst.write_bytes(b""),
    "truncated": lambda src, dst: dst.write_bytes(src.read_bytes()[: src.stat().st_size // 2]),
    "encrypted": lambda src, dst: dst.write_bytes(_encrypted(src.read_bytes())),
    "header_array": lambda src, dst: write_members(dst, _with_header(read_members(src), "[1, 2]")),
    "header_nested": lambda src, dst: write_members(dst, _with_header(read_members(src), "[" * 100000)),
    "header_bad_json": lambda src, dst: write_members(dst, _with_header(read_members(src), "{nope")),
    "missing_key": lambda src, dst: write_members(dst, {k: v for k, v in read_members(src).items()
                                              if k != "transl.npy"}),
    "nan": lambda src, dst: _nan_file(src, dst),
    "fps_string": lambda src, dst: write_members(dst, _with_header(
        read_members(src), json.dumps({**_header(read_members(src)), "fps": "fast"}))),
    "huge_shape": lambda src, dst: write_members(dst, {**read_members(src), "joints3d.npy": _claim(
        read_members(src)["joints3d.npy"], (10 ** 12, 24, 3))}),
}


def _nan_file(src: Path, dst: Path) -> None:
    with np.load(src, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["transl"][0, 3, 1] = np.nan
    np.savez(dst, **arrays)


def _claim(npy: bytes, shape: tuple[int, ...]) -> bytes:
    array = np.load(io.BytesIO(npy))
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": np.lib.format.dtype_to_descr(array.dtype), "fortran_order": False,
              "shape": shape})
    return buf.getvalue() + array.tobytes()


def _export(backend_cmd, env, motion: Path, out: Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([*backend_cmd, "export-amass", str(motion), "-o", str(out)],
                          capture_output=True, text=True, env=env, timeout=120, **kwargs)


def test_every_bad_motion_file_is_exit_9_with_one_line(motion_path: Path, tmp_path: Path,
                                                       backend_cmd, backend_env) -> None:
    # one interpreter for all cases (each is the CLI's main(), exit code and stderr as a user
    # sees them); a subprocess per case would cost seconds each
    cases = {}
    for case, make in BAD_FILES.items():
        bad = tmp_path / f"{case}.npz"
        make(motion_path, bad)
        cases[case] = str(bad)
    script = (
        "import contextlib, io, json, sys\n"
        "from inference_backend.cli import main\n"
        "out = {}\n"
        f"for case, path in json.loads({json.dumps(json.dumps(cases))}).items():\n"
        "    err = io.StringIO()\n"
        "    with contextlib.redirect_stderr(err):\n"
        "        code = main(['export-amass', path, '-o', sys.argv[1]])\n"
        "    out[case] = [code, err.getvalue()]\n"
        "print(json.dumps(out))\n")
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path / "out")],
                          capture_output=True, text=True, env=backend_env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    for case, (code, stderr) in results.items():
        lines = stderr.strip().splitlines()
        assert code == int(ExitCode.BAD_MOTION_FILE), (case, code, stderr[-1500:])
        assert len(lines) == 1 and "Traceback" not in stderr, (case, stderr[-1500:])
        assert lines[0].startswith("error (9): ") and f"{case}.npz" in lines[0], (case, lines)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_missing_motion_file_is_exit_3(tmp_path: Path, backend_cmd, backend_env) -> None:
    proc = _export(backend_cmd, backend_env, tmp_path / "gone.npz", tmp_path / "out")
    assert proc.returncode == int(ExitCode.FILE_MISSING)
    assert proc.stderr.strip().splitlines() == [
        f"error (3): motion file not found: {tmp_path / 'gone.npz'}"]


def _limit_file_size() -> None:
    """The child's files may not grow past 3 kB: a full disk, as far as the writer can tell."""
    import resource  # POSIX only

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
    resource.setrlimit(resource.RLIMIT_FSIZE, (3000, 3000))


@pytest.mark.skipif(sys.platform.startswith("win"), reason="RLIMIT_FSIZE is POSIX")
def test_full_disk_is_exit_7_keeps_the_old_file_and_prints_no_zipfile_noise(
        motion_path: Path, tmp_path: Path, backend_cmd, backend_env) -> None:
    out = tmp_path / "amass"
    out.mkdir()
    old = out / "take_person1_poses.npz"
    old.write_bytes(b"previous export")
    proc = _export(backend_cmd, backend_env, motion_path, out, preexec_fn=_limit_file_size)
    assert proc.returncode == int(ExitCode.OUTPUT_NOT_WRITABLE), proc.stderr[-2000:]
    assert "Exception ignored" not in proc.stderr and "seek of closed file" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error (7): cannot write ")
    assert old.read_bytes() == b"previous export"
    assert [p.name for p in out.iterdir()] == [old.name]  # no temp file left


def test_save_npz_matches_np_savez_and_closes_on_failure(tmp_path: Path) -> None:
    arrays = {"a": np.arange(6.0).reshape(2, 3), "header": np.array('{"x": 1}')}
    buf = io.BytesIO()
    save_npz(buf, arrays)
    reference = io.BytesIO()
    np.savez(reference, **arrays)
    with np.load(io.BytesIO(buf.getvalue()), allow_pickle=False) as ours:
        assert sorted(ours.files) == ["a", "header"]
        np.testing.assert_array_equal(ours["a"], arrays["a"])
    assert len(buf.getvalue()) == len(reference.getvalue())

    class Full(io.BytesIO):
        def write(self, data):  # type: ignore[override]
            if self.tell() + len(data) > 200:
                raise OSError(28, "No space left on device")
            return super().write(data)

    unraisable: list = []
    previous = sys.unraisablehook
    sys.unraisablehook = unraisable.append
    try:
        with pytest.raises(OSError):
            with Full() as handle:
                save_npz(handle, {"big": np.zeros(1000)})
        import gc

        gc.collect()
    finally:
        sys.unraisablehook = previous
    assert unraisable == []


def test_progress_none_still_prints_the_error(tmp_path: Path, backend_cmd, backend_env) -> None:
    video = tmp_path / "notes.mp4"
    video.write_text("not a video\n")
    proc = subprocess.run([*backend_cmd, "capture", str(video), "-o", str(tmp_path / "o.npz"),
                           "--progress", "none"],
                          capture_output=True, text=True, env=backend_env, timeout=120)
    assert proc.returncode == int(ExitCode.NOT_A_VIDEO)
    assert proc.stdout == ""
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error (4): ") and "notes.mp4" in last


def test_export_amass_is_all_or_nothing(motion_path: Path, tmp_path: Path, monkeypatch) -> None:
    """A failure while writing the second person's file leaves the first person's existing
    file as it was (nothing half-exported) and no temp files."""
    from inference_backend import amass
    from inference_backend.errors import CaptureError

    out = tmp_path / "amass"
    out.mkdir()
    first = out / "take_person1_poses.npz"
    first.write_bytes(b"previous export")
    calls = {"n": 0}
    real = amass.save_npz

    def second_fails(handle, arrays):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        real(handle, arrays)

    monkeypatch.setattr(amass, "save_npz", second_fails)
    with pytest.raises(CaptureError) as err:
        amass.export_amass(motion_path, out)
    assert err.value.code == ExitCode.OUTPUT_NOT_WRITABLE
    assert "take_person2_poses.npz" in err.value.message
    assert first.read_bytes() == b"previous export"
    assert [p.name for p in out.iterdir()] == [first.name]
    monkeypatch.setattr(amass, "save_npz", real)
    assert [p.name for p in amass.export_amass(motion_path, out)] == [
        "take_person1_poses.npz", "take_person2_poses.npz"]
    assert first.read_bytes()[:2] == b"PK"
