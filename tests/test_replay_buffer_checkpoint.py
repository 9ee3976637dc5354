"""Off-policy checkpoints keep the replay buffer: saved beside the model, loaded back into a fresh model."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
from stable_baselines3 import PPO, SAC

from ray_lab.tracking.artifacts import load_replay_buffer, replay_buffer_path_for, save_model, save_replay_buffer


def test_replay_buffer_round_trip(tmp_path: Path) -> None:
    model = SAC("MlpPolicy", gym.make("Pendulum-v1"), learning_starts=50, buffer_size=1000, seed=0, verbose=0)
    model.learn(300)
    model_zip = save_model(model, tmp_path / "model.zip")
    assert save_replay_buffer(model, model_zip) == replay_buffer_path_for(model_zip)
    restored = SAC.load(model_zip, env=gym.make("Pendulum-v1"))
    assert restored.num_timesteps == 300 and restored.replay_buffer.size() == 0
    assert load_replay_buffer(restored, model_zip)
    assert restored.replay_buffer.size() == model.replay_buffer.size() == 300
    np.testing.assert_array_equal(restored.replay_buffer.observations[:300], model.replay_buffer.observations[:300])


def test_on_policy_models_have_no_replay_buffer(tmp_path: Path) -> None:
    model = PPO("MlpPolicy", gym.make("CartPole-v1"), n_steps=64, batch_size=64, verbose=0)
    model_zip = save_model(model, tmp_path / "model.zip")
    assert save_replay_buffer(model, model_zip) is None
    assert not load_replay_buffer(model, model_zip)
