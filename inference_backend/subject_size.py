"""The subject's size: ``--height`` parsing and scaling a camera-frame track to a known height.

A single camera sees directions only: a person twice as tall twice as far away makes the same
image. The solvers take their absolute scale from the detector's generic body size (MediaPipe's
metric landmarks: ~1.64 m whoever it is), so a tall or short subject comes out the average
size, placed too close or too far, and the ground, the camera height and every distance
shrink or grow with it. A user who knows the height fixes the scale: the track's skeleton and
its camera-frame positions are scaled about the camera centre by ``given / estimated``, which
leaves its image exactly as it was; the ground, the world and the camera height then follow.

``--height`` takes one value for everyone (``1.85``) or values per track id
(``1:1.85,2:1.62``; tracks not listed keep their estimate). Heights in metres, 0.5-2.6.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from inference_backend.kinematics import forward_kinematics
from inference_backend.motion_types import CameraTrack

MIN_HEIGHT_M = 0.5
MAX_HEIGHT_M = 2.6
#: Head-top above the head joint and sole below the ankle joint (m), added to the rest skeleton
#: to give a standing height.
HEAD_TOP_M = 0.12
SOLE_M = 0.07


@dataclass(frozen=True)
class SubjectHeights:
    """Known standing heights (m): ``everyone`` for all tracks, or per track id."""

    everyone: float | None = None
    per_track: tuple[tuple[int, float], ...] = ()

    def for_track(self, track_id: int) -> float | None:
        """The given height of ``track_id`` (m), or None when it is to be estimated."""
        for tid, height in self.per_track:
            if tid == int(track_id):
                return height
        return self.everyone

    def to_text(self) -> str:
        """The ``--height`` text that parses back to this (empty when nothing is given)."""
        if self.everyone is not None:
            return f"{self.everyone:g}"
        return ",".join(f"{tid}:{h:g}" for tid, h in self.per_track)


def _metres(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"height {text!r} is not a number of metres (write it like 1.85: a "
                         "decimal point, no unit)") from None
    if not MIN_HEIGHT_M <= value <= MAX_HEIGHT_M:
        hint = (f" (centimetres? give metres: {value / 100:.2f})"
                if MIN_HEIGHT_M * 100 <= value <= MAX_HEIGHT_M * 100 else "")
        raise ValueError(f"height must be {MIN_HEIGHT_M}-{MAX_HEIGHT_M} m, got {text}{hint}")
    return value


def parse_heights(text: str) -> SubjectHeights:
    """``"1.85"`` -> everyone 1.85 m; ``"1:1.85,2:1.62"`` -> per track id. ValueError with a
    message naming the bad part otherwise."""
    text = text.strip()
    if not text:
        raise ValueError("empty height: give metres (1.85) or per track (1:1.85,2:1.62)")
    if ":" not in text:
        return SubjectHeights(everyone=_metres(text))
    pairs: dict[int, float] = {}
    for item in text.split(","):
        tid, sep, value = item.partition(":")
        if not sep:
            raise ValueError(f"bad height item {item!r}: use TRACK:METRES, e.g. 1:1.85")
        try:
            track = int(tid)
        except ValueError:
            raise ValueError(f"bad track id {tid!r} in {item!r}: track ids are integers") from None
        if track in pairs:
            raise ValueError(f"track {track} is given twice")
        pairs[track] = _metres(value)
    return SubjectHeights(per_track=tuple(sorted(pairs.items())))


def standing_height(rest_joints: np.ndarray) -> float:
    """Standing height (m) of a rest skeleton (24, 3): head joint to the lower ankle joint,
    plus the head top and the sole."""
    pos, _ = forward_kinematics(np.asarray(rest_joints, float), np.tile(np.eye(3), (1, 24, 1, 1)))
    return float(pos[0, 15, 1] - min(pos[0, 7, 1], pos[0, 8, 1]) + SOLE_M + HEAD_TOP_M)


def scale_track(track: CameraTrack, height_m: float) -> CameraTrack:
    """The track scaled about the camera centre so that its standing height is ``height_m``:
    the rest skeleton and every camera-frame position times one factor; the
    rotations, and so the image of every joint, are unchanged. ``info`` records the estimate
    (``estimated_height_m``) and ``height_source: "given"``."""
    estimated = standing_height(track.rest_joints)
    # The skeleton scales; the head top and sole added to it are fixed lengths.
    s = (float(height_m) - SOLE_M - HEAD_TOP_M) / (estimated - SOLE_M - HEAD_TOP_M)
    info = {**track.info, "estimated_height_m": estimated, "height_source": "given"}
    return replace(track, rest_joints=np.asarray(track.rest_joints) * s,
                   root_cam=np.asarray(track.root_cam) * s,
                   key_joints_cam=np.asarray(track.key_joints_cam) * s, info=info)


def apply_heights(tracks: list[CameraTrack], heights: SubjectHeights | None,
                  warnings: list[str]) -> list[CameraTrack]:
    """Every track with a given height scaled to it (``scale_track``); the others marked
    ``height_source: "estimated"``. Track ids given but not found get a warning."""
    out = []
    for tr in tracks:
        h = None if heights is None else heights.for_track(int(tr.track_id))
        out.append(scale_track(tr, h) if h is not None
                   else replace(tr, info={**tr.info, "height_source": "estimated"}))
    if heights is not None:
        found = {int(tr.track_id) for tr in tracks}
        for tid, _ in heights.per_track:
            if tid not in found:
                warnings.append(f"--height names track {tid}, which was not found (tracks: "
                                f"{', '.join(str(t) for t in sorted(found)) or 'none'})")
    return out
