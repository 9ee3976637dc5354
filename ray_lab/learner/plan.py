"""The training plan: what one training reserves and where each of its envs lives, computed once.

:func:`plan_training` turns a config (and the GPUs the learner gets) into a :class:`TrainingPlan`:
the learner's bundle and device, the train and eval worker groups (their counts, options and
placement-group bundles) and env -> (worker, slot). Placement, env building, the Tune resource
callback and the start-up log all read the plan; nothing downstream divides or multiplies the
config's counts again.

Nothing here imports Stable-Baselines3 or torch, so the CLI and Tune can plan a training without
paying for them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym

from ray_lab.config.schema import ExperimentConfig
from ray_lab.envs.factory import make_env_factories, with_parameters
from ray_lab.tracking.run_dir import RunLayout
from ray_lab.workers import WorkerOptions, worker_bundles
from ray_lab.workers.assignment import EnvAssignment

Role = Literal["train", "eval"]


@dataclass(frozen=True)
class WorkerGroupPlan:
    """One role's env workers: their options, the env split over them, and their first bundle."""

    role: Role
    options: WorkerOptions
    assignment: EnvAssignment

    @property
    def num_workers(self) -> int:
        return self.assignment.num_workers

    @property
    def num_envs(self) -> int:
        return self.assignment.num_envs

    @property
    def first_bundle(self) -> int:
        """Index of this group's first bundle in the training's placement group."""
        return self.options.bundle_offset

    def bundles(self) -> list[dict[str, float]]:
        """One placement-group bundle per worker."""
        return worker_bundles(self.num_envs, self.options)

    def placed(self, placement_group: Any) -> WorkerOptions:
        """The workers' options, scheduled into `placement_group` from :attr:`first_bundle`."""
        return dataclasses.replace(self.options, placement_group=placement_group)

    def describe(self) -> str:
        bundle = _resources(self.options.actor_resources())
        return f"{self.num_workers} {self.role} worker(s) x {self.describe_envs()} {{{bundle}}} each"

    def count_envs(self) -> str:
        """How the env count comes about: `n_envs = 2 workers x 1 player x 16 agents = 32`."""
        a = self.assignment
        parts = [f"{self.num_workers} worker{'s' if self.num_workers > 1 else ''}"]
        if a.agents_per_instance == 1:
            parts.append(f"{a.envs_per_worker} env{'s' if a.envs_per_worker > 1 else ''}")
        else:
            parts += [f"{a.instances_per_worker} player{'s' if a.instances_per_worker > 1 else ''}"]
            parts += [f"{a.agents_per_instance} agents"]
        return f"n_envs = {' x '.join(parts)} = {self.num_envs}"

    def describe_envs(self) -> str:
        """What each worker holds, and the envs in all: `4 envs (8 in all)`, `2 players x 8 agents (32 in all)`."""
        a = self.assignment
        if a.agents_per_instance == 1:
            return f"{a.envs_per_worker} env{'s' if a.envs_per_worker > 1 else ''} ({self.num_envs} in all)"
        players = f"{a.instances_per_worker} player{'s' if a.instances_per_worker > 1 else ''}"
        return f"{players} x {a.agents_per_instance} agents ({self.num_envs} envs in all)"


@dataclass(frozen=True)
class TrainingPlan:
    """Bundle 0 is the learner, then the train workers, then the eval workers (when there are rounds)."""

    learner_bundle: dict[str, float]
    learner_gpus: float
    device: str
    strategy: str
    train: WorkerGroupPlan
    eval: WorkerGroupPlan | None

    @property
    def num_envs(self) -> int:
        """Training envs in all."""
        return self.train.num_envs

    def learner_actor_resources(self) -> dict[str, float]:
        """The learner bundle's custom resources (CPU and GPU go to Ray's own actor options)."""
        return {name: amount for name, amount in self.learner_bundle.items() if name not in ("CPU", "GPU")}

    def bundles(self) -> list[dict[str, float]]:
        """All bundles of the training, in the order the learner and workers index them."""
        bundles = [dict(self.learner_bundle), *self.train.bundles()]
        return bundles + (self.eval.bundles() if self.eval is not None else [])

    def describe(self) -> str:
        """One line for the start-up log (the placement plan)."""
        learner = _resources(self.learner_bundle)
        groups = [self.train.describe()] + ([self.eval.describe()] if self.eval is not None else [])
        return f"Plan: learner {{{learner}}} on {self.device}; " + "; ".join(groups) + f" ({self.strategy})"


