"""Does a cue predict a limb's depth order better than the detector? (issue 17 item 6)

For each limb bone (upper arm, forearm, thigh, shin; both sides) and each frame where the
truth inclines the bone clearly in depth (|dz| > ``--min-incline`` of its length, default
sin 17 deg), the *order* is whether the child joint is nearer the camera than its parent.
Prints, per bone, how often the detector's metric landmarks get it wrong and what each
candidate cue says on the frames where the detector is right and where it is wrong:

- ``occl``: occlusion evidence. A child joint whose image point lies inside the body's own
  outline drawn from the image landmarks (the shoulders-hips quad, capsules round the other
  limbs' segments, a disc for the head) is in front of that part when the detector calls it
  visible (visibility >= ``--vis-front``) and behind it when not (< ``--vis-behind``); the order
  against the parent follows when the occluder lies at the parent's depth (torso for the
  upper arms and thighs; the occluding limb's own depth otherwise, taken from the detector).
- ``body``: the anatomical prior, child in front of the body for the upper arms and thighs
  (flexion is far more common than extension and larger), the knee never bending forwards for
  the shins, the elbow bending towards the front of the upper arm for the forearms (body
  frame from the detector's shoulders and hips).
- ``vis<thr``: frames whose child visibility is below the bone's median (and 0.99), where the
  detector is wrong / right.

``--rom``: the shoulder's range of motion (limb_depth.ShoulderRange) on the upper arms, on the
exact inputs the solver's limb lift sees (the cleaned landmarks, the focal length and the
detector's root, recorded from a solve of the cached observations): per arm, frames where it
decides (one of the elbow's two candidates out of range), how often its order is right against
the truth where the detector was wrong / right, the elbow's offset error from the shoulder
there (detector → rule), and the same for ``front_fraction`` 0.2; plus the detector's torso
axes against the truth's.

Reads a bench clip's cached ``observations.npz`` (run_bench.py --cached) and ``scene_gt.npz``;
no capture. Only the tuning clips may steer choices (docs/accuracy.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from raw_landmarks import best_track  # noqa: E402

MP = {"l_sh": 11, "r_sh": 12, "l_el": 13, "r_el": 14, "l_wr": 15, "r_wr": 16, "l_hip": 23,
      "r_hip": 24, "l_kn": 25, "r_kn": 26, "l_an": 27, "r_an": 28, "nose": 0}
#: name -> (parent, child, kind)
BONES = {
    "l_uparm": ("l_sh", "l_el", "root"), "r_uparm": ("r_sh", "r_el", "root"),
    "l_forearm": ("l_el", "l_wr", "arm_hinge"), "r_forearm": ("r_el", "r_wr", "arm_hinge"),
    "l_thigh": ("l_hip", "l_kn", "root"), "r_thigh": ("r_hip", "r_kn", "root"),
    "l_shin": ("l_kn", "l_an", "leg_hinge"), "r_shin": ("r_kn", "r_an", "leg_hinge"),
}
#: GT joint names for the MP keys
GT_NAME = {"l_sh": "left_shoulder", "r_sh": "right_shoulder", "l_el": "left_elbow",
           "r_el": "right_elbow", "l_wr": "left_wrist", "r_wr": "right_wrist",
           "l_hip": "left_hip", "r_hip": "right_hip", "l_kn": "left_knee", "r_kn": "right_knee",
           "l_an": "left_ankle", "r_an": "right_ankle"}
SEGMENTS_2D = [("l_sh", "l_el"), ("l_el", "l_wr"), ("r_sh", "r_el"), ("r_el", "r_wr"),
               ("l_hip", "l_kn"), ("l_kn", "l_an"), ("r_hip", "r_kn"), ("r_kn", "r_an")]


def _point_in_quad(p: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """p (F, 2) inside the polygon quad (F, 4, 2) (even-odd rule)."""
    inside = np.zeros(len(p), bool)
    for i in range(4):
        a, b = quad[:, i], quad[:, (i + 1) % 4]
        cond = (a[:, 1] > p[:, 1]) != (b[:, 1] > p[:, 1])
        x = a[:, 0] + (p[:, 1] - a[:, 1]) / np.where(b[:, 1] == a[:, 1], 1e-9, b[:, 1] - a[:, 1]) \
            * (b[:, 0] - a[:, 0])
        inside ^= cond & (p[:, 0] < x)
    return inside


def _seg_dist(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance (F,) of p (F, 2) to segments a-b (F, 2) and the segment parameter t."""
    ab = b - a
    t = np.clip(np.sum((p - a) * ab, -1) / np.maximum(np.sum(ab * ab, -1), 1e-9), 0, 1)
    return np.linalg.norm(p - (a + t[:, None] * ab), axis=-1), t


