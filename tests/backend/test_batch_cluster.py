"""Batch on a real two-node Ray cluster formed on this machine (a head and a second node, each
with its own raylet, on loopback; ``ray.cluster_utils.Cluster``), joined by the CLI with
``--ray ADDRESS``: the videos run on both nodes and the outputs are complete."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from inference_backend.batch.manifest import MANIFEST_NAME, read_manifest  # noqa: E402
from inference_backend.export import read_motion_file  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_node_cluster(model_cache: Path):
    from ray.cluster_utils import Cluster

    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    previous = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = path  # the raylets hand it to their workers
    cluster = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "include_dashboard": False, "object_store_memory": 80 * 1024 * 1024})
    cluster.add_node(num_cpus=1, object_store_memory=80 * 1024 * 1024)
    cluster.wait_for_nodes()
    try:
        yield cluster.address
    finally:
        cluster.shutdown()
        if previous is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = previous


def test_videos_spread_over_two_nodes(two_node_cluster: str, tmp_path: Path, backend_env,
                                      make_video, make_sample_frames) -> None:
    library = tmp_path / "lib"
    library.mkdir()
    frames = make_sample_frames(75, size=(640, 360))
    make_video(library / "a.mp4", frames[20:50])
    make_video(library / "b.mp4", frames[45:75])
    out = tmp_path / "out"
    env = dict(backend_env)
    env.update({k: os.environ[k] for k in ("RAY_AUTH_MODE",) if k in os.environ})
    cmd = [sys.executable, "-m", "inference_backend", "batch", str(library), "-o", str(out),
           "--ray", two_node_cluster, "--workers", "2", "--progress", "jsonl"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    start = json.loads(proc.stdout.splitlines()[0])
    assert start["event"] == "batch_start" and start["nodes"] == 2 and start["workers"] == 2
    records = read_manifest(out / MANIFEST_NAME)
    assert sorted(r["status"] for r in records) == ["done", "done"]
    assert len({r["worker_node"] for r in records}) == 2, records
    for name in ("a.mp4", "b.mp4"):
        assert read_motion_file(out / f"{name}.npz").header["num_frames"] == 30
