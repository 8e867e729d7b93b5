"""Suite-wide safety net for Blender-as-a-module.

bpy 4.5 hangs at interpreter exit (4.2 segfaults) when an add-on class is still registered. Tests
must unregister what they register; this hook *checks* that they did (a leak fails the run with
the names of the leaked classes) and then leaves the process with ``os._exit`` so that a leak can
never turn into a silent CI hang.
"""

from __future__ import annotations

import os
import sys

import pytest

_state: dict[str, int] = {}


def _leaked_bpy_classes() -> list[str]:
    bpy = sys.modules.get("bpy")
    if bpy is None:
        return []
    return sorted(n for n in dir(bpy.types) if n.upper().startswith("STRMOCAP"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    leaked = _leaked_bpy_classes()
    if leaked:
        sys.stderr.write(f"\nERROR: add-on classes still registered at exit: {leaked}\n")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    _state["exitstatus"] = int(session.exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if "bpy" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_state.get("exitstatus", 0))
