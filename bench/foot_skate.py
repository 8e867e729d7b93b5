"""Foot skating within contacts: how far planted feet travel in the world.

Usage:
  python bench/foot_skate.py MOTION.npz                      # every person of a motion file
  python bench/foot_skate.py MOTION.npz --gt scene_gt.npz    # + the rendered truth (one person)

For every person and foot it takes the contact segments (runs of frames where the foot's
contact flag, either of its two channels >= 0.5, stays on; the motion file's ``contacts``
(P, F, 4) are left ankle, left ball-of-foot, right ankle, right ball-of-foot) and prints, over
the segments of at least 3 frames:

* ``ankle`` / ``toe``: the largest horizontal distance (m) of the ankle / ball-of-foot joint
  from where it was at the segment's first frame ("travel": what an animator sees slide);
* ``pivot``: the horizontal path length (m) of the foot's *planted point* within the segment:
  per frame step, the horizontal displacement of whichever of the two joints is lower at that
  frame. A rolling foot turns about its heel, then its ball: the ankle travels while the ball
  is planted, but the lower joint never slides. This is the point that should stay (it is the
  one the contact flag refers to: the channel that is on is the low one);
* ``still``: the fraction of the segment's frame steps in which that planted point moves
  horizontally slower than 0.1 m/s (a foot at rest in a 30 fps render moves < 1 mm/frame);

as median / p90 / max over the segments, in metres and as a fraction of leg length (hip-knee-
ankle, median over frames). With ``--gt`` the same numbers are printed for the truth's own
joints within the truth's contacts (``contact_truth``, lowest foot vertex within 3 cm of the
floor; on these renders they also cover low swings, so they are no reference for stillness) and
for the truth's joints within *our* segments: if the truth's foot moves inside our segments,
our segments run into the swing; if it does not while ours does, we skate. ``ours, truth
still`` is the skating itself: our planted point's path (``pivot``) over the steps of our
contacts in which the truth's planted point stands still.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

#: SMPL joint indices: hips, knees, ankles, balls of the feet.
SMPL = {"hip": (1, 2), "knee": (4, 5), "ankle": (7, 8), "toe": (10, 11)}
#: The rendered truth's joint names (bench/synthetic_accuracy/make_scene.py).
GT_NAMES = {"hip": ("left_hip", "right_hip"), "knee": ("left_knee", "right_knee"),
            "ankle": ("left_ankle", "right_ankle"), "toe": ("left_foot", "right_foot")}
STILL_MPS = 0.1


def segments(flag: np.ndarray, min_len: int = 3) -> list[tuple[int, int]]:
    """[start, end) runs of True in a (F,) mask, at least ``min_len`` long."""
    f = np.r_[False, np.asarray(flag, bool), False].astype(int)
    d = np.diff(f)
    return [(a, b) for a, b in zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1))
            if b - a >= min_len]


def leg_length(hip: np.ndarray, knee: np.ndarray, ankle: np.ndarray) -> float:
    return float(np.nanmedian(np.linalg.norm(hip - knee, axis=-1)
                              + np.linalg.norm(knee - ankle, axis=-1)))


def planted_speed(ankle: np.ndarray, toe: np.ndarray, times: np.ndarray) -> np.ndarray:
    """(F-1,) horizontal speed (m/s) of the lower of ankle / toe at each frame step."""
    low_is_toe = toe[:-1, 1] < ankle[:-1, 1]
    step = np.where(low_is_toe, np.linalg.norm(np.diff(toe[:, [0, 2]], axis=0), axis=1),
                    np.linalg.norm(np.diff(ankle[:, [0, 2]], axis=0), axis=1))
    return step / np.maximum(np.diff(times), 1e-6)


def segment_drift(ankle: np.ndarray, toe: np.ndarray, times: np.ndarray,
                  segs: list[tuple[int, int]], steps: np.ndarray | None = None
                  ) -> dict[str, np.ndarray]:
    """Per segment: ankle / toe travel (m), planted-point path (m), still fraction.
    ankle, toe: (F, 3) world, Y up; times: (F,) s; steps: (F-1,) bool, only these frame steps
    count toward the planted-point path (None: all)."""
    out = {"ankle": [], "toe": [], "pivot": [], "still": []}
    for a, b in segs:
        an, to = ankle[a:b], toe[a:b]
        out["ankle"].append(np.linalg.norm((an - an[0])[:, [0, 2]], axis=1).max())
        out["toe"].append(np.linalg.norm((to - to[0])[:, [0, 2]], axis=1).max())
        low_is_toe = to[:-1, 1] < an[:-1, 1]                      # lower joint at each step
        step_a = np.linalg.norm(np.diff(an[:, [0, 2]], axis=0), axis=1)
        step_t = np.linalg.norm(np.diff(to[:, [0, 2]], axis=0), axis=1)
        step = np.where(low_is_toe, step_t, step_a)
        dt = np.maximum(np.diff(times[a:b]), 1e-6)
        out["pivot"].append(step.sum() if steps is None else step[steps[a:b - 1]].sum())
        out["still"].append(float(np.mean(step / dt < STILL_MPS)))
    return {k: np.asarray(v, float) for k, v in out.items()}


def summarise(name: str, d: dict[str, np.ndarray], leg: float) -> dict:
    n = len(d["pivot"])
    row = {"segments": n, "leg_m": leg}
    if n == 0:
        print(f"  {name:34s} no contact segments")
        return row
    parts = []
    for k in ("pivot", "toe", "ankle"):
        v = d[k]
        med, p90, mx = np.median(v), np.percentile(v, 90), v.max()
        row[k] = {"median_m": med, "p90_m": p90, "max_m": mx}
        parts.append(f"{k} {100*med:4.1f}/{100*p90:4.1f}/{100*mx:4.1f} cm "
                     f"({100*med/leg:3.0f}/{100*p90/leg:3.0f}/{100*mx/leg:3.0f} %)")
    row["still_median"] = float(np.median(d["still"]))
    print(f"  {name:34s} n={n:2d} " + "  ".join(parts)
          + f"  still {100*row['still_median']:3.0f} %")
    return row


def motion_person(m: dict, p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(joints (F, 24, 3), contacts per foot (F, 2) bool, valid (F,), times (F,))."""
    j = np.asarray(m["joints3d"][p], float)
    c = np.asarray(m["contacts"][p]) >= 0.5
    valid = np.asarray(m["valid"][p], bool)
    feet = np.stack([c[:, :2].any(1), c[:, 2:].any(1)], 1) & valid[:, None]
    times = np.asarray(m["timestamps"], float) if "timestamps" in m else \
        np.arange(len(j)) / float(m["header"].get("fps", 30.0))
    return j, feet, valid, times


