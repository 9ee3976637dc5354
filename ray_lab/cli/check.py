"""`ray-lab check`: everything `ray-lab train` checks before launch, without training.

In train's order: the YAML, `--set` overrides and the schema (`parse_config`), the semantic checks and
the preflight (one env built here, Unity build/command checks, the pretrained model:
`check_before_launch`), then the resolved config (`print_checked_config`) and the placement plan
(`learner_gpus` + `plan_training`, the functions train's learner uses) with its bundles, and whether
the cluster can hold them. No run folder, no Ray workers, no training.

Without `RAY_ADDRESS`, train would start a local Ray: the check then assumes this machine's resources
as Ray would detect them, starts nothing, and exits 2 when the plan's total exceeds them (the local
Ray has no autoscaler, so train's placement would fail). With `RAY_ADDRESS` it connects to that
cluster (no workers) and asks the sweep's `check_cluster_fits`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from ray_lab.config.errors import ConfigError
from ray_lab.config.schema import ExperimentConfig
from ray_lab.learner.plan import TrainingPlan, WorkerGroupPlan

__all__ = ["local_node_resources", "local_shortfall", "run_check"]

_NOT_SHOWN = {"CPU", "GPU", "memory", "object_store_memory"}  # CPU and GPU come first
_EDGE_WORKERS = 3  # a long worker group lists its first and last three bundles


def run_check(config_path: str, overrides: Sequence[str]) -> int:
    """Check `config_path` with `overrides` as `train` would, print config and plan; 0, or ConfigError (exit 2)."""
    from ray_lab.cli.train import check_before_launch, print_checked_config
    from ray_lab.learner.experiment import parse_config

    path = Path(config_path)
    config, _ = check_before_launch(parse_config(path, overrides), path)
    print_checked_config(config, f"ray-lab check: {path}")
    plan = _check_resources(config, str(path))
    print(f"ray-lab check: OK, {path} is ready to train ({plan.num_envs} envs); no run folder, no workers, no training")
    return 0


def _check_resources(config: ExperimentConfig, source: str) -> TrainingPlan:
    """The plan train would reserve, printed with its bundles; ConfigError when the cluster cannot hold it."""
    if os.environ.get("RAY_ADDRESS"):
        return _check_on_cluster(config, source)
    node = local_node_resources()
    from ray_lab.learner.placement import learner_gpus

    plan = _print_plan(config, learner_gpus(config, node.get("GPU", 0.0), can_add_gpu=lambda: False))
    custom = sorted(name for name in node if name not in _NOT_SHOWN and not name.startswith("node:"))
    shown = ", ".join(f"{name} {node.get(name, 0.0):g}" for name in ("CPU", "GPU", *custom))
    print(f"Resources: no RAY_ADDRESS, so train would start a local Ray; assumed this machine's: {shown}")
    problem = local_shortfall(plan, node)
    if problem is not None:
        raise ConfigError.single(source, "resources", problem)
    print("Resources: the plan fits this machine")
    return plan


def _check_on_cluster(config: ExperimentConfig, source: str) -> TrainingPlan:
    """Connect to the `RAY_ADDRESS` cluster (a driver only) and check the plan there as a sweep does."""
    import ray

    from ray_lab.cli.ray_connect import connect_ray
    from ray_lab.learner.placement import learner_gpus
    from ray_lab.tune.run import check_cluster_fits

    print(connect_ray())
    gpus = learner_gpus(config, float(ray.cluster_resources().get("GPU", 0.0)))
    plan = _print_plan(config, gpus)
    check_cluster_fits(config, gpus, source)
    print("Resources: some node of the cluster can hold each bundle (or an autoscaler can add one)")
    return plan


def _print_plan(config: ExperimentConfig, gpus: float) -> TrainingPlan:
    from ray_lab.learner.plan import plan_training

    plan = plan_training(config, gpus)
    print(plan.describe())
    print(f"Bundles ({plan.strategy}), one placement group:")
    print(f"  bundle 0: learner {_fmt(plan.learner_bundle)}")
    for group in (plan.train, plan.eval):
        if group is not None:
            for line in _group_lines(group):
                print(line)
    return plan


def _group_lines(group: WorkerGroupPlan) -> list[str]:
    """One line per worker of `group` (its bundle index, resources and global env indices); the first
    and last few of a long group, with how many alike are left out between them."""
    lines = []
    bundle = _fmt(group.options.actor_resources())
    shown = range(group.num_workers)
    if group.num_workers > 2 * _EDGE_WORKERS + 1:
        shown = range(_EDGE_WORKERS)
    for worker in shown:
        lines.append(_worker_line(group, worker, bundle))
    if len(shown) < group.num_workers:
        left_out = group.num_workers - 2 * _EDGE_WORKERS
        lines.append(f"  ... {left_out} more {group.role} worker bundles alike ...")
        lines += [_worker_line(group, w, bundle) for w in range(group.num_workers - _EDGE_WORKERS, group.num_workers)]
    return lines


def _worker_line(group: WorkerGroupPlan, worker: int, bundle: str) -> str:
    envs = group.assignment.env_range(worker)
    span = f"env {envs.start}" if len(envs) == 1 else f"envs {envs.start}-{envs.stop - 1}"
    return f"  bundle {group.first_bundle + worker}: {group.role} worker {worker} {bundle}, {span}"


def _fmt(bundle: dict[str, float]) -> str:
    return "{" + ", ".join(f"{name}: {amount:g}" for name, amount in bundle.items()) + "}"


def local_node_resources(detect: Callable[[], dict[str, float]] | None = None) -> dict[str, float]:
    """The resources a local Ray started by train would have: Ray's own detection (CPUs within the cgroup
    limit, GPUs, memory, `RAY_OVERRIDE_RESOURCES`), without starting Ray; `os.cpu_count()` CPUs if it fails."""
    try:
        return (detect or _ray_detected)()
    except Exception:  # a Ray whose private resource detection moved: the plain CPU count
        return {"CPU": float(os.cpu_count() or 1)}


def _ray_detected() -> dict[str, float]:
    from ray._private.resource_and_label_spec import ResourceAndLabelSpec

    spec = ResourceAndLabelSpec().resolve(is_head=True)
    return {name: float(amount) for name, amount in spec.to_resource_dict().items()}


def local_shortfall(plan: TrainingPlan, node: dict[str, float]) -> str | None:
    """Why a single-node Ray with `node`'s resources cannot hold the plan's placement group, or None."""
    from ray_lab.learner.placement import shortfall_message, total_resources

    bundles = plan.bundles()
    lacking = any(amount > node.get(name, 0.0) for name, amount in total_resources(bundles).items())
    if not lacking and not (plan.strategy == "STRICT_SPREAD" and len(bundles) > 1):
        return None
    detail = shortfall_message(bundles, node, plan.strategy).replace("the cluster has", "this machine has")
    return (
        f"train would fail to place this training on a local Ray: {detail}. Lower workers.num_workers, "
        "workers.num_cpus, workers.num_gpus, workers.resources or the learner's num_cpus, num_gpus or resources, "
        "or set RAY_ADDRESS to check against a cluster"
    )
