"""Agents really learn through Ray env workers: PPO solves CartPole-v1, SAC improves Pendulum-v1."""

from __future__ import annotations

import csv
from pathlib import Path

import gymnasium as gym
import pytest
from random_policy import RandomPolicy
from stable_baselines3.common.vec_env import DummyVecEnv

from ray_lab.evaluation.seeded import run_seeded_episodes
from ray_lab.learner.actor import run_training
from ray_lab.learner.experiment import load_experiment
from ray_lab.tracking.run_dir import prepare_run

ROOT = Path(__file__).resolve().parents[1]


def eval_returns(run_dir: Path) -> list[float]:
    with (run_dir / "evaluations.csv").open() as file:
        return [float(row["mean_return"]) for row in csv.DictReader(file)]


@pytest.mark.slow
def test_ppo_solves_cartpole_on_its_config_workers(ray_session: None, tmp_path: Path) -> None:
    config = load_experiment(
        ROOT / "configs" / "cartpole_ppo.yaml",
        ["training.use_wandb=false", f"experiment.output_dir={tmp_path}", "training.training.log_points=1"],
    )
    assert (config.workers.num_workers, config.workers.envs_per_worker) == (1, 8)
    assert config.loop.total_timesteps == 100_000  # rl-baselines3-zoo's budget
    run_dir = prepare_run(config).root
    summary = run_training(config, run_dir, None)
    returns = eval_returns(run_dir)
    assert summary.best_eval_return is not None and summary.best_eval_return >= 475, returns
    assert max(returns) >= 475 and len(returns) == config.loop.eval.num_evals


@pytest.mark.slow
def test_sac_improves_pendulum_within_20k_steps(ray_session: None, tmp_path: Path) -> None:
    config = load_experiment(
        ROOT / "configs" / "pendulum_sac.yaml",
        [
            "training.use_wandb=false",
            f"experiment.output_dir={tmp_path}",
            "training.training.log_points=0",
            "training.training.total_timesteps=5000",
            "training.training.eval.num_evals=2",
            "training.architecture.net_arch=[64, 64]",
            "training.algorithm_parameters.batch_size=128",
        ],
    )
    env = DummyVecEnv([lambda: gym.make("Pendulum-v1")] * 5)
    env.action_space.seed(0)
    random = run_seeded_episodes(RandomPolicy(env), env, config.loop.eval.seed, config.loop.eval.num_episodes)
    run_dir = prepare_run(config).root
    run_training(config, run_dir, None)
    returns = eval_returns(run_dir)
    # Random actions score about -1200 on these seeds; a learned swing-up holds the pole: better than -400.
    # 5k steps with batches of 128 reach about -240 here (-1370 after 2.5k); 8k steps of 256 cost 45 s more.
    assert random.mean_return < -900, random
    assert max(returns) > -400 and max(returns) > random.mean_return + 500, (returns, random.mean_return)
