"""``python -m inference_backend doctor``: what is installed, what is missing, how to fix it.

Exit code 0 when the default solver can run (mediapipe importable with its pose models in the
wheel, PyAV, numpy/scipy/torch importable, the default solver module importable), 8 otherwise.
The SMPL folder and the STR checkpoint are optional: reported as found or missing, with how to
get them.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import platform
import sys
from pathlib import Path
from typing import Any

from .config import ENV_CACHE, ENV_SMPL_DIR, ENV_STR_CHECKPOINT
from .errors import ExitCode

SMPL_FILE_NAMES: tuple[str, ...] = (
    "SMPL_NEUTRAL.npz", "SMPL_NEUTRAL.pkl", "basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl",
    "SMPL_MALE.pkl", "SMPL_FEMALE.pkl", "SMPL_MALE.npz", "SMPL_FEMALE.npz",
    "basicmodel_m_lbs_10_207_0_v1.1.0.pkl", "basicmodel_f_lbs_10_207_0_v1.0.0.pkl",
)
SMPL_HELP = (
    "optional: register at https://smpl.is.tue.mpg.de, download the SMPL model files and point "
    f"${ENV_SMPL_DIR} (or --smpl-dir) at the folder; without them the rig uses the SMPL "
    "skeleton with a generated body mesh"
)
STR_HELP = (
    f"optional: set ${ENV_STR_CHECKPOINT} (or --str-checkpoint) to a trained STR checkpoint "
    "(.pt) to use --solver str; the default solver needs nothing"
)


def _version(module_name: str) -> str | None:
    try:
        module = importlib.import_module(module_name)
    except Exception:
        return None
    version = getattr(module, "__version__", None)
    if version is None:  # e.g. smplx: fall back to the installed distribution's metadata
        try:
            version = importlib.metadata.version(module_name)
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"
    return str(version)


def _find_smpl(folder: Path) -> list[str]:
    found = []
    for sub in (folder, folder / "smpl"):
        for name in SMPL_FILE_NAMES:
            if (sub / name).is_file():
                found.append(str(sub / name))
    return found


#: Version of the ``--json`` report's layout (docs/doctor_report.md); bump on any change.
SCHEMA_VERSION = 1


def gather(smpl_dir: Path | None = None, str_checkpoint: Path | None = None,
           cache_dir: Path | None = None) -> dict[str, Any]:
    """Collect the report as a JSON-able dict (no side effects besides imports). The folders
    and checkpoint are what the CLI resolved from its options and environment."""
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "executable": sys.executable,
        "versions": {
            name: _version(mod)
            for name, mod in (
                ("torch", "torch"), ("mediapipe", "mediapipe"), ("opencv", "cv2"),
                ("av", "av"), ("numpy", "numpy"), ("scipy", "scipy"), ("smplx", "smplx"),
            )
        },
        "problems": [],
    }
    problems: list[str] = report["problems"]
    for name in ("mediapipe", "av", "numpy", "scipy", "torch"):
        if report["versions"][name] is None:
            problems.append(f"{name} is not importable: reinstall the backend (pip install .[backend])")
    cuda: dict[str, Any] = {"available": False, "devices": []}
    try:
        import torch

        cuda["available"] = bool(torch.cuda.is_available())
        if cuda["available"]:
            cuda["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        cuda["torch_cuda"] = torch.version.cuda
    except Exception as exc:  # torch missing or broken
        cuda["error"] = str(exc)
    report["cuda"] = cuda
    report["device"] = "cuda" if cuda["available"] else "cpu"

    models: dict[str, Any] = {"pose_models_in_wheel": False}
    try:
        from .detection import user_cache_dir, wheel_model_paths

        detector, landmarker = wheel_model_paths()
        models.update(pose_models_in_wheel=True, pose_detector=str(detector),
                      pose_landmarker=str(landmarker))
        models["cache_dir"] = str(cache_dir if cache_dir is not None else user_cache_dir())
    except Exception as exc:
        problems.append(f"mediapipe pose models: {exc}")
    report["mediapipe_models"] = models
    report["cache_env"] = ENV_CACHE

    try:
        importlib.import_module("inference_backend.solver_default")
        report["default_solver"] = "ok"
    except Exception as exc:
        report["default_solver"] = f"not importable: {exc}"
        problems.append(f"default solver: {exc}")

    folder_text = str(smpl_dir) if smpl_dir else ""
    smpl: dict[str, Any] = {"dir": folder_text or None, "found": False, "files": []}
    if folder_text:
        files = _find_smpl(Path(folder_text).expanduser())
        smpl.update(found=bool(files), files=files)
    if not smpl["found"]:
        smpl["how_to_get"] = SMPL_HELP
    report["smpl"] = smpl

    ckpt_text = str(str_checkpoint) if str_checkpoint else ""
    ckpt: dict[str, Any] = {"path": ckpt_text or None, "found": bool(ckpt_text) and Path(ckpt_text).is_file()}
    if not ckpt["found"]:
        ckpt["how_to_get"] = STR_HELP
    report["str_checkpoint"] = ckpt
    report["default_solver_can_run"] = not problems
    return report


def _print_human(report: dict[str, Any]) -> None:
    out = sys.stdout
    out.write(f"python      {report['python']} ({report['executable']})\n")
    for name, version in report["versions"].items():
        out.write(f"{name:<11} {version or 'MISSING'}\n")
    cuda = report["cuda"]
    out.write(f"device      {report['device']} (CUDA available: {cuda['available']}"
              f"{'; ' + ', '.join(cuda['devices']) if cuda['devices'] else ''})\n")
    models = report["mediapipe_models"]
    out.write(f"pose models {'in the mediapipe wheel' if models['pose_models_in_wheel'] else 'MISSING'}\n")
    out.write(f"default solver {report['default_solver']}\n")
    smpl = report["smpl"]
    out.write(f"SMPL files  {'found: ' + smpl['files'][0] if smpl['found'] else 'missing'}"
              f"{'' if smpl['found'] else ' (' + smpl['how_to_get'] + ')'}\n")
    ckpt = report["str_checkpoint"]
    out.write(f"STR checkpoint {'found: ' + ckpt['path'] if ckpt['found'] else 'missing'}"
              f"{'' if ckpt['found'] else ' (' + ckpt['how_to_get'] + ')'}\n")
    for problem in report["problems"]:
        out.write(f"PROBLEM: {problem}\n")
    out.write("the default solver can run\n" if report["default_solver_can_run"]
              else "the default solver cannot run: fix the problems above\n")


def run_doctor(as_json: bool = False, smpl_dir: Path | None = None,
               str_checkpoint: Path | None = None, cache_dir: Path | None = None) -> int:
    report = gather(smpl_dir, str_checkpoint, cache_dir)
    if as_json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        _print_human(report)
    return int(ExitCode.OK) if report["default_solver_can_run"] else int(ExitCode.MODEL_PROBLEM)
