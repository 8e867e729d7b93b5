"""Render the synthetic accuracy scene: an anny figure with known motion, seen by a known camera.

Usage (from the repository root):
    .venv/bin/python bench/synthetic_accuracy/make_scene.py [--out-dir out/synthetic_accuracy]
        [--frames N] [--docs-image docs/images/synthetic_accuracy_frame.png]
        [--hfov 60] [--camera-height 1.6] [--pitch 10] [--aa FXAA] [--start X Y]
        [--phenotype height=0.65,weight=0.65,muscle=0.6,gender=0]
        [--script full|inplace|walk_depth|walk_across] [--size 640x360]
        [--camera-path static|handheld|handheld_walk] [--shake DEG] [--room [--room-yaw DEG]]

Writes (all under --out-dir, git-ignored): ``synthetic.mp4`` (960x540, 30 fps, H.264 via PyAV),
``scene_gt.npz`` (ground truth, see ``save_ground_truth``) and ``frames/frame_%05d.png``.
Needs the ``bench`` extra (anny==0.6.2, whose ~790 MB cache is built once under .cache/anny) and
bpy 4.5 (``blender`` extra). Takes ~1.4 s/frame on a shared 2-core CPU (Workbench, FXAA).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from anny_figure import GT_JOINT_NAMES, FigureSequence, load_anny, pose_sequence, scene_to_yup  # noqa: E402
from camera_path import (  # noqa: E402
    HandheldPath,
    blender_matrices,
    camera_angles,
    camera_centres,
    world_to_camera,
)
from procedural_motion import SCRIPTS, MotionConfig, script_config, segment_bounds  # noqa: E402
from scene_config import SceneConfig  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
#: A foot is on the ground when its lowest vertex is within this of the floor (contact truth).
CONTACT_TRUTH_M = 0.03


def parse_phenotype(text: str) -> dict[str, float] | None:
    """'height=0.65,weight=0.6' -> {'height': 0.65, 'weight': 0.6}; '' -> None."""
    if not text.strip():
        return None
    out = {}
    for item in text.split(","):
        key, _, value = item.partition("=")
        if not value:
            raise SystemExit(f"bad --phenotype item {item!r}: use name=value")
        val = float(value)
        if not 0.0 <= val <= 1.0:
            raise SystemExit(f"--phenotype {key} must be in [0, 1], got {val}")
        out[key.strip()] = val
    return out


def save_ground_truth(path: Path, seq: FigureSequence, scene: SceneConfig,
                      motion: MotionConfig, phenotype: dict[str, float] | None = None,
                      script: str = "full",
                      extrinsics: tuple[np.ndarray, np.ndarray] | None = None,
                      camera_path: dict | None = None) -> None:
    """Write the ground truth npz atomically (no object arrays; header is a JSON string).

    Keys: ``header`` (JSON: configs, joint names, segments), ``joints_scene`` (F, J, 3) Z-up scene
    world, ``joints_yup`` (F, J, 3) the motion file's Y-up convention, ``joints_cam`` (F, J, 3)
    OpenCV camera axes, ``uv`` (F, J, 2) pixels, ``root_scene`` (F, 3), ``stance`` (F,),
    ``foot_lowest`` (F, 2) lowest left / right foot vertex height (m), ``contact_truth`` (F, 2)
    bool (that height within ``CONTACT_TRUTH_M`` of the floor), ``cam_K`` (3, 3), ``cam_R``/``cam_t`` scene-world extrinsics, ``cam_R_yup``/``cam_t_yup``
    extrinsics for Y-up world points, ``timestamps`` (F,) seconds.
    extrinsics: a moving camera's per-frame (R (F, 3, 3), t (F, 3)); the camera arrays are then
    per frame too (``cam_R`` (F, 3, 3), ...) and the header holds ``camera_path``.
    """
    rot, t = scene.world_to_camera() if extrinsics is None else extrinsics
    yup_to_scene = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    n = len(seq.joints)
    header = {
        "scene": asdict(scene), "motion": asdict(motion), "script": script, "joint_names": list(GT_JOINT_NAMES),
        "segments": segment_bounds(motion), "num_frames": n,
        "camera_height_m": scene.camera_height_m, "focal_px": scene.focal_px,
        "figure": "anny 0.6.2", "phenotype": phenotype or "default (all 0.5)",
        "figure_height_m": seq.rest_height, "contact_truth_m": CONTACT_TRUTH_M,
        "camera_path": camera_path,
    }
    if extrinsics is None:
        joints_cam = scene.to_camera(seq.joints)
    else:
        joints_cam = np.einsum("fij,fkj->fki", rot, seq.joints) + t[:, None, :]
    uvw = joints_cam @ scene.intrinsics().T
    arrays = {
        "header": np.array(json.dumps(header)),
        "joints_scene": seq.joints.astype(np.float64),
        "joints_yup": scene_to_yup(seq.joints),
        "joints_cam": joints_cam,
        "uv": uvw[..., :2] / uvw[..., 2:3],
        "root_scene": seq.root_translation,
        "stance": seq.stance,
        "foot_lowest": seq.foot_lowest,
        "contact_truth": seq.foot_lowest <= CONTACT_TRUTH_M,
        "cam_K": scene.intrinsics(),
        "cam_R": rot, "cam_t": t,
        "cam_R_yup": rot @ yup_to_scene, "cam_t_yup": t,
        "timestamps": np.arange(n) / scene.fps,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".partial.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def save_docs_image(frame_png: Path, out_png: Path, width: int = 480) -> None:
    """A small downscaled copy of one rendered frame for the docs."""
    import cv2  # noqa: PLC0415

    img = cv2.imread(str(frame_png))
    scale = width / img.shape[1]
    small = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out_png), small, [cv2.IMWRITE_PNG_COMPRESSION, 9])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out-dir", type=Path, default=REPO / "out" / "synthetic_accuracy")
    ap.add_argument("--frames", type=int, default=0, help="render only the first N frames")
    ap.add_argument("--anny-cache", type=Path, default=REPO / ".cache" / "anny")
    ap.add_argument("--docs-image", type=Path, default=None,
                    help="also save a small PNG of a mid-clip frame here")
    ap.add_argument("--docs-frame", type=int, default=236)
    ap.add_argument("--aa", default=SceneConfig.aa_samples,
                    choices=("OFF", "FXAA", "5", "8", "11", "16", "32"),
                    help="Workbench anti-aliasing (samples cost ~linear render time)")
    ap.add_argument("--hfov", type=float, default=SceneConfig.hfov_deg,
                    help="horizontal field of view, degrees (the capture's prior is 60)")
    ap.add_argument("--camera-height", type=float, default=SceneConfig.camera_height_m)
    ap.add_argument("--pitch", type=float, default=SceneConfig.pitch_deg)
    ap.add_argument("--start", type=float, nargs=2, default=SceneConfig.start_xy,
                    metavar=("X", "Y"), help="figure's start position on the floor, metres")
    ap.add_argument("--phenotype", default="",
                    help="anny phenotype, e.g. 'height=0.65,weight=0.65,muscle=0.6,gender=0'")
    ap.add_argument("--script", default="full", choices=sorted(SCRIPTS),
                    help="motion script (procedural_motion.SCRIPTS)")
    ap.add_argument("--size", default=f"{SceneConfig.width}x{SceneConfig.height}",
                    help="image size WIDTHxHEIGHT in pixels")
    ap.add_argument("--camera-path", choices=("static", "handheld", "handheld_walk"),
                    default="static", help="a static camera, a handheld one panning to follow "
                    "the figure with shake, or one that also walks 0.6 m along +x")
    ap.add_argument("--shake", type=float, default=HandheldPath.shake_deg,
                    help="handheld shake, degrees RMS per axis")
    ap.add_argument("--room", action="store_true",
                    help="a room (panelled walls, pillars, floor tiles) turned by --room-yaw "
                    "about the vertical: straight lines with finite vanishing points")
    ap.add_argument("--room-yaw", type=float, default=SceneConfig.room_yaw_deg,
                    help="the room's turn against the camera's view, degrees")
    args = ap.parse_args(argv)
    width, _, height = args.size.partition("x")

    scene = SceneConfig(width=int(width), height=int(height), aa_samples=args.aa, hfov_deg=args.hfov,
                        camera_height_m=args.camera_height, pitch_deg=args.pitch,
                        start_xy=(float(args.start[0]), float(args.start[1])),
                        room=args.room, room_yaw_deg=args.room_yaw)
    phenotype = parse_phenotype(args.phenotype)
    motion = script_config(args.script)
    t0 = time.perf_counter()
    model = load_anny(args.anny_cache)
    seq = pose_sequence(model, motion, scene.start_xy, phenotype=phenotype)
    n = len(seq.vertices) if args.frames <= 0 else min(args.frames, len(seq.vertices))
    if n < len(seq.vertices):
        seq = FigureSequence(seq.vertices[:n], seq.faces, seq.colors, seq.joints[:n],
                             seq.root_translation[:n], seq.stance[:n], seq.rest_height,
                             seq.foot_lowest[:n])
    extrinsics = matrices = path_header = None
    if args.camera_path != "static":
        path = HandheldPath(shake_deg=args.shake,
                            walk_m=0.6 if args.camera_path == "handheld_walk" else 0.0,
                            bob_m=0.02 if args.camera_path == "handheld_walk" else 0.0)
        centres = camera_centres(n, scene.fps, scene.camera_height_m, path)
        angles = camera_angles(seq.root_translation[:, :2], scene.fps, path, centres[:, :2])
        extrinsics = world_to_camera(angles, centres, scene.pitch_deg)
        matrices = blender_matrices(*extrinsics)
        path_header = {"kind": args.camera_path, **asdict(path),
                       "pan_range_deg": float(np.ptp(angles[:, 0]))}
        print(f"camera path: {args.camera_path}, pan range {np.ptp(angles[:, 0]):.1f} deg, "
              f"walks {np.linalg.norm(centres[-1] - centres[0]):.2f} m")
    if extrinsics is None:
        uv = scene.project(seq.joints)
    else:
        cam = np.einsum("fij,fkj->fki", extrinsics[0], seq.joints) + extrinsics[1][:, None]
        uvw = cam @ scene.intrinsics().T
        uv = uvw[..., :2] / uvw[..., 2:3]
    if (uv < 0).any() or (uv[..., 0] >= scene.width).any() or (uv[..., 1] >= scene.height).any():
        print("warning: some ground-truth joints project outside the image", file=sys.stderr)
    gt_path = args.out_dir / "scene_gt.npz"
    save_ground_truth(gt_path, seq, scene, motion, phenotype, args.script, extrinsics,
                      path_header)
    print(f"posed {n} frames in {time.perf_counter() - t0:.1f} s; ground truth -> {gt_path}")

    from render_blender import render_frames  # noqa: PLC0415  (imports bpy lazily)
    from video_encode import encode_mp4  # noqa: PLC0415

    t1 = time.perf_counter()
    paths = render_frames(scene, seq.vertices, seq.faces, seq.colors, args.out_dir / "frames",
                          camera_matrices=matrices)
    t2 = time.perf_counter()
    video = encode_mp4(paths, args.out_dir / "synthetic.mp4", scene.fps)
    print(f"rendered {len(paths)} frames in {t2 - t1:.1f} s ({(t2 - t1) / len(paths):.2f} s/frame);"
          f" encoded {video} in {time.perf_counter() - t2:.1f} s")
    if args.docs_image is not None:
        save_docs_image(paths[min(args.docs_frame, len(paths) - 1)], args.docs_image)
        print(f"docs image -> {args.docs_image}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
