"""Run a sweep with Ray Tune: one placement group per trial, every trial a ray-lab training, outputs at the end.

Sweep folder: `<output_dir>/<env>/<algorithm>/<name>_<timestamp>/` holding `spec.yaml`,
`base_config.yaml`, `trials/<trial>/` (each a run folder), `tune/` (Tune's experiment state and
checkpoints, what `--resume` continues), then `results.csv`, `summary.md`, `best_config.yaml` and plots.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray

from ray_lab.config.errors import ConfigError
from ray_lab.config.schema import ExperimentConfig
from ray_lab.learner.placement import autoscaler_running, learner_gpus, unplaceable_bundle
from ray_lab.learner.plan import plan_training
from ray_lab.tracking.atomic import atomic_write_text
from ray_lab.tracking.run_dir import create_run_dir
from ray_lab.tune.algorithms import build_scheduler, build_search
from ray_lab.tune.load import LoadedSweep, load_sweep
from ray_lab.tune.space import decode_values, derive_trial, param_space
from ray_lab.tune.trainable import SweepContext, run_trial, trial_seed

__all__ = ["SWEEP_INFO", "TUNE_DIR", "SweepRun", "new_sweep_dir", "start_sweep"]

TUNE_DIR = "tune"
SWEEP_INFO = "sweep.json"


@dataclass(frozen=True)
class SweepRun:
    """A finished (or interrupted) `Tuner.fit()`: where it ran and Tune's result grid."""

    sweep_dir: Path
    loaded: LoadedSweep
    results: Any


def new_sweep_dir(loaded: LoadedSweep) -> Path:
    """A fresh sweep folder with copies of the spec and the base config (what `--resume` reads back)."""
    sample, spec = loaded.sample, loaded.spec
    root = Path(spec.output_dir or sample.experiment.output_dir)
    sweep_dir = create_run_dir(root, sample.environment.name, sample.training.algorithm, spec.name)
    shutil.copyfile(loaded.spec_path, sweep_dir / "spec.yaml")
    shutil.copyfile(loaded.base_path, sweep_dir / "base_config.yaml")
    info = {"spec": str(loaded.spec_path), "base": str(loaded.base_path), "name": spec.name}
    atomic_write_text(sweep_dir / SWEEP_INFO, json.dumps(info, indent=2))
    return sweep_dir


def _bundles(loaded: LoadedSweep, gpus: float) -> Any:
    """Tune's resources for one trial: its learner and worker bundles, per trial config (workers may be swept)."""
    from ray.tune import PlacementGroupFactory

    def for_trial(params: dict[str, Any]) -> PlacementGroupFactory:
        spec = loaded.spec
        values = decode_values(spec, params) if all(key in params for key in spec.space) else {}
        config = derive_trial(loaded.checked, values or _firsts(loaded), trial_seed(spec, params), loaded.source)
        plan = plan_training(config, gpus)
        return PlacementGroupFactory(plan.bundles(), strategy=plan.strategy)

    return for_trial


def _firsts(loaded: LoadedSweep) -> dict[str, Any]:
    return {key: dist.examples()[0] for key, dist in loaded.spec.space.items()}


def check_cluster_fits(config: ExperimentConfig, gpus: float, source: str) -> None:
    """ConfigError (exit 2) when no node can hold one of a trial's bundles and no autoscaler can add one."""
    problem = unplaceable_bundle(plan_training(config, gpus).bundles())
    if problem is not None and not autoscaler_running():
        raise ConfigError.single(
            source,
            "resources",
            f"{problem} (per trial); lower the trial's resources (spec `resources`, or the base config's "
            "learner/workers) or add such nodes",
        )


def _tuner(loaded: LoadedSweep, sweep_dir: Path, gpus: float) -> Any:
    from ray import tune

    spec = loaded.spec
    population = spec.scheduler.type in ("pbt", "pb2")
    trainable = trainable_for(loaded, sweep_dir, gpus)
    tune_config = tune.TuneConfig(
        metric=spec.metric,
        mode=spec.mode,
        search_alg=build_search(spec, loaded.source),
        scheduler=build_scheduler(spec, loaded.source),
        # Optuna's Repeater counts trials, the seed grid multiplies samples: either way one sample per configuration.
        num_samples=spec.num_samples * (len(spec.seeds) if spec.search.algorithm == "optuna" and spec.seeds else 1),
        max_concurrent_trials=spec.search.max_concurrent_trials if spec.search.algorithm == "optuna" else None,
        time_budget_s=spec.budget.time_s,
    )
    run_config = tune.RunConfig(
        name=TUNE_DIR,
        storage_path=str(sweep_dir.resolve()),
        failure_config=tune.FailureConfig(max_failures=spec.max_failures),
        # PBT/PB2 trials restore other trials' checkpoints of any age: keep them all there.
        checkpoint_config=tune.CheckpointConfig(num_to_keep=None if population else spec.checkpoint.keep),
        verbose=1,
    )
    return tune.Tuner(trainable, param_space=_param_space(loaded), tune_config=tune_config, run_config=run_config)


def _param_space(loaded: LoadedSweep) -> dict[str, Any]:
    space = param_space(loaded.spec)
    if loaded.spec.search.algorithm == "optuna":
        space.pop("seed", None)  # Optuna's Repeater assigns the seeds (`__trial_index__`)
    return space


def trainable_for(loaded: LoadedSweep, sweep_dir: Path, gpus: float) -> Any:
    """The trainable (with its resources) that `Tuner.restore` needs to continue this sweep."""
    from ray import tune

    context = SweepContext(loaded.spec, loaded.checked, loaded.source, str(sweep_dir), gpus)
    return tune.with_resources(tune.with_parameters(run_trial, context=context), _bundles(loaded, gpus))


def start_sweep(loaded: LoadedSweep) -> SweepRun:
    """Check that the cluster can hold a trial, make the sweep folder, and run Tune to the end."""
    gpus = learner_gpus(loaded.sample, float(ray.cluster_resources().get("GPU", 0.0)))
    check_cluster_fits(loaded.sample, gpus, loaded.source)
    sweep_dir = new_sweep_dir(loaded)
    print(f"Sweep folder: {sweep_dir}", flush=True)
    results = _tuner(loaded, sweep_dir, gpus).fit()
    return SweepRun(sweep_dir, loaded, results)


def resume_sweep(sweep_dir: Path) -> SweepRun:
    """Continue an interrupted sweep in `sweep_dir`: finished trials stay, unfinished and errored ones go on."""
    from ray import tune

    spec_copy = sweep_dir / "spec.yaml"
    if not (sweep_dir / TUNE_DIR).is_dir() or not spec_copy.is_file():
        raise ConfigError.single(str(sweep_dir), "--resume", "not a sweep folder (no spec.yaml and tune/ inside)")
    loaded = load_sweep(spec_copy, base_override=sweep_dir / "base_config.yaml")
    gpus = learner_gpus(loaded.sample, float(ray.cluster_resources().get("GPU", 0.0)))
    tuner = tune.Tuner.restore(
        str((sweep_dir / TUNE_DIR).resolve()), trainable_for(loaded, sweep_dir, gpus), resume_errored=True
    )
    print(f"Resuming sweep: {sweep_dir}", flush=True)
    return SweepRun(sweep_dir, loaded, tuner.fit())
