"""The sweep spec file (`configs/sweeps/*.yaml`): typed sections, parsed once and checked before anything runs.

A spec names a base experiment config and what to vary::

    name: cartpole-lr
    base: ../cartpole_ppo.yaml                  # relative to this file
    set: {training.training.total_timesteps: 30000}
    space:
      training.algorithm_parameters.learning_rate: {loguniform: [1.0e-5, 1.0e-3]}
      training.algorithm_parameters.n_steps: {choice: [32, 64, 128]}
    metric: eval/mean_return                     # mean return of the seeded evaluation rounds
    mode: max
    search: {algorithm: random, max_concurrent_trials: 2}
    scheduler: {type: asha, grace_period: 1, reduction_factor: 2}
    num_samples: 6
    seeds: [0, 1]
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ray_lab.tune.distributions import Distribution

__all__ = [
    "METRICS",
    "BudgetSection",
    "CheckpointSection",
    "ResourcesSection",
    "SchedulerSection",
    "SearchSection",
    "SweepSpec",
]

METRICS = ("eval/mean_return", "eval/success_rate", "eval/mean_ep_length")
"""What every evaluation round reports to Tune (plus `timesteps` and `eval/round`)."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchSection(_Section):
    """How configurations are proposed."""

    algorithm: Literal["random", "grid", "optuna"] = Field(
        "random", description="`random` (and `grid` dimensions), `grid` (grid only) or `optuna` (TPE)."
    )
    max_concurrent_trials: int | None = Field(None, ge=1, description="Trials at once (default: as many as fit).")
    seed: int | None = Field(None, description="Seed of the search algorithm (reproducible proposals).")


class SchedulerSection(_Section):
    """Which trials go on: FIFO (all), ASHA (early stopping), PBT/PB2 (exploit and explore)."""

    type: Literal["fifo", "asha", "pbt", "pb2"] = Field("fifo", description="`fifo`, `asha`, `pbt` or `pb2`.")
    grace_period: int = Field(1, ge=1, description="ASHA: evaluation rounds before a trial may be stopped.")
    reduction_factor: float = Field(3.0, gt=1, description="ASHA: keep 1/reduction_factor at each rung.")
    perturbation_interval: int = Field(1, ge=1, description="PBT/PB2: evaluation rounds between perturbations.")
    quantile_fraction: float = Field(0.25, gt=0, le=0.5, description="PBT/PB2: bottom fraction that copies the top.")
    resample_probability: float = Field(0.25, ge=0, le=1, description="PBT: chance to resample instead of perturb.")
    mutations: list[str] | None = Field(
        None, description="PBT/PB2: the swept keys that change during training (default: all numeric ones)."
    )


class ResourcesSection(_Section):
    """Per-trial resources; each overrides the base config's `learner`/`workers` value when given."""

    learner_cpus: float | None = Field(None, gt=0, description="`learner.num_cpus`.")
    learner_gpus: float | None = Field(None, ge=0, description="`learner.num_gpus`.")
    num_workers: int | None = Field(None, ge=1, description="`workers.num_workers`.")
    envs_per_worker: int | None = Field(None, ge=1, description="`workers.envs_per_worker`.")
    worker_cpus: float | None = Field(None, ge=0, description="`workers.num_cpus`.")
    worker_resources: dict[str, float] | None = Field(None, description="`workers.resources`, e.g. `{unity: 1}`.")

    def overrides(self) -> dict[str, Any]:
        """The dotted config keys these resources set."""
        keys = {
            "learner.num_cpus": self.learner_cpus,
            "learner.num_gpus": self.learner_gpus,
            "workers.num_workers": self.num_workers,
            "workers.envs_per_worker": self.envs_per_worker,
            "workers.num_cpus": self.worker_cpus,
            "workers.resources": self.worker_resources,
        }
        return {key: value for key, value in keys.items() if value is not None}


