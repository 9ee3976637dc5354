"""The spec's `search` and `scheduler` sections as Ray Tune search algorithms and trial schedulers.

Every scheduler measures time in evaluation rounds (`training_iteration`: one report per round), so
`grace_period: 2` means "at least two evaluation rounds" whatever the round length.
"""

from __future__ import annotations

from typing import Any

from ray_lab.config.errors import ConfigError
from ray_lab.tune.spec import SweepSpec

__all__ = ["build_scheduler", "build_search"]

TIME_ATTR = "training_iteration"


def build_search(spec: SweepSpec, source: str) -> Any:
    """Random/grid (`BasicVariantGenerator`) or Optuna TPE (`OptunaSearch`, repeated over `seeds`)."""
    if spec.search.algorithm in ("random", "grid"):
        from ray.tune.search import BasicVariantGenerator

        # Sampled values stay the same across the seed grid, so each configuration runs once per seed.
        return BasicVariantGenerator(
            constant_grid_search=True,
            random_state=spec.search.seed,
            max_concurrent=spec.search.max_concurrent_trials or 0,  # TuneConfig's limit ignores this generator
        )
    try:
        from ray.tune.search.optuna import OptunaSearch
    except ImportError as exc:  # pragma: no cover - optuna is a dependency
        raise ConfigError.single(source, "search.algorithm", f"optuna is not installed: {exc}") from None
    import optuna

    sampler = optuna.samplers.TPESampler(seed=spec.search.seed)
    searcher: Any = OptunaSearch(metric=spec.metric, mode=spec.mode, sampler=sampler)
    if len(spec.seeds) > 1:
        from ray.tune.search import Repeater

        # Each proposal is trained once per seed; Optuna learns from the mean over the seeds.
        searcher = Repeater(searcher, repeat=len(spec.seeds), set_index=True)
    return searcher


def _mutations(spec: SweepSpec) -> dict[str, Any]:
    from ray_lab.tune.space import param_space

    space = param_space(spec)
    return {key: space[key] for key in spec.mutated_keys}


def build_scheduler(spec: SweepSpec, source: str) -> Any:
    """FIFO, ASHA, PBT or PB2, with the spec's settings (metric and mode come from TuneConfig)."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, PopulationBasedTraining

    s = spec.scheduler
    if s.type == "fifo":
        return FIFOScheduler()
    if s.type == "asha":
        return ASHAScheduler(time_attr=TIME_ATTR, grace_period=s.grace_period, reduction_factor=s.reduction_factor)
    mutations = _mutations(spec)
    if not mutations:
        raise ConfigError.single(source, "scheduler.mutations", "PBT/PB2 need at least one numeric key to mutate")
    if s.type == "pbt":
        return PopulationBasedTraining(
            time_attr=TIME_ATTR,
            perturbation_interval=s.perturbation_interval,
            hyperparam_mutations=mutations,
            quantile_fraction=s.quantile_fraction,
            resample_probability=s.resample_probability,
        )
    return _pb2(spec, source)


def _pb2(spec: SweepSpec, source: str) -> Any:
    bounds: dict[str, Any] = {}
    for key in spec.mutated_keys:
        dist = spec.space[key]
        if dist.kind in ("choice", "grid"):
            bounds[key] = [float(min(dist.args)), float(max(dist.args))]
        else:
            bounds[key] = [float(dist.args[0]), float(dist.args[1])]
    try:
        from ray.tune.schedulers.pb2 import PB2

        return PB2(
            time_attr=TIME_ATTR,
            perturbation_interval=spec.scheduler.perturbation_interval,
            hyperparam_bounds=bounds,
            quantile_fraction=spec.scheduler.quantile_fraction,
        )
    except (ImportError, RuntimeError) as exc:  # Ray raises RuntimeError("Please install scikit-learn ...")
        message = f"PB2 needs GPy and scikit-learn: pip install 'ray-lab[pb2]' ({exc})"
        raise ConfigError.single(source, "scheduler.type", message) from None
