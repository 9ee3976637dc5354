"""The run-level step timeout fits the Unity timeouts: derived by default, a config error when too short."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ray_lab.config import ConfigError
from ray_lab.config.schema import ExperimentConfig
from ray_lab.envs.factory import make_env_factories
from ray_lab.learner.experiment import load_experiment
from ray_lab.learner.plan import plan_training
from ray_lab.workers import RayVecEnv

ROOT = Path(__file__).resolve().parents[1]
UNITY = """
environment:
  unity:
    extra_args: ["--light", "--crash-after-steps", "3"]
    step_timeout_s: 2
    connect_timeout_s: 20
    max_restarts: 2
    max_restarts_per_minute: 2
workers:
  num_workers: 1
  envs_per_worker: 2
  eval_envs_per_worker: 1
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_derived_timeout_covers_every_env_of_a_worker_restarting(tmp_path: Path) -> None:
    config = load_experiment(write(tmp_path, UNITY))
    per_env = 2 + 2 * (5 + 20 + 2)  # the call's timeout, then 2 relaunches: close, connect, reset timeout
    assert config.environment.unity is not None and config.environment.unity.longest_call_s() == per_env
    assert config.worker_step_timeout_s(2) == 2 * per_env + 10
    plan = plan_training(config, 0.0)
    assert plan.train.options.step_timeout_s == 2 * per_env + 10
    assert plan.eval is not None and plan.eval.options.step_timeout_s == per_env + 10  # the eval worker: one env
    assert ExperimentConfig().worker_step_timeout_s(8) == 60.0  # plain gymnasium envs: as before


def test_an_explicit_timeout_too_short_for_restarts_names_both_keys(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_experiment(write(tmp_path, UNITY + "  step_timeout_s: 60\n"))
    (problem,) = info.value.problems
    assert problem.key == "workers.step_timeout_s"
    assert "shorter than the 112 s" in problem.message and "environment.unity.step_timeout_s" in problem.message
    assert "connect_timeout_s" in problem.message and "raise it to 112" in problem.message
    assert load_experiment(write(tmp_path, UNITY + "  step_timeout_s: 112\n")).worker_step_timeout_s(2) == 112


def test_two_restarts_in_one_vector_step_keep_the_run_going(ray_session: None, tmp_path: Path) -> None:
    """Both players of one worker crash on the same step: both restart within the call, the run goes on."""
    config = load_experiment(write(tmp_path, UNITY))
    train = plan_training(config, 0.0).train
    assert train.assignment.slots() == [(0, 0), (0, 1)]  # the config's one worker with two players
    factories = make_env_factories(config.environment, train.assignment, log_dir=str(tmp_path / "logs"))
    venv = RayVecEnv(factories, train.options)
    try:
        venv.reset()
        actions = np.zeros((2, *venv.action_space.shape), dtype=np.float32)
        restarted_together = False
        for _ in range(6):
            _, _, dones, infos = venv.step(actions)
            if all(info.get("env_restarted") for info in infos):
                restarted_together = bool(dones.all())
        assert restarted_together
        assert [info["restarts"] for info in infos] == [1, 1]
    finally:
        venv.close()
