"""Import, on a background thread, modules that only a later stage needs.

A capture spends its first second importing and loading models before the first frame is
detected; a module that only the scene stage uses (``scipy.ndimage``, ~0.2 s to import on a
2-core CPU) would add to that wait, or, imported where it is used, to the stages after
detection. Imported on a thread while frames are decoded and detected (the landmark model
releases the GIL), it costs neither; the pipeline starts them once the first frame is detected,
so that they do not compete with loading the models. The stage that needs a module still imports
it itself, so an import error surfaces there, with its normal message.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Sequence

#: Modules imported lazily by the stages after detection (``contacts``: scipy.ndimage).
LATER_STAGE_MODULES: tuple[str, ...] = ("scipy.ndimage",)


class BackgroundImports:
    """Imports ``modules`` in order on a daemon thread from ``start()``; ``join()`` waits for
    them (call it before the interpreter may exit, e.g. when the capture ends). Import errors
    are not raised here (the stage that needs the module imports it again)."""

    def __init__(self, modules: Sequence[str] = LATER_STAGE_MODULES) -> None:
        self.modules = tuple(modules)
        self.failed: list[str] = []
        self._thread = threading.Thread(target=self._run, name="str-mocap-imports", daemon=True)

    def _run(self) -> None:
        for name in self.modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001 - re-raised by the stage that imports it
                self.failed.append(name)

    def start(self) -> BackgroundImports:
        self._thread.start()
        return self

    def join(self) -> None:
        """Wait for the imports (nothing to wait for if never started)."""
        if self._thread.ident is not None:
            self._thread.join()

    def __enter__(self) -> BackgroundImports:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.join()