class BudgetSection(_Section):
    """How long: timesteps per trial (overrides the base config) and wall time for the whole sweep."""

    timesteps: int | None = Field(None, gt=0, description="`training.training.total_timesteps` of every trial.")
    time_s: float | None = Field(None, gt=0, description="Stop starting and running trials after this many seconds.")


class CheckpointSection(_Section):
    """What a trial checkpoint holds besides model, VecNormalize statistics and timestep counter."""

    replay_buffer: bool | None = Field(
        None,
        description="Off-policy algorithms: also save the replay buffer (large). "
        "Default: as `training.training.checkpoint_replay_buffer` (on).",
    )
    keep: int = Field(2, ge=1, description="Checkpoints Tune keeps per trial (the latest; PBT/PB2 keep all).")


class SweepSpec(_Section):
    """A whole sweep: what `ray-lab sweep --spec FILE` runs."""

    name: str = Field(..., min_length=1, pattern=r"^[A-Za-z0-9_.-]+$", description="Names the sweep folder.")
    base: str = Field(..., min_length=1, description="The base experiment config (relative to the spec file).")
    set: dict[str, Any] = Field(default_factory=dict, description="Fixed overrides of the base config.")
    space: dict[str, Distribution] = Field(..., description="Dotted config key -> distribution.")
    metric: str = Field("eval/mean_return", description=f"What ranks trials: one of {', '.join(METRICS)}.")
    mode: Literal["max", "min"] = Field("max", description="`max` or `min` of the metric.")
    search: SearchSection = Field(default_factory=SearchSection)  # type: ignore[arg-type]
    scheduler: SchedulerSection = Field(default_factory=SchedulerSection)  # type: ignore[arg-type]
    num_samples: int = Field(1, ge=1, description="Configurations to sample (grid dimensions multiply them).")
    seeds: list[int] = Field(default_factory=list, description="Train every configuration once per seed.")
    resources: ResourcesSection = Field(default_factory=ResourcesSection)  # type: ignore[arg-type]
    budget: BudgetSection = Field(default_factory=BudgetSection)  # type: ignore[arg-type]
    checkpoint: CheckpointSection = Field(default_factory=CheckpointSection)  # type: ignore[arg-type]
    max_failures: int = Field(2, ge=0, description="Retries of a failed trial, each from its last checkpoint.")
    output_dir: str | None = Field(None, description="Where sweep folders go (default: the base config's).")

    @field_validator("space")
    @classmethod
    def _not_empty(cls, space: dict[str, Distribution]) -> dict[str, Distribution]:
        if not space:
            raise ValueError("the search space is empty; add at least one `dotted.key: {distribution: [...]}`")
        return space

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str) -> str:
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; evaluation rounds report {', '.join(METRICS)}")
        return metric

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct, got {seeds}")
        return seeds

    @model_validator(mode="after")
    def _consistent(self) -> SweepSpec:
        kinds = {key: dist.kind for key, dist in self.space.items()}
        if self.search.algorithm == "optuna" and "grid" in kinds.values():
            grids = [key for key, kind in kinds.items() if kind == "grid"]
            raise ValueError(f"optuna cannot search grid dimensions {grids}; use `choice` or search.algorithm random")
        if self.search.algorithm == "grid" and any(kind != "grid" for kind in kinds.values()):
            sampled = [key for key, kind in kinds.items() if kind != "grid"]
            raise ValueError(f"search.algorithm grid needs `grid` for every key; sampled: {sampled}")
        if self.scheduler.mutations:
            unknown = [key for key in self.scheduler.mutations if key not in self.space]
            if unknown:
                raise ValueError(f"scheduler.mutations {unknown} are not keys of `space`")
        overlap = sorted(set(self.space) & set(self.set))
        if overlap:
            raise ValueError(f"{overlap} are both swept (`space`) and fixed (`set`); keep one")
        return self

    @property
    def mutated_keys(self) -> list[str]:
        """PBT/PB2: the keys that change during training."""
        if self.scheduler.mutations:
            return list(self.scheduler.mutations)
        return [key for key, dist in self.space.items() if dist.numeric]
