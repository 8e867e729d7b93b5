"""Focal-length cues measured on the cached rendered clips (a negative result; not in the capture).

For each clip under ``--root`` (``observations.npz`` from ``cached_capture.py``, ``scene_gt.npz``
and ``capture_medium.npz`` from ``run_bench.py --cached``) prints the true focal and what three
cues estimate from it:

- ``pnp``: per-frame PnP of the detector's metric world landmarks onto its 2D landmarks, one
  translation per frame and a shared focal scanned over 30-100 deg horizontal FOV (robust loss,
  confident body landmarks only); ``cam``: landmarks taken as camera-aligned, ``ray``: rotated
  so their depth axis points along the ray through the hips (the crop the network saw).
- ``vvp``: ``f^2 = (y_vvp - c_y)(c_y - y_horizon)`` with the horizon from the person's image
  height against the foot row (zero roll) and the vertical vanishing point from the body axes
  (ankles to shoulders), from the detector and from the rendered truth's 2D joints.
- ``odo``: footstep odometry; while a foot is planted the body moves by minus that foot's motion
  relative to the hips, so the depth travelled in metres against the change of ``1 / scale``
  (scale: image pixels per body metre) is the focal. From the raw world landmarks, from the
  fitted (bone-length-fixed) joints, and from the rendered truth's 3D joints.
- ``gait``: the walk-ratio gait prior (``gait_focal.py``): the focal length at which the walking
  person's steps, counted in the image, have the length the literature's walk ratio gives for
  their height and cadence. From the detector's landmarks (``gait``, as the solver would see
  them) and from the rendered truth's exact 2D/3D joints (``gait_truth``); ``gait_oracle``
  repeats the detector run with the rendered walk's own walk ratio (measured from the truth) in
  place of the literature's, to separate the measurement's error from the prior's (a
  diagnostic, not a method). ``--`` where the cue reports "not observable".
- ``iso_truth``: step isotropy from the rendered truth's exact planted feet: the focal length
  at which each foot's sideways offset from the midpoint of the other foot's plants is
  perpendicular to the direction of travel (least squares over the plant triples).

Usage: ``python bench/synthetic_accuracy/focal_cues.py [--root out/sa] [--only gait]``
(about a minute; ``--only gait`` skips the slow PnP scans).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from gait_focal import (  # noqa: E402
    GaitFocalConfig,
    body_height,
    estimate_focal_from_gait,
    feet_passing_times,
)

from inference_backend.landmark_map import clean_landmarks  # noqa: E402

CLIPS = ("inplace", "fov40", "tall", "fov80", "short")
MP_BODY = [11, 12, 23, 24, 25, 26, 27, 28]        # shoulders, hips, knees, ankles (MediaPipe)
SMPL_BODY = [16, 17, 1, 2, 4, 5, 7, 8]            # the same joints in the motion file
GT_BODY = [11, 12, 1, 2, 3, 4, 5, 6]              # and in scene_gt's 17 joints
MP_FEET = ([27, 29, 31], [28, 30, 32])


def fov_to_focal(hfov_deg: float, width: int) -> float:
    return width / 2 / np.tan(np.radians(hfov_deg) / 2)


def focal_to_fov(f: float, width: int) -> float:
    return float(2 * np.degrees(np.arctan(width / 2 / f)))


def _ray_frame(direction: np.ndarray) -> np.ndarray:
    """(3, 3) rotation whose third column is ``direction`` (unit), y kept roughly down."""
    z = direction / np.linalg.norm(direction)
    x = np.cross([0.0, 1.0, 0.0], z)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], 1)


def pnp_cost(image, world, present, f, c, mode, conf=0.9, step=3) -> float:
    """Mean over frames of the median reprojection residual (px) with the best translation."""
    costs = []
    for k in range(0, len(image), step):
        m = image[k, :, 2] > conf
        m[:11] = False
        if not present[k] or m.sum() < 8:
            continue
        w, uv = world[k, m].astype(float), image[k, m, :2].astype(float)
        if mode == "ray":
            hip = image[k, [23, 24], :2].mean(0)
            w = w @ _ray_frame(np.array([*(hip - c) / f, 1.0])).T

        def residual(t, w=w, uv=uv):
            p = w + t
            return (f * p[:, :2] / p[:, 2:3] + c - uv).ravel()

        t0 = np.array([*(uv.mean(0) - c) / f * 4.0, 4.0])
        costs.append(np.median(np.abs(least_squares(residual, t0, loss="soft_l1", f_scale=3.0).fun)))
    return float(np.mean(costs))


def vvp_focal(foot, top, axis_lo, axis_hi, c) -> float:
    """Focal (px) from the horizon (image height ∝ foot row − horizon row) and the vertical
    vanishing point on the column c_x (best fit to the body-axis directions); NaN if imaginary."""
    ok = np.isfinite(foot).all(1) & np.isfinite(top).all(1)
    a, b = np.linalg.lstsq(np.c_[foot[ok, 1], np.ones(ok.sum())], foot[ok, 1] - top[ok, 1],
                           rcond=None)[0]
    y_horizon = -b / a
    mid, d = (axis_lo + axis_hi) / 2, axis_lo - axis_hi
    angle = np.arctan2(d[:, 0], d[:, 1])
    inv = np.linspace(1e-5, 3e-3, 3000)                  # 1 / (y_vvp − c_y)
    errs = [np.nansum((np.arctan2(c[0] - mid[:, 0], 1 / s + c[1] - mid[:, 1]) - angle) ** 2)
            for s in inv]
    y_vvp = c[1] + 1 / inv[int(np.argmin(errs))]
    f2 = (y_vvp - c[1]) * (c[1] - y_horizon)
    return float(np.sqrt(f2)) if f2 > 0 else float("nan")


def odometry_focal(uv_body, rel_body, uv_feet, rel_feet) -> tuple[float, float]:
    """Focal (px) and its standard error from footstep odometry.

    uv_body (T, J, 2) image points, rel_body (T, J, 3) the same joints in metres relative to the
    hips (camera-aligned axes); uv_feet (T, 2, 2) and rel_feet (T, 2, 3) the two feet. The foot
    that moves less in the image between two frames is the planted one."""
    du = uv_body - uv_body.mean(1, keepdims=True)
    dw = rel_body[..., :2] - rel_body[..., :2].mean(1, keepdims=True)
    scale = np.sum(du * dw, axis=(1, 2)) / np.sum(dw * dw, axis=(1, 2))
    moved = np.linalg.norm(np.diff(uv_feet, axis=0), axis=2)     # (T-1, 2) px per frame
    planted = np.argmin(np.nan_to_num(moved, nan=np.inf), axis=1)
    step = -np.take_along_axis(np.diff(rel_feet, axis=0), planted[:, None, None], 1)[:, 0]
    depth = np.r_[0.0, np.cumsum(np.nan_to_num(step[:, 2]))]
    inv = 1 / scale
    ok = np.isfinite(inv)
    design = np.c_[inv[ok], np.ones(ok.sum())]
    sol = np.linalg.lstsq(design, depth[ok], rcond=None)[0]
    r = depth[ok] - design @ sol
    se = np.sqrt(r @ r / (ok.sum() - 2) / np.sum((inv[ok] - inv[ok].mean()) ** 2))
    return float(sol[0]), float(se)


def _gt_landmarks(gt) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rendered truth's joints as MediaPipe-indexed (metric about the hips, camera-aligned;
    image px; weights) arrays (F, 33, ·): shoulders, hips, knees, ankles (also as heels) and
    balls of the feet (as foot index); the other landmarks carry no weight."""
    jc, uv = gt["joints_cam"], gt["uv"]
    n = len(jc)
    metric, image, weights = np.zeros((n, 33, 3)), np.zeros((n, 33, 2)), np.zeros((n, 33))
    hips = (jc[:, 1] + jc[:, 2]) / 2
    for mp, g in zip(MP_BODY + [29, 30, 31, 32], GT_BODY + [5, 6, 7, 8], strict=True):
        metric[:, mp], image[:, mp], weights[:, mp] = jc[:, g] - hips, uv[:, g], 1.0
    return metric, image, weights


