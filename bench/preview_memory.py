"""Peak memory of the headless preview render: a long clip vs a short one, with the preview's
clip-cache cap (``PreviewOptions.cache_limit_mb``, 256 MB) and with Blender's default (4 GB).

    python bench/preview_memory.py [--minutes 10] [--seconds 10] [--fps 30] [--width 640]
        [--modes capped,default]

What it does, exactly: it builds two H.264 videos by looping the bundled sample clip (as
``bench/capture_memory.py`` does), writes for each a synthetic one-person motion file of the
same length that points to it (the test suite's walk generator), and renders the preview of
each (Workbench, 480 px wide, composited over the video, the body mesh and camera built by the
real importer) with ``str_blender_addon.preview.render_preview`` in a child process that
reports its own peak RSS (VmHWM). Each preview renders every frame: at 30 fps a 10-minute
preview is 18000 frames (about 0.5 s per frame on a shared 2-core CPU under load: 2.5 h);
``--minutes 1 --fps 10`` (600 frames) gives a quicker run whose growth per frame is the same
measure. Prints ``capped`` and ``default`` lines
``long_mb short_mb growth kB/frame`` (peak RSS) and, per render, the current RSS every 100
frames; bounded means the capped current RSS stays flat along the clip.
POSIX only (VmHWM from /proc).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from capture_memory import loop_frames, write_looped  # noqa: E402

_MEASURE = """
import sys
from pathlib import Path
import bpy
from str_blender_addon.importer import ImportOptions, import_motion
from str_blender_addon.preview import PreviewOptions, render_preview

def status_kb(key):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0

def peak_kb():
    return status_kb("VmHWM")

curve = []
def sample(scene, *args):
    curve.append(status_kb("VmRSS"))

motion, out, cache_mb = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
bpy.ops.wm.read_factory_settings(use_empty=True)
import_motion(bpy.context, motion, ImportOptions(create_camera=True, video_background=True))
before = peak_kb()
bpy.app.handlers.render_post.append(sample)   # after read_factory_settings, which clears it
render_preview(out, PreviewOptions(width=480, cache_limit_mb=cache_mb))
bpy.app.handlers.render_post.remove(sample)
print("PEAKS_KB", before, peak_kb(), file=sys.stderr)
print("RSS_EVERY_100_KB", *curve[99::100], file=sys.stderr)
sys.stderr.flush()
import os
os._exit(0)   # bpy as a module can hang in its teardown; everything is printed
"""


def _motion_helpers():
    path = REPO / "tests" / "addon_core" / "conftest.py"
    spec = importlib.util.spec_from_file_location("str_test_motion", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["str_test_motion"] = module
    spec.loader.exec_module(module)
    return module


def write_motion(helpers, path: Path, video: Path, frames: int, fps: int) -> Path:
    arrays = helpers.synthetic_walk(frames, float(fps), 1)
    header = helpers.make_header(arrays, fps=float(fps), video_name=video.name,
                                 video_path=str(video))
    return helpers.write_motion_file(path, arrays, header)


def preview_peak_mb(motion: Path, out: Path, cache_mb: int) -> tuple[float, float, float]:
    """(peak MB after the import, peak MB after the render, seconds)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", _MEASURE, str(motion), str(out), str(cache_mb)],
                          capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"preview of {motion.name} failed ({proc.returncode}):\n"
                         f"{proc.stderr[-3000:]}")
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("PEAKS_KB")][-1]
    imported, rendered = (int(v) / 1024.0 for v in line.split()[1:3])
    curve = [ln for ln in proc.stderr.splitlines() if ln.startswith("RSS_EVERY_100_KB")][-1]
    rss = [int(v) // 1024 for v in curve.split()[1:]]
    if rss:
        print(f"    current RSS every 100 frames (MB): {rss}", file=sys.stderr, flush=True)
    return imported, rendered, elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--width", type=int, default=640, help="width of the test videos")
    parser.add_argument("--modes", default="capped,default",
                        help="comma-separated: capped (256 MB clip cache), default (Blender's)")
    args = parser.parse_args()
    helpers = _motion_helpers()
    frames = loop_frames(args.width, args.fps)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clips = {}
        for name, seconds in (("short", args.seconds), ("long", args.minutes * 60)):
            n = write_looped(folder / f"{name}.mp4", frames, args.fps, seconds)
            clips[name] = (write_motion(helpers, folder / f"{name}.npz", folder / f"{name}.mp4",
                                        n, args.fps), n)
        modes = [m for m in (("capped", 256), ("default", 0))
                 if m[0] in args.modes.split(",")]
        for label, cache_mb in modes:
            peaks = {}
            for name, (motion, n) in clips.items():
                imported, rendered, took = preview_peak_mb(motion, folder / f"{name}.mp4.out.mp4",
                                                           cache_mb)
                peaks[name] = rendered
                print(f"  {label} {name}: {n} frames, import peak {imported:.0f} MB, render "
                      f"peak {rendered:.0f} MB, {took:.0f} s", file=sys.stderr, flush=True)
            extra = clips["long"][1] - clips["short"][1]
            growth = (peaks["long"] - peaks["short"]) * 1024 / max(1, extra)
            print(f"{label}: long_mb={peaks['long']:.0f} short_mb={peaks['short']:.0f} "
                  f"growth={growth:.1f} kB/frame", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
