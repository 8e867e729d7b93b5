"""Build the installable extension zip with Blender's own extension tool.

Usage: ``python -m str_blender_addon.package -o DIR [--blender-ext PATH | --blender EXE]``

The repository root is the extension root (``blender_manifest.toml`` + a three-line
``__init__.py``). The tool is the ``blender_ext.py`` that ships inside the ``bpy`` wheel (it uses
only the standard library), or a Blender executable's ``--command extension``. The zip is
validated after the build and its path printed on stdout. No bpy import happens here.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

#: Archive members that must never ship in the extension.
FORBIDDEN_PREFIXES = ("tests/", "bench/", "docs/", ".venv", ".git", "out/", "dist/")


class PackagingError(RuntimeError):
    """The extension could not be built; the message says what to do."""


@dataclass(frozen=True)
class PackageResult:
    zip_path: Path
    members: tuple[str, ...]


def repository_root() -> Path:
    """The checkout root (the folder holding ``blender_manifest.toml``)."""
    root = Path(__file__).resolve().parent.parent
    if not (root / "blender_manifest.toml").is_file():
        raise PackagingError(
            f"no blender_manifest.toml next to {root}: run this from a source checkout of STR Mocap"
        )
    return root


def find_blender_ext_tool() -> Path:
    """Locate ``blender_ext.py`` inside the installed ``bpy`` wheel without importing bpy."""
    spec = importlib.util.find_spec("bpy")
    if spec is None or not spec.submodule_search_locations:
        raise PackagingError(
            "Blender's extension tool was not found: install the bpy module "
            "(pip install -e '.[blender]') or pass --blender /path/to/blender"
        )
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
        if found:
            return found[-1]
    raise PackagingError("the bpy module has no scripts/addons_core/bl_pkg/cli/blender_ext.py")


def _tool_command(blender_ext: Path | None, blender: Path | None) -> list[str]:
    if blender is not None:
        return [str(blender), "--factory-startup", "--command", "extension"]
    return [sys.executable, str(blender_ext or find_blender_ext_tool())]


def _run(cmd: list[str]) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise PackagingError(
            f"{' '.join(cmd[-3:])} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}"
        )
    return proc.stdout


def build_extension(
    output_dir: Path, blender_ext: Path | None = None, blender: Path | None = None
) -> PackageResult:
    """Build and validate the extension zip into ``output_dir``; return its path and members."""
    root = repository_root()
    output_dir = Path(output_dir).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    tool = _tool_command(blender_ext, blender)
    before = set(output_dir.glob("*.zip"))
    _run([*tool, "build", "--source-dir", str(root), "--output-dir", str(output_dir)])
    built = sorted(set(output_dir.glob("*.zip")) - before) or sorted(
        output_dir.glob("str_mocap-*.zip"), key=lambda p: p.stat().st_mtime
    )
    if not built:
        raise PackagingError(f"the build reported success but wrote no zip into {output_dir}")
    zip_path = built[-1]
    _run([*tool, "validate", str(zip_path)])
    with zipfile.ZipFile(zip_path) as archive:
        members = tuple(archive.namelist())
    leaked = [m for m in members if m.startswith(FORBIDDEN_PREFIXES) or "__pycache__" in m]
    if leaked:
        raise PackagingError(f"the zip contains files that must not ship: {leaked[:5]}")
    return PackageResult(zip_path=zip_path, members=members)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m str_blender_addon.package", description=__doc__)
    parser.add_argument("-o", "--output-dir", type=Path, default=Path("dist"))
    parser.add_argument("--blender-ext", type=Path, help="path to Blender's blender_ext.py")
    parser.add_argument("--blender", type=Path, help="a Blender executable to build with instead")
    args = parser.parse_args(argv)
    try:
        result = build_extension(args.output_dir, args.blender_ext, args.blender)
    except PackagingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(result.zip_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
