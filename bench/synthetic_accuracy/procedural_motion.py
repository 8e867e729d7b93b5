"""Procedural, smooth motion script for the synthetic figure (pure numpy, no anny, no bpy).

The script is a list of segments (idle, walk, turn, arm raises, squat, punches, kick). Each frame
gets a small set of *joint angles* in degrees; ``anny_figure`` turns them into anny ``local-ref``
bone rotations. Angle conventions (all in the body frame; the figure faces its -y axis, +x is its
left, +z is up, as in anny's rest pose):

- ``yaw``: root heading about world +z; 0 faces the camera (world -y), +90 faces world +x.
- ``hip_flex_{l,r}``: thigh swings forward (knee forward/up), degrees.
- ``knee_flex_{l,r}``: shin folds back.
- ``ankle_flex_{l,r}``: extra foot pitch (toes up positive) on top of keeping the foot level.
- ``shoulder_abd_{l,r}``: arm raised sideways from hanging (0) to overhead (~160).
- ``shoulder_flex_{l,r}``: arm raised forward from hanging (0) to horizontal (90).
- ``elbow_flex_{l,r}``: 0 = straight arm, 90 = forearm at right angle (folds forward/up).
- ``spine_flex``: forward lean of the trunk, split over the lower spine bones.
- ``walk_phase``: gait phase in radians (only meaningful while walking; used for diagnostics).
- ``walking``: 1 while a walk segment drives the feet, else 0 (diagnostics).
- ``stance_right``: 1 where the right foot is the planted (stance) foot, else 0 (left planted):
  while walking, the leg whose hip swings backward faster; the right foot during the left kick.

Frames are at ``fps``; all angle curves are C1-smooth except the deliberately fast punch/kick
(still smooth, but over a few frames).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ANGLE_NAMES: tuple[str, ...] = (
    "yaw",
    "hip_flex_l", "hip_flex_r", "knee_flex_l", "knee_flex_r", "ankle_flex_l", "ankle_flex_r",
    "shoulder_abd_l", "shoulder_abd_r", "shoulder_flex_l", "shoulder_flex_r",
    "elbow_flex_l", "elbow_flex_r", "spine_flex", "walk_phase", "walking", "stance_right",
)

#: Relaxed standing pose (degrees): slightly bent elbows, arms hanging.
REST_POSE: dict[str, float] = {
    "elbow_flex_l": 15.0, "elbow_flex_r": 15.0, "knee_flex_l": 3.0, "knee_flex_r": 3.0,
    "hip_flex_l": 2.0, "hip_flex_r": 2.0,
}


@dataclass(frozen=True)
class MotionConfig:
    """Timing and gait of the scripted motion. Durations in seconds, angles in degrees."""

    fps: float = 30.0
    idle_s: float = 0.4
    walk_s: float = 4.0
    walk_yaw_deg: float = 55.0           # heading while walking (across and toward the camera)
    cadence_hz: float = 0.95             # gait cycles (two steps) per second
    hip_amp_deg: float = 21.0
    knee_swing_deg: float = 55.0
    arm_swing_deg: float = 16.0
    turn1_s: float = 1.6                 # turn in place from walk_yaw to turn_to_deg
    turn_to_deg: float = -90.0
    turn2_s: float = 0.9                 # turn back to face the camera
    raise_s: float = 2.4                 # sideways raise to overhead, then forward raise
    squat_s: float = 2.2
    punch_s: float = 1.1                 # two quick jabs (right, left)
    kick_s: float = 1.3                  # quick front kick (left leg)
    tail_s: float = 0.3


#: Named scripts of the benchmark (``make_scene.py --script``). ``full``: the original 14 s clip.
#: ``inplace``: no walk; a turn (pivoting on the left foot), arm raises, a deep squat, punches and
#: a kick (the pelvis travels ~0.3 m in all). ``walk_depth``: a 2.6 s walk mostly toward the
#: camera (the person's distance changes by ~2.5 m: the focal length is observable), a turn back
#: to face the camera and a deep squat.
SCRIPTS: dict[str, MotionConfig] = {}


def script_config(name: str) -> MotionConfig:
    """The MotionConfig of a named script (see ``SCRIPTS``)."""
    if name not in SCRIPTS:
        raise SystemExit(f"unknown script {name!r}; choose from {sorted(SCRIPTS)}")
    return SCRIPTS[name]


def _smoothstep(x: np.ndarray) -> np.ndarray:
    """C1 ramp 0→1 on [0, 1] (clipped outside)."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _bump(t: np.ndarray, t0: float, rise: float, hold: float, fall: float) -> np.ndarray:
    """0→1 over ``rise`` s from t0, hold, 1→0 over ``fall`` s (smoothstep edges)."""
    up = _smoothstep((t - t0) / max(rise, 1e-6))
    down = _smoothstep((t - (t0 + rise + hold)) / max(fall, 1e-6))
    return up * (1.0 - down)


