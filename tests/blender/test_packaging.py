"""The extension zip builds with Blender's own tool, installs into bpy with Blender's install
operator, enables and disables cleanly. Runs in a child interpreter so the extension install
never leaks into the test process; with ``dev.py test-blender-matrix`` it runs on bpy 4.2/5.0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

INSTALL_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import bpy, addon_utils
    zip_path = sys.argv[1]
    result = bpy.ops.extensions.package_install_files(
        filepath=zip_path, repo="user_default", enable_on_install=True)
    module = "bl_ext.user_default.str_mocap"
    enabled = {a.module for a in bpy.context.preferences.addons}
    ours = sorted(n for n in dir(bpy.types) if n.upper().startswith("STRMOCAP"))
    has_operator = hasattr(bpy.ops.strmocap, "capture")
    addon_utils.disable(module, default_set=True)
    enabled_after = {a.module for a in bpy.context.preferences.addons}
    left = sorted(n for n in dir(bpy.types) if n.upper().startswith("STRMOCAP"))
    print("RESULT " + json.dumps({
        "install": sorted(result), "version": bpy.app.version_string,
        "enabled": module in enabled, "classes": ours, "capture_op": has_operator,
        "enabled_after": module in enabled_after, "classes_after": left,
        "user_resources": bpy.utils.resource_path("USER"),
    }))
    """
)


@pytest.fixture(scope="module")
def extension_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "str_blender_addon.package", "-o", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert proc.returncode == 0, proc.stderr
    zip_path = Path(proc.stdout.strip().splitlines()[-1])
    assert zip_path.is_file()
    return zip_path


def test_zip_contains_only_what_an_extension_needs(extension_zip: Path) -> None:
    names = zipfile.ZipFile(extension_zip).namelist()
    assert "blender_manifest.toml" in names and "__init__.py" in names
    assert "str_blender_addon/__init__.py" in names
    assert "inference_backend/__main__.py" in names  # 'Set up backend' installs from here
    for forbidden in ("tests/", "bench/", "docs/", ".venv", ".git", "out/"):
        assert not [n for n in names if n.startswith(forbidden)], forbidden
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert extension_zip.stat().st_size < 2_000_000


def test_install_enable_disable_in_blender(extension_zip: Path, tmp_path: Path) -> None:
    script = tmp_path / "install.py"
    script.write_text(INSTALL_SCRIPT)
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "blender_user"))
    env.pop("PYTHONPATH", None)  # the installed extension must stand on its own
    proc = subprocess.run(
        [sys.executable, str(script), str(extension_zip)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    info = json.loads(lines[-1][len("RESULT "):])
    expected = os.environ.get("STR_MOCAP_EXPECT_BPY")
    if expected:
        assert info["version"].startswith(expected), info["version"]
    assert info["install"] == ["FINISHED"]
    assert info["enabled"], info
    assert "STRMOCAP_PT_main" in info["classes"] and info["capture_op"], info
    assert not info["enabled_after"] and info["classes_after"] == [], info
    assert str(tmp_path) in info["user_resources"]  # nothing written to the real user config