def gait_ratio(samples, width: int, height: int, f_true: float,
               config: GaitFocalConfig | None = None) -> tuple[float, str]:
    """(estimated / true focal, a short note) of the gait cue; NaN when not observable."""
    est = estimate_focal_from_gait(samples, width, height, config or GaitFocalConfig())
    if est.focal is None:
        return float("nan"), f"not observable: {est.reason}"
    return est.focal / f_true, (f"{est.steps} steps at {est.cadence_spm:.0f}/min, depth share "
                                f"{est.depth_share:.2f}")


def rendered_walk_ratio(gt) -> float:
    """The rendered walk's own walk ratio per height (min): the truth's pelvis travel between
    the first and last feet passing, per step, over the figure's height and cadence."""
    config = GaitFocalConfig()
    metric, image, weights = _gt_landmarks(gt)
    t = gt["timestamps"]
    passing = feet_passing_times(image, metric, weights, t, config)
    lo, hi = 60.0 / config.cadence_spm[1], 60.0 / config.cadence_spm[0]
    if len(passing) < 2 or not np.all((np.diff(passing) >= lo) & (np.diff(passing) <= hi)):
        return float("nan")                # no walk (or not one bout)
    pelvis = gt["joints_yup"][:, 0][:, [0, 2]]
    at = np.stack([np.interp(passing, t, pelvis[:, d]) for d in range(2)], -1)
    step = np.sum(np.linalg.norm(np.diff(at, axis=0), axis=1)) / (len(passing) - 1)
    cadence = 60.0 * (len(passing) - 1) / (passing[-1] - passing[0])
    figure = json.loads(str(gt["header"]))["figure_height_m"]
    return float(step / figure / cadence)