def occluders(uv: np.ndarray, child: str, torso_len: np.ndarray, radius: float
              ) -> dict[str, np.ndarray]:
    """Which body parts' outlines (from the image landmarks uv (F, 33, 2)) contain the child
    joint's image point: {'torso': (F,), '<seg>': (F,), ...} (segments not touching the child,
    capsules of radius ``radius`` x torso length)."""
    p = uv[:, MP[child]]
    quad = uv[:, [MP["l_sh"], MP["r_sh"], MP["r_hip"], MP["l_hip"]]]
    out = {"torso": _point_in_quad(p, quad)}
    for a, b in SEGMENTS_2D:
        if child in (a, b):
            continue
        # the limb the child hangs from: skip its own chain (upper arm for a wrist)
        if child[:2] == a[:2] and {a, b} & {"l_sh", "r_sh", "l_hip", "r_hip"} and \
                child in ("l_wr", "r_wr", "l_an", "r_an"):
            continue
        d, _ = _seg_dist(p, uv[:, MP[a]], uv[:, MP[b]])
        out[f"{a}-{b}"] = d < radius * torso_len
    return out


def body_frame(world: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(up, left, forward) unit vectors (F, 3) of the detector's torso in camera axes."""
    ls, rs, lh, rh = (world[:, MP[n]] for n in ("l_sh", "r_sh", "l_hip", "r_hip"))
    up = 0.5 * (ls + rs) - 0.5 * (lh + rh)
    up /= np.linalg.norm(up, axis=-1, keepdims=True)
    left = 0.5 * (ls - rs) + 0.5 * (lh - rh)
    left -= np.sum(left * up, -1, keepdims=True) * up
    left /= np.linalg.norm(left, axis=-1, keepdims=True)
    # out of the chest: left x up (camera axes, y down; checked against the nose below)
    fwd = np.cross(left, up)
    return up, left, fwd


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="+", type=Path)
    ap.add_argument("--min-incline", type=float, default=float(np.sin(np.radians(17))))
    ap.add_argument("--vis-front", type=float, default=0.9)
    ap.add_argument("--vis-behind", type=float, default=0.5)
    ap.add_argument("--radius", type=float, default=0.12)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--rom", action="store_true",
                    help="the shoulder range-of-motion report instead (see the docstring)")
    ap.add_argument("--margin", type=float, default=None,
                    help="--rom: ShoulderRange.margin_deg (default: the config's)")
    args = ap.parse_args(argv)
    if args.rom:
        for clip in args.clips:
            rom_report(clip, args.margin, args.min_incline)
        return 0
    report = {}
    for clip in args.clips:
        with np.load(clip / "scene_gt.npz", allow_pickle=False) as d:
            gt = {k: d[k] for k in d.files}
        names = json.loads(str(gt["header"]))["joint_names"]
        from run_bench import load_gt  # noqa: PLC0415
        g = load_gt(clip / "scene_gt.npz")
        with np.load(clip / "observations.npz", allow_pickle=False) as d:
            raw = {k: d[k] for k in d.files}
        k = best_track(raw, g["uv"][:, g["compare_idx"]])
        ok = raw["present"][k] & (raw["frame_indices"] < len(gt["joints_cam"]))
        fr = raw["frame_indices"][ok]
        world = raw["world"][k][ok].astype(float)
        img = raw["image"][k][ok].astype(float)
        uv, vis = img[..., :2], img[..., 2]
        W, H = json.loads(str(raw["info"]))["width"], json.loads(str(raw["info"]))["height"]
        uv = uv * np.array([W, H]) if uv.max() <= 2.0 else uv
        truth = {n: gt["joints_cam"][fr, names.index(GT_NAME[n])] for n in GT_NAME}
        torso_len = np.linalg.norm(0.5 * (uv[:, 11] + uv[:, 12]) - 0.5 * (uv[:, 23] + uv[:, 24]),
                                   axis=-1)
        up, left, fwd = body_frame(world)
        # Which way is 'forward'? The nose lies in front of the mid-shoulder point.
        nose_off = world[:, 0] - 0.5 * (world[:, 11] + world[:, 12])
        fsign = np.sign(np.median(np.sum(nose_off * fwd, -1)))
        fwd = fwd * fsign
        clip_rep = {}
        print(f"\n== {clip.name}: {len(fr)} frames; facing the camera (detector fwd_z<0) in "
              f"{np.mean(fwd[:, 2] < 0):.0%}")
        print(f"{'bone':10s} {'incl':>5s} {'det wrong':>9s} | {'occl fires (R/W)':>16s} "
              f"{'occl right|det wrong':>20s} {'occl right|det right':>20s} | "
              f"{'body right|W':>12s} {'body right|R':>12s} | {'vis<thr: W/R':>12s}")
        for bone, (pa, ch, kind) in BONES.items():
            tdz = truth[ch][:, 2] - truth[pa][:, 2]
            tl = np.linalg.norm(truth[ch] - truth[pa], axis=-1)
            incl = np.abs(tdz) > args.min_incline * tl
            t_front = tdz < 0                            # child nearer the camera
            d_front = (world[:, MP[ch], 2] - world[:, MP[pa], 2]) < 0
            wrong = incl & (d_front != t_front)
            right = incl & (d_front == t_front)
            # occlusion cue: vs torso for root bones; vs any occluder otherwise
            occ = occluders(uv, ch, torso_len, args.radius)
            inside = np.zeros(len(fr), bool)
            occ_front = np.zeros(len(fr), bool)
            for part, m in occ.items():
                if part == "torso":
                    ref_depth = world[:, MP[pa], 2]     # the torso is at the parent's depth
                else:
                    a, b = part.split("-")
                    ref_depth = 0.5 * (world[:, MP[a], 2] + world[:, MP[b], 2])
                inside |= m
                # child in front of the occluder; in front of the parent when the occluder lies
                # in front of (or at) the parent's depth (detector's depths for that)
                occ_front |= m & (ref_depth <= world[:, MP[pa], 2] + 0.02)
            v = vis[:, MP[ch]]
            says_front = inside & occ_front & (v >= args.vis_front)
            says_behind = inside & (v < args.vis_behind)
            fires = says_front | says_behind
            occ_right = (says_front & t_front) | (says_behind & ~t_front)
            # body prior
            if kind == "root":
                # child in front of the body: pick the candidate whose offset has fwd > 0
                body_front = fwd[:, 2] < 0               # front of body = nearer camera iff facing
            elif kind == "leg_hinge":
                # the knee bends backwards: the shin leans back from the thigh line
                thigh = world[:, MP[pa]] - world[:, MP[BONES[bone.replace('shin', 'thigh')][0]]]
                body_front = _hinge_pick(thigh, world, pa, ch, left, flex_back=True)
            else:
                upper = world[:, MP[pa]] - world[:, MP[BONES[bone.replace('forearm', 'uparm')][0]]]
                body_front = _hinge_pick(upper, world, pa, ch, left, flex_back=False)
            body_right = body_front == t_front
            med = np.median(v[incl]) if incl.any() else 1.0
            low = v < min(med, 0.99)
            print(f"{bone:10s} {incl.sum():5d} {wrong.sum():9d} | "
                  f"{(fires & right).sum():7d}/{(fires & wrong).sum():<8d} "
                  f"{(occ_right & wrong).sum():9d}/{(fires & wrong).sum():<10d} "
                  f"{(occ_right & right).sum():9d}/{(fires & right).sum():<10d} | "
                  f"{(body_right & wrong).sum():5d}/{wrong.sum():<6d} "
                  f"{(body_right & right).sum():5d}/{right.sum():<6d} | "
                  f"{(low & wrong).sum():4d}/{(low & right).sum():<4d}")
            clip_rep[bone] = {
                "inclined": int(incl.sum()), "det_wrong": int(wrong.sum()),
                "occl_fires_right": int((fires & right).sum()),
                "occl_fires_wrong": int((fires & wrong).sum()),
                "occl_correct_where_det_wrong": int((occ_right & wrong).sum()),
                "occl_correct_where_det_right": int((occ_right & right).sum()),
                "body_correct_where_det_wrong": int((body_right & wrong).sum()),
                "body_correct_where_det_right": int((body_right & right).sum()),
                "inside_any": int((inside & incl).sum()),
                "vis_wrong_mean": float(v[wrong].mean()) if wrong.any() else None,
                "vis_right_mean": float(v[right].mean()) if right.any() else None,
            }
        report[clip.name] = clip_rep
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


