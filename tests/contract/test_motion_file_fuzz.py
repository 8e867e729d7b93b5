"""Bad motion files: the add-on reader raises only ``MotionFileError``, naming the file, never
runs a pickle, never inflates what it does not need, in bounded time and memory (and so does
the backend's reader used by ``export-amass``, on the same fuzzed files).

A valid capture is written by the backend's writer (the code path of every real capture); the
cases of the bad-input campaign are reproduced one by one, then a seeded generator mutates the
capture at every level (bytes, zip directory, members, .npy headers, JSON header, values).
"""

from __future__ import annotations

import importlib.util
import io
import json
import sys
import time
import tracemalloc
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from zip_members import zip_bytes

from inference_backend.export import write_motion_file as backend_write
from inference_backend.motion_types import VideoInfo
from str_blender_addon.core.motion_file import Motion, MotionFileError, read_motion_file

REPO = Path(__file__).resolve().parents[2]
FUZZ_CASES = 300
FUZZ_SEED = 20261206
MAX_SECONDS_PER_FILE = 2.0
MAX_PEAK_BYTES = 64 * 1024 * 1024


def _backend_conftest():
    name = "str_test_backend_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, REPO / "tests" / "backend" / "conftest.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


class _Evil:
    """Unpickling this creates ``marker``: proof that a pickle ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The members (name -> raw .npy bytes) of a valid capture written by the backend."""
    F = 12
    solution = _backend_conftest().make_scene_solution(persons=2, seed=4, F=F)
    video = VideoInfo(path="/videos/walk.mp4", width=960, height=540, rotation=0, fps=30.0,
                      num_frames=F, duration=F / 30)
    path = tmp_path_factory.mktemp("valid") / "capture.npz"
    backend_write(path, solution, video, np.arange(F) / 30.0, np.arange(F))
    assert isinstance(read_motion_file(path), Motion)
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


def _npy(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=True)
    return buf.getvalue()


def _array(members: dict[str, bytes], key: str) -> np.ndarray:
    return np.load(io.BytesIO(members[f"{key}.npy"]), allow_pickle=False)


def _header(members: dict[str, bytes]) -> dict:
    return json.loads(str(_array(members, "header")))


def _with_header(members: dict[str, bytes], header_text: str) -> dict[str, bytes]:
    return {**members, "header.npy": _npy(np.array(header_text))}


def _build(path: Path, members: dict[str, bytes] | list[tuple[str, bytes]],
           compression: int = zipfile.ZIP_DEFLATED) -> Path:
    items = members.items() if isinstance(members, dict) else members
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are a deliberate mutation
        with zipfile.ZipFile(path, "w", compression) as z:
            for name, data in items:
                z.writestr(name, data)
    return path


def _patch_directory(data: bytes, member: str, flag: int | None = None,
                     method: int | None = None) -> bytes:
    """Set the general-purpose flag bits / compression method of ``member`` in both its local
    header and its central-directory entry (what a crafted file would do)."""
    out = bytearray(data)
    name = member.encode()
    # signature, flag offset, method offset, name-length offset, name offset
    for sig, flag_at, method_at, len_at, name_at in ((b"PK\x03\x04", 6, 8, 26, 30),
                                                     (b"PK\x01\x02", 8, 10, 28, 46)):
        pos = out.find(sig)
        while pos >= 0:
            n = int.from_bytes(out[pos + len_at:pos + len_at + 2], "little")
            if bytes(out[pos + name_at:pos + name_at + n]) == name:
                if flag is not None:
                    value = int.from_bytes(out[pos + flag_at:pos + flag_at + 2], "little") | flag
                    out[pos + flag_at:pos + flag_at + 2] = value.to_bytes(2, "little")
                if method is not None:
                    out[pos + method_at:pos + method_at + 2] = method.to_bytes(2, "little")
            pos = out.find(sig, pos + 4)
    return bytes(out)


def _npy_with_header(array: np.ndarray, shape: tuple[int, ...]) -> bytes:
    """``array``'s data behind an .npy header that claims ``shape``."""
    header = {"descr": np.lib.format.dtype_to_descr(array.dtype), "fortran_order": False,
              "shape": shape}
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    return buf.getvalue() + array.tobytes()


