"""VecNormalize and frame stacking through a real run: statistics saved beside each model and used by play."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ray_lab.cli.main import main
from ray_lab.learner.actor import run_training
from ray_lab.learner.build import build_local_env, load_pretrained_vecnormalize
from ray_lab.learner.experiment import load_experiment
from ray_lab.tracking.artifacts import load_vecnormalize_stats
from ray_lab.tracking.run_dir import prepare_run

ROOT = Path(__file__).resolve().parents[1]


def test_vecnormalize_and_frame_stack_run_save_and_replay(
    ray_session: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overrides = [
        "training.use_wandb=false",
        f"experiment.output_dir={tmp_path}",
        "training.training.total_timesteps=1024",
        "training.training.log_points=1",
        "training.training.eval.num_evals=1",
        "training.training.eval.num_episodes=2",
        "training.algorithm_parameters.n_steps=256",
        "training.algorithm_parameters.n_epochs=1",
        "training.algorithm_parameters.use_sde=false",
        "workers.num_workers=1",
        "workers.envs_per_worker=2",
        "wrappers.vec_normalize.enabled=true",
        "wrappers.frame_stack.n_stack=2",
    ]
    config = load_experiment(ROOT / "configs" / "pendulum_ppo.yaml", overrides)
    run_dir = prepare_run(config).root
    summary = run_training(config, run_dir, None)
    assert summary.timesteps >= 1024

    for stats in ("model_vecnormalize.pkl", "best_model_vecnormalize.pkl"):
        saved = load_vecnormalize_stats(run_dir / stats)
        assert saved.obs_rms.count > 1000  # statistics of the training envs, not a fresh wrapper
        assert saved.obs_rms.mean.shape == (3,)  # normalised before stacking: Pendulum's own 3 values
    assert list((run_dir / "checkpoints").glob("*_vecnormalize.pkl"))

    env = build_local_env(config)
    assert env.observation_space.shape == (6,)  # two stacked frames
    assert load_pretrained_vecnormalize(env, run_dir / "model.zip")
    env.close()

    capsys.readouterr()
    code = main(["play", "--run", str(run_dir), "--episodes", "2", "--set", "training.use_wandb=false"])
    out = capsys.readouterr().out
    assert code == 0
    returns = [float(line.split("return")[1].split()[0]) for line in out.splitlines() if "seed 100" in line]
    assert len(returns) == 2 and all(np.isfinite(returns))
