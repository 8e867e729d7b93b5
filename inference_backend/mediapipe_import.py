"""Import mediapipe's graph bindings and protos without its package ``__init__``.

``import mediapipe`` runs ``mediapipe/__init__.py``, which imports every legacy solution (and
with them OpenCV and matplotlib.pyplot) and every Tasks Python API: about 0.6 CPU-seconds of the
capture's start-up (measured with mediapipe 0.10.21), although the detector needs only the
TaskRunner binding, the packet helpers and a few protos (~0.1 CPU-s).

``lean_mediapipe()`` registers the ``mediapipe`` package object *without executing* its
``__init__`` (submodules then import as usual). The first access to a name the package
``__init__`` would have defined (``mediapipe.solutions``, ``mediapipe.Image``, ...) executes the
real ``__init__`` into that same module object, so code elsewhere that does ``import mediapipe``
and uses it keeps working, just later. Nothing happens at import time of this module.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from importlib import metadata
from types import ModuleType

_PACKAGE = "mediapipe"
_lock = threading.RLock()


def lean_mediapipe() -> ModuleType:
    """The ``mediapipe`` package module, registered lazily when it is not imported yet."""
    with _lock:
        module = sys.modules.get(_PACKAGE)
        if module is not None:
            return module
        spec = importlib.util.find_spec(_PACKAGE)
        if spec is None or spec.loader is None:
            raise ImportError("mediapipe is not installed")
        module = importlib.util.module_from_spec(spec)
        state = {"complete": False}

        def complete(name: str) -> object:
            """PEP 562 fallback: run the real package ``__init__`` once, then look again."""
            with _lock:
                if not state["complete"]:
                    state["complete"] = True
                    spec.loader.exec_module(module)  # type: ignore[union-attr]
            if name in module.__dict__:
                return module.__dict__[name]
            raise AttributeError(f"module {_PACKAGE!r} has no attribute {name!r}")

        module.__getattr__ = complete  # type: ignore[attr-defined]
        sys.modules[_PACKAGE] = module
        return module


def mediapipe_version() -> str:
    """The installed mediapipe version, without importing mediapipe."""
    try:
        return metadata.version(_PACKAGE)
    except metadata.PackageNotFoundError:
        return str(getattr(lean_mediapipe(), "__version__", "unknown"))