def _read_guarded(path: Path) -> Motion | MotionFileError:
    """Read ``path``; only MotionFileError may escape, within the time and memory bounds."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        try:
            result: Motion | MotionFileError = read_motion_file(path)
        except MotionFileError as exc:
            result = exc
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < MAX_SECONDS_PER_FILE, f"{path.name}: {elapsed:.2f} s"
    assert peak < MAX_PEAK_BYTES, f"{path.name}: peak {peak / 1e6:.0f} MB"
    if isinstance(result, MotionFileError):
        assert path.name in str(result), str(result)
    return result


# ---------------------------------------------------------------- the campaign's cases, one by one

def _value_case(key: str, change: Callable[[np.ndarray], np.ndarray]):
    def mutate(members: dict[str, bytes]) -> dict[str, bytes]:
        return {**members, f"{key}.npy": _npy(change(_array(members, key).copy()))}
    return mutate


def _header_case(change: Callable[[dict], object]):
    def mutate(members: dict[str, bytes]) -> dict[str, bytes]:
        header = _header(members)
        result = change(header)
        return _with_header(members, json.dumps(header if result is None else result))
    return mutate


def _set(key: str, value: object) -> Callable[[dict], None]:
    return lambda h: h.__setitem__(key, value)


def _scaled(factor: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda a: a * factor


CAMPAIGN = {
    # item 5: raw exceptions before
    "member_not_npy": (lambda m: {**m, "transl.npy": b"just some bytes, not an array" * 10},
                       "transl.npy"),
    "header_deeply_nested": (lambda m: _with_header(m, "[" * 200000), "nested"),
    "warnings_null": (_header_case(_set("warnings", None)), "warnings"),
    "joint_names_int": (_header_case(_set("joint_names", 7)), "joint_names"),
    "parents_int": (_header_case(_set("parents", 3)), "parents"),
    "video_list": (_header_case(_set("video", [1, 2])), "video"),
    "video_string": (_header_case(_set("video", "clip.mp4")), "video"),
    "video_int": (_header_case(_set("video", 5)), "video"),
    "video_fps_string": (_header_case(lambda h: h["video"].__setitem__("fps", "30")),
                         "video.fps"),
    "header_is_array": (_header_case(lambda h: [h]), "JSON object"),
    "huge_shape_claim": (lambda m: {**m, "timestamps.npy": _npy_with_header(
        _array(m, "timestamps"), (10 ** 12,))}, "timestamps"),
    # item 6: schema-valid but absurd values
    "transl_1e30": (_value_case("transl", lambda a: a + np.float32(1e30)), "transl"),
    "joints_float32_max": (_value_case(
        "joints3d", lambda a: np.full_like(a, np.finfo(np.float32).max)), "joints3d"),
    "confidence_above_1": (_value_case("confidence", lambda a: a + 1.5), "confidence"),
    "confidence_negative": (_value_case("confidence", lambda a: a - 2.0), "confidence"),
    "cam_R_zero": (_value_case("cam_R", lambda a: a * 0), "cam_R"),
    "cam_R_scaled": (_value_case("cam_R", _scaled(2.0)), "cam_R"),
    "cam_R_reflection": (_value_case("cam_R", lambda a: -a), "cam_R"),
    "track_id_int64_max": (_value_case(
        "track_ids", lambda a: np.array([1, np.iinfo(np.int64).max], np.int64)), "track_ids"),
    "track_id_negative": (_value_case("track_ids", lambda a: -a - 1), "track_ids"),
    "timestamps_x1e12": (_value_case("timestamps", _scaled(1e12)), "timestamps"),
    "body_pose_1e6": (_value_case("body_pose", _scaled(1e6)), "body_pose"),
    "betas_1e9": (_value_case("betas", lambda a: a + 1e9), "betas"),
    "cam_K_zero": (_value_case("cam_K", _scaled(0.0)), "cam_K"),
}


@pytest.mark.parametrize("case", sorted(CAMPAIGN))
def test_campaign_case_is_a_clear_error(case: str, capture, tmp_path: Path) -> None:
    mutate, field = CAMPAIGN[case]
    path = _build(tmp_path / f"{case}.npz", mutate(dict(capture)))
    result = _read_guarded(path)
    assert isinstance(result, MotionFileError), f"{case} was accepted"
    assert field in str(result), str(result)


def test_zip_bomb_member_is_refused_without_inflating(capture, tmp_path: Path) -> None:
    bomb = _build(tmp_path / "bomb.npz", {**capture, "extra.npy": bytes(200 * 1024 * 1024)})
    assert bomb.stat().st_size < 1024 * 1024  # ~200 KB on disk, 200 MB inflated
    result = _read_guarded(bomb)  # peak memory bound: nothing of it was inflated
    assert isinstance(result, MotionFileError) and "extra.npy" in str(result)
    assert "209.7 MB" in str(result)  # 200 MiB
    # a small unknown member is never read, and the file is accepted
    small = _build(tmp_path / "small_extra.npz", {**capture, "notes.npy": _npy(np.arange(5))})
    assert isinstance(_read_guarded(small), Motion)


def test_encrypted_and_unsupported_compression_are_refused(capture, tmp_path: Path) -> None:
    plain = _build(tmp_path / "plain.npz", capture).read_bytes()
    enc = tmp_path / "encrypted.npz"
    enc.write_bytes(_patch_directory(plain, "transl.npy", flag=0x1))
    result = _read_guarded(enc)
    assert isinstance(result, MotionFileError) and "encrypted" in str(result)
    aes = tmp_path / "method99.npz"
    aes.write_bytes(_patch_directory(plain, "body_pose.npy", method=99))
    result = _read_guarded(aes)
    assert isinstance(result, MotionFileError) and "compression method 99" in str(result)


def test_pickled_member_is_never_executed(capture, tmp_path: Path) -> None:
    marker = tmp_path / "pickle_ran"
    evil = _npy(np.array([_Evil(str(marker))], dtype=object))
    for key in ("extra", "transl", "header"):
        path = _build(tmp_path / f"evil_{key}.npz", {**capture, f"{key}.npy": evil})
        result = _read_guarded(path)
        assert isinstance(result, MotionFileError) and "refused for safety" in str(result)
    assert not marker.exists()


def test_valid_capture_with_stored_members_reads(capture, tmp_path: Path) -> None:
    path = _build(tmp_path / "stored.npz", capture, compression=zipfile.ZIP_STORED)
    motion = _read_guarded(path)
    assert isinstance(motion, Motion) and motion.num_persons == 2 and motion.num_frames == 12


# ---------------------------------------------------------------- the seeded generator

_JSON_VALUES: tuple[object, ...] = (None, True, 0, -1, 2 ** 70, 1e308, "", "x" * 50, [], [1, "a"],
                                    {}, {"a": {"b": [None]}})


def _mutate(rng: np.random.Generator, members: dict[str, bytes], marker: str
            ) -> tuple[str, bytes | dict[str, bytes] | list[tuple[str, bytes]]]:
    """One random mutation of the valid capture: (kind, raw file bytes or members)."""
    names = sorted(members)
    name = names[rng.integers(len(names))]
    kind = ["flip", "truncate", "garbage", "shape", "dtype", "values", "header", "extra",
            "duplicate", "drop", "zipflag"][rng.integers(11)]
    m = dict(members)
    if kind in ("flip", "truncate", "zipflag"):
        data = bytearray(zip_bytes(members))
        if kind == "flip":
            for _ in range(int(rng.integers(1, 9))):
                data[int(rng.integers(len(data)))] ^= 1 << int(rng.integers(8))
        elif kind == "truncate":
            data = data[: int(rng.integers(len(data)))]
        else:
            data = bytearray(_patch_directory(bytes(data), name, flag=int(rng.choice([1, 8, 64])),
                                              method=int(rng.choice([0, 8, 9, 12, 14, 99]))))
        return kind, bytes(data)
    if kind == "garbage":
        m[name] = rng.bytes(int(rng.integers(0, 400)))
    elif kind == "shape":
        array = np.load(io.BytesIO(m[name]), allow_pickle=False)
        shapes = [(), (0,), (10 ** 12,), (2 ** 62, 2 ** 62), array.shape[::-1],
                  tuple(int(x) for x in rng.integers(0, 50, int(rng.integers(1, 5))))]
        m[name] = _npy_with_header(array, shapes[rng.integers(len(shapes))])
    elif kind == "dtype":
        array = np.load(io.BytesIO(m[name]), allow_pickle=False)
        choice = int(rng.integers(6))
        if choice == 0:
            m[name] = _npy(np.array([_Evil(marker)], dtype=object))
        else:
            dtype = ["<i1", ">f8", "<c16", "<U3", "|V8"][choice - 1]
            m[name] = _npy(np.zeros(array.shape, dtype=dtype))
    elif kind == "values":
        array = np.load(io.BytesIO(m[name]), allow_pickle=False)
        if array.dtype.kind in "fiu" and array.size:
            flat = array.astype(np.float64).ravel()
            idx = rng.integers(flat.size, size=int(rng.integers(1, 4)))
            flat[idx] = rng.choice([np.nan, np.inf, -np.inf, 1e12, -1e12, 3.4e38, -1.0, 0.0, 2.0])
            with np.errstate(all="ignore"):
                m[name] = _npy(flat.reshape(array.shape).astype(array.dtype))
    elif kind == "header" and "header.npy" in m:
        header = _header(m)
        key = sorted(header)[rng.integers(len(header))]
        op = int(rng.integers(4))
        if op == 0:
            del header[key]
        elif op == 1:
            header[key] = _JSON_VALUES[rng.integers(len(_JSON_VALUES))]
        elif op == 2 and isinstance(header.get("video"), dict):
            header["video"][["fps", "width", "height", "name", "path"][rng.integers(5)]] = \
                _JSON_VALUES[rng.integers(len(_JSON_VALUES))]
        text = json.dumps(header)
        if op == 3:
            text = ["[" * int(rng.integers(1, 100000)), text[: len(text) // 2], "null", "42",
                    "\"s\""][rng.integers(5)]
        m = _with_header(m, text)
    elif kind == "extra":
        size = int(rng.choice([10, 1000, 20 * 1024 * 1024]))
        m[f"extra{rng.integers(3)}.npy"] = bytes(size)
    elif kind == "duplicate":
        return kind, [*m.items(), (name, m[name])]
    elif kind == "drop":
        del m[name]
    return kind, m


def _backend_read_guarded(path: Path, what: str) -> None:
    """The backend's reader (export-amass) on the same file: only its MotionFileError, naming
    the file, within the same bounds."""
    from inference_backend.export import MotionFileError as BackendError
    from inference_backend.export import read_motion_file as backend_read

    tracemalloc.start()
    started = time.perf_counter()
    try:
        try:
            backend_read(path)
        except BackendError as exc:
            assert path.name in str(exc), f"{what}: {exc}"
        except Exception as exc:
            raise AssertionError(f"{what}: backend reader raised {type(exc).__name__}: {exc}") \
                from exc
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < MAX_SECONDS_PER_FILE, what
    assert peak < MAX_PEAK_BYTES, f"{what}: backend peak {peak / 1e6:.0f} MB"


def test_seeded_fuzz_only_motion_file_errors(capture, tmp_path: Path) -> None:
    rng = np.random.default_rng(FUZZ_SEED)
    marker = tmp_path / "pickle_ran"
    kinds: dict[str, list[int]] = {}
    started = time.perf_counter()
    for case in range(FUZZ_CASES):
        kind, content = _mutate(rng, capture, str(marker))
        path = tmp_path / f"fuzz{case:03d}.npz"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            _build(path, content)
        try:
            result = _read_guarded(path)
        except AssertionError as exc:
            raise AssertionError(f"case {case} ({kind}): {exc}") from exc
        except Exception as exc:  # anything but MotionFileError is a reader bug
            raise AssertionError(f"case {case} ({kind}) raised {type(exc).__name__}: {exc}") \
                from exc
        kinds.setdefault(kind, [0, 0])[isinstance(result, Motion)] += 1
        _backend_read_guarded(path, f"case {case} ({kind})")
        path.unlink()
    assert not marker.exists(), "a pickle was executed"
    assert len(kinds) == 11, kinds  # every kind of mutation was exercised
    refused = sum(errors for errors, _ in kinds.values())
    assert refused > FUZZ_CASES // 2, kinds
    assert time.perf_counter() - started < 60


def test_seeded_fuzz_of_amass_files(tmp_path: Path) -> None:
    """The AMASS reader (File > Import > AMASS, headless) under the same mutations: only
    MotionFileError naming the file, bounded time and memory, no pickle run."""
    from str_blender_addon.core.amass_file import read_amass_file

    rng = np.random.default_rng(FUZZ_SEED + 1)
    frames = 20
    poses = rng.normal(0, 0.3, (frames, 156))
    members = {"poses.npy": _npy(poses), "trans.npy": _npy(rng.normal(0, 1, (frames, 3))),
               "betas.npy": _npy(rng.normal(0, 1, 16)),
               "mocap_framerate.npy": _npy(np.array(120.0)), "gender.npy": _npy(np.array("female")),
               "dmpls.npy": _npy(np.zeros((frames, 8)))}
    valid = _build(tmp_path / "valid_amass.npz", members)
    assert read_amass_file(valid).num_frames == frames
    marker = tmp_path / "pickle_ran"
    refused = 0
    for case in range(100):
        _, content = _mutate(rng, members, str(marker))
        path = tmp_path / f"amass{case:03d}.npz"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            _build(path, content)
        tracemalloc.start()
        started = time.perf_counter()
        try:
            read_amass_file(path)
        except MotionFileError as exc:
            refused += 1
            assert path.name in str(exc), str(exc)
        except Exception as exc:
            raise AssertionError(f"case {case}: {type(exc).__name__}: {exc}") from exc
        finally:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        assert time.perf_counter() - started < MAX_SECONDS_PER_FILE and peak < MAX_PEAK_BYTES
        path.unlink()
    assert not marker.exists() and refused > 30
