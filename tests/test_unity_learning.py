"""PPO learns the reference simulator's nav task through the full stack: Ray workers → bridges → simulator processes."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from random_policy import RandomPolicy
from stable_baselines3.common.vec_env import DummyVecEnv

from ray_lab.evaluation.seeded import run_seeded_episodes
from ray_lab.learner.actor import run_training
from ray_lab.learner.experiment import load_experiment
from ray_lab.tracking.run_dir import prepare_run
from unity_workers.envs import UnityEnv

ROOT = Path(__file__).resolve().parents[1]
EVAL_SEED, EPISODES = 1000, 10


LAYOUTS = {
    # 8 envs either way: eight single-agent players, or one player serving 8 agents (batch services)
    "8 players": ["workers.num_workers=2", "workers.envs_per_worker=4", "workers.eval_envs_per_worker=5"],
    "1 player x 8 agents": [
        "environment.unity.agents_per_instance=8",
        "workers.num_workers=1",
        "workers.envs_per_worker=1",
        "workers.eval_envs_per_worker=1",
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_ppo_reaches_the_target_after_16k_steps(ray_session: None, tmp_path: Path, layout: str) -> None:
    config = load_experiment(
        ROOT / "configs" / "reference_nav_ppo.yaml",
        [
            *LAYOUTS[layout],
            "training.use_wandb=false",
            f"experiment.output_dir={tmp_path}",
            "training.training.total_timesteps=16000",
            "training.algorithm_parameters.n_steps=128",
            "training.training.log_points=1",
            "training.training.eval.num_evals=2",
            f"training.training.eval.seed={EVAL_SEED}",
            f"training.training.eval.num_episodes={EPISODES}",
            "learner.num_cpus=0.5",
        ],
    )
    run_dir = prepare_run(config).root
    summary = run_training(config, run_dir, None)
    assert summary.timesteps >= 16000
    players = sorted(path.name for path in (run_dir / "unity").glob("worker_*.log"))  # one log per train player
    assert len(players) == (1 if "agents" in layout else 8), players
    with (run_dir / "evaluations.csv").open() as handle:
        rounds = list(csv.DictReader(handle))
    assert len(rounds) == 2 and rounds[-1]["seeds"] == ";".join(str(EVAL_SEED + i) for i in range(EPISODES))
    trained = float(rounds[-1]["success_rate"])

    env = DummyVecEnv([lambda: UnityEnv(log_dir=str(tmp_path / "random"))])
    try:
        env.action_space.seed(0)
        baseline = run_seeded_episodes(RandomPolicy(env), env, EVAL_SEED, EPISODES)
    finally:
        env.close()
    assert baseline.success_rate is not None and baseline.success_rate <= 0.3, baseline
    assert trained >= 0.8, rounds
