"""One placement group per training: bundle 0 is the learner, then train workers, then eval workers.

Reserving everything together means a training never starts half-placed (its learner waiting for
workers another training holds), and the learner can sit on a GPU node while the job's driver runs
on a CPU-only head node.
"""

from __future__ import annotations

import ray
from ray.util.placement_group import PlacementGroup, placement_group, remove_placement_group

from ray_lab.config.schema import ExperimentConfig
from ray_lab.learner.build import num_eval_envs, num_eval_workers, worker_options
from ray_lab.workers import worker_bundles


class PlacementError(RuntimeError):
    """The cluster cannot hold the training's placement group."""


def learner_gpus(config: ExperimentConfig, cluster_gpus: float) -> float:
    """GPUs for the learner: as configured, else 1 for `cuda` or for `auto` when the cluster has one."""
    if config.learner.num_gpus is not None:
        return config.learner.num_gpus
    device = config.loop.device
    if device.startswith("cuda"):
        return 1.0
    return 1.0 if device == "auto" and cluster_gpus >= 1 else 0.0


def learner_bundle(config: ExperimentConfig, gpus: float) -> dict[str, float]:
    """The learner's resource bundle."""
    bundle = {"CPU": config.learner.num_cpus, **config.learner.resources}
    if gpus > 0:
        bundle["GPU"] = gpus
    return bundle


def plan_bundles(config: ExperimentConfig, gpus: float) -> list[dict[str, float]]:
    """All bundles of the training, in the order the learner and workers index them."""
    bundles = [learner_bundle(config, gpus)]
    bundles += worker_bundles(config.num_envs, worker_options(config, "train", None, 0))
    if num_eval_workers(config):
        bundles += worker_bundles(num_eval_envs(config), worker_options(config, "eval", None, 0))
    return bundles


def _totals(bundles: list[dict[str, float]]) -> dict[str, float]:
    total: dict[str, float] = {}
    for bundle in bundles:
        for name, amount in bundle.items():
            total[name] = total.get(name, 0.0) + amount
    return total


def shortfall_message(bundles: list[dict[str, float]], available: dict[str, float], strategy: str) -> str:
    """Which resources the training asks for, and which of them the cluster lacks (by total)."""
    needs = _totals(bundles)
    asked = ", ".join(f"{name}: {amount:g}" for name, amount in sorted(needs.items()))
    short = [
        f"{name} (needs {amount:g}, the cluster has {available.get(name, 0.0):g})"
        for name, amount in sorted(needs.items())
        if amount > available.get(name, 0.0)
    ]
    lacking = "short of " + "; ".join(short) if short else "enough in total, but not per node for " + strategy
    return f"it needs {asked} in {len(bundles)} bundles ({strategy}): {lacking}"


def reserve(config: ExperimentConfig, gpus: float, timeout_s: float | None = None) -> PlacementGroup:
    """Create the placement group and wait until the cluster holds it; clear error when it cannot."""
    bundles = plan_bundles(config, gpus)
    group = placement_group(bundles, strategy=config.learner.placement_strategy, name="")
    timeout = config.learner.placement_timeout_s if timeout_s is None else timeout_s
    ready, _ = ray.wait([group.ready()], timeout=timeout)
    if not ready:
        remove_placement_group(group)
        detail = shortfall_message(bundles, dict(ray.cluster_resources()), config.learner.placement_strategy)
        raise PlacementError(
            f"the cluster could not hold this training within {timeout:g} s: {detail}. Lower "
            "workers.num_workers, workers.resources, workers.num_cpus or learner.num_cpus, or add nodes with "
            "those resources (learner.placement_timeout_s waits longer for an autoscaler)."
        )
    return group
