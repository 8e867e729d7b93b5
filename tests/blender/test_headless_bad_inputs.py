"""``python -m str_blender_addon.headless`` on the bad files of the input campaign: each one is
exit code 3 with one ``error:`` line naming the file, no traceback and no output written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from zip_members import npy_bytes, read_members, write_members

bpy = pytest.importorskip("bpy")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bad_files(tmp_path: Path, helpers) -> dict[str, Path]:
    folder = tmp_path / "bad"
    folder.mkdir()

    def motion(name: str, change=None, header_change=None) -> Path:
        arrays = helpers.synthetic_walk(20, 30.0, n_persons=2)
        header = helpers.make_header(arrays)
        if change:
            change(arrays)
        if header_change:
            header = header_change(header)
        return helpers.write_motion_file(folder / f"{name}.npz", arrays, header)

    def header_text(name: str, text: str) -> Path:
        good = motion(name)
        return write_members(good, {**read_members(good), "header.npy": npy_bytes(np.array(text))})

    files = {
        "empty": folder / "empty.npz", "text": folder / "text.npz",
        "truncated": folder / "truncated.npz",
    }
    files["empty"].write_bytes(b"")
    files["text"].write_text("hello, not an archive\n")
    good = motion("good")
    files["truncated"].write_bytes(good.read_bytes()[: good.stat().st_size * 6 // 10])
    files["header_array"] = header_text("header_array", "[1, 2, 3]")
    files["header_nested"] = header_text("header_nested", "[" * 200000)
    files["warnings_null"] = motion("warnings_null", header_change=lambda h: {**h, "warnings": None})
    files["joint_names_int"] = motion("joint_names_int",
                                      header_change=lambda h: {**h, "joint_names": 5})
    files["video_list"] = motion("video_list", header_change=lambda h: {**h, "video": [1]})
    files["transl_1e30"] = motion("transl_1e30",
                                  lambda a: a.__setitem__("transl", a["transl"] + 1e30))
    files["track_id_max"] = motion("track_id_max", lambda a: a.__setitem__(
        "track_ids", np.array([1, np.iinfo(np.int64).max])))
    files["timestamps_1e12"] = motion("timestamps_1e12", lambda a: a.__setitem__(
        "timestamps", a["timestamps"] * 1e12))
    files["cam_R_zero"] = motion("cam_R_zero", lambda a: a.__setitem__("cam_R", a["cam_R"] * 0))
    files["confidence_2"] = motion("confidence_2",
                                   lambda a: a.__setitem__("confidence", a["confidence"] * 2))
    bomb = motion("bomb")
    write_members(bomb, {**read_members(bomb), "extra.npy": bytes(40 * 1024 * 1024)})
    files["bomb"] = bomb
    not_npy = motion("not_npy")
    write_members(not_npy, {**read_members(not_npy), "transl.npy": b"raw bytes" * 20})
    files["not_npy"] = not_npy
    np.savez(folder / "amass_huge.npz", poses=np.full((10, 72), 1e30), trans=np.zeros((10, 3)),
             mocap_framerate=np.array(30.0))
    files["amass_huge"] = folder / "amass_huge.npz"
    np.savez(folder / "amass_fps.npz", poses=np.zeros((10, 72)), trans=np.zeros((10, 3)),
             mocap_framerate=np.array(1e9))
    files["amass_fps"] = folder / "amass_fps.npz"
    return files


def test_every_bad_file_is_exit_3_with_one_line(bad_files: dict[str, Path], tmp_path: Path) -> None:
    assert len(bad_files) >= 16
    cases = {name: str(path) for name, path in bad_files.items()}
    # one interpreter runs headless.main() per file (bpy start-up is seconds per process)
    script = (
        "import contextlib, io, json, sys\n"
        "from str_blender_addon.headless import main\n"
        "out = {}\n"
        "for name, path in json.loads(sys.argv[1]).items():\n"
        "    err = io.StringIO()\n"
        "    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):\n"
        "        code = main([path, '--blend', sys.argv[2] + '/' + name + '.blend'])\n"
        "    out[name] = [code, err.getvalue()]\n"
        "print('RESULT' + json.dumps(out))\n")
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.run([sys.executable, "-c", script, json.dumps(cases), str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT")]
    assert proc.returncode == 0 and line, proc.stderr[-3000:]
    results = json.loads(line[-1][len("RESULT"):])
    for name, (code, stderr) in results.items():
        lines = [x for x in stderr.strip().splitlines() if x.strip()]
        assert code == 3, (name, code, stderr[-1500:])
        assert "Traceback" not in stderr, (name, stderr[-1500:])
        assert len(lines) == 1 and lines[0].startswith("error: "), (name, lines)
        assert Path(cases[name]).name in lines[0], (name, lines[0])
    assert list(out.iterdir()) == []