def solver_lift_inputs(clip: Path) -> tuple[dict, np.ndarray]:
    """The arguments the default solver passes to ``lift_limbs`` for the clip's best track
    (cached observations, the capture's focal length choice) and that track's frame indices
    into the video."""
    from dataclasses import replace  # noqa: PLC0415

    import cached_capture  # noqa: PLC0415

    from inference_backend import solver_default  # noqa: PLC0415
    from inference_backend.limb_depth import LimbDepthConfig  # noqa: PLC0415
    from inference_backend.solvers import SolveInput  # noqa: PLC0415

    tracks, info, timestamps, frame_indices, _ = cached_capture.observe_cached(
        clip / "synthetic.mp4", clip / "observations.npz")
    from_lines = cached_capture.lines_fov(clip / "synthetic.mp4", tracks)[0]
    calls: list[dict] = []
    original = solver_default.lift_limbs

    def record(metric, image, weights, K, root, config):
        calls.append({"metric": metric.copy(), "image": image.copy(), "weights": weights.copy(),
                      "K": K.copy(), "root": root.copy()})
        return original(metric, image, weights, K, root, config)

    solver_default.lift_limbs = record
    try:
        cfg = replace(solver_default.SolverConfig(),
                      limb_depth=LimbDepthConfig(range_of_motion=True))
        solver = solver_default.DefaultSolver(cfg)
        solver.solve(SolveInput(info, tuple(tracks), timestamps, None, from_lines),
                     lambda *a: None)
    finally:
        solver_default.lift_limbs = original
    from run_bench import load_gt  # noqa: PLC0415
    g = load_gt(clip / "scene_gt.npz")
    with np.load(clip / "observations.npz", allow_pickle=False) as d:
        raw = {k: d[k] for k in d.files}
    k = best_track(raw, g["uv"][:, g["compare_idx"]])
    frames = np.where(raw["present"][k])[0]
    call = [c for c in calls if len(c["metric"]) == len(frames)][0]
    return call, raw["frame_indices"][frames]