def _resources(bundle: dict[str, float]) -> str:
    return ", ".join(f"{name} {amount:g}" for name, amount in bundle.items())


def learner_device(config: ExperimentConfig, gpus: float) -> str:
    """The learner's torch device for the GPUs it reserved: the one rule for `train` and Tune trials."""
    device = config.loop.device
    if device == "auto" or (device.startswith("cuda") and gpus <= 0):
        return "cuda" if gpus > 0 else "cpu"
    return device


def _learner_bundle(config: ExperimentConfig, gpus: float) -> dict[str, float]:
    bundle = {"CPU": config.learner.num_cpus, **config.learner.resources}
    if gpus > 0:
        bundle["GPU"] = gpus
    return bundle


def _worker_options(config: ExperimentConfig, role: Role, assignment: EnvAssignment, first: int) -> WorkerOptions:
    w = config.workers
    return WorkerOptions(
        envs_per_worker=assignment.envs_per_worker,
        num_cpus=w.num_cpus,
        num_gpus=w.num_gpus,
        resources=dict(w.resources),
        step_timeout_s=config.worker_step_timeout_s(assignment.instances_per_worker),
        max_restarts=w.max_restarts,
        env_concurrency=w.env_concurrency,
        # Eval workers step in short bursts between long idle stretches: a compiled graph would
        # busy-poll a core each while they wait (see docs/benchmarks.md, "Idle workers").
        transport="auto" if role == "eval" and w.transport == "compiled" else w.transport,
        bundle_offset=first,
        name=role,
    )


def _group(config: ExperimentConfig, role: Role, instances: int, per_worker: int, first: int) -> WorkerGroupPlan:
    """`instances` envs (simulator players) over workers of `per_worker` each, times the agents of each."""
    k = agents_per_instance(config)
    assignment = EnvAssignment(instances * k, per_worker * k, k)
    return WorkerGroupPlan(role, _worker_options(config, role, assignment, first), assignment)


def agents_per_instance(config: ExperimentConfig) -> int:
    """Envs each simulator instance serves (`environment.unity.agents_per_instance`; 1 for other envs)."""
    unity = config.environment.unity
    return 1 if unity is None else unity.agents_per_instance


def plan_training(config: ExperimentConfig, gpus: float) -> TrainingPlan:
    """The plan of `config`'s training, its learner holding `gpus` (see `placement.learner_gpus`).

    The train workers are `workers.num_workers` x `workers.envs_per_worker` (x the agents of each
    simulator instance); the eval workers hold enough envs for one batch of episodes
    (`eval.num_episodes`), at most what `workers.eval_workers` x `eval_envs_per_worker` hold, and
    there are none without evaluation rounds.
    """
    w = config.workers
    train = _group(config, "train", w.num_workers * w.envs_per_worker, w.envs_per_worker, 1)
    k = agents_per_instance(config)
    eval_envs = min(-(-config.loop.eval.num_episodes // k), w.eval_workers * w.eval_envs_per_worker)
    first_eval = 1 + train.num_workers
    evals = (
        _group(config, "eval", eval_envs, w.eval_envs_per_worker, first_eval) if config.loop.eval.num_evals else None
    )
    return TrainingPlan(
        learner_bundle=_learner_bundle(config, gpus),
        learner_gpus=gpus,
        device=learner_device(config, gpus),
        strategy=config.learner.placement_strategy,
        train=train,
        eval=evals,
    )


def group_env_factories(
    config: ExperimentConfig, group: WorkerGroupPlan, layout: RunLayout, render_mode: str | None = None
) -> list[Callable[[], gym.Env]]:
    """One factory per env of `group`; simulator players log into the run's `unity/` folder.

    With `environment.parameters` (or a curriculum) each env draws its own from the run's seed and
    sends them at every reset.
    """
    factories = make_env_factories(
        config.environment,
        group.assignment,
        render_mode=render_mode,
        monitor=None if group.role == "train" else False,
        group=group.role,
        log_dir=str(layout.unity_dir),
        run_name=layout.root.name,
    )
    return with_parameters(factories, config.environment, config.loop.seed, group.role)


def train_env_factories(config: ExperimentConfig, plan: TrainingPlan, layout: RunLayout) -> list[Callable[[], gym.Env]]:
    """The training envs' factories (rendering frames when training videos are recorded)."""
    env = config.environment
    return group_env_factories(config, plan.train, layout, "rgb_array" if env.video_wrapper else env.render_mode)
