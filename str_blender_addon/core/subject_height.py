"""The capture panel's Height field: one height for everyone or heights per track id.

Mirrors the backend's ``--height`` syntax (``inference_backend.subject_size``; a contract test
checks both accept the same texts): ``"1.85"`` or ``"1:1.85,2:1.62"``, metres, 0.5-2.6. The
standard library only (no bpy, no numpy)."""

from __future__ import annotations

MIN_HEIGHT_M = 0.5
MAX_HEIGHT_M = 2.6


def _metres(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"Height {text.strip()!r} is not a number of metres (e.g. 1.85).") from None
    if not MIN_HEIGHT_M <= value <= MAX_HEIGHT_M:
        raise ValueError(f"Height must be {MIN_HEIGHT_M}-{MAX_HEIGHT_M} m, got {text.strip()}.")
    return value


def normalise_heights(text: str) -> str:
    """The ``--height`` argument for the field's text ("" when empty: heights estimated).
    Raises ValueError with a message for the panel when the text is not valid."""
    text = text.strip()
    if not text:
        return ""
    if ":" not in text:
        return f"{_metres(text):g}"
    pairs: dict[int, float] = {}
    for item in text.split(","):
        tid, sep, value = item.partition(":")
        if not sep:
            raise ValueError(f"Height item {item.strip()!r}: use TRACK:METRES, e.g. 1:1.85.")
        try:
            track = int(tid)
        except ValueError:
            raise ValueError(f"Height item {item.strip()!r}: track ids are integers.") from None
        if track in pairs:
            raise ValueError(f"Height: track {track} is given twice.")
        pairs[track] = _metres(value)
    return ",".join(f"{t}:{h:g}" for t, h in sorted(pairs.items()))