def segment_bounds(cfg: MotionConfig) -> dict[str, tuple[float, float]]:
    """Start and end time (s) of every named segment, in script order."""
    order = [("idle", cfg.idle_s), ("walk", cfg.walk_s), ("turn", cfg.turn1_s + cfg.turn2_s),
             ("arm_raise", cfg.raise_s), ("squat", cfg.squat_s), ("punch", cfg.punch_s),
             ("kick", cfg.kick_s), ("tail", cfg.tail_s)]
    out: dict[str, tuple[float, float]] = {}
    t = 0.0
    for name, dur in order:
        out[name] = (t, t + dur)
        t += dur
    return out


def total_frames(cfg: MotionConfig) -> int:
    """Number of frames of the whole script."""
    end = max(b for _, b in segment_bounds(cfg).values())
    return int(round(end * cfg.fps))


def build_angles(cfg: MotionConfig) -> dict[str, np.ndarray]:
    """Per-frame joint angles of the whole script: name -> (F,) float64 (degrees; phase radians)."""
    n = total_frames(cfg)
    t = np.arange(n, dtype=np.float64) / cfg.fps
    seg = segment_bounds(cfg)
    a = {name: np.zeros(n) for name in ANGLE_NAMES}
    for k, v in REST_POSE.items():
        a[k] += v

    # --- walk: sinusoidal gait, amplitude ramped in/out over half a second --------------------
    w0, w1 = seg["walk"]
    ramp = _smoothstep((t - w0) / 0.5) * (1.0 - _smoothstep((t - (w1 - 0.5)) / 0.5))
    in_walk = (t >= w0) & (t < w1)
    phase = 2.0 * np.pi * cfg.cadence_hz * np.clip(t - w0, 0.0, w1 - w0)
    a["walk_phase"] = np.where(in_walk, phase, 0.0)
    a["walking"] = in_walk.astype(np.float64)
    for side, off in (("l", 0.0), ("r", np.pi)):
        ph = phase + off
        a[f"hip_flex_{side}"] += ramp * cfg.hip_amp_deg * np.sin(ph)
        # knee folds during swing (hip moving forward: cos(ph) > 0), peak at mid-swing
        a[f"knee_flex_{side}"] += ramp * (cfg.knee_swing_deg * np.maximum(np.cos(ph), 0.0) ** 2
                                          + 6.0 * np.maximum(-np.cos(ph), 0.0))
        a[f"ankle_flex_{side}"] += ramp * 8.0 * np.maximum(np.cos(ph), 0.0)
        # arms swing opposite to the leg of the same side
        a[f"shoulder_flex_{side}"] += ramp * cfg.arm_swing_deg * -np.sin(ph)
        a[f"elbow_flex_{side}"] += ramp * 10.0 * (1.0 - np.sin(ph)) * 0.5

    # --- heading: walk direction, then turn in place and back to face the camera ------------
    t0, _ = seg["turn"]
    turn1 = _smoothstep((t - t0) / cfg.turn1_s)
    turn2 = _smoothstep((t - t0 - cfg.turn1_s) / cfg.turn2_s)
    yaw = cfg.walk_yaw_deg + (cfg.turn_to_deg - cfg.walk_yaw_deg) * turn1
    a["yaw"] = yaw + (0.0 - cfg.turn_to_deg) * turn2

    # --- arm raises: both arms sideways to overhead, down, then forward to horizontal -------
    r0, _ = seg["arm_raise"]
    half = cfg.raise_s / 2.0
    side_up = _bump(t, r0, 0.45 * half, 0.15 * half, 0.4 * half)
    fwd_up = _bump(t, r0 + half, 0.4 * half, 0.2 * half, 0.4 * half)
    for side in ("l", "r"):
        a[f"shoulder_abd_{side}"] += 155.0 * side_up
        a[f"shoulder_flex_{side}"] += 88.0 * fwd_up
        a[f"elbow_flex_{side}"] -= 12.0 * np.maximum(side_up, fwd_up)

    # --- squat: hips back, knees forward, trunk leans, arms forward for balance -------------
    s0, _ = seg["squat"]
    sq = _bump(t, s0 + 0.1, 0.8, 0.3, 0.8)
    for side in ("l", "r"):
        a[f"hip_flex_{side}"] += 95.0 * sq
        a[f"knee_flex_{side}"] += 115.0 * sq
        a[f"shoulder_flex_{side}"] += 75.0 * sq
    a["spine_flex"] += 28.0 * sq

    # --- punches: guard, then fast jabs (extension in ~4 frames) ----------------------------
    p0, _ = seg["punch"]
    guard = _bump(t, p0, 0.2, cfg.punch_s - 0.45, 0.25)
    for side in ("l", "r"):
        a[f"shoulder_flex_{side}"] += 45.0 * guard
        a[f"elbow_flex_{side}"] += 100.0 * guard
    for side, tj in (("r", p0 + 0.3), ("l", p0 + 0.6)):
        jab = _bump(t, tj, 0.12, 0.04, 0.14)
        a[f"shoulder_flex_{side}"] += 40.0 * jab
        a[f"elbow_flex_{side}"] -= 105.0 * jab

    # --- kick: left knee up, fast snap of the shin, recoil, foot down ----------------------
    k0, _ = seg["kick"]
    chamber = _bump(t, k0 + 0.1, 0.3, 0.35, 0.35)
    snap = _bump(t, k0 + 0.45, 0.1, 0.05, 0.12)
    a["hip_flex_l"] += 80.0 * chamber + 10.0 * snap
    a["knee_flex_l"] += 100.0 * chamber - 95.0 * snap
    a["ankle_flex_l"] -= 25.0 * snap
    a["spine_flex"] -= 8.0 * chamber  # lean back a little to balance
    a["shoulder_flex_l"] += 20.0 * chamber
    a["shoulder_flex_r"] += 20.0 * chamber

    # --- stance foot: the one moving backward relative to the pelvis while walking ----------
    dl, dr = np.gradient(a["hip_flex_l"]), np.gradient(a["hip_flex_r"])
    a["stance_right"] = np.where(in_walk, (dr < dl).astype(np.float64), 0.0)
    a["stance_right"][chamber > 1e-3] = 1.0
    return a


SCRIPTS.update({
    "full": MotionConfig(),
    "inplace": MotionConfig(idle_s=0.3, walk_s=0.0, walk_yaw_deg=0.0, turn1_s=1.0, turn2_s=0.6,
                            raise_s=1.6, squat_s=1.8, punch_s=1.1, kick_s=1.1, tail_s=0.2),
    "walk_depth": MotionConfig(idle_s=0.3, walk_s=2.6, walk_yaw_deg=25.0, turn1_s=0.6,
                               turn_to_deg=0.0, turn2_s=0.3, raise_s=0.0, squat_s=1.6,
                               punch_s=0.0, kick_s=0.0, tail_s=0.2),
    # 5.5 s walk across the view (heading +x), then the full script's turn; the handheld
    # clips (issue 11) render its first 240 frames (8 s) with a camera panning to follow.
    "walk_across": MotionConfig(walk_s=5.5, walk_yaw_deg=90.0),
})
