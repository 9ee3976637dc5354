"""The training plan (counts, bundles, env -> worker slot) and sweep trials derived from one checked config.

No Ray here: the plan is plain data from the config, and each consumer's reading of it is checked
against what the plan says. The trainings that run on it are in test_train_cli, test_unity_training
and test_sweep.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from ray_lab.config.errors import ConfigError
from ray_lab.learner.experiment import load_experiment
from ray_lab.learner.plan import plan_training, train_env_factories
from ray_lab.tracking.run_dir import RunLayout
from ray_lab.tune.load import load_sweep
from ray_lab.tune.space import derive_trial, trial_config

ROOT = Path(__file__).resolve().parents[1]
CARTPOLE = ROOT / "configs" / "cartpole_ppo.yaml"
SWEEPS = ROOT / "configs" / "sweeps"


def test_the_plan_counts_each_worker_group_once_and_orders_the_bundles() -> None:
    workers = ["num_workers=3", "envs_per_worker=2", "eval_workers=2", "eval_envs_per_worker=4"]
    config = load_experiment(CARTPOLE, [f"workers.{setting}" for setting in workers])
    plan = plan_training(config, 0.0)
    assert (plan.train.num_workers, plan.num_envs, plan.train.first_bundle) == (3, 6, 1)
    assert plan.train.assignment.slots() == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)]
    assert plan.eval is not None
    # 10 eval episodes, at most 2 x 4 envs: 8 envs on 2 workers, after the learner and the 3 train workers
    assert (plan.eval.num_workers, plan.eval.num_envs, plan.eval.first_bundle) == (2, 8, 4)
    assert plan.bundles() == [{"CPU": 1.0}] + [{"CPU": 0.25}] * 5
    assert plan.train.placed("pg").placement_group == "pg" and plan.train.placed("pg").bundle_offset == 1
    assert plan.eval.placed("pg").bundle_offset == 4 and plan.eval.options.name == "eval"
    assert plan.describe().startswith("Plan: learner {CPU 1} on cpu; 3 train worker(s) x 2 envs (6 in all)")


def test_eval_workers_are_only_as_many_as_one_batch_of_episodes_needs() -> None:
    config = load_experiment(CARTPOLE, ["training.training.eval.num_episodes=3", "workers.eval_workers=4"])
    plan = plan_training(config, 0.0)
    assert plan.eval is not None and (plan.eval.num_workers, plan.eval.num_envs) == (1, 3)
    no_rounds = plan_training(load_experiment(CARTPOLE, ["training.training.eval.num_evals=0"]), 0.0)
    assert no_rounds.eval is None and len(no_rounds.bundles()) == 2


def test_the_learner_s_gpu_and_device_come_from_the_plan() -> None:
    config = load_experiment(CARTPOLE, ["training.training.device=cuda"])
    on_gpu, on_cpu = plan_training(config, 1.0), plan_training(config, 0.0)
    assert (on_gpu.device, on_gpu.bundles()[0]) == ("cuda", {"CPU": 1.0, "GPU": 1.0})
    assert (on_cpu.device, on_cpu.bundles()[0]) == ("cpu", {"CPU": 1.0})


def test_simulator_envs_get_their_worker_and_slot_from_the_plan(tmp_path: Path) -> None:
    """Each Unity env's player learns its worker and slot (its log file, its ROS 2 namespace) from the plan."""
    path = tmp_path / "unity.yaml"
    path.write_text("environment: {unity: {extra_args: [--light]}}\nworkers: {num_workers: 2, envs_per_worker: 3}\n")
    config = load_experiment(path)
    plan = plan_training(config, 0.0)
    factories: list[Any] = train_env_factories(config, plan, RunLayout(tmp_path / "run"))
    where = [(f.placement.worker_index, f.placement.env_slot, f.placement.environment_id) for f in factories]
    assert where == [(w, s, i) for i, (w, s) in enumerate(plan.train.assignment.slots())]
    assert where[-1] == (1, 2, 5) and factories[4].placement.ros2_namespace == "/ray_lab/run/worker_1"


@pytest.mark.parametrize("spec", sorted(SWEEPS.glob("*.yaml")), ids=lambda p: p.stem)
def test_derived_trials_equal_trials_rebuilt_from_the_raw_config(spec: Path) -> None:
    """A trial from the checked config (model_copy) is the config a full rebuild from dicts gives."""
    loaded = load_sweep(spec)
    rng = random.Random(0)
    for _ in range(5):
        values = {key: rng.choice(dist.examples()) for key, dist in loaded.spec.space.items()}
        derived = derive_trial(loaded.checked, values, 7, loaded.source)
        rebuilt = trial_config(loaded.base, loaded.spec, values, 7, loaded.source)
        assert derived.model_dump() == rebuilt.model_dump(), values
        assert plan_training(derived, 0.0).bundles() == plan_training(rebuilt, 0.0).bundles()
    # sections no swept key touches are shared, not rebuilt
    assert derived.tracking is loaded.checked.tracking and derived.environment is loaded.checked.environment


def test_a_bad_derived_value_names_the_full_key_and_the_spec() -> None:
    loaded = load_sweep(SWEEPS / "cartpole_ppo_asha.yaml")
    with pytest.raises(ConfigError) as info:
        derive_trial(loaded.checked, {"workers.num_workers": 0}, None, loaded.source)
    (problem,) = info.value.problems
    assert (problem.source, problem.key) == (loaded.source, "workers.num_workers")
    assert "greater than 0" in problem.message
    with pytest.raises(ConfigError) as info:
        derive_trial(loaded.checked, {"workers.num_workerz": 2}, None, loaded.source)
    assert "did you mean 'num_workers'" in str(info.value)
