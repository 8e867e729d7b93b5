"""Exit codes and the one exception type the capture pipeline raises for expected failures.

Every failure a user can cause or fix (bad path, unreadable video, no person, missing model)
is a :class:`CaptureError` carrying an :class:`ExitCode`; anything else is an internal error
(exit code 1). The codes are part of the CLI contract (the add-on maps them to messages).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes of ``python -m inference_backend``."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    FILE_MISSING = 3
    NOT_A_VIDEO = 4
    ZERO_FRAMES = 5
    NO_PERSON = 6
    OUTPUT_NOT_WRITABLE = 7
    MODEL_PROBLEM = 8
    BAD_MOTION_FILE = 9         # motion-file commands: the input is not a valid motion file
    SOME_FAILED = 10            # batch: at least one video failed (the manifest says which and why)
    CANCELLED = 130


class CaptureError(Exception):
    """An expected, user-actionable failure with the exit code the CLI should return."""

    def __init__(self, code: ExitCode, message: str) -> None:
        super().__init__(message)
        self.code = ExitCode(code)
        self.message = message

    def __str__(self) -> str:
        return self.message


class CaptureCancelled(CaptureError):
    """Raised when the user asked to stop (SIGINT/SIGTERM/SIGBREAK or a cancel token)."""

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(ExitCode.CANCELLED, message)