def rom_report(clip: Path, margin: float | None, min_incline: float) -> None:
    """Print the shoulder range-of-motion rule's firing and correctness (see ``--rom``)."""
    from dataclasses import replace  # noqa: PLC0415

    from run_bench import load_gt, segment_masks  # noqa: PLC0415

    from inference_backend.limb_depth import (  # noqa: PLC0415
        LM,
        ShoulderRange,
        bone_candidates,
        range_pick,
        torso_axes,
        torso_forward,
        view_rays,
    )

    limits = ShoulderRange() if margin is None else replace(ShoulderRange(), margin_deg=margin)
    call, vframes = solver_lift_inputs(clip)
    g = load_gt(clip / "scene_gt.npz")
    names = g["header"]["joint_names"]
    inside = vframes < len(g["joints_cam"])
    vframes = np.where(inside, vframes, 0)
    truth = g["joints_cam"][vframes]
    met, img, w, K, root = (call[n] for n in ("metric", "image", "weights", "K", "root"))
    cam = met + root[:, None, :]
    ray = view_rays(img, K)
    up, fwd = torso_axes(cam)
    # the truth's torso (its joints' shoulders and hips) in the landmarks' layout
    tpts = np.full_like(cam, np.nan)
    for n in ("left_shoulder", "right_shoulder", "left_hip", "right_hip"):
        tpts[:, LM[n]] = truth[:, names.index(n)]
    tup, tfwd = torso_axes(tpts)
    ang = lambda a, b: np.degrees(np.arccos(np.clip(np.sum(a * b, -1), -1, 1)))  # noqa: E731
    print(f"\n== {clip.name}: {len(cam)} frames; margin {limits.margin_deg:g} deg. Detector torso "
          f"vs truth: up {np.nanmedian(ang(up, tup)):.0f} deg median "
          f"(p90 {np.nanpercentile(ang(up, tup), 90):.0f}), forward "
          f"{np.nanmedian(ang(fwd, tfwd)):.0f} (p90 {np.nanpercentile(ang(fwd, tfwd), 90):.0f})")
    segs = segment_masks(g, vframes)
    print(f"{'arm':6s} {'incl':>4s} {'detW':>4s} | {'ROM fires':>9s} {'right|detW':>10s} "
          f"{'right|detR':>10s} {'flat':>4s} {'err det→rom (mm)':>17s} | "
          f"(flips only) {'f0.2 fires':>10s} {'right|W':>7s} {'right|R':>7s} {'err→f0.2':>8s} | fires by segment")
    for side in ("left", "right"):
        pa, ch = LM[f"{side}_shoulder"], LM[f"{side}_elbow"]
        ok = (w[:, pa] >= 0.5) & (w[:, ch] >= 0.5) & inside
        length = max(float(np.median(np.linalg.norm(cam[ok, ch] - cam[ok, pa], axis=-1))),
                     float(np.median(np.linalg.norm((ray[:, ch] * cam[:, ch, 2:3]
                                                     - ray[:, pa] * cam[:, pa, 2:3])[ok, :2],
                                                    axis=-1))))
        near, far = bone_candidates(cam[:, pa], ray[:, ch], length)
        decided, near_ok = range_pick(cam[:, pa], near, far, up, fwd, limits)
        decided &= ok
        t_off = truth[:, names.index(f"{side}_elbow")] - truth[:, names.index(f"{side}_shoulder")]
        tl = np.linalg.norm(t_off, axis=-1)
        incl = ok & (np.abs(t_off[:, 2]) > min_incline * tl)
        t_front = t_off[:, 2] < 0
        d_off = cam[:, ch] - cam[:, pa]
        d_front = d_off[:, 2] < 0
        det_wrong = incl & (d_front != t_front)
        chosen = np.where(near_ok[:, None], near, far) - cam[:, pa]
        c_front = chosen[:, 2] < 0                     # the chosen candidate nearer the camera
        rom_right = c_front == t_front
        err_det = np.linalg.norm(d_off - t_off, axis=-1) * 1000
        err_rom = np.linalg.norm(chosen - t_off, axis=-1) * 1000
        # flips only: where the detector's order already agrees, its offset stays
        err_flip = np.where(c_front == d_front, err_det, err_rom)
        # front_fraction 0.2 for comparison
        deep = np.minimum(cam[:, pa, 2] - near[:, 2], far[:, 2] - cam[:, pa, 2])
        f_fire = ok & (deep > 0.2 * length) & np.isfinite(torso_forward(cam)).all(-1)
        in_front = np.sum((near - far) * torso_forward(cam), -1) >= 0
        f_off = np.where(in_front[:, None], near, far) - cam[:, pa]
        f_right = (f_off[:, 2] < 0) == t_front
        err_f = np.linalg.norm(f_off - t_off, axis=-1) * 1000
        D, F = decided, f_fire
        by_seg = " ".join(f"{n} {int((D & m).sum())}({int((D & m & rom_right).sum())})"
                          for n, m in segs.items() if (D & m).any())
        print(f"{side:6s} {incl.sum():4d} {det_wrong.sum():4d} | {D.sum():9d} "
              f"{(D & det_wrong & rom_right).sum():4d}/{(D & det_wrong).sum():<5d} "
              f"{(D & incl & ~det_wrong & rom_right).sum():4d}/{(D & incl & ~det_wrong).sum():<5d} "
              f"{(D & ~incl).sum():4d} {err_det[D].mean() if D.any() else 0:7.0f} → "
              f"{err_rom[D].mean() if D.any() else 0:<3.0f} ({err_flip[D].mean() if D.any() else 0:.0f}) | {F.sum():10d} "
              f"{(F & det_wrong & f_right).sum():3d}/{(F & det_wrong).sum():<3d} "
              f"{(F & incl & ~det_wrong & f_right).sum():3d}/{(F & incl & ~det_wrong).sum():<3d} "
              f"{err_det[F].mean() if F.any() else 0:3.0f}→{err_f[F].mean() if F.any() else 0:<3.0f} | "
              f"{by_seg}")
        # where the rule stays silent on the detector's wrong frames: the candidates' angles
        silent = det_wrong & ~D
        if silent.any():
            bad = np.where(t_front[:, None], far, near) - cam[:, pa]     # the wrong candidate
            d = bad / np.linalg.norm(bad, axis=-1, keepdims=True)
            el = np.degrees(np.arccos(np.clip(-np.sum(d * up, -1), -1, 1)))
            be = np.degrees(np.arcsin(np.clip(-np.sum(d * fwd, -1), -1, 1)))
            lim = limits.behind_limit_deg(el)
            print(f"       detector wrong, rule silent: {silent.sum()} frames; the wrong "
                  f"candidate's (elevation, behind, limit) deg: "
                  + " ".join(f"({a:.0f},{b:.0f},{c:.0f})"
                             for a, b, c in zip(el[silent][:12], be[silent][:12],
                                                lim[silent][:12], strict=True)))


