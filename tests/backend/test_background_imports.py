"""The later stages' heavy imports: not at start-up, done on a thread during detection."""

from __future__ import annotations

import subprocess
import sys

from inference_backend.background_imports import LATER_STAGE_MODULES, BackgroundImports


def test_start_up_does_not_import_the_later_stages_modules(backend_env: dict[str, str]) -> None:
    """Importing the command line and the pipeline (what runs before the first frame) leaves
    scipy.ndimage (~0.2 s) to the background thread; the scene stage's contacts still work."""
    code = (
        "import sys\n"
        "import inference_backend.cli, inference_backend.pipeline\n"
        "print('scipy.ndimage' in sys.modules)\n"
        "import numpy as np\n"
        "from inference_backend.contacts import ContactConfig, foot_contacts\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env=backend_env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False"]
    assert "scipy.ndimage" in LATER_STAGE_MODULES


def test_background_imports_import_on_a_thread_and_keep_errors_for_later(
    backend_env: dict[str, str],
) -> None:
    code = (
        "import sys, threading\n"
        "from inference_backend.background_imports import BackgroundImports\n"
        "assert 'scipy.ndimage' not in sys.modules\n"
        "with BackgroundImports(('scipy.ndimage', 'no_such_module_here', 'colorsys')) as bg:\n"
        "    pass\n"
        "print('scipy.ndimage' in sys.modules, 'colorsys' in sys.modules, bg.failed)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env=backend_env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "True True ['no_such_module_here']"
    idle = BackgroundImports(())
    idle.join()  # never started: nothing to wait for
