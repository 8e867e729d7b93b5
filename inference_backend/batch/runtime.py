"""The Ray runtime a batch runs on: a local one started (and stopped) for the run, or an
existing cluster joined by address.

    local      start a private Ray runtime on this machine for the run (the default)
    auto       join the cluster already running on this machine (``ray start --head``)
    ADDRESS    join the cluster whose head is at ADDRESS (host:port, or ray://host:10001)

If this process already has Ray initialised (a test fixture, a notebook), that runtime is used
and left running.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..errors import CaptureError, ExitCode
from .task import THREAD_ENV_VARS

log = logging.getLogger(__name__)

#: Object store of the local runtime: tasks pass only small configs and results.
_LOCAL_OBJECT_STORE_BYTES = 128 * 1024 * 1024


@dataclass(frozen=True)
class Resources:
    """What the runtime offers: cpus/gpus in total, nodes alive, and the largest node's CPUs."""

    cpus: float
    gpus: float
    nodes: int
    max_node_cpus: float


#: The Ray the ``batch`` extra pins (pyproject.toml); every node of a cluster needs the same.
RAY_REQUIREMENT = "ray==2.60.0"


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise CaptureError(
            ExitCode.MODEL_PROBLEM,
            "batch capture needs Ray in the backend environment: run "
            f'"{sys.executable}" -m pip install "{RAY_REQUIREMENT}" (or install the '
            f"'str-mocap[batch]' extra) [{exc}]",
        ) from exc
    return ray


def worker_env(threads: int) -> dict[str, str]:
    """Environment of the workers: numeric libraries bounded to ``threads`` threads, quiet
    TensorFlow Lite / glog start-up logging."""
    env = {name: str(threads) for name in THREAD_ENV_VARS}
    env.update({"GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2"})
    return env


@contextmanager
def ray_runtime(address: str, num_cpus: int, threads: int, verbose: bool) -> Iterator[Resources]:
    """Connect to (or start) Ray for the block; a runtime started here is shut down after.

    num_cpus: CPUs a local runtime offers (ignored when joining a cluster).
    """
    ray = import_ray()
    if ray.is_initialized():
        yield resources(ray)
        return
    common: dict[str, Any] = {
        "log_to_driver": verbose,
        "configure_logging": verbose,
        "logging_level": logging.INFO if verbose else logging.WARNING,
        "runtime_env": {"env_vars": worker_env(threads)},
    }
    try:
        if address == "local":
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no phoning home
            ray.init(num_cpus=num_cpus, include_dashboard=False,
                     object_store_memory=_LOCAL_OBJECT_STORE_BYTES, **common)
        else:
            ray.init(address=address, **common)
    except CaptureError:
        raise
    except Exception as exc:
        where = "start a local Ray runtime" if address == "local" else f"join the Ray cluster at {address}"
        hint = "" if address == "local" else (
            " (is `ray start --head` running there, with this Ray version?)")
        if "auth" in str(exc).lower():
            hint = (" (the cluster uses token authentication: set RAY_AUTH_MODE=token and put "
                    "the cluster's token in ~/.ray/auth_token or RAY_AUTH_TOKEN)")
        raise CaptureError(ExitCode.USAGE, f"could not {where}: {exc}{hint}") from exc
    try:
        yield resources(ray)
    finally:
        ray.shutdown()


def resources(ray: Any) -> Resources:
    total = ray.cluster_resources()
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    max_node_cpus = max((n.get("Resources", {}).get("CPU", 0.0) for n in nodes), default=0.0)
    return Resources(float(total.get("CPU", 0.0)), float(total.get("GPU", 0.0)), len(nodes),
                     float(max_node_cpus))