def isotropy_focal_ratio(gt) -> float:
    """Step isotropy on the truth's planted feet (camera frame): per plant triple (alternating
    feet) d = P[i+1] - P[i-1], e = P[i] - (P[i-1] + P[i+1]) / 2 must be perpendicular once the
    depths are divided by k: a + b / k^2 = 0 with a = d_x e_x + d_y e_y, b = d_z e_z; least
    squares in 1 / k^2. Returns k (the focal's factor; NaN if imaginary); the truth is 1."""
    foot = (gt["joints_cam"][:, [5, 6]] + gt["joints_cam"][:, [7, 8]]) / 2
    plants = []
    for side in (0, 1):
        c = np.r_[False, gt["contact_truth"][:, side], False].astype(int)
        for a, b in zip(np.flatnonzero(np.diff(c) == 1), np.flatnonzero(np.diff(c) == -1),
                        strict=True):
            plants.append((a + b, foot[a:b, side].mean(0)))
    p = np.array([x for _, x in sorted(plants, key=lambda r: r[0])])
    d, e = p[2:] - p[:-2], p[1:-1] - (p[2:] + p[:-2]) / 2
    a, b = np.sum(d[:, :2] * e[:, :2], 1), d[:, 2] * e[:, 2]
    inv_k2 = -np.sum(a * b) / np.sum(b * b)
    return float(1 / np.sqrt(inv_k2)) if inv_k2 > 0 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("out/sa"))
    parser.add_argument("--only", choices=["gait"], default=None,
                        help="only the gait and isotropy cues (skips the slow PnP scans)")
    parser.add_argument("--clips", nargs="+", default=list(CLIPS))
    args = parser.parse_args()
    for clip in args.clips:
        d = args.root / clip
        obs, gt = np.load(d / "observations.npz"), np.load(d / "scene_gt.npz")
        image, world, present = (obs["image"][0].astype(float), obs["world"][0].astype(float),
                                 obs["present"][0].astype(bool))
        image[~present], world[~present] = np.nan, np.nan
        width = 2 * (gt["cam_K"][0, 2] + 0.5)
        c, f_true = gt["cam_K"][:2, 2], float(gt["cam_K"][0, 0])
        out = {"true": f_true}
        size = (int(round(width)), int(round(2 * (gt["cam_K"][1, 2] + 0.5))))
        samples = []
        for k in range(len(obs["track_ids"])):
            seen = obs["present"][k].astype(bool)
            img, met, w = clean_landmarks(obs["image"][k][seen], obs["world"][k][seen],
                                          obs["boxes"][k][seen], 0.3)
            samples.append((met, img, w, obs["timestamps"][seen]))
        ratio, note = gait_ratio(samples, *size, f_true)
        metric, image2d, weights = _gt_landmarks(gt)
        ratio_truth, _ = gait_ratio([(metric, image2d, weights, gt["timestamps"])], *size,
                                    f_true)
        oracle = GaitFocalConfig(walk_ratio_per_height_min=rendered_walk_ratio(gt))
        ratio_oracle, _ = (gait_ratio(samples, *size, f_true, oracle)
                           if np.isfinite(oracle.walk_ratio_per_height_min)
                           else (float("nan"), ""))
        out.update(gait=ratio * f_true, gait_truth=ratio_truth * f_true,
                   gait_oracle=ratio_oracle * f_true,
                   iso_truth=isotropy_focal_ratio(gt) * f_true)
        print(f"{clip:8s} gait: {note}; rendered walk ratio/height "
              f"{oracle.walk_ratio_per_height_min:.5f} min (prior "
              f"{GaitFocalConfig().walk_ratio_per_height_min}); detector height "
              f"{body_height(samples[0][0], samples[0][2], GaitFocalConfig()):.2f} landmark m",
              flush=True)
        if args.only == "gait":
            print(f"{clip:8s} true FOV {focal_to_fov(f_true, width):5.1f} | " + "  ".join(
                f"{k} {v / f_true:5.2f}" for k, v in out.items() if k != "true"), flush=True)
            continue
        fovs = np.arange(30, 101, 5)
        for mode in ("cam", "ray"):
            costs = [pnp_cost(np.nan_to_num(image), np.nan_to_num(world), present,
                              fov_to_focal(h, width), c, mode) for h in fovs]
            out[f"pnp_{mode}"] = fov_to_focal(fovs[int(np.argmin(costs))], width)
        foot = image[:, 27:33, :2].mean(1)
        foot[:, 1] = image[:, 27:33, 1].max(1)
        out["vvp"] = vvp_focal(foot, image[:, 0, :2], image[:, [27, 28], :2].mean(1),
                               image[:, [11, 12], :2].mean(1), c)
        uv = gt["uv"]
        gfoot = uv[:, [7, 8]].mean(1)
        gfoot[:, 1] = uv[:, [7, 8], 1].max(1)
        out["vvp_truth2d"] = vvp_focal(gfoot, uv[:, 10], uv[:, [5, 6]].mean(1),
                                       uv[:, [11, 12]].mean(1), c)
        feet_uv = np.stack([image[:, f, :2].mean(1) for f in MP_FEET], 1)
        feet_w = np.stack([world[:, f].mean(1) for f in MP_FEET], 1)
        out["odo_raw"], _ = odometry_focal(image[:, MP_BODY, :2], world[:, MP_BODY], feet_uv, feet_w)
        cap = np.load(d / "capture_medium.npz")
        joints = np.einsum("kij,knj->kni", cap["cam_R"], cap["joints3d"][0]) + cap["cam_t"][:, None]
        rel = joints - joints[:, :1]
        rel[~cap["valid"][0]] = np.nan
        out["odo_fit"], se = odometry_focal(image[:, MP_BODY, :2], rel[:, SMPL_BODY], feet_uv,
                                            rel[:, [10, 11]])
        jc = gt["joints_cam"]
        grel = jc - jc[:, :1]
        out["odo_truth3d"], _ = odometry_focal(uv[:, GT_BODY], grel[:, GT_BODY], uv[:, [7, 8]],
                                               grel[:, [7, 8]])
        print(f"{clip:8s} true FOV {focal_to_fov(f_true, width):5.1f} | " + "  ".join(
            f"{k} {v / f_true:5.2f}" for k, v in out.items() if k != "true")
            + f"  (focal ratios est/true; odo_fit s.e. ±{se / f_true:.2f})", flush=True)


if __name__ == "__main__":
    main()
