"""Object hyperparameters from YAML (issue 13 item 3): action noise, replay buffers (HER), the optimizer and
schedules, checked when the config loads and reaching the SB3 model through real `ray-lab train` runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
import yaml
from sb3_contrib import ARS
from stable_baselines3 import PPO, SAC, TD3, HerReplayBuffer
from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise
from stable_baselines3.common.vec_env import DummyVecEnv

from ray_lab.cli.main import main as cli_main
from ray_lab.config.errors import ConfigError
from ray_lab.learner.actor import run_training
from ray_lab.learner.algorithms import schedule_parameter_names
from ray_lab.learner.experiment import load_experiment
from ray_lab.learner.noise import build_action_noise
from ray_lab.learner.schedules import ExponentialSchedule, LinearSchedule, apply_schedules, parse_schedule
from ray_lab.tracking.run_dir import prepare_run

GOAL_ENV = "ray_lab.envs.testing:ray_lab/Goal-v0"
P = "training.algorithm_parameters"


def write_config(
    tmp_path: Path, algorithm: str, params: dict[str, Any], env_id: str = "Pendulum-v1", **extra: Any
) -> Path:
    """A small config: one worker, one env, no evaluation rounds, no checkpoints."""
    data: dict[str, Any] = {
        "experiment": {"name": "objects", "output_dir": str(tmp_path / "out")},
        "environment": {"id": env_id},
        "training": {
            "algorithm": algorithm,
            "use_wandb": False,
            "algorithm_parameters": params,
            "architecture": {"net_arch": [32, 32]},
            "training": {"total_timesteps": 300, "log_points": 0, "eval": {"num_evals": 0}, "verbose": 0},
        },
        "workers": {"num_workers": 1, "envs_per_worker": 1, "eval_envs_per_worker": 1},
        "learner": {"num_cpus": 0.5},
        **extra,
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


OFF_POLICY = {"learning_starts": 50, "batch_size": 32, "buffer_size": 1000}

BAD: dict[str, tuple[str, dict[str, Any], str, str]] = {
    "unknown noise type": (
        "td3",
        {"action_noise": {"type": "norml", "sigma": 0.1}},
        "action_noise.type",
        "did you mean 'normal'",
    ),
    "sigma not positive": ("td3", {"action_noise": {"type": "normal", "sigma": 0}}, "action_noise.sigma", "positive"),
    "no sigma": ("ddpg", {"action_noise": {"type": "normal"}}, "action_noise.sigma", "needs 'sigma'"),
    "theta on normal noise": (
        "td3",
        {"action_noise": {"type": "normal", "sigma": 0.1, "theta": 0.15}},
        "action_noise.theta",
        "does not take 'theta'",
    ),
    "noise not a mapping": ("sac", {"action_noise": 0.1}, "action_noise", "must be a mapping"),
    "noise on PPO": ("ppo", {"action_noise": {"type": "normal", "sigma": 0.1}}, "action_noise", "for PPO"),
    "unknown buffer": ("sac", {"replay_buffer_class": "HerReplayBufer"}, "replay_buffer_class", "'HerReplayBuffer'"),
    "bad buffer path": ("sac", {"replay_buffer_class": "no_such.Buffer"}, "replay_buffer_class", "cannot import"),
    "buffer kwarg": (
        "sac",
        {"replay_buffer_class": "HerReplayBuffer", "replay_buffer_kwargs": {"n_sampled_goals": 4}},
        "replay_buffer_kwargs.n_sampled_goals",
        "did you mean 'n_sampled_goal'",
    ),
    "goal strategy": (
        "td3",
        {"replay_buffer_class": "HerReplayBuffer", "replay_buffer_kwargs": {"goal_selection_strategy": "futur"}},
        "replay_buffer_kwargs.goal_selection_strategy",
        "did you mean 'future'",
    ),
    "buffer on PPO": ("ppo", {"replay_buffer_class": "HerReplayBuffer"}, "replay_buffer_class", "for PPO"),
    "unknown optimizer": (
        "ppo",
        {"policy_kwargs": {"optimizer_class": "AdamWW"}},
        "policy_kwargs.optimizer_class",
        "did you mean 'AdamW'",
    ),
    "optimizer kwarg": (
        "sac",
        {"policy_kwargs": {"optimizer_class": "AdamW", "optimizer_kwargs": {"weight_decy": 0.1}}},
        "policy_kwargs.optimizer_kwargs.weight_decy",
        "did you mean 'weight_decay'",
    ),
    "optimizer lr": (
        "ppo",
        {"policy_kwargs": {"optimizer_kwargs": {"lr": 0.1}}},
        "policy_kwargs.optimizer_kwargs.lr",
        "learning_rate",
    ),
    "schedule on gamma": ("ppo", {"gamma": "lin_0.99"}, "gamma", "does not take a schedule"),
    "exp schedule without end": ("ppo", {"learning_rate": "exp_1e-3"}, "learning_rate", "exp_<start>_<end>"),
    "clip_range schedule unreadable": ("ppo", {"clip_range": "lin_0.2_x"}, "clip_range", "cannot read"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_object_hyperparameters_fail_at_load(case: str, tmp_path: Path) -> None:
    algorithm, params, key, hint = BAD[case]
    path = write_config(tmp_path, algorithm, params)
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    problems = [(p.key, p.message) for p in info.value.problems]
    assert any(k == f"{P}.{key}" and hint in m for k, m in problems), problems
    assert all(p.source == str(path) for p in info.value.problems)


def test_a_bad_noise_spec_exits_2_through_the_cli(tmp_path: Path, ray_env: dict[str, str]) -> None:
    path = write_config(tmp_path, "td3", {"action_noise": {"type": "gaussian", "sigma": 0.1}})
    result = subprocess.run(
        [sys.executable, "-m", "ray_lab", "train", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=ray_env,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    line = next(line for line in result.stderr.splitlines() if f"{P}.action_noise.type" in line)
    assert str(path) in line and "expected one of: normal, ornstein_uhlenbeck" in line
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


def test_noise_is_sized_to_the_action_space_and_needs_a_box() -> None:
    from gymnasium import spaces

    box = spaces.Box(-1.0, 1.0, shape=(3,))
    noise = build_action_noise({"type": "ornstein_uhlenbeck", "sigma": 0.3, "theta": 0.2, "dt": 0.05}, box)
    assert isinstance(noise, OrnsteinUhlenbeckActionNoise)
    assert noise._mu.shape == (3,) and np.allclose(noise._sigma, 0.3) and (noise._theta, noise._dt) == (0.2, 0.05)
    with pytest.raises(ValueError, match="action_noise needs a continuous"):
        build_action_noise({"type": "normal", "sigma": 0.1}, spaces.Discrete(3))


def test_schedules_cover_every_key_that_takes_one() -> None:
    assert schedule_parameter_names(PPO) == {"learning_rate", "clip_range", "clip_range_vf"}
    assert schedule_parameter_names(SAC) == {"learning_rate"}
    assert schedule_parameter_names(ARS) == {"learning_rate", "delta_std"}  # not converted before
    converted = apply_schedules({"delta_std": "lin_0.05", "n_delta": 4}, schedule_parameter_names(ARS))
    assert converted["delta_std"] == LinearSchedule(0.05)
    exp = parse_schedule("exp_1e-3_1e-5", "learning_rate")
    assert isinstance(exp, ExponentialSchedule)
    assert exp(1.0) == pytest.approx(1e-3) and exp(0.5) == pytest.approx(1e-4) and exp(-0.1) == pytest.approx(1e-5)
    towards = parse_schedule("lin_1e-3_1e-4", "learning_rate")
    assert callable(towards) and towards(0.0) == pytest.approx(1e-4) and towards(0.5) == pytest.approx(5.5e-4)


def _train(path: Path) -> Path:
    config = load_experiment(path, run_preflight=True)
    run_dir = prepare_run(config).root
    run_training(config, run_dir, None, in_process=True)
    return run_dir


def test_td3_with_action_noise_trains(ray_session: None, tmp_path: Path) -> None:
    noise = {"type": "ornstein_uhlenbeck", "sigma": 0.2, "theta": 0.1}
    run_dir = _train(write_config(tmp_path, "td3", {**OFF_POLICY, "action_noise": noise}))
    model = TD3.load(run_dir / "model.zip", device="cpu")
    assert model.num_timesteps >= 300
    assert isinstance(model.action_noise, OrnsteinUhlenbeckActionNoise)
    assert model.action_noise._mu.shape == (1,) and np.allclose(model.action_noise._sigma, 0.2)
    assert model.action_noise._theta == 0.1


def test_sac_with_her_trains_through_ray_workers(ray_session: None, tmp_path: Path) -> None:
    params = {
        **OFF_POLICY,
        "replay_buffer_class": "HerReplayBuffer",
        "replay_buffer_kwargs": {"n_sampled_goal": 4, "goal_selection_strategy": "future"},
        "action_noise": {"type": "normal", "sigma": 0.1},
    }
    path = write_config(tmp_path, "sac", params, env_id=GOAL_ENV)
    data = yaml.safe_load(path.read_text())
    data["workers"]["envs_per_worker"] = 2  # HER asks env 0 of the RayVecEnv for rewards of relabelled goals
    path.write_text(yaml.safe_dump(data))
    run_dir = _train(path)
    env = DummyVecEnv([lambda: gym.make(GOAL_ENV)])  # SB3 builds a HER buffer only with an env
    model = SAC.load(run_dir / "model.zip", env=env, device="cpu")
    assert model.num_timesteps >= 300 and model.replay_buffer_class is HerReplayBuffer
    noise = getattr(model.action_noise, "base_noise", None)  # SB3's VecNoise: one copy per env
    assert isinstance(noise, NormalActionNoise) and noise._mu.shape == (2,) and np.allclose(noise._sigma, 0.1)
    assert cli_main(["play", "--run", str(run_dir), "--episodes", "2"]) == 0  # play loads a HER model with its env


def test_her_on_a_non_goal_env_names_the_key(ray_session: None, tmp_path: Path) -> None:
    path = write_config(tmp_path, "sac", {**OFF_POLICY, "replay_buffer_class": "HerReplayBuffer"})
    config = load_experiment(path)
    run_dir = prepare_run(config).root
    with pytest.raises(Exception, match=f"{P}.replay_buffer_class: HerReplayBuffer needs a goal-conditioned env"):
        run_training(config, run_dir, None, in_process=True)


def test_optimizer_and_schedules_reach_the_ppo_model(ray_session: None, tmp_path: Path) -> None:
    params = {
        "n_steps": 64,
        "batch_size": 32,
        "n_epochs": 1,
        "learning_rate": "exp_1e-3_1e-4",
        "clip_range": "lin_0.2",
        "policy_kwargs": {"optimizer_class": "AdamW", "optimizer_kwargs": {"weight_decay": 0.02, "eps": 1e-6}},
    }
    path = write_config(tmp_path, "ppo", params, env_id="CartPole-v1")
    run_dir = _train(path)
    model = PPO.load(run_dir / "model.zip", device="cpu")
    optimizer = model.policy.optimizer
    assert isinstance(optimizer, torch.optim.AdamW)
    group = optimizer.param_groups[0]
    assert group["weight_decay"] == 0.02 and group["eps"] == 1e-6
    assert model.learning_rate == ExponentialSchedule(1e-3, 1e-4)
    clip_range = model.clip_range
    assert callable(clip_range) and clip_range(1.0) == pytest.approx(0.2) and clip_range(0.5) == pytest.approx(0.1)
    assert 1e-4 <= group["lr"] < 1e-3  # decayed along the exponential schedule