def report_motion(m: dict, persons: list[int], gt: dict | None = None) -> dict:
    res = {}
    for p in persons:
        j, feet, valid, times = motion_person(m, p)
        leg = leg_length(*(j[valid][:, SMPL[k][0]] for k in ("hip", "knee", "ankle")))
        print(f"person {p} (track {int(m['track_ids'][p]) if 'track_ids' in m else p}): "
              f"{int(valid.sum())} valid frames, leg {leg:.3f} m; "
              "pivot / toe / ankle: median/p90/max over segments")
        res[p] = {}
        for side, name in enumerate(("left", "right")):
            segs = segments(feet[:, side])
            d = segment_drift(j[:, SMPL["ankle"][side]], j[:, SMPL["toe"][side]], times, segs)
            res[p][name] = {"ours": summarise(f"{name} ours in our contacts", d, leg)}
            if gt is None:
                continue
            frames = np.asarray(m["frame_indices"])
            gj = gt["joints_yup"][frames]
            idx = {k: [gt["names"].index(n) for n in v] for k, v in GT_NAMES.items()}
            gleg = leg_length(*(gj[:, idx[k][0]] for k in ("hip", "knee", "ankle")))
            g_an, g_to = gj[:, idx["ankle"][side]], gj[:, idx["toe"][side]]
            truth = np.asarray(gt["contact_truth"][frames][:, side], bool) & valid
            tsegs = segments(truth)
            res[p][name]["truth_in_truth"] = summarise(
                f"{name} truth in true contacts", segment_drift(g_an, g_to, times, tsegs), gleg)
            res[p][name]["truth_in_ours"] = summarise(
                f"{name} truth in our contacts", segment_drift(g_an, g_to, times, segs), gleg)
            # The skating itself: our planted point's path over the steps of our contacts in
            # which the truth's planted point stands still (< STILL_MPS).
            still = planted_speed(g_an, g_to, times) < STILL_MPS
            res[p][name]["ours_truth_still"] = summarise(
                f"{name} ours, truth still", segment_drift(
                    j[:, SMPL["ankle"][side]], j[:, SMPL["toe"][side]], times, segs, still), leg)
            res[p][name]["ours_in_truth"] = summarise(
                f"{name} ours in true contacts",
                segment_drift(j[:, SMPL["ankle"][side]], j[:, SMPL["toe"][side]], times, tsegs),
                leg)
    return res


def load_npz(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as d:
        out = {k: d[k] for k in d.files}
    out["header"] = json.loads(str(out["header"]))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("motion", type=Path)
    ap.add_argument("--gt", type=Path, default=None, help="a rendered clip's scene_gt.npz")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = ap.parse_args(argv)
    m = load_npz(args.motion)
    gt = None
    persons = list(range(m["joints3d"].shape[0]))
    if args.gt is not None:
        sys.path.insert(0, str(Path(__file__).resolve().parent / "synthetic_accuracy"))
        from run_bench import load_gt, pick_person  # noqa: PLC0415
        gt = load_gt(args.gt)
        gt["names"] = gt["header"]["joint_names"]
        persons = [pick_person(m, gt)]
    res = report_motion(m, persons, gt)
    if args.json is not None:
        args.json.write_text(json.dumps(res, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
