"""One placement group per training, as its plan lays it out: the learner, then train workers, then eval workers.

Reserving everything together means a training never starts half-placed (its learner waiting for
workers another training holds), and the learner can sit on a GPU node while the job's driver runs
on a CPU-only head node.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

import ray
from ray.util.placement_group import PlacementGroup, placement_group, remove_placement_group

from ray_lab.config.schema import ExperimentConfig
from ray_lab.learner.plan import TrainingPlan

logger = logging.getLogger(__name__)


class PlacementError(RuntimeError):
    """The cluster cannot hold the training's placement group."""


def learner_gpus(config: ExperimentConfig, cluster_gpus: float, can_add_gpu: Callable[[], bool] | None = None) -> float:
    """GPUs the learner reserves: `learner.num_gpus` when set, else 1 for `cuda` or `auto` when there is one.

    `cuda` on a cluster without a GPU, and without an autoscaler that could add one, falls back to the
    CPU with a warning, as SB3 does on a machine without CUDA, so the seed's configs run on a laptop.
    `learner.num_gpus` set explicitly always demands its GPUs. `can_add_gpu` defaults to asking
    whether an autoscaler runs (without waiting for its first report).
    """
    if config.learner.num_gpus is not None:
        return config.learner.num_gpus
    device = config.loop.device
    wants_gpu = device == "auto" or device.startswith("cuda")
    if wants_gpu and cluster_gpus >= 1:
        return 1.0
    if not device.startswith("cuda"):
        return 0.0
    if (can_add_gpu or (lambda: autoscaler_running(wait_s=0.0)))():
        return 1.0
    logger.warning(
        "training.training.device is %r but the cluster has no GPU: the learner runs on the CPU. "
        "Set learner.num_gpus: 1 to require a GPU instead.",
        device,
    )
    return 0.0


def total_resources(bundles: list[dict[str, float]]) -> dict[str, float]:
    """Each resource summed over ``bundles`` (what the placement group needs in all)."""
    total: dict[str, float] = {}
    for bundle in bundles:
        for name, amount in bundle.items():
            total[name] = total.get(name, 0.0) + amount
    return total


def shortfall_message(bundles: list[dict[str, float]], available: dict[str, float], strategy: str) -> str:
    """Which resources the training asks for, and which of them the cluster lacks (by total)."""
    needs = total_resources(bundles)
    asked = ", ".join(f"{name}: {amount:g}" for name, amount in sorted(needs.items()))
    short = [
        f"{name} (needs {amount:g}, the cluster has {available.get(name, 0.0):g})"
        for name, amount in sorted(needs.items())
        if amount > available.get(name, 0.0)
    ]
    lacking = "short of " + "; ".join(short) if short else "enough in total, but not per node for " + strategy
    return f"it needs {asked} in {len(bundles)} bundles ({strategy}): {lacking}"


def unplaceable_bundle(bundles: list[dict[str, float]]) -> str | None:
    """Which bundle no alive node of the cluster can hold (and why), or None when each fits some node."""
    nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
    for index, bundle in enumerate(bundles):
        if any(all(node.get(name, 0.0) >= amount for name, amount in bundle.items()) for node in nodes):
            continue
        best = {name: max((node.get(name, 0.0) for node in nodes), default=0.0) for name in bundle}
        short = [f"{name} {amount:g} (largest node has {best[name]:g})" for name, amount in bundle.items()]
        role = "the learner" if index == 0 else f"env worker bundle {index}"
        return f"no node of the cluster can hold {role}: it needs {', '.join(short)}"
    return None


def autoscaler_running(wait_s: float = 5.0) -> bool:
    """Whether an autoscaler that can add nodes runs (KubeRay's v2, or v1 started with a cluster config).

    Every head runs Ray's monitor. Without an autoscaling config it is read-only: its report names
    each node by its id (`node_<id>`) instead of a node type, and no node will ever be added.
    """
    from ray.autoscaler.v2.utils import is_autoscaler_v2
    from ray.experimental.internal_kv import _internal_kv_get, _internal_kv_initialized

    try:
        if is_autoscaler_v2(fetch_from_server=True):
            return True
    except Exception:  # an older head without the key: fall through to v1's report
        pass
    deadline = time.monotonic() + wait_s
    while _internal_kv_initialized():
        raw = _internal_kv_get("__autoscaling_status")
        report = (json.loads(raw).get("autoscaler_report") or {}) if raw else {}
        mapping = report.get("node_type_mapping") or {}
        if mapping:
            return any(node_type != f"node_{node_id}" for node_id, node_type in mapping.items())
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)  # the monitor's first report comes a few seconds after the head starts
    return False


def reserve(plan: TrainingPlan, timeout: float) -> PlacementGroup:
    """Create the plan's placement group and wait up to `timeout` s until the cluster holds it; clear error if not.

    Without an autoscaler, a bundle that no node can hold fails at once instead of after the timeout.
    """
    bundles = plan.bundles()
    problem = unplaceable_bundle(bundles)
    if problem is not None and not autoscaler_running():
        raise PlacementError(
            f"{problem}; the cluster has no autoscaler to add such a node. Lower workers.resources, "
            "workers.num_cpus or the learner's resources, or start nodes that advertise them "
            "(ray start --resources='{\"unity\": 8}')"
        )
    group = placement_group(bundles, strategy=plan.strategy, name="")
    ready, _ = ray.wait([group.ready()], timeout=timeout)
    if not ready:
        remove_placement_group(group)
        detail = shortfall_message(bundles, dict(ray.cluster_resources()), plan.strategy)
        raise PlacementError(
            f"the cluster could not hold this training within {timeout:g} s: {detail}. Lower "
            "workers.num_workers, workers.resources, workers.num_cpus or learner.num_cpus, or add nodes with "
            "those resources (learner.placement_timeout_s waits longer for an autoscaler)."
        )
    return group