def _mp_order() -> list[str]:
    inv = {v: k for k, v in MP.items()}
    return [inv.get(i, "nose") for i in range(33)]


def _hinge_pick(upper: np.ndarray, world: np.ndarray, pa: str, ch: str, left: np.ndarray,
                flex_back: bool) -> np.ndarray:
    """Order (child nearer the camera, (F,) bool) of the candidate for the lower segment that
    bends the hinge the anatomical way: shins bend backwards (knee), forearms forwards (elbow).
    The two candidates share the in-plane offset and differ in the sign of the depth offset."""
    off = world[:, MP[ch]] - world[:, MP[pa]]
    near = off.copy()
    near[:, 2] = -np.abs(off[:, 2])
    far = off.copy()
    far[:, 2] = np.abs(off[:, 2])
    # flexion measure: rotation from upper to lower about the body's left axis
    # (positive = the lower segment swings towards -forward for a right-hand rotation about
    # left... evaluated numerically: sign chosen so a hanging thigh with the shin backwards
    # counts as flexion)
    def flex(lower):
        return np.sum(np.cross(upper, lower) * left, -1)
    fn, ff = flex(near), flex(far)
    want = 1.0 if flex_back else -1.0
    return (want * fn) >= (want * ff)


if __name__ == "__main__":
    raise SystemExit(main())
