"""Connect to the cluster named by RAY_ADDRESS, or start a local Ray for this process."""

from __future__ import annotations

import os

import ray

LOCAL_TEMP_DIR_ENV = "RAY_LAB_RAY_TEMP_DIR"


def storage_warning(output_dir: str) -> str | None:
    """On a cluster, a relative output folder is a different folder on every node: say so, once."""
    if os.environ.get("RAY_ADDRESS") and not os.path.isabs(output_dir) and "://" not in output_dir:
        return (
            f"ray-lab: note: experiment.output_dir={output_dir!r} is relative; on a multi-node cluster the "
            "learner writes the run folder on its own node. Use a path every node mounts, e.g. "
            "--set experiment.output_dir=/shared/experiments (see cluster/README.md)."
        )
    return None


def connect_ray() -> str:
    """`ray.init` once: the existing cluster when `RAY_ADDRESS` is set (as under `ray job submit`), else local.

    Returns a one-line description for the console.
    """
    if ray.is_initialized():
        return "Ray: already connected"
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    address = os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=True, configure_logging=False)
        return f"Ray: connected to the cluster at {address}"
    kwargs: dict[str, object] = {
        "include_dashboard": False,
        "_node_ip_address": "127.0.0.1",
        "log_to_driver": True,
        "configure_logging": False,
    }
    temp_dir = os.environ.get(LOCAL_TEMP_DIR_ENV)
    if temp_dir:
        kwargs["_temp_dir"] = temp_dir
    ray.init(**kwargs)  # type: ignore[arg-type]
    cpus = ray.cluster_resources().get("CPU", 0)
    return f"Ray: started locally ({cpus:g} CPUs, loopback only; set RAY_ADDRESS to use a cluster)"
